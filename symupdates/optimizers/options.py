"""The common options of the named optimizers, assembled in one documented order.

A named optimizer is a *recipe*: the transform that turns gradients into a
direction, its learning rate, and optionally a transform applied after the
learning rate (Lasagne-style momentum). :func:`assemble` wraps a recipe with
the common options, always in this order:

1. ``maximize`` (negate the gradient), 2. ``rescale_grad``,
3. ``clip_gradient`` (element-wise), 4. ``clip_norm`` (per tensor),
5. ``clip_global_norm``, 6. ``weight_decay`` (coupled L2),
7. the recipe's direction, 8. ``decoupled_weight_decay``,
9. the learning rate times ``lr_mult``, 10. the recipe's post-learning-rate
transform, 11. the parameter update ``p - u``, then ``clip_weights``,
12. ``skip_nonfinite``, with ``multi_precision`` around everything.

Options left at their defaults add nothing to the graph.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast, overload

import numpy as np

from symupdates.core.checks import (
    ArgumentError,
    InputError,
    check_nonnegative,
    check_scalar,
    constant_value,
    is_constant,
    unknown_keyword,
    with_current_names,
)
from symupdates.core.transform import Transform, chain
from symupdates.transforms.clipping import clip_by_norm, clip_by_value, clip_global_norm, clip_weights
from symupdates.transforms.guards import multi_precision, nonfinite_option, skip_nonfinite

if TYPE_CHECKING:
    from pytensor.graph.basic import Variable

    from symupdates.core.state import Updates
from symupdates.transforms.linear import add_decayed_weights, scale, scale_by_learning_rate

__all__ = ["Recipe", "Factory", "assemble", "optimizer", "get", "available", "COMMON_OPTIONS"]

#: The common options and their defaults ("off").
COMMON_OPTIONS = {
    "weight_decay": 0.0,
    "decoupled_weight_decay": 0.0,
    "weight_decay_mask": None,
    "wd_mult": None,
    "lr_mult": None,
    "rescale_grad": 1.0,
    "clip_gradient": None,
    "clip_norm": None,
    "clip_global_norm": None,
    "clip_weights": None,
    "maximize": False,
    "multi_precision": False,
    "skip_nonfinite": False,
}

OPTIONS_DOC = """
    Other Parameters
    ----------------
    weight_decay : float, symbolic scalar or schedule, default 0
        Coupled L2 penalty: :math:`g \\leftarrow g + \\lambda p` before the algorithm
        (torch ``weight_decay``, MXNet ``wd``).
    decoupled_weight_decay : float, symbolic scalar or schedule, default 0
        Decoupled decay: :math:`p \\leftarrow p - \\eta_t \\lambda p` with the learning
        rate of the current step (AdamW).
    weight_decay_mask : callable or dict, optional
        Which parameters decay (callable(param) -> bool or {param or name: bool}).
    wd_mult, lr_mult : callable or dict, optional
        Per-parameter multipliers of the weight decay and the learning rate
        ({param or name: factor} or callable(param) -> factor; MXNet).
    rescale_grad : float, default 1
        :math:`g \\leftarrow s\\,g` (MXNet).
    clip_gradient : float, optional
        Clip gradient elements to :math:`[-c, c]`; ``None`` or :math:`\\le 0` is off (MXNet).
    clip_norm : float, optional
        Rescale each gradient tensor to L2 norm at most this.
    clip_global_norm : float, optional
        Rescale all gradients together to joint L2 norm at most this (torch
        ``clip_grad_norm_``, optax ``clip_by_global_norm``).
    clip_weights : float, optional
        Clip new parameter values to :math:`[-c, c]`; ``None`` or :math:`\\le 0` is off (MXNet).
    maximize : bool, default False
        Ascend instead of descend (torch).
    multi_precision : bool, default False
        float32 master copies and state for float16 parameters (MXNet).
    skip_nonfinite : bool or int, default False
        Skip (and count) a step whose gradients or results are not finite, up to
        5 (``True``) or the given number of such steps in a row; after that they go
        through, so a diverged run still fails (see :func:`~symupdates.skip_nonfinite`).

    name : str, optional
        Put before every state name (``encoder.W.adam.m``, ``encoder.adam.step``) so
        that several update sets live in one function (see :func:`symupdates.partition`).

    The options apply in the order listed in :mod:`symupdates.optimizers.options`.
