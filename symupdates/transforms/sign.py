"""Sign-based directions: signSGD/Signum, Lion and Rprop.

These transforms keep only the *sign* of (a combination of) gradients, so
every coordinate moves by the same amount: the learning rate for signSGD,
Signum and Lion, a per-coordinate adaptive step size for Rprop. A zero
gradient coordinate gives a zero step (``sign(0) = 0``).
"""

from __future__ import annotations

import dataclasses

import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_decay, check_nonnegative, check_scalar, constant_value
from symupdates.core.numerics import is_zero
from symupdates.core.transform import Transform

__all__ = ["scale_by_sign", "scale_by_lion", "scale_by_rprop"]


@dataclasses.dataclass(frozen=True)
class ScaleBySign(Transform):
    name = "sign"

    def build(self, ctx, directions):
        return [pt.sign(u) for u in directions]


def scale_by_sign() -> Transform:
    r"""Replace every update by its sign: :math:`u \leftarrow \operatorname{sign}(u)`.

    After :func:`symupdates.ema` this is Signum's direction; on its own,
    signSGD's (Bernstein et al., 2018). :math:`\operatorname{sign}(0) = 0`.

    References
    ----------
    .. [1] Bernstein, J., Wang, Y.-X., Azizzadenesheli, K. & Anandkumar, A. (2018). signSGD:
       Compressed Optimisation for Non-Convex Problems. ICML.
    """
    return ScaleBySign()


@dataclasses.dataclass(frozen=True)
class ScaleByLion(Transform):
    beta1: object = 0.9
    beta2: object = 0.99
    name = "lion"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            m = ctx.state(i, "m")
            # The direction interpolates with beta1, the state with beta2.
            mixed = ctx.hyper(self.beta1, g.dtype) * m + ctx.one_minus(self.beta1, g.dtype) * g
            ctx.set(m, ctx.hyper(self.beta2, g.dtype) * m + ctx.one_minus(self.beta2, g.dtype) * g)
            out.append(pt.sign(mixed))
        return out


def scale_by_lion(beta1=0.9, beta2=0.99) -> Transform:
    r"""Lion's direction (Chen et al., 2023): the sign of an interpolated momentum.

    .. math::

        u_t &= \operatorname{sign}\big(\beta_1 m_{t-1} + (1-\beta_1)\, g_t\big) \\
        m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t

    The direction uses :math:`\beta_1`, the stored momentum :math:`\beta_2`.

    State: ``m`` per parameter.

    References
    ----------
    .. [1] Chen, X. et al. (2023). Symbolic Discovery of Optimization Algorithms. NeurIPS.
       arXiv:2302.06675.
    """
    return ScaleByLion(beta1, beta2)


@dataclasses.dataclass(frozen=True)
class ScaleByRprop(Transform):
    initial_step: object = 0.01
    eta_minus: object = 0.5
    eta_plus: object = 1.2
    min_step: object = 1e-6
    max_step: object = 50.0
    name = "rprop"

    def __post_init__(self):
        check_nonnegative("learning_rate", self.initial_step)
        check_scalar("etas[0]", self.eta_minus, 0.0, 1.0, low_open=True, high_open=True, schedulable=False)
        check_scalar("etas[1]", self.eta_plus, 1.0, None, low_open=True, schedulable=False)
        check_nonnegative("step_sizes[0]", self.min_step, schedulable=False)
        check_nonnegative("step_sizes[1]", self.max_step, schedulable=False)
        lo, hi = constant_value(self.min_step), constant_value(self.max_step)
        if lo is not None and hi is not None and lo > hi:
            raise InputError(f"`step_sizes` must be (minimum, maximum) with minimum <= maximum; got {(lo, hi)!r}.")

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            dtype = g.dtype
            prev = ctx.state(i, "prev")
            size = ctx.state(i, "step_size")
            # The step sizes start at the initial step, read at the first update.
            size_before = pt.switch(is_zero(ctx.step), ctx.hyper(self.initial_step, dtype), size)
            agreement = g * prev
            factor = pt.switch(
                pt.gt(agreement, 0),
                ctx.hyper(self.eta_plus, dtype),
                pt.switch(pt.lt(agreement, 0), ctx.hyper(self.eta_minus, dtype), pt.ones((), dtype=dtype)),
            )
            new_size = pt.clip(size_before * factor, ctx.hyper(self.min_step, dtype), ctx.hyper(self.max_step, dtype))
            kept = pt.switch(pt.lt(agreement, 0), pt.zeros((), dtype=dtype), g)
            ctx.set(size, new_size)
            ctx.set(prev, kept)
            out.append(pt.sign(kept) * new_size)
        return out


def scale_by_rprop(initial_step=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)) -> Transform:
    r"""Rprop's direction (Riedmiller & Braun, 1993), with torch.optim.Rprop's conventions.

    Each coordinate keeps its own step size :math:`\Delta`, which grows when
    the gradient keeps its sign and shrinks when it flips:

    .. math::

        \Delta_t &= \operatorname{clip}\big(\Delta_{t-1}\cdot
            \begin{cases}\eta_+ & g_t \tilde g_{t-1} > 0\\ \eta_- & g_t \tilde g_{t-1} < 0\\
            1 & \text{otherwise}\end{cases},\; \Delta_{\min}, \Delta_{\max}\big) \\
        \tilde g_t &= \begin{cases} 0 & g_t \tilde g_{t-1} < 0 \\ g_t & \text{otherwise}\end{cases},
        \qquad u_t = \operatorname{sign}(\tilde g_t)\,\Delta_t

    with :math:`\Delta_0` = ``initial_step`` and :math:`\tilde g_0 = 0`. After a
    sign flip the coordinate does not move, and the next step treats the
    flipped gradient as zero (factor 1) — the "Rprop without backtracking"
    of torch.optim.Rprop. The step is already a step length: use the
    transform with learning rate 1 (:func:`symupdates.rprop` does).

    Parameters
    ----------
    initial_step : float, symbolic scalar or schedule, default 0.01
        :math:`\Delta_0` (torch's ``lr``); a schedule or symbolic value is read at the first update only.
    etas : (float, float), default (0.5, 1.2)
        :math:`(\eta_-, \eta_+)` with :math:`0 < \eta_- < 1 < \eta_+`.
    step_sizes : (float, float), default (1e-6, 50)
        :math:`(\Delta_{\min}, \Delta_{\max})`.

    State: ``prev`` (:math:`\tilde g`) and ``step_size`` (:math:`\Delta`) per
    parameter; the step counter.

    References
    ----------
    .. [1] Riedmiller, M. & Braun, H. (1993). A direct adaptive method for faster backpropagation
       learning: the RPROP algorithm. IEEE International Conference on Neural Networks.
    """
    for what, pair in (("etas", etas), ("step_sizes", step_sizes)):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InputError(f"`{what}` must be a pair (two numbers), got {pair!r}.")
    return ScaleByRprop(initial_step, etas[0], etas[1], step_sizes[0], step_sizes[1])
