"""Symbolic update expressions for gradient-based training with PyTensor.

Drop-in replacements for ``pymc.variational.updates`` and ``lasagne.updates``,
built from composable transforms (in the spirit of optax), so that every
option works with every optimizer. The layers, each a sub-package with the
same family names: :mod:`symupdates.core`, :mod:`symupdates.transforms`,
:mod:`symupdates.optimizers`, :mod:`symupdates.schedules`; then
:mod:`symupdates.pack`, :mod:`symupdates.fusion`, :mod:`symupdates.device` and
:mod:`symupdates.pymc`; and what a symbolic library can do beyond running the step:
:func:`explain` (the update math, read from the graph), :func:`unroll` (gradients through
the optimizer), :func:`hypergradient` (learning rates adapted online) and :func:`lr_find`. Importing symupdates registers the fused multi-tensor step
(:mod:`symupdates.fusion`) among PyTensor's C-backend rewrites.
"""

# ``pymc`` is an attribute, not in __all__: ``from symupdates import *`` must not shadow PyMC's
# own ``pymc`` (the module imports PyMC only when its functions run)
from symupdates import core, fusion, optimizers, pymc, schedules, transforms
from symupdates.core import (
    ArgumentError,
    BuildContext,
    InputError,
    Transform,
    Updates,
    Wrapper,
    as_transform,
    chain,
    get_or_compute_grads,
    identity,
    merge,
)
from symupdates.core.explain import Explanation, explain
from symupdates.device import DeviceFunction, jax_function
from symupdates.lr_finder import LRFinderResult, lr_find
from symupdates.optimizers.adam import adabelief, adam, adamax, adamw, adan, amsgrad, nadam, radam, yogi
from symupdates.optimizers.averaging import asgd
from symupdates.optimizers.factored import adafactor, sm3
from symupdates.optimizers.hypergradient import adam_hd, hypergradient, sgd_hd, sgdn_hd
from symupdates.optimizers.layerwise import lamb, lars, novograd
from symupdates.optimizers.momentum import momentum, nesterov_momentum, sgd
from symupdates.optimizers.options import Factory, available, get
from symupdates.optimizers.partition import FROZEN, partition
from symupdates.optimizers.rms import adadelta, adagrad, adagrad_window, rmsprop
from symupdates.optimizers.sign import lion, rprop, sign_sgd, signum
from symupdates.pack import FlatParameters, Packed, flat_parameters, pack
from symupdates.schedules.plateau import reduce_on_plateau
from symupdates.transforms import (
    add_decayed_weights,
    apply_momentum,
    apply_nesterov_momentum,
    average_iterates,
    averaged_parameters,
    clip_by_block_rms,
    clip_by_norm,
    clip_by_value,
    clip_global_norm,
    clip_weights,
    ema,
    ema_params,
    lookahead,
    multi_precision,
    multi_steps,
    norm_constraint,
    param_givens,
    parameter_momentum,
    scale,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adagrad_window,
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_belief,
    scale_by_factored_rms,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_nadam,
    scale_by_novograd,
    scale_by_param_block_rms,
    scale_by_radam,
    scale_by_rms,
    scale_by_rprop,
    scale_by_sign,
    scale_by_sm3,
    scale_by_trust_ratio,
    scale_by_yogi,
    skip_nonfinite,
    swap_params,
    total_norm_constraint,
    trace,
)
from symupdates.unroll import Unrolled, unroll

__version__ = "0.1.0"

# Concatenated (not built in a loop) so that type checkers see every exported name.
__all__ = (
    core.__all__
    + transforms.__all__
    + optimizers.__all__
    + [
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
        "explain",
        "Explanation",
        "unroll",
        "Unrolled",
        "hypergradient",
        "sgd_hd",
        "sgdn_hd",
        "adam_hd",
        "lr_find",
        "LRFinderResult",
    ]
)
