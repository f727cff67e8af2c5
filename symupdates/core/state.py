"""The updates an optimizer returns, and the state they carry.

:class:`Updates` is an :class:`~collections.OrderedDict` {shared variable:
new value}, so ``pytensor.function(updates=...)`` and ``pm.fit`` use it as
they would any other. It also knows which of its keys are optimizer state
(moments, step counter, master copies) and can reset, export, import, save
and load that state without recompiling anything.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from symupdates.core.checks import InputError

if TYPE_CHECKING:
    from symupdates.core.explain import Explanation

__all__ = ["Updates", "StateEntry", "ConstantRate", "KINDS", "merge"]


#: The kinds of state, so that companions are found by what they are, never by parsing names.
KINDS = ("moment", "average", "master", "step", "learning_rate", "counter", "skipped")


@dataclasses.dataclass(frozen=True)
class StateEntry:
    """A state variable, the function giving its fresh value, and what it is.

    ``kind`` is one of :data:`KINDS`: ``"moment"`` (an optimizer's running
    statistics, the default), ``"average"`` (an averaged copy of a parameter),
    ``"master"`` (a float32 master copy), ``"step"`` (a step counter),
    ``"learning_rate"`` (the rate of the latest step), ``"counter"`` (other
    bookkeeping) or ``"skipped"`` (steps held by a guard). ``param`` is the
    index of the parameter it belongs to, ``None`` for state shared by all;
    ``owner`` the label of the transform that made it (``"adam"``, ``"ema1"``).
    """

    var: object
    init: Callable[[], np.ndarray | np.generic]
    kind: str = "moment"
    param: int | None = None
    owner: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"state kind must be one of {KINDS}, got {self.kind!r}.")


@dataclasses.dataclass(frozen=True)
class ConstantRate:
    """A constant learning rate, read as the shared variable recording a varying one is."""

    value: float

    def get_value(self) -> np.ndarray:
        """The rate as a 0-d float64 array, the type a recorded rate's ``get_value()`` returns."""
        return np.array(self.value, dtype="float64")


class Updates(OrderedDict):
    """Ordered updates {shared variable: new value} with their optimizer state.

    Keys come in a fixed order: the parameters (and their master copies) in
    the order given, then state variables in creation order, then the step
    and skip counters.
    """

    def __init__(self, items=(), *, params=(), entries=(), constant_learning_rates=(), grads=(), symbols=None):
        super().__init__(items)
        self.params = list(params)
        self._entries = list(entries)
        #: The constant learning rates of the transforms that built these updates (no state records them).
        self.constant_learning_rates = tuple(constant_learning_rates)
        #: The gradient expression of each parameter (aligned with :attr:`params`; empty if not known),
        #: which :meth:`explain` prints as ``g_{param}``.
        self.grads = list(grads)
        #: {variable: (name, description)}: what :meth:`explain` calls the scalars the build named.
        self.symbols = dict(symbols or {})

    def explain(self) -> Explanation:
        """The update math of these updates, printed from their graph.

        Returns an :class:`~symupdates.core.explain.Explanation`: ``str()`` gives plain
        text (NumPy expressions), ``.latex`` LaTeX; see :func:`symupdates.core.explain.explain`.
        """
        from symupdates.core.explain import explain  # not imported with the core: `python -m` runs it

        return explain(self)

    @property
    def state(self) -> OrderedDict:
        """The optimizer's state variables by name, in creation order."""
        return OrderedDict((e.var.name, e.var) for e in self._entries)

    @property
    def state_params(self) -> OrderedDict:
        """{state variable: the parameter it belongs to, or ``None`` for state shared by all}."""
        return OrderedDict((e.var, None if e.param is None else self.params[e.param]) for e in self._entries)

    @property
    def learning_rate(self):
        """The learning rate of the latest step, as an object with ``get_value()``.

        A schedule, a plateau policy or a symbolic rate is recorded in the
        float64 shared variable ``{optimizer}.learning_rate`` (NaN before the
        first step), which is returned; a constant rate, which needs no state,
        is returned as a :class:`ConstantRate`. So ``pm.callbacks.Tracker(lr=lambda:
        factory.latest.learning_rate.get_value())`` records the rate of every
        step whatever the rate is.

        Raises
        ------
        InputError
            When several learning rates (e.g. of parameter groups) apply; read
            ``state[name]`` instead.
        """
        found: list = self.find("learning_rate")
        found += [ConstantRate(rate) for rate in self.constant_learning_rates]
        if len(found) != 1:
            raise InputError(
                f"{'several' if found else 'no'} learning rates apply to these updates "
                f"({[getattr(v, 'name', v) for v in found]}); read `state[name]` instead."
            )
        return found[0]

    def find(self, kind: str) -> list:
        """The state variables of ``kind`` (one of :data:`KINDS`), in creation order."""
        if kind not in KINDS:
            raise InputError(f"`kind` must be one of {KINDS}, got {kind!r}.")
        return [e.var for e in self._entries if e.kind == kind]

    def companions(self, kind: str, owner: str | None = None) -> OrderedDict:
        """{parameter: its state variable of ``kind``}, optionally only those made by ``owner``.

        E.g. ``companions("average", "ema")`` gives the averages of
        :func:`symupdates.ema_params`, ``companions("average", "lookahead")``
        the slow weights, ``companions("master")`` the float32 master copies.
        A parameter with several matching variables gets the first.
        """
        if kind not in KINDS:
            raise InputError(f"`kind` must be one of {KINDS}, got {kind!r}.")
        out: OrderedDict = OrderedDict()
        for e in self._entries:
            if e.kind == kind and e.param is not None and (owner is None or e.owner == owner):
                out.setdefault(self.params[e.param], e.var)
        return out

    def reset(self) -> None:
        """Reset every state variable to its fresh value (parameters are kept).

        Compiled functions see the new values at once; nothing is recompiled.
        Master copies are re-read from their float16 parameters.
        """
        for e in self._entries:
            e.var.set_value(e.init())

    def state_dict(self) -> dict:
        """A copy of the state as {name: NumPy array}."""
        return {e.var.name: np.array(e.var.get_value(borrow=False)) for e in self._entries}

    def load_state_dict(self, state: Mapping, strict: bool = True) -> None:
        """Write ``state`` (as made by :meth:`state_dict`) into the state variables.

        Every name, shape and dtype is checked before anything is written, so a
        failed load leaves the state untouched. With ``strict=False`` missing
        names keep their current value; unknown names are always an error.
        """
        own = {e.var.name: e.var for e in self._entries}
        extra = sorted(set(state) - set(own))
        missing = sorted(set(own) - set(state))
        if extra:
            raise InputError(f"load_state_dict: unknown state names {extra}; this optimizer has {sorted(own)}.")
        if strict and missing:
            raise InputError(f"load_state_dict: missing state names {missing} (pass strict=False to keep them).")
        arrays = {}
        for name, value in state.items():
            var = own[name]
            current = var.get_value(borrow=True)
            value = np.asarray(value)
            if value.shape != current.shape:
                raise InputError(f"load_state_dict: {name!r} has shape {value.shape}, expected {current.shape}.")
            if value.dtype != current.dtype:
                raise InputError(f"load_state_dict: {name!r} has dtype {value.dtype}, expected {current.dtype}.")
            arrays[name] = value
        for name, value in arrays.items():
            own[name].set_value(value.copy())

    def save(self, path) -> None:
        """Save the state to a ``.npz`` file."""
        np.savez(path, **self.state_dict())

    def load(self, path, strict: bool = True) -> None:
        """Load state saved by :meth:`save` (checked as :meth:`load_state_dict`)."""
        with np.load(path, allow_pickle=False) as data:
            self.load_state_dict({k: data[k] for k in data.files}, strict=strict)


