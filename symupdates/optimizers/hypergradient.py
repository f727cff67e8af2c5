r"""Hypergradient descent (Baydin et al., 2018 [1]_): the learning rate of any optimizer, adapted online.

Write an optimizer's step as :math:`\theta_t = \theta_{t-1} - \alpha_t u_t`, where
:math:`u_t` is its step at unit learning rate (its *direction*: :math:`g_t` for SGD,
:math:`\hat m_t / (\sqrt{\hat v_t} + \epsilon)` for Adam). The derivative of the loss
:math:`f(\theta_{t-1})` with respect to the learning rate of the previous step, holding
:math:`\theta_{t-2}` fixed, is the *hypergradient*

.. math::

    h_t = \nabla f(\theta_{t-1}) \cdot \frac{\partial \theta_{t-1}}{\partial \alpha}
        = -\, g_t \cdot u_{t-1} \qquad (u_0 = 0),

a dot product over all parameters, and one step of gradient descent on the learning rate
comes before each step of the optimizer:

.. math::

    \alpha_t = \alpha_{t-1} - \beta\, h_t, \qquad \theta_t = \theta_{t-1} - \alpha_t\, u_t .

:func:`hypergradient` wraps any optimizer this way; :func:`sgd_hd`, :func:`sgdn_hd` and
:func:`adam_hd` are the paper's three algorithms, each one line over it.

References
----------
.. [1] Baydin, A. G., Cornish, R., Martínez Rubio, D., Schmidt, M. & Wood, F. (2018).
   Online Learning Rate Adaptation with Hypergradient Descent. ICLR. arXiv:1703.04782.
"""

from __future__ import annotations

import dataclasses
import functools

import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_nonnegative, constant_value, is_constant
from symupdates.core.numerics import total
from symupdates.core.transform import Transform, Wrapper, as_transform, parts
from symupdates.optimizers.adam import adam
from symupdates.optimizers.momentum import sgd
from symupdates.transforms.linear import ScaleByLearningRate
from symupdates.transforms.wrappers import _outside_master_copies

__all__ = ["hypergradient", "sgd_hd", "sgdn_hd", "adam_hd"]


@dataclasses.dataclass(frozen=True)
class Hypergradient(Wrapper):
    inner: Transform
    learning_rate: float = 1e-3
    hyper_learning_rate: object = 1e-7

    def __post_init__(self):
        super().__post_init__()
        check_nonnegative("learning_rate", self.learning_rate, schedulable=False)
        if constant_value(self.learning_rate) is None:
            raise InputError(
                "hypergradient(): `learning_rate` is the starting value of the adapted rate (a state), so it "
                f"must be a number, got {self.learning_rate!r}."
            )
        check_nonnegative("hyper_learning_rate", self.hyper_learning_rate)

    def build(self, ctx, directions):
        unit_rates = len(ctx.constant_learning_rates)
        units = ctx.run(self.inner, directions)  # u_t: the inner optimizer's step at unit learning rate
        del ctx.constant_learning_rates[unit_rates:]  # that unit rate is not a learning rate of these updates
        with ctx.labelled("hypergradient"):
            rate = ctx.scalar_state(
                "learning_rate", constant_value(self.learning_rate), "float64", kind="learning_rate"
            )
            previous = [ctx.state(i, "direction") for i in range(len(units))]
        # h_t = -g_t . u_{t-1}: each tensor's dot product in its dtype (accumulated in float64), summed in float64
        h = -pt.sum(pt.stack([pt.cast(total(g * u), "float64") for g, u in zip(directions, previous)]))
        new_rate = rate - ctx.hyper(self.hyper_learning_rate, "float64") * h
        ctx.set(rate, new_rate)
        for var, u in zip(previous, units):
            ctx.set(var, u)
        return [pt.cast(new_rate, u.dtype) * u for u in units]


