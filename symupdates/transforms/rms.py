"""The RMS family's scalings: RMSProp, Adagrad, Adagrad over a window, Adadelta.

Each turns a gradient ``g`` into a step direction (the learning rate comes later) and owns its accumulators.
"""

from __future__ import annotations

import dataclasses

import pytensor.tensor as pt

from symupdates.core.checks import (
    InputError,
    check_decay,
    check_int,
    check_nonnegative,
    check_scalar,
    renamed_arguments,
)
from symupdates.core.numerics import remainder, total
from symupdates.core.transform import Transform
from symupdates.transforms.moments import moving_average, rms_denominator

__all__ = ["scale_by_rms", "scale_by_adagrad", "scale_by_adagrad_window", "scale_by_adadelta"]


@dataclasses.dataclass(frozen=True)
class ScaleByRms(Transform):
    rho: object = 0.9
    epsilon: object = 1e-6
    centered: bool = False
    eps_inside_sqrt: bool = True
    initial: object = 0.0
    name = "rmsprop"

    def __post_init__(self):
        check_decay("rho", self.rho)
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("initial_accumulator_value", self.initial, schedulable=False)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            s = ctx.state(i, "s", fill=float(self.initial))
            second = ctx.hyper(self.rho, g.dtype) * s + ctx.one_minus(self.rho, g.dtype) * g**2
            ctx.set(s, second)
            if self.centered:
                mean = moving_average(ctx, i, "mean", self.rho, g)
                second = second - mean**2
            out.append(g / rms_denominator(ctx, second, self.epsilon, self.eps_inside_sqrt))
        return out


@renamed_arguments(initial="initial_accumulator_value")
def scale_by_rms(
    rho=0.9, epsilon=1e-6, *, centered=False, eps_inside_sqrt=True, initial_accumulator_value=0.0
) -> Transform:
    r"""RMSProp's scaling (Tieleman & Hinton, 2012), optionally centered (Graves, 2013).

    .. math::

        s_t &= \rho\, s_{t-1} + (1-\rho)\, g_t^2 \\
        \bar g_t &= \rho\, \bar g_{t-1} + (1-\rho)\, g_t \qquad \text{(centered only)} \\
        u_t &= \frac{g_t}{\sqrt{s_t - \bar g_t^2 + \epsilon}}

    where :math:`\bar g_t^2` is dropped when not centered. With
    ``eps_inside_sqrt=False`` the denominator is :math:`\sqrt{s_t - \bar g_t^2}+\epsilon`,
    torch.optim.RMSprop's convention; PyMC, Lasagne, MXNet and Graves' eq. 38-45
    put :math:`\epsilon` inside. ``initial_accumulator_value`` is the starting value of :math:`s`
    (torch: 0; optax: 0; TensorFlow: 0.1).

    State: ``s`` (and ``mean``) per parameter.

    References
    ----------
    .. [1] Tieleman, T. & Hinton, G. (2012). Lecture 6.5 - rmsprop. COURSERA: Neural Networks for Machine Learning.
    .. [2] Graves, A. (2013). Generating Sequences With Recurrent Neural Networks. arXiv:1308.0850, eq. 38-45.
    """
    return ScaleByRms(rho, epsilon, centered, eps_inside_sqrt, initial_accumulator_value)


@dataclasses.dataclass(frozen=True)
class ScaleByAdagrad(Transform):
    epsilon: object = 1e-6
    initial: object = 0.0
    eps_inside_sqrt: bool = True
    name = "adagrad"

    def __post_init__(self):
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("initial_accumulator_value", self.initial, schedulable=False)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            s = ctx.state(i, "s", fill=float(self.initial))
            total = s + g**2
            ctx.set(s, total)
            out.append(g / rms_denominator(ctx, total, self.epsilon, self.eps_inside_sqrt))
        return out


def scale_by_adagrad(epsilon=1e-6, *, initial_accumulator_value=0.0, eps_inside_sqrt=True) -> Transform:
    r"""Adagrad's scaling (Duchi, Hazan & Singer, 2011).

    .. math::

        s_t = s_{t-1} + g_t^2, \qquad u_t = \frac{g_t}{\sqrt{s_t+\epsilon}}

    with :math:`s_0` = ``initial_accumulator_value`` (PyMC, Lasagne, torch: 0;
    optax: 0.1). ``eps_inside_sqrt=False`` gives torch's
    :math:`g_t/(\sqrt{s_t}+\epsilon)`.

    State: ``s`` per parameter.

    References
    ----------
    .. [1] Duchi, J., Hazan, E. & Singer, Y. (2011). Adaptive Subgradient Methods for Online
       Learning and Stochastic Optimization. JMLR 12, 2121-2159.
    """
    return ScaleByAdagrad(epsilon, initial_accumulator_value, eps_inside_sqrt)


