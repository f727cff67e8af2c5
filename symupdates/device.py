"""Compiled steps whose parameters and optimizer state stay on JAX devices, sharded or not.

``pytensor.function(..., mode="JAX")`` copies every shared variable from host
memory to the device and back on every call. :func:`jax_function` converts the
same graph, after the JAX mode's own rewrites, with PyTensor's JAX dispatch
(``jax_funcify``), makes the shared variables explicit arguments and results,
keeps their values as JAX arrays on the devices between calls, and donates the
buffers of the variables it updates so XLA updates them in place. The shared
variables are written back only when asked (:meth:`DeviceFunction.sync`).

Given a :class:`jax.sharding.Mesh`, the inputs, parameters and optimizer state
are laid out on it by :class:`~jax.sharding.PartitionSpec` and XLA's SPMD
partitioner runs the one update graph across the devices, inserting the
reductions it needs (the gradient sum over a sharded batch, a global norm, a
layer's trust ratio, a factored moment's row means). Nothing in the update
changes: the sharded step computes the single-device step up to the order of
floating-point sums. The same code runs on several hosts under
:func:`jax.distributed.initialize`.
"""

from __future__ import annotations

import fnmatch
import math
from collections import OrderedDict

import numpy as np
import pytensor
from pytensor.tensor import TensorType

from symupdates.core.checks import InputError, check_choice

__all__ = ["jax_function", "DeviceFunction", "STRATEGIES"]

#: How :func:`jax_function` lays out parameters and state on a mesh by default.
STRATEGIES = ("data", "zero")


def _as_spec(value, key):
    from jax.sharding import PartitionSpec

    if value is None:
        return PartitionSpec()
    if isinstance(value, PartitionSpec):
        return value
    if isinstance(value, tuple | list):
        return PartitionSpec(*value)
    raise InputError(
        f"shardings[{key!r}] must be a jax.sharding.PartitionSpec, a tuple of mesh axis names (None for an "
        f"unsharded axis) or None (replicated), got {value!r}."
    )


def _check_rules(shardings):
    if shardings is None:
        return {}
    if not isinstance(shardings, dict):
        raise InputError(
            "`shardings` must be a dict {name pattern or predicate: PartitionSpec}, e.g. "
            f"{{'w*': P(None, 'model'), lambda v: v.ndim == 0: None}}, got {type(shardings).__name__}."
        )
    for key in shardings:
        if not (isinstance(key, str) or callable(key)):
            raise InputError(f"`shardings` keys are name patterns (str) or predicates on the variable, got {key!r}.")
    return {key: _as_spec(value, key) for key, value in shardings.items()}


def _matching_rule(var, rules):
    """The spec of the first rule matching ``var`` (a glob on its name, or a predicate), else None."""
    for key, spec in rules.items():
        if key(var) if callable(key) else var.name is not None and fnmatch.fnmatchcase(var.name, key):
            return spec
    return None


def _describe(var):
    return repr(var.name) if var.name else repr(var)


def _axis_names(entry):
    return () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)


def _check_axes(spec, var, mesh, what, shape=None):
    """Raise :class:`InputError` unless ``spec`` fits ``var``'s rank and names only axes of ``mesh``."""
    sizes = dict(mesh.shape)
    if len(spec) > var.ndim:
        shaped = "" if shape is None else f" of shape {tuple(shape)}"
        raise InputError(
            f"{what} {_describe(var)}{shaped} cannot be sharded as {spec}: the spec has {len(spec)} entries for "
            f"{var.ndim} axes (mesh {sizes})."
        )
    unknown = [n for entry in spec for n in _axis_names(entry) if n not in sizes]
    if unknown:
        raise InputError(
            f"{what} {_describe(var)}: sharding {spec} names mesh axes {unknown} that are not in the mesh {sizes}."
        )


def _check_divides(spec, shape, var, mesh, what):
    """Raise :class:`InputError` unless the mesh axes ``spec`` names divide ``shape``."""
    sizes = dict(mesh.shape)
    for axis, entry in enumerate(spec):
        split = math.prod(sizes[n] for n in _axis_names(entry))
        if shape[axis] % split:
            raise InputError(
                f"{what} {_describe(var)} of shape {tuple(shape)} cannot be sharded as {spec} over the mesh {sizes}: "
                f"axis {axis} has length {shape[axis]}, not a multiple of {split}. Pad it, or give it a spec that "
                f"divides its shape (e.g. shardings={{{var.name or 'name'!r}: None}} replicates it)."
            )


def _largest_divisible_axis(shape, axis_name, size):
    """ZeRO's layout: split the longest axis that the mesh axis divides; replicate when none does."""
    from jax.sharding import PartitionSpec

    candidates = [(-dim, k) for k, dim in enumerate(shape) if dim >= size and dim % size == 0]
    if not candidates:
        return PartitionSpec()
    axis = min(candidates)[1]
    return PartitionSpec(*([None] * axis), axis_name)


