"""Symbolic update expressions for gradient-based training with PyTensor.

Drop-in replacements for ``pymc.variational.updates`` and ``lasagne.updates``,
built from composable transforms (in the spirit of optax), so that every
option works with every optimizer.
"""

from symupdates._checks import ArgumentError, InputError
from symupdates.adaptive import (
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adagrad_window,
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_belief,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rms,
    scale_by_yogi,
)
from symupdates.clipping import (
    clip_by_norm,
    clip_by_value,
    clip_global_norm,
    clip_weights,
    norm_constraint,
    total_norm_constraint,
)
from symupdates.core import BuildContext, Transform, Wrapper, as_transform, chain, identity
from symupdates.device import DeviceFunction, compile
from symupdates.gradients import get_or_compute_grads
from symupdates.guards import multi_precision, skip_nonfinite
from symupdates.linear import add_decayed_weights, scale, scale_by_learning_rate
from symupdates.momentum import apply_momentum, apply_nesterov_momentum, parameter_momentum, trace
from symupdates.optimizers import *  # noqa: F403
from symupdates import optimizers as _optimizers
from symupdates.options import Factory, available, get
from symupdates.pack import Packed, pack
from symupdates.state import Updates
from symupdates import averaging, factored, plateau, schedules, sign, trust_ratio, wrappers  # noqa: F401
# an attribute, not in __all__: ``from symupdates import *`` must not shadow PyMC's own ``pymc``
from symupdates import pymc  # noqa: F401  (imports PyMC only when its functions run)
from symupdates.averaging import *  # noqa: F403
from symupdates.factored import *  # noqa: F403
from symupdates.plateau import *  # noqa: F403
from symupdates.sign import *  # noqa: F403
from symupdates.trust_ratio import *  # noqa: F403
from symupdates.wrappers import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    "InputError", "ArgumentError", "Updates", "Factory", "Transform", "Wrapper", "BuildContext", "chain",
    "identity", "as_transform",
    "get_or_compute_grads", "get", "available", "compile", "DeviceFunction", "pack", "Packed",
    "apply_momentum", "apply_nesterov_momentum", "norm_constraint", "total_norm_constraint",
    "scale_by_adam", "scale_by_adamax", "scale_by_rms", "scale_by_adagrad",
    "scale_by_adagrad_window", "scale_by_adadelta", "scale_by_nadam", "scale_by_radam",
    "scale_by_belief", "scale_by_yogi", "scale_by_adan", "trace", "parameter_momentum", "scale", "scale_by_learning_rate",
    "add_decayed_weights", "clip_by_value", "clip_by_norm", "clip_global_norm", "clip_weights",
    "skip_nonfinite", "multi_precision",
]
__all__ += _optimizers.__all__
for _module in (averaging, factored, plateau, sign, trust_ratio, wrappers):
    __all__ += _module.__all__
