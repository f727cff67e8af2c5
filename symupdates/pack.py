"""Pack many parameters into one flat shared vector, so that a step is one long loop.

With hundreds or thousands of small tensors a step is dominated by per-tensor
overhead (one loop, one kernel, one state buffer each). :func:`pack` makes
the parameters reshaped slices of a single flat shared vector *inside the loss
graph*: the gradient is then taken directly with respect to the flat vector,
and any optimizer updates it, its gradient and its state as three or four long
arrays. PyMC's ADVI already keeps its parameters flat this way.

Element-wise optimizers give the same numbers packed or not. Options and
optimizers that look at whole tensors (``clip_norm``, LAMB/LARS trust ratios,
Adafactor's factored moments, per-parameter ``lr_mult``/``wd_mult`` and decay
masks) see one tensor when packed: apply them before packing, or not at all.

Where the model is written for it, :func:`flat_parameters` creates the
parameters as views of one flat vector from the start, from a dict of names
and initial values: the loss is built on the views directly and nothing is
replaced. Both give one gradient vector, so every optimizer runs one loop on
every backend.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import clone_replace
from pytensor.tensor.basic import split

from symupdates.core.checks import InputError
from symupdates.core.gradients import check_params

__all__ = ["pack", "Packed", "flat_parameters", "FlatParameters"]


class _FlatLayout:
    """Tensors of ``shapes`` stored one after another in the shared vector :attr:`flat`."""

    def __init__(self, values: list, static_shapes: list, name: str):
        self._shapes = [v.shape for v in values]
        sizes = [int(v.size) for v in values]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        #: The flat shared vector holding every tensor; optimize this one.
        self.flat = pytensor.shared(
            np.concatenate([v.ravel() for v in values]), name=name, shape=(int(self._offsets[-1]),)
        )
        #: Each tensor as a reshaped piece of :attr:`flat`, with its static shape.
        self.views = [
            pt.specify_shape(piece.reshape(shape), static)
            for piece, shape, static in zip(_pieces(self.flat, sizes), self._shapes, static_shapes)
        ]

    def _read(self, i: int) -> np.ndarray:
        a, b = self._offsets[i], self._offsets[i + 1]
        return np.array(self.flat.get_value(borrow=True)[a:b]).reshape(self._shapes[i])

    def _write(self, i: int, value, label: str) -> None:
        value = np.asarray(value, dtype=self.flat.dtype)
        if value.shape != self._shapes[i]:
            raise InputError(f"value for {label} has shape {value.shape}, expected {self._shapes[i]}.")
        flat = self.flat.get_value()
        flat[self._offsets[i] : self._offsets[i + 1]] = value.ravel()
        self.flat.set_value(flat, borrow=True)


class Packed(_FlatLayout):
    """Parameters packed into one flat shared vector; see :func:`pack`."""

    def __init__(self, params, name: str):
        self.params = check_params(params)
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise InputError(f"pack() needs parameters of one dtype, got {sorted(dtypes)}; pack each dtype separately.")
        values = [np.asarray(p.get_value(borrow=True)) for p in self.params]
        super().__init__(values, [p.type.shape for p in self.params], name)
        self._index = {id(p): i for i, p in enumerate(self.params)}

    @property
    def replacements(self) -> dict:
        """{parameter: its view of :attr:`flat`}, for ``clone_replace`` or ``givens``."""
        return dict(zip(self.params, self.views))

    def replace(self, expr):
        """``expr`` (or a list of expressions) with every parameter read from :attr:`flat`."""
        return clone_replace(expr, replace=self.replacements)

    def _slot(self, param) -> int:
        try:
            return self._index[id(param)]
        except KeyError:
            raise InputError(f"{param!r} is not one of the packed parameters.") from None

    def read(self, param) -> np.ndarray:
        """The current value of ``param`` inside :attr:`flat` (a copy)."""
        return self._read(self._slot(param))

    def write(self, param, value) -> None:
        """Set the value of ``param`` inside :attr:`flat`."""
        self._write(self._slot(param), value, param.name or str(param))

    def unpack(self) -> None:
        """Copy every parameter's value from :attr:`flat` back into its own shared variable."""
        for p in self.params:
            p.set_value(self.read(p))


