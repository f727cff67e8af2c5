r"""Gradients through the optimizer: ``k`` steps of any optimizer unrolled into one graph.

:func:`unroll` builds the update graph of one step, ``{shared variable: new value}``,
once, then substitutes it into itself ``k`` times: with :math:`s_j` the values of every
shared variable the optimizer updates (parameters, moments, the step counter) after
:math:`j` steps,

.. math::

    s_0 = \text{the shared variables themselves}, \qquad
    s_{j+1} = U(s_j, x_j; \eta), \qquad L_k = \ell(\theta_k, x_k)

where :math:`U` is the one-step update, :math:`x_j` the data of step :math:`j+1` and
:math:`\eta` the hyper-parameters (learning rate, betas, weight decay, ...). The loss
after ``k`` steps, :math:`L_k`, is then an ordinary PyTensor expression of the
current shared values and of the hyper-parameters, so ``pytensor.grad(L_k, eta)`` is
the *meta-gradient* :math:`\partial L_k / \partial \eta` [1]_ [2]_ and the graph compiles on every
backend (C, Numba, JAX) like any other.

Cost. The graph holds ``k`` copies of the step (it grows linearly in ``k``, and so
do the compile time and, in reverse mode, the memory: every intermediate state is kept
for the backward pass). The meta-gradient differentiates the gradient computation
inside each step, so it contains second derivatives of the loss (Hessian-vector
products): about two to four times the work of the ``k`` steps themselves. Keep ``k``
small (tens of steps) or truncate (unroll a window, step, unroll the next window).

Non-differentiable operations (``sign``, ``abs``, ``maximum`` as in AMSGrad's running
maximum, ``switch`` as in the first step of a dampened momentum or a clipping threshold)
get the subgradient PyTensor defines for them; sign-based optimizers (signSGD, Lion,
Rprop) have a zero derivative almost everywhere through the sign.

References
----------
.. [1] Maclaurin, D., Duvenaud, D. & Adams, R. P. (2015). Gradient-based Hyperparameter
   Optimization through Reversible Learning. ICML.
.. [2] Franceschi, L., Donini, M., Frasconi, P. & Pontil, M. (2017). Forward and Reverse
   Gradient-Based Hyperparameter Optimization. ICML.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.replace import graph_replace
from pytensor.tensor.variable import TensorVariable

from symupdates.core.checks import InputError, check_int
from symupdates.core.state import Updates
from symupdates.core.transform import as_transform, parts

__all__ = ["unroll", "Unrolled"]


@dataclasses.dataclass(frozen=True)
class Unrolled:
    """``k`` steps of an optimizer as one graph; what :func:`unroll` returns.

    Attributes
    ----------
    loss : TensorVariable
        The loss at the parameters after the ``k`` steps, :math:`L_k`.
    losses : tuple of TensorVariable
        The ``k + 1`` losses :math:`L_0, \\dots, L_k`: before each step (on that step's
        data) and, last, after the last step (``loss``).
    values : Mapping
        {shared variable: its value after the ``k`` steps}, for every variable the
        optimizer updates (parameters, state, step counter), in the order of ``updates``.
    updates : Updates
        The one step that is repeated, with its state variables (the unrolled graph starts
        from their current values); compile it to run the same steps one by one.
    """

    loss: TensorVariable
    losses: tuple
    values: Mapping
    updates: Updates

    def grad(self, wrt):
        """``pytensor.grad(self.loss, wrt)``: the meta-gradient w.r.t. hyper-parameters.

        ``wrt`` is a variable or a list of them: symbolic scalars, or shared variables that the
        optimizer does not update.

        Raises
        ------
        InputError
            If ``wrt`` holds a variable the optimizer updates (a parameter or state): its
            derivative would be w.r.t. its value before the first step. Call
            ``pytensor.grad(unrolled.loss, var)`` for that on purpose (e.g. the derivative
            w.r.t. the initial parameters).
        """
        variables = list(wrt) if isinstance(wrt, list | tuple) else [wrt]
        for var in variables:
            if var in self.values:
                raise InputError(
                    f"Unrolled.grad(): {var.name or var!r} is updated by the optimizer, so its derivative here is "
                    "w.r.t. its value before the first step; for that call pytensor.grad(unrolled.loss, var) "
                    "directly, and tune as a hyper-parameter only a variable the optimizer does not update."
                )
        grads = pytensor.grad(self.loss, variables)
        return grads if isinstance(wrt, list | tuple) else grads[0]


def _checked_loss(loss) -> TensorVariable:
    if not isinstance(loss, TensorVariable) or loss.ndim != 0:
        described = loss.type if isinstance(loss, Variable) else type(loss).__name__
        raise InputError(
            f"unroll(): `loss` must be a scalar loss expression, got {described}; "
            "unroll evaluates the loss after every step, so it needs the loss, not gradients "
            "(reduce a vector loss first, e.g. loss.mean())."
        )
    return loss


def _checked_inputs(inputs) -> list:
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, TensorVariable) or x.owner is not None or isinstance(x, pt.TensorConstant):
            raise InputError(f"unroll(): inputs[{i}] ({x!r}) must be a symbolic input tensor, e.g. pt.matrix('x').")
    return inputs


def _as_input(x: TensorVariable, value, where: str) -> TensorVariable:
    """``value`` (an array or a symbolic tensor) as a variable of ``x``'s type, to stand in for ``x``."""
    var = value if isinstance(value, Variable) else pt.as_tensor_variable(np.asarray(value, dtype=x.dtype))
    if not isinstance(var, TensorVariable) or var.ndim != x.ndim:
        raise InputError(f"unroll(): {where} has {getattr(var, 'type', var)}, but its input {x.name or x} is {x.type}.")
    if var.dtype != x.dtype:
        var = pt.cast(var, x.dtype)
    try:
        return x.type.filter_variable(var, allow_convert=True)
    except TypeError:
        return x.type.filter_variable(pt.specify_shape(var, x.type.shape))