"""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What a named optimizer is: a direction, a learning rate, an optional post-rate transform.

    ``decoupled_weight_decay`` is the recipe's own decoupled decay (AdamW,
    Adan): it fills slot 8 of :func:`assemble` in place of the common option.
    """

    direction: Transform
    learning_rate: object
    after: Transform | None = None
    decoupled_weight_decay: object = None


def _flag(name, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InputError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


def _check_options(opts) -> None:
    """Validate the scalar options under their own names (the transforms would use generic ones)."""
    check_scalar("rescale_grad", opts["rescale_grad"])
    check_nonnegative("weight_decay", opts["weight_decay"])
    check_nonnegative("decoupled_weight_decay", opts["decoupled_weight_decay"])


def _is_off(value, off) -> bool:
    return value is None or is_constant(value, off)


def assemble(recipe: Recipe, name: str, **options) -> Transform:
    """Wrap ``recipe`` with the common ``options`` in the documented order."""
    unknown = sorted(set(options) - set(COMMON_OPTIONS))
    if unknown:
        raise unknown_keyword(f"{name} options", unknown[0], COMMON_OPTIONS)
    opts = {**COMMON_OPTIONS, **options}
    _check_options(opts)
    decay_args = {"mask": opts["weight_decay_mask"], "multipliers": opts["wd_mult"]}
    decoupled = opts["decoupled_weight_decay"]
    if recipe.decoupled_weight_decay is not None:
        if not _is_off(decoupled, 0.0):
            raise InputError(
                f"{name}() decays weights decoupled through its own `weight_decay`; "
                "pass weight_decay=..., not decoupled_weight_decay."
            )
        decoupled = recipe.decoupled_weight_decay
    transform = chain(
        scale(-1.0) if _flag("maximize", opts["maximize"]) else None,
        None if _is_off(opts["rescale_grad"], 1.0) else scale(opts["rescale_grad"]),
        None if opts["clip_gradient"] is None else clip_by_value(opts["clip_gradient"]),
        None if opts["clip_norm"] is None else clip_by_norm(opts["clip_norm"]),
        None if opts["clip_global_norm"] is None else clip_global_norm(opts["clip_global_norm"]),
        None if _is_off(opts["weight_decay"], 0.0) else add_decayed_weights(opts["weight_decay"], **decay_args),
        recipe.direction,
        None if _is_off(decoupled, 0.0) else add_decayed_weights(decoupled, **decay_args),
        scale_by_learning_rate(recipe.learning_rate, multipliers=opts["lr_mult"]),
        recipe.after,
        None if opts["clip_weights"] is None else clip_weights(opts["clip_weights"]),
        name=name,
    )
    max_consecutive_errors = nonfinite_option(opts["skip_nonfinite"])
    if max_consecutive_errors is not None:
        transform = skip_nonfinite(transform, max_consecutive_errors)
    if _flag("multi_precision", opts["multi_precision"]):
        transform = multi_precision(transform)
    return transform


_REGISTRY: dict = {}
_DECAY_OPTIONS = {"weight_decay", "decoupled_weight_decay"}


def options_doc(exclude=()) -> str:
    """The "Other Parameters" section of :data:`OPTIONS_DOC` without the entries in ``exclude``."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in OPTIONS_DOC.split("\n"):
        if re.match(r"    [a-z_]", line) and current:  # an entry starts: "    name : type"
            blocks.append(current)
            current = []
        current.append(line)
    blocks.append(current)

    def keep(block):
        names = re.match(r"    ([a-z_, ]+?) :", block[0])
        return not names or not set(names.group(1).replace(" ", "").split(",")) <= set(exclude)

    return "\n".join(line for block in blocks if keep(block) for line in block)


class Factory(functools.partial):
    """An optimizer with its hyper-parameters bound (what ``adam(learning_rate=...)`` returns).

    A :func:`functools.partial`: every call ``factory(loss_or_grads, params)``
    builds fresh state. :attr:`latest` is the :class:`~symupdates.Updates` of
    the latest call (``None`` before), also under :func:`symupdates.pymc.fit`,
    so code that only hands the factory on, such as ``pm.fit(obj_optimizer=factory)``,
    can still read the state it created, e.g.
    ``pm.callbacks.Tracker(lr=lambda: factory.latest.learning_rate.get_value())``,
    which works for a constant learning rate too.
    """

    latest = None

    def __call__(self, *args, **kwargs):
        result = super().__call__(*args, **kwargs)
        return result if isinstance(result, functools.partial) else self.record(result)

    def record(self, updates):
        """Make ``updates``, built from this factory, its :attr:`latest`; return them."""
        self.latest = updates
        return updates


class NamedOptimizer(Protocol):
    """The type of a named optimizer such as :func:`symupdates.adam`, as :func:`optimizer` makes it.

    Called with a loss (or gradients) and parameters it returns :class:`~symupdates.Updates`;
    with neither, a :class:`Factory`. ``transform(**hyper)`` is the same optimizer as a
    :class:`~symupdates.Transform`, for use inside wrappers and partitions.
    """

    transform: Callable[..., Transform]

    @overload
    def __call__(
        self, loss_or_grads: Variable | Sequence[Variable], params: Sequence[Variable], *hyper: Any, **options: Any
    ) -> Updates: ...

    @overload
    def __call__(self, loss_or_grads: None = None, params: None = None, *hyper: Any, **options: Any) -> Factory: ...


@overload
def optimizer(recipe_fn: Callable[..., Recipe], *, renamed: dict | None = None) -> NamedOptimizer: ...


@overload
def optimizer(
    recipe_fn: None = None, *, renamed: dict | None = None
) -> Callable[[Callable[..., Recipe]], NamedOptimizer]: ...


def optimizer(recipe_fn=None, *, renamed=None):
    """Turn a recipe function into a named optimizer with the PyMC/Lasagne contract.

    The result takes ``(loss_or_grads=None, params=None, *hyper, **options)``:
    with both ``None`` it returns a :class:`Factory` (a :func:`functools.partial`) carrying the
    (validated) hyper-parameters; with exactly one ``None`` it raises
    ``ValueError``; otherwise it returns the updates. ``@optimizer(renamed={old: new})``
    keeps accepting former keyword names, with a ``DeprecationWarning``.
    """
    if recipe_fn is None:
        return functools.partial(optimizer, renamed=renamed)
    renamed = dict(renamed or {})
    name = recipe_fn.__name__
    recipe_sig = inspect.signature(recipe_fn)
    P = inspect.Parameter
    params = [
        P("loss_or_grads", P.POSITIONAL_OR_KEYWORD, default=None),
        P("params", P.POSITIONAL_OR_KEYWORD, default=None),
    ]
    params += list(recipe_sig.parameters.values())
    # a common option the recipe declares itself is the recipe's; one that owns its weight
    # decay (AdamW's decoupled ``weight_decay``) owns both decay options
    owned = set(recipe_sig.parameters) & set(COMMON_OPTIONS)
    if owned & _DECAY_OPTIONS:
        owned |= _DECAY_OPTIONS
    common = {k: v for k, v in COMMON_OPTIONS.items() if k not in owned}
    params += [P(k, P.KEYWORD_ONLY, default=v) for k, v in common.items()]
    params += [P("name", P.KEYWORD_ONLY, default=None)]
    signature = inspect.Signature(params)

    def build(hyper) -> Transform:
        hyper = {k: v for k, v in hyper.items() if k != "name"}
        recipe_args = {k: v for k, v in hyper.items() if k in recipe_sig.parameters}
        options = {k: v for k, v in hyper.items() if k in common}
        recipe = recipe_fn(**recipe_args)
        own_decay = recipe_args.get("weight_decay", 0.0)  # the recipes that own it default it to 0
        if owned & _DECAY_OPTIONS and recipe.decoupled_weight_decay is None and not _is_off(own_decay, 0.0):
            unreached = [k for k in ("weight_decay_mask", "wd_mult") if options.get(k) is not None]
            if unreached:
                raise InputError(
                    f"{name}() applies its own `weight_decay` inside its update, which `{unreached[0]}` does not "
                    f"reach. Give parameters different weight decays with symupdates.partition (one {name} per "
                    "group, each with its weight_decay)."
                )
        return assemble(recipe, name, **options)

    @functools.wraps(recipe_fn)
    def named(*args, **kwargs):
        kwargs = with_current_names(name, renamed, kwargs)
        for key in kwargs:
            if key in owned and key not in signature.parameters:
                raise _replaced_option(name, key, recipe_sig)
            if key not in signature.parameters:
                raise unknown_keyword(name, key, signature.parameters)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            raise ArgumentError(f"{name}(): {err}") from None
        given = dict(bound.arguments)
        loss_or_grads = given.pop("loss_or_grads", None)
        params_ = given.pop("params", None)
        if params_ is None and constant_value(loss_or_grads) is not None and not hasattr(loss_or_grads, "type"):
            raise InputError(
                f"{name}() got the number {loss_or_grads!r} where the loss belongs. "
                f"Did you mean learning_rate={loss_or_grads!r}? ({name}(learning_rate=...) returns an optimizer factory.)"
            )
        if given.get("name") is not None and (not isinstance(given["name"], str) or not given["name"]):
            raise InputError(f"{name}(): `name` must be a non-empty string, got {given['name']!r}.")
        transform = build(given)  # validates every hyper-parameter now, also for a factory
        if loss_or_grads is None and params_ is None:
            return Factory(named, **given)
        if loss_or_grads is None or params_ is None:
            raise ValueError("Please provide both `loss_or_grads` and `params` to get updates.")
        return transform(loss_or_grads, params_, name=given.get("name"))

    result: Any = named  # gains the attributes of a NamedOptimizer below
    result.__signature__ = signature
    result.__doc__ = (recipe_fn.__doc__ or "").rstrip() + "\n" + options_doc(exclude=owned)

    def as_transform(**hyper) -> Transform:
        if hyper.get("name") is not None:
            raise InputError(
                f"{name}(name={hyper['name']!r}) is used as a transform (inside a wrapper or a partition), where "
                "the state is named by what applies it: drop `name` here (a partition names it by its group)."
            )
        return build(dict(signature.bind_partial(**hyper).arguments))

    result.transform = as_transform
    _REGISTRY[name] = result
    return cast(NamedOptimizer, result)


def _replaced_option(name: str, key: str, recipe_sig: inspect.Signature) -> ArgumentError:
    """The error for a common option that the optimizer's own weight decay replaces."""
    own = [k for k in recipe_sig.parameters if k in _DECAY_OPTIONS]
    return ArgumentError(
        f"{name}() does not take `{key}`: its own hyper-parameter {' and '.join(f'`{k}`' for k in own)} replaces "
        f"both common weight-decay options (help(symupdates.{name}) says how it decays); pass {own[0]}=... instead."
    )


def _param_doc(fn, param: str) -> str:
    """The description of ``param`` in the "Parameters" of ``fn``'s numpydoc docstring, on one line."""
    entry = re.search(
        rf"^[\w, ]*\b{param}\b[\w, ]* :.*\n((?:(?:    .*)?\n)*?)(?=\S|\Z)", inspect.getdoc(fn) or "", flags=re.M
    )
    return " ".join(entry.group(1).split()) if entry else ""


def optimizer_options_table() -> str:
    """Which common options each named optimizer takes, as a reST list-table (shown in docs/options.rst).

    One row per name in :func:`available`, read from the optimizer's signature and
    its recipe's: a common option the optimizer's signature lacks is not taken, and
    one the recipe declares itself is the optimizer's own hyper-parameter (described
    as in its docstring) in place of the common option.
    """
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 18 32 50", ""]
    lines += ["   * - Optimizer", "     - Common options", "     - Its own hyper-parameter in their place"]
    for name in available():
        named = _REGISTRY[name]
        takes, recipe = inspect.signature(named).parameters, inspect.signature(named.__wrapped__).parameters
        not_taken = [k for k in COMMON_OPTIONS if k not in takes or k in recipe]
        own = [recipe[k] for k in COMMON_OPTIONS if k in recipe]
        lines += [
            f"   * - :func:`~symupdates.{name}`",
            "     - all" + (" but " + ", ".join(f"``{k}``" for k in not_taken) if not_taken else ""),
            "     - " + ("; ".join(_own_option_cell(named, p) for p in own) or "none"),
        ]
    return "\n".join(lines) + "\n"


def _own_option_cell(named, param: inspect.Parameter) -> str:
    described = _param_doc(named, param.name)
    return f"``{param.name}`` (default ``{param.default!r}``)" + (f": {described}" if described else "")


def get(name: str, **hyper):
    """The named optimizer ``name`` as a factory with ``hyper`` (like MXNet's ``create_optimizer``).

    >>> import symupdates
    >>> opt = symupdates.get("adam", learning_rate=0.01)
    >>> opt.keywords
    {'learning_rate': 0.01}
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(str(name).lower(), _REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise InputError(f"unknown optimizer {name!r}.{hint} Known: {', '.join(available())}.")
    return _REGISTRY[name.lower()](**hyper)


def available() -> list[str]:
    """The names :func:`get` accepts, sorted."""
    return sorted(_REGISTRY)
