"""ema, iterate averaging and ASGD against NumPy implementations.

References: the exponential moving average m_t = beta m_{t-1} + (1 - beta) u_t;
Polyak & Juditsky (1992) iterate averaging with torch.optim.ASGD's schedule
(mu_t = 1 / max(1, t - 1 - t0), step sizes eta / (1 + lambda eta (t - 1))^alpha).
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
from tests.conftest import FAST, assert_float32_kept, random_problem, run_trajectory

N_STEPS = 20
RTOL = {"float64": 1e-10, "float32": 1e-5}


def run_with_averages(factory, p0, grads):
    """:func:`run_trajectory`, also recording the averaged parameters after every step."""
    averages = []

    def record(updates):
        state = updates.state
        averages.append(
            [state[f"p{i}.averaging.ax"].get_value().copy() for i in range(len(p0))]
            if "p0.averaging.ax" in state
            else None
        )

    out, updates = run_trajectory(factory, p0, grads, after_step=record)
    return out, averages, updates


def ref_ema_sgd(p0, grads, lr, beta):
    p, m, out = [x.astype("float64") for x in p0], [np.zeros(x.shape) for x in p0], []
    for g in grads:
        m = [beta * mi + (1 - beta) * gi for mi, gi in zip(m, g)]
        p = [pi - lr * mi for pi, mi in zip(p, m)]
        out.append(p)
    return out


def ref_asgd(p0, grads, lr, lambd, alpha, t0):
    """Returns the iterates and the averages after every step."""
    p = [x.astype("float64") for x in p0]
    ax = [np.zeros(x.shape) for x in p0]
    out, averages = [], []
    for t, g in enumerate(grads, start=1):
        eta = lr / (1 + lambd * lr * (t - 1)) ** alpha
        p = [pi - eta * (gi + lambd * pi) for pi, gi in zip(p, g)]
        mu = 1.0 if t == 1 else 1.0 / max(1.0, t - 1 - t0)
        ax = [a + mu * (pi - a) for a, pi in zip(ax, p)]
        out.append(p)
        averages.append(ax)
    return out, averages


def assert_close(got, want, dtype, what):
    for k, (gs, ws) in enumerate(zip(got, want)):
        for x, y in zip(gs, ws):
            assert x.dtype == dtype and x.shape == y.shape
            np.testing.assert_allclose(x, y, rtol=RTOL[dtype], atol=RTOL[dtype], err_msg=f"{what} step {k + 1}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ema_matches_reference(dtype):
    p0, grads = random_problem(17, dtype)
    ours, _, _ = run_with_averages(su.chain(su.ema(0.7), su.scale_by_learning_rate(0.1)), p0, grads)
    assert_close(ours, ref_ema_sgd(p0, [[g.astype("float64") for g in gs] for gs in grads], 0.1, 0.7), dtype, "ema")


@pytest.mark.parametrize("t0", [0, 3, 7.5, 1e6])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_asgd_matches_reference(dtype, t0):
    p0, grads = random_problem(19, dtype)
    ours, averages, _ = run_with_averages(su.asgd(learning_rate=0.05, lambd=0.1, alpha=0.6, t0=t0), p0, grads)
    want, want_avg = ref_asgd(p0, [[g.astype("float64") for g in gs] for gs in grads], 0.05, 0.1, 0.6, t0)
    assert_close(ours, want, dtype, "asgd")
    assert_close(averages, want_avg, dtype, "asgd average")


@pytest.mark.parametrize("t0", [0, 2, 5])
def test_average_is_the_mean_of_the_iterates_after_t0(t0):
    """Polyak averaging: from step t0 + 2 on, the average is the plain mean of the iterates p_{t0+2}..p_t."""
    p0, grads = random_problem(23, "float64", shapes=[(3,)])
    ours, averages, _ = run_with_averages(su.asgd(learning_rate=0.1, t0=t0), p0, grads)
    iterates = np.array([step[0] for step in ours])  # iterates[k] = p_{k+1}
    for t in range(t0 + 2, N_STEPS + 1):
        np.testing.assert_allclose(averages[t - 1][0], iterates[t0 + 1 : t].mean(axis=0), rtol=1e-12)
    # before t0 + 2 the average follows the parameter
    for t in range(1, min(t0 + 2, N_STEPS + 1)):
        np.testing.assert_allclose(averages[t - 1][0], iterates[t - 1], rtol=1e-12)


def test_average_iterates_leaves_updates_alone():
    p0, grads = random_problem(29, "float64")
    plain, _, _ = run_with_averages(su.scale_by_learning_rate(0.1), p0, grads)
    averaged, averages, updates = run_with_averages(
        su.chain(su.scale_by_learning_rate(0.1), su.average_iterates(t0=0)), p0, grads
    )
    for a, b in zip(plain[-1], averaged[-1]):
        np.testing.assert_array_equal(a, b)
    found = su.averaged_parameters(updates)
    assert list(found) == updates.params
    for ax, value in zip(found.values(), averages[-1]):
        np.testing.assert_array_equal(ax.get_value(), value)


def test_averaged_parameters_errors():
    p0, grads = random_problem(1, "float64", shapes=[(2,)], n_steps=1)
    _, _, updates = run_with_averages(su.sgd, p0, grads)
    with pytest.raises(su.InputError, match="no averaged parameters"):
        su.averaged_parameters(updates)
    with pytest.raises(su.InputError, match="Updates"):
        su.averaged_parameters(dict(updates))


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: su.ema(decay=1.0), "decay"),
        (lambda: su.ema(decay=-0.1), "decay"),
        (lambda: su.average_iterates(t0=-1), "t0"),
        (lambda: su.average_iterates(t0=lambda step: step), "t0"),
        (lambda: su.asgd(t0=-5), "t0"),
        (lambda: su.asgd(lambd=-1e-4), "lambd"),
        (lambda: su.asgd(alpha=-0.75), "alpha"),
        (lambda: su.asgd(learning_rate=-0.1), "learning_rate"),
    ],
)
def test_validation_names_the_argument(build, argument):
    with pytest.raises(su.InputError, match=argument):
        build()


@pytest.mark.parametrize("make", [lambda: su.asgd(t0=1), lambda: su.chain(su.ema(0.5), su.scale_by_learning_rate(0.1))])
def test_float32_params_stay_float32(make):
    with pytensor.config.change_flags(floatX="float64"):
        p0, grads = random_problem(3, "float32", n_steps=3)
        ours, _, updates = run_with_averages(make(), p0, grads)
    assert_float32_kept(updates, ours)


_FN = {}


def _ema_fn():
    if not _FN:
        p = pytensor.shared(np.zeros(3), name="p")
        g = pt.vector("g", dtype="float64", shape=(3,))
        updates = su.ema(0.6)([g], [p])
        _FN["fn"] = (pytensor.function([g], [], updates=updates, mode=FAST), p, updates)
    return _FN["fn"]


@settings(max_examples=25, deadline=None)
@given(c=st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3).map(np.array), n=st.integers(1, 8))
def test_ema_of_a_constant(c, n):
    """For a constant input c, m_n = (1 - beta^n) c, so the parameter moves by sum_k (1 - beta^k) c."""
    fn, p, updates = _ema_fn()
    updates.reset()
    p.set_value(np.zeros(3))
    for _ in range(n):
        fn(c)
    np.testing.assert_allclose(updates.state["p.ema.m"].get_value(), (1 - 0.6**n) * c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(-p.get_value(), sum(1 - 0.6**k for k in range(1, n + 1)) * c, rtol=1e-12, atol=1e-9)
