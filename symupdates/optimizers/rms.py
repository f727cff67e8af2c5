"""The RMS family: Adagrad, Adagrad over a window (PyMC's default), RMSProp, Adadelta.

Each function only says *what* the optimizer is; the math lives in :mod:`symupdates.transforms.rms`.
"""

from __future__ import annotations

from symupdates.core.checks import check_nonnegative, is_constant, is_schedule
from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.momentum import trace
from symupdates.transforms.rms import scale_by_adadelta, scale_by_adagrad, scale_by_adagrad_window, scale_by_rms

__all__ = ["adagrad", "adagrad_window", "rmsprop", "adadelta"]


def _inverse_time_decay(learning_rate, decay):
    """torch's Adagrad ``lr_decay``: :math:`\\eta_k = \\eta / (1 + k\\,\\delta)` at 0-based step ``k``."""

    def schedule(step):
        base = learning_rate(step) if is_schedule(learning_rate) else learning_rate
        return base / (1 + step * decay)

    return schedule


@optimizer
def adagrad(learning_rate=1.0, epsilon=1e-6, *, lr_decay=0.0, initial_accumulator_value=0.0, eps_inside_sqrt=True):
    r"""Adagrad (Duchi et al., 2011), as PyMC's and Lasagne's ``adagrad``.

    .. math::

        s_t = s_{t-1} + g_t^2, \qquad
        p_t = p_{t-1} - \frac{\eta_t\, g_t}{\sqrt{s_t+\epsilon}}, \qquad
        \eta_t = \frac{\eta}{1 + (t-1)\,\delta}

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1.0
        :math:`\eta`.
    epsilon : float, default 1e-6
    lr_decay : float, default 0
        :math:`\delta` (torch.optim.Adagrad).
    initial_accumulator_value : float, default 0
        :math:`s_0` (torch: 0, optax: 0.1).
    eps_inside_sqrt : bool, default True
        False gives torch's :math:`g/(\sqrt{s}+\epsilon)`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``torch.optim.Adagrad`` (2.13) with ``eps_inside_sqrt=False``.

    References
    ----------
    .. [1] Duchi, J., Hazan, E. & Singer, Y. (2011). Adaptive Subgradient Methods for Online
       Learning and Stochastic Optimization. JMLR 12, 2121-2159.
    """
    check_nonnegative("lr_decay", lr_decay, schedulable=False)
    rate = learning_rate if is_constant(lr_decay, 0.0) else _inverse_time_decay(learning_rate, lr_decay)
    return Recipe(
        scale_by_adagrad(epsilon, initial_accumulator_value=initial_accumulator_value, eps_inside_sqrt=eps_inside_sqrt),
        rate,
    )


@optimizer
def adagrad_window(learning_rate=0.001, epsilon=0.1, n_win=10, *, exclude_current=False, max_step_ratio=10.0):
    r"""Adagrad over a window of the last ``n_win`` squared gradients: PyMC's default for ``pm.fit``.

    .. math::

        p_t = p_{t-1} - \frac{\eta\, g_t}{\sqrt{\sum_{k=t-n_{win}+1}^{t} g_k^2 + \epsilon}}

    With ``exclude_current=True`` (for :math:`t > n_{win}`)

    .. math::

        p_t = p_{t-1} - \eta\, \operatorname{clip}\Big(\frac{g_t}{\sqrt{\sum_{k=t-n_{win}+1}^{t-1} g_k^2 + \epsilon}},
        \pm r\Big).

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.001
    epsilon : float, default 0.1
    n_win : int, default 10
        Window length, >= 1.
    exclude_current : bool, default False
        The correction of PyMC issue 8444 (as proposed in PyMC pull request
        8447): normalise :math:`g_t` by the other :math:`n_{win}-1` squared
        gradients of the window, not by a sum containing :math:`g_t^2`, once
        the window has filled (PyMC's rule before). PyMC's rule biases ADVI's
        posterior standard deviations upwards (about +8.5% on a conjugate
        Gaussian model); this removes the bias. The default gives PyMC's
        numbers bit for bit.
    max_step_ratio : float or None, default 10
        With ``exclude_current``: clip the step to :math:`r\,\eta` element-wise
        (PyMC's rule never exceeds :math:`\eta`). ``None``: no clipping.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``pymc.adagrad_window`` (5.28), bit-identical by default.
    ``tests/optimizers/test_rms.py`` measures the bias with ``pm.fit``.

    References
    ----------
    .. [1] PyMC issue 8444, "ADVI default optimizer adagrad_window biases posterior SDs upward".
    """
    return Recipe(
        scale_by_adagrad_window(epsilon, n_win, exclude_current=exclude_current, max_step_ratio=max_step_ratio),
        learning_rate,
    )