class DeviceFunction:
    """A compiled step whose shared state lives on JAX devices; see :func:`jax_function`.

    Calling it runs one step with the given inputs and returns the outputs (as
    JAX arrays, replicated on the mesh). The shared variables it reads or
    updates are copied to the devices at construction and by :meth:`load`, and
    back by :meth:`sync`.

    Attributes
    ----------
    shared : list of SharedVariable
        The shared variables the step reads or updates, in argument order.
    mesh : jax.sharding.Mesh
        Where everything lives (a one-device mesh unless one was given).
    partition_specs : OrderedDict
        {input or shared variable: its :class:`~jax.sharding.PartitionSpec`}.
    """

    def __init__(
        self,
        inputs,
        outputs,
        updates,
        *,
        donate=True,
        device=None,
        mesh=None,
        strategy=None,
        shardings=None,
        data_axis=None,
    ):
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        from pytensor.link.jax.dispatch import jax_funcify

        if mesh is not None and device is not None:
            raise InputError("give `device` (one device) or `mesh` (several), not both.")
        if mesh is None and (strategy is not None or shardings):
            raise InputError("`strategy` and `shardings` lay out state on a `mesh`: pass mesh=jax.sharding.Mesh(...).")
        if mesh is not None and not isinstance(mesh, Mesh):
            raise InputError(f"`mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}.")
        strategy = check_choice("strategy", "data" if strategy is None else strategy, STRATEGIES)
        rules = _check_rules(shardings)
        if mesh is None:
            mesh = Mesh(np.array([device or jax.devices()[0]]), ("data",))
        data_axis = check_choice("data_axis", mesh.axis_names[0] if data_axis is None else data_axis, mesh.axis_names)

        single = outputs is not None and not isinstance(outputs, list | tuple)
        outputs = [] if outputs is None else [outputs] if single else list(outputs)
        fn = pytensor.function(list(inputs), outputs, updates=updates, mode="JAX")
        fgraph = fn.maker.fgraph
        self._jax = jax
        self._inputs = list(inputs)
        self._n_outputs = len(outputs)
        self._single = single
        self.mesh = mesh
        self.shared = [spec.variable for spec in fn.maker.inputs[len(inputs) :]]
        for var in self.shared:
            if not isinstance(var.type, TensorType):
                raise InputError(
                    f"jax_function keeps tensors on the device; shared variable {_describe(var)} is a {var.type}."
                )
        self._update_slots = {out: inp - len(inputs) for out, inp in fgraph.update_mapping.items()}

        self.partition_specs = OrderedDict()
        for var in self._inputs:
            spec = _matching_rule(var, rules)
            self.partition_specs[var] = (
                spec if spec is not None else PartitionSpec(data_axis) if var.ndim else PartitionSpec()
            )
        owners = getattr(updates, "state_params", {})
        self._state = set(owners)
        specs = {}
        for var in sorted(self.shared, key=lambda v: v in owners):  # parameters before the state that follows them
            spec = _matching_rule(var, rules)
            owner = owners.get(var)
            if spec is None and owner in specs and self._shape(owner) == self._shape(var):
                spec = specs[owner]
            if spec is None and strategy == "zero":
                spec = _largest_divisible_axis(self._shape(var), data_axis, mesh.shape[data_axis])
            specs[var] = PartitionSpec() if spec is None else spec
        self.partition_specs.update((var, specs[var]) for var in self.shared)
        for var, spec in self.partition_specs.items():
            _check_axes(spec, var, mesh, self._what(var), None if var in self._inputs else self._shape(var))
        self._shardings = [NamedSharding(mesh, self.partition_specs[var]) for var in self._inputs + self.shared]
        replicated = NamedSharding(mesh, PartitionSpec())
        n_inputs = len(inputs)
        out_shardings = [replicated] * len(outputs) + [
            self._shardings[n_inputs + slot] for slot in self._update_slots.values()
        ]
        donated = tuple(n_inputs + slot for slot in self._update_slots.values()) if donate else ()
        graph_fn = jax_funcify(fgraph)
        self._step = jax.jit(
            lambda *args: tuple(graph_fn(*args)),
            in_shardings=tuple(self._shardings),
            out_shardings=tuple(out_shardings),
            donate_argnums=donated,
        )
        self.load()

    def _what(self, var):
        return "input" if var in self._inputs else "state variable" if var in self._state else "parameter"

    @staticmethod
    def _shape(var):
        return np.shape(var.get_value(borrow=True))

    def _place(self, value, sharding):
        """``value`` (a NumPy array held whole by every process) as a global array laid out by ``sharding``."""
        return self._jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    @property
    def device_values(self) -> OrderedDict:
        """{shared variable: its current value, a (possibly sharded) JAX array}."""
        return OrderedDict(zip(self.shared, self._values))

    def load(self) -> None:
        """Copy the shared variables' current values to the devices, each laid out by its spec."""
        n_inputs = len(self._inputs)
        values = []
        for k, var in enumerate(self.shared):
            value = np.asarray(var.get_value(borrow=True))
            _check_divides(self.partition_specs[var], value.shape, var, self.mesh, self._what(var))
            values.append(self._place(value, self._shardings[n_inputs + k]))
        self._values = values

    def sync(self) -> None:
        """Write the device values back into the shared variables (gathered from every shard and host).

        On several hosts every process must call it, as it gathers across them.
        """
        from jax.experimental import multihost_utils

        for var, value in zip(self.shared, self._values):
            whole = (
                np.asarray(value)
                if value.is_fully_addressable
                else multihost_utils.process_allgather(value, tiled=True)
            )
            var.set_value(np.asarray(whole).astype(var.dtype, copy=False), borrow=True)

    def _argument(self, var, value, sharding):
        if isinstance(value, self._jax.Array):
            return value
        value = var.type.filter(value)
        _check_divides(self.partition_specs[var], value.shape, var, self.mesh, self._what(var))
        return self._place(value, sharding)

    def __call__(self, *args):
        if len(args) != len(self._inputs):
            raise InputError(f"this function takes {len(self._inputs)} input(s), got {len(args)}.")
        placed = [self._argument(var, value, s) for var, value, s in zip(self._inputs, args, self._shardings)]
        results = self._step(*placed, *self._values)
        for out, slot in self._update_slots.items():
            self._values[slot] = results[out]
        outs = [r if r.is_fully_addressable else r.addressable_data(0) for r in results[: self._n_outputs]]
        return outs[0] if self._single else outs


