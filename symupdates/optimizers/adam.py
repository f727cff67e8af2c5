"""The Adam family: Adam, Adamax, AMSGrad, AdamW, NAdam, RAdam, AdaBelief, Yogi, Adan.

Each function only says *what* the optimizer is; the math lives in
:mod:`symupdates.transforms.adam` and the common options are added by
:func:`symupdates.optimizers.options.assemble`. Every one is checked against a live
oracle (named under Notes) in ``tests/optimizers/test_adam_oracles.py``.
"""

from __future__ import annotations

from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.adam import (
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_belief,
    scale_by_nadam,
    scale_by_radam,
    scale_by_yogi,
)

__all__ = ["adam", "adamax", "amsgrad", "adamw", "nadam", "radam", "adabelief", "yogi", "adan"]


@optimizer
def adam(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, *, amsgrad=False, form="pymc"):
    r"""Adam (Kingma & Ba, 2015), as PyMC's and Lasagne's ``adam``.

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        p_t &= p_{t-1} - \eta\, \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\, \frac{m_t}{\sqrt{v_t}+\epsilon}

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    amsgrad : bool, default False
        Use :math:`\max(\hat v_{t-1}, v_t)` (raw second moment) in the denominator.
    form : {"pymc", "torch"}, default "pymc"
        Where :math:`\epsilon` sits; "torch" gives
        :math:`\eta\,\hat m_t/(\sqrt{\hat v_t}+\epsilon)` with bias-corrected moments.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracles: ``torch.optim.Adam`` (2.13) and ``optax.adam`` (0.2) with ``form="torch"``.

    References
    ----------
    .. [1] Kingma, D. P. & Ba, J. (2015). Adam: A Method for Stochastic Optimization. ICLR.
    """
    return Recipe(scale_by_adam(beta1, beta2, epsilon, amsgrad=amsgrad, form=form), learning_rate)


@optimizer
def adamax(learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-8, *, form="pymc"):
    r"""Adamax (Kingma & Ba, 2015, section 7), as PyMC's and Lasagne's ``adamax``.

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad u_t = \max(\beta_2 u_{t-1}, |g_t|) \\
        p_t &= p_{t-1} - \frac{\eta}{1-\beta_1^t}\, \frac{m_t}{u_t+\epsilon}

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.002
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    form : {"pymc", "torch"}, default "pymc"
        "torch" puts :math:`\epsilon` inside the maximum: :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|+\epsilon)`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``torch.optim.Adamax`` (2.13) with ``form="torch"``.

    References
    ----------
    .. [1] Kingma, D. P. & Ba, J. (2015). Adam: A Method for Stochastic Optimization. ICLR.
    """
    return Recipe(scale_by_adamax(beta1, beta2, epsilon, form=form), learning_rate)