@dataclasses.dataclass(frozen=True)
class ScaleByAdagradWindow(Transform):
    epsilon: object = 0.1
    n_win: int = 10
    exclude_current: bool = False
    max_step_ratio: object = 10.0
    name = "adagrad_window"

    def __post_init__(self):
        check_nonnegative("epsilon", self.epsilon)
        check_int("n_win", self.n_win, 1)
        if not isinstance(self.exclude_current, bool):
            raise InputError(f"`exclude_current` must be True or False, got {self.exclude_current!r}.")
        if self.max_step_ratio is not None:
            check_scalar("max_step_ratio", self.max_step_ratio, 0.0, None, low_open=True, schedulable=False)

    def build(self, ctx, directions):
        out = []
        slot = remainder(ctx.step, self.n_win)
        for i, g in enumerate(directions):
            window = ctx.state(i, "window", suffix=(self.n_win,))
            new_window = pt.set_subtensor(window[..., slot], g**2)
            ctx.set(window, new_window)
            normaliser = total(new_window, axis=-1)
            if self.exclude_current:
                others = total(pt.set_subtensor(window[..., slot], 0), axis=-1)
                normaliser = pt.switch(pt.ge(ctx.step, self.n_win), others, normaliser)
            u = g / pt.sqrt(normaliser + ctx.hyper(self.epsilon, g.dtype))
            if self.exclude_current and self.max_step_ratio is not None:
                ratio = ctx.hyper(self.max_step_ratio, g.dtype)
                u = pt.clip(u, -ratio, ratio)
            out.append(u)
        return out


def scale_by_adagrad_window(epsilon=0.1, n_win=10, *, exclude_current=False, max_step_ratio=10.0) -> Transform:
    r"""Adagrad over a sliding window of the last ``n_win`` squared gradients (PyMC's default).

    .. math::

        S_t &= \sum_{k=t-n_{win}+1}^{t} g_k^2, \qquad
        u_t = \frac{g_t}{\sqrt{S_t + \epsilon}} \qquad \text{(PyMC)} \\
        S^{-}_t &= S_t - g_t^2 = \sum_{k=t-n_{win}+1}^{t-1} g_k^2, \qquad
        u_t = \operatorname{clip}\Big(\frac{g_t}{\sqrt{S^{-}_t + \epsilon}}, \pm r\Big)
        \quad (t > n_{win}) \qquad \text{(exclude\_current)}

    The window starts filled with zeros. PyMC's form divides each gradient by
    a sum that contains its own square, so :math:`|u_t| < 1` and large
    gradients are damped more than small ones: with a skewed gradient noise
    the iterates settle where :math:`E[u_t] = 0` rather than :math:`E[g_t] = 0`.
    For the scale parameters of ADVI with one Monte Carlo sample this inflates
    posterior standard deviations (about 8.5% on a conjugate Gaussian model,
    PyMC issue 8444).

    ``exclude_current=True`` is the correction proposed for that issue (PyMC
    pull request 8447): the normaliser is the sum of the *other*
    :math:`n_{win}-1` squared gradients of the window, which does not depend
    on :math:`g_t`; PyMC's rule is kept for the first :math:`n_{win}` steps,
    while the window fills; and since :math:`|u_t| < 1` no longer holds, the
    step is clipped element-wise to :math:`r` = ``max_step_ratio`` (default 10;
    a cap of 1 would bring the bias back; ``None`` turns it off). With the
    learning rate this bounds each step by :math:`r\,\eta`.

    State: ``window`` (the parameter's shape plus ``n_win``) per parameter; the step counter.

    Parameters
    ----------
    epsilon : float, default 0.1
        :math:`\epsilon`, added inside the square root.
    n_win : int, default 10
        Window length :math:`n_{win} \ge 1`.
    exclude_current : bool, default False
        Normalise by :math:`W_{t-1}` instead of :math:`W_t`.
    """
    return ScaleByAdagradWindow(epsilon, n_win, exclude_current, max_step_ratio)


@dataclasses.dataclass(frozen=True)
class ScaleByAdadelta(Transform):
    rho: object = 0.95
    epsilon: object = 1e-6
    name = "adadelta"

    def __post_init__(self):
        check_decay("rho", self.rho)
        check_nonnegative("epsilon", self.epsilon)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            eps = ctx.hyper(self.epsilon, g.dtype)
            s = moving_average(ctx, i, "s", self.rho, g**2)
            delta = ctx.state(i, "delta")
            u = g * pt.sqrt(delta + eps) / pt.sqrt(s + eps)
            ctx.set(delta, ctx.hyper(self.rho, g.dtype) * delta + ctx.one_minus(self.rho, g.dtype) * u**2)
            out.append(u)
        return out


def scale_by_adadelta(rho=0.95, epsilon=1e-6) -> Transform:
    r"""Adadelta's scaling (Zeiler, 2012).

    .. math::

        s_t &= \rho\, s_{t-1} + (1-\rho)\, g_t^2 \\
        u_t &= g_t \, \frac{\sqrt{\delta_{t-1}+\epsilon}}{\sqrt{s_t+\epsilon}} \\
        \delta_t &= \rho\, \delta_{t-1} + (1-\rho)\, u_t^2

    The accumulated updates :math:`\delta` hold the steps *before* the
    learning rate (PyMC, Lasagne, torch.optim.Adadelta, optax.adadelta). The
    paper has no learning rate, i.e. ``learning_rate=1``.

    State: ``s``, ``delta`` per parameter.

    References
    ----------
    .. [1] Zeiler, M. D. (2012). ADADELTA: An Adaptive Learning Rate Method. arXiv:1212.5701.
    """
    return ScaleByAdadelta(rho, epsilon)
