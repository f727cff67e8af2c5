"""The Adam family's scalings: Adam, Adamax, NAdam, RAdam, AdaBelief, Yogi, Adan.

Each turns a gradient ``g`` into a step direction (the learning rate comes later) and owns its moments.
"""

from __future__ import annotations

import dataclasses

import pytensor.tensor as pt

from symupdates.core.checks import check_choice, check_decay, check_nonnegative, check_scalar, is_constant
from symupdates.core.numerics import is_zero
from symupdates.core.transform import Transform
from symupdates.transforms.moments import bias_correction, coefficient, moving_average, running_max

__all__ = [
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_belief",
    "scale_by_yogi",
    "scale_by_adan",
]

_FORMS = ("pymc", "torch")


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

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            dtype = g.dtype
            m = moving_average(ctx, i, "m", self.beta1, g)
            v = moving_average(ctx, i, "v", self.beta2, g**2)
            if self.amsgrad:
                v = running_max(ctx, i, "v_max", v)
            eps = ctx.hyper(self.epsilon, dtype)
            if self.form == "pymc":
                c = coefficient(
                    ctx,
                    "c",
                    dtype,
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

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
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


_ORACLE_FORMS = ("torch", "optax")


def adam_moments(ctx, i, beta1, beta2, g):
    """Adam's moving averages of ``g`` and ``g**2`` (states ``m`` and ``v``): returns ``(m_t, v_t)``."""
    return moving_average(ctx, i, "m", beta1, g), moving_average(ctx, i, "v", beta2, g**2)


def debiased(ctx, value, beta, role):
    """``value / (1 - beta**t)``: a moving average ``role`` corrected for its zero start."""
    c = coefficient(ctx, ("1/bc", role), value.dtype, lambda sd: 1 / bias_correction(ctx, beta, sd))
    return c * value


def debiased_rms(ctx, second, beta, epsilon, role, *, eps_root=0.0, eps_scaled=False):
    r"""The denominator that turns a bias-corrected first moment into a step.

    :math:`\sqrt{s/(1-\beta^t) + \epsilon_{root}} + \epsilon` (torch.optim.Adam, optax),
    or with ``eps_scaled`` :math:`(\sqrt{s} + \epsilon)/\sqrt{1-\beta^t}` (the paper's
    :math:`\hat\epsilon`, used by PyMC, Lasagne and torch.optim.RAdam). ``role`` names
    the moment ``s``, so that each bias correction is built once per step.
    """
    dtype = second.dtype
    eps = ctx.hyper(epsilon, dtype)
    if not is_constant(eps_root, 0.0):
        return pt.sqrt(debiased(ctx, second, beta, role) + ctx.hyper(eps_root, dtype)) + eps
    k = coefficient(ctx, ("1/sqrt(bc)", role), dtype, lambda sd: 1 / pt.sqrt(bias_correction(ctx, beta, sd)))
    return (pt.sqrt(second) + eps) * k if eps_scaled else pt.sqrt(second) * k + eps


@dataclasses.dataclass(frozen=True)
class ScaleByNadam(Transform):
    beta1: object = 0.9
    beta2: object = 0.999
    epsilon: object = 1e-8
    momentum_decay: object = 4e-3
    form: str = "torch"
    name = "nadam"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("momentum_decay", self.momentum_decay)
        check_choice("form", self.form, _ORACLE_FORMS)

    def _mu(self, ctx, t, sd):
        """The momentum coefficient :math:`\\mu_t` of step ``t``."""
        beta1 = ctx.hyper(self.beta1, sd)
        if self.form == "optax":
            return beta1
        return beta1 * (1 - 0.5 * 0.96 ** (t * ctx.hyper(self.momentum_decay, sd)))

    def _coefficients(self, ctx, sd):
        """``[(1 - mu_t) / (1 - prod_t), mu_{t+1} / (1 - prod_{t+1})]`` with ``prod_t = mu_1 ... mu_t``."""
        t = ctx.count(sd)
        mu, mu_next = self._mu(ctx, t, sd), self._mu(ctx, t + 1, sd)
        if self.form == "optax":
            product = ctx.hyper(self.beta1, sd) ** t
        else:

            def running_product():
                state = ctx.scalar_state(f"mu_product_{sd}", 1.0, sd)
                new = state * mu
                ctx.set(state, new)
                return new

            product = ctx.cached(("nadam.product", ctx.label, sd), running_product)
        return pt.stack([(1 - mu) / (1 - product), mu_next / (1 - product * mu_next)])

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            m, v = adam_moments(ctx, i, self.beta1, self.beta2, g)
            c = coefficient(ctx, "c", g.dtype, lambda sd: self._coefficients(ctx, sd))
            out.append((c[0] * g + c[1] * m) / debiased_rms(ctx, v, self.beta2, self.epsilon, "v"))
        return out


def scale_by_nadam(beta1=0.9, beta2=0.999, epsilon=1e-8, *, momentum_decay=4e-3, form="torch") -> Transform:
    r"""NAdam's scaling: Adam with Nesterov momentum (Dozat, 2016).

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad
        \Pi_t = \prod_{k=1}^{t} \mu_k \\
        u_t &= \left(\frac{1-\mu_t}{1-\Pi_t}\, g_t + \frac{\mu_{t+1}}{1-\Pi_{t+1}}\, m_t\right)
        \Big/ \left(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\right)

    ``form="torch"`` (the default, torch.optim.NAdam) uses Dozat's momentum
    schedule :math:`\mu_t = \beta_1\,(1 - \tfrac12\, 0.96^{t\psi})` with
    :math:`\psi` = ``momentum_decay``, and keeps :math:`\Pi_t` as a scalar
    state. ``form="optax"`` (optax.nadam) uses a constant :math:`\mu_t = \beta_1`,
    so :math:`\Pi_t = \beta_1^t` and no state is needed; ``momentum_decay`` is
    then unused.

    State: ``m``, ``v`` per parameter; ``mu_product_{dtype}`` (torch form); the step counter.

    References
    ----------
    .. [1] Dozat, T. (2016). Incorporating Nesterov Momentum into Adam. ICLR workshop.
    """
    return ScaleByNadam(beta1, beta2, epsilon, momentum_decay, form)


@dataclasses.dataclass(frozen=True)
class ScaleByRadam(Transform):
    beta1: object = 0.9
    beta2: object = 0.999
    epsilon: object = 1e-8
    threshold: object = 5.0
    form: str = "torch"
    name = "radam"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_scalar("threshold", self.threshold, 4.0, None, low_open=True, schedulable=False)
        check_choice("form", self.form, _ORACLE_FORMS)

    def _rectifier(self, ctx, sd):
        """``[1 if rectified else 0, r_t]`` from the length :math:`\\rho_t` of the SMA."""
        t = ctx.count(sd)
        beta2 = ctx.hyper(self.beta2, sd)
        rho_inf = 2 / ctx.one_minus(self.beta2, sd) - 1
        rho = rho_inf - 2 * t * beta2**t / bias_correction(ctx, self.beta2, sd)
        threshold = ctx.hyper(self.threshold, sd)
        on = pt.gt(rho, threshold) if self.form == "torch" else pt.ge(rho, threshold)
        ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
        return pt.stack([pt.cast(on, sd), pt.sqrt(pt.switch(on, ratio, 1))])

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            m, v = adam_moments(ctx, i, self.beta1, self.beta2, g)
            m_hat = debiased(ctx, m, self.beta1, "m")
            # rho_t - 4 cancels badly (rho_inf ~ 2000 at beta2 = 0.999): always float64
            c = coefficient(ctx, "rect", g.dtype, lambda sd: self._rectifier(ctx, "float64"))
            denominator = debiased_rms(ctx, v, self.beta2, self.epsilon, "v", eps_scaled=self.form == "torch")
            out.append(pt.switch(c[0] > 0, c[1] * m_hat / denominator, m_hat))
        return out


def scale_by_radam(beta1=0.9, beta2=0.999, epsilon=1e-8, *, threshold=5.0, form="torch") -> Transform:
    r"""RAdam's scaling: Adam with its variance rectified (Liu et al., 2020).

    .. math::

        \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2t\,\beta_2^t}{1-\beta_2^t}, \qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}} \\
        u_t &= r_t\, \frac{\hat m_t}{D_t} \;\text{ if } \rho_t > \tau, \quad
        \text{else } u_t = \hat m_t, \qquad \hat m_t = \frac{m_t}{1-\beta_1^t}

    with Adam's moments :math:`m_t, v_t` and :math:`\tau` = ``threshold`` (> 4).
    ``form="torch"`` (the default, torch.optim.RAdam) rectifies when
    :math:`\rho_t > \tau` and uses :math:`D_t = (\sqrt{v_t}+\epsilon)/\sqrt{1-\beta_2^t}`;
    ``form="optax"`` (optax.radam) rectifies when :math:`\rho_t \ge \tau` and uses
    :math:`D_t = \sqrt{v_t/(1-\beta_2^t)}+\epsilon`. With the default
    :math:`\beta_2` the first rectified step is :math:`t = 6` in both. Before
    it, the step is the bias-corrected momentum, not scaled by :math:`v_t`.
    :math:`\rho_t` and :math:`r_t` are computed in float64 whatever the
    parameter dtype: :math:`\rho_t - 4` loses about four digits in float32.

    State: ``m``, ``v`` per parameter; the step counter.

    References
    ----------
    .. [1] Liu, L., Jiang, H., He, P., Chen, W., Liu, X., Gao, J. & Han, J. (2020). On the
       Variance of the Adaptive Learning Rate and Beyond. ICLR.
    """
    return ScaleByRadam(beta1, beta2, epsilon, threshold, form)


@dataclasses.dataclass(frozen=True)
class ScaleByBelief(Transform):
    beta1: object = 0.9
    beta2: object = 0.999
    epsilon: object = 1e-16
    eps_root: object = 1e-16
    name = "adabelief"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("eps_root", self.eps_root)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            m = moving_average(ctx, i, "m", self.beta1, g)
            # the paper adds eps_root to the state itself, every step: not a plain moving average
            s = ctx.state(i, "s")
            s_new = ctx.hyper(self.beta2, g.dtype) * s + ctx.one_minus(self.beta2, g.dtype) * (g - m) ** 2
            if not is_constant(self.eps_root, 0.0):
                s_new = s_new + ctx.hyper(self.eps_root, g.dtype)
            ctx.set(s, s_new)
            out.append(debiased(ctx, m, self.beta1, "m") / debiased_rms(ctx, s_new, self.beta2, self.epsilon, "s"))
        return out


def scale_by_belief(beta1=0.9, beta2=0.999, epsilon=1e-16, *, eps_root=1e-16) -> Transform:
    r"""AdaBelief's scaling: Adam with the variance of the gradient around its mean (Zhuang et al., 2020).

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
        s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, (g_t - m_t)^2 + \epsilon_{root} \\
        u_t &= \frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    As in the paper (Algorithm 2), optax.adabelief and the authors' code,
    :math:`\epsilon_{root}` is added to the *state* every step (so it
    accumulates to about :math:`\epsilon_{root}/(1-\beta_2)`) and :math:`\epsilon`
    outside the square root. ``eps_root=0`` keeps only the outer
    :math:`\epsilon`, as implementations that put the epsilon once do.

    State: ``m``, ``s`` per parameter; the step counter.

    References
    ----------
    .. [1] Zhuang, J., Tang, T., Ding, Y., Tatikonda, S., Dvornek, N., Papademetris, X. &
       Duncan, J. (2020). AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
       Gradients. NeurIPS.
    """
    return ScaleByBelief(beta1, beta2, epsilon, eps_root)


@dataclasses.dataclass(frozen=True)
class ScaleByYogi(Transform):
    beta1: object = 0.9
    beta2: object = 0.999
    epsilon: object = 1e-3
    eps_root: object = 0.0
    initial: object = 1e-6
    name = "yogi"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("eps_root", self.eps_root)
        check_nonnegative("initial_accumulator_value", self.initial, schedulable=False)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            m = moving_average(ctx, i, "m", self.beta1, g, fill=float(self.initial))
            v = ctx.state(i, "v", fill=float(self.initial))
            g2 = g**2
            v_new = v - ctx.one_minus(self.beta2, g.dtype) * pt.sign(v - g2) * g2
            ctx.set(v, v_new)
            denominator = debiased_rms(ctx, v_new, self.beta2, self.epsilon, "v", eps_root=self.eps_root)
            out.append(debiased(ctx, m, self.beta1, "m") / denominator)
        return out


def scale_by_yogi(beta1=0.9, beta2=0.999, epsilon=1e-3, *, eps_root=0.0, initial_accumulator_value=1e-6) -> Transform:
    r"""Yogi's scaling: Adam with an additive second-moment update (Zaheer et al., 2018).

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
        v_t &= v_{t-1} - (1-\beta_2)\, \operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2 \\
        u_t &= \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t) + \epsilon_{root}} + \epsilon}

    :math:`v` moves towards :math:`g_t^2` by at most :math:`(1-\beta_2) g_t^2`,
    so it cannot shrink as fast as Adam's. Both :math:`m_0` and :math:`v_0` are
    ``initial_accumulator_value`` (1e-6, as optax.yogi); 0 gives the zero
    start of the paper's algorithm (whose first step then equals Adam's).

    State: ``m``, ``v`` per parameter; the step counter.

    References
    ----------
    .. [1] Zaheer, M., Reddi, S., Sachan, D., Kale, S. & Kumar, S. (2018). Adaptive Methods
       for Nonconvex Optimization. NeurIPS.
    """
    return ScaleByYogi(beta1, beta2, epsilon, eps_root, initial_accumulator_value)


@dataclasses.dataclass(frozen=True)
class ScaleByAdan(Transform):
    beta1: object = 0.98
    beta2: object = 0.92
    beta3: object = 0.99
    epsilon: object = 1e-8
    eps_root: object = 1e-8
    name = "adan"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_decay("beta3", self.beta3)
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("eps_root", self.eps_root)

    def build(self, ctx, directions):
        out = []
        for i, g in enumerate(directions):
            previous = ctx.state(i, "g_prev")
            ctx.set(previous, g)
            diff = pt.switch(is_zero(ctx.step), pt.zeros_like(g), g - previous)
            keep2 = ctx.one_minus(self.beta2, g.dtype)
            m = moving_average(ctx, i, "m", self.beta1, g)
            v = moving_average(ctx, i, "v", self.beta2, diff)
            n = moving_average(ctx, i, "n", self.beta3, (g + keep2 * diff) ** 2)
            direction = debiased(ctx, m, self.beta1, "m") + keep2 * debiased(ctx, v, self.beta2, "v")
            out.append(direction / debiased_rms(ctx, n, self.beta3, self.epsilon, "n", eps_root=self.eps_root))
        return out


def scale_by_adan(beta1=0.98, beta2=0.92, beta3=0.99, epsilon=1e-8, *, eps_root=1e-8) -> Transform:
    r"""Adan's scaling: adaptive Nesterov momentum from gradient differences (Xie et al., 2024).

    .. math::

        \Delta_t &= g_t - g_{t-1} \quad (\Delta_1 = 0) \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, \Delta_t \\
        n_t &= \beta_3 n_{t-1} + (1-\beta_3)\, \big(g_t + (1-\beta_2)\Delta_t\big)^2 \\
        u_t &= \frac{\hat m_t + (1-\beta_2)\, \hat v_t}{\sqrt{\hat n_t + \epsilon_{root}} + \epsilon}

    with hats the bias-corrected averages (:math:`\hat x_t = x_t/(1-\beta^t)`), as
    ``optax.adan`` (0.2.8) computes it. The betas are decay rates (optax, the authors' code);
    the paper's :math:`\beta_k` are one minus them. The paper (Algorithm 1) and the authors'
    code weight the gradient difference in :math:`n_t` and :math:`u_t` by :math:`\beta_2` (0.92)
    where optax, and so this transform, use :math:`1-\beta_2` (0.08; optax PR #1715).

    State: ``m``, ``v``, ``n``, ``g_prev`` per parameter; the step counter.

    References
    ----------
    .. [1] Xie, X., Zhou, P., Li, H., Lin, Z. & Yan, S. (2024). Adan: Adaptive Nesterov Momentum
       Algorithm for Faster Optimizing Deep Models. IEEE TPAMI. arXiv:2208.06677.
    """
    return ScaleByAdan(beta1, beta2, beta3, epsilon, eps_root)