def merge(*update_sets: Updates, params=None) -> Updates:
    """One :class:`Updates` from several, e.g. of parameter groups; nothing may be updated twice.

    The keys keep their order, set after set. Raises :class:`InputError`
    naming both sets when two of them update the same shared variable, or
    when two state variables share a name (give each set a ``name=``).
    ``params`` orders :attr:`Updates.params` (default: set after set).
    """
    items: OrderedDict = OrderedDict()
    owner: dict = {}
    names: dict = {}

    def described(k):
        state = list(update_sets[k].state)
        return (
            f"update set {k} (state {', '.join(state[:3])}{', ...' if len(state) > 3 else ''})"
            if state
            else f"update set {k}"
        )

    for k, updates in enumerate(update_sets):
        if not isinstance(updates, Updates):
            raise InputError(f"merge() takes the Updates returned by optimizers, got {type(updates).__name__}.")
        for var, new in updates.items():
            if var in owner:
                raise InputError(
                    f"{var.name or var!r} is updated by {described(owner[var])} and by {described(k)}: "
                    "each parameter belongs to one optimizer (or one partition group)."
                )
            owner[var] = k
            items[var] = new
        for e in updates._entries:
            if e.var.name in names:
                raise InputError(
                    f"{described(names[e.var.name])} and {described(k)} both have a state variable named {e.var.name!r}: "
                    "give each a name= (e.g. symupdates.adam(..., name='encoder'))."
                )
            names[e.var.name] = k
    merged = [p for updates in update_sets for p in updates.params]
    if params is not None:
        merged = [p for p in params if any(p is q for q in merged)]
    position = {id(p): i for i, p in enumerate(merged)}
    # a StateEntry's ``param`` indexes its own set's parameters: index the merged list instead
    entries = [
        dataclasses.replace(e, param=None if e.param is None else position[id(updates.params[e.param])])
        for updates in update_sets
        for e in updates._entries
    ]
    rates = [rate for updates in update_sets for rate in updates.constant_learning_rates]
    grad_of = {id(p): g for updates in update_sets for p, g in zip(updates.params, updates.grads)}
    grads = [grad_of[id(p)] for p in merged] if all(id(p) in grad_of for p in merged) else []
    symbols = {var: named for updates in update_sets for var, named in updates.symbols.items()}
    return Updates(items, params=merged, entries=entries, constant_learning_rates=rates, grads=grads, symbols=symbols)
