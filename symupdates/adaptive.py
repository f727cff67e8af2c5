"""Per-coordinate adaptive scalings: the math of Adam, RMSProp, Adagrad and kin.

Each transform turns a gradient ``g`` into a step direction ``u`` (the
learning rate is applied later, by :func:`~symupdates.scale_by_learning_rate`)
and owns its moment estimates. ``t`` is the 1-based number of the step being
taken, read from the optimizer's single int64 counter.
"""

from __future__ import annotations

import dataclasses

import pytensor.tensor as pt

from symupdates._checks import check_choice, check_decay, check_int, check_nonnegative
from symupdates.core import Transform, scalar_dtype

__all__ = [
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_rms",
    "scale_by_adagrad",
    "scale_by_adagrad_window",
    "scale_by_adadelta",
]

_FORMS = ("pymc", "torch")


def coefficient(ctx, key, dtype, make):
    """A per-step scalar built once per dtype in the scalar dtype, then rounded to ``dtype``.

    ``make(sd)`` builds the scalar in dtype ``sd``; bias corrections and the
    like are thus computed once per step, not once per parameter.
    """
    cache_key = ("coefficient", ctx.label, key, dtype)
    if cache_key not in ctx._hyper_cache:
        value = make(scalar_dtype(dtype))
        ctx._hyper_cache[cache_key] = value if value.dtype == dtype else pt.cast(value, dtype)
    return ctx._hyper_cache[cache_key]


def bias_correction(ctx, beta, dtype):
    """``1 - beta**t`` in the scalar dtype ``dtype``."""
    return 1 - ctx.hyper(beta, dtype) ** ctx.count(dtype)


def moving_average(ctx, i, role, decay, value):
    """New state ``role`` holding ``decay * s + (1 - decay) * value``; returns the new value."""
    s = ctx.state(i, role)
    new = ctx.hyper(decay, value.dtype) * s + ctx.one_minus(decay, value.dtype) * value
    ctx.set(s, new)
    return new


def running_max(ctx, i, role, value):
    """New state ``role`` holding the element-wise running maximum of ``value``."""
    s = ctx.state(i, role)
    new = pt.maximum(s, value)
    ctx.set(s, new)
    return new


def rms_denominator(ctx, second_moment, epsilon, eps_inside_sqrt):
    """``sqrt(s + eps)`` (PyMC, Lasagne, MXNet) or ``sqrt(s) + eps`` (torch)."""
    eps = ctx.hyper(epsilon, second_moment.dtype)
    return pt.sqrt(second_moment + eps) if eps_inside_sqrt else pt.sqrt(second_moment) + eps


@dataclasses.dataclass(frozen=True)
class ScaleByAdam(Transform):
    beta1: object = 0.9
    beta2: object = 0.999
    epsilon: object = 1e-8
    amsgrad: bool = False
    form: str = "pymc"
    name = "adam"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_choice("form", self.form, _FORMS)

    def build(self, ctx, updates):
        out = []
        for i, g in enumerate(updates):
            dtype = g.dtype
            m = moving_average(ctx, i, "m", self.beta1, g)
            v = moving_average(ctx, i, "v", self.beta2, g**2)
            if self.amsgrad:
                v = running_max(ctx, i, "v_max", v)
            eps = ctx.hyper(self.epsilon, dtype)
            if self.form == "pymc":
                c = coefficient(
                    ctx, "c", dtype,
                    lambda sd: pt.sqrt(bias_correction(ctx, self.beta2, sd)) / bias_correction(ctx, self.beta1, sd),
                )
                out.append(c * m / (pt.sqrt(v) + eps))
            else:
                c1 = coefficient(ctx, "c1", dtype, lambda sd: bias_correction(ctx, self.beta1, sd))
                c2 = coefficient(ctx, "c2", dtype, lambda sd: pt.sqrt(bias_correction(ctx, self.beta2, sd)))
                out.append((m / c1) / (pt.sqrt(v) / c2 + eps))
        return out