def _batches(inputs, data, steps) -> tuple[list[dict], dict]:
    """{input: its value} for each step, and for the loss after the last step."""
    if data is None:
        return [{} for _ in range(steps)], {}
    if not inputs:
        raise InputError("unroll(): `data` replaces the symbolic `inputs` of the loss: give inputs=[x, y] with it.")
    if isinstance(data, np.ndarray | Variable) or not isinstance(data, Sequence):
        raise InputError(
            f"unroll(): `data` must be a list of {steps} tuples (one per step), got {type(data).__name__}."
        )
    if len(data) not in (steps, steps + 1):
        raise InputError(
            f"unroll(): `data` has {len(data)} entries for {steps} steps; give one tuple per step "
            f"({steps}), or {steps + 1} to evaluate the final loss on the last one."
        )
    batches = []
    for j, batch in enumerate(data):
        batch = tuple(batch) if isinstance(batch, list | tuple) else (batch,)
        if len(batch) != len(inputs):
            raise InputError(f"unroll(): data[{j}] has {len(batch)} values for the {len(inputs)} inputs.")
        batches.append({x: _as_input(x, v, f"data[{j}][{i}]") for i, (x, v) in enumerate(zip(inputs, batch))})
    return batches[:steps], (batches[steps] if len(batches) > steps else {})


def _check_hyper_parameters(transform, updates: Updates) -> None:
    """Refuse a symbolic hyper-parameter that is itself updated by the optimizer."""
    for part in parts(transform):
        if not dataclasses.is_dataclass(part):
            continue
        for field in dataclasses.fields(part):
            value = getattr(part, field.name)
            if isinstance(value, Variable) and value in updates:
                raise InputError(
                    f"unroll(): the hyper-parameter `{field.name}` of {part.name!r} is {value.name or value!r}, "
                    "which the optimizer itself updates (a parameter or state); its value would change at "
                    "every unrolled step. Give a symbolic scalar or a shared variable that is not updated."
                )


