"""Symbolic update expressions for gradient-based training with PyTensor.

Drop-in replacements for ``pymc.variational.updates`` and ``lasagne.updates``,
built from composable transforms (in the spirit of optax), so that every
option works with every optimizer. The layers, each a sub-package with the
same family names: :mod:`symupdates.core`, :mod:`symupdates.transforms`,
:mod:`symupdates.optimizers`, :mod:`symupdates.schedules`; then
:mod:`symupdates.pack`, :mod:`symupdates.fusion`, :mod:`symupdates.device` and
:mod:`symupdates.pymc`. Importing symupdates registers the fused multi-tensor step
(:mod:`symupdates.fusion`) among PyTensor's C-backend rewrites.
"""

# ``pymc`` is an attribute, not in __all__: ``from symupdates import *`` must not shadow PyMC's
# own ``pymc`` (the module imports PyMC only when its functions run)
from symupdates import core, fusion, optimizers, pymc, schedules, transforms
from symupdates.core import *  # noqa: F403
from symupdates.device import DeviceFunction, jax_function
from symupdates.optimizers.adam import *  # noqa: F403
from symupdates.optimizers.averaging import *  # noqa: F403
from symupdates.optimizers.factored import *  # noqa: F403
from symupdates.optimizers.layerwise import *  # noqa: F403
from symupdates.optimizers.momentum import *  # noqa: F403
from symupdates.optimizers.options import Factory, available, get
from symupdates.optimizers.partition import FROZEN, partition
from symupdates.optimizers.rms import *  # noqa: F403
from symupdates.optimizers.sign import *  # noqa: F403
from symupdates.pack import FlatParameters, Packed, flat_parameters, pack
from symupdates.schedules.plateau import reduce_on_plateau
from symupdates.transforms import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    *core.__all__,
    *transforms.__all__,
    *optimizers.__all__,
    "Factory",
    "get",
    "available",
    "reduce_on_plateau",
    "partition",
    "FROZEN",
    "pack",
    "Packed",
    "flat_parameters",
    "FlatParameters",
    "jax_function",
    "DeviceFunction",
]