def scale_by_adam(beta1=0.9, beta2=0.999, epsilon=1e-8, *, amsgrad=False, form="pymc") -> Transform:
    r"""Adam's scaling (Kingma & Ba, 2015), optionally with AMSGrad.

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        u_t &= \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\;\frac{m_t}{\sqrt{v_t}+\epsilon}
        \qquad \text{form="pymc"} \\
        u_t &= \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t}/\sqrt{1-\beta_2^t}+\epsilon}
        \qquad \text{form="torch"}

    ``form="pymc"`` is the paper's :math:`\hat\epsilon` form used by PyMC and
    Lasagne; ``form="torch"`` is that of ``torch.optim.Adam`` and
    ``optax.adam``. They differ only in where :math:`\epsilon` sits. With
    ``amsgrad=True`` the denominator uses :math:`\hat v_t = \max(\hat v_{t-1}, v_t)`,
    the running maximum of the raw second moment (torch.optim, Lasagne;
    optax takes the maximum of the bias-corrected moment instead).

    State: ``m``, ``v`` (and ``v_max``) per parameter; the step counter.

    References
    ----------
    .. [1] Kingma, D. P. & Ba, J. (2015). Adam: A Method for Stochastic Optimization. ICLR.
    .. [2] Reddi, S. J., Kale, S. & Kumar, S. (2018). On the Convergence of Adam and Beyond. ICLR.
    """
    return ScaleByAdam(beta1, beta2, epsilon, amsgrad, form)


@dataclasses.dataclass(frozen=True)
class ScaleByAdamax(Transform):
    beta1: object = 0.9
    beta2: object = 0.999
    epsilon: object = 1e-8
    form: str = "pymc"
    name = "adamax"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_choice("form", self.form, _FORMS)

    def build(self, ctx, updates):
        out = []
        for i, g in enumerate(updates):
            m = moving_average(ctx, i, "m", self.beta1, g)
            eps = ctx.hyper(self.epsilon, g.dtype)
            u = ctx.state(i, "u")
            if self.form == "pymc":
                u_new = pt.maximum(ctx.hyper(self.beta2, g.dtype) * u, abs(g))
                denominator = u_new + eps
            else:
                u_new = pt.maximum(ctx.hyper(self.beta2, g.dtype) * u, abs(g) + eps)
                denominator = u_new
            ctx.set(u, u_new)
            c = coefficient(ctx, "c", g.dtype, lambda sd: 1 / bias_correction(ctx, self.beta1, sd))
            out.append(c * m / denominator)
        return out


def scale_by_adamax(beta1=0.9, beta2=0.999, epsilon=1e-8, *, form="pymc") -> Transform:
    r"""Adamax's scaling: Adam with the infinity norm (Kingma & Ba, 2015, section 7).

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
        u_t = \max(\beta_2 u_{t-1}, |g_t|) \\
        \Delta_t &= \frac{1}{1-\beta_1^t}\;\frac{m_t}{u_t+\epsilon}

    ``form="pymc"`` (PyMC, Lasagne) adds :math:`\epsilon` outside the maximum;
    ``form="torch"`` (``torch.optim.Adamax``) uses
    :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|+\epsilon)` and divides by :math:`u_t`.

    State: ``m``, ``u`` per parameter; the step counter.

    References
    ----------
    .. [1] Kingma, D. P. & Ba, J. (2015). Adam: A Method for Stochastic Optimization. ICLR.
    """
    return ScaleByAdamax(beta1, beta2, epsilon, form)


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
        check_nonnegative("initial", self.initial, schedulable=False)

    def build(self, ctx, updates):
        out = []
        for i, g in enumerate(updates):
            s = ctx.state(i, "s", fill=float(self.initial))
            second = ctx.hyper(self.rho, g.dtype) * s + ctx.one_minus(self.rho, g.dtype) * g**2
            ctx.set(s, second)
            if self.centered:
                mean = moving_average(ctx, i, "mean", self.rho, g)
                second = second - mean**2
            out.append(g / rms_denominator(ctx, second, self.epsilon, self.eps_inside_sqrt))
        return out


