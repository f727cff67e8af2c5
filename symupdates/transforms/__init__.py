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
from symupdates.transforms.adam import (
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_belief,
    scale_by_nadam,
    scale_by_radam,
    scale_by_yogi,
)
from symupdates.transforms.averaging import average_iterates, averaged_parameters, ema
from symupdates.transforms.clipping import (
    clip_by_norm,
    clip_by_value,
    clip_global_norm,
    clip_weights,
    norm_constraint,
    total_norm_constraint,
)
from symupdates.transforms.factored import (
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_param_block_rms,
    scale_by_sm3,
)
from symupdates.transforms.guards import multi_precision, skip_nonfinite
from symupdates.transforms.layerwise import scale_by_novograd, scale_by_trust_ratio
from symupdates.transforms.linear import add_decayed_weights, scale, scale_by_learning_rate
from symupdates.transforms.momentum import apply_momentum, apply_nesterov_momentum, parameter_momentum, trace
from symupdates.transforms.rms import scale_by_adadelta, scale_by_adagrad, scale_by_adagrad_window, scale_by_rms
from symupdates.transforms.sign import scale_by_lion, scale_by_rprop, scale_by_sign
from symupdates.transforms.wrappers import ema_params, lookahead, multi_steps, param_givens, swap_params

#: The families, in the order of the API reference.
FAMILIES = (linear, momentum, rms, adam, sign, layerwise, factored, averaging, clipping, guards, wrappers)
# Concatenated in FAMILIES' order (not built in a loop) so that type checkers see the names.
__all__ = (
    linear.__all__
    + momentum.__all__
    + rms.__all__
    + adam.__all__
    + sign.__all__
    + layerwise.__all__
    + factored.__all__
    + averaging.__all__
    + clipping.__all__
    + guards.__all__
    + wrappers.__all__
)
