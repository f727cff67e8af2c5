"""SGD and momentum: PyMC's and Lasagne's ``sgd``, ``momentum``, ``nesterov_momentum``.

Each function only says *what* the optimizer is; the math lives in :mod:`symupdates.transforms.momentum`.
"""

from __future__ import annotations

from symupdates.core.checks import check_scalar, is_constant
from symupdates.core.transform import identity
from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.momentum import parameter_momentum, trace

__all__ = ["sgd", "momentum", "nesterov_momentum"]


@optimizer
def sgd(learning_rate=1e-3, *, momentum=0.0, dampening=0.0, nesterov=False):
    r"""Stochastic gradient descent, optionally with torch.optim.SGD's momentum.

    .. math::

        b_t &= \mu\, b_{t-1} + (1-d)\, g_t \quad (b_1 = g_1), \qquad
        u_t = b_t \;\text{or, with nesterov,}\; g_t + \mu\, b_t \\
        p_t &= p_{t-1} - \eta\, u_t

    With ``momentum=0`` (the default) this is :math:`p_t = p_{t-1} - \eta g_t`,
    PyMC's and Lasagne's ``sgd``.

    Parameters
    ----------
    loss_or_grads : scalar TensorVariable or list of TensorVariable, optional
        The loss, or one gradient per parameter.
    params : list of shared variables, optional
        The parameters to update.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
        :math:`\eta`.
    momentum : float, default 0
        :math:`\mu` (torch semantics: the buffer holds gradients).
    dampening : float, default 0
        :math:`d`.
    nesterov : bool, default False
        Nesterov momentum.

    Returns
    -------
    Updates or functools.partial
        The updates, or an optimizer factory when called without ``loss_or_grads`` and ``params``.

    Notes
    -----
    Oracle: ``torch.optim.SGD`` (2.13).
    """
    check_scalar("dampening", dampening, 0.0, 1.0)  # validated even when momentum=0 leaves it unused
    direction = identity() if is_constant(momentum, 0.0) else trace(momentum, nesterov=nesterov, dampening=dampening)
    return Recipe(direction, learning_rate)


@optimizer
def momentum(learning_rate=1e-3, momentum=0.9):
    r"""SGD with classical momentum, as PyMC's and Lasagne's ``momentum``.

    .. math::

        v_t = \mu\, v_{t-1} - \eta\, g_t, \qquad p_t = p_{t-1} + v_t

    The velocity holds *steps* (learning rate included), so a changing learning
    rate does not rescale past momentum.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
        :math:`\eta`.
    momentum : float or symbolic scalar, default 0.9
        :math:`\mu \in [0, 1)`.

    Returns
    -------
    Updates or functools.partial

    References
    ----------
    .. [1] Polyak, B. T. (1964). Some methods of speeding up the convergence of iteration methods.
    """
    return Recipe(identity(), learning_rate, after=parameter_momentum(momentum))


@optimizer
def nesterov_momentum(learning_rate=1e-3, momentum=0.9):
    r"""SGD with Nesterov momentum, as PyMC's and Lasagne's ``nesterov_momentum``.

    .. math::

        v_t = \mu\, v_{t-1} - \eta\, g_t, \qquad p_t = p_{t-1} + \mu\, v_t - \eta\, g_t

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    momentum : float or symbolic scalar, default 0.9

    Returns
    -------
    Updates or functools.partial

    References
    ----------
    .. [1] Sutskever, I., Martens, J., Dahl, G. & Hinton, G. (2013). On the importance of
       initialization and momentum in deep learning. ICML.
    """
    return Recipe(identity(), learning_rate, after=parameter_momentum(momentum, nesterov=True))
