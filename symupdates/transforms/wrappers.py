r"""Optimizer wrappers: gradient accumulation, parameter EMA, lookahead.

Each wrapper takes any optimizer (a :class:`~symupdates.Transform`, a named
optimizer such as ``symupdates.adam`` or a factory such as
``symupdates.adam(learning_rate=0.01)``) and returns a transform, which is
itself a factory with the PyMC/Lasagne contract: ``opt(loss_or_grads,
params)`` returns the updates, ``opt()`` returns ``opt``, and giving only one
of the two raises ``ValueError``. So ``pm.fit(obj_optimizer=multi_steps(
symupdates.adam(learning_rate=0.01), 4))`` works, and wrappers nest.

* :func:`multi_steps` -- average ``k`` gradients, then take one step of the
  wrapped optimizer (``optax.MultiSteps``).
* :func:`ema_params` -- keep an exponential moving average of the parameters
  (Polyak averaging with exponential weights), state ``{param}.ema``.
* :func:`lookahead` -- Lookahead (Zhang et al., 2019): slow weights
  ``{param}.lookahead`` pulled towards the fast ones every ``k`` steps.

Reading the averaged or slow weights: :func:`param_givens` gives a
``{param: state}`` dict for ``pytensor.function(givens=...)``, and
:func:`swap_params` is a context manager that puts them in the parameters
for the duration of a block (e.g. to evaluate a model) and restores them.

Composition. :func:`multi_steps` holds back the *whole* step (every
parameter, every state variable and the step counter) on the ``k - 1``
accumulating calls, so wrappers inside or outside it see only real steps.
Put :func:`ema_params` and :func:`lookahead` outside or inside one another as
the algorithm requires: the innermost acts on the new parameter value first.

Optimizer state with PyMC. ``pm.fit`` calls the optimizer factory every time
it compiles a step function. Two ``pm.fit`` calls (or two ``Inference.fit``
calls) therefore build two independent update graphs: the second starts with
fresh state (its moments are zero and its step counter ``{name}.step`` starts
at 0), while the variational parameters continue from where the first fit
left them. ``Inference.refine(n)`` reuses the compiled step function of the
last ``fit``, so the optimizer state (moments, window, counter, averages)
continues. ``tests/test_pymc_e2e.py`` checks both, by the step counter.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import OrderedDict

import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_decay, check_int, check_scalar
from symupdates.core.numerics import is_zero, remainder
from symupdates.core.transform import Transform, Wrapper, as_transform
from symupdates.transforms.averaging import companions_of
from symupdates.transforms.guards import MultiPrecision, multi_precision

__all__ = ["multi_steps", "ema_params", "lookahead", "param_givens", "swap_params"]


def _outside_master_copies(make, inner: Transform) -> Transform:
    """``make(inner)``, keeping ``multi_precision`` outermost (it must come first)."""
    if isinstance(inner, MultiPrecision):
        return multi_precision(make(inner.inner))
    return make(inner)


@dataclasses.dataclass(frozen=True)
class MultiSteps(Wrapper):
    inner: Transform
    every_k: int = 2

    def __post_init__(self):
        super().__post_init__()
        check_int("every_k", self.every_k, 1)

    def build(self, ctx, directions):
        with ctx.labelled("multi_steps"):
            mini = ctx.scalar_state("mini_step", 0, "int64")
            accs = [ctx.state(i, "acc") for i in range(len(directions))]
        last = pt.ge(mini, self.every_k - 1)  # mini_step == every_k - 1 (it never exceeds it; Eq: core.numerics)
        means = []
        for acc, g in zip(accs, directions):
            mean = acc + (g - acc) / pt.cast(mini + 1, g.dtype)
            ctx.set(acc, pt.switch(last, pt.zeros_like(mean), mean))
            means.append(mean)
        ctx.set(mini, pt.switch(last, 0, mini + 1))
        ctx.gate(last, exempt=[mini, *accs])
        return ctx.run(self.inner, means)


def multi_steps(optimizer, every_k: int) -> Transform:
    r"""Gradient accumulation: average ``every_k`` gradients, then take one step of ``optimizer``.

    On calls :math:`j = 1, \dots, k-1` of each group of :math:`k` calls only
    the running mean of the gradients changes,

    .. math::

        \bar g_j = \bar g_{j-1} + \frac{g_j - \bar g_{j-1}}{j}, \qquad \bar g_0 = 0,

    and the parameters, every state variable and the step counter keep their
    values. On call :math:`k` the wrapped optimizer takes one step with
    :math:`\bar g_k`, and the mean restarts at zero. The step counter (and so
    bias corrections and schedules) counts these real steps. This is
    ``optax.MultiSteps`` with a fixed ``every_k_schedule``; with a loss
    averaged over a mini-batch it emulates a ``k`` times larger batch.

    Parameters
    ----------
    optimizer : Transform, named optimizer or factory
        What takes the step, e.g. ``symupdates.adam(learning_rate=1e-3)``.
    every_k : int
        :math:`k \ge 1`; 1 is the optimizer itself.

    Returns
    -------
    Transform
        An optimizer factory: ``multi_steps(...)(loss_or_grads, params)`` gives the updates.

    Notes
    -----
    State: ``{param}.multi_steps.acc`` per parameter and the int64 call counter
    ``multi_steps.mini_step`` (0 to k - 1). Options of a named optimizer apply to
    the averaged gradient (e.g. ``clip_global_norm`` clips the mean), except
    ``skip_nonfinite``, which checks every call's gradient.
    """
    every_k = check_int("every_k", every_k, 1)
    return _outside_master_copies(lambda t: MultiSteps(t, every_k), as_transform(optimizer))


@dataclasses.dataclass(frozen=True)
class EmaParams(Wrapper):
    inner: Transform
    decay: object = 0.999
    debias: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_decay("decay", self.decay, schedulable=False)
        if not isinstance(self.debias, bool):
            raise InputError(f"`debias` must be True or False, got {self.debias!r}.")

    def build(self, ctx, directions):
        out = ctx.run(self.inner, directions)
        with ctx.labelled("ema"):
            averages = [ctx.state(i, None, fill=None, kind="average") for i in range(len(out))]

        def update(i, value):
            dtype = value.dtype
            if self.debias:
                # (1 - d) / (1 - d^t): the weight of p_t in the bias-corrected average; 1 at t = 1.
                weight = ctx.one_minus(self.decay, dtype) / (1 - ctx.hyper(self.decay, dtype) ** ctx.count(dtype))
            else:
                weight = ctx.one_minus(self.decay, dtype)
            average = averages[i]
            ctx.set(average, average + weight * (value - average))
            return value

        ctx.on_new_value(update)
        return out


def ema_params(optimizer, decay=0.999, *, debias=True) -> Transform:
    r"""Keep an exponential moving average of the parameters alongside ``optimizer``.

    After each step, with :math:`p_t` the new parameter value,

    .. math::

        \bar p_t = \frac{(1-\beta)\sum_{s=1}^{t} \beta^{t-s} p_s}{1-\beta^t}
        \quad\text{(debias=True)}, \qquad
        \bar p_t = \beta\, \bar p_{t-1} + (1-\beta)\, p_t,\; \bar p_0 = p_0
        \quad\text{(debias=False)}.

    The debiased average is what ``optax.ema(decay, debias=True)`` returns for
    the sequence :math:`p_t` (zero start, divided by :math:`1-\beta^t`); it is
    kept directly, as :math:`\bar p_t = \bar p_{t-1} + \frac{1-\beta}{1-\beta^t}(p_t - \bar p_{t-1})`,
    so the state is always ready to use. Without debiasing the average starts
    at the initial parameters (TensorFlow's ``ExponentialMovingAverage``).
    The optimizer itself is unchanged: the parameters follow it, the average
    is only read, with :func:`param_givens` or :func:`swap_params`.

    Parameters
    ----------
    optimizer : Transform, named optimizer or factory
    decay : float, default 0.999
        :math:`\beta \in [0, 1)`.
    debias : bool, default True

    Returns
    -------
    Transform
        An optimizer factory.

    Notes
    -----
    State: ``{param}.ema`` (a copy of the parameter at the start; ``reset()``
    re-reads it); with ``debias`` the step counter.

    References
    ----------
    .. [1] Polyak, B. T. & Juditsky, A. B. (1992). Acceleration of Stochastic Approximation by
       Averaging. SIAM J. Control Optim. 30(4), 838-855.
    """
    check_decay("decay", decay, schedulable=False)
    return _outside_master_copies(lambda t: EmaParams(t, decay, debias), as_transform(optimizer))


@dataclasses.dataclass(frozen=True)
class Lookahead(Wrapper):
    inner: Transform
    sync_period: int = 5
    alpha: object = 0.5

    def __post_init__(self):
        super().__post_init__()
        check_int("sync_period", self.sync_period, 1)
        check_scalar("alpha", self.alpha, 0.0, 1.0)

    def build(self, ctx, directions):
        out = ctx.run(self.inner, directions)
        with ctx.labelled("lookahead"):
            slow = [ctx.state(i, None, fill=None, kind="average") for i in range(len(out))]
        sync = is_zero(remainder(ctx.step + 1, self.sync_period))

        def update(i, fast):
            new_slow = slow[i] + ctx.hyper(self.alpha, fast.dtype) * (fast - slow[i])
            ctx.set(slow[i], pt.switch(sync, new_slow, slow[i]))
            return pt.switch(sync, new_slow, fast)

        ctx.on_new_value(update)
        return out


def lookahead(optimizer, sync_period: int = 5, alpha=0.5) -> Transform:
    r"""Lookahead (Zhang et al., 2019): ``sync_period`` fast steps forward, one step back.

    The parameters are the *fast* weights :math:`\theta`, moved by
    ``optimizer`` every step; the *slow* weights :math:`\phi` start at the
    initial parameters. After every ``sync_period``-th step :math:`t`,

    .. math::

        \phi \leftarrow \phi + \alpha\,(\theta_t - \phi), \qquad \theta_t \leftarrow \phi,

    and the optimizer's own state carries on (``optax.lookahead`` with
    ``reset_state=False``). Evaluate with the slow weights (:func:`param_givens`
    with ``"lookahead"``); right after a synchronisation they equal the parameters.

    Parameters
    ----------
    optimizer : Transform, named optimizer or factory
        The inner ("fast") optimizer.
    sync_period : int, default 5
        :math:`k \ge 1`.
    alpha : float or symbolic scalar, default 0.5
        Slow step size :math:`\alpha \in [0, 1]`.

    Returns
    -------
    Transform
        An optimizer factory.

    Notes
    -----
    State: ``{param}.lookahead`` (the slow weights) per parameter; the step counter.

    References
    ----------
    .. [1] Zhang, M. R., Lucas, J., Hinton, G. & Ba, J. (2019). Lookahead Optimizer: k steps
       forward, 1 step back. NeurIPS.
    """
    sync_period = check_int("sync_period", sync_period, 1)
    check_scalar("alpha", alpha, 0.0, 1.0)
    return _outside_master_copies(lambda t: Lookahead(t, sync_period, alpha), as_transform(optimizer))


def param_givens(updates, kind: str = "ema") -> OrderedDict:
    """``{param: companion}`` for ``pytensor.function(givens=...)``: evaluate with averaged or slow weights.

    ``kind`` is the wrapper's label: ``"ema"`` (:func:`ema_params`),
    ``"lookahead"`` (:func:`lookahead`), or ``"ema1"``... for a repeated wrapper.
    ``updates`` is what the wrapped optimizer returned.
    """
    out = OrderedDict(
        (param, var if var.type == param.type else param.type.filter_variable(pt.cast(var, param.dtype)))
        for param, var in companions_of(updates, kind, "param_givens()").items()
    )
    if not out:
        raise InputError(f"these updates keep no {kind!r} parameters (use ema_params or lookahead).")
    return out


@contextlib.contextmanager
def swap_params(updates, kind: str = "ema"):
    """Within the block the parameters hold their ``kind`` companions (see :func:`param_givens`).

    Their own values are restored on exit, also after an error.
    """
    givens = param_givens(updates, kind)
    saved = [(p, p.get_value(borrow=False)) for p in givens]
    try:
        for param, var in givens.items():
            value = var.eval() if not hasattr(var, "get_value") else var.get_value(borrow=False)
            param.set_value(value.astype(param.dtype, copy=False))
        yield givens
    finally:
        for param, value in saved:
            param.set_value(value)
