"""Optimizers with factored or covered second moments: Adafactor and SM3.

The math lives in :mod:`symupdates.transforms.factored`.
"""

from __future__ import annotations

import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_choice, check_decay, check_nonnegative, is_constant, is_schedule
from symupdates.core.transform import chain
from symupdates.optimizers.options import Recipe, optimizer
from symupdates.transforms.averaging import ema
from symupdates.transforms.factored import (
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_param_block_rms,
    scale_by_sm3,
)
from symupdates.transforms.linear import add_decayed_weights

__all__ = ["adafactor", "sm3"]


def _relative_step(learning_rate):
    """torch's Adafactor rate :math:`\\min(\\eta, 1/\\sqrt{t})` at 0-based step ``k`` (t = k + 1)."""

    def schedule(step):
        base = learning_rate(step) if is_schedule(learning_rate) else learning_rate
        return pt.minimum(base, 1 / pt.sqrt(step + 1))

    return schedule


@optimizer(renamed={"weight_decay_rate": "weight_decay"})
def adafactor(
    learning_rate=0.01,
    *,
    form="optax",
    decay_rate=0.8,
    decay_offset=0,
    min_dim_size_to_factor=128,
    epsilon=None,
    clipping_threshold=1.0,
    multiply_by_parameter_scale=True,
    min_scale=1e-3,
    momentum=None,
    weight_decay=0.0,
    factored=True,
):
    r"""Adafactor (Shazeer & Stern, 2018): factored second moments, relative steps.

    .. math::

        d_t &= \frac{g_t}{\sqrt{\hat V_t}} \quad (\text{see } :func:`symupdates.scale_by_factored_rms`) \\
        u_t &= \rho_t\, \max(\operatorname{rms}(p_{t-1}), \epsilon_2)\;
        \frac{d_t}{\max(1, \operatorname{rms}(d_t)/d)} \\
        p_t &= p_{t-1} - \operatorname{ema}_{\beta_1}(u)_t - \lambda\, p_{t-1}

    with :math:`\rho_t = \eta` for ``form="optax"`` (the default) and
    :math:`\rho_t = \min(\eta, 1/\sqrt{t})` for ``form="torch"``.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 0.01
        :math:`\eta` (optax's ``None`` is 1).
    form : {"optax", "torch"}, default "optax"
        "optax" follows ``optax.adafactor``; "torch" ``torch.optim.Adafactor``
        (last two axes factored, :math:`\epsilon_1` as a clamp, relative step
        :math:`\min(\eta, 1/\sqrt t)`).
    decay_rate : float, default 0.8
        :math:`c` in :math:`1-\hat\beta_{2,t} = t^{-c}` (torch: ``-beta2_decay``).
    decay_offset : int, default 0
        Step offset of that schedule (optax).
    min_dim_size_to_factor : int, default 128
        optax: factor only when the second-largest axis has this many entries.
    epsilon : float, optional
        :math:`\epsilon_1`: optax 1e-30 (added to :math:`g^2`), torch the dtype's
        machine epsilon (a clamp).
    clipping_threshold : float or None, default 1.0
        :math:`d` (torch ``d``); ``None`` turns update clipping off.
    multiply_by_parameter_scale : bool, default True
        Multiply by :math:`\max(\operatorname{rms}(p), \epsilon_2)`.
    min_scale : float, default 1e-3
        :math:`\epsilon_2` (torch ``eps[1]``).
    momentum : float, optional
        :math:`\beta_1` of an (unbiased-corrected) moving average of the steps; ``None`` is off.
    weight_decay : float, default 0
        :math:`\lambda`, subtracted without the learning rate: :math:`p \leftarrow p - \rho_t u - \lambda p`
        (optax's ``weight_decay_rate``), in place of the common weight-decay options.
        torch's ``weight_decay`` :math:`w` corresponds to :math:`\lambda = \eta w`.
    factored : bool, default True
        False keeps a full second moment for every tensor.

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracles: ``optax.adafactor`` (0.2.8) with the default form;
    ``torch.optim.Adafactor`` (2.13) with ``form="torch"``. State:
    ``{param}.adafactor.v_row``, ``.v_col`` (factored) or ``.v``; ``{param}.ema.m``
    with momentum; the step counter.

    References
    ----------
    .. [1] Shazeer, N. & Stern, M. (2018). Adafactor: Adaptive Learning Rates with Sublinear
       Memory Cost. ICML. arXiv:1804.04235.
    """
    check_choice("form", form, ("optax", "torch"))
    if not isinstance(multiply_by_parameter_scale, bool):
        raise InputError(f"`multiply_by_parameter_scale` must be True or False, got {multiply_by_parameter_scale!r}.")
    if momentum is not None:
        check_decay("momentum", momentum)
    check_nonnegative("weight_decay", weight_decay)
    decays = not is_constant(weight_decay, 0.0)
    direction = chain(
        scale_by_factored_rms(
            decay_rate,
            decay_offset=decay_offset,
            min_dim_size_to_factor=min_dim_size_to_factor,
            epsilon=epsilon,
            factored=factored,
            form=form,
        ),
        None if clipping_threshold is None else clip_by_block_rms(clipping_threshold),
        scale_by_param_block_rms(min_scale) if multiply_by_parameter_scale else None,
    )
    after = chain(
        None if momentum is None else ema(momentum),
        add_decayed_weights(weight_decay) if decays else None,
    )
    rate = _relative_step(learning_rate) if form == "torch" else learning_rate
    return Recipe(direction, rate, after=after if (momentum is not None or decays) else None)


@optimizer
def sm3(learning_rate=1e-3, momentum=0.9, *, epsilon=1e-8):
    r"""SM3 (Anil et al., 2019): Adagrad with one accumulator per axis slice.

    .. math::

        \nu_t(i) = g_t(i)^2 + \min_a \mu^{(a)}_{t-1}(i_a), \qquad
        m_t = \beta\, m_{t-1} + (1-\beta)\, \frac{g_t}{\sqrt{\nu_t+\epsilon}}, \qquad
        p_t = p_{t-1} - \eta\, m_t

    See :func:`symupdates.scale_by_sm3`.

    Parameters
    ----------
    loss_or_grads, params
        As :func:`sgd`.
    learning_rate : float, symbolic scalar or schedule, default 1e-3
    momentum : float, default 0.9
        :math:`\beta`.
    epsilon : float, default 1e-8

    Returns
    -------
    Updates or functools.partial

    Notes
    -----
    Oracle: ``optax.sm3`` (0.2.8) for tensors with at least one axis (optax
    fails on 0-d ones; here they accumulate like vectors).

    References
    ----------
    .. [1] Anil, R., Gupta, V., Koren, T. & Singer, Y. (2019). Memory-Efficient Adaptive
       Optimization. NeurIPS. arXiv:1901.11150.
    """
    return Recipe(scale_by_sm3(momentum, epsilon), learning_rate)
