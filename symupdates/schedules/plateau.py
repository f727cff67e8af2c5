r"""Reduce the learning rate when the loss stops improving, inside the compiled step.

:func:`reduce_on_plateau` is a *stateful schedule*: pass it as a learning rate
(or any hyper-parameter read through the context). Its state (the current
rate, the best metric, the count of bad steps, the cooldown counter and, in
window mode, the running sum) lives in shared variables that the same compiled
function updates, so no Python callback runs between steps.

It needs the loss. Giving the optimizer a scalar loss is enough
(``su.adam(loss, params, learning_rate=su.reduce_on_plateau(1e-2))``). When
only gradients are at hand, pass ``loss=`` to :func:`symupdates.core.transform.apply`, or
give the plateau an explicit ``metric``; under ``pm.fit``, which hands the
optimizer gradients only, use :func:`symupdates.pymc.fit`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from symupdates.core.checks import InputError, StatefulSchedule, check_choice, check_int, check_scalar

__all__ = ["reduce_on_plateau"]


class LossUnavailable(InputError):
    """The optimizer was given gradients only, and :func:`reduce_on_plateau` needs the loss."""


@dataclasses.dataclass(frozen=True, eq=False)
class ReduceOnPlateau(StatefulSchedule):
    """See :func:`reduce_on_plateau`."""

    learning_rate: float
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8
    window: int = 1
    metric: object = None

    def __post_init__(self):
        check_scalar("learning_rate", self.learning_rate, 0.0, None, schedulable=False)
        if isinstance(self.learning_rate, Variable):
            raise InputError("`learning_rate` of reduce_on_plateau must be a number (its initial value).")
        check_choice("mode", self.mode, ("min", "max"))
        check_scalar("factor", self.factor, 0.0, 1.0, high_open=True, schedulable=False)
        check_int("patience", self.patience, 0)
        check_scalar("threshold", self.threshold, 0.0, None, schedulable=False)
        check_choice("threshold_mode", self.threshold_mode, ("rel", "abs"))
        check_int("cooldown", self.cooldown, 0)
        check_scalar("min_lr", self.min_lr, 0.0, None, schedulable=False)
        check_scalar("eps", self.eps, 0.0, None, schedulable=False)
        check_int("window", self.window, 1)
        for name in ("factor", "threshold", "min_lr", "eps"):
            if isinstance(getattr(self, name), Variable):
                raise InputError(f"`{name}` of reduce_on_plateau must be a number.")
        if self.metric is not None and (not isinstance(self.metric, Variable) or self.metric.ndim != 0):
            raise InputError(f"`metric` must be a symbolic scalar, got {self.metric!r}.")

    def _is_better(self, a, best):
        thr = float(self.threshold)
        if self.mode == "min":
            return pt.lt(a, best * (1.0 - thr)) if self.threshold_mode == "rel" else pt.lt(a, best - thr)
        return pt.gt(a, best * (thr + 1.0)) if self.threshold_mode == "rel" else pt.gt(a, best + thr)

    def value_in(self, ctx) -> Variable:
        """The rate for the current step (float64); records the state updates in ``ctx``."""
        metric = self.metric if self.metric is not None else ctx.loss
        if metric is None:
            raise LossUnavailable(
                "reduce_on_plateau needs the loss, but the optimizer got gradients only. Give it the scalar "
                "loss instead of gradients, pass `loss=` to symupdates.core.transform.apply, give reduce_on_plateau a "
                "`metric=`, or, under pm.fit, use symupdates.pymc.fit."
            )
        metric = pt.cast(metric, "float64")
        worst = np.inf if self.mode == "min" else -np.inf
        lr = ctx.scalar_state("plateau.lr", float(self.learning_rate), "float64")
        best = ctx.scalar_state("plateau.best", worst, "float64")
        num_bad = ctx.scalar_state("plateau.num_bad", 0, "int64")
        cooling = ctx.scalar_state("plateau.cooldown", 0, "int64")

        ready = None
        if self.window > 1:
            total = ctx.scalar_state("plateau.sum", 0.0, "float64")
            new_total = total + metric
            ready = pt.eq((ctx.step + 1) % self.window, 0)
            metric = new_total / self.window
            ctx.set(total, pt.switch(ready, 0.0, new_total))

        better = self._is_better(metric, best)
        new_best = pt.switch(better, metric, best)
        bad = pt.switch(better, 0, num_bad + 1)
        in_cooldown = pt.gt(cooling, 0)
        cool = pt.switch(in_cooldown, cooling - 1, cooling)
        bad = pt.switch(in_cooldown, 0, bad)
        reduce = pt.gt(bad, self.patience)
        candidate = pt.maximum(lr * float(self.factor), float(self.min_lr))
        new_lr = pt.switch(pt.and_(reduce, pt.gt(lr - candidate, float(self.eps))), candidate, lr)
        new_values = {
            lr: new_lr,
            best: new_best,
            num_bad: pt.switch(reduce, 0, bad),
            cooling: pt.switch(reduce, self.cooldown, cool),
        }
        for var, new in new_values.items():
            ctx.set(var, new if ready is None else pt.switch(ready, new, var))
        return lr


def reduce_on_plateau(
    learning_rate,
    *,
    mode="min",
    factor=0.1,
    patience=10,
    threshold=1e-4,
    threshold_mode="rel",
    cooldown=0,
    min_lr=0.0,
    eps=1e-8,
    window=1,
    metric=None,
) -> ReduceOnPlateau:
    r"""A learning rate that drops by ``factor`` when the loss plateaus (torch ``ReduceLROnPlateau``).

    After each step, with :math:`m` the metric (the loss, or in window mode
    the mean of the last ``window`` losses, evaluated once every ``window``
    steps):

    .. math::

        \text{better} &= m < b\,(1-\tau) \;\text{(min, rel)},\; m < b - \tau \;\text{(min, abs)},\;
        m > b\,(1+\tau) \;\text{(max, rel)},\; m > b + \tau \;\text{(max, abs)} \\
        b &\leftarrow m,\; n \leftarrow 0 \text{ if better, else } n \leftarrow n + 1;
        \quad \text{if } c > 0:\; c \leftarrow c - 1,\; n \leftarrow 0 \\
        \text{if } n > P&:\; \eta \leftarrow \max(\gamma\eta, \eta_{min}) \text{ (when it drops by more
        than } \epsilon),\; c \leftarrow C,\; n \leftarrow 0

    The update at step :math:`k` uses the rate set by the metrics of steps
    :math:`0..k-1`, as torch's ``scheduler.step(loss)`` after
    ``optimizer.step()``; the best value starts at :math:`+\infty`
    (:math:`-\infty` for ``mode="max"``).

    Parameters
    ----------
    learning_rate : float
        Initial rate :math:`\eta`.
    mode : {"min", "max"}, default "min"
    factor : float, default 0.1
        :math:`\gamma \in [0, 1)`.
    patience : int, default 10
        :math:`P`: bad evaluations tolerated before a reduction.
    threshold : float, default 1e-4
        :math:`\tau`.
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
        :math:`C`: evaluations after a reduction during which bad ones are not counted.
    min_lr : float, default 0
        :math:`\eta_{min}`.
    eps : float, default 1e-8
        Minimal change of the rate; smaller reductions are skipped.
    window : int, default 1
        Evaluate the mean of each block of ``window`` losses (every ``window`` steps).
    metric : symbolic scalar, optional
        What to watch instead of the loss (e.g. a validation loss computed in the same step).

    Returns
    -------
    ReduceOnPlateau
        Use it as ``learning_rate``. State, named ``{optimizer}.plateau.{lr, best,
        num_bad, cooldown, sum}``, is reset by :meth:`Updates.reset
        <symupdates.Updates.reset>` and saved with the other optimizer state.

    Notes
    -----
    Oracle: ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (2.13) fed the same
    metrics gives the same rate sequence. optax's ``contrib.reduce_on_plateau``
    is a similar transform (it accumulates over ``accumulation_size`` steps).
    """
    return ReduceOnPlateau(
        learning_rate, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps, window, metric
    )
