"""Sign-based optimizers: signSGD, Signum, Lion and Rprop.

The math lives in :mod:`symupdates.transforms.sign` (and :func:`symupdates.ema`); the
common options are added by :func:`symupdates.optimizers.options.assemble`.
"""

from __future__ import annotations

from symupdates.core.checks import check_decay
from symupdates.core.transform import chain
from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.averaging import ema
from symupdates.transforms.sign import scale_by_lion, scale_by_rprop, scale_by_sign

__all__ = ["sign_sgd", "signum", "lion", "rprop"]


@optimizer
def sign_sgd(learning_rate=1e-3):
    r"""signSGD (Bernstein et al., 2018): step by the sign of the gradient.

    .. math::

        p_t = p_{t-1} - \eta\, \operatorname{sign}(g_t)

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
        :math:`\eta`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.sign_sgd`` (0.2.8), and the paper's algorithm 1 in NumPy.

    References
    ----------
    .. [1] Bernstein, J., Wang, Y.-X., Azizzadenesheli, K. & Anandkumar, A. (2018). signSGD:
       Compressed Optimisation for Non-Convex Problems. ICML.
    """
    return Recipe(scale_by_sign(), learning_rate)


@optimizer
def signum(learning_rate=1e-3, beta=0.9):
    r"""Signum (Bernstein et al., 2018): step by the sign of the momentum.

    .. math::

        m_t = \beta\, m_{t-1} + (1-\beta)\, g_t, \qquad p_t = p_{t-1} - \eta\, \operatorname{sign}(m_t)

    with :math:`m_0 = 0` and no bias correction (the sign does not need it).

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    beta : float or symbolic scalar, default 0.9
        Momentum :math:`\beta \in [0, 1)`; 0 gives :func:`sign_sgd`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.signum`` (0.2.8), and the paper's algorithm 3 in NumPy.
    State: ``{param}.ema.m``.

    References
    ----------
    .. [1] Bernstein, J., Wang, Y.-X., Azizzadenesheli, K. & Anandkumar, A. (2018). signSGD:
       Compressed Optimisation for Non-Convex Problems. ICML.
    """
    check_decay("beta", beta)  # validated under its own name (ema would call it `decay`)
    return Recipe(chain(ema(beta), scale_by_sign()), learning_rate)


@optimizer
def lion(learning_rate=1e-4, beta1=0.9, beta2=0.99):
    r"""Lion (Chen et al., 2023): evolved sign momentum.

    .. math::

        p_t &= p_{t-1} - \eta\, \big(\operatorname{sign}(\beta_1 m_{t-1} + (1-\beta_1)\, g_t)
        + \lambda\, p_{t-1}\big) \\
        m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t

    Lion's weight decay :math:`\lambda` is ``decoupled_weight_decay`` (default
    0 here; optax.lion's ``weight_decay`` defaults to 1e-3). The paper
    recommends a learning rate 3-10 times smaller than AdamW's.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-4
    beta1 : float, default 0.9
        Interpolation of the direction.
    beta2 : float, default 0.99
        Decay of the stored momentum.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.lion`` (0.2.8) with ``weight_decay`` = ``decoupled_weight_decay``.
    State: ``{param}.lion.m``.

    References
    ----------
    .. [1] Chen, X. et al. (2023). Symbolic Discovery of Optimization Algorithms. NeurIPS.
       arXiv:2302.06675.
    """
    return Recipe(scale_by_lion(beta1, beta2), learning_rate)


@optimizer
def rprop(learning_rate=0.01, *, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    r"""Rprop (Riedmiller & Braun, 1993) with torch.optim.Rprop's conventions.

    .. math::

        \Delta_t &= \operatorname{clip}(\Delta_{t-1}\cdot f_t,\; \Delta_{\min}, \Delta_{\max}), \qquad
        f_t = \eta_+,\ \eta_-,\ 1 \text{ as } g_t \tilde g_{t-1} >, <, = 0 \\
        \tilde g_t &= 0 \text{ where } g_t \tilde g_{t-1} < 0, \text{ else } g_t, \qquad
        p_t = p_{t-1} - \operatorname{sign}(\tilde g_t)\, \Delta_t

    See :func:`symupdates.scale_by_rprop`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.01
        The *initial step size* :math:`\Delta_0` (torch's ``lr``), read at the
        first update; later changes of a symbolic value or schedule have no
        effect, since the step sizes then adapt on their own.
    etas : (float, float), default (0.5, 1.2)
        :math:`(\eta_-, \eta_+)`, :math:`0 < \eta_- < 1 < \eta_+`.
    step_sizes : (float, float), default (1e-6, 50)
        :math:`(\Delta_{\min}, \Delta_{\max})`.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    The recipe's learning rate is 1: the direction is already a step
    length, so ``lr_mult`` multiplies the steps and ``decoupled_weight_decay``
    :math:`\lambda` subtracts :math:`\lambda p` unscaled.

    Oracle: ``torch.optim.Rprop`` (2.13). State: ``{param}.rprop.prev``,
    ``{param}.rprop.step_size``.

    References
    ----------
    .. [1] Riedmiller, M. & Braun, H. (1993). A direct adaptive method for faster backpropagation
       learning: the RPROP algorithm. IEEE International Conference on Neural Networks.
    """
    return Recipe(scale_by_rprop(learning_rate, etas, step_sizes), 1.0)
