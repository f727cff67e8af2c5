"""The build context: what one application of a transform shares (parameters, state, step)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from symupdates.core.checks import InputError, StatefulSchedule, constant_value, is_schedule
from symupdates.core.state import StateEntry, Updates

if TYPE_CHECKING:
    from symupdates.core.transform import Transform

__all__ = ["BuildContext", "scalar_dtype", "hold"]


def scalar_dtype(dtype: str) -> str:
    """The dtype scalar coefficients are computed in for parameters of ``dtype``.

    float16 has too few bits for step counts and bias corrections, so they are
    computed in float32 and the result rounded once; other dtypes use their own.
    """
    return "float32" if dtype == "float16" else dtype


def _unique_names(params) -> list[str]:
    """Parameter names for state naming: unnamed ones get ``param{i}``, repeats ``#k``."""
    names: list[str] = []
    seen: dict = {}
    for i, p in enumerate(params):
        base = p.name or f"param{i}"
        k = seen.get(base, 0)
        seen[base] = k + 1
        names.append(base if k == 0 else f"{base}#{k}")
    return names


_DTYPES = frozenset({"float16", "float32", "float64", "int8", "int16", "int32", "int64"})


def _key_name(key, label: str) -> str:
    """The name of a :meth:`BuildContext.cached` value: the last part of ``key`` that is no dtype or ``label``."""
    parts = [
        k for k in (key if isinstance(key, tuple) else (key,)) if not (isinstance(k, str) and k in _DTYPES | {label})
    ]
    last = parts[-1] if parts else key
    text = "_".join(map(str, last)) if isinstance(last, tuple) else str(last)
    return text.replace("1/", "inv_").replace("(", "_").replace(")", "")