def scale_by_rms(rho=0.9, epsilon=1e-6, *, centered=False, eps_inside_sqrt=True, initial=0.0) -> Transform:
    r"""RMSProp's scaling (Tieleman & Hinton, 2012), optionally centered (Graves, 2013).

    .. math::

        s_t &= \rho\, s_{t-1} + (1-\rho)\, g_t^2 \\
        \bar g_t &= \rho\, \bar g_{t-1} + (1-\rho)\, g_t \qquad \text{(centered only)} \\
        u_t &= \frac{g_t}{\sqrt{s_t - \bar g_t^2 + \epsilon}}

    where :math:`\bar g_t^2` is dropped when not centered. With
    ``eps_inside_sqrt=False`` the denominator is :math:`\sqrt{s_t - \bar g_t^2}+\epsilon`,
    torch.optim.RMSprop's convention; PyMC, Lasagne, MXNet and Graves' eq. 38-45
    put :math:`\epsilon` inside. ``initial`` is the starting value of :math:`s`
    (torch: 0; optax: 0; TensorFlow: 0.1).

    State: ``s`` (and ``mean``) per parameter.

    References
    ----------
    .. [1] Tieleman, T. & Hinton, G. (2012). Lecture 6.5 - rmsprop. COURSERA: Neural Networks for Machine Learning.
    .. [2] Graves, A. (2013). Generating Sequences With Recurrent Neural Networks. arXiv:1308.0850, eq. 38-45.
    """
    return ScaleByRms(rho, epsilon, centered, eps_inside_sqrt, initial)


@dataclasses.dataclass(frozen=True)
class ScaleByAdagrad(Transform):
    epsilon: object = 1e-6
    initial: object = 0.0
    eps_inside_sqrt: bool = True
    name = "adagrad"

    def __post_init__(self):
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("initial_accumulator_value", self.initial, schedulable=False)

    def build(self, ctx, updates):
        out = []
        for i, g in enumerate(updates):
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
    name = "adagrad_window"

    def __post_init__(self):
        check_nonnegative("epsilon", self.epsilon)
        check_int("n_win", self.n_win, 1)

    def build(self, ctx, updates):
        out = []
        slot = ctx.step % self.n_win
        for i, g in enumerate(updates):
            window = ctx.state(i, "window", suffix=(self.n_win,))
            new_window = pt.set_subtensor(window[..., slot], g**2)
            ctx.set(window, new_window)
            normaliser = (window if self.exclude_current else new_window).sum(axis=-1)
            out.append(g / pt.sqrt(normaliser + ctx.hyper(self.epsilon, g.dtype)))
        return out


def scale_by_adagrad_window(epsilon=0.1, n_win=10, *, exclude_current=False) -> Transform:
    r"""Adagrad over a sliding window of the last ``n_win`` squared gradients (PyMC's default).

    .. math::

        W_t &= \{g_{t-n_{win}+1}^2, \dots, g_t^2\} \\
        u_t &= \frac{g_t}{\sqrt{\sum_{w \in W_t} w + \epsilon}}

    The window starts filled with zeros. With ``exclude_current=True`` the
    normaliser sums the window *before* :math:`g_t^2` enters it,
    :math:`W_{t-1}`, so a gradient is not divided by its own square. PyMC's
    form (``False``) makes the step a biased estimate of the scaled gradient;
    PyMC issue 8444 measured posterior standard deviations inflated by about
    8.5% by it on a conjugate Gaussian model.

    State: ``window`` (the parameter's shape plus ``n_win``) per parameter; the step counter.
    """
    return ScaleByAdagradWindow(epsilon, n_win, exclude_current)


@dataclasses.dataclass(frozen=True)
class ScaleByAdadelta(Transform):
    rho: object = 0.95
    epsilon: object = 1e-6
    name = "adadelta"

    def __post_init__(self):
        check_decay("rho", self.rho)
        check_nonnegative("epsilon", self.epsilon)

    def build(self, ctx, updates):
        out = []
        for i, g in enumerate(updates):
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