def unroll(optimizer, loss, params, steps: int, *, inputs=None, data=None) -> Unrolled:
    r"""Unroll ``steps`` steps of ``optimizer`` on ``loss`` into one differentiable graph.

    .. math::

        s_{j+1} = U(s_j, x_j; \eta) \quad (j = 0, \dots, k-1), \qquad L_j = \ell(\theta_j, x_j)

    with :math:`s_0` the current values of the shared variables and :math:`\eta` the
    hyper-parameters; see :mod:`symupdates.unroll`.

    Parameters
    ----------
    optimizer : named optimizer, factory or Transform
        E.g. ``symupdates.adam(learning_rate=lr, beta1=b1)`` with ``lr = pt.dscalar("lr")``:
        the hyper-parameters to differentiate are given as symbolic scalars (or shared
        variables the optimizer does not update); numbers and schedules work as usual.
    loss : scalar TensorVariable
        The loss of ``params`` (not gradients: every step's loss is evaluated).
    params : list of shared variables
        The parameters to update.
    steps : int
        :math:`k \ge 1`.
    inputs : list of symbolic tensors, optional
        The data inputs of ``loss`` that ``data`` replaces (e.g. ``[x, y]``).
    data : sequence of tuples, optional
        ``None`` (default): every step uses the symbolic ``inputs`` themselves (one batch,
        fed when the function is called). Otherwise ``k`` tuples, one per step, of arrays or
        symbolic tensors in the order of ``inputs`` (mini-batches); step :math:`j+1` and the
        loss :math:`L_j` use ``data[j]``. The loss after the last step, :math:`L_k`, is
        evaluated on the symbolic ``inputs`` (e.g. a validation batch, fed at call time), or
        on ``data[k]`` when ``k + 1`` tuples are given.

    Returns
    -------
    Unrolled
        ``.loss`` (:math:`L_k`), ``.losses`` (:math:`L_0, \dots, L_k`), ``.values`` (each
        updated variable after ``k`` steps), ``.updates`` (one step) and ``.grad(wrt)``.

    Raises
    ------
    InputError
        If ``steps`` is not an integer >= 1, ``optimizer`` is not a symupdates optimizer,
        ``loss`` is not a scalar expression, ``data`` does not have ``k`` (or ``k + 1``)
        entries of one value per input, or a symbolic hyper-parameter is a variable the
        optimizer updates.

    Notes
    -----
    The graph starts from the *current* values of the parameters and of the optimizer's
    fresh state (zero moments, step counter 0), so a compiled ``pytensor.function([lr],
    unrolled.loss)`` evaluates :math:`L_k` without changing any shared variable; its value
    is what ``k`` calls of the step ``pytensor.function([], [], updates=unrolled.updates)``
    would reach. Float32 parameters stay float32 in every step.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates
    >>> from symupdates.unroll import unroll
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> lr = pt.dscalar("lr")
    >>> unrolled = unroll(symupdates.sgd(learning_rate=lr), (w**2).sum(), [w], steps=3)
    >>> f = pytensor.function([lr], [unrolled.loss, unrolled.grad(lr)])
    >>> [round(float(x), 6) for x in f(0.1)]  # L_3 = 5 (1 - 2 lr)^6, dL_3/dlr = -60 (1 - 2 lr)^5
    [1.31072, -19.6608]
    """
    steps = check_int("steps", steps, 1)
    loss = _checked_loss(loss)
    transform = as_transform(optimizer)
    batches, final = _batches(_checked_inputs(inputs or []), data, steps)
    updates = transform(loss, params)
    _check_hyper_parameters(transform, updates)
    keys = list(updates)
    one_step = [updates[k] for k in keys]
    current: dict = {}  # {shared variable: its value after j steps}; empty: the variables themselves
    losses = []
    for batch in batches:
        *new, before = _substituted([*one_step, loss], {**current, **batch})
        losses.append(before)
        current = dict(zip(keys, new))
    losses.append(_substituted([loss], {**current, **final})[0])
    return Unrolled(losses[-1], tuple(losses), OrderedDict(current), updates)


def _substituted(outputs: list, replace: dict) -> list:
    """``outputs`` with the variables of ``replace`` replaced (the replacements are not searched again)."""
    return graph_replace(outputs, replace, strict=False) if replace else list(outputs)