def _at_unit_rate(optimizer) -> Transform:
    """The transform of ``optimizer`` with learning rate 1; refuses one that has a rate of its own."""
    if isinstance(optimizer, Transform):
        for part in parts(optimizer):
            if isinstance(part, ScaleByLearningRate) and not is_constant(part.learning_rate, 1.0):
                raise InputError(
                    f"hypergradient(): the wrapped transform has learning rate {part.learning_rate!r}; hypergradient "
                    "owns the learning rate, so build the inner optimizer at learning_rate=1.0 (or pass a named "
                    "optimizer or factory without one) and give the starting rate to hypergradient(learning_rate=...)."
                )
        return optimizer
    named = optimizer.func if isinstance(optimizer, functools.partial) else optimizer
    if not hasattr(named, "transform"):
        return as_transform(optimizer)  # raises the error for what is not an optimizer
    keywords = dict(getattr(optimizer, "keywords", {}))
    if "learning_rate" in keywords:
        raise InputError(
            f"hypergradient(): the inner optimizer was given learning_rate={keywords['learning_rate']!r}; "
            "hypergradient owns the learning rate: give the starting rate as hypergradient(..., learning_rate=...)."
        )
    if keywords.get("maximize"):
        raise InputError(
            "hypergradient(): the inner optimizer has maximize=True, which would turn the hypergradient's sign "
            "around; minimise the negated objective instead."
        )
    return as_transform(functools.partial(named, *getattr(optimizer, "args", ()), **keywords, learning_rate=1.0))


def hypergradient(optimizer, learning_rate=1e-3, hyper_learning_rate=1e-7) -> Transform:
    r"""Adapt the global learning rate of ``optimizer`` by hypergradient descent (Baydin et al., 2018 [1]_).

    .. math::

        h_t = -\, g_t \cdot u_{t-1}, \qquad \alpha_t = \alpha_{t-1} - \beta\, h_t, \qquad
        \theta_t = \theta_{t-1} - \alpha_t\, u_t

    where :math:`u_t` is the step of ``optimizer`` at learning rate 1 (its direction,
    every option included), :math:`u_0 = 0` (so :math:`\alpha_1 = \alpha_0`), :math:`g_t`
    the gradient the wrapper receives (the raw gradient of the loss when it is the
    outermost transform) and the dot product runs over all parameters.

    Parameters
    ----------
    optimizer : named optimizer, factory or Transform
        What gives the direction, without a learning rate: ``symupdates.adam``,
        ``symupdates.adam(beta1=0.8, weight_decay=1e-4)``, or a transform at unit rate
        (``symupdates.scale_by_adam()``, or a named optimizer's transform built with
        ``learning_rate=1.0``). Its options stay part of :math:`u_t`: coupled and decoupled
        weight decay (so AdamW decays by :math:`\alpha_t \lambda \theta`), clipping, ``lr_mult``.
    learning_rate : float, default 1e-3
        :math:`\alpha_0 \ge 0`, the starting value of the adapted rate.
    hyper_learning_rate : float, symbolic scalar or schedule, default 1e-7
        :math:`\beta \ge 0`. Its scale depends on the direction's: the paper uses
        :math:`10^{-3}` for SGD and SGD with Nesterov momentum, :math:`10^{-7}` for Adam.

    Returns
    -------
    Transform
        An optimizer factory: ``hypergradient(opt)(loss_or_grads, params)`` gives the
        updates, ``hypergradient(opt)()`` the factory itself (so ``pm.fit(obj_optimizer=...)``
        takes it). ``updates.learning_rate.get_value()`` reads :math:`\alpha_t`, the rate of the
        latest step (:math:`\alpha_0` before the first).

    Raises
    ------
    InputError
        If ``optimizer`` already has a learning rate (a factory given ``learning_rate``, or a
        transform whose rate is not 1), has ``maximize=True`` (the hypergradient's sign would
        be wrong: negate the loss instead), or ``learning_rate`` is not a number >= 0.

    Notes
    -----
    State: ``hypergradient.learning_rate`` (float64 scalar, kind ``"learning_rate"``) and
    ``{param}.hypergradient.direction`` (:math:`u_{t-1}`, kind ``"moment"``), besides the
    inner optimizer's. Each tensor's :math:`g \cdot u` is accumulated in float64 and rounded
    to the parameter's dtype, the sum over tensors and :math:`\alpha` are float64, and the
    step uses :math:`\alpha_t` rounded to the parameter's dtype, so float32 parameters stay
    float32. As in the paper, :math:`\alpha_t` is not bounded below.

    An inner optimizer that acts on the new parameter value (Lasagne's ``momentum`` and
    ``nesterov_momentum``, ``clip_weights``, ``lookahead``) does so after the step
    :math:`\alpha_t u_t`, and :math:`u_t` is its direction before that: for classical
    momentum, :math:`\theta_t = \theta_{t-1} + \mu v_{t-1} - \alpha_t g_t`, this is the exact
    :math:`-\partial\theta_t/\partial\alpha_t`; for Lasagne's Nesterov form it misses a factor
    :math:`1 + \mu`. The paper's SGDN-HD is torch's form, :func:`sgdn_hd`.

    References
    ----------
    .. [1] Baydin, A. G., Cornish, R., Martínez Rubio, D., Schmidt, M. & Wood, F. (2018).
       Online Learning Rate Adaptation with Hypergradient Descent. ICLR. arXiv:1703.04782.
    """
    return _outside_master_copies(
        lambda t: Hypergradient(t, learning_rate, hyper_learning_rate), _at_unit_rate(optimizer)
    )


