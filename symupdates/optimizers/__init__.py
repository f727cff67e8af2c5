"""Named optimizers: short recipes over the transforms, one module per family.

Each function only says *what* the optimizer is; the math lives in the
transform modules and the common options are added by
:func:`symupdates.options.assemble`.
"""

from symupdates.optimizers import adam_family, averaged, classic, factored, layerwise, sign_based
from symupdates.optimizers.adam_family import *  # noqa: F403
from symupdates.optimizers.averaged import *  # noqa: F403
from symupdates.optimizers.classic import *  # noqa: F403
from symupdates.optimizers.factored import *  # noqa: F403
from symupdates.optimizers.layerwise import *  # noqa: F403
from symupdates.optimizers.sign_based import *  # noqa: F403

__all__ = [
    name
    for module in (classic, adam_family, sign_based, layerwise, factored, averaged)
    for name in module.__all__
]
