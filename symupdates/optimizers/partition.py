"""Parameter groups: a different optimizer, or none, for each part of a model, in one update set.

:func:`partition` is torch's ``param_groups`` and optax's ``partition``: each
group selects parameters (by list, by name pattern or by predicate) and gets
its own optimizer, hyper-parameters, step counter and state, named under the
group's name. The result is one :class:`~symupdates.Updates`, so one
``pytensor.function``, one ``reset()``, one ``state_dict()`` and one
``save()`` cover every group, and ``pm.fit(obj_optimizer=...)`` takes it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from typing import Any

from symupdates.core.checks import InputError, check_nonnegative
from symupdates.core.gradients import checked_grads
from symupdates.core.state import Updates, merge
from symupdates.core.transform import apply, as_transform
from symupdates.transforms.clipping import clip_jointly

__all__ = ["partition", "FROZEN"]


class _Frozen:
    def __repr__(self):
        return "symupdates.FROZEN"


#: The optimizer of a group whose parameters get no update and no state.
FROZEN = _Frozen()


@dataclasses.dataclass(frozen=True)
class Group:
    """One group of :func:`partition`: its name, how it selects parameters, its optimizer."""

    name: str
    select: Any
    optimizer: object

    def selects(self, param) -> bool:
        if callable(self.select):
            chosen = self.select(param)
            if not isinstance(chosen, bool):
                raise InputError(f"group {self.name!r}: the selector must return True or False, got {chosen!r}.")
            return chosen
        if isinstance(self.select, str):
            return param.name is not None and fnmatch.fnmatchcase(param.name, self.select)
        return any(param is s or (isinstance(s, str) and param.name == s) for s in self.select)


@dataclasses.dataclass(eq=False)
class Partition:
    """See :func:`partition`. :attr:`latest` is the :class:`~symupdates.Updates` of the latest call, as a factory's."""

    groups: tuple
    clip_global_norm: object = None
    latest: Updates | None = dataclasses.field(default=None, init=False, repr=False)

    def __call__(self, loss_or_grads=None, params=None):
        if loss_or_grads is None and params is None:
            return self
        if loss_or_grads is None or params is None:
            raise ValueError("Please provide both `loss_or_grads` and `params` to get updates.")
        params, grads = checked_grads(loss_or_grads, params)
        given = list(grads)
        members = self.assign(params)
        if self.clip_global_norm is not None:
            trained = [i for group in self.groups if group.optimizer is not FROZEN for i in members[group.name]]
            for i, clipped in zip(trained, clip_jointly([grads[i] for i in trained], self.clip_global_norm)):
                grads[i] = clipped
        loss = None if isinstance(loss_or_grads, list | tuple) else loss_or_grads
        built = []
        for group in self.groups:
            index = members[group.name]
            if group.optimizer is FROZEN or not index:
                continue
            transform = as_transform(group.optimizer)
            built.append(
                apply(transform, [grads[i] for i in index], [params[i] for i in index], loss=loss, name=group.name)
            )
        self.latest = merge(*built, params=params)
        # the gradients as given, so that explain() shows the joint clipping where it acts
        self.latest.grads = [given[i] for p in self.latest.params for i, q in enumerate(params) if p is q]
        return self.latest

    def assign(self, params) -> dict[str, list[int]]:
        """{group name: indices of its parameters}; every parameter in exactly one group."""
        members: dict[str, list[int]] = {group.name: [] for group in self.groups}
        orphans = []
        for i, p in enumerate(params):
            chosen = [group.name for group in self.groups if group.selects(p)]
            if len(chosen) > 1:
                raise InputError(f"parameter {p.name or i!r} is selected by the groups {chosen}; give it one group.")
            if not chosen:
                orphans.append(p.name or f"param{i}")
            else:
                members[chosen[0]].append(i)
        if orphans:
            raise InputError(
                f"the parameters {orphans} are in no group; add them to a group, or to one whose optimizer "
                "is symupdates.FROZEN to leave them untouched."
            )
        empty = [name for name, index in members.items() if not index]
        if empty:
            raise InputError(
                f"the groups {empty} select no parameter; check their selectors against the parameter names."
            )
        return members


def partition(groups: Mapping[str, tuple], *, clip_global_norm=None) -> Partition:
    r"""Give each group of parameters its own optimizer, in one update set (torch ``param_groups``).

    Parameters
    ----------
    groups : dict
        ``{group name: (selector, optimizer)}``, in the order the groups are built.
        A *selector* is a list of parameters or parameter names, a name pattern
        (``"encoder.*"``, :mod:`fnmatch` rules), or a callable ``param -> bool``.
        An *optimizer* is a named optimizer or a factory (``symupdates.adam(learning_rate=1e-3)``,
        with its own hyper-parameters: numbers, shared variables, schedules), a
        transform or chain, or :data:`FROZEN`: no update and no state. Every
        parameter must be in exactly one group, and every group must select one.
    clip_global_norm : float, optional
        Rescale the gradients of all trained groups together to joint L2 norm at most
        this (the usual choice, torch's ``clip_grad_norm_`` over the whole model);
        a group's own ``clip_global_norm`` option clips that group alone.

    Returns
    -------
    Partition
        A factory: ``partition(...)(loss_or_grads, params)`` returns one
        :class:`~symupdates.Updates`. Each group's state is named under its name
        (``body.W.adam.m``, ``body.adamw.step``: one step counter per group), so
        ``state_dict()``, ``save()`` and ``load()`` cover every group, and
        loading a checkpoint of other groups names the missing and extra entries.

    Examples
    --------
    >>> import numpy as np, pytensor, symupdates as su
    >>> W = pytensor.shared(np.ones((2, 2)), name="W"); b = pytensor.shared(np.zeros(2), name="b")
    >>> E = pytensor.shared(np.ones(2), name="embedding")
    >>> opt = su.partition({
    ...     "embedding": (["embedding"], su.FROZEN),
    ...     "body": ("W", su.adamw(learning_rate=1e-3, weight_decay=1e-2)),
    ...     "bias": (lambda p: p.name == "b", su.sgd(learning_rate=0.1)),
    ... })
    >>> updates = opt(((W @ b + E) ** 2).sum() + (b**2).sum(), [E, W, b])
    >>> list(updates.state)
    ['body.W.adam.m', 'body.W.adam.v', 'body.adamw.step']
    """
    if not isinstance(groups, Mapping) or not groups:
        raise InputError("`groups` must be a non-empty dict {group name: (selector, optimizer)}.")
    parts = []
    for name, spec in groups.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"group names must be non-empty strings, got {name!r}.")
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise InputError(f"group {name!r} must be a pair (selector, optimizer), got {spec!r}.")
        select, optimizer = spec
        if not (callable(select) or isinstance(select, str | list | tuple)):
            raise InputError(
                f"group {name!r}: the selector must be a list of parameters or names, a name pattern or a "
                f"callable, got {select!r}."
            )
        if optimizer is not FROZEN:
            as_transform(optimizer)  # a clear error now, not at the first call
        parts.append(Group(name, select, optimizer))
    if clip_global_norm is not None:
        check_nonnegative("clip_global_norm", clip_global_norm, schedulable=False)
    return Partition(tuple(parts), clip_global_norm)