def sgd_hd(loss_or_grads=None, params=None, learning_rate=1e-3, hyper_learning_rate=1e-3, **options):
    r"""SGD-HD (Baydin et al., 2018): SGD whose rate follows :func:`hypergradient`.

    .. math::

        \alpha_t = \alpha_{t-1} + \beta\, g_t \cdot g_{t-1}, \qquad \theta_t = \theta_{t-1} - \alpha_t g_t

    Parameters
    ----------
    loss_or_grads, params
        As :func:`symupdates.sgd`; without both, a factory is returned.
    learning_rate : float, default 1e-3
        :math:`\alpha_0`.
    hyper_learning_rate : float, default 1e-3
        :math:`\beta` (the paper's value).
    **options
        The common options of :func:`symupdates.sgd` (they shape the direction).
    """
    return hypergradient(sgd(**options), learning_rate, hyper_learning_rate)(loss_or_grads, params)


def sgdn_hd(loss_or_grads=None, params=None, learning_rate=1e-3, hyper_learning_rate=1e-3, momentum=0.9, **options):
    r"""SGDN-HD (Baydin et al., 2018): SGD with Nesterov momentum under :func:`hypergradient`.

    .. math::

        v_t = \mu v_{t-1} + g_t, \qquad u_t = g_t + \mu v_t, \qquad
        \alpha_t = \alpha_{t-1} + \beta\, g_t \cdot u_{t-1}, \qquad \theta_t = \theta_{t-1} - \alpha_t u_t

    with :math:`v_0 = 0`: torch.optim.SGD's Nesterov momentum, ``symupdates.sgd(momentum=mu,
    nesterov=True)``.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`symupdates.sgd`; without both, a factory is returned.
    learning_rate : float, default 1e-3
        :math:`\alpha_0`.
    hyper_learning_rate : float, default 1e-3
        :math:`\beta` (the paper's value).
    momentum : float, default 0.9
        :math:`\mu`.
    **options
        The common options of :func:`symupdates.sgd`.
    """
    inner = sgd(momentum=momentum, nesterov=True, **options)
    return hypergradient(inner, learning_rate, hyper_learning_rate)(loss_or_grads, params)


def adam_hd(
    loss_or_grads=None,
    params=None,
    learning_rate=1e-3,
    hyper_learning_rate=1e-7,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    **options,
):
    r"""Adam-HD (Baydin et al., 2018): Adam under :func:`hypergradient`.

    .. math::

        u_t = \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}, \quad
        \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
        \alpha_t = \alpha_{t-1} + \beta\, g_t \cdot u_{t-1}, \qquad \theta_t = \theta_{t-1} - \alpha_t u_t

    with Adam's moments :math:`m_t, v_t`. As in the paper's algorithm, :math:`h_t` uses the
    bias-corrected direction of the previous step and :math:`\epsilon` is added to
    :math:`\sqrt{\hat v_t}` (``symupdates.adam(form="torch")``); the authors' PyTorch code
    puts :math:`\epsilon` as PyMC's :math:`\hat\epsilon` form does
    (``hypergradient(symupdates.adam(form="pymc"))`` is that variant).

    Parameters
    ----------
    loss_or_grads, params
        As :func:`symupdates.adam`; without both, a factory is returned.
    learning_rate : float, default 1e-3
        :math:`\alpha_0`.
    hyper_learning_rate : float, default 1e-7
        :math:`\beta` (the paper's value for Adam-HD).
    beta1, beta2, epsilon : float
        Adam's, defaults 0.9, 0.999, 1e-8.
    **options
        The common options of :func:`symupdates.adam`.
    """
    inner = adam(beta1=beta1, beta2=beta2, epsilon=epsilon, form="torch", **options)
    return hypergradient(inner, learning_rate, hyper_learning_rate)(loss_or_grads, params)
