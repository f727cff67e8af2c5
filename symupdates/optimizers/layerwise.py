"""Layer-wise optimizers: LARS, LAMB and NovoGrad.

The trust ratio and NovoGrad's per-layer moment live in
:mod:`symupdates.transforms.layerwise`; Adam's moments in :mod:`symupdates.transforms`.
"""

from __future__ import annotations

from symupdates.core.checks import check_nonnegative, is_constant
from symupdates.core.transform import chain
from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.adam import scale_by_adam
from symupdates.transforms.layerwise import scale_by_novograd, scale_by_trust_ratio
from symupdates.transforms.linear import add_decayed_weights
from symupdates.transforms.momentum import trace

__all__ = ["lars", "lamb", "novograd"]


@optimizer
def lars(
    learning_rate=0.1, momentum=0.9, *, trust_coefficient=0.001, epsilon=0.0, nesterov=False, trust_ratio_mask=None
):
    r"""LARS (You et al., 2017): SGD with momentum and a layer-wise trust ratio.

    .. math::

        d_t &= g_t + \lambda\, p_{t-1}, \qquad
        r_t = \frac{c\, \|p_{t-1}\|_2}{\|d_t\|_2 + \epsilon} \;(1 \text{ if a norm is } 0) \\
        b_t &= \mu\, b_{t-1} + \eta\, r_t\, d_t, \qquad p_t = p_{t-1} - b_t
        \quad(\text{nesterov: } p_t = p_{t-1} - \eta r_t d_t - \mu b_t)

    norms per tensor. The weight decay :math:`\lambda` is the common
    ``weight_decay`` option (with ``weight_decay_mask``): it comes before the
    trust ratio, inside it. Momentum acts on the learning-rate-scaled step.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.1
        :math:`\eta`.
    momentum : float, default 0.9
        :math:`\mu`.
    trust_coefficient : float, default 0.001
        :math:`c`.
    epsilon : float, default 0
        :math:`\epsilon`.
    nesterov : bool, default False
    trust_ratio_mask : callable or dict, optional
        Which tensors get the trust ratio (callable(param) -> bool or {param or
        name: bool}); the others take plain (momentum) SGD steps. E.g.
        ``lambda p: p.ndim > 1`` leaves biases out.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.lars`` (0.2.8): ``weight_decay``/``weight_decay_mask`` are
    the common options, ``trust_ratio_mask``, ``momentum``, ``nesterov`` and
    ``eps`` (here ``epsilon``) the same.

    References
    ----------
    .. [1] You, Y., Gitman, I. & Ginsburg, B. (2017). Large Batch Training of Convolutional
       Networks. arXiv:1708.03888.
    """
    after = None if is_constant(momentum, 0.0) else trace(momentum, nesterov=nesterov)
    return Recipe(scale_by_trust_ratio(trust_coefficient, epsilon, mask=trust_ratio_mask), learning_rate, after=after)


@optimizer(renamed={"weight_decay_rate": "weight_decay", "weight_decay_rate_mask": "weight_decay_mask"})
def lamb(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-6, *, weight_decay=0.0, weight_decay_mask=None):
    r"""LAMB (You et al., 2020): Adam's direction with decoupled weight decay, rescaled per layer.

    .. math::

        d_t &= \frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \lambda\, p_{t-1}, \qquad
        \hat m_t = \frac{m_t}{1-\beta_1^t},\ \hat v_t = \frac{v_t}{1-\beta_2^t} \\
        p_t &= p_{t-1} - \eta\, \frac{\|p_{t-1}\|_2}{\|d_t\|_2}\, d_t
        \quad(\text{ratio 1 if a norm is 0})

    with Adam's moments :math:`m, v` (:func:`symupdates.scale_by_adam`,
    ``form="torch"``) and norms per tensor.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-6
    weight_decay : float, symbolic scalar or schedule, default 0
        :math:`\lambda`, added to the Adam direction *inside* the trust ratio
        (optax.lamb's ``weight_decay``), in place of the common weight-decay options.
    weight_decay_mask : callable or dict, optional
        Which tensors :math:`\lambda` applies to (optax.lamb's ``mask``).

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.lamb`` (0.2.8) with ``eps_root=0``.

    References
    ----------
    .. [1] You, Y. et al. (2020). Large Batch Optimization for Deep Learning: Training BERT in
       76 minutes. ICLR. arXiv:1904.00962.
    """
    check_nonnegative("weight_decay", weight_decay)
    decay = None if is_constant(weight_decay, 0.0) else add_decayed_weights(weight_decay, mask=weight_decay_mask)
    return Recipe(
        chain(scale_by_adam(beta1, beta2, epsilon, form="torch"), decay, scale_by_trust_ratio()), learning_rate
    )


@optimizer(renamed={"weight_decay_rate": "weight_decay"})
def novograd(learning_rate=1e-3, beta1=0.9, beta2=0.25, epsilon=1e-6, *, weight_decay=0.0):
    r"""NovoGrad (Ginsburg et al., 2019): momentum over layer-normalised gradients.

    .. math::

        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, \|g_t\|_2^2 \quad (v_1 = \|g_1\|_2^2) \\
        m_t &= \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t}+\epsilon} + \lambda\, p_{t-1}, \qquad
        p_t = p_{t-1} - \eta\, m_t

    See :func:`symupdates.scale_by_novograd`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    beta1 : float, default 0.9
    beta2 : float, default 0.25
    epsilon : float, default 1e-6
    weight_decay : float, default 0
        :math:`\lambda`, inside the momentum (optax.novograd's ``weight_decay``), in
        place of the common weight-decay options.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.novograd`` (0.2.8) with ``eps_root=0``.

    References
    ----------
    .. [1] Ginsburg, B. et al. (2019). Stochastic Gradient Methods with Layer-wise Adaptive
       Moments for Training of Deep Networks. arXiv:1905.11286.
    """
    return Recipe(scale_by_novograd(beta1, beta2, epsilon, weight_decay=weight_decay), learning_rate)
