"""Sums, means, zero tests and remainders that compile on every backend.

Sums and means keep their input's dtype on every backend.

A float16/float32 reduction accumulates in float64 (as PyTensor's C backend
does by default) and is rounded once to the input's dtype by an explicit cast.
PyTensor's JAX backend (2.38 and 3.0) returns the float64 accumulator of
``Sum{acc=float64}`` without rounding it, which would silently turn float32
parameters into float64 ones; the explicit cast keeps every backend exact.

float16 inputs take another road. PyTensor's C backend (2.38, and 3.x's
``CVM``) fuses the element-wise operation that produces a sum's input into the
sum (``local_careduce_fusion``) and then computes it on ``npy_half`` values
as if they were integers: ``(x ** 2).sum()`` of a float16 ``x`` comes out
negative. A float16 sum is therefore a float32 matrix-vector product with a
vector of ones, which no rewrite fuses.

Zero tests and remainders of the counters and norms are written with Ops that
every backend converts: PyTensor's PyTorch backend (2.38 and 3.0) turns
``Eq`` into ``torch.equal``, which compares whole tensors and returns one
Python bool, and neither the PyTorch backend nor 2.38's MLX backend has ``Mod``. The
replacements give the same booleans and integers on every backend, so they
change no number (``tests/pymc/test_bits.py`` holds the C backend to PyMC's bits).
"""

from __future__ import annotations

import pytensor.tensor as pt

__all__ = ["total", "mean", "is_zero", "remainder"]


def _accumulator(dtype: str) -> str:
    return "float64" if dtype in ("float16", "float32") else dtype


def _rounded(reduced, dtype):
    return reduced if reduced.dtype == dtype else pt.cast(reduced, dtype)


def _axes(x, axis) -> tuple:
    if axis is None:
        return tuple(range(x.ndim))
    return tuple(sorted(a % x.ndim for a in (axis if isinstance(axis, tuple | list) else (axis,))))


def _float16_sum(x, axis, keepdims):
    """The sum of float16 ``x`` over ``axis`` as a float32 product with ones (see the module docstring)."""
    axes = _axes(x, axis)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = pt.cast(x, "float32").transpose(*kept, *axes)
    flat = moved.reshape((*[moved.shape[k] for k in range(len(kept))], -1), ndim=len(kept) + 1)
    summed = pt.dot(flat, pt.ones((flat.shape[-1],), dtype="float32"))
    return pt.expand_dims(summed, axes) if keepdims else summed


def total(x, axis=None, keepdims=False):
    """``x.sum(axis)`` accumulated in float64 (float16: float32), returned in ``x``'s dtype."""
    if x.dtype == "float16":
        return _rounded(_float16_sum(x, axis, keepdims), x.dtype)
    return _rounded(pt.sum(x, axis=axis, keepdims=keepdims, dtype=_accumulator(x.dtype)), x.dtype)


def mean(x, axis=None, keepdims=False):
    """``x.mean(axis)`` accumulated in float64 (float16: float32), returned in ``x``'s dtype."""
    if x.dtype == "float16":
        count = pt.prod([x.shape[a] for a in _axes(x, axis)]) if x.ndim else 1
        return _rounded(_float16_sum(x, axis, keepdims) / pt.cast(count, "float32"), x.dtype)
    return _rounded(pt.mean(x, axis=axis, keepdims=keepdims, dtype=_accumulator(x.dtype)), x.dtype)


def is_zero(x):
    """``x == 0`` for an ``x`` that is never negative (a norm, a step count), as ``x <= 0``.

    The same booleans as ``pt.eq(x, 0)``, NaN included (both false); see the module docstring for why.
    """
    return pt.le(x, 0)


def remainder(x, k):
    """``x % k`` for integers ``x >= 0`` and ``k >= 1``, as ``x - (x // k) * k`` (see the module docstring)."""
    return x - (x // k) * k
