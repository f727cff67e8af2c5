"""Build-time validation of user input: one error type, one place for the rules."""

from __future__ import annotations

import abc
import difflib
import functools
import math
import warnings
from numbers import Number

import numpy as np
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorConstant, TensorVariable


class InputError(ValueError):
    """Bad input detected while building an update graph.

    Every error symupdates raises for bad input is an ``InputError``, a
    :class:`ValueError` (as Lasagne's and PyMC's): a hyper-parameter out of
    range, a gradient of the wrong shape, a parameter that is not a shared
    variable, an unknown optimizer name, state that does not fit.

    Only a call that does not match the signature of a symupdates function (an
    unknown keyword, too many positional arguments) raises its subclass
    :class:`ArgumentError`, which is also a :class:`TypeError`, as Python's own
    error for such a call. No other error of symupdates is a ``TypeError``, so
    code that retries a callable on ``TypeError`` (taking it for a signature
    mismatch) never swallows one of them.
    """


class ArgumentError(InputError, TypeError):
    """A call that does not match the signature of a symupdates function (see :class:`InputError`)."""


def constant_value(value):
    """The number behind ``value`` if it is a build-time constant, else ``None``."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, Number | np.number):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    if isinstance(value, TensorConstant) and value.ndim == 0:
        return float(value.data)
    return None


def is_schedule(value) -> bool:
    """True for a schedule: a callable mapping the integer step to a scalar, or a :class:`StatefulSchedule`."""
    return isinstance(value, StatefulSchedule) or (callable(value) and not isinstance(value, Variable))


class StatefulSchedule(abc.ABC):
    """A schedule that keeps state (:func:`symupdates.reduce_on_plateau`).

    It is not a function of the step alone: the build context asks it for its
    value with :meth:`value_in`, where it can create state and read the loss.
    """

    @abc.abstractmethod
    def value_in(self, ctx) -> Variable:
        """The scheduled value for the step being built in ``ctx``, as a symbolic scalar."""

    def __call__(self, step):
        raise InputError(
            f"{type(self).__name__} keeps state and needs the loss: use it as an optimizer hyper-parameter "
            "(e.g. learning_rate=reduce_on_plateau(...)), not as a plain function of the step."
        )


def is_constant(value, number: float) -> bool:
    """Whether ``value`` is the build-time constant ``number``: the test of an option left "off".

    A schedule or a symbolic value never is, whatever it evaluates to.
    """
    return not is_schedule(value) and constant_value(value) == number


def check_scalar(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    schedulable: bool = True,
):
    """Validate a hyper-parameter and return it unchanged.

    A number, NumPy scalar, 0-d array or symbolic/shared scalar is accepted; a
    callable is accepted as a schedule when ``schedulable``. Constant values are
    range checked here, at build time; symbolic values are checked for being
    real scalars only (their value is not known before run time).
    """
    if is_schedule(value):
        if not schedulable:
            raise InputError(f"`{name}` must be a number or a symbolic scalar, not a schedule.")
        return value
    if isinstance(value, bool | np.bool_) or value is None:
        raise InputError(f"`{name}` must be a number or a symbolic scalar, got {value!r}.")
    if isinstance(value, Variable):
        if not isinstance(value, TensorVariable) or value.ndim != 0:
            raise InputError(f"`{name}` must be a scalar; got {value.type}. Pass a 0-d tensor or shared variable.")
        if value.dtype[:5] not in ("float", "int", "uint") and not value.dtype.startswith("int"):
            raise InputError(f"`{name}` must be real-valued; got dtype {value.dtype}.")
    elif constant_value(value) is None:
        raise InputError(
            f"`{name}` must be a number, a symbolic scalar or a schedule; got {type(value).__name__} {value!r}."
        )
    number = constant_value(value)
    if number is None:
        return value
    if math.isnan(number):
        raise InputError(f"`{name}` is NaN; give a finite number.")
    lo_bad = low is not None and (number < low or (low_open and number == low))
    hi_bad = high is not None and (number > high or (high_open and number == high))
    if lo_bad or hi_bad:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise InputError(f"`{name}` must lie in {left}{lo}, {hi}{right}; got {number!r}.")
    return value


def check_nonnegative(name, value, **kw):
    return check_scalar(name, value, 0.0, None, **kw)


def check_decay(name, value, **kw):
    """A decay rate (beta, rho, momentum): in [0, 1)."""
    return check_scalar(name, value, 0.0, 1.0, high_open=True, **kw)


def check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise InputError(f"`{name}` must be an integer, got {value!r}.")
    if value < low:
        raise InputError(f"`{name}` must be >= {low}, got {value}.")
    return int(value)


def check_choice(name: str, value, choices):
    if value not in choices:
        raise InputError(f"`{name}` must be one of {sorted(choices)!r}, got {value!r}.")
    return value


def unknown_keyword(func_name: str, key: str, known) -> ArgumentError:
    """The error for an unexpected keyword, with the closest valid spellings."""
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ArgumentError(f"{func_name}() got an unexpected keyword argument {key!r}.{hint}")


def renamed_arguments(**renames: str):
    """Decorator: keep accepting the former keyword names ``{old: new}``, with a ``DeprecationWarning``.

    Passing both names is an :class:`ArgumentError`. The renames are listed in CHANGELOG.md.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def accepting_former_names(*args, **kwargs):
            return fn(*args, **with_current_names(fn.__name__, renames, kwargs))

        return accepting_former_names

    return decorate


def with_current_names(func_name: str, renames: dict, kwargs: dict) -> dict:
    """``kwargs`` with the former names of ``renames`` ``{old: new}`` replaced, warning once for each."""
    kwargs = dict(kwargs)
    for old, new in renames.items():
        if old not in kwargs:
            continue
        if new in kwargs:
            raise ArgumentError(f"{func_name}(): pass `{new}` only; `{old}` is its former name.")
        warnings.warn(
            f"{func_name}(): `{old}` is now called `{new}`; the former name will be removed.",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs[new] = kwargs.pop(old)
    return kwargs
