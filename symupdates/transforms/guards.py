"""Wrappers that guard a whole transform: non-finite steps, float16 master copies."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_int
from symupdates.core.context import hold
from symupdates.core.transform import Transform, Wrapper

__all__ = ["skip_nonfinite", "multi_precision"]


#: Non-finite steps in a row that :func:`skip_nonfinite` skips by default before it gives up.
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5


@dataclasses.dataclass(frozen=True)
class SkipNonFinite(Wrapper):
    inner: Transform
    max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS

    def __post_init__(self):
        super().__post_init__()
        check_int("max_consecutive_errors", self.max_consecutive_errors, 1)

    def build(self, ctx, directions):
        out = ctx.run(self.inner, directions)
        consecutive = ctx.scalar_state("consecutive_nonfinite", 0, "int64")
        skipped = ctx.scalar_state("skipped", 0, "int64", kind="skipped")
        grads = list(ctx.grads)

        def guard(updates, written):
            # pt.isfinite is missing from PyTensor 2.38, and pt.and_ takes two arguments in 3.x.
            finite = [~pt.any(pt.isnan(x) | pt.isinf(x)) for x in [*grads, *written]]
            ok = functools.reduce(pt.and_, finite)
            new_consecutive = pt.switch(ok, 0, consecutive + 1).astype("int64")
            applied = pt.or_(ok, pt.gt(new_consecutive, self.max_consecutive_errors))
            guarded = hold(updates, applied)
            guarded[consecutive] = new_consecutive
            guarded[skipped] = skipped + pt.switch(applied, 0, 1).astype("int64")
            return guarded

        ctx.finish_with(guard)
        return out


def skip_nonfinite(inner: Transform, max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS) -> Transform:
    r"""Skip a step whose gradients or new parameter values are not all finite, a few times in a row.

    If any gradient, or any resulting parameter value, is NaN or infinite, the
    step leaves every parameter *and* every state variable (moments, step
    counter) unchanged and adds one to the int64 counter ``{name}.skipped``;
    otherwise it is the step of ``inner``. The int64 counter
    ``{name}.consecutive_nonfinite`` counts the non-finite steps in a row (a
    finite step sets it to 0): once it exceeds ``max_consecutive_errors``, the
    steps go through unguarded, so the NaN reaches the parameters and the
    training fails as it would without the guard (``pm.fit`` raises its
    ``FloatingPointError``). This is optax's ``apply_if_finite``. Works on every
    backend (it is a ``switch`` in the graph). Off by default: without it a
    NaN propagates at once.

    Parameters
    ----------
    inner : Transform
    max_consecutive_errors : int, default 5
        Non-finite steps in a row that are skipped (at least 1). A transient
        cause (a bad minibatch, a rare Monte Carlo draw that overflows) seldom
        lasts several steps, while a diverged run stays non-finite: with 5 it
        fails after 6 steps instead of running on without learning.

    Returns
    -------
    Transform
        ``inner`` guarded; ``{name}.skipped`` keeps the total number of skipped steps.
    """
    return SkipNonFinite(inner, max_consecutive_errors)


def nonfinite_option(value) -> int | None:
    """The ``max_consecutive_errors`` that the named-optimizer option ``skip_nonfinite=value`` asks for.

    ``False`` is off (``None``), ``True`` the default policy, an integer
    (at least 1) the number of non-finite steps in a row to skip.
    """
    if isinstance(value, bool | np.bool_):
        return DEFAULT_MAX_CONSECUTIVE_ERRORS if value else None
    if not isinstance(value, int | np.integer):
        raise InputError(
            "`skip_nonfinite` must be True, False or the number of non-finite steps in a row to skip "
            f"(an integer >= 1), got {value!r}."
        )
    return check_int("skip_nonfinite", value, 1)


@dataclasses.dataclass(frozen=True)
class MultiPrecision(Wrapper):
    inner: Transform

    def build(self, ctx, directions):
        return ctx.run(self.inner, ctx.use_master_copies(directions))


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
