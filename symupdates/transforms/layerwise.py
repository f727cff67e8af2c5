"""Layer-wise scalings: the trust ratio of LARS and LAMB, NovoGrad's per-layer second moment.

"Layer-wise" means per parameter tensor: one norm, one ratio or one moment
for the whole tensor. The helpers :func:`tensor_norm` and :func:`block_rms`
are shared with :mod:`symupdates.transforms.factored`.
"""

from __future__ import annotations

import dataclasses

import pytensor.tensor as pt

from symupdates.core.checks import InputError, check_decay, check_nonnegative, renamed_arguments
from symupdates.core.numerics import is_zero, mean, total
from symupdates.core.transform import Transform
from symupdates.transforms.linear import resolve_per_param

__all__ = ["scale_by_trust_ratio", "scale_by_novograd"]


def tensor_norm(x):
    """The L2 (Frobenius) norm of a whole tensor."""
    # abs: PyTensor 2.38 rewrites sqrt(sqr(x)) to switch(x >= 0, x, nan), which a one-element sum exposes
    return pt.sqrt(total(pt.sqr(pt.abs(x))))


def block_rms(x):
    """The root mean square of a whole tensor, :math:`\\|x\\|_2/\\sqrt{n}`."""
    return pt.sqrt(mean(pt.sqr(pt.abs(x))))  # abs: see tensor_norm


@dataclasses.dataclass(frozen=True)
class ScaleByTrustRatio(Transform):
    trust_coefficient: object = 1.0
    epsilon: object = 0.0
    mask: object = None
    name = "trust_ratio"

    def __post_init__(self):
        check_nonnegative("trust_coefficient", self.trust_coefficient)
        check_nonnegative("epsilon", self.epsilon)
        if self.mask is not None and not callable(self.mask) and not isinstance(self.mask, dict):
            raise InputError("`trust_ratio_mask` must be a dict {parameter or name: bool} or a callable(parameter).")

    def build(self, ctx, directions):
        keep = resolve_per_param(self.mask, ctx, "trust_ratio_mask", default=True)
        out = []
        for target, u, on in zip(ctx.targets, directions, keep):
            if not on:
                out.append(u)
                continue
            p_norm, u_norm = tensor_norm(target), tensor_norm(u)
            ratio = ctx.hyper(self.trust_coefficient, u.dtype) * p_norm / (u_norm + ctx.hyper(self.epsilon, u.dtype))
            degenerate = is_zero(p_norm) | is_zero(u_norm)
            out.append(u * pt.switch(degenerate, pt.ones((), dtype=u.dtype), ratio))
        return out


def scale_by_trust_ratio(trust_coefficient=1.0, epsilon=0.0, *, mask=None) -> Transform:
    r"""Rescale each tensor's update by its trust ratio (LARS, LAMB).

    .. math::

        u \leftarrow u \cdot \frac{c\,\|p\|_2}{\|u\|_2 + \epsilon},
        \quad\text{or } u \text{ unchanged when } \|p\|_2 = 0 \text{ or } \|u\|_2 = 0,

    norms over the whole tensor. Put any weight decay *before* this transform
    to have it inside the ratio (LAMB, LARS). ``mask`` (callable(parameter)
    -> bool or {parameter or name: bool}; unlisted ones are scaled) leaves
    the ``False`` tensors' updates unchanged — e.g. biases and norms in LARS.

    References
    ----------
    .. [1] You, Y., Gitman, I. & Ginsburg, B. (2017). Large Batch Training of Convolutional
       Networks. arXiv:1708.03888.
    .. [2] You, Y. et al. (2020). Large Batch Optimization for Deep Learning: Training BERT in
       76 minutes. ICLR.
    """
    return ScaleByTrustRatio(trust_coefficient, epsilon, mask)


@dataclasses.dataclass(frozen=True)
class ScaleByNovograd(Transform):
    beta1: object = 0.9
    beta2: object = 0.25
    epsilon: object = 1e-6
    weight_decay: object = 0.0
    name = "novograd"

    def __post_init__(self):
        check_decay("beta1", self.beta1)
        check_decay("beta2", self.beta2)
        check_nonnegative("epsilon", self.epsilon)
        check_nonnegative("weight_decay", self.weight_decay)

    def build(self, ctx, directions):
        out = []
        first = is_zero(ctx.step)
        for i, g in enumerate(directions):
            dtype = g.dtype
            nu = ctx.state(i, "nu", shape=())
            squared = total(pt.sqr(g))
            b2 = ctx.hyper(self.beta2, dtype)
            new_nu = pt.switch(first, squared, b2 * nu + ctx.one_minus(self.beta2, dtype) * squared)
            ctx.set(nu, new_nu)
            normalised = g / (pt.sqrt(new_nu) + ctx.hyper(self.epsilon, dtype))
            normalised = normalised + ctx.hyper(self.weight_decay, dtype) * ctx.targets[i]
            m = ctx.state(i, "m")
            new_m = ctx.hyper(self.beta1, dtype) * m + normalised  # m_0 = 0 gives m_1 = the first term
            ctx.set(m, new_m)
            out.append(new_m)
        return out


@renamed_arguments(weight_decay_rate="weight_decay")
def scale_by_novograd(beta1=0.9, beta2=0.25, epsilon=1e-6, *, weight_decay=0.0) -> Transform:
    r"""NovoGrad's direction (Ginsburg et al., 2019): a per-layer second moment.

    .. math::

        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\,\|g_t\|_2^2, \qquad v_1 = \|g_1\|_2^2 \\
        m_t &= \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t}+\epsilon} + \lambda\, p, \qquad m_0 = 0 \\
        u_t &= m_t

    :math:`v` is one scalar per tensor. The momentum does not weight the new
    term by :math:`1-\beta_1` (as the paper's algorithm 1 and optax.novograd),
    and the weight decay :math:`\lambda` (``weight_decay``) sits inside it.

    State: ``nu`` (a scalar) and ``m`` per parameter; the step counter.

    References
    ----------
    .. [1] Ginsburg, B. et al. (2019). Stochastic Gradient Methods with Layer-wise Adaptive
       Moments for Training of Deep Networks. arXiv:1905.11286.
    """
    return ScaleByNovograd(beta1, beta2, epsilon, weight_decay)
