"""Memory-saving second moments: Adafactor's factored estimate and SM3's cover sums.

Instead of one second-moment entry per coordinate, :func:`scale_by_factored_rms`
keeps row and column means of the squared gradient of a matrix and
:func:`scale_by_sm3` keeps one maximum per slice along every axis. The block
pieces of Adafactor (:func:`clip_by_block_rms`, :func:`scale_by_param_block_rms`)
live here too.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytensor.tensor as pt

from symupdates.core.checks import check_choice, check_decay, check_int, check_nonnegative, check_scalar
from symupdates.core.numerics import mean
from symupdates.core.transform import Transform
from symupdates.transforms.layerwise import block_rms
from symupdates.transforms.moments import coefficient, moving_average

__all__ = ["scale_by_factored_rms", "clip_by_block_rms", "scale_by_param_block_rms", "scale_by_sm3"]

_FORMS = ("optax", "torch")


def _factored_axes(shape, form, min_dim_size):
    """(reduced axis of the row moment, reduced axis of the column moment), or None."""
    if len(shape) < 2:
        return None
    if form == "torch":  # the last two axes; leading axes are a batch of matrices
        return len(shape) - 1, len(shape) - 2
    order = np.argsort(shape)  # optax: the two largest axes
    if shape[order[-2]] < min_dim_size:
        return None
    return int(order[-1]), int(order[-2])


@dataclasses.dataclass(frozen=True)
class ScaleByFactoredRms(Transform):
    decay_rate: object = 0.8
    decay_offset: int = 0
    min_dim_size_to_factor: int = 128
    epsilon: object = None
    factored: bool = True
    form: str = "optax"
    name = "adafactor"

    def __post_init__(self):
        check_scalar("decay_rate", self.decay_rate, 0.0, None, schedulable=False)
        check_int("decay_offset", self.decay_offset, 0)
        check_int("min_dim_size_to_factor", self.min_dim_size_to_factor, 1)
        if self.epsilon is not None:
            check_nonnegative("epsilon", self.epsilon)
        check_choice("form", self.form, _FORMS)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            dtype = g.dtype
            # 1 - beta2_t = (t - offset)^(-decay_rate), t the 1-based step
            weight = coefficient(
                ctx,
                "weight",
                dtype,
                lambda sd: (ctx.count(sd) - self.decay_offset) ** pt.constant(np.asarray(-self.decay_rate, sd)),
            )

            def average(s, value, weight=weight):
                new = s + weight * (value - s)
                ctx.set(s, new)
                return new

            shape = ctx.targets[i].get_value(borrow=True).shape
            axes = _factored_axes(shape, self.form, self.min_dim_size_to_factor) if self.factored else None
            if self.form == "optax":
                eps = ctx.hyper(1e-30 if self.epsilon is None else self.epsilon, dtype)
                squared = pt.sqr(g) + eps
            else:
                eps = ctx.hyper(float(np.finfo(dtype).eps) if self.epsilon is None else self.epsilon, dtype)
                squared = pt.sqr(g)
            if axes is None:
                v = average(ctx.state(i, "v"), squared)  # keeps the parameter's static type
                if self.form == "torch":
                    v = pt.maximum(v, eps * eps)
                out.append(g / pt.sqrt(v))
                continue
            row_axis, col_axis = axes  # the row moment averages over row_axis, the column one over col_axis
            row = average(ctx.state(i, "v_row", shape=np.delete(shape, row_axis)), mean(squared, axis=row_axis))
            col = average(ctx.state(i, "v_col", shape=np.delete(shape, col_axis)), mean(squared, axis=col_axis))
            mean_axis = col_axis if col_axis < row_axis else col_axis - 1
            row_mean = mean(row, axis=mean_axis, keepdims=True)
            if self.form == "torch":
                row_mean = pt.maximum(row_mean, eps)
            estimate = pt.expand_dims(row / row_mean, row_axis) * pt.expand_dims(col, col_axis)
            if self.form == "torch":
                estimate = pt.maximum(estimate, eps * eps)
            out.append(g / pt.sqrt(estimate))
        return out


def scale_by_factored_rms(
    decay_rate=0.8, *, decay_offset=0, min_dim_size_to_factor=128, epsilon=None, factored=True, form="optax"
) -> Transform:
    r"""Adafactor's factored second-moment scaling (Shazeer & Stern, 2018).

    With :math:`\hat\beta_{2,t} = 1 - (t - t_{\text{offset}})^{-c}` (:math:`c` = ``decay_rate``),
    a matrix gradient :math:`G` (rows :math:`i`, columns :math:`j`) keeps

    .. math::

        R_t &= \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\, \operatorname{mean}_j (G_t^2 + \epsilon_1) \\
        C_t &= \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\, \operatorname{mean}_i (G_t^2 + \epsilon_1) \\
        \hat V_t &= \frac{R_t C_t^\top}{\operatorname{mean}_i R_t}, \qquad u_t = G_t / \sqrt{\hat V_t}

    and other tensors :math:`V_t = \hat\beta_{2,t} V_{t-1} + (1-\hat\beta_{2,t})(g_t^2+\epsilon_1)`,
    :math:`u_t = g_t/\sqrt{V_t}`.

    ``form="optax"`` (``optax.scale_by_factored_rms``): :math:`\epsilon_1`
    (``epsilon``, default 1e-30) is added to :math:`G^2`, and the two
    largest axes are factored when the smaller of them has at least
    ``min_dim_size_to_factor`` entries. ``form="torch"`` (torch.optim.Adafactor):
    nothing is added to :math:`G^2`; the row mean is clamped below at
    :math:`\epsilon_1` and :math:`\hat V` at :math:`\epsilon_1^2` (``epsilon``,
    default the dtype's machine epsilon), and the last two axes of every
    tensor with two or more axes are factored (leading axes are a batch).
    ``factored=False`` keeps a full moment for every tensor.

    State: ``v_row`` and ``v_col`` (factored) or ``v`` per parameter; the step counter.

    References
    ----------
    .. [1] Shazeer, N. & Stern, M. (2018). Adafactor: Adaptive Learning Rates with Sublinear
       Memory Cost. ICML. arXiv:1804.04235.
    """
    return ScaleByFactoredRms(decay_rate, decay_offset, min_dim_size_to_factor, epsilon, factored, form)


@dataclasses.dataclass(frozen=True)
class ClipByBlockRms(Transform):
    threshold: object = 1.0
    name = "clip_block_rms"
    labelled = False

    def __post_init__(self):
        check_scalar("clipping_threshold", self.threshold, 0.0, None, low_open=True)

    def build(self, ctx, directions):
        return [u / pt.maximum(1, block_rms(u) / ctx.hyper(self.threshold, u.dtype)) for u in directions]


def clip_by_block_rms(threshold=1.0) -> Transform:
    r"""Scale each tensor down to root mean square at most ``threshold`` :math:`d`.

    .. math:: u \leftarrow u / \max\big(1, \operatorname{rms}(u)/d\big)

    Adafactor's update clipping (optax ``clipping_threshold``, torch ``d``).

    Parameters
    ----------
    threshold : float, default 1
        :math:`d`.
    """
    return ClipByBlockRms(threshold)


@dataclasses.dataclass(frozen=True)
class ScaleByParamBlockRms(Transform):
    min_scale: object = 1e-3
    name = "param_block_rms"
    labelled = False

    def __post_init__(self):
        check_nonnegative("min_scale", self.min_scale)

    def build(self, ctx, directions):
        return [
            u * pt.maximum(block_rms(target), ctx.hyper(self.min_scale, u.dtype))
            for target, u in zip(ctx.targets, directions)
        ]


def scale_by_param_block_rms(min_scale=1e-3) -> Transform:
    r"""Scale each tensor's update by its parameter's root mean square.

    .. math:: u \leftarrow u\, \max\big(\operatorname{rms}(p), \epsilon_2\big)

    Adafactor's relative step (optax ``multiply_by_parameter_scale``, torch ``eps[1]``).

    Parameters
    ----------
    min_scale : float, default 1e-3
        :math:`\epsilon_2`.
    """
    return ScaleByParamBlockRms(min_scale)


@dataclasses.dataclass(frozen=True)
class ScaleBySm3(Transform):
    momentum: object = 0.9
    epsilon: object = 1e-8
    name = "sm3"

    def __post_init__(self):
        check_decay("momentum", self.momentum)
        check_nonnegative("epsilon", self.epsilon)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            shape = ctx.targets[i].get_value(borrow=True).shape
            if len(shape) < 2:
                acc_state = ctx.state(i, "v0")
                accumulator = pt.sqr(g) + acc_state
                ctx.set(acc_state, accumulator)
            else:
                covers = [ctx.state(i, f"v{k}", shape=(n,)) for k, n in enumerate(shape)]
                expanded = [
                    c.reshape(tuple(n if a == k else 1 for a, n in enumerate(shape))) for k, c in enumerate(covers)
                ]
                smallest = expanded[0]
                for e in expanded[1:]:
                    smallest = pt.minimum(smallest, e)
                accumulator = pt.sqr(g) + smallest
                for k, c in enumerate(covers):
                    others = tuple(a for a in range(len(shape)) if a != k)
                    ctx.set(c, pt.max(accumulator, axis=others))
            eps = ctx.hyper(self.epsilon, g.dtype)
            positive = pt.gt(accumulator, 0)
            scaled = pt.switch(positive, g / pt.sqrt(pt.switch(positive, accumulator, 1) + eps), 0)
            out.append(moving_average(ctx, i, "m", self.momentum, scaled))
        return out


def scale_by_sm3(momentum=0.9, epsilon=1e-8) -> Transform:
    r"""SM3's scaling (Anil et al., 2019), the SM3-II variant with the axis-slice cover.

    A tensor with :math:`k \ge 2` axes keeps one vector :math:`\mu^{(a)}` per axis
    :math:`a`; for index :math:`i = (i_1,\dots,i_k)`

    .. math::

        \nu_t(i) &= g_t(i)^2 + \min_a \mu^{(a)}_{t-1}(i_a), \qquad
        \mu^{(a)}_t(j) = \max_{i:\, i_a = j} \nu_t(i) \\
        m_t &= \beta\, m_{t-1} + (1-\beta)\, \frac{g_t}{\sqrt{\nu_t + \epsilon}}
        \quad(\text{0 where } \nu_t = 0), \qquad u_t = m_t

    Vectors and scalars keep the full sum :math:`\nu_t = \nu_{t-1} + g_t^2`
    (Adagrad). :math:`\beta` is ``momentum``, as in ``optax.scale_by_sm3``
    with its default ``b2=1``.

    State: ``v0``, ``v1``, ... (one per axis) and ``m`` per parameter.

    References
    ----------
    .. [1] Anil, R., Gupta, V., Koren, T. & Singer, Y. (2019). Memory-Efficient Adaptive
       Optimization. NeurIPS. arXiv:1901.11150.
    """
    return ScaleBySm3(momentum, epsilon)
