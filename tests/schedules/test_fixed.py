"""Schedules: NumPy formulas, torch.optim.lr_scheduler and optax oracles, backends, no-lag."""

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
from symupdates import schedules as S
from tests.conftest import FAST, run_steps

N = 1000
K = np.arange(N, dtype=np.float64)


def cos_factor(count, T):
    return 0.5 * (1 + np.cos(np.pi * np.minimum(count, T) / T))


def np_restarts(lr, T0, Tm, eta_min, n):
    """SGDR by its recurrence over the steps (independent of the closed form used in the graph)."""
    out, t_cur, t_i = [], 0, T0
    for _ in range(n):
        out.append(eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * Tm
    return np.array(out)


def np_one_cycle(max_lr, total, pct, strategy, div, fdiv, three):
    init, final = max_lr / div, max_lr / div / fdiv
    r = pct * total - 1
    phases = (
        [(r, init, max_lr), (2 * r, max_lr, init), (total - 1, init, final)]
        if three
        else [(r, init, max_lr), (total - 1, max_lr, final)]
    )
    out = []
    for k in range(N):
        begin = 0.0
        for j, (end, a, b) in enumerate(phases):
            if k <= end or j == len(phases) - 1:
                x = min(max((k - begin) / (end - begin), 0.0), 1.0)
                out.append(b + (a - b) / 2 * (1 + math.cos(math.pi * x)) if strategy == "cos" else a + (b - a) * x)
                break
            begin = end
    return np.array(out)


# (schedule, NumPy formula over K)
NUMPY_CASES = {
    "constant": (S.constant(0.3), np.full(N, 0.3)),
    "exponential": (S.exponential_decay(0.1, 0.99), 0.1 * 0.99**K),
    "exponential_stairs_begin_floor": (
        S.exponential_decay(0.1, 0.5, 100, transition_begin=50, staircase=True, end_value=0.01),
        np.maximum(np.where(K <= 50, 0.1, 0.1 * 0.5 ** np.floor((K - 50) / 100)), 0.01),
    ),
    "exponential_growth_ceiling": (
        S.exponential_decay(0.1, 1.01, end_value=0.5),
        np.minimum(0.1 * 1.01**K, 0.5),
    ),
    "step": (S.step(0.1, 300, 0.5), 0.1 * 0.5 ** (K // 300)),
    "multistep": (S.multistep(0.1, [500, 100, 500], 0.1), 0.1 * 0.1 ** ((K >= 100) + 2.0 * (K >= 500))),
    "piecewise": (
        S.piecewise_constant(0.1, {200: 0.5, 600: 0.1}),
        0.1 * np.where(K >= 200, 0.5, 1) * np.where(K >= 600, 0.1, 1),
    ),
    "linear": (S.linear(0.1, 0.02, 400, transition_begin=100), 0.1 + (0.02 - 0.1) * np.clip(K - 100, 0, 400) / 400),
    "polynomial": (S.polynomial(0.1, 0.001, 2.0, 700), (0.1 - 0.001) * (1 - np.minimum(K, 700) / 700) ** 2 + 0.001),
    "cosine_alpha": (S.cosine_decay(0.1, 800, 0.05), 0.1 * (0.95 * cos_factor(K, 800) + 0.05)),
    "cosine_eta_min_exponent": (
        S.cosine_decay(0.1, 800, exponent=2.0, eta_min=0.003),
        0.003 + (0.1 - 0.003) * cos_factor(K, 800) ** 2,
    ),
    "warmup": (
        S.warmup(S.step(0.1, 200, 0.5), 50, 0.01),
        np.where(K < 50, 0.01 + (0.1 - 0.01) * K / 50, 0.1 * 0.5 ** (np.maximum(K - 50, 0) // 200)),
    ),
    "warmup_cosine": (
        S.warmup_cosine(0.0, 0.2, 100, 900, 0.002),
        np.where(K < 100, 0.2 * K / 100, 0.2 * (0.99 * cos_factor(np.maximum(K - 100, 0), 800) + 0.01)),
    ),
    "one_cycle_cos": (S.one_cycle(0.1, N), np_one_cycle(0.1, N, 0.3, "cos", 25.0, 1e4, False)),
    "one_cycle_linear_three": (
        S.one_cycle(
            0.2, 800, pct_start=0.25, anneal_strategy="linear", div_factor=10, final_div_factor=100, three_phase=True
        ),
        np_one_cycle(0.2, 800, 0.25, "linear", 10, 100, True),
    ),
    "restarts": (S.cosine_restarts(0.1, 70), np_restarts(0.1, 70, 1, 0.0, N)),
    "restarts_mult": (S.cosine_restarts(0.1, 10, 2, 0.001), np_restarts(0.1, 10, 2, 0.001, N)),
    "restarts_mult3": (S.cosine_restarts(0.1, 1, 3), np_restarts(0.1, 1, 3, 0.0, N)),
    "join": (
        S.join([S.constant(0.1), S.linear(0.1, 0.0, 100), S.constant(0.05)], [300, 500]),
        np.where(K < 300, 0.1, np.where(K < 500, 0.1 - 0.1 * np.minimum(K - 300, 100) / 100, 0.05)),
    ),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CASES))
def test_matches_numpy_formula(name):
    schedule, expected = NUMPY_CASES[name]
    values = S.evaluate(schedule, N)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-15)


# -- torch.optim.lr_scheduler ---------------------------------------------------

torch = pytest.importorskip("torch")
L = torch.optim.lr_scheduler

TORCH_CASES = {
    "exponential": (lambda o: L.ExponentialLR(o, 0.995), S.exponential_decay(0.1, 0.995)),
    "step": (lambda o: L.StepLR(o, 100, 0.5), S.step(0.1, 100, 0.5)),
    "multistep": (lambda o: L.MultiStepLR(o, [100, 400, 400], 0.3), S.multistep(0.1, [100, 400, 400], 0.3)),
    "linear": (lambda o: L.LinearLR(o, 0.25, 0.75, 600), S.linear(0.025, 0.075, 600)),
    "polynomial": (lambda o: L.PolynomialLR(o, 800, 2.0), S.polynomial(0.1, 0.0, 2.0, 800)),
    "cosine": (lambda o: L.CosineAnnealingLR(o, N, 0.001), S.cosine_decay(0.1, N, eta_min=0.001)),
    "one_cycle": (
        lambda o: L.OneCycleLR(o, 0.1, total_steps=N, cycle_momentum=False),
        S.one_cycle(0.1, N),
    ),
    "one_cycle_three_linear": (
        lambda o: L.OneCycleLR(
            o, 0.1, total_steps=N, pct_start=0.2, anneal_strategy="linear", three_phase=True, cycle_momentum=False
        ),
        S.one_cycle(0.1, N, pct_start=0.2, anneal_strategy="linear", three_phase=True),
    ),
    "restarts": (lambda o: L.CosineAnnealingWarmRestarts(o, 50), S.cosine_restarts(0.1, 50)),
    "restarts_mult": (lambda o: L.CosineAnnealingWarmRestarts(o, 7, 2, 0.001), S.cosine_restarts(0.1, 7, 2, 0.001)),
    "warmup_sequential": (
        lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 50), L.ExponentialLR(o, 0.99)], [50]),
        S.warmup(S.exponential_decay(0.1, 0.99), 50, 0.01),
    ),
}


