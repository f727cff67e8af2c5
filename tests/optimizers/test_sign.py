"""signSGD, Signum, Lion and Rprop against NumPy implementations of the papers' rules.

References: Bernstein et al. (2018) signSGD/Signum (algorithms 1 and 3), Chen et
al. (2023) Lion (algorithm 2), Riedmiller & Braun (1993) Rprop, in the variant
without backtracking that torch.optim.Rprop implements (a flipped gradient is
stored as zero). Gradients are fed as inputs, so the references need no model.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
from tests.conftest import FAST, assert_float32_kept, random_problem, run_trajectory

RTOL = {"float64": 1e-10, "float32": 1e-5}


# -- NumPy references, written from the papers ------------------------------------------


def ref_sign_sgd(p0, grads, lr):
    p, out = [x.astype("float64") for x in p0], []
    for g in grads:
        p = [pi - lr * np.sign(gi) for pi, gi in zip(p, g)]
        out.append(p)
    return out


def ref_signum(p0, grads, lr, beta):
    p, m, out = [x.astype("float64") for x in p0], [np.zeros(x.shape) for x in p0], []
    for g in grads:
        m = [beta * mi + (1 - beta) * gi for mi, gi in zip(m, g)]
        p = [pi - lr * np.sign(mi) for pi, mi in zip(p, m)]
        out.append(p)
    return out


def ref_lion(p0, grads, lr, beta1, beta2, wd):
    p, m, out = [x.astype("float64") for x in p0], [np.zeros(x.shape) for x in p0], []
    for g in grads:
        c = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
        p = [pi - lr * (np.sign(ci) + wd * pi) for pi, ci in zip(p, c)]
        m = [beta2 * mi + (1 - beta2) * gi for mi, gi in zip(m, g)]
        out.append(p)
    return out


def ref_rprop(p0, grads, init, eta_minus, eta_plus, lo, hi):
    """Rprop with per-element loops, so the reference shares no vectorised trick with the library."""
    p = [x.astype("float64").copy() for x in p0]
    prev = [np.zeros(x.shape) for x in p0]
    delta = [np.full(x.shape, init, dtype="float64") for x in p0]
    out = []
    for g in grads:
        for pi, gi, prv, dl in zip(p, g, prev, delta):
            for idx in np.ndindex(pi.shape):
                s = gi[idx] * prv[idx]
                if s > 0:
                    dl[idx] = min(dl[idx] * eta_plus, hi)
                    prv[idx] = gi[idx]
                elif s < 0:
                    dl[idx] = max(dl[idx] * eta_minus, lo)
                    prv[idx] = 0.0  # no step, and the next step sees "no previous sign"
                else:
                    dl[idx] = min(max(dl[idx], lo), hi)
                    prv[idx] = gi[idx]
                pi[idx] -= np.sign(prv[idx]) * dl[idx]
        out.append([x.copy() for x in p])
    return out


CASES = {
    "sign_sgd": (lambda: su.sign_sgd(learning_rate=0.05), lambda p0, g: ref_sign_sgd(p0, g, 0.05)),
    "signum": (lambda: su.signum(learning_rate=0.05, beta=0.8), lambda p0, g: ref_signum(p0, g, 0.05, 0.8)),
    "lion": (
        lambda: su.lion(learning_rate=0.03, beta1=0.85, beta2=0.97, decoupled_weight_decay=0.1),
        lambda p0, g: ref_lion(p0, g, 0.03, 0.85, 0.97, 0.1),
    ),
    "rprop": (
        lambda: su.rprop(learning_rate=0.02, etas=(0.4, 1.3), step_sizes=(1e-3, 0.05)),
        lambda p0, g: ref_rprop(p0, g, 0.02, 0.4, 1.3, 1e-3, 0.05),
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_paper_reference(name, dtype):
    make, reference = CASES[name]
    p0, grads = random_problem(7, dtype)
    ours, _ = run_trajectory(make(), p0, grads)
    expected = reference(p0, [[g.astype("float64") for g in gs] for gs in grads])
    for k, (got, want) in enumerate(zip(ours, expected)):
        for x, y in zip(got, want):
            assert x.dtype == dtype and x.shape == y.shape
            np.testing.assert_allclose(x, y, rtol=RTOL[dtype], atol=RTOL[dtype], err_msg=f"{name} step {k + 1}")


@pytest.mark.parametrize("make", [su.scale_by_sign, su.scale_by_lion, su.scale_by_rprop])
def test_zero_gradient_gives_zero_step(make):
    p0 = [np.array(1.5), np.array([0.5]), np.arange(6.0).reshape(2, 3)]
    grads = [[np.zeros_like(p) for p in p0]] * 3
    ours, _ = run_trajectory(su.chain(make(), su.scale_by_learning_rate(0.1)), p0, grads)
    for got, start in zip(ours[-1], p0):
        np.testing.assert_array_equal(got, start)


def test_rprop_sign_flip_shrinks_step_and_skips():
    p0 = [np.zeros(2)]
    # element 0 keeps its sign, element 1 flips at step 2, then keeps the flipped sign
    grads = [[np.array([1.0, 1.0])], [np.array([2.0, -1.0])], [np.array([3.0, -1.0])], [np.array([1.0, -1.0])]]
    ours, updates = run_trajectory(su.rprop(learning_rate=0.1, etas=(0.5, 2.0), step_sizes=(1e-6, 10.0)), p0, grads)
    traj = np.array([p[0] for p in ours])
    # element 0: steps 0.1, 0.2, 0.4, 0.8 against the gradient
    np.testing.assert_allclose(traj[:, 0], -np.cumsum([0.1, 0.2, 0.4, 0.8]), rtol=1e-12)
    # element 1: step 0.1, then a flip (no move, size 0.05), then factor 1 (move +0.05), then grow (+0.1)
    np.testing.assert_allclose(traj[:, 1], [-0.1, -0.1, -0.05, 0.05], rtol=1e-12)
    state = updates.state
    np.testing.assert_allclose(state["p0.rprop.step_size"].get_value(), [0.8, 0.1], rtol=1e-12)


def test_rprop_step_sizes_are_clipped():
    p0 = [np.zeros(3)]
    grads = [[np.ones(3)]] * 10
    ours, updates = run_trajectory(su.rprop(learning_rate=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3)), p0, grads)
    np.testing.assert_allclose(updates.state["p0.rprop.step_size"].get_value(), 0.3)
    steps = np.diff(np.array([p[0][0] for p in ours]))
    assert np.all(np.abs(steps) <= 0.3 + 1e-15)
    # alternating signs shrink every step until the floor
    _, updates = run_trajectory(
        su.rprop(learning_rate=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3)),
        p0,
        [[(-1.0) ** k * np.ones(3)] for k in range(20)],
    )
    assert np.all(updates.state["p0.rprop.step_size"].get_value() >= 0.01)


def test_lion_direction_uses_beta1_state_beta2():
    p0 = [np.zeros(2)]
    grads = [[np.array([1.0, -1.0])], [np.array([-0.5, 0.5])]]
    ours, updates = run_trajectory(su.lion(learning_rate=1.0, beta1=0.9, beta2=0.1), p0, grads)
    # m_1 = 0.9 g_1; step 2 direction: 0.9*m_1 + 0.1*g_2 keeps g_1's sign
    np.testing.assert_allclose(ours[1][0], [-2.0, 2.0])
    np.testing.assert_allclose(
        updates.state["p0.lion.m"].get_value(), 0.1 * 0.9 * np.array([1, -1]) + 0.9 * np.array([-0.5, 0.5])
    )


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: su.scale_by_lion(beta1=1.0), "beta1"),
        (lambda: su.scale_by_lion(beta2=-0.1), "beta2"),
        (lambda: su.lion(beta2=1.5), "beta2"),
        (lambda: su.signum(beta=1.0), "beta"),
        (lambda: su.scale_by_rprop(etas=(1.0, 1.2)), "etas[0]"),
        (lambda: su.scale_by_rprop(etas=(0.5, 0.9)), "etas[1]"),
        (lambda: su.scale_by_rprop(etas=(0.5,)), "etas"),
        (lambda: su.scale_by_rprop(step_sizes=(1.0, 0.1)), "step_sizes"),
        (lambda: su.scale_by_rprop(step_sizes=(-1.0, 0.1)), "step_sizes[0]"),
        (lambda: su.rprop(learning_rate=-0.1), "learning_rate"),
    ],
)
def test_validation_names_the_argument(build, argument):
    with pytest.raises(su.InputError, match=argument.replace("[", r"\[").replace("]", r"\]")):
        build()


@pytest.mark.parametrize("name", list(CASES))
def test_float32_params_stay_float32(name):
    make, _ = CASES[name]
    with pytensor.config.change_flags(floatX="float64"):
        p0, grads = random_problem(3, "float32", n_steps=2)
        ours, updates = run_trajectory(make(), p0, grads)
    assert_float32_kept(updates, ours)


_SIGN_FN = {}


def _sign_step_fn():
    if not _SIGN_FN:
        p = pytensor.shared(np.zeros(4), name="p")
        g = pt.vector("g", dtype="float64", shape=(4,))
        lr = pt.scalar("lr", dtype="float64")
        updates = su.signum([g], [p], learning_rate=lr, beta=0.5)
        _SIGN_FN["fn"] = (pytensor.function([g, lr], [], updates=updates, mode=FAST), p, updates)
    return _SIGN_FN["fn"]


@settings(max_examples=30, deadline=None)
@given(
    g=st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=4, max_size=4),
    lr=st.floats(1e-4, 10.0),
)
def test_sign_step_has_magnitude_learning_rate(g, lr):
    fn, p, updates = _sign_step_fn()
    updates.reset()
    p.set_value(np.zeros(4))
    g = np.array(g)
    fn(g, lr)
    step = -p.get_value()
    np.testing.assert_allclose(np.abs(step), np.where(g != 0, lr, 0.0), rtol=1e-15)
    np.testing.assert_array_equal(np.sign(step), np.sign(g))