@optimizer
def rmsprop(learning_rate=1.0, rho=0.9, epsilon=1e-6, *, centered=False, momentum=0.0, eps_inside_sqrt=True):
    r"""RMSProp (Tieleman & Hinton, 2012), as PyMC's and Lasagne's ``rmsprop``; centered (Graves, 2013).

    .. math::

        s_t &= \rho\, s_{t-1} + (1-\rho)\, g_t^2, \qquad
        \bar g_t = \rho\, \bar g_{t-1} + (1-\rho)\, g_t \;\text{(centered)} \\
        v_t &= \mu\, v_{t-1} + \frac{\eta\, g_t}{\sqrt{s_t - \bar g_t^2 + \epsilon}}, \qquad
        p_t = p_{t-1} - v_t

    (:math:`\bar g_t^2` only when centered; :math:`v_t` is the step itself when
    :math:`\mu = 0`.) Momentum acts on the learning-rate-scaled step, as MXNet's
    ``gamma2`` in ``rmspropalex_update``.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1.0
    rho : float, default 0.9
        Squared-gradient decay (MXNet ``gamma1``, torch ``alpha``).
    epsilon : float, default 1e-6
    centered : bool, default False
        Graves' centered RMSProp (MXNet ``centered=True``, torch ``centered``).
    momentum : float, default 0
        :math:`\mu` (MXNet ``gamma2``, torch ``momentum``).
    eps_inside_sqrt : bool, default True
        False gives torch's :math:`\sqrt{\cdot}+\epsilon`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``torch.optim.RMSprop`` (2.13) with ``eps_inside_sqrt=False``; with
    a constant learning rate torch's momentum (on the unscaled step) gives the
    same numbers.

    References
    ----------
    .. [1] Tieleman, T. & Hinton, G. (2012). Lecture 6.5 - rmsprop. COURSERA.
    .. [2] Graves, A. (2013). Generating Sequences With Recurrent Neural Networks. arXiv:1308.0850.
    """
    return Recipe(
        scale_by_rms(rho, epsilon, centered=centered, eps_inside_sqrt=eps_inside_sqrt),
        learning_rate,
        after=None if is_constant(momentum, 0.0) else trace(momentum),
    )


@optimizer
def adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6):
    r"""Adadelta (Zeiler, 2012), as PyMC's and Lasagne's ``adadelta``.

    .. math::

        s_t &= \rho\, s_{t-1} + (1-\rho)\, g_t^2 \\
        u_t &= g_t\, \frac{\sqrt{\delta_{t-1}+\epsilon}}{\sqrt{s_t+\epsilon}}, \qquad
        \delta_t = \rho\, \delta_{t-1} + (1-\rho)\, u_t^2 \\
        p_t &= p_{t-1} - \eta\, u_t

    The learning rate stays outside the accumulator :math:`\delta`. ``rho=0.95``
    and ``epsilon=1e-6`` are the paper's suggestions; it has no learning rate
    (keep 1.0).

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1.0
    rho : float, default 0.95
    epsilon : float, default 1e-6

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracles: ``torch.optim.Adadelta`` (2.13), ``optax.adadelta`` (0.2): same formula.

    References
    ----------
    .. [1] Zeiler, M. D. (2012). ADADELTA: An Adaptive Learning Rate Method. arXiv:1212.5701.
    """
    return Recipe(scale_by_adadelta(rho, epsilon), learning_rate)
