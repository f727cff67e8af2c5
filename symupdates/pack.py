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
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import clone_replace
from pytensor.tensor.basic import split

from symupdates.core.checks import InputError
from symupdates.core.gradients import check_params

__all__ = ["pack", "Packed"]


class Packed:
    """Parameters packed into one flat shared vector; see :func:`pack`."""

    def __init__(self, params, name: str):
        self.params = check_params(params)
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise InputError(f"pack() needs parameters of one dtype, got {sorted(dtypes)}; pack each dtype separately.")
        values = [np.asarray(p.get_value(borrow=True)) for p in self.params]
        self._shapes = [v.shape for v in values]
        sizes = [int(v.size) for v in values]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        total = int(self._offsets[-1])
        #: The flat shared vector holding every parameter; optimize this one.
        self.flat = pytensor.shared(
            np.concatenate([v.ravel() for v in values]) if values else np.zeros(0), name=name, shape=(total,)
        )
        pieces = _pieces(self.flat, sizes)
        #: Each parameter as a reshaped piece of :attr:`flat`, with its static shape.
        self.views = [
            pt.specify_shape(piece.reshape(shape), p.type.shape)
            for p, piece, shape in zip(self.params, pieces, self._shapes)
        ]
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
        i = self._slot(param)
        a, b = self._offsets[i], self._offsets[i + 1]
        return np.array(self.flat.get_value(borrow=True)[a:b]).reshape(self._shapes[i])

    def write(self, param, value) -> None:
        """Set the value of ``param`` inside :attr:`flat`."""
        i = self._slot(param)
        value = np.asarray(value, dtype=self.flat.dtype)
        if value.shape != self._shapes[i]:
            raise InputError(f"value for {param.name or param} has shape {value.shape}, expected {self._shapes[i]}.")
        flat = self.flat.get_value()
        flat[self._offsets[i] : self._offsets[i + 1]] = value.ravel()
        self.flat.set_value(flat, borrow=True)

    def unpack(self) -> None:
        """Copy every parameter's value from :attr:`flat` back into its own shared variable."""
        for p in self.params:
            p.set_value(self.read(p))


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
