"""Momentum: the trace transform, and Lasagne's dict-level momentum helpers."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from symupdates.core.checks import check_decay, check_scalar
from symupdates.core.numerics import is_zero
from symupdates.core.transform import Transform

__all__ = ["trace", "parameter_momentum", "apply_momentum", "apply_nesterov_momentum"]


@dataclasses.dataclass(frozen=True)
class Trace(Transform):
    decay: object = 0.9
    symbol_names = {"decay": "momentum"}
    nesterov: bool = False
    dampening: object = 0.0
    name = "momentum"

    def __post_init__(self):
        check_decay("momentum", self.decay)
        check_scalar("dampening", self.dampening, 0.0, 1.0)

    def build(self, ctx, directions):
        out = []
        damped = not (isinstance(self.dampening, int | float) and self.dampening == 0)
        for i, u in enumerate(directions):
            mu = ctx.hyper(self.decay, u.dtype)
            velocity = ctx.state(i, "velocity")
            new = mu * velocity + (ctx.one_minus(self.dampening, u.dtype) * u if damped else u)
            if damped:  # torch starts the buffer at the first gradient, undamped
                new = pt.switch(is_zero(ctx.step), u, new)
            ctx.set(velocity, new)
            out.append(u + mu * new if self.nesterov else new)
        return out


def trace(momentum=0.9, *, nesterov=False, dampening=0.0) -> Transform:
    r"""Heavy-ball or Nesterov momentum on the incoming updates.

    .. math::

        b_t &= \mu\, b_{t-1} + (1-d)\, u_t \qquad (b_1 = u_1 \text{ when } d \ne 0) \\
        u'_t &= b_t \quad\text{or, with nesterov,}\quad u'_t = u_t + \mu\, b_t

    Placed before the learning rate it is torch.optim.SGD's momentum (the
    buffer holds gradients); placed after it, the buffer holds steps (MXNet's
    ``gamma2`` in RMSProp). The two agree while the learning rate is constant.
    Lasagne's and PyMC's momentum, which acts on the new parameter values, is
    :func:`parameter_momentum`.

    State: ``velocity`` per parameter.

    References
    ----------
    .. [1] Polyak, B. T. (1964). Some methods of speeding up the convergence of iteration methods.
    .. [2] Sutskever, I., Martens, J., Dahl, G. & Hinton, G. (2013). On the importance of
       initialization and momentum in deep learning. ICML.
    """
    return Trace(momentum, nesterov, dampening)


def momentum_step(mu, velocity, param, proposed, *, nesterov: bool):
    """Lasagne's momentum on one proposed value: returns (new velocity, new parameter).

    Classical: :math:`x = \\mu v + p'`, :math:`v \\leftarrow x - p`, :math:`p \\leftarrow x`;
    Nesterov: :math:`x = \\mu v + p' - p`, :math:`v \\leftarrow x`,
    :math:`p \\leftarrow \\mu x + p'`. The operations are written in Lasagne's
    and PyMC's order, so every backend rounds them as it rounds PyMC's.
    """
    if nesterov:
        x = mu * velocity + proposed - param
        return x, mu * x + proposed
    x = mu * velocity + proposed
    return x - param, x


def _velocity(param, name):
    value = param.get_value(borrow=True)
    return pytensor.shared(np.zeros(value.shape, dtype=value.dtype), name=name, shape=param.type.shape)


@dataclasses.dataclass(frozen=True)
class ParameterMomentum(Transform):
    decay: object = 0.9
    symbol_names = {"decay": "momentum"}
    nesterov: bool = False
    name = "momentum"

    def __post_init__(self):
        check_decay("momentum", self.decay)

    def build(self, ctx, directions):
        velocities = [ctx.state(i, "velocity") for i in range(len(directions))]

        def constrain(i, value):
            target = ctx.targets[i]
            new_velocity, new = momentum_step(
                ctx.hyper(self.decay, target.dtype), velocities[i], target, value, nesterov=self.nesterov
            )
            ctx.set(velocities[i], new_velocity)
            return new

        ctx.on_new_value(constrain)
        return directions


def parameter_momentum(momentum=0.9, *, nesterov=False) -> Transform:
    r"""Lasagne's and PyMC's momentum, applied to the new parameter values.

    With :math:`p' = p - u` the value the step proposes,

    .. math::

        v_t = \mu\, v_{t-1} + (p' - p), \qquad
        p_t = p + v_t \quad\text{or, with nesterov,}\quad p_t = p' + \mu\, v_t

    so the velocity :math:`v` holds (negative) steps, learning rate included:
    :func:`apply_momentum` as a transform. It acts where the parameter update
    happens, before ``clip_weights``. With a constant learning rate it is
    :func:`trace` after the learning rate, rounded as PyMC rounds it.

    Parameters
    ----------
    momentum : float or symbolic scalar, default 0.9
        :math:`\mu \in [0, 1)`.
    nesterov : bool, default False
        Nesterov's form.

    Notes
    -----
    State: ``velocity`` per parameter. The named :func:`symupdates.momentum` and
    :func:`symupdates.nesterov_momentum` use it, so their numbers are PyMC's bit
    for bit (``tests/pymc/test_bits.py``).

    References
    ----------
    .. [1] Sutskever, I., Martens, J., Dahl, G. & Hinton, G. (2013). On the importance of
       initialization and momentum in deep learning. ICML.
    """
    return ParameterMomentum(momentum, nesterov)


def _momentum_dict(updates, params, momentum, nesterov):
    check_decay("momentum", momentum)
    updates = OrderedDict(updates)
    for param in list(updates) if params is None else params:
        mu = momentum if isinstance(momentum, Variable) else np.asarray(momentum, dtype=param.dtype)
        velocity = _velocity(param, f"{param.name}.momentum.velocity" if param.name else None)
        updates[velocity], new = momentum_step(
            pt.cast(mu, param.dtype), velocity, param, updates[param], nesterov=nesterov
        )
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
    The same operations, in the same order, as PyMC's and Lasagne's: the
    numbers are theirs to the last bit. :func:`parameter_momentum` is this
    helper as a transform.
    """
    return _momentum_dict(updates, params, momentum, nesterov=False)


def apply_nesterov_momentum(updates, params=None, momentum=0.9):
    r"""Add Nesterov momentum to an existing update dictionary (Lasagne, PyMC).

    .. math::

        v_t = \mu\, v_{t-1} + (p' - p), \qquad p_t = p + \mu\, v_t + (p' - p)

    Parameters and return value as :func:`apply_momentum`.
    """
    return _momentum_dict(updates, params, momentum, nesterov=True)
