"""PyMC integration: give optimizers the ADVI loss under ``pm.fit``.

``pm.fit`` calls ``obj_optimizer(grads, params)`` with gradients only, so an
optimizer that watches the loss (:func:`symupdates.reduce_on_plateau`) cannot
see it. PyMC builds the loss (the Monte Carlo estimate of the negative ELBO)
in ``ObjectiveFunction.add_obj_updates`` by calling the objective, and hands
that very expression to the optimizer's gradients and to the score that
``fit`` records in ``approx.hist``. :func:`loss_aware` makes the inference's
objective remember that expression, and wraps the optimizer so that it
receives it as its loss: the plateau logic then sees exactly the values in
``approx.hist`` (same graph, same random draws, no extra computation).

:func:`fit` also warns when :func:`symupdates.skip_nonfinite` skipped steps.
:func:`lr_find` runs the learning-rate range test (:mod:`symupdates.lr_finder`) on
the step function ``Inference.fit`` would run, with the negative ELBO as the loss.
PyMC is imported only inside these functions; ``symupdates`` never needs it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, cast

from symupdates.core.checks import ArgumentError, InputError
from symupdates.core.transform import apply, as_transform
from symupdates.lr_finder import LRFinderResult, RangeTest, swept, written
from symupdates.optimizers.options import Factory
from symupdates.schedules.plateau import LossUnavailable

if TYPE_CHECKING:
    from symupdates.core.state import Updates

__all__ = ["fit", "loss_aware", "lr_find"]


class _RecordsLoss:
    """Mixin for a PyMC ObjectiveFunction: remembers the last objective (not test-function) target."""

    symupdates_loss = None

    def __call__(self, nmc, **kwargs):
        target = super().__call__(nmc, **kwargs)
        if "more_tf_params" not in kwargs:
            self.symupdates_loss = target
        return target


def loss_aware(inference, optimizer):
    """Prepare ``inference`` and return an ``obj_optimizer`` that receives its loss.

    Parameters
    ----------
    inference : pymc.variational.Inference
        E.g. ``pm.ADVI()``. Its objective is replaced by one that remembers the
        loss expression it builds (same class, same operator and test function).
    optimizer : symupdates optimizer, factory or transform

    Returns
    -------
    callable
        ``obj_optimizer(grads, params) -> Updates`` for ``inference.fit`` or
        ``pm.fit(method=inference, ...)``; its transforms see the loss as ``ctx.loss``.
        Its ``latest`` attribute holds the updates of its latest call, as
        :attr:`Factory.latest <symupdates.optimizers.options.Factory.latest>`; given a
        factory, it sets the factory's ``latest`` too (:meth:`Factory.record
        <symupdates.optimizers.options.Factory.record>`).

    Raises
    ------
    InputError
        When the optimizer needs the loss (:func:`symupdates.reduce_on_plateau`)
        and the inference's operator returns none (SVGD's ``KSD``).

    Examples
    --------
    >>> import pymc as pm, symupdates as su  # doctest: +SKIP
    >>> advi = pm.ADVI(model=model)  # doctest: +SKIP
    >>> opt = su.pymc.loss_aware(advi, su.adam(learning_rate=su.reduce_on_plateau(0.05, patience=100)))  # doctest: +SKIP
    >>> approx = advi.fit(5000, obj_optimizer=opt)  # doctest: +SKIP
    """
    transform = as_transform(optimizer)
    objective = inference.objective
    if not isinstance(objective, _RecordsLoss):
        cls = type(f"LossRecording{type(objective).__name__}", (_RecordsLoss, type(objective)), {})
        objective = cls(objective.op, objective.tf)
        inference.objective = objective
    has_loss = bool(getattr(objective.op, "returns_loss", False))

    def obj_optimizer(loss_or_grads=None, params=None):
        if loss_or_grads is None and params is None:
            return obj_optimizer
        loss = objective.symupdates_loss if has_loss and isinstance(loss_or_grads, list | tuple) else None
        try:
            updates = apply(transform, loss_or_grads, params, loss=loss)
        except LossUnavailable:
            if has_loss:
                raise
            raise InputError(
                f"reduce_on_plateau needs the loss, but {type(inference).__name__}'s objective has no scalar "
                f"loss: its operator {type(objective.op).__name__} does not return one (PyMC records no loss "
                "for it either). Give reduce_on_plateau a `metric=`, or use a schedule (symupdates.schedules)."
            ) from None
        obj_optimizer.latest = optimizer.record(updates) if isinstance(optimizer, Factory) else updates
        return obj_optimizer.latest

    obj_optimizer.latest = None
    return obj_optimizer


def fit(n=10000, method="advi", model=None, *, obj_optimizer=None, random_seed=None, inf_kwargs=None, **kwargs):
    """``pm.fit`` whose ``obj_optimizer`` sees the loss (for :func:`symupdates.reduce_on_plateau`).

    Parameters
    ----------
    n : int
        Number of iterations.
    method : {"advi", "fullrank_advi", "svgd", "asvgd"} or pymc Inference
    model : pymc.Model, optional
    obj_optimizer : symupdates optimizer, factory or transform, optional
        Default: PyMC's default, ``adagrad_window`` (as :func:`symupdates.adagrad_window`).
    random_seed, inf_kwargs
        As ``pm.fit``: used to build the inference from a method name.
    **kwargs
        Passed on to ``Inference.fit`` (``callbacks``, ``progressbar``, ``obj_n_mc``, ...).

    Returns
    -------
    pymc.variational.Approximation

    Warns
    -----
    RuntimeWarning
        When :func:`symupdates.skip_nonfinite` (or the option ``skip_nonfinite``)
        skipped steps, with their number and that of the steps run: the fit may
        be wrong even though it did not fail.
    """
    from symupdates.optimizers.rms import adagrad_window

    inference = _inference(method, model, random_seed, inf_kwargs)
    optimizer = adagrad_window(learning_rate=0.001) if obj_optimizer is None else obj_optimizer
    aware = loss_aware(inference, optimizer)
    iterations = _Iterations()
    callbacks = [*(kwargs.pop("callbacks", None) or ()), iterations]
    approx = inference.fit(n, obj_optimizer=aware, callbacks=callbacks, **kwargs)
    skipped = sum(int(v.get_value()) for v in aware.latest.find("skipped"))
    if skipped:
        warnings.warn(
            f"{skipped} of the {iterations.count} steps of this fit were skipped because their gradients or "
            "new parameter values were not finite (skip_nonfinite): the approximation may be wrong. Check "
            "the model, its starting point and the learning rate.",
            RuntimeWarning,
            stacklevel=2,
        )
    return approx


def _inference(method, model, random_seed, inf_kwargs):
    """The inference ``pm.fit`` would build for ``method`` (a name or an Inference, returned as is)."""
    import pymc as pm

    methods = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI, "svgd": pm.SVGD, "asvgd": pm.ASVGD}
    if isinstance(method, str):
        if method.lower() not in methods:
            raise InputError(f"`method` must be one of {sorted(methods)} or a pymc Inference, got {method!r}.")
        inf_kwargs = dict(inf_kwargs or {})
        if random_seed is not None:
            inf_kwargs["random_seed"] = random_seed
        return methods[method.lower()](model=pm.modelcontext(model), **inf_kwargs)
    if isinstance(method, pm.variational.inference.Inference):
        return method
    raise InputError(f"`method` must be one of {sorted(methods)} or a pymc Inference, got {method!r}.")


def lr_find(
    model=None,
    method="advi",
    *,
    optimizer=None,
    start: float = 1e-7,
    stop: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge: float | None = 4.0,
    skip_begin: int = 10,
    obj_n_mc=None,
    random_seed=None,
    inf_kwargs=None,
    **kwargs,
) -> LRFinderResult:
    r"""The learning-rate range test (:func:`symupdates.lr_finder.lr_find`) on a variational fit.

    Builds the inference as ``pm.fit`` does, compiles the step function that
    ``Inference.fit`` runs (``ObjectiveFunction.step_function(score=True)``, which
    returns the Monte Carlo estimate of the negative ELBO that ``fit`` records in
    ``approx.hist``) with ``optimizer`` at the swept rate, calls it once per step,
    and restores the approximation's parameters (and everything else the step
    writes) bit for bit. Pass the suggestion on, e.g.
    ``pm.fit(obj_optimizer=symupdates.adam(learning_rate=result.suggestion))``.

    Parameters
    ----------
    model : pymc.Model, optional
        The model of the context by default.
    method : {"advi", "fullrank_advi"} or pymc Inference, default "advi"
        As ``pm.fit``; an inference given is left with its parameters unchanged.
    optimizer : named optimizer or factory, optional
        Without a learning rate (``symupdates.adam``, ``symupdates.adam(beta1=0.95)``).
        Default :func:`symupdates.adagrad_window`, ``pm.fit``'s default.
    start, stop, num_steps, smooth, diverge, skip_begin
        As :func:`symupdates.lr_finder.lr_find`.
    obj_n_mc : int, optional
        Monte Carlo draws per step for the gradient and the loss (``Inference.fit``'s; one by default).
    random_seed, inf_kwargs
        As ``pm.fit``: used to build the inference from a method name.
    **kwargs
        Passed on to ``step_function`` (``total_grad_norm_constraint``, ``more_replacements``,
        ``compile_kwargs``, ...).

    Returns
    -------
    LRFinderResult
        Its losses are the negative ELBO estimates.

    Raises
    ------
    InputError
        For the errors of :func:`symupdates.lr_finder.lr_find`, and when the
        inference's operator returns no loss (SVGD's ``KSD``).
    """
    from symupdates.optimizers.rms import adagrad_window

    test = RangeTest(start, stop, num_steps, smooth, diverge, skip_begin)
    for key, instead in (("obj_optimizer", "optimizer="), ("score", "nothing: the loss is always computed")):
        if key in kwargs:
            raise ArgumentError(f"lr_find() sets `{key}` itself; pass {instead}.")
    inference = _inference(method, model, random_seed, inf_kwargs)
    if not getattr(inference.objective.op, "returns_loss", False):
        raise InputError(
            f"lr_find records the loss, but {type(inference).__name__}'s operator "
            f"{type(inference.objective.op).__name__} returns none; use ADVI or FullRankADVI."
        )
    factory = swept(adagrad_window if optimizer is None else optimizer, test.schedule())
    step = inference.objective.step_function(obj_n_mc=obj_n_mc, obj_optimizer=factory, score=True, **kwargs)
    updates = cast("Updates", factory.latest)  # what step_function built, recorded by the factory
    return test.run(step, updates.learning_rate, written(step), lambda k: ())


class _Iterations:
    """A ``pm.fit`` callback that counts the iterations run (fewer than ``n`` when one stops the fit)."""

    count = 0

    def __call__(self, approx, hist, i):
        self.count = i