class FlatParameters(_FlatLayout, Mapping):
    """Named parameters created as views of one flat shared vector; see :func:`flat_parameters`.

    A read-only mapping {name: symbolic view} to build the loss on, with
    :attr:`flat` the one shared vector to optimize.
    """

    def __init__(self, values: Mapping, dtype, name: str):
        if not isinstance(values, Mapping) or not values:
            raise InputError(
                "flat_parameters() takes a non-empty dict {name: initial value}, e.g. "
                "{'W': np.zeros((3, 2)), 'b': np.zeros(2)}."
            )
        arrays = {str(k): np.asarray(v) for k, v in values.items()}
        if dtype is None:
            dtypes = {a.dtype for a in arrays.values()}
            if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
                found = ", ".join(f"{k}: {a.dtype}" for k, a in arrays.items())
                raise InputError(
                    f"flat_parameters() needs initial values of one float dtype, got {found}; "
                    "cast them, or pass dtype='float32' (or 'float64')."
                )
            dtype = next(iter(dtypes))
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise InputError(f"flat_parameters(dtype={dtype}): parameters need a float dtype.")
        arrays = {k: a.astype(dtype, copy=False) for k, a in arrays.items()}
        super().__init__(list(arrays.values()), [a.shape for a in arrays.values()], name)
        self._index = {k: i for i, k in enumerate(arrays)}
        for k, view in zip(arrays, self.views):
            view.name = f"{name}[{k}]"

    def _slot(self, key: str) -> int:
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"{key!r} is not one of the parameters {list(self._index)}.") from None

    def __getitem__(self, key: str):
        return self.views[self._slot(key)]

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_value(self, key: str) -> np.ndarray:
        """The current value of parameter ``key`` (a copy)."""
        return self._read(self._slot(key))

    def set_value(self, key: str, value) -> None:
        """Set the value of parameter ``key`` inside :attr:`flat`."""
        self._write(self._slot(key), value, repr(key))

    def get_values(self) -> dict:
        """{name: current value} of every parameter (copies)."""
        return {k: self._read(i) for k, i in self._index.items()}

    def set_values(self, values: Mapping) -> None:
        """Set several parameters from {name: value}."""
        for k, v in values.items():
            self.set_value(k, v)


#: Most pieces one Split node makes. PyTensor's C backend compiles one module per
#: number of pieces (a Split or Join of 2,000 took minutes of gcc on a 2-core
#: machine), so Splits come in power-of-two arities up to this one and a module
#: compiled once serves every model.
SPLIT_ARITY = 64


def _pieces(flat, sizes: list) -> list:
    """Views of the vector ``flat`` of lengths ``sizes``, made by a tree of Splits.

    A Split (a view, no copy) rather than a slice per parameter keeps the number of
    nodes to rewrite near ``len(sizes)`` and makes the gradient with respect to
    ``flat`` a few Joins instead of a chain of increments of a zero vector, one
    per parameter. Each Split has a power-of-two arity of at most
    :data:`SPLIT_ARITY`, padded with empty pieces.
    """
    if len(sizes) <= 1:
        return [flat] * len(sizes)
    if len(sizes) > SPLIT_ARITY:
        groups = [sizes[i : i + SPLIT_ARITY] for i in range(0, len(sizes), SPLIT_ARITY)]
        views = _pieces(flat, [sum(g) for g in groups])
        return [piece for view, group in zip(views, groups) for piece in _pieces(view, group)]
    arity = 1 << (len(sizes) - 1).bit_length()
    return split(flat, sizes + [0] * (arity - len(sizes)))[: len(sizes)]


def pack(params, name: str = "packed") -> Packed:
    """Pack ``params`` (shared tensors of one dtype) into one flat shared vector.

    Parameters
    ----------
    params : list of shared variables
    name : str, default "packed"
        Name of the flat vector (and so the prefix of its optimizer state).

    Returns
    -------
    Packed
        ``.flat`` (the vector to optimize), ``.replace(loss)`` (the loss
        reading the parameters from it), ``.read``/``.write`` of single
        parameters, ``.unpack()`` to copy values back.

    Examples
    --------
    >>> import numpy as np, pytensor, symupdates
    >>> W = pytensor.shared(np.ones((2, 3)), name="W")
    >>> b = pytensor.shared(np.zeros(3), name="b")
    >>> loss = ((W.sum(axis=0) + b - 1.0) ** 2).sum()
    >>> packed = symupdates.pack([W, b])
    >>> updates = symupdates.adam(packed.replace(loss), [packed.flat], learning_rate=0.1)
    >>> step = pytensor.function([], [], updates=updates)
    >>> step()
    >>> packed.read(b).shape
    (3,)
    """
    return Packed(params, name)


def flat_parameters(values: Mapping, dtype=None, name: str = "params") -> FlatParameters:
    """Create named parameters as reshaped views of one flat shared vector.

    Build the loss on ``params[name]``; optimize ``params.flat``. The gradient
    is then one vector and a step one loop, whatever the number of tensors, on
    every backend; there is no model to rewrite, as with :func:`pack`.

    Parameters
    ----------
    values : dict {str: array_like}
        Each parameter's name and initial value (its shape is the value's shape).
    dtype : str or numpy dtype, optional
        The parameters' dtype; by default the initial values' one (which must be
        one float dtype).
    name : str, default "params"
        Name of the flat vector, and so the prefix of its optimizer state.

    Returns
    -------
    FlatParameters
        A mapping {name: symbolic view}, with ``.flat`` (the shared vector),
        ``.get_value(name)``/``.set_value(name, value)``, ``.get_values()`` and
        ``.set_values(dict)``.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt, symupdates
    >>> params = symupdates.flat_parameters({"W": np.ones((2, 3)), "b": np.zeros(3)})
    >>> x = pt.vector("x")
    >>> loss = ((x @ params["W"] + params["b"] - 1.0) ** 2).sum()
    >>> step = pytensor.function([x], loss, updates=symupdates.adam(loss, [params.flat], learning_rate=0.1))
    >>> float(step(np.ones(2)))
    3.0
    >>> params.get_value("b").shape
    (3,)
    """
    return FlatParameters(values, dtype, name)
