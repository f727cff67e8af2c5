"""Device-resident compiled steps: parameters and optimizer state stay on the JAX device.

``pytensor.function(..., mode="JAX")`` copies every shared variable from host
memory to the device and back on every call. :func:`compile` converts the same
graph, after the JAX mode's own rewrites, with PyTensor's JAX dispatch
(``jax_funcify``), makes the shared variables explicit arguments and results,
keeps their values as JAX arrays on the device between calls, and donates the
buffers of the variables it updates so XLA updates them in place. The shared
variables are written back only when asked (:meth:`DeviceFunction.sync`).
"""

from __future__ import annotations

import numpy as np
import pytensor

from symupdates.core.checks import InputError, check_choice

__all__ = ["compile", "DeviceFunction"]


class DeviceFunction:
    """A compiled step whose shared state lives on a JAX device; see :func:`compile`.

    Calling it runs one step with the given inputs and returns the outputs
    (as JAX arrays). The shared variables it reads or updates are copied to the
    device once, at construction or by :meth:`load`, and back by :meth:`sync`.
    """

    def __init__(self, inputs, outputs, updates, donate: bool = True, device=None):
        import jax
        from pytensor.link.jax.dispatch import jax_funcify

        single = outputs is not None and not isinstance(outputs, list | tuple)
        outputs = [] if outputs is None else [outputs] if single else list(outputs)
        fn = pytensor.function(list(inputs), outputs, updates=updates, mode="JAX")
        fgraph = fn.maker.fgraph
        self._n_inputs = len(inputs)
        self._n_outputs = len(outputs)
        self._single = single
        #: The shared variables the step reads or updates, in argument order.
        self.shared = [spec.variable for spec in fn.maker.inputs[self._n_inputs :]]
        self._update_slots = {out: inp - self._n_inputs for out, inp in fgraph.update_mapping.items()}
        donated = tuple(self._n_inputs + slot for slot in self._update_slots.values()) if donate else ()
        self._jax = jax
        self._device = device
        self._step = jax.jit(jax_funcify(fgraph), donate_argnums=donated)
        self.load()

    def load(self) -> None:
        """Copy the shared variables' current values to the device."""
        self._values = [self._jax.device_put(np.asarray(v.get_value(borrow=True)), self._device) for v in self.shared]

    def sync(self) -> None:
        """Write the device values back into the shared variables."""
        for var, value in zip(self.shared, self._values):
            var.set_value(np.asarray(value).astype(var.dtype, copy=False), borrow=True)

    def __call__(self, *args):
        if len(args) != self._n_inputs:
            raise InputError(f"this function takes {self._n_inputs} input(s), got {len(args)}.")
        results = self._step(*args, *self._values)
        for out, slot in self._update_slots.items():
            self._values[slot] = results[out]
        outs = list(results[: self._n_outputs])
        return outs[0] if self._single else outs


def compile(inputs, outputs=None, updates=None, *, backend: str = "jax", donate: bool = True, device=None):
    """Compile a training step whose parameters and optimizer state stay on the device.

    Parameters
    ----------
    inputs : list of Variable
        The step's inputs (data), as for :func:`pytensor.function`.
    outputs : Variable or list of Variable, optional
        What the step returns (e.g. the loss).
    updates : dict, optional
        {shared variable: new value}, e.g. from :func:`symupdates.adam`.
    backend : {"jax"}
        The backend; only JAX today.
    donate : bool, default True
        Donate the buffers of updated variables to XLA (in-place updates).
    device : jax.Device, optional
        Where the state lives; default JAX's default device.

    Returns
    -------
    DeviceFunction
        Call it like a compiled function; ``.sync()`` writes the state back to
        the shared variables, ``.load()`` reads it from them again.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt, symupdates
    >>> w = pytensor.shared(np.zeros(3), name="w")
    >>> x = pt.vector("x")
    >>> loss = ((w - x) ** 2).sum()
    >>> step = symupdates.compile([x], loss, symupdates.sgd(loss, [w], learning_rate=0.1))
    >>> for _ in range(100):
    ...     _ = step(np.ones(3))
    >>> step.sync()
    >>> np.round(w.get_value(), 3)
    array([1., 1., 1.])
    """
    check_choice("backend", backend, ("jax",))
    return DeviceFunction(inputs, outputs, updates or {}, donate=donate, device=device)
