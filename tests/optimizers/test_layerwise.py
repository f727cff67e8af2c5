"""LARS, LAMB, NovoGrad and the trust ratio against NumPy implementations of the papers.

References: You et al. (2017) LARS (algorithm 1, with momentum on the
learning-rate-scaled step), You et al. (2020) LAMB (algorithm 2, Adam's
bias-corrected direction), Ginsburg et al. (2019) NovoGrad (algorithm 1 with
the new term not weighted by 1 - beta1, as the library documents). Norms are
per tensor; a ratio with a zero norm is 1.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
from symupdates.core import BuildContext
from symupdates.transforms.layerwise import block_rms, tensor_norm
from tests.conftest import FAST, assert_float32_kept, random_problem, run_trajectory

RTOL = {"float64": 1e-10, "float32": 2e-4}


def norm(x):
    return float(np.sqrt(np.sum(np.square(x))))


def ratio(p, d, c=1.0, eps=0.0):
    pn, dn = norm(p), norm(d)
    return 1.0 if pn == 0 or dn == 0 else c * pn / (dn + eps)


# -- NumPy references ---------------------------------------------------------------------


def ref_lars(p0, grads, lr, mu, c, eps, wd, nesterov):
    p, b, out = [x.astype("float64") for x in p0], [np.zeros(x.shape) for x in p0], []
    for g in grads:
        new_p = []
        for i, (pi, gi) in enumerate(zip(p, g)):
            d = gi + wd * pi
            step = lr * ratio(pi, d, c, eps) * d
            b[i] = mu * b[i] + step
            new_p.append(pi - (step + mu * b[i] if nesterov else b[i]))
        p = new_p
        out.append(p)
    return out


def ref_lamb(p0, grads, lr, b1, b2, eps, wd):
    p = [x.astype("float64") for x in p0]
    m, v = [np.zeros(x.shape) for x in p0], [np.zeros(x.shape) for x in p0]
    out = []
    for t, g in enumerate(grads, start=1):
        new_p = []
        for i, (pi, gi) in enumerate(zip(p, g)):
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi**2
            d = (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps) + wd * pi
            new_p.append(pi - lr * ratio(pi, d) * d)
        p = new_p
        out.append(p)
    return out


def ref_novograd(p0, grads, lr, b1, b2, eps, wd):
    p = [x.astype("float64") for x in p0]
    m, v = [np.zeros(x.shape) for x in p0], [None] * len(p0)
    out = []
    for g in grads:
        new_p = []
        for i, (pi, gi) in enumerate(zip(p, g)):
            sq = float(np.sum(gi**2))
            v[i] = sq if v[i] is None else b2 * v[i] + (1 - b2) * sq
            m[i] = b1 * m[i] + gi / (np.sqrt(v[i]) + eps) + wd * pi
            new_p.append(pi - lr * m[i])
        p = new_p
        out.append(p)
    return out


CASES = {
    "lars": (
        lambda: su.lars(learning_rate=0.1, momentum=0.8, trust_coefficient=0.02, epsilon=1e-3, weight_decay=0.01),
        lambda p0, g: ref_lars(p0, g, 0.1, 0.8, 0.02, 1e-3, 0.01, False),
    ),
    "lars_nesterov": (
        lambda: su.lars(learning_rate=0.1, momentum=0.7, trust_coefficient=0.05, nesterov=True),
        lambda p0, g: ref_lars(p0, g, 0.1, 0.7, 0.05, 0.0, 0.0, True),
    ),
    "lars_no_momentum": (
        lambda: su.lars(learning_rate=0.1, momentum=0.0, trust_coefficient=0.05),
        lambda p0, g: ref_lars(p0, g, 0.1, 0.0, 0.05, 0.0, 0.0, False),
    ),
    "lamb": (
        lambda: su.lamb(learning_rate=0.01, beta1=0.8, beta2=0.95, epsilon=1e-6, weight_decay=0.05),
        lambda p0, g: ref_lamb(p0, g, 0.01, 0.8, 0.95, 1e-6, 0.05),
    ),
    "novograd": (
        lambda: su.novograd(learning_rate=0.01, beta1=0.85, beta2=0.5, epsilon=1e-6, weight_decay=0.02),
        lambda p0, g: ref_novograd(p0, g, 0.01, 0.85, 0.5, 1e-6, 0.02),
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_paper_reference(name, dtype):
    make, reference = CASES[name]
    p0, grads = random_problem(11, dtype)
    ours, _ = run_trajectory(make(), p0, grads)
    expected = reference(p0, [[g.astype("float64") for g in gs] for gs in grads])
    for k, (got, want) in enumerate(zip(ours, expected)):
        for x, y in zip(got, want):
            assert x.dtype == dtype and x.shape == y.shape
            scale = max(1.0, np.max(np.abs(y)))
            np.testing.assert_allclose(x, y, rtol=RTOL[dtype], atol=RTOL[dtype] * scale, err_msg=f"{name} step {k + 1}")


@pytest.mark.parametrize("name", ["lars", "lamb"])
def test_zero_parameter_norm_gives_ratio_one(name):
    """A zero tensor (e.g. a fresh bias) takes the unscaled step, not NaN or a zero step."""
    p0 = [np.zeros(3), np.zeros(())]
    grads = [[np.array([1.0, -2.0, 2.0]), np.array(0.5)]]
    make = {
        "lars": lambda: su.lars(learning_rate=0.1, momentum=0.0, trust_coefficient=0.001),
        "lamb": lambda: su.lamb(learning_rate=0.1, epsilon=0.0),
    }[name]
    ours, _ = run_trajectory(make(), p0, grads)
    expected = {"lars": [-0.1 * grads[0][0], np.array(-0.05)], "lamb": [-0.1 * np.sign(grads[0][0]), np.array(-0.1)]}[
        name
    ]
    for got, want in zip(ours[0], expected):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("make", [su.lars, su.lamb, su.novograd])
def test_zero_gradient_is_finite(make):
    p0 = [np.array([1.0, 2.0]), np.zeros(2)]
    grads = [[np.zeros(2), np.zeros(2)]] * 3
    ours, _ = run_trajectory(make(), p0, grads)
    for got, start in zip(ours[-1], p0):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, start)


def test_trust_ratio_mask_leaves_masked_tensors_alone():
    p0, grads = random_problem(5, "float64", shapes=[(3,), (2,)], n_steps=1)
    transform = su.chain(su.scale_by_trust_ratio(0.5, mask={"p1": False}), su.scale_by_learning_rate(0.1))
    ours, _ = run_trajectory(transform, p0, grads)
    np.testing.assert_allclose(ours[0][1], p0[1] - 0.1 * grads[0][1], rtol=1e-14)
    np.testing.assert_allclose(ours[0][0], p0[0] - 0.1 * ratio(p0[0], grads[0][0], 0.5) * grads[0][0], rtol=1e-12)


def test_novograd_first_moment_is_squared_norm():
    p0, grads = random_problem(2, "float64", shapes=[(2, 3)], n_steps=1)
    _, updates = run_trajectory(su.novograd(beta2=0.9), p0, grads)
    np.testing.assert_allclose(updates.state["p0.novograd.nu"].get_value(), np.sum(grads[0][0] ** 2), rtol=1e-14)
    assert updates.state["p0.novograd.nu"].get_value().shape == ()


def test_helpers():
    x = np.arange(-3.0, 3.0).reshape(2, 3)
    xs = pt.constant(x)
    np.testing.assert_allclose(tensor_norm(xs).eval(), np.linalg.norm(x), rtol=1e-14)
    np.testing.assert_allclose(block_rms(xs).eval(), np.linalg.norm(x) / np.sqrt(x.size), rtol=1e-14)
    p = pytensor.shared(np.ones((2, 3), dtype="float32"), name="w")
    ctx = BuildContext([p], [p], "opt")
    with ctx.labelled("layer"):
        row = ctx.state(0, "row", fill=2.0, shape=(3,))
        scalar = ctx.state(0, "nu", shape=())
    assert row.name == "w.layer.row" and scalar.name == "w.layer.nu"
    assert row.dtype == scalar.dtype == "float32"
    assert row.type.shape == (3,) and scalar.type.shape == ()
    np.testing.assert_array_equal(row.get_value(), np.full(3, 2.0, dtype="float32"))


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: su.scale_by_trust_ratio(trust_coefficient=-1.0), "trust_coefficient"),
        (lambda: su.scale_by_trust_ratio(epsilon=-1e-3), "epsilon"),
        (lambda: su.scale_by_trust_ratio(mask=3), "trust_ratio_mask"),
        (lambda: su.scale_by_novograd(beta1=1.0), "beta1"),
        (lambda: su.scale_by_novograd(beta2=-0.5), "beta2"),
        (lambda: su.novograd(epsilon=-1.0), "epsilon"),
        (lambda: su.novograd(weight_decay=-1.0), "weight_decay"),
        (lambda: su.lamb(beta1=1.0), "beta1"),
        (lambda: su.lamb(beta2=2.0), "beta2"),
        (lambda: su.lars(trust_coefficient=-0.1), "trust_coefficient"),
        (lambda: su.lars(momentum=1.0), "momentum"),
    ],
)
def test_validation_names_the_argument(build, argument):
    with pytest.raises(su.InputError, match=argument):
        build()


@pytest.mark.parametrize("name", ["lars", "lamb", "novograd"])
def test_float32_params_stay_float32(name):
    make, _ = CASES[name]
    with pytensor.config.change_flags(floatX="float64"):
        p0, grads = random_problem(3, "float32", n_steps=2)
        ours, updates = run_trajectory(make(), p0, grads)
    assert_float32_kept(updates, ours)


_FN = {}


def _ratio_fn():
    if not _FN:
        p = pytensor.shared(np.zeros(4), name="p")
        g = pt.vector("g", dtype="float64", shape=(4,))
        c = pt.scalar("c", dtype="float64")
        updates = su.chain(su.scale_by_trust_ratio(c), su.scale_by_learning_rate(0.1))([g], [p])
        _FN["fn"] = (pytensor.function([g, c], [], updates=updates, mode=FAST), p)
    return _FN["fn"]


# The NumPy reference's norm squares its input: below ~1e-154 it underflows to 0 (ours does not),
# so elements are 0 or at least 1e-100 in magnitude.
elements = st.floats(-1e2, 1e2, allow_subnormal=False).filter(lambda x: x == 0 or abs(x) >= 1e-100)
vectors = st.lists(elements, min_size=4, max_size=4).map(np.array)


@settings(max_examples=30, deadline=None)
@given(p=vectors, g=vectors, c=st.floats(1e-3, 10.0))
def test_trust_ratio_step_norm(p, g, c):
    """||step|| = lr c ||p|| and the step is parallel to g (when both norms are non-zero)."""
    fn, shared = _ratio_fn()
    shared.set_value(p.copy())
    fn(g, c)
    step = p - shared.get_value()
    if norm(p) == 0 or norm(g) == 0:
        np.testing.assert_allclose(step, 0.1 * g, rtol=1e-12, atol=1e-12 * norm(p))
        return
    np.testing.assert_allclose(norm(step), 0.1 * c * norm(p), rtol=1e-9)
    np.testing.assert_allclose(step, 0.1 * c * norm(p) / norm(g) * g, rtol=1e-9, atol=1e-9 * norm(p))
