"""Averaged optimizers: ASGD, SGD with a running average of the iterates.

The averaging lives in :mod:`symupdates.transforms.averaging`; read the averages with
:func:`symupdates.averaged_parameters`.
"""

from __future__ import annotations

from symupdates.core.checks import check_nonnegative, is_schedule
from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.averaging import average_iterates
from symupdates.transforms.linear import add_decayed_weights

__all__ = ["asgd"]


def _asgd_rate(learning_rate, lambd, alpha):
    """torch's ASGD step size :math:`\\eta_k = \\eta / (1 + \\lambda \\eta k)^\\alpha` at 0-based step ``k``."""

    def schedule(step):
        base = learning_rate(step) if is_schedule(learning_rate) else learning_rate
        return base / (1 + lambd * base * step) ** alpha

    return schedule


@optimizer
def asgd(learning_rate=0.01, lambd=1e-4, alpha=0.75, t0=1e6):
    r"""Averaged SGD (Polyak & Juditsky, 1992) with torch.optim.ASGD's step sizes.

    .. math::

        \eta_t &= \frac{\eta}{(1 + \lambda \eta\, (t-1))^{\alpha}} \\
        p_t &= p_{t-1} - \eta_t\,(g_t + \lambda\, p_{t-1}) \\
        \bar p_t &= \bar p_{t-1} + \mu_t\,(p_t - \bar p_{t-1}), \qquad
        \mu_t = 1/\max(1,\; t-1-t_0),\ \mu_1 = 1

    The parameters follow the SGD iterates :math:`p_t`; the averaged
    iterates :math:`\bar p_t` (torch's ``ax``) are state, read with
    :func:`symupdates.averaged_parameters`::

        updates = asgd(loss, params, learning_rate=0.01, t0=100)
        averages = su.averaged_parameters(updates)   # {param: shared variable}
        ...train...
        w_avg = averages[w].get_value()

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float or schedule, default 0.01
        :math:`\eta`.
    lambd : float, default 1e-4
        Decay term :math:`\lambda` of the step size and of the parameter.
    alpha : float, default 0.75
        Power :math:`\alpha` of the step-size decay.
    t0 : float, default 1e6
        Step at which averaging starts :math:`t_0`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``torch.optim.ASGD`` (2.13), parameters and ``ax``. torch's
    ``weight_decay`` is the common ``weight_decay`` option. State:
    ``{param}.averaging.ax``; the step counter.

    References
    ----------
    .. [1] Polyak, B. T. & Juditsky, A. B. (1992). Acceleration of Stochastic Approximation by
       Averaging. SIAM J. Control Optim. 30(4), 838-855.
    .. [2] Bottou, L. (2012). Stochastic Gradient Descent Tricks. Neural Networks: Tricks of the Trade.
    """
    check_nonnegative("learning_rate", learning_rate)
    check_nonnegative("lambd", lambd, schedulable=False)
    check_nonnegative("alpha", alpha, schedulable=False)
    return Recipe(add_decayed_weights(lambd), _asgd_rate(learning_rate, lambd, alpha), after=average_iterates(t0))