def torch_lrs(make):
    """The rate torch uses at steps 0..N-1: the one after k calls of scheduler.step()."""
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(N):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return np.array(out)


def differences(a, b):
    abs_diff = np.abs(a - b)
    return abs_diff.max(), (abs_diff / np.maximum(np.abs(b), 1e-300)).max()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_scheduler(name):
    make, schedule = TORCH_CASES[name]
    expected = torch_lrs(make)
    values = S.evaluate(schedule, N)
    max_abs, max_rel = differences(values, expected)
    print(f"torch {name}: max abs {max_abs:.3g}, max rel {max_rel:.3g}")
    # torch updates most rates recursively (lr *= ...), so they drift by a few ulp per step
    assert max_rel < 1e-11


# -- optax ------------------------------------------------------------------------

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
optax = pytest.importorskip("optax")

OPTAX_CASES = {
    "constant": (optax.constant_schedule(0.3), S.constant(0.3)),
    "exponential": (
        optax.exponential_decay(0.1, 100, 0.5, transition_begin=50, staircase=True, end_value=0.01),
        S.exponential_decay(0.1, 0.5, 100, transition_begin=50, staircase=True, end_value=0.01),
    ),
    "exponential_smooth": (optax.exponential_decay(0.1, 10, 0.97), S.exponential_decay(0.1, 0.97, 10)),
    "piecewise": (
        optax.piecewise_constant_schedule(0.1, {200: 0.5, 600: 0.1}),
        S.piecewise_constant(0.1, {200: 0.5, 600: 0.1}),
    ),
    "linear": (optax.linear_schedule(0.1, 0.02, 400, 100), S.linear(0.1, 0.02, 400, transition_begin=100)),
    "polynomial": (
        optax.polynomial_schedule(0.1, 0.001, 3, 700, 20),
        S.polynomial(0.1, 0.001, 3, 700, transition_begin=20),
    ),
    "cosine": (optax.cosine_decay_schedule(0.1, 800, 0.05, 1.5), S.cosine_decay(0.1, 800, 0.05, exponent=1.5)),
    "warmup_cosine": (
        optax.warmup_cosine_decay_schedule(0.0, 0.2, 100, 900, 0.002),
        S.warmup_cosine(0.0, 0.2, 100, 900, 0.002),
    ),
    "join": (
        optax.join_schedules([optax.constant_schedule(0.1), optax.linear_schedule(0.1, 0.0, 100)], [300]),
        S.join([S.constant(0.1), S.linear(0.1, 0.0, 100)], [300]),
    ),
    "warmup_exponential": (
        optax.join_schedules([optax.linear_schedule(0.01, 0.1, 50), optax.exponential_decay(0.1, 1, 0.99)], [50]),
        S.warmup(S.exponential_decay(0.1, 0.99), 50, 0.01),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTAX_CASES))