@optimizer
def amsgrad(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    r"""AMSGrad (Reddi et al., 2018), as Lasagne's ``amsgrad``; the same as ``adam(amsgrad=True)``.

    .. math::

        \hat v_t &= \max(\hat v_{t-1}, v_t) \\
        p_t &= p_{t-1} - \eta\, \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\, \frac{m_t}{\sqrt{\hat v_t}+\epsilon}

    with :math:`m_t, v_t` as in :func:`adam`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8

    Returns
    -------
    Updates or functools.partial

    References
    ----------
    .. [1] Reddi, S. J., Kale, S. & Kumar, S. (2018). On the Convergence of Adam and Beyond. ICLR.
    """
    return Recipe(scale_by_adam(beta1, beta2, epsilon, amsgrad=True), learning_rate)


@optimizer
def adamw(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=1e-2, *, amsgrad=False):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        p_t &= p_{t-1} - \eta_t \left(\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon}
        + \lambda\, p_{t-1}\right)

    Adam's ``form="torch"`` plus the decay :math:`\eta_t \lambda p`, which
    follows the learning rate of the step (schedules included) but not the
    adaptive scaling.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
        :math:`\eta`.
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    weight_decay : float, symbolic scalar or schedule, default 1e-2
        :math:`\lambda`, *decoupled* (torch.optim.AdamW's ``weight_decay``). It
        takes the place of the common options ``weight_decay`` (coupled L2,
        not available here) and ``decoupled_weight_decay``; ``weight_decay_mask``
        and ``wd_mult`` apply to it.
    amsgrad : bool, default False
        Use the running maximum of :math:`v_t` (torch ``amsgrad``).

    Returns
    -------
    Updates or functools.partial
        The updates, or an optimizer factory when called without ``loss_or_grads`` and ``params``.

    Notes
    -----
    Oracle: ``torch.optim.AdamW`` (2.13), same defaults. ``optax.adamw`` has
    ``weight_decay=1e-4`` by default and the same formula.

    References
    ----------
    .. [1] Loshchilov, I. & Hutter, F. (2019). Decoupled Weight Decay Regularization. ICLR.
    """
    direction = scale_by_adam(beta1, beta2, epsilon, amsgrad=amsgrad, form="torch")
    return Recipe(direction, learning_rate, decoupled_weight_decay=weight_decay)


@optimizer
def nadam(learning_rate=2e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, *, momentum_decay=4e-3, form="torch"):
    r"""NAdam: Adam with Nesterov momentum (Dozat, 2016).

    .. math::

        \mu_t &= \beta_1 \left(1 - \tfrac12\, 0.96^{t\psi}\right), \qquad \Pi_t = \prod_{k \le t} \mu_k \\
        p_t &= p_{t-1} - \eta\, \left(\frac{1-\mu_t}{1-\Pi_t}\, g_t + \frac{\mu_{t+1}}{1-\Pi_{t+1}}\, m_t\right)
        \Big/ \left(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\right)

    with Adam's moments :math:`m_t, v_t` (see :func:`symupdates.scale_by_nadam`).

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 2e-3
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    momentum_decay : float, default 4e-3
        :math:`\psi` of the momentum schedule (torch form only).
    form : {"torch", "optax"}, default "torch"
        "torch": Dozat's schedule :math:`\mu_t` (torch.optim.NAdam). "optax":
        constant :math:`\mu_t = \beta_1`, :math:`\Pi_t = \beta_1^t` (optax.nadam,
        Keras).

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracles: ``torch.optim.NAdam`` (2.13) with ``form="torch"``; ``optax.nadam``
    (0.2.8) with ``form="optax"``. torch's ``weight_decay`` is the common
    ``weight_decay`` option, and its ``decoupled_weight_decay=True`` (NAdamW) is
    the common ``decoupled_weight_decay`` option.

    References
    ----------
    .. [1] Dozat, T. (2016). Incorporating Nesterov Momentum into Adam. ICLR workshop.
    """
    return Recipe(scale_by_nadam(beta1, beta2, epsilon, momentum_decay=momentum_decay, form=form), learning_rate)


@optimizer
def radam(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, *, threshold=5.0, form="torch"):
    r"""RAdam: Adam with a rectified adaptive learning rate (Liu et al., 2020).

    .. math::

        p_t = p_{t-1} - \eta\, r_t\, \frac{\hat m_t}{D_t} \;\text{ if } \rho_t > \tau,
        \qquad \text{else } p_t = p_{t-1} - \eta\, \hat m_t

    with :math:`\rho_t, r_t, D_t` as in :func:`symupdates.scale_by_radam`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    threshold : float, default 5
        :math:`\tau` (> 4): the length of the SMA above which the step is rectified.
    form : {"torch", "optax"}, default "torch"
        "torch": :math:`\rho_t > \tau` and :math:`D_t = (\sqrt{v_t}+\epsilon)/\sqrt{1-\beta_2^t}`
        (torch.optim.RAdam). "optax": :math:`\rho_t \ge \tau` and
        :math:`D_t = \sqrt{v_t/(1-\beta_2^t)}+\epsilon` (optax.radam).

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracles: ``torch.optim.RAdam`` (2.13) with ``form="torch"``; ``optax.radam``
    (0.2.8) with ``form="optax"``. torch's ``weight_decay`` and
    ``decoupled_weight_decay=True`` are the common options of the same names.

    References
    ----------
    .. [1] Liu, L., Jiang, H., He, P., Chen, W., Liu, X., Gao, J. & Han, J. (2020). On the
       Variance of the Adaptive Learning Rate and Beyond. ICLR.
    """
    return Recipe(scale_by_radam(beta1, beta2, epsilon, threshold=threshold, form=form), learning_rate)


@optimizer
def adabelief(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-16, *, eps_root=1e-16):
    r"""AdaBelief: Adam with the variance of the gradient around its mean (Zhuang et al., 2020).

    .. math::

        s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, (g_t - m_t)^2 + \epsilon_{root} \\
        p_t &= p_{t-1} - \eta\, \frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    with Adam's first moment :math:`m_t`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-16
        Added outside the square root.
    eps_root : float, default 1e-16
        Added to the state :math:`s_t` every step (the paper's placement); 0
        keeps only the outer ``epsilon``.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.adabelief`` (0.2.8), same defaults (optax has no default
    learning rate; 1e-3 is the authors').

    References
    ----------
    .. [1] Zhuang, J., Tang, T., Ding, Y., Tatikonda, S., Dvornek, N., Papademetris, X. &
       Duncan, J. (2020). AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
       Gradients. NeurIPS.
    """
    return Recipe(scale_by_belief(beta1, beta2, epsilon, eps_root=eps_root), learning_rate)


@optimizer
def yogi(learning_rate=1e-2, beta1=0.9, beta2=0.999, epsilon=1e-3, *, initial_accumulator_value=1e-6, eps_root=0.0):
    r"""Yogi: Adam with an additive, sign-controlled second moment (Zaheer et al., 2018).

    .. math::

        v_t &= v_{t-1} - (1-\beta_2)\, \operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2 \\
        p_t &= p_{t-1} - \eta\, \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t) + \epsilon_{root}} + \epsilon}

    with Adam's first moment :math:`m_t`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-2
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-3
    initial_accumulator_value : float, default 1e-6
        :math:`m_0 = v_0` (optax.yogi); 0 gives the paper's zero start.
    eps_root : float, default 0

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.yogi`` (0.2.8), same defaults (optax has no default
    learning rate; 1e-2 is the paper's).

    References
    ----------
    .. [1] Zaheer, M., Reddi, S., Sachan, D., Kale, S. & Kumar, S. (2018). Adaptive Methods
       for Nonconvex Optimization. NeurIPS.
    """
    direction = scale_by_yogi(
        beta1, beta2, epsilon, eps_root=eps_root, initial_accumulator_value=initial_accumulator_value
    )
    return Recipe(direction, learning_rate)


@optimizer
def adan(learning_rate=1e-3, beta1=0.98, beta2=0.92, beta3=0.99, epsilon=1e-8, *, eps_root=1e-8, weight_decay=0.0):
    r"""Adan: adaptive Nesterov momentum (Xie et al., 2024).

    .. math::

        p_t = p_{t-1} - \eta_t \left(
        \frac{\hat m_t + (1-\beta_2)\, \hat v_t}{\sqrt{\hat n_t + \epsilon_{root}} + \epsilon}
        + \lambda\, p_{t-1}\right)

    with :math:`\hat m_t, \hat v_t, \hat n_t` as in :func:`symupdates.scale_by_adan`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    beta1, beta2, beta3 : float, default 0.98, 0.92, 0.99
        Decay rates of the gradient, gradient-difference and squared averages.
    epsilon : float, default 1e-8
    eps_root : float, default 1e-8
    weight_decay : float, symbolic scalar or schedule, default 0
        :math:`\lambda`, *decoupled* as in optax.adan (it replaces the common
        ``weight_decay``/``decoupled_weight_decay`` options). The paper's
        proximal form :math:`p/(1+\eta\lambda)` agrees to first order in
        :math:`\eta\lambda`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.adan`` (0.2.8), same defaults (optax has no default
    learning rate).

    References
    ----------
    .. [1] Xie, X., Zhou, P., Li, H., Lin, Z. & Yan, S. (2024). Adan: Adaptive Nesterov Momentum
       Algorithm for Faster Optimizing Deep Models. IEEE TPAMI. arXiv:2208.06677.
    """
    direction = scale_by_adan(beta1, beta2, beta3, epsilon, eps_root=eps_root)
    return Recipe(direction, learning_rate, decoupled_weight_decay=weight_decay)
