"""Wrappers that guard a whole transform: non-finite steps, float16 master copies."""

from __future__ import annotations

import dataclasses

from symupdates._checks import InputError
from symupdates.core import Transform

__all__ = ["skip_nonfinite", "multi_precision"]


def _check(inner):
    if not isinstance(inner, Transform):
        raise InputError(f"expected a transform to wrap, got {inner!r}.")
    return inner


@dataclasses.dataclass(frozen=True)
class SkipNonFinite(Transform):
    inner: Transform
    labelled = False

    def __post_init__(self):
        _check(self.inner)

    @property
    def name(self):
        return self.inner.name

    def build(self, ctx, updates):
        ctx.guard_nonfinite = True
        return ctx.run(self.inner, updates)


def skip_nonfinite(inner: Transform) -> Transform:
    r"""Skip a step whose gradients or new parameter values are not all finite.

    If any gradient, or any resulting parameter value, is NaN or infinite, the
    step leaves every parameter *and* every state variable (moments, step
    counter) unchanged and adds one to the int64 counter ``{name}.skipped``;
    otherwise it is the step of ``inner``. Works on every backend (it is a
    ``switch`` in the graph). Off by default: without it a NaN propagates.
    """
    return SkipNonFinite(inner)


@dataclasses.dataclass(frozen=True)
class MultiPrecision(Transform):
    inner: Transform
    labelled = False

    def __post_init__(self):
        _check(self.inner)

    @property
    def name(self):
        return self.inner.name

    def build(self, ctx, updates):
        return ctx.run(self.inner, ctx.use_master_copies(updates))


def multi_precision(inner: Transform) -> Transform:
    r"""Keep float32 master copies of float16 parameters (MXNet ``multi_precision``).

    Each float16 parameter :math:`p` gets a float32 copy :math:`\tilde p`
    (state ``{param}.master``). Gradients are cast to float32, ``inner`` and
    its state run in float32 on :math:`\tilde p`, and :math:`p` receives
    :math:`\tilde p` rounded to float16. Small steps that float16 would round
    away accumulate in the master. Parameters of other dtypes are unaffected.
    ``reset()`` re-reads the masters from the parameters.
    """
    return MultiPrecision(inner)
