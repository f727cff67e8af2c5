"""Sums and means that keep their input's dtype on every backend.

A float16/float32 reduction accumulates in float64 (as PyTensor's C backend
does by default) and is rounded once to the input's dtype by an explicit cast.
PyTensor's JAX backend (2.38 and 3.0) returns the float64 accumulator of
``Sum{acc=float64}`` without rounding it, which would silently turn float32
parameters into float64 ones; the explicit cast keeps every backend exact.
"""

from __future__ import annotations

import pytensor.tensor as pt

__all__ = ["total", "mean"]


def _accumulator(dtype: str) -> str:
    return "float64" if dtype in ("float16", "float32") else dtype


def _rounded(reduced, dtype):
    return reduced if reduced.dtype == dtype else pt.cast(reduced, dtype)


def total(x, axis=None, keepdims=False):
    """``x.sum(axis)`` accumulated in float64, returned in ``x``'s dtype."""
    return _rounded(pt.sum(x, axis=axis, keepdims=keepdims, dtype=_accumulator(x.dtype)), x.dtype)


def mean(x, axis=None, keepdims=False):
    """``x.mean(axis)`` accumulated in float64, returned in ``x``'s dtype."""
    return _rounded(pt.mean(x, axis=axis, keepdims=keepdims, dtype=_accumulator(x.dtype)), x.dtype)