def jax_function(
    inputs,
    outputs=None,
    updates=None,
    *,
    mesh=None,
    strategy=None,
    shardings=None,
    data_axis=None,
    donate=True,
    device=None,
):
    """Compile a training step whose parameters and optimizer state stay on JAX devices.

    The counterpart of :func:`pytensor.function` for JAX: the same arguments,
    the same numbers, but the shared variables live on the devices between
    calls (read back by ``.sync()``), updated in place, and optionally sharded
    over a mesh of devices and hosts.

    Parameters
    ----------
    inputs : list of Variable
        The step's inputs (data), as for :func:`pytensor.function`.
    outputs : Variable or list of Variable, optional
        What the step returns (e.g. the loss), replicated on every device.
    updates : dict, optional
        {shared variable: new value}, e.g. from :func:`symupdates.adam`.
    mesh : jax.sharding.Mesh, optional
        The devices to run on. Default: one device (``device``).
    strategy : {"data", "zero"}, default "data"
        The layout of what no rule in ``shardings`` places. Both shard the
        inputs' first (batch) axis over ``data_axis`` (scalars are replicated).
        ``"data"`` replicates parameters and state (data parallelism: XLA sums
        the gradient across the batch shards); ``"zero"`` splits every
        parameter and state variable along its longest axis that the size of
        ``data_axis`` divides, replicating those with none (ZeRO-3 style: each
        device holds and updates a slice; XLA gathers parameters where the
        loss needs them).
    shardings : dict, optional
        Rules {key: PartitionSpec} for inputs, parameters and state, tried in
        order; a key is a glob on the variable's name (``"layer1.*"``) or a
        predicate on the variable (``lambda v: v.ndim == 2``); a value is a
        :class:`~jax.sharding.PartitionSpec`, a tuple of mesh axis names, or
        ``None`` (replicated). A state variable no rule names is laid out like
        its parameter when it has the parameter's shape (moments, master
        copies); other state (factored moments, counters) follows ``strategy``.
    data_axis : str, optional
        The mesh axis of the batch (and of ZeRO's split); default the mesh's first.
    donate : bool, default True
        Donate the buffers of updated variables to XLA (in-place updates).
    device : jax.Device, optional
        Without a mesh, where the state lives; default JAX's first device.

    Returns
    -------
    DeviceFunction
        Call it with the inputs, as a compiled function. ``.sync()`` writes
        the state back to the shared variables (gathering the shards, from
        every host), ``.load()`` copies it from them again (scattering it).
        Save and restore optimizer state with ``sync()`` then
        ``updates.save(path)``, and ``updates.load(path)`` then ``load()``.

    Raises
    ------
    InputError
        At construction, when a spec does not divide the shape of a parameter
        or state variable, or names an axis the mesh lacks (the message gives
        the variable, its shape and the mesh); at a call, the same for an input.

    Notes
    -----
    On several hosts, call :func:`jax.distributed.initialize` first, build the
    mesh over ``jax.devices()`` (all hosts' devices), and run the same program
    in every process: each process passes the whole batch (or a global
    :class:`jax.Array` made with ``jax.make_array_from_process_local_data``)
    and ``sync()`` is a collective that every process calls.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt, symupdates
    >>> w = pytensor.shared(np.zeros(3), name="w")
    >>> x = pt.vector("x")
    >>> loss = ((w - x) ** 2).sum()
    >>> step = symupdates.jax_function([x], loss, symupdates.sgd(loss, [w], learning_rate=0.1))
    >>> for _ in range(100):
    ...     _ = step(np.ones(3))
    >>> step.sync()
    >>> np.round(w.get_value(), 3)
    array([1., 1., 1.])
    """
    return DeviceFunction(
        inputs,
        outputs,
        updates or {},
        donate=donate,
        device=device,
        mesh=mesh,
        strategy=strategy,
        shardings=shardings,
        data_axis=data_axis,
    )
