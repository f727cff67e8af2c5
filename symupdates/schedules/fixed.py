r"""Learning-rate (and other hyper-parameter) schedules evaluated inside the compiled step.

A schedule is a callable of the optimizer's int64 counter of completed steps
``k`` (0 during the first update) returning a symbolic scalar: the update at
step ``k`` uses ``schedule(k)``, so there is no lag of one step. Pass one
wherever a hyper-parameter accepts a schedule (``learning_rate``,
``weight_decay``, ...)::

    su.adam(loss, params, learning_rate=su.schedules.warmup_cosine(0.0, 1e-2, 100, 1000))

Conventions
-----------
* Every schedule returns a **float64** scalar; :meth:`BuildContext.hyper
  <symupdates.BuildContext.hyper>` rounds it once to the parameter dtype, so
  float32 and float16 parameters keep their dtype.
* The step may have any integer dtype (it is cast to int64 first) and may be a
  vector: schedules are element-wise, which :func:`evaluate` uses to tabulate
  one over many steps with one compiled function.
* Only ``switch``, integer and elementary float operations are used, so the
  graphs compile on every PyTensor backend (C, Numba, JAX, Python).
* ``torch.optim.lr_scheduler`` equivalents are stated with torch's
  convention that the rate used at step ``k`` is the one after ``k`` calls of
  ``scheduler.step()``; optax schedules are called with the same ``k``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import cast

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from symupdates.core.checks import InputError, check_choice, check_int, check_scalar, is_schedule

__all__ = [
    "Schedule",
    "constant",
    "exponential_decay",
    "step",
    "multistep",
    "piecewise_constant",
    "linear",
    "polynomial",
    "cosine_decay",
    "warmup",
    "warmup_cosine",
    "one_cycle",
    "cosine_restarts",
    "join",
    "evaluate",
]


def _f64(value) -> TensorVariable:
    """A number or symbolic scalar as a float64 scalar."""
    if isinstance(value, Variable):
        value = cast(TensorVariable, value)  # a symbolic scalar of any variable class
        return value if value.dtype == "float64" else pt.cast(value, "float64")
    return pt.constant(np.float64(value))


def _as_step(step) -> TensorVariable:
    """The step as an int64 tensor (scalar or vector)."""
    if not isinstance(step, Variable):
        array = np.asarray(step)
        if array.dtype.kind not in "iu":
            raise InputError(f"a schedule takes an integer step, got {step!r}.")
        return pt.constant(array.astype("int64"))
    step = cast(TensorVariable, step)
    if step.dtype[:3] not in ("int", "uin"):
        raise InputError(f"a schedule takes an integer step, got a {step.type}.")
    return step if step.dtype == "int64" else pt.cast(step, "int64")


def _value(name, value):
    return check_scalar(name, value, schedulable=False)


class Schedule:
    """Base class: ``schedule(step)`` is a float64 scalar (element-wise over a step vector)."""

    def __call__(self, step) -> Variable:
        k = _as_step(step)
        return _f64(self.value(k))

    def value(self, k: Variable) -> Variable:  # pragma: no cover - abstract
        raise NotImplementedError


# -- single formulas ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Constant(Schedule):
    init_value: object

    def __post_init__(self):
        _value("init_value", self.init_value)

    def value(self, k):
        return _f64(self.init_value)


def constant(value) -> Schedule:
    r"""The same value at every step: :math:`\eta_k = \eta`.

    An optimizer given ``constant(c)`` builds the same graph as one given
    ``c`` and gives bit-identical results.

    Equivalents: ``optax.constant_schedule(c)``; torch: no scheduler.
    """
    return Constant(value)


@dataclasses.dataclass(frozen=True)
class ExponentialDecay(Schedule):
    init_value: object
    decay_rate: object
    transition_steps: int = 1
    transition_begin: int = 0
    staircase: bool = False
    end_value: object = None

    def __post_init__(self):
        _value("init_value", self.init_value)
        check_scalar("decay_rate", self.decay_rate, 0.0, None, schedulable=False)
        check_int("transition_steps", self.transition_steps, 1)
        check_int("transition_begin", self.transition_begin, 0)
        if not isinstance(self.staircase, bool):
            raise InputError(f"`staircase` must be True or False, got {self.staircase!r}.")
        if self.end_value is not None:
            _value("end_value", self.end_value)

    def value(self, k):
        count = pt.cast(k - self.transition_begin, "float64")
        p = count / self.transition_steps
        if self.staircase:
            p = pt.floor(p)
        init = _f64(self.init_value)
        out = pt.switch(count <= 0, init, init * _f64(self.decay_rate) ** p)
        if self.end_value is not None:
            bound = pt.minimum if _is_growth(self.decay_rate) else pt.maximum
            out = bound(out, _f64(self.end_value))
        return out


def _is_growth(rate) -> bool:
    return not isinstance(rate, Variable) and float(rate) > 1.0


def exponential_decay(
    init_value, decay_rate, transition_steps=1, *, transition_begin=0, staircase=False, end_value=None
) -> Schedule:
    r"""Exponential decay, optionally in stairs, delayed and floored.

    .. math::

        \eta_k = \eta_0\, r^{\,p_k}, \qquad
        p_k = \frac{k - k_0}{T} \;\Big(\text{or } \Big\lfloor \frac{k-k_0}{T} \Big\rfloor
        \text{ with staircase}\Big), \qquad \eta_k = \eta_0 \text{ for } k \le k_0

    then clipped to ``end_value`` from below (:math:`r<1`) or above (:math:`r>1`).

    Parameters
    ----------
    init_value : float or symbolic scalar
        :math:`\eta_0`.
    decay_rate : float
        :math:`r \ge 0`.
    transition_steps : int, default 1
        :math:`T \ge 1`.
    transition_begin : int, default 0
        :math:`k_0`: steps at :math:`\eta_0` before the decay starts.
    staircase : bool, default False
        Decay in discrete intervals of :math:`T` steps.
    end_value : float, optional
        Floor (or ceiling when :math:`r > 1`).

    Notes
    -----
    Equivalents: ``optax.exponential_decay`` (same arguments);
    ``torch.optim.lr_scheduler.ExponentialLR(gamma=r)`` is
    ``exponential_decay(lr, r)``.
    """
    return ExponentialDecay(init_value, decay_rate, transition_steps, transition_begin, staircase, end_value)


@dataclasses.dataclass(frozen=True)
class Step(Schedule):
    init_value: object
    step_size: int
    gamma: object = 0.1

    def __post_init__(self):
        _value("init_value", self.init_value)
        check_int("step_size", self.step_size, 1)
        check_scalar("gamma", self.gamma, 0.0, None, schedulable=False)

    def value(self, k):
        return _f64(self.init_value) * _f64(self.gamma) ** pt.cast(k // self.step_size, "float64")


def step(init_value, step_size, gamma=0.1) -> Schedule:
    r"""Multiply by :math:`\gamma` every ``step_size`` steps: :math:`\eta_k = \eta_0\, \gamma^{\lfloor k/S \rfloor}`.

    Equivalents: ``torch.optim.lr_scheduler.StepLR(step_size=S, gamma)``;
    ``optax.exponential_decay(eta0, gamma, S, staircase=True)``.
    """
    return Step(init_value, step_size, gamma)


@dataclasses.dataclass(frozen=True)
class MultiStep(Schedule):
    init_value: object
    milestones: tuple | int
    gamma: object = 0.1

    def __post_init__(self):
        _value("init_value", self.init_value)
        try:
            milestones = tuple(sorted(check_int("milestones[]", m, 0) for m in self.milestones))
        except TypeError:
            raise InputError(f"`milestones` must be a list of step numbers, got {self.milestones!r}.") from None
        object.__setattr__(self, "milestones", milestones)
        check_scalar("gamma", self.gamma, 0.0, None, schedulable=False)

    def value(self, k):
        passed = sum((pt.cast(pt.ge(k, m), "float64") for m in self.milestones), pt.constant(np.float64(0)))
        return _f64(self.init_value) * _f64(self.gamma) ** passed


def multistep(init_value, milestones, gamma=0.1) -> Schedule:
    r"""Multiply by :math:`\gamma` at each milestone: :math:`\eta_k = \eta_0\,\gamma^{\#\{m_i \le k\}}`.

    A milestone listed twice counts twice (as in torch).

    Equivalent: ``torch.optim.lr_scheduler.MultiStepLR(milestones, gamma)``.
    """
    return MultiStep(init_value, tuple(milestones) if not isinstance(milestones, int) else milestones, gamma)


@dataclasses.dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    init_value: object
    boundaries_and_scales: tuple = ()

    def __post_init__(self):
        _value("init_value", self.init_value)
        items = self.boundaries_and_scales
        if isinstance(items, Mapping):
            items = items.items()
        try:
            pairs = tuple(sorted((check_int("boundary", b, 0), s) for b, s in items))
        except (TypeError, ValueError):
            raise InputError(
                f"`boundaries_and_scales` must be a dict {{step: scale}}, got {self.boundaries_and_scales!r}."
            ) from None
        for _, s in pairs:
            check_scalar("scale", s, 0.0, None, schedulable=False)
        object.__setattr__(self, "boundaries_and_scales", pairs)

    def value(self, k):
        out = _f64(self.init_value)
        for boundary, s in self.boundaries_and_scales:
            out = pt.switch(pt.ge(k, boundary), out * _f64(s), out)
        return out


def piecewise_constant(init_value, boundaries_and_scales) -> Schedule:
    r"""Multiply by ``scale`` from each ``boundary`` on: :math:`\eta_k = \eta_0 \prod_{b_i \le k} s_i`.

    Parameters
    ----------
    init_value : float
    boundaries_and_scales : dict {int: float}
        Step :math:`b_i` at which the value is multiplied by :math:`s_i \ge 0`.

    Notes
    -----
    Equivalents: ``optax.piecewise_constant_schedule``; with one common scale
    it is torch's ``MultiStepLR``.
    """
    return PiecewiseConstant(init_value, boundaries_and_scales)


@dataclasses.dataclass(frozen=True)
class Polynomial(Schedule):
    init_value: object
    end_value: object
    power: object
    transition_steps: int
    transition_begin: int = 0

    def __post_init__(self):
        _value("init_value", self.init_value)
        _value("end_value", self.end_value)
        check_scalar("power", self.power, 0.0, None, low_open=True, schedulable=False)
        check_int("transition_steps", self.transition_steps, 1)
        check_int("transition_begin", self.transition_begin, 0)

    def value(self, k):
        count = pt.clip(pt.cast(k - self.transition_begin, "float64"), 0.0, float(self.transition_steps))
        frac = 1 - count / self.transition_steps
        init, end = _f64(self.init_value), _f64(self.end_value)
        return (init - end) * frac ** _f64(self.power) + end


def polynomial(init_value, end_value, power, transition_steps, *, transition_begin=0) -> Schedule:
    r"""Polynomial decay from ``init_value`` to ``end_value`` over ``transition_steps`` steps.

    .. math::

        \eta_k = (\eta_0 - \eta_T)\Big(1 - \frac{c_k}{T}\Big)^{q} + \eta_T, \qquad
        c_k = \min(\max(k - k_0, 0), T)

    Equivalents: ``optax.polynomial_schedule`` (same arguments);
    ``torch.optim.lr_scheduler.PolynomialLR(total_iters=T, power=q)`` is
    ``polynomial(lr, 0.0, q, T)``.
    """
    return Polynomial(init_value, end_value, power, transition_steps, transition_begin)


def linear(init_value, end_value, transition_steps, *, transition_begin=0) -> Schedule:
    r"""Linear change from ``init_value`` to ``end_value`` over ``transition_steps`` steps, then constant.

    :math:`\eta_k = \eta_0 + (\eta_T - \eta_0)\, c_k / T`, with :math:`c_k` as in :func:`polynomial`
    (it is :func:`polynomial` with power 1).

    Equivalents: ``optax.linear_schedule``;
    ``torch.optim.lr_scheduler.LinearLR(start_factor=a, end_factor=b, total_iters=T)``
    is ``linear(a * lr, b * lr, T)``.
    """
    return Polynomial(init_value, end_value, 1.0, transition_steps, transition_begin)


@dataclasses.dataclass(frozen=True)
class CosineDecay(Schedule):
    init_value: object
    decay_steps: int
    alpha: object = 0.0
    exponent: object = 1.0
    eta_min: object = None

    def __post_init__(self):
        _value("init_value", self.init_value)
        check_int("decay_steps", self.decay_steps, 1)
        check_scalar("alpha", self.alpha, 0.0, 1.0, schedulable=False)
        check_scalar("exponent", self.exponent, 0.0, None, low_open=True, schedulable=False)
        if self.eta_min is not None:
            _value("eta_min", self.eta_min)
            if not isinstance(self.alpha, Variable) and float(self.alpha) != 0.0:
                raise InputError("give either `alpha` (a fraction of init_value) or `eta_min` (a value), not both.")

    def value(self, k):
        count = pt.minimum(pt.cast(k, "float64"), float(self.decay_steps))
        cosine = 0.5 * (1 + pt.cos(np.pi * count / self.decay_steps))
        if not (not isinstance(self.exponent, Variable) and float(self.exponent) == 1.0):
            cosine = cosine ** _f64(self.exponent)
        init = _f64(self.init_value)
        if self.eta_min is None:
            alpha = _f64(self.alpha)
            return init * ((1 - alpha) * cosine + alpha)
        eta_min = _f64(self.eta_min)
        return eta_min + (init - eta_min) * cosine


def cosine_decay(init_value, decay_steps, alpha=0.0, *, exponent=1.0, eta_min=None) -> Schedule:
    r"""Cosine annealing over ``decay_steps`` steps, then constant.

    .. math::

        c_k &= \tfrac12\big(1 + \cos(\pi \min(k, T)/T)\big)^{e} \\
        \eta_k &= \eta_0\big((1-\alpha)\, c_k + \alpha\big)
        \quad\text{or, with eta\_min,}\quad \eta_{min} + (\eta_0 - \eta_{min})\, c_k

    Parameters
    ----------
    init_value : float
        :math:`\eta_0`.
    decay_steps : int
        :math:`T \ge 1`.
    alpha : float, default 0
        Final value as a fraction of :math:`\eta_0` (optax).
    exponent : float, default 1
        :math:`e` (optax).
    eta_min : float, optional
        Final value itself (torch); excludes ``alpha``.

    Notes
    -----
    Equivalents: ``optax.cosine_decay_schedule(init_value, decay_steps, alpha, exponent)``;
    ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T, eta_min)`` for
    :math:`k \le T` (torch keeps following the cosine back up after :math:`T`;
    this schedule stays at the minimum).
    """
    return CosineDecay(init_value, decay_steps, alpha, exponent, eta_min)


# -- combinations ---------------------------------------------------------------


def _check_schedule(name, value):
    if not is_schedule(value):
        raise InputError(f"`{name}` must be a schedule (a callable of the step), got {value!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class Join(Schedule):
    schedules: tuple
    boundaries: tuple

    def __post_init__(self):
        schedules = tuple(self.schedules)
        boundaries = tuple(check_int("boundaries[]", b, 0) for b in self.boundaries)
        for i, s in enumerate(schedules):
            _check_schedule(f"schedules[{i}]", s)
        if len(schedules) != len(boundaries) + 1:
            raise InputError(
                f"join() needs one boundary fewer than schedules; got {len(schedules)} schedules "
                f"and {len(boundaries)} boundaries."
            )
        if list(boundaries) != sorted(boundaries):
            raise InputError(f"`boundaries` must be increasing, got {list(boundaries)}.")
        object.__setattr__(self, "schedules", schedules)
        object.__setattr__(self, "boundaries", boundaries)

    def value(self, k):
        out = _f64(self.schedules[0](k))
        for boundary, schedule in zip(self.boundaries, self.schedules[1:]):
            out = pt.switch(pt.lt(k, boundary), out, _f64(schedule(pt.maximum(k - boundary, 0))))
        return out


def join(schedules, boundaries) -> Schedule:
    r"""Run ``schedules[i]`` from ``boundaries[i-1]`` on, each restarted at 0.

    .. math::

        \eta_k = s_i(k - b_{i-1}) \quad \text{for } b_{i-1} \le k < b_i
        \qquad (b_{-1} = 0)

    Equivalents: ``optax.join_schedules(schedules, boundaries)``;
    ``torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers, milestones)``.
    """
    return Join(tuple(schedules), tuple(boundaries))


@dataclasses.dataclass(frozen=True)
class Warmup(Schedule):
    schedule: object
    warmup_steps: int
    init_value: object = 0.0

    def __post_init__(self):
        _check_schedule("schedule", self.schedule)
        check_int("warmup_steps", self.warmup_steps, 1)
        _value("init_value", self.init_value)

    def value(self, k):
        peak = _f64(self.schedule(pt.constant(np.int64(0))))
        ramp = Polynomial(self.init_value, peak, 1.0, self.warmup_steps)
        return Join((ramp, self.schedule), (self.warmup_steps,)).value(k)


def warmup(schedule, warmup_steps, init_value=0.0) -> Schedule:
    r"""Linear warm-up from ``init_value`` to ``schedule(0)`` over ``warmup_steps`` steps, then ``schedule``.

    .. math::

        \eta_k = \eta_{init} + (s(0) - \eta_{init})\,\frac{k}{W} \;(k < W), \qquad
        \eta_k = s(k - W) \;(k \ge W)

    Equivalent: torch ``SequentialLR([LinearLR(start_factor=init/peak,
    total_iters=W), other], milestones=[W])``; optax
    ``join_schedules([linear_schedule(init, peak, W), other], [W])``.
    """
    return Warmup(schedule, warmup_steps, init_value)


def warmup_cosine(init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, *, exponent=1.0) -> Schedule:
    r"""Linear warm-up to ``peak_value``, then cosine decay to ``end_value``.

    ``decay_steps`` counts the warm-up (as optax): the cosine lasts
    ``decay_steps - warmup_steps`` steps.

    .. math::

        \eta_k = \eta_{init} + (\eta_{peak} - \eta_{init})\,\frac{k}{W} \;(k < W), \qquad
        \eta_k = \eta_{peak}\big((1-\alpha)\,c_{k-W} + \alpha\big), \;\alpha = \eta_{end}/\eta_{peak}

    with :math:`c` the cosine factor of :func:`cosine_decay` over :math:`T - W` steps.

    Equivalent: ``optax.warmup_cosine_decay_schedule`` (same arguments).
    """
    check_int("warmup_steps", warmup_steps, 1)
    check_int("decay_steps", decay_steps, warmup_steps + 1)
    peak = float(check_scalar("peak_value", peak_value, schedulable=False))
    alpha = 0.0 if peak == 0.0 else float(end_value) / peak
    return Join(
        (
            Polynomial(init_value, peak_value, 1.0, warmup_steps),
            CosineDecay(peak_value, decay_steps - warmup_steps, alpha, exponent),
        ),
        (warmup_steps,),
    )


@dataclasses.dataclass(frozen=True)
class OneCycle(Schedule):
    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self):
        check_scalar("max_lr", self.max_lr, 0.0, None, schedulable=False)
        check_int("total_steps", self.total_steps, 2)
        check_scalar("pct_start", self.pct_start, 0.0, 1.0, low_open=True, high_open=True, schedulable=False)
        check_choice("anneal_strategy", self.anneal_strategy, ("cos", "linear"))
        check_scalar("div_factor", self.div_factor, 0.0, None, low_open=True, schedulable=False)
        check_scalar("final_div_factor", self.final_div_factor, 0.0, None, low_open=True, schedulable=False)
        if not isinstance(self.three_phase, bool):
            raise InputError(f"`three_phase` must be True or False, got {self.three_phase!r}.")
        ends = [end for end, _, _ in self.phases()]
        if any(b <= a for a, b in zip([0.0] + ends, ends)):
            raise InputError(
                f"one_cycle: total_steps={self.total_steps} with pct_start={self.pct_start} leaves a phase "
                "without steps; raise total_steps or move pct_start away from 0 and 1."
            )

    def phases(self) -> list:
        """(last step, start value, end value) of each phase, as Python floats."""
        initial = float(self.max_lr) / self.div_factor
        final = initial / self.final_div_factor
        rise = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        if self.three_phase:
            return [(rise, initial, self.max_lr), (2 * rise, self.max_lr, initial), (last, initial, final)]
        return [(rise, initial, self.max_lr), (last, self.max_lr, final)]

    def value(self, k):
        kf = pt.cast(k, "float64")
        phases = self.phases()
        out, begin = None, 0.0
        pieces = []
        for end, start_value, end_value in phases:
            pct = pt.clip((kf - begin) / (end - begin), 0.0, 1.0)
            if self.anneal_strategy == "cos":
                value = end_value + (start_value - end_value) / 2.0 * (pt.cos(np.pi * pct) + 1)
            else:
                value = (end_value - start_value) * pct + start_value
            pieces.append((end, value))
            begin = end
        out = pieces[-1][1]
        for end, value in reversed(pieces[:-1]):
            out = pt.switch(pt.le(kf, end), value, out)
        return out


def one_cycle(
    max_lr,
    total_steps,
    *,
    pct_start=0.3,
    anneal_strategy="cos",
    div_factor=25.0,
    final_div_factor=1e4,
    three_phase=False,
) -> Schedule:
    r"""The 1cycle policy (Smith & Topin, 2019) with torch ``OneCycleLR`` semantics.

    With :math:`\eta_i = \eta_{max}/d`, :math:`\eta_f = \eta_i/d_f` and
    :math:`R = p\,N - 1`, the value is annealed (by ``anneal``) between the
    ends of consecutive phases:

    * two phases: :math:`\eta_i \to \eta_{max}` over steps :math:`[0, R]`,
      :math:`\eta_{max} \to \eta_f` over :math:`[R, N-1]`;
    * ``three_phase``: :math:`\eta_i \to \eta_{max}` over :math:`[0, R]`,
      :math:`\eta_{max} \to \eta_i` over :math:`[R, 2R]`, :math:`\eta_i \to \eta_f`
      over :math:`[2R, N-1]`.

    Within a phase from step :math:`a` to :math:`b`, with :math:`x = (k-a)/(b-a)`:

    .. math::

        \text{cos:}\;\; v_1 + \tfrac{v_0 - v_1}{2}\,(1 + \cos \pi x), \qquad
        \text{linear:}\;\; v_0 + (v_1 - v_0)\, x

    After step :math:`N-1` the value stays at :math:`\eta_f` (torch raises).

    Parameters
    ----------
    max_lr : float
        :math:`\eta_{max}`.
    total_steps : int
        :math:`N`.
    pct_start : float, default 0.3
        :math:`p`, the fraction of the cycle spent increasing.
    anneal_strategy : {"cos", "linear"}, default "cos"
    div_factor : float, default 25
        :math:`d`.
    final_div_factor : float, default 1e4
        :math:`d_f`.
    three_phase : bool, default False

    Notes
    -----
    Equivalents: ``torch.optim.lr_scheduler.OneCycleLR(..., cycle_momentum=False)``
    (the momentum cycling is not part of this schedule); optax's
    ``cosine_onecycle_schedule`` / ``linear_onecycle_schedule`` use slightly
    different phase boundaries.

    References
    ----------
    .. [1] Smith, L. N. & Topin, N. (2019). Super-convergence: very fast training of neural
       networks using large learning rates. SPIE 11006.
    """
    return OneCycle(max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase)


@dataclasses.dataclass(frozen=True)
class CosineRestarts(Schedule):
    init_value: object
    T_0: int
    T_mult: int = 1
    eta_min: object = 0.0

    def __post_init__(self):
        _value("init_value", self.init_value)
        check_int("T_0", self.T_0, 1)
        check_int("T_mult", self.T_mult, 1)
        _value("eta_min", self.eta_min)

    def value(self, k):
        if self.T_mult == 1:
            t_cur = pt.cast(k % self.T_0, "float64")
            t_i = float(self.T_0)
        else:
            kf = pt.cast(k, "float64")
            m = float(self.T_mult)

            def begin(n):  # first step of cycle n
                return self.T_0 * (m**n - 1) / (m - 1)

            n = pt.floor(pt.log(kf * (m - 1) / self.T_0 + 1) / math.log(m))
            n = pt.switch(kf < begin(n), n - 1, n)  # guard the rounding of the logarithm
            n = pt.switch(kf >= begin(n + 1), n + 1, n)
            t_cur = kf - begin(n)
            t_i = self.T_0 * m**n
        eta_min = _f64(self.eta_min)
        return eta_min + (_f64(self.init_value) - eta_min) * (1 + pt.cos(np.pi * t_cur / t_i)) / 2


def cosine_restarts(init_value, T_0, T_mult=1, eta_min=0.0) -> Schedule:
    r"""Cosine annealing with warm restarts, SGDR (Loshchilov & Hutter, 2017).

    Cycle :math:`n` lasts :math:`T_n = T_0\, T_{mult}^n` steps; with
    :math:`t` the steps since the current cycle began,

    .. math::

        \eta_k = \eta_{min} + (\eta_0 - \eta_{min})\,\tfrac12\big(1 + \cos(\pi\, t / T_n)\big)

    Parameters
    ----------
    init_value : float
        :math:`\eta_0`.
    T_0 : int
        Length of the first cycle, >= 1.
    T_mult : int, default 1
        Growth factor of the cycle length, >= 1.
    eta_min : float, default 0

    Notes
    -----
    Equivalents: ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)``;
    ``optax.sgdr_schedule`` with one cosine block per cycle.

    References
    ----------
    .. [1] Loshchilov, I. & Hutter, F. (2017). SGDR: Stochastic Gradient Descent with Warm Restarts. ICLR.
    """
    return CosineRestarts(init_value, T_0, T_mult, eta_min)


def evaluate(schedule, steps, mode="FAST_COMPILE") -> np.ndarray:
    """``schedule`` at each of ``steps`` (an int or a sequence of steps) as a NumPy array.

    ``evaluate(s, 100)`` tabulates steps 0..99 with one compiled function.
    """
    _check_schedule("schedule", schedule)
    steps = np.arange(steps) if np.ndim(steps) == 0 else np.asarray(steps)
    k = pt.vector("step", dtype="int64")
    fn = pytensor.function([k], pt.as_tensor_variable(schedule(k)) + pt.zeros(k.shape, "float64"), mode=mode)
    return fn(steps.astype("int64"))
