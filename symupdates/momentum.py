"""Momentum: the trace transform, and Lasagne's dict-level momentum helpers."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from symupdates._checks import check_decay, check_scalar
from symupdates.core import Transform

__all__ = ["trace", "apply_momentum", "apply_nesterov_momentum"]


@dataclasses.dataclass(frozen=True)
class Trace(Transform):
    decay: object = 0.9
    nesterov: bool = False
    dampening: object = 0.0
    name = "momentum"

    def __post_init__(self):
        check_decay("momentum", self.decay)
        check_scalar("dampening", self.dampening, 0.0, 1.0)

    def build(self, ctx, updates):
        out = []
        damped = not (isinstance(self.dampening, int | float) and self.dampening == 0)
        for i, u in enumerate(updates):
            mu = ctx.hyper(self.decay, u.dtype)
            velocity = ctx.state(i, "velocity")
            new = mu * velocity + (ctx.one_minus(self.dampening, u.dtype) * u if damped else u)
            if damped:  # torch starts the buffer at the first gradient, undamped
                new = pt.switch(pt.eq(ctx.step, 0), u, new)
            ctx.set(velocity, new)
            out.append(u + mu * new if self.nesterov else new)
        return out


def trace(momentum=0.9, *, nesterov=False, dampening=0.0) -> Transform:
    r"""Heavy-ball or Nesterov momentum on the incoming updates.

    .. math::

        b_t &= \mu\, b_{t-1} + (1-d)\, u_t \qquad (b_1 = u_1 \text{ when } d \ne 0) \\
        u'_t &= b_t \quad\text{or, with nesterov,}\quad u'_t = u_t + \mu\, b_t

    Placed before the learning rate it is torch.optim.SGD's momentum (the
    buffer holds gradients); placed after it, Lasagne's and PyMC's
    ``apply_momentum`` (the buffer holds steps, ``velocity = -b``). The two
    agree while the learning rate is constant.

    State: ``velocity`` per parameter.

    References
    ----------
    .. [1] Polyak, B. T. (1964). Some methods of speeding up the convergence of iteration methods.
    .. [2] Sutskever, I., Martens, J., Dahl, G. & Hinton, G. (2013). On the importance of
       initialization and momentum in deep learning. ICML.
    """
    return Trace(momentum, nesterov, dampening)


def _velocity(param, momentum):
    value = param.get_value(borrow=True)
    name = f"{param.name}.momentum.velocity" if param.name else None
    return pytensor.shared(np.zeros(value.shape, dtype=value.dtype), name=name, shape=param.type.shape)


def _momentum_dict(updates, params, momentum, nesterov):
    check_decay("momentum", momentum)
    updates = OrderedDict(updates)
    for param in list(updates) if params is None else params:
        step = updates[param] - param
        mu = momentum if isinstance(momentum, Variable) else np.asarray(momentum, dtype=param.dtype)
        mu = pt.cast(mu, param.dtype)
        velocity = _velocity(param, momentum)
        new_velocity = mu * velocity + step
        updates[velocity] = new_velocity
        new = param + (mu * new_velocity + step if nesterov else new_velocity)
        updates[param] = pt.cast(new, param.dtype)
    return updates


def apply_momentum(updates, params=None, momentum=0.9):
    r"""Add classical momentum to an existing update dictionary (Lasagne, PyMC).

    For each parameter with update ``p'`` the step ``p' - p`` feeds a velocity:

    .. math::

        v_t = \mu\, v_{t-1} + (p' - p), \qquad p_t = p + v_t

    Parameters
    ----------
    updates : OrderedDict
        {shared variable: new value}, e.g. from :func:`sgd`.
    params : list of shared variables, optional
        The parameters to apply momentum to; default: every key of ``updates``.
    momentum : float or symbolic scalar, default 0.9
        :math:`\mu`, in [0, 1).

    Returns
    -------
    OrderedDict
        A copy of ``updates`` with momentum applied and the velocities added.

    Notes
    -----
    The step is recovered as ``p' - p``, which rounds in float32; the
    optimizers of this package apply momentum with :func:`trace` instead.
    """
    return _momentum_dict(updates, params, momentum, nesterov=False)


def apply_nesterov_momentum(updates, params=None, momentum=0.9):
    r"""Add Nesterov momentum to an existing update dictionary (Lasagne, PyMC).

    .. math::

        v_t = \mu\, v_{t-1} + (p' - p), \qquad p_t = p + \mu\, v_t + (p' - p)

    Parameters and return value as :func:`apply_momentum`.
    """
    return _momentum_dict(updates, params, momentum, nesterov=True)
