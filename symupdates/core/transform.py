"""The algebra every optimizer is built from.

A :class:`Transform` maps one expression per parameter (at first the
gradients) to new expressions of the same shape and dtype, creating whatever
state it needs through a :class:`BuildContext`. Transforms compose with
:func:`chain`. Applying a transform to ``(loss_or_grads, params)`` runs the
data path once, in this order:

1. gradients are computed (or checked) per parameter;
2. the transforms run in chain order, turning gradients into directions and,
   at the learning rate, into steps ``u``;
3. each parameter becomes ``p - u``, then the new-value hooks apply
   (:func:`symupdates.clip_weights`, PyMC's momentum, averages);
4. finishers rewrite the whole update set (the gate of
   :func:`symupdates.multi_steps`, :func:`symupdates.skip_nonfinite`).

Directions keep the sign of a gradient: a transform receives and returns descent
directions, and the parameter moves *against* them. Gradients and steps are
kept as their own expressions, never encoded in a parameter and read back.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import ClassVar

import pytensor.tensor as pt

from symupdates.core.checks import InputError
from symupdates.core.context import BuildContext
from symupdates.core.gradients import checked_grads
from symupdates.core.state import Updates

__all__ = ["Transform", "Wrapper", "chain", "apply", "identity", "as_transform", "parts"]


class Transform:
    """A gradient transformation: one expression per parameter in, one out.

    Subclasses implement :meth:`build`. A transform is itself an optimizer
    factory: ``transform(loss_or_grads, params)`` returns the updates
    (an :class:`~symupdates.core.state.Updates` ordered dict) and every call creates
    fresh state.
    """

    name = "transform"
    #: Whether the transform names its own state (chains and wrappers do not).
    labelled = True
    #: Names :func:`~symupdates.core.explain.explain` prints for fields that the optimizers'
    #: arguments call otherwise ({field: argument}, e.g. ``{"decay": "momentum"}``).
    symbol_names: ClassVar[dict[str, str]] = {}

    def build(self, ctx: BuildContext, directions: list) -> list:  # pragma: no cover - abstract
        """Map the directions (one per target, in order) to new ones, making state through ``ctx``."""
        raise NotImplementedError

    def __call__(self, loss_or_grads=None, params=None, *, name: str | None = None):
        if loss_or_grads is None and params is None:
            if name is not None:
                raise InputError("`name` names the state of an update set: pass it with `loss_or_grads` and `params`.")
            return self
        return apply(self, loss_or_grads, params, name=name)


class Wrapper(Transform):
    """A transform that wraps another, ``inner``, and takes its name (guards, accumulation, averages).

    Subclasses are frozen dataclasses whose first field is ``inner``; they
    call ``super().__post_init__()`` when they define their own.
    """

    inner: Transform
    labelled = False

    def __post_init__(self):
        if not isinstance(self.inner, Transform):
            raise InputError(
                f"{type(self).__name__} wraps a transform, got {self.inner!r}; "
                "use symupdates.as_transform(optimizer) for a named optimizer or a factory."
            )

    @property
    def name(self):
        return self.inner.name


def as_transform(optimizer) -> Transform:
    """The :class:`Transform` behind ``optimizer``.

    Accepts a transform, a named optimizer (``symupdates.adam``) or its factory
    (``symupdates.adam(learning_rate=0.01)``, made with keywords).
    """
    if isinstance(optimizer, Transform):
        return optimizer
    if isinstance(optimizer, functools.partial) and hasattr(optimizer.func, "transform"):
        if optimizer.args:
            raise InputError("give a factory made with keywords, e.g. symupdates.adam(learning_rate=0.01).")
        return optimizer.func.transform(**optimizer.keywords)
    if callable(optimizer) and hasattr(optimizer, "transform"):
        return optimizer.transform()
    raise InputError(
        "expected a symupdates optimizer to wrap: a transform, a named optimizer such as symupdates.adam, "
        f"or a factory such as symupdates.adam(learning_rate=0.01); got {optimizer!r}."
    )


def apply(transform: Transform, loss_or_grads, params, *, loss=None, name: str | None = None) -> Updates:
    """Run the data path of :mod:`symupdates.core` and return the updates.

    ``loss`` gives the scalar loss when ``loss_or_grads`` are gradients (it is
    taken from ``loss_or_grads`` otherwise); it reaches transforms as ``ctx.loss``.
    ``name`` is put before every state name (``encoder.W.adam.m``,
    ``encoder.adam.step``), so that several update sets can live in one function.
    """
    if loss_or_grads is None or params is None:
        raise ValueError("Please provide both `loss_or_grads` and `params` to get updates.")
    if name is not None and (not isinstance(name, str) or not name):
        raise InputError(f"`name` must be a non-empty string, got {name!r}.")
    params, grads = checked_grads(loss_or_grads, params)
    ctx = BuildContext(params, grads, transform.name, prefix=name)
    if loss is None and not isinstance(loss_or_grads, list | tuple):
        loss = loss_or_grads
    if loss is not None:
        loss = pt.as_tensor_variable(loss)
        if loss.ndim != 0:
            raise InputError(f"`loss` must be a scalar, got {loss.type}.")
        ctx.loss = loss
    steps = ctx.run(transform, grads)
    return ctx.finalize(steps)


@dataclasses.dataclass(frozen=True)
class Chain(Transform):
    """Transforms applied one after the other; see :func:`chain`."""

    transforms: tuple
    name: str = "chain"
    labelled = False

    def build(self, ctx, directions):
        for t in self.transforms:
            directions = ctx.run(t, directions)
        return directions


def chain(*transforms: Transform | None, name: str = "chain") -> Transform:
    """Compose transforms left to right.

    ``chain(a, b)(loss, params)`` feeds the gradients to ``a``, its output to
    ``b``, and moves each parameter by minus the result. ``None`` entries are
    skipped, so optional pieces can be written inline.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.ones(3), name="w")
    >>> opt = su.chain(su.clip_global_norm(1.0), su.scale_by_adam(), su.scale_by_learning_rate(1e-3))
    >>> updates = opt((w ** 2).sum(), [w])
    >>> [v.name for v in updates]
    ['w', 'w.adam.m', 'w.adam.v', 'chain.step']
    """
    parts: list[Transform] = []
    for t in transforms:
        if t is None:
            continue
        if not isinstance(t, Transform):
            raise InputError(f"chain() takes transforms, got {t!r}.")
        parts.extend(t.transforms if isinstance(t, Chain) and t.name == "chain" else [t])
    if len(parts) == 1 and name == "chain":
        return parts[0]
    return Chain(tuple(parts), name)


@dataclasses.dataclass(frozen=True)
class Identity(Transform):
    """Pass updates through unchanged."""

    name = "identity"

    def build(self, ctx, directions):
        return directions


def identity() -> Transform:
    """The transform that changes nothing: plain gradient descent before scaling."""
    return Identity()


def parts(transform: Transform) -> Iterator[Transform]:
    """``transform`` and every transform nested in its fields (chains, wrappers), depth first."""
    stack: list = [transform]
    while stack:
        obj = stack.pop()
        if isinstance(obj, Transform):
            yield obj
            if dataclasses.is_dataclass(obj):
                stack.extend(getattr(obj, field.name) for field in reversed(dataclasses.fields(obj)))
        elif isinstance(obj, tuple | list):
            stack.extend(reversed(obj))
