"""Averages: an exponential moving average of the updates, and iterate averaging (ASGD).

:func:`ema` smooths the updates themselves (Signum's momentum, Adafactor's
optional momentum). :func:`average_iterates` leaves the updates alone and
keeps a running average of the parameter values they lead to, the averaged
iterate of Polyak & Juditsky (1992) used by ASGD; :func:`averaged_parameters`
finds those averages in an update dictionary.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_decay, check_nonnegative
from symupdates.core.numerics import is_zero
from symupdates.core.state import Updates
from symupdates.core.transform import Transform
from symupdates.transforms.moments import moving_average

__all__ = ["ema", "average_iterates", "averaged_parameters"]


@dataclasses.dataclass(frozen=True)
class Ema(Transform):
    decay: object = 0.9
    name = "ema"

    def __post_init__(self):
        check_decay("decay", self.decay)

    def build(self, ctx, directions):
        return [moving_average(ctx, i, "m", self.decay, u) for i, u in enumerate(directions)]


def ema(decay=0.9) -> Transform:
    r"""Exponential moving average of the updates, without bias correction.

    .. math::

        m_t = \beta\, m_{t-1} + (1-\beta)\, u_t, \qquad m_0 = 0, \qquad u'_t = m_t

    State: ``m`` per parameter.

    Parameters
    ----------
    decay : float, default 0.9
        :math:`\beta`.
    """
    return Ema(decay)


@dataclasses.dataclass(frozen=True)
class AverageIterates(Transform):
    t0: object = 1e6
    name = "averaging"

    def __post_init__(self):
        check_nonnegative("t0", self.t0, schedulable=False)

    def build(self, ctx, directions):
        for i, u in enumerate(directions):
            dtype = u.dtype
            k = pt.cast(ctx.step, dtype)  # completed steps before this one
            mu = pt.switch(is_zero(ctx.step), 1, 1 / pt.maximum(1, k - ctx.hyper(self.t0, dtype)))
            average = ctx.state(i, "ax", kind="average")
            ctx.set(average, average + pt.cast(mu, dtype) * ((ctx.targets[i] - u) - average))
        return directions


def average_iterates(t0=1e6) -> Transform:
    r"""Keep the running average ``ax`` of the parameter values (ASGD); updates pass unchanged.

    Placed after the learning rate, it sees the step :math:`u_t` and the new
    parameter value :math:`p_t = p_{t-1} - u_t`, and keeps

    .. math::

        \bar p_t = \bar p_{t-1} + \mu_t\,(p_t - \bar p_{t-1}), \qquad
        \mu_t = \frac{1}{\max(1,\; t-1-t_0)}, \quad \mu_1 = 1,

    torch.optim.ASGD's ``ax`` and ``mu``: :math:`\bar p` follows the parameter
    until about step :math:`t_0` and is the arithmetic mean of the later
    iterates. Parameter constraints (``clip_weights``) are not seen by the
    average. Read the averages with :func:`averaged_parameters`.

    State: ``ax`` per parameter; the step counter.

    References
    ----------
    .. [1] Polyak, B. T. & Juditsky, A. B. (1992). Acceleration of Stochastic Approximation by
       Averaging. SIAM J. Control Optim. 30(4), 838-855.
    """
    return AverageIterates(t0)


def averaged_parameters(updates) -> OrderedDict:
    """The averaged iterates of an ASGD update dictionary: {parameter: shared ``ax`` variable}.

    ``updates`` is what :func:`symupdates.asgd` (or any chain with
    :func:`average_iterates`) returned. The shared variables hold the current
    averages; e.g. ``{p.name: ax.get_value() for p, ax in averaged_parameters(updates).items()}``,
    or ``p.set_value(ax.get_value())`` to evaluate with the averaged model.
    """
    found = companions_of(updates, "averaging", "averaged_parameters()")
    if not found:
        raise InputError("these updates keep no averaged parameters (use asgd or average_iterates).")
    return found


def companions_of(updates, owner: str, caller: str) -> OrderedDict:
    """``updates.companions("average", owner)``, with a clear error when ``updates`` is not an :class:`Updates`."""
    if not isinstance(updates, Updates):
        raise InputError(f"{caller} takes the Updates returned by an optimizer, got {type(updates).__name__}.")
    return updates.companions("average", owner)
