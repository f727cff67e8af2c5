r"""The learning-rate range test: sweep the rate up exponentially, record the loss, restore everything.

Smith's range test [1]_, as fastai's ``lr_find`` and PyTorch Lightning's
``Tuner.lr_find`` run it: take ``num_steps`` optimizer steps from the current
parameters with the learning rate of step :math:`k`

.. math::

    \eta_k = \eta_{start} \Big(\frac{\eta_{stop}}{\eta_{start}}\Big)^{k/(n-1)},
    \qquad k = 0, \dots, n-1,

record the loss :math:`L_k` each step is taken at, smooth it with the
bias-corrected exponential moving average of fastai and Lightning (smoothing
:math:`\beta`)

.. math::

    a_k = \beta\, a_{k-1} + (1-\beta)\, L_k \;(a_{-1} = 0), \qquad
    \bar L_k = \frac{a_k}{1 - \beta^{k+1}},

and stop once the loss diverges: at a non-finite :math:`L_k`, or, from step
:math:`s` = ``skip_begin`` on, when :math:`\bar L_k > b_k + (d-1)\,|b_k|` with
:math:`b_k = \min_{s \le j \le k} \bar L_j` and :math:`d` = ``diverge`` (for a
positive loss this is fastai's and Lightning's :math:`\bar L_k > d\, b_k`; the
absolute value keeps the rule meaningful for a negative loss such as a negative
ELBO). The first :math:`s` steps, whose average rests on a few losses, are the
ones the suggestion skips too: without them one lucky low loss of the first step
followed by a high one stops a sweep over noisy losses at once (a one-draw
Monte Carlo ELBO of ``pm.fit`` varies tenfold from step to step). Afterwards every shared
variable the step writes (parameters, master copies, the optimizer's state and
step counter, random generators) gets back its value from before the sweep,
also when the sweep diverged to NaN or raised.

The sweep is one compiled function: the optimizer is built with the schedule
:func:`~symupdates.schedules.exponential_decay` :math:`(\eta_{start},
\eta_{stop}/\eta_{start}, n-1)`, read at its own step counter, and the rate
each step used is read back from the optimizer's learning-rate record
(:attr:`Updates.learning_rate <symupdates.Updates.learning_rate>`).

The suggested rate (:meth:`LRFinderResult.suggest`) is where the smoothed
loss falls fastest against :math:`\log \eta` on its final descent into its
minimum: the rule of Lightning's ``suggestion()`` and of fastai's ``steep``
suggestion, kept from picking the noise of the first steps.

References
----------
.. [1] Smith, L. N. (2017). Cyclical learning rates for training neural networks.
   IEEE Winter Conference on Applications of Computer Vision (WACV), 464-472.
   arXiv:1506.01186, section 3.3.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_int, check_scalar, constant_value
from symupdates.core.transform import Transform
from symupdates.optimizers.options import Factory
from symupdates.schedules.fixed import Schedule, exponential_decay

__all__ = ["lr_find", "LRFinderResult"]


@dataclasses.dataclass(frozen=True, eq=False)
class LRFinderResult:
    """The curve of a range test: the rate of each step, its loss, the smoothed loss.

    Attributes
    ----------
    learning_rates : ndarray of float64
        :math:`\\eta_k`, the rate each step used (read from the optimizer's record).
    losses : ndarray of float64
        :math:`L_k`, the loss at the parameters each step started from.
    smoothed : ndarray of float64
        :math:`\\bar L_k`, the bias-corrected moving average of the losses.
    diverged : bool
        Whether the sweep stopped because the loss diverged (a non-finite loss,
        or the ``diverge`` rule); otherwise it ran all ``num_steps`` steps.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    diverged: bool

    def __post_init__(self):
        for field in ("learning_rates", "losses", "smoothed"):
            array = np.array(getattr(self, field), dtype="float64")
            array.setflags(write=False)
            object.__setattr__(self, field, array)

    def steepest(self, skip_begin: int = 10, skip_end: int = 1) -> int | None:
        """The index of the step :meth:`suggest` picks, or ``None`` (see there)."""
        check_int("skip_begin", skip_begin, 0)
        check_int("skip_end", skip_end, 0)
        finite = np.isfinite(self.smoothed)
        end = min(len(self.smoothed) - skip_end, len(self.smoothed) if finite.all() else int(np.argmin(finite)))
        if end - skip_begin < 2:
            return None
        lowest = skip_begin + int(np.argmin(self.smoothed[skip_begin:end]))
        first = lowest
        while first > skip_begin and self.smoothed[first - 1] > self.smoothed[first]:
            first -= 1
        if lowest - first < 1:
            return None
        run = slice(first, lowest + 1)
        slope = np.gradient(self.smoothed[run], np.log(self.learning_rates[run]))
        return first + int(np.argmin(slope))

    def suggest(self, skip_begin: int = 10, skip_end: int = 1) -> float | None:
        r"""The rate where the smoothed loss falls fastest against :math:`\log \eta` on its way to its minimum.

        Of the steps :math:`k` with ``skip_begin`` :math:`\le k <` ``len - skip_end``
        (and a finite :math:`\bar L_k`), take the one of lowest :math:`\bar L`, and
        the run of steps before it over which :math:`\bar L` falls at every step
        (the *final descent*, which ends at the minimum). The suggestion is the
        step of that run where ``numpy.gradient`` of :math:`\bar L` with respect to
        :math:`\log \eta` (central differences, one-sided at the ends of the run) is
        most negative. The first steps are skipped because their average rests on
        few losses, the last because it is where the loss diverged (the defaults
        are Lightning's).

        This is the rule of Lightning's ``suggestion()`` and of fastai's ``steep``
        suggestion (steepest descent of the smoothed loss: the loss falls fastest
        there, so the rate is large yet well inside the stable range; on a
        quadratic with SGD it is 0.10 to 0.15 of the stability limit :math:`2/h`),
        taken over the final descent only. Over the flat start of a sweep the
        bias-corrected average of a few noisy mini-batch losses moves by about
        :math:`\sigma/(k+1)` per step, while a real descent moves it by at most
        :math:`1-\beta` of its height per step, so Lightning's rule often picks a
        chance dip of the first steps: on least squares with mini-batches of 16
        rows it fell below a hundredth of the stability limit for at least 7 of
        10 data sets, where this rule stayed between a twentieth and a half of
        the limit for all 10 (both tested in ``tests/test_lr_finder.py``). The
        derivative is taken against :math:`\log \eta`, the axis the sweep is
        uniform in and the plot shows.

        Returns
        -------
        float or None
            ``None`` when the smoothed loss does not fall into its minimum over at
            least two steps (the loss diverged almost at once, or never fell): start
            the sweep lower, or give it more steps.
        """
        k = self.steepest(skip_begin, skip_end)
        return None if k is None else float(self.learning_rates[k])

    @property
    def suggestion(self) -> float | None:
        """:meth:`suggest` with its defaults (``skip_begin=10, skip_end=1``)."""
        return self.suggest()

    def plot(self, ax=None):
        """Plot the losses and the smoothed loss against the rate (log scale), marking the suggestion.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure's axes by default.

        Returns
        -------
        matplotlib Axes
            Its y-range is that of the losses up to the lowest smoothed loss
            (and down to the lowest loss), so a diverged tail does not flatten
            the curve: it is drawn past the top.
        """
        # imported here, and by name: matplotlib is optional (and absent where mypy may run)
        plt = importlib.import_module("matplotlib.pyplot")
        if ax is None:
            ax = plt.subplots()[1]
        ax.plot(self.learning_rates, self.losses, color="C0", alpha=0.35, linewidth=1, label="loss")
        ax.plot(self.learning_rates, self.smoothed, color="C0", label="smoothed loss")
        k = self.steepest()
        if k is not None:
            rate = self.learning_rates[k]
            ax.plot([rate], [self.smoothed[k]], "o", color="C3", label=f"suggestion {rate:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        finite = np.isfinite(self.losses) & np.isfinite(self.smoothed)
        if finite.any():
            lowest = int(np.argmin(np.where(finite, self.smoothed, np.inf)))
            both = np.concatenate([self.losses[: lowest + 1][finite[: lowest + 1]], self.smoothed[: lowest + 1]])
            low = min(both.min(), self.losses[finite].min())
            margin = 0.05 * (both.max() - low)
            if margin > 0:
                ax.set_ylim(low - margin, both.max() + margin)
        ax.legend()
        return ax


@dataclasses.dataclass(frozen=True)
class RangeTest:
    """The checked settings of a range test, its schedule and its loop (see the module docstring).

    Parameters
    ----------
    start, stop : float
        :math:`0 < \\eta_{start} < \\eta_{stop}`.
    num_steps : int
        :math:`n \\ge 2`.
    smooth : float
        :math:`\\beta \\in [0, 1)`; 0 records the raw loss as the smoothed one.
    diverge : float or None
        :math:`d > 1`; ``None`` stops only at a non-finite loss.
    skip_begin : int
        :math:`s \\ge 0`, the first step the ``diverge`` rule looks at.
    """

    start: float
    stop: float
    num_steps: int
    smooth: float
    diverge: float | None
    skip_begin: int = 10

    def __post_init__(self):
        for name in ("start", "stop", "smooth", "diverge"):
            value = getattr(self, name)
            if name == "diverge" and value is None:
                continue
            if constant_value(value) is None:
                raise InputError(f"`{name}` of the learning-rate sweep must be a number, got {value!r}.")
            object.__setattr__(self, name, float(value))
        check_scalar("start", self.start, 0.0, None, low_open=True, schedulable=False)
        if not (self.start < self.stop < math.inf):
            raise InputError(f"`stop` must be finite and greater than `start` ({self.start!r}), got {self.stop!r}.")
        check_int("num_steps", self.num_steps, 2)
        check_scalar("smooth", self.smooth, 0.0, 1.0, high_open=True, schedulable=False)
        if self.diverge is not None:
            check_scalar("diverge", self.diverge, 1.0, None, low_open=True, schedulable=False)
        check_int("skip_begin", self.skip_begin, 0)

    def schedule(self) -> Schedule:
        r""":math:`\eta_k = \eta_{start} (\eta_{stop}/\eta_{start})^{k/(n-1)}` as a schedule of the step."""
        return exponential_decay(self.start, self.stop / self.start, self.num_steps - 1)

    def run(self, step: Callable, rate, variables: Sequence, batch: Callable[[int], tuple]) -> LRFinderResult:
        """Call ``step(*batch(k))`` (which returns the loss) until done; restore ``variables`` after.

        ``rate.get_value()`` is the rate of the latest step. ``variables`` are the
        shared variables ``step`` writes: their values are copied first and set
        back in a ``finally``, so an error inside the sweep leaves them as they were.
        """
        saved = [(var, var.get_value(borrow=False)) for var in variables]
        rates: list[float] = []
        losses: list[float] = []
        smoothed: list[float] = []
        average, best, diverged = 0.0, math.inf, False
        try:
            for k in range(self.num_steps):
                loss = float(np.asarray(step(*batch(k))))
                rates.append(float(rate.get_value(borrow=True)))
                losses.append(loss)
                average = self.smooth * average + (1 - self.smooth) * loss
                smoothed.append(average / (1 - self.smooth ** (k + 1)))
                if k >= self.skip_begin:
                    best = min(best, smoothed[-1])
                if not math.isfinite(smoothed[-1]) or (
                    self.diverge is not None
                    and k >= self.skip_begin
                    and smoothed[-1] > best + (self.diverge - 1) * abs(best)
                ):
                    diverged = True
                    break
        finally:
            for var, value in saved:
                var.set_value(value)
        return LRFinderResult(np.array(rates), np.array(losses), np.array(smoothed), diverged)


def swept(optimizer, learning_rate) -> Factory:
    """``optimizer`` (a named optimizer or a factory of one) as a factory with ``learning_rate``.

    Raises
    ------
    InputError
        When ``optimizer`` is a factory that fixes its ``learning_rate``, a
        transform (its learning rate is built in) or not a symupdates optimizer.
    """
    if isinstance(optimizer, Transform):
        raise InputError(
            f"the learning-rate finder needs a named optimizer or its factory, got the transform {optimizer!r}, "
            "whose learning rate is built in; pass e.g. symupdates.adam or symupdates.adam(beta1=0.95)."
        )
    if isinstance(optimizer, functools.partial) and hasattr(optimizer.func, "transform") and not optimizer.args:
        if "learning_rate" in optimizer.keywords:
            kept = ", ".join(f"{k}={v!r}" for k, v in optimizer.keywords.items() if k != "learning_rate")
            raise InputError(
                f"the optimizer fixes learning_rate={optimizer.keywords['learning_rate']!r}, which the "
                f"learning-rate finder sweeps: pass it without one, e.g. {optimizer.func.__name__}({kept})."
            )
        return optimizer.func(**optimizer.keywords, learning_rate=learning_rate)
    if callable(optimizer) and hasattr(optimizer, "transform"):
        return optimizer(learning_rate=learning_rate)
    raise InputError(
        "the learning-rate finder needs a symupdates named optimizer (e.g. symupdates.adam) or its factory "
        f"without a learning rate (e.g. symupdates.adam(beta1=0.95)); got {optimizer!r}."
    )


def written(fn) -> list:
    """The shared variables the compiled function ``fn`` updates (explicit and default updates)."""
    return [item.variable for item in fn.maker.inputs if item.update is not None]


def _batches(data, inputs: Sequence) -> Callable[[int], tuple]:
    """``batch(k)``: the values of ``inputs`` at step ``k``, from ``data``."""
    if data is None:
        if inputs:
            raise InputError(f"`inputs` has {len(inputs)} variables, but no `data` gives their values: pass data=.")
        return lambda k: ()
    if not inputs:
        raise InputError("`data` gives the values of `inputs`, but `inputs` is empty: pass inputs=[...].")
    if callable(data):
        get = data
    else:
        try:
            cycle = itertools.cycle(data)
        except TypeError:
            raise InputError(
                f"`data` must be None, a callable data(step) or an iterable of batches, got {data!r}."
            ) from None

        def get(k):
            try:
                return next(cycle)
            except StopIteration:
                raise InputError("`data` holds no batches.") from None

    def batch(k: int) -> tuple:
        item = get(k)
        values = item if isinstance(item, tuple) else (item,)
        if len(values) != len(inputs):
            raise InputError(
                f"`data` gave {len(values)} values for step {k}, but `inputs` has {len(inputs)} variables: "
                "give a tuple with one value per input."
            )
        return values

    return batch


def lr_find(
    optimizer,
    loss,
    params,
    *,
    inputs=(),
    data=None,
    more_updates=None,
    start: float = 1e-7,
    stop: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge: float | None = 4.0,
    skip_begin: int = 10,
    mode=None,
) -> LRFinderResult:
    r"""Run the learning-rate range test of Smith (2017) on ``loss``; leave ``params`` as they were.

    Sweeps the rate from ``start`` to ``stop`` exponentially over ``num_steps``
    steps of ``optimizer`` (one compiled function, called once per step),
    records the loss of each step, stops when it diverges, then restores the
    parameters and every other shared variable the step writes bit for bit.
    The formulas are in :mod:`symupdates.lr_finder`.

    Parameters
    ----------
    optimizer : named optimizer or factory
        E.g. ``symupdates.adam`` or ``symupdates.adam(beta1=0.95)``; its learning rate
        is what is swept, so a factory that fixes one is refused.
    loss : scalar TensorVariable
    params : list of shared variables
    inputs : list of TensorVariable, optional
        The symbolic inputs of ``loss`` (a mini-batch).
    data : callable or iterable, optional
        The values of ``inputs``: ``data(k)`` for step ``k``, or an iterable of
        batches, cycled when shorter than the sweep. A batch is a tuple of one
        value per input (with one input, the value itself).
    more_updates : dict, optional
        Other updates the step makes {shared variable: new value} (running
        statistics, a random generator's next state); restored after the sweep too.
    start, stop : float, default 1e-7 and 10
        :math:`\eta_{start} < \eta_{stop}`, the rates of the first and the last step.
    num_steps : int, default 100
        :math:`n \ge 2`.
    smooth : float, default 0.98
        :math:`\beta \in [0, 1)` of the moving average (fastai's and Lightning's).
    diverge : float or None, default 4
        :math:`d > 1`: stop when the smoothed loss exceeds its best by :math:`(d-1)`
        times the best's magnitude; ``None`` stops only at a non-finite loss.
    skip_begin : int, default 10
        The ``diverge`` rule starts at this step, and its best loss is the lowest from
        there on (the suggestion skips the same steps by default).
    mode : str or Mode, optional
        The compilation mode (PyTensor's default).

    Returns
    -------
    LRFinderResult
        The curve, :attr:`~LRFinderResult.suggestion` and :meth:`~LRFinderResult.plot`.

    Raises
    ------
    InputError
        For a non-scalar loss, settings out of range, or an optimizer that fixes
        its learning rate.

    Examples
    --------
    >>> import numpy as np, pytensor, symupdates
    >>> from symupdates.lr_finder import lr_find
    >>> w = pytensor.shared(np.zeros(3), name="w")
    >>> result = lr_find(symupdates.sgd, 0.5 * 10.0 * ((w - 1.0) ** 2).sum(), [w])
    >>> bool(result.suggestion < 2 / 10.0), w.get_value()
    (True, array([0., 0., 0.]))
    """
    test = RangeTest(start, stop, num_steps, smooth, diverge, skip_begin)
    loss = pt.as_tensor_variable(loss)
    if loss.ndim != 0:
        raise InputError(f"`loss` must be a scalar, got {loss.type}; sum or average it first.")
    inputs = list(inputs)
    batch = _batches(data, inputs)
    updates = swept(optimizer, test.schedule())(loss, params)
    more = dict(more_updates or {})
    twice = [getattr(var, "name", None) or repr(var) for var in more if var in updates]
    if twice:
        raise InputError(f"`more_updates` updates {twice}, which the optimizer updates already.")
    fn = pytensor.function(inputs, loss, updates={**updates, **more}, mode=mode)
    return test.run(fn, updates.learning_rate, written(fn), batch)
