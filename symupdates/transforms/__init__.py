"""Gradient transformations, one module per family: each formula written once, in its docstring.

``moments`` holds the estimators the adaptive families share (moving averages,
running maxima, bias corrections); the other modules hold transforms.
"""

from symupdates.transforms import (
    adam,
    averaging,
    clipping,
    factored,
    guards,
    layerwise,
    linear,
    momentum,
    rms,
    sign,
    wrappers,
)
from symupdates.transforms.adam import *  # noqa: F403
from symupdates.transforms.averaging import *  # noqa: F403
from symupdates.transforms.clipping import *  # noqa: F403
from symupdates.transforms.factored import *  # noqa: F403
from symupdates.transforms.guards import *  # noqa: F403
from symupdates.transforms.layerwise import *  # noqa: F403
from symupdates.transforms.linear import *  # noqa: F403
from symupdates.transforms.momentum import *  # noqa: F403
from symupdates.transforms.rms import *  # noqa: F403
from symupdates.transforms.sign import *  # noqa: F403
from symupdates.transforms.wrappers import *  # noqa: F403

#: The families, in the order of the API reference.
FAMILIES = (linear, momentum, rms, adam, sign, layerwise, factored, averaging, clipping, guards, wrappers)
__all__ = [name for family in FAMILIES for name in family.__all__]
