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

import numpy as np

from symupdates.core.checks import InputError

__all__ = ["Updates", "StateEntry", "ConstantRate"]


@dataclasses.dataclass(frozen=True)
class StateEntry:
    """A state variable and the function giving its fresh value."""

    var: object
    init: Callable[[], np.ndarray]


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

    def __init__(self, items=(), *, params=(), entries=(), constant_learning_rates=()):
        super().__init__(items)
        self.params = list(params)
        self._entries = list(entries)
        #: The constant learning rates of the transforms that built these updates (no state records them).
        self.constant_learning_rates = tuple(constant_learning_rates)

    @property
    def state(self) -> OrderedDict:
        """The optimizer's state variables by name, in creation order."""
        return OrderedDict((e.var.name, e.var) for e in self._entries)

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
        found = [v for name, v in self.state.items() if name.endswith(".learning_rate")]
        found += [ConstantRate(rate) for rate in self.constant_learning_rates]
        if len(found) != 1:
            raise InputError(
                f"{'several' if found else 'no'} learning rates apply to these updates "
                f"({[getattr(v, 'name', v) for v in found]}); read `state[name]` instead."
            )
        return found[0]

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
