"""Linear pieces: constant scaling, the learning rate, weight decay, per-parameter multipliers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pytensor.scalar as ps
from pytensor.graph.basic import Variable
from pytensor.tensor.elemwise import DimShuffle, Elemwise

from symupdates.core.checks import InputError, check_nonnegative, check_scalar, constant_value
from symupdates.core.transform import Transform

__all__ = ["scale", "scale_by_learning_rate", "add_decayed_weights"]


def resolve_per_param(spec, ctx, what: str, default=1.0) -> list:
    """Per-target factors from ``spec``: a dict {param or name: value}, a callable(param), or None."""
    if spec is None:
        return [default] * len(ctx.params)
    if callable(spec) and not isinstance(spec, Mapping):
        return [spec(p) for p in ctx.params]
    if not isinstance(spec, Mapping):
        raise InputError(f"`{what}` must be a dict {{parameter or name: value}} or a callable(parameter).")
    by_name = {name: i for i, name in enumerate(ctx.param_names)}
    by_id = {id(p): i for i, p in enumerate(ctx.params)}
    values = [default] * len(ctx.params)
    for key, value in spec.items():
        i = by_id.get(id(key)) if isinstance(key, Variable) else by_name.get(key)
        if i is None:
            raise InputError(
                f"`{what}` names {key!r}, which is not one of the parameters being optimized "
                f"({', '.join(ctx.param_names)})."
            )
        values[i] = value
    return values


def _checked_factor(what, value):
    if isinstance(value, bool):
        return float(value)
    return check_scalar(what, value, 0.0, None, schedulable=False)


@dataclasses.dataclass(frozen=True)
class Scale(Transform):
    factor: object = 1.0
    name = "scale"

    def __post_init__(self):
        check_scalar("factor", self.factor)

    def build(self, ctx, directions):
        return [ctx.hyper(self.factor, u.dtype) * u for u in directions]


def scale(factor) -> Transform:
    r"""Multiply every update by ``factor``: :math:`u \leftarrow s\,u`.

    Used for ``rescale_grad`` (MXNet) and, with ``factor=-1``, for ``maximize``.

    Parameters
    ----------
    factor : float, symbolic scalar or schedule
        :math:`s`.
    """
    return Scale(factor)


def _scalar_factor(x):
    """The 0-d variable ``x`` is, or is broadcast from; ``None`` if it is not a scalar."""
    if x.ndim == 0:
        return x
    node = x.owner
    if node is not None and isinstance(node.op, DimShuffle) and node.inputs[0].ndim == 0:
        return node.inputs[0]
    return None


def _elemwise(x, scalar_op):
    node = x.owner
    return node is not None and isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, scalar_op)


def _scaled(x) -> bool:
    """Whether ``x`` is ``c * y`` with a scalar ``c``."""
    return _elemwise(x, ps.Mul) and len(x.owner.inputs) == 2 and _scalar_factor(x.owner.inputs[0]) is not None


def _scalar_product(s, c):
    """``s * c`` for scalars, with ``s * (a / b)`` as ``(s * a) / b`` (``s / b`` when ``a`` is 1).

    PyMC and Lasagne write Adam's coefficient ``lr * sqrt(1 - b2**t) / (1 - b1**t)``
    and Adamax's ``lr / (1 - b1**t)``: this keeps their order of operations.
    """
    if _elemwise(c, ps.TrueDiv):
        a, b = c.owner.inputs
        return (s if constant_value(a) == 1 else s * a) / b
    return s * c


def fold_scale(s, u):
    """``s * u`` for a scalar ``s``, folded into ``u`` where that costs nothing per element.

    ``s * (c * y)`` with a scalar ``c`` becomes ``(s * c) * y`` (one multiplication
    per element saved), and ``s * (g / d)`` becomes ``(s * g) / d`` when ``g`` is
    not itself a product: the order in which PyMC and Lasagne write
    ``lr * g / sqrt(...)``, so their numbers are reproduced to the last bit on
    every backend. Anything else is ``s * u``.
    """
    if _scaled(u):
        c, y = u.owner.inputs
        return _scalar_product(s, _scalar_factor(c)) * y
    if _elemwise(u, ps.TrueDiv):
        numerator, denominator = u.owner.inputs
        if _scaled(numerator) or not _elemwise(numerator, ps.Mul):
            return fold_scale(s, numerator) / denominator if _scaled(numerator) else (s * numerator) / denominator
    return s * u


@dataclasses.dataclass(frozen=True)
class ScaleByLearningRate(Transform):
    learning_rate: object = 1e-3
    multipliers: object = None
    name = "learning_rate"
    labelled = False

    def __post_init__(self):
        check_nonnegative("learning_rate", self.learning_rate)

    def build(self, ctx, directions):
        if constant_value(self.learning_rate) is None:
            # a schedule, plateau or symbolic rate: keep the value this step uses, for trackers
            used = ctx.scalar_state("learning_rate", np.nan, "float64", kind="learning_rate")
            ctx.set(used, ctx.hyper(self.learning_rate, "float64"))
        else:
            ctx.constant_learning_rates.append(constant_value(self.learning_rate))
        mults = resolve_per_param(self.multipliers, ctx, "lr_mult")
        out = []
        for u, mult in zip(directions, mults):
            lr = ctx.hyper(self.learning_rate, u.dtype)
            mult = _checked_factor("lr_mult", mult)
            if constant_value(mult) != 1.0:
                lr = lr * ctx.hyper(mult, u.dtype)
            out.append(fold_scale(lr, u))
        return out


def scale_by_learning_rate(learning_rate, *, multipliers=None) -> Transform:
    r"""Multiply by the learning rate: :math:`u \leftarrow \eta\, m_p\, u`.

    Parameters
    ----------
    learning_rate : float, symbolic scalar, shared variable or schedule
        :math:`\eta`; a schedule (callable of the int64 step counter) is read at the
        step being taken, so the first update uses ``schedule(0)``.
        Unless it is a constant, the value each step uses is kept in the float64
        state ``{optimizer}.learning_rate`` (NaN before the first step);
        :attr:`Updates.learning_rate <symupdates.Updates.learning_rate>` returns it,
        or the constant.
    multipliers : dict or callable, optional
        Per-parameter factors :math:`m_p` (MXNet ``lr_mult``): {parameter or
        name: factor} or callable(parameter) -> factor. Default 1.
    """
    return ScaleByLearningRate(learning_rate, multipliers)


@dataclasses.dataclass(frozen=True)
class AddDecayedWeights(Transform):
    weight_decay: object = 0.0
    mask: object = None
    multipliers: object = None
    name = "weight_decay"
    labelled = False

    def __post_init__(self):
        check_nonnegative("weight_decay", self.weight_decay)

    def build(self, ctx, directions):
        mults = resolve_per_param(self.multipliers, ctx, "wd_mult")
        masks = resolve_per_param(self.mask, ctx, "weight_decay_mask", default=True)
        out = []
        for target, u, mult, keep in zip(ctx.targets, directions, mults, masks):
            mult = _checked_factor("wd_mult", mult)
            if not keep or constant_value(mult) == 0.0:
                out.append(u)
                continue
            wd = ctx.hyper(self.weight_decay, u.dtype)
            if constant_value(mult) != 1.0:
                wd = wd * ctx.hyper(mult, u.dtype)
            out.append(u + wd * target)
        return out


def add_decayed_weights(weight_decay, *, mask=None, multipliers=None) -> Transform:
    r"""Add the parameter, scaled: :math:`u \leftarrow u + \lambda\, m_p\, p`.

    Before an adaptive scaling this is coupled L2 regularisation (torch
    ``weight_decay``, MXNet ``wd``); after it and before the learning rate it is
    decoupled weight decay, :math:`p \leftarrow p - \eta\lambda p - \eta u`
    (Loshchilov & Hutter, 2019; torch.optim.AdamW).

    Parameters
    ----------
    weight_decay : float, symbolic scalar or schedule
        :math:`\lambda \ge 0`.
    mask : dict or callable, optional
        Which parameters decay: callable(parameter) -> bool or {parameter or
        name: bool}; unlisted parameters decay. E.g. ``lambda p: p.ndim >= 2``
        excludes biases.
    multipliers : dict or callable, optional
        Per-parameter factors :math:`m_p` (MXNet ``wd_mult``).
    """
    return AddDecayedWeights(weight_decay, mask, multipliers)