def test_matches_optax_schedule(name):
    reference, schedule = OPTAX_CASES[name]
    expected = np.array([float(reference(k)) for k in range(N)])
    values = S.evaluate(schedule, N)
    max_abs, max_rel = differences(values, expected)
    print(f"optax {name}: max abs {max_abs:.3g}, max rel {max_rel:.3g}")
    assert max_rel < 1e-13


# -- dtypes and backends ------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int32"])
def test_any_integer_step_dtype(dtype):
    k = pt.vector("k", dtype=dtype)
    names = sorted(NUMPY_CASES)
    outs = [NUMPY_CASES[n][0](k) for n in names]
    fn = pytensor.function([k], outs, mode=FAST)
    steps = np.arange(100, dtype=dtype)
    for name, out in zip(names, fn(steps)):
        np.testing.assert_allclose(out * np.ones(100), NUMPY_CASES[name][1][:100], rtol=1e-12, err_msg=name)


def test_rejects_a_float_step():
    with pytest.raises(su.InputError, match="integer step"):
        S.step(0.1, 10)(pt.scalar("k", dtype="float64"))
    with pytest.raises(su.InputError, match="integer step"):
        S.step(0.1, 10)(1.5)


@pytest.mark.parametrize("mode", ["C", "NUMBA", "JAX"])
def test_backends(mode):
    """Every schedule compiles on the backend and agrees with the Python implementation."""
    if mode == "C":  # the default C backend; compiling all ~20 schedules in C takes over a minute
        mode = "FAST_RUN"
        names = ["multistep", "one_cycle_linear_three", "restarts_mult", "warmup_cosine"]
    if mode == "JAX":
        pytest.importorskip("jax")
    if mode != "FAST_RUN":
        names = sorted(NUMPY_CASES)
    k = pt.scalar("k", dtype="int64")
    outs = pt.stack([NUMPY_CASES[n][0](k) for n in names])
    fn = pytensor.function([k], outs, mode=mode)
    steps = [0, 1, 49, 50, 99, 100, 299, 300, 517, 999]
    got = np.array([fn(np.int64(s)) for s in steps])
    expected = np.array([[NUMPY_CASES[n][1][s] for n in names] for s in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_low_precision_parameters_keep_their_dtype(dtype):
    w = pytensor.shared(np.ones(3, dtype=dtype), name="w")
    updates = su.adam([pt.ones(3, dtype=dtype)], [w], learning_rate=S.warmup_cosine(0.0, 0.1, 5, 20))
    assert all(v.dtype == k.dtype for k, v in updates.items())
    run_steps(updates, 3)
    assert w.get_value().dtype == dtype


# -- the schedule inside an optimizer ---------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda lr: su.sgd(learning_rate=lr),
    "adam": lambda lr: su.adam(learning_rate=lr),
    "rmsprop": lambda lr: su.rmsprop(learning_rate=lr),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_constant_schedule_is_bit_identical(name, dtype, rng):
    init = rng.normal(size=(2, 3)).astype(dtype)
    results = []
    for lr in (0.01, S.constant(0.01)):
        w = pytensor.shared(init.copy(), name="w")
        loss = ((w - 0.5) ** 4).sum() + (w**2).sum()
        run_steps(OPTIMIZERS[name](lr)(loss, [w]), 50)
        results.append(w.get_value())
    assert not np.array_equal(results[0], init)
    assert np.array_equal(results[0], results[1])


@pytest.mark.parametrize("name", ["step", "warmup_cosine", "one_cycle_cos", "restarts_mult", "join"])
def test_rate_used_at_step_k_is_schedule_k(name):
    """No lag: on a linear loss the step of SGD is exactly lr_k * g, starting with schedule(0)."""
    schedule, expected = NUMPY_CASES[name]
    w = pytensor.shared(np.zeros(2), name="w")
    g = np.array([1.0, -2.0])
    updates = su.sgd((w * g).sum(), [w], learning_rate=schedule)
    fn = pytensor.function([], [], updates=updates, mode=FAST)
    steps = []
    for _ in range(60):
        before = w.get_value()
        fn()
        steps.append((before - w.get_value()) / g)
    steps = np.array(steps)
    np.testing.assert_allclose(steps[:, 0], expected[:60], rtol=1e-9, atol=1e-17)
    np.testing.assert_allclose(steps[:, 1], expected[:60], rtol=1e-9, atol=1e-17)


def test_weight_decay_schedule():
    """weight_decay reads a schedule at the same step: w <- w - lr * wd_k * w on a zero gradient."""
    wd = S.exponential_decay(0.5, 0.9)
    w = pytensor.shared(np.array([1.0, -3.0]), name="w")
    run_steps(su.sgd([pt.zeros(2)], [w], learning_rate=0.1, weight_decay=wd), 20)
    expected = np.array([1.0, -3.0])
    for k in range(20):
        expected = expected - 0.1 * (0.5 * 0.9**k) * expected
    np.testing.assert_allclose(w.get_value(), expected, rtol=1e-12)


def test_momentum_schedule():
    """sgd's momentum reads a schedule through ctx.hyper: mu_k = schedule(k)."""
    mu = S.linear(0.0, 0.9, 10)
    w = pytensor.shared(np.zeros(1), name="w")
    run_steps(su.sgd([pt.ones(1)], [w], learning_rate=0.1, momentum=mu), 15)
    b, p = 0.0, 0.0
    for k in range(15):
        b = 1.0 if k == 0 else min(k / 10, 1.0) * 0.9 * b + 1.0
        p -= 0.1 * b
    np.testing.assert_allclose(w.get_value(), [p], rtol=1e-12)


# -- properties ---------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(T0=st.integers(1, 20), Tm=st.integers(1, 4), eta_min=st.floats(0, 0.05))
def test_restarts_match_the_recurrence(T0, Tm, eta_min):
    values = S.evaluate(S.cosine_restarts(0.1, T0, Tm, eta_min), 300)
    np.testing.assert_allclose(values, np_restarts(0.1, T0, Tm, eta_min, 300), rtol=1e-12, atol=1e-15)


@settings(max_examples=8, deadline=None)
@given(
    total=st.integers(40, 400),
    pct=st.floats(0.05, 0.45),
    three=st.booleans(),
    strategy=st.sampled_from(["cos", "linear"]),
)
def test_one_cycle_bounds_and_peak(total, pct, three, strategy):
    values = S.evaluate(S.one_cycle(1.0, total, pct_start=pct, anneal_strategy=strategy, three_phase=three), total + 5)
    assert values[0] == pytest.approx(1.0 / 25)
    assert values.max() <= 1.0 + 1e-12
    assert values.min() >= 1.0 / 25 / 1e4 - 1e-15
    assert values[-1] == pytest.approx(1.0 / 25 / 1e4)  # stays at the final value after total_steps


@settings(max_examples=8, deadline=None)
@given(W=st.integers(1, 50), init=st.floats(0, 1), peak=st.floats(0.01, 1))
def test_warmup_ramp_is_linear_and_reaches_the_schedule(W, init, peak):
    values = S.evaluate(S.warmup(S.constant(peak), W, init), W + 3)
    np.testing.assert_allclose(values[:W], init + (peak - init) * np.arange(W) / W, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values[W:], peak, rtol=1e-15)


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: S.step(0.1, 0), "step_size"),
        (lambda: S.step(0.1, 2.5), "step_size"),
        (lambda: S.exponential_decay(0.1, -0.5), "decay_rate"),
        (lambda: S.multistep(0.1, 5), "milestones"),
        (lambda: S.piecewise_constant(0.1, {10: -1.0}), "scale"),
        (lambda: S.polynomial(0.1, 0.0, 0.0, 10), "power"),
        (lambda: S.cosine_decay(0.1, 10, 0.1, eta_min=0.0), "alpha"),
        (lambda: S.cosine_decay(0.1, 10, 1.5), "alpha"),
        (lambda: S.join([S.constant(1.0)], [10]), "one boundary fewer"),
        (lambda: S.join([S.constant(1.0), S.constant(2.0), S.constant(3.0)], [10, 5]), "increasing"),
        (lambda: S.join([S.constant(1.0), 2.0], [10]), "schedules\\[1\\]"),
        (lambda: S.warmup(0.1, 10), "schedule"),
        (lambda: S.warmup_cosine(0.0, 0.1, 10, 10), "decay_steps"),
        (lambda: S.one_cycle(0.1, 100, pct_start=1.0), "pct_start"),
        (lambda: S.one_cycle(0.1, 3, pct_start=0.1), "phase"),
        (lambda: S.one_cycle(0.1, 100, anneal_strategy="cosine"), "anneal_strategy"),
        (lambda: S.cosine_restarts(0.1, 10, 1.5), "T_mult"),
        (lambda: S.constant("fast"), "init_value"),
    ],
)
def test_invalid_arguments(build, match):
    with pytest.raises(su.InputError, match=match):
        build()