class BuildContext:
    """Everything one application of a transform shares: parameters, state, step.

    Transforms receive it in :meth:`Transform.build`. It creates state
    variables (named ``{param}.{transform}.{role}``), records their updates,
    owns the single int64 step counter, and turns hyper-parameters (numbers,
    symbolic scalars or schedules) into scalars of the right dtype.
    """

    def __init__(self, params, grads, name: str, prefix: str | None = None):
        self.params = list(params)
        #: What the steps apply to: the parameters, or their float32 master copies.
        self.targets = list(params)
        self.grads = list(grads)
        self.name = name
        #: Put before every state name (``{prefix}.{param}.{label}.{role}``): a group's or ``name=``'s name.
        self.prefix = prefix
        self.param_names = _unique_names(self.params)
        #: The constant learning rates applied (a varying one is recorded in state instead).
        self.constant_learning_rates: list[float] = []
        #: The scalar loss when the optimizer was given one (else ``None``); read by
        #: :func:`symupdates.reduce_on_plateau`.
        self.loss = None
        self._entries: list[StateEntry] = []
        self._updates: OrderedDict = OrderedDict()
        self._step: TensorVariable | None = None
        self._labels: dict[str, int] = {}
        self._label_stack: list[str] = []
        self._hyper_cache: dict = {}
        self._masters: dict[int, TensorVariable] = {}
        self._new_value_hooks: list[Callable] = []
        self._finishers: list[Callable] = []
        #: What :func:`~symupdates.core.explain.explain` calls the scalars made here (hyper-parameters,
        #: ``t``, cached per-step scalars, schedule values): {variable: (name, description)}.
        #: A record beside the graph: naming never changes what is computed.
        self.symbols: dict = {}
        self._building: list[Transform] = []

    # -- naming and running -------------------------------------------------
    @property
    def label(self) -> str:
        return self._label_stack[-1] if self._label_stack else self.name

    @contextlib.contextmanager
    def labelled(self, name: str):
        """Name the state created inside the block ``{param}.{name}.{role}`` (``name1``... on repeats)."""
        k = self._labels.get(name, 0)
        self._labels[name] = k + 1
        self._label_stack.append(name if k == 0 else f"{name}{k}")
        try:
            yield
        finally:
            self._label_stack.pop()

    def run(self, transform: Transform, directions: list) -> list:
        """Build ``transform`` on ``directions`` under a unique label; check its output."""
        self._building.append(transform)  # whose fields name the hyper-parameters (see :meth:`hyper`)
        try:
            if not transform.labelled:
                out = list(transform.build(self, list(directions)))
            else:
                with self.labelled(transform.name):
                    out = list(transform.build(self, list(directions)))
        finally:
            self._building.pop()
        if len(out) != len(self.targets):
            raise InputError(
                f"transform {transform.name!r} returned {len(out)} directions for {len(self.targets)} parameters."
            )
        return [self.as_target_type(i, u) for i, u in enumerate(out)]

    def as_target_type(self, i: int, expr) -> TensorVariable:
        """``expr`` with exactly the type (dtype and static shape) of target ``i``."""
        target = self.targets[i]
        expr = pt.as_tensor_variable(expr)
        if expr.dtype != target.dtype:
            expr = pt.cast(expr, target.dtype)
        if expr.type != target.type:
            expr = target.type.filter_variable(pt.specify_shape(expr, target.type.shape))
        return expr

    # -- state ----------------------------------------------------------------
    def _shared(self, value, name: str, **kwargs) -> TensorVariable:
        return pytensor.shared(value, name=name if self.prefix is None else f"{self.prefix}.{name}", **kwargs)

    def _register(self, var, init: Callable[[], np.ndarray | np.generic], kind: str, param: int | None = None):
        self._entries.append(StateEntry(var, init, kind, param, self.label))
        return var

    def state(
        self, i: int, role: str | None, fill: float | None = 0.0, suffix: tuple = (), *, shape=None, kind="moment"
    ) -> TensorVariable:
        """A new state tensor for target ``i``, filled with ``fill``.

        It takes the target's dtype and full static type; ``suffix`` appends
        axes (e.g. a window), or ``shape`` gives it a shape of its own (a
        per-tensor scalar, a row of a factored moment). Its update must be
        given with :meth:`set`. ``fill=None`` starts it at a copy of the
        target's value (re-read by ``reset()``); ``role=None`` names it
        ``{param}.{label}`` (a parameter-like companion such as an average of
        the parameter). ``kind`` says what it is (see
        :class:`~symupdates.core.state.StateEntry`), so that
        :meth:`Updates.companions` finds it without reading its name.
        """
        target = self.targets[i]
        value = target.get_value(borrow=True)
        dtype = value.dtype
        if shape is not None:
            if suffix or fill is None:
                raise InputError("a state with a shape of its own neither copies its parameter nor extends its axes.")
            shape = static = tuple(int(n) for n in shape)
        else:
            shape, static = value.shape + tuple(suffix), tuple(target.type.shape) + tuple(suffix)
        if fill is None:
            if suffix:
                raise InputError("a state that copies its parameter cannot have extra axes.")
            init = lambda: np.array(target.get_value(borrow=True), dtype=dtype, copy=True)  # noqa: E731
        else:
            init = lambda: np.full(shape, fill, dtype=dtype)  # noqa: E731
        name = f"{self.param_names[i]}.{self.label}" + ("" if role is None else f".{role}")
        var = self._shared(init(), name, shape=static)
        return self._register(var, init, kind, i)

    def cached(self, key, make: Callable[[], TensorVariable]) -> TensorVariable:
        """``make()``, built once per ``key`` in this context (per-step scalars shared by all parameters).

        The value is named after ``key`` in :attr:`symbols`: its last part that is
        neither a dtype nor the current label (``("coefficient", "adam", "c", "float32")`` is ``c``).
        """
        label = self.label
        cache_key = ("cached", key)
        if cache_key not in self._hyper_cache:
            value = make()
            self._hyper_cache[cache_key] = value
            self._name(value, _key_name(key, label), f"a per-step scalar of {self._where(label)}, {key!r}")
        return self._hyper_cache[cache_key]

    def scalar_state(self, role: str, value, dtype: str, *, kind: str = "counter") -> TensorVariable:
        """A new scalar state variable ``{label}.{role}`` shared by all parameters."""
        init = np.asarray(value, dtype=dtype)
        var = self._shared(init.copy(), f"{self.label}.{role}")
        return self._register(var, lambda: init.copy(), kind)

    def set(self, var: TensorVariable, expr) -> None:
        """Record the new value of state variable ``var`` for this step."""
        expr = pt.as_tensor_variable(expr)
        if expr.dtype != var.dtype:
            expr = pt.cast(expr, var.dtype)
        if not var.type.in_same_class(expr.type):
            # a static 1 the variable does not promise (a gradient of shape (1,) stored for a
            # parameter of shape (None,)): broadcasting to the variable's symbolic shape drops it
            expr = pt.broadcast_to(expr, var.shape)
        if expr.type != var.type:
            expr = var.type.filter_variable(pt.specify_shape(expr, var.type.shape))
        self._updates[var] = expr

    # -- step counter and hyper-parameters ----------------------------------------
    @property
    def step(self) -> TensorVariable:
        """The int64 counter of completed steps: 0 during the first update."""
        if self._step is None:
            self._step = self._shared(np.int64(0), f"{self.name}.step")
            self._register(self._step, lambda: np.int64(0), "step")
        return self._step

    def count(self, dtype: str) -> TensorVariable:
        """The 1-based number ``t`` of the step being built, as a ``dtype`` scalar."""
        key = ("count", dtype)
        if key not in self._hyper_cache:
            self._hyper_cache[key] = pt.cast(self.step + 1, dtype)
            self._name(self._hyper_cache[key], "t", f"the number of the step being taken, {self.step.name} + 1")
        return self._hyper_cache[key]

    def hyper(self, value, dtype: str) -> TensorVariable:
        """A hyper-parameter as a scalar of ``dtype``; a schedule is read at :attr:`step`."""
        key = (id(value), dtype)
        if key in self._hyper_cache:
            return self._hyper_cache[key][1]
        raw = value
        if is_schedule(value):
            value = self.schedule_value(value)
        if isinstance(value, Variable):
            value = cast(TensorVariable, value)  # a symbolic scalar of any variable class (shared ones too)
            out = value if value.dtype == dtype else pt.cast(value, dtype)
        else:
            number = constant_value(value)
            if number is None:
                raise InputError(f"cannot use {value!r} as a hyper-parameter.")
            out = pt.constant(np.asarray(number, dtype=dtype))
        self._hyper_cache[key] = (raw, out)  # keep ``raw`` alive so its id stays unique
        held = self._field_holding(raw)
        if held is not None:
            name, owner = held
            what = f"schedule {raw!r} read at the step" if is_schedule(raw) else repr(raw)
            self._name(out, f"{name}_t" if is_schedule(raw) else name, f"{name} of {self._where(owner)}: {what}")
        return out

    # -- names for explain() --------------------------------------------------------
    def _as_built(self, fn: Callable) -> Callable:
        """``fn``, run later with the transforms being built now (whose fields name its hyper-parameters)."""
        building = list(self._building)

        def run(*args):
            outer, self._building = self._building, building
            try:
                return fn(*args)
            finally:
                self._building = outer

        return run

    def _name(self, var, name: str, description: str) -> None:
        """Record ``name`` for ``var`` in :attr:`symbols` (the first name given stays)."""
        self.symbols.setdefault(var, (name, description))

    def _where(self, owner: str) -> str:
        return owner if self.prefix is None else f"{self.prefix}.{owner}"

    def _field_holding(self, value) -> tuple[str, str] | None:
        """``(name, label)`` of the field of a transform being built that holds ``value`` (by identity).

        The innermost transform holding it is used. A value in a dict, list or tuple field
        (per-parameter multipliers) is named ``{field}_{key}``. The first field of an
        unlabelled option (``clip_global_norm``, ``learning_rate``, ``weight_decay``...)
        takes the option's name, which is the transform's. A value that several fields
        hold (two defaults written alike are one object) gets no name: which one the
        caller read cannot be told.
        """
        # a small int is one object wherever it is written: look for it in the innermost transform only
        searched = self._building[-1:] if isinstance(value, int) else reversed(self._building)
        for transform in searched:
            if not dataclasses.is_dataclass(transform):
                continue
            found = set()
            for k, field in enumerate(dataclasses.fields(transform)):
                held = getattr(transform, field.name)
                if held is value:
                    found.add(
                        transform.name
                        if k == 0 and not transform.labelled
                        else transform.symbol_names.get(field.name, field.name)
                    )
                elif isinstance(held, Mapping | list | tuple):
                    items = held.items() if isinstance(held, Mapping) else enumerate(held)
                    found |= {f"{field.name}_{getattr(key, 'name', key)}" for key, item in items if item is value}
            if found:
                return (found.pop(), transform.name if transform.labelled else self.label) if len(found) == 1 else None
        return None

    def one_minus(self, value, dtype: str) -> TensorVariable:
        """``1 - value`` as a ``dtype`` scalar.

        A constant is subtracted in float64 and rounded once to ``dtype``. The
        subtraction stays in the graph (constant folding computes it): in
        float64 this is PyMC's ``1 - beta``, and FAST_RUN's rewrites, hence the
        bits, depend on that structure (a pre-folded constant lets
        ``local_greedy_distributor`` rewrite Adam's step differently).
        """
        if not is_schedule(value) and constant_value(value) is not None:
            return pt.cast(1 - self.hyper(value, "float64"), dtype)
        return 1 - self.hyper(value, dtype)

    def schedule_value(self, schedule) -> TensorVariable:
        """``schedule(step)`` as a symbolic scalar, built once per schedule."""
        key = ("schedule", id(schedule))
        if key not in self._hyper_cache:
            # a stateful schedule (reduce_on_plateau) builds its value, and its state, from the context
            value = schedule.value_in(self) if isinstance(schedule, StatefulSchedule) else schedule(self.step)
            value = pt.as_tensor_variable(value)
            if value.ndim != 0:
                raise InputError(f"schedule {schedule!r} returned a {value.type}; a schedule must return a scalar.")
            self._hyper_cache[key] = value
            self._hyper_cache[("keep", id(schedule))] = schedule
        return self._hyper_cache[key]

    # -- multi-precision ----------------------------------------------------
    def use_master_copies(self, updates: list) -> list:
        """Make float32 master copies of float16 targets; return ``updates`` in float32."""
        if self._entries or self._updates:
            raise InputError("multi_precision must wrap the whole transform chain (it must come first).")
        out = list(updates)
        for i, p in enumerate(self.params):
            if p.dtype != "float16":
                continue
            init = lambda p=p: p.get_value().astype("float32")  # noqa: E731
            master = self._shared(init(), f"{self.param_names[i]}.master", shape=p.type.shape)
            self._register(master, init, "master", i)
            self._masters[i] = master
            self.targets[i] = master
            out[i] = pt.cast(out[i], "float32")
        return out

    # -- finishing ------------------------------------------------------------
    def on_new_value(self, fn: Callable[[int, TensorVariable], TensorVariable]) -> None:
        """Pass each parameter's new value through ``fn(i, value) -> value`` (after ``p - u``).

        Hooks run in the order they were added: weight constraints
        (``clip_weights``), PyMC's parameter momentum, the averages and slow
        weights of ``ema_params`` and ``lookahead``.
        """
        self._new_value_hooks.append(self._as_built(fn))

    def gate(self, cond, exempt=()) -> None:
        """Apply this step only where the boolean scalar ``cond`` holds.

        When ``cond`` is false every parameter, state variable and the step
        counter keeps its value, except the variables in ``exempt`` (the
        gating transform's own bookkeeping), which always take their update.
        """
        self.finish_with(lambda updates, written: hold(updates, cond, exempt))

    def finish_with(self, fn: Callable[[OrderedDict, list], OrderedDict]) -> None:
        """Rewrite the whole update set once it is built: ``fn(updates, written) -> updates``.

        ``written`` are the parameters' new values. Finishers run in the order
        they were added, so a wrapper that adds one after building its inner
        transform (``skip_nonfinite``) sees the inner's gates already applied.
        """
        self._finishers.append(self._as_built(fn))

    def finalize(self, steps: list) -> Updates:
        """Apply the steps, new-value hooks and finishers; return the ordered updates."""
        new_values = []
        for i, (target, step) in enumerate(zip(self.targets, steps)):
            value = target - step
            for hook in self._new_value_hooks:
                value = hook(i, value)
            new_values.append(self.as_target_type(i, value))
        updates: OrderedDict = OrderedDict()
        for i, (param, value) in enumerate(zip(self.params, new_values)):
            if i in self._masters:
                updates[self._masters[i]] = value
                value = pt.cast(value, param.dtype)
            updates[param] = value
        written = [updates[param] for param in self.params]  # what the parameters receive (float16 included)
        for entry in self._entries:
            if entry.var in self._updates and entry.var not in updates:
                updates[entry.var] = self._updates[entry.var]
        if self._step is not None:
            updates[self._step] = self._step + 1
        for finish in self._finishers:
            updates = finish(updates, written)
        if self.loss is not None:
            self._name(self.loss, "loss", "the loss")
        return Updates(
            updates,
            params=self.params,
            entries=self._entries,
            constant_learning_rates=self.constant_learning_rates,
            grads=self.grads,
            symbols=self.symbols,
        )


def hold(updates: OrderedDict, cond, exempt=()) -> OrderedDict:
    """``updates`` where each variable keeps its value unless ``cond`` holds (``exempt`` always update)."""
    keep = {id(v) for v in exempt}
    return OrderedDict((var, new if id(var) in keep else pt.switch(cond, new, var)) for var, new in updates.items())
