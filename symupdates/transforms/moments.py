"""Moment estimates shared by the adaptive families: moving averages, running maxima, bias corrections.

``t`` is the 1-based number of the step being taken, read from the optimizer's single int64 counter.
"""

from __future__ import annotations

import pytensor.tensor as pt

from symupdates.core.checks import constant_value, is_schedule
from symupdates.core.context import scalar_dtype

__all__ = ["coefficient", "bias_correction", "moving_average", "running_max", "rms_denominator"]


def coefficient(ctx, key, dtype, make):
    """A per-step scalar built once per dtype in the scalar dtype, then rounded to ``dtype``.

    ``make(sd)`` builds the scalar in dtype ``sd``; bias corrections and the
    like are thus computed once per step, not once per parameter.
    """

    def build():
        value = make(scalar_dtype(dtype))
        return value if value.dtype == dtype else pt.cast(value, dtype)

    return ctx.cached(("coefficient", ctx.label, key, dtype), build)


def bias_correction(ctx, beta, dtype):
    """``1 - beta**t`` in the scalar dtype ``dtype``.

    For a constant ``beta`` and a dtype narrower than float64 it is computed in float64 and
    rounded once, as :meth:`~symupdates.BuildContext.one_minus` computes ``1 - beta``: the two
    then cancel in the first step (``beta`` rounded to float32 first would make Adam's first
    float32 step 6.7e-6 short with beta2 = 0.999).
    """
    if dtype != "float64" and not is_schedule(beta) and constant_value(beta) is not None:
        return pt.cast(1 - ctx.hyper(beta, "float64") ** ctx.count("float64"), dtype)
    return 1 - ctx.hyper(beta, dtype) ** ctx.count(dtype)


def moving_average(ctx, i, role, decay, value, *, fill=0.0):
    """New state ``role`` (starting at ``fill``) holding ``decay * s + (1 - decay) * value``; returns the new value."""
    s = ctx.state(i, role, fill=fill)
    new = ctx.hyper(decay, value.dtype) * s + ctx.one_minus(decay, value.dtype) * value
    ctx.set(s, new)
    return new


def running_max(ctx, i, role, value):
    """New state ``role`` holding the element-wise running maximum of ``value``."""
    s = ctx.state(i, role)
    new = pt.maximum(s, value)
    ctx.set(s, new)
    return new


def rms_denominator(ctx, second_moment, epsilon, eps_inside_sqrt):
    """``sqrt(s + eps)`` (PyMC, Lasagne, MXNet) or ``sqrt(s) + eps`` (torch)."""
    eps = ctx.hyper(epsilon, second_moment.dtype)
    return pt.sqrt(second_moment + eps) if eps_inside_sqrt else pt.sqrt(second_moment) + eps
