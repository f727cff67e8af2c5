"""Clipping: of gradient values, of norms (per tensor or global), of weights.

Norm clipping bounds a step; it is not a guard against NaN. Its results are
defined for every input:

* a norm at or below the threshold leaves the tensors bit-for-bit unchanged;
* a zero threshold maps every tensor to zeros (zero tensors included);
* a norm that overflows while every element is finite is computed without
  overflow (the tensors are first divided by their largest magnitude);
* if some elements are infinite the result is the limit of the finite case:
  the infinite elements become ``sign * max_norm / sqrt(n_inf)``, all others 0;
* NaN elements give NaN (they propagate; use :func:`~symupdates.skip_nonfinite`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from symupdates.core.checks import InputError, check_nonnegative, check_scalar, constant_value
from symupdates.core.numerics import total
from symupdates.core.transform import Transform

__all__ = [
    "clip_by_value",
    "clip_by_norm",
    "clip_global_norm",
    "clip_weights",
    "norm_constraint",
    "total_norm_constraint",
]


def _as_like(value, like):
    if hasattr(value, "type"):
        return pt.cast(value, like.dtype) if value.dtype != like.dtype else value
    return pt.constant(np.asarray(value, dtype=like.dtype))


def _rescale(tensors, sum_axes, max_norm, scale_rule, keepdims=False):
    """Rescale ``tensors`` jointly (over ``sum_axes`` of each, or all axes) to norm ``max_norm``.

    ``scale_rule(norm, max_norm)`` gives the factor for finite norms. Returns
    the rescaled tensors and the norm. See the module docstring for edge cases.
    """

    def reduce(fn, x):
        return fn(x, axis=sum_axes, keepdims=keepdims) if sum_axes is not None else fn(x)

    amax = reduce(pt.max, abs(tensors[0]))
    for x in tensors[1:]:
        amax = pt.maximum(amax, reduce(pt.max, abs(x)))
    has_inf = pt.isinf(amax)
    safe = pt.switch(pt.gt(amax, 0) & ~has_inf, amax, 1)
    # abs: PyTensor 2.38 rewrites sqrt(sqr(x)) to switch(x >= 0, x, nan) (exposed by one-element tensors)
    sumsq = sum(reduce(total, pt.sqr(abs(x) / safe)) for x in tensors)
    norm = safe * pt.sqrt(sumsq)
    n_inf = sum(reduce(total, pt.cast(pt.isinf(x), x.dtype)) for x in tensors)  # total: float16-safe
    factor = scale_rule(norm, max_norm)
    inf_factor = max_norm / pt.sqrt(pt.maximum(n_inf, 1).astype(norm.dtype))
    out = []
    for x in tensors:
        finite = x * factor
        limit = pt.switch(pt.isinf(x), pt.sign(x), 0) * inf_factor
        out.append(pt.cast(pt.switch(has_inf, limit, finite), x.dtype))
    return out, pt.switch(has_inf, pt.constant(np.asarray(np.inf, dtype=norm.dtype)), norm)


def _clip_rule(norm, max_norm):
    """Leave norms up to ``max_norm`` alone; scale larger ones down to it."""
    return pt.switch(pt.le(norm, max_norm), 1, max_norm / norm)


def _off(value) -> bool:
    number = constant_value(value)
    return value is None or (number is not None and number <= 0)


@dataclasses.dataclass(frozen=True)
class ClipByValue(Transform):
    threshold: object = None
    name = "clip_gradient"
    labelled = False

    def __post_init__(self):
        if self.threshold is not None:
            check_scalar("clip_gradient", self.threshold, schedulable=False)

    def build(self, ctx, directions):
        if _off(self.threshold):
            return directions
        out = []
        for u in directions:
            c = ctx.hyper(self.threshold, u.dtype)
            clipped = pt.clip(u, -c, c)
            out.append(clipped if constant_value(self.threshold) is not None else pt.switch(pt.gt(c, 0), clipped, u))
        return out


def clip_by_value(threshold) -> Transform:
    r"""Clip every element to :math:`[-c, c]` (MXNet ``clip_gradient``, optax ``clip``).

    ``None`` or :math:`c \le 0` turns clipping off (MXNet's convention; a
    symbolic :math:`c \le 0` turns it off at run time). Infinite elements become
    :math:`\pm c`; NaN stays NaN.

    Parameters
    ----------
    threshold : float or symbolic scalar, optional
        :math:`c`.
    """
    return ClipByValue(threshold)


@dataclasses.dataclass(frozen=True)
class ClipByNorm(Transform):
    max_norm: object = 1.0
    name = "clip_norm"
    labelled = False

    def __post_init__(self):
        check_nonnegative("clip_norm", self.max_norm, schedulable=False)

    def build(self, ctx, directions):
        return [_rescale([u], None, ctx.hyper(self.max_norm, u.dtype), _clip_rule)[0][0] for u in directions]


def clip_by_norm(max_norm) -> Transform:
    r"""Rescale each tensor whose L2 norm exceeds ``max_norm`` to that norm.

    :math:`u \leftarrow u \cdot \min(1, c / \lVert u \rVert_2)`, per tensor
    (optax ``clip_by_block_rms`` with the norm instead of the RMS). Edge cases as
    in :mod:`symupdates.transforms.clipping`.

    Parameters
    ----------
    max_norm : float or symbolic scalar
        :math:`c \ge 0`.
    """
    return ClipByNorm(max_norm)


@dataclasses.dataclass(frozen=True)
class ClipGlobalNorm(Transform):
    max_norm: object = 1.0
    name = "clip_global_norm"
    labelled = False

    def __post_init__(self):
        check_nonnegative("clip_global_norm", self.max_norm, schedulable=False)

    def build(self, ctx, directions):
        return clip_jointly(directions, ctx.hyper(self.max_norm, widest_dtype(directions)))


def widest_dtype(tensors) -> str:
    """The dtype of ``tensors`` with the most bits, which a joint norm is computed in."""
    return max((x.dtype for x in tensors), key=lambda d: np.dtype(d).itemsize)


def clip_jointly(tensors, max_norm) -> list:
    """``tensors`` rescaled together to joint L2 norm at most ``max_norm`` (see :func:`clip_global_norm`).

    The norm is computed in :func:`widest_dtype`; each result keeps its tensor's dtype.
    ``max_norm`` is a number or a scalar of that dtype.
    """
    dtype = widest_dtype(tensors)
    wide = [pt.cast(x, dtype) for x in tensors]
    limit = pt.cast(max_norm, dtype) if isinstance(max_norm, Variable) else pt.constant(np.asarray(max_norm, dtype))
    clipped, _ = _rescale(wide, None, limit, _clip_rule)
    return [pt.cast(c, x.dtype) for c, x in zip(clipped, tensors)]


def clip_global_norm(max_norm) -> Transform:
    r"""Rescale all updates together when their joint L2 norm exceeds ``max_norm``.

    .. math:: u_i \leftarrow u_i \cdot \min\Bigl(1, \frac{c}{\sqrt{\sum_j \lVert u_j\rVert_2^2}}\Bigr)

    As ``torch.nn.utils.clip_grad_norm_`` (which adds 1e-6 to the norm) and
    ``optax.clip_by_global_norm`` (exactly this). Edge cases as in
    :mod:`symupdates.transforms.clipping`.

    Parameters
    ----------
    max_norm : float or symbolic scalar
        :math:`c \ge 0`.
    """
    return ClipGlobalNorm(max_norm)


@dataclasses.dataclass(frozen=True)
class ClipWeights(Transform):
    threshold: object = None
    name = "clip_weights"
    labelled = False

    def __post_init__(self):
        if self.threshold is not None:
            check_scalar("clip_weights", self.threshold, schedulable=False)

    def build(self, ctx, directions):
        if not _off(self.threshold):
            ctx.on_new_value(lambda i, value: self._constrain(ctx, value))
        return directions

    def _constrain(self, ctx, value):
        c = ctx.hyper(self.threshold, value.dtype)
        clipped = pt.clip(value, -c, c)
        return clipped if constant_value(self.threshold) is not None else pt.switch(pt.gt(c, 0), clipped, value)


def clip_weights(threshold) -> Transform:
    r"""Clip the *new parameter values* to :math:`[-c, c]` after the step (MXNet ``clip_weights``).

    It can stand anywhere in a chain: it passes updates through and constrains
    :math:`p - u` at the end. ``None`` or :math:`c \le 0` turns it off.

    Parameters
    ----------
    threshold : float or symbolic scalar, optional
        :math:`c`.
    """
    return ClipWeights(threshold)


def norm_constraint(tensor_var, max_norm, norm_axes=None, epsilon=1e-7):
    r"""Rescale slices of ``tensor_var`` whose norm exceeds ``max_norm`` (Lasagne, PyMC).

    .. math:: x \leftarrow x \cdot \frac{\min(\lVert x\rVert, c)}{\lVert x\rVert + \epsilon}

    with the norm taken over ``norm_axes``: by default axis 0 of a matrix (the
    incoming weights of each unit) and all axes but 0 of a 3-, 4- or 5-d tensor.

    Parameters
    ----------
    tensor_var : TensorVariable
        Update, gradient or any tensor.
    max_norm : float or symbolic scalar
        :math:`c \ge 0`.
    norm_axes : sequence of int, optional
        Axes to take the norm over.
    epsilon : float, default 1e-7
        Added to the norm to avoid dividing by zero.

    Returns
    -------
    TensorVariable
        The rescaled tensor, with the dtype of ``tensor_var``.
    """
    check_nonnegative("max_norm", max_norm, schedulable=False)
    check_nonnegative("epsilon", epsilon, schedulable=False)
    ndim = tensor_var.ndim
    if norm_axes is not None:
        axes = tuple(norm_axes)
    elif ndim == 2:
        axes = (0,)
    elif ndim in (3, 4, 5):
        axes = tuple(range(1, ndim))
    else:
        raise InputError(f"Unsupported tensor dimensionality {ndim}; give `norm_axes` explicitly.")
    c, eps = _as_like(max_norm, tensor_var), _as_like(epsilon, tensor_var)
    out, _ = _rescale([tensor_var], axes, c, lambda norm, m: pt.clip(norm, 0, m) / (eps + norm), keepdims=True)
    return out[0]


def total_norm_constraint(tensor_vars, max_norm, epsilon=1e-7, return_norm=False):
    r"""Rescale a list of tensors so that their joint norm is at most ``max_norm`` (Lasagne, PyMC).

    .. math:: x_i \leftarrow x_i \cdot \frac{\min(N, c)}{N + \epsilon}, \qquad
              N = \sqrt{\textstyle\sum_i \lVert x_i \rVert_2^2}

    This is what ``pm.fit(total_grad_norm_constraint=c)`` applies to the
    gradients. Finite inputs give PyMC's numbers; infinite elements give the
    limit described in :mod:`symupdates.transforms.clipping` instead of NaN, and each
    output keeps its input's dtype.

    Parameters
    ----------
    tensor_vars : list of TensorVariable
    max_norm : float or symbolic scalar
    epsilon : float, default 1e-7
    return_norm : bool, default False
        Also return :math:`N`, e.g. to log it.

    Returns
    -------
    list of TensorVariable, or (list, TensorVariable) with ``return_norm``.
    """
    check_nonnegative("max_norm", max_norm, schedulable=False)
    check_nonnegative("epsilon", epsilon, schedulable=False)
    tensor_vars = [pt.as_tensor_variable(x) for x in tensor_vars]
    if not tensor_vars:
        raise InputError("`tensor_vars` is empty.")
    dtype = max((x.dtype for x in tensor_vars), key=lambda d: np.dtype(d).itemsize)
    wide = [pt.cast(x, dtype) for x in tensor_vars]
    c, eps = _as_like(max_norm, wide[0]), _as_like(epsilon, wide[0])
    out, norm = _rescale(wide, None, c, lambda n, m: pt.clip(n, 0, m) / (eps + n))
    out = [pt.cast(o, x.dtype) for o, x in zip(out, tensor_vars)]
    return (out, norm) if return_norm else out
