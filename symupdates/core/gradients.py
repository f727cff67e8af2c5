"""From "a loss or its gradients" to one checked gradient per parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from symupdates.core.checks import InputError, constant_value

__all__ = ["get_or_compute_grads", "checked_grads", "check_params"]


def _shared_list(params) -> list:
    """``params`` as a list, checked to be a sequence of shared variables."""
    if isinstance(params, Variable):
        raise InputError("`params` must be a list of shared variables; wrap a single one as [param].")
    try:
        params = list(params)
    except TypeError:
        raise InputError(f"`params` must be a list of shared variables, got {type(params).__name__}.") from None
    for i, p in enumerate(params):
        if not isinstance(p, SharedVariable):
            raise InputError(
                f"params[{i}] ({p!r}) is not a shared variable. Only shared variables can be "
                "updated: create them with pytensor.shared(value)."
            )
    return params


def check_params(params) -> list:
    """Validate ``params``: a non-empty sequence of distinct float tensor shared variables."""
    params = _shared_list(params)
    if not params:
        raise InputError("`params` is empty: give at least one shared variable to update.")
    seen: dict = {}
    for i, p in enumerate(params):
        if not isinstance(p, TensorVariable):
            raise InputError(f"params[{i}] ({p!r}) is a {p.type}, not a tensor; only tensors can be optimized.")
        if not p.dtype.startswith("float"):
            raise InputError(
                f"params[{i}] ({p.name or 'unnamed'}) has dtype {p.dtype}; gradient-based updates need a "
                "floating-point parameter. Create it from a float array, e.g. np.asarray(x, 'float64')."
            )
        if id(p) in seen:
            raise InputError(
                f"params[{i}] is the same shared variable as params[{seen[id(p)]}] "
                f"({p.name or 'unnamed'}); each parameter may appear only once."
            )
        seen[id(p)] = i
    return params


def _check_grad(i: int, grad, param) -> TensorVariable:
    if not isinstance(grad, Variable):
        try:
            grad = pt.as_tensor_variable(np.asarray(grad, dtype=param.dtype))
        except (TypeError, ValueError):
            raise InputError(f"gradient {i} for {param.name or f'params[{i}]'} is not a tensor: {grad!r}.") from None
    if not isinstance(grad, TensorVariable):
        raise InputError(f"gradient {i} for {param.name or f'params[{i}]'} is a {grad.type}, not a tensor.")
    if grad.ndim != param.ndim:
        raise InputError(
            f"gradient {i} has {grad.ndim} dimension(s) but its parameter {param.name or f'params[{i}]'} "
            f"has {param.ndim}; gradients must have the shape of their parameter."
        )
    for axis, (gs, ps) in enumerate(zip(grad.type.shape, param.type.shape)):
        if gs is not None and ps is not None and gs != ps:
            raise InputError(
                f"gradient {i} has static shape {grad.type.shape} but its parameter "
                f"{param.name or f'params[{i}]'} has {param.type.shape} (axis {axis} differs)."
            )
    value_shape = param.get_value(borrow=True).shape
    for gs, vs in zip(grad.type.shape, value_shape):
        if gs is not None and gs != vs:
            raise InputError(
                f"gradient {i} has static shape {grad.type.shape} but its parameter "
                f"{param.name or f'params[{i}]'} holds an array of shape {value_shape}."
            )
    if grad.dtype != param.dtype:
        grad = pt.cast(grad, param.dtype)
    return grad


def get_or_compute_grads(loss_or_grads, params) -> Sequence:
    """Return one gradient expression per parameter, as Lasagne's and PyMC's helper does.

    Parameters
    ----------
    loss_or_grads : scalar TensorVariable or list/tuple of TensorVariable
        A scalar loss, differentiated with :func:`pytensor.grad`, or gradient
        expressions, one per parameter, in the order of ``params``.
    params : list of shared variables
        The variables to differentiate with respect to (any dtype, as in
        Lasagne: an integer one gets PyTensor's zero gradient).

    Returns
    -------
    list of TensorVariable
        ``loss_or_grads`` itself (the same object) when it is a list or tuple of
        the right length, else ``pytensor.grad(loss_or_grads, params)``.

    Raises
    ------
    InputError
        (a ``ValueError``) if a parameter is not a shared variable, if the
        number of gradients differs from the number of parameters, or if the
        loss is not a scalar expression.

    Notes
    -----
    The optimizers check more: float tensor parameters, each listed once, and
    gradients of their parameter's rank and static shape, cast to its dtype.
    """
    params = _shared_list(params)
    if isinstance(loss_or_grads, list | tuple):
        if len(loss_or_grads) != len(params):
            raise InputError(
                f"got {len(loss_or_grads)} gradient expressions for {len(params)} parameters; "
                "give exactly one gradient per parameter, in the same order."
            )
        return loss_or_grads
    if constant_value(loss_or_grads) is not None and not isinstance(loss_or_grads, Variable):
        raise InputError(
            f"`loss_or_grads` is the number {loss_or_grads!r}, not a loss expression. "
            f"Did you mean learning_rate={loss_or_grads!r}?"
        )
    if not isinstance(loss_or_grads, TensorVariable):
        raise InputError(
            "`loss_or_grads` must be a scalar loss expression or a list of gradients, "
            f"got {type(loss_or_grads).__name__}."
        )
    if loss_or_grads.ndim != 0:
        raise InputError(
            f"the loss must be a scalar, but it has {loss_or_grads.ndim} dimension(s) ({loss_or_grads.type}); "
            "reduce it first, e.g. loss.sum() or loss.mean()."
        )
    return cast(list, pytensor.grad(loss_or_grads, params))


def checked_grads(loss_or_grads, params) -> tuple[list, list]:
    """The checked parameters and one gradient per parameter, of its rank, static shape and dtype."""
    params = check_params(params)
    grads = get_or_compute_grads(loss_or_grads, params)
    return params, [_check_grad(i, g, p) for i, (g, p) in enumerate(zip(grads, params))]
