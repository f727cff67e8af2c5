"""The Adam family (adamw, nadam, radam, adabelief, yogi, adan): NumPy references and properties.

The references below are written from the papers' update rules (as quoted in
each docstring), independently of the symbolic code; the live oracles (torch,
optax) are in ``test_adam_oracles.py``.
"""

import functools
import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
from symupdates import InputError
from tests.conftest import FAST

N_STEPS = 25
FAMILY = ("adamw", "nadam", "radam", "adabelief", "yogi", "adan")


# -- NumPy references, one stepper per parameter: step(g, p, t) -> u, and p <- p - lr * u -------------


def ref_adamw(b1=0.9, b2=0.999, eps=1e-8, wd=1e-2):
    m = v = 0.0

    def step(g, p, t):
        nonlocal m, v
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        return (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * p

    return step


def ref_nadam(b1=0.9, b2=0.999, eps=1e-8, psi=4e-3, schedule=True):
    m = v = 0.0
    prod = 1.0

    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * psi)) if schedule else b1

    def step(g, p, t):
        nonlocal m, v, prod
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        prod = prod * mu(t)
        num = (1 - mu(t)) / (1 - prod) * g + mu(t + 1) / (1 - prod * mu(t + 1)) * m
        return num / (np.sqrt(v / (1 - b2**t)) + eps)

    return step


def ref_radam(b1=0.9, b2=0.999, eps=1e-8, threshold=5.0, torch_form=True):
    m = v = 0.0
    rho_inf = 2 / (1 - b2) - 1

    def step(g, p, t):
        nonlocal m, v
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if not (rho > threshold if torch_form else rho >= threshold):
            return m_hat
        r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        if torch_form:
            return r * m_hat * np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
        return r * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)

    return step


def ref_adabelief(b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    m = s = 0.0

    def step(g, p, t):
        nonlocal m, s
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        return (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)

    return step


def ref_yogi(b1=0.9, b2=0.999, eps=1e-3, init=1e-6):
    m = v = init

    def step(g, p, t):
        nonlocal m, v
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - g * g) * g * g
        return (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)

    return step


def ref_adan(b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8, wd=0.0):
    m = v = n = 0.0
    previous = None

    def step(g, p, t):
        nonlocal m, v, n, previous
        diff = 0.0 * g if previous is None else g - previous
        previous = g
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * diff
        n = b3 * n + (1 - b3) * (g + (1 - b2) * diff) ** 2
        hat = lambda x, b: x / (1 - b**t)  # noqa: E731
        return (hat(m, b1) + (1 - b2) * hat(v, b2)) / (np.sqrt(hat(n, b3) + eps_root) + eps) + wd * p

    return step


# (id, our name, our hyper-parameters, learning rate, reference stepper factory)
SETTINGS = [
    ("adamw", dict(), 1e-3, functools.partial(ref_adamw)),
    (
        "adamw",
        dict(beta1=0.8, beta2=0.99, epsilon=1e-5, weight_decay=0.2),
        0.05,
        functools.partial(ref_adamw, 0.8, 0.99, 1e-5, 0.2),
    ),
    ("nadam", dict(), 2e-3, ref_nadam),
    ("nadam", dict(beta1=0.8, momentum_decay=0.05), 0.02, functools.partial(ref_nadam, 0.8, psi=0.05)),
    ("nadam", dict(beta2=0.99, form="optax"), 0.02, functools.partial(ref_nadam, b2=0.99, schedule=False)),
    ("radam", dict(), 1e-3, ref_radam),
    ("radam", dict(beta2=0.9, epsilon=1e-3), 0.05, functools.partial(ref_radam, b2=0.9, eps=1e-3)),
    (
        "radam",
        dict(beta2=0.95, epsilon=1e-3, threshold=7.0, form="optax"),
        0.05,
        functools.partial(ref_radam, b2=0.95, eps=1e-3, threshold=7.0, torch_form=False),
    ),
    ("adabelief", dict(), 1e-3, ref_adabelief),
    (
        "adabelief",
        dict(beta1=0.7, beta2=0.9, epsilon=1e-6, eps_root=1e-4),
        0.02,
        functools.partial(ref_adabelief, 0.7, 0.9, 1e-6, 1e-4),
    ),
    ("yogi", dict(), 1e-2, ref_yogi),
    (
        "yogi",
        dict(beta2=0.9, epsilon=1e-4, initial_accumulator_value=0.0),
        0.05,
        functools.partial(ref_yogi, b2=0.9, eps=1e-4, init=0.0),
    ),
    ("adan", dict(), 1e-3, ref_adan),
    (
        "adan",
        dict(beta1=0.9, beta2=0.8, beta3=0.95, eps_root=0.0, weight_decay=0.1),
        0.05,
        functools.partial(ref_adan, 0.9, 0.8, 0.95, eps_root=0.0, wd=0.1),
    ),
]


def problem(dtype="float64", seed=1):
    rng = np.random.default_rng(seed)
    shapes = [(4,), (2, 3)]
    init = [rng.normal(size=s).astype(dtype) for s in shapes]
    target = [rng.normal(size=s).astype(dtype) for s in shapes]
    curvature = [rng.uniform(0.3, 3.0, size=s).astype(dtype) for s in shapes]
    return init, target, curvature


def loss_of(params, target, curvature):
    return sum(pt.sum(c * (p - a) ** 2) / 2 for p, a, c in zip(params, target, curvature))


def run_ours(name, hyper, lr, n_steps=N_STEPS, dtype="float64"):
    init, target, curvature = problem(dtype)
    params = [pytensor.shared(x.copy(), name=f"w{j}") for j, x in enumerate(init)]
    updates = su.get(name, learning_rate=lr, **hyper)(loss_of(params, target, curvature), params)
    fn = pytensor.function([], [], updates=updates, mode=FAST)
    out = []
    for _ in range(n_steps):
        fn()
        out.append([p.get_value() for p in params])
    return out


def run_reference(make_step, lr, n_steps=N_STEPS):
    init, target, curvature = problem()
    current = [x.copy() for x in init]
    steppers = [make_step() for _ in current]
    out = []
    for t in range(1, n_steps + 1):
        grads = [c * (p - a) for p, a, c in zip(current, target, curvature)]
        current = [p - lr * step(g, p, t) for p, g, step in zip(current, grads, steppers)]
        out.append([p.copy() for p in current])
    return out


def _id(setting):
    name, hyper, lr, _ = setting
    return name + "".join(f"-{k}={v}" for k, v in hyper.items())


@pytest.mark.parametrize("setting", SETTINGS, ids=[_id(s) for s in SETTINGS])
def test_matches_numpy_reference(setting):
    name, hyper, lr, make_step = setting
    ours, reference = run_ours(name, hyper, lr), run_reference(make_step, lr)
    for step_ours, step_ref in zip(ours, reference):
        for a, b in zip(step_ours, step_ref):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_settings_cover_every_optimizer_and_form():
    names = [s[0] for s in SETTINGS]
    assert all(names.count(n) >= 2 for n in FAMILY)
    assert {s[1].get("form") for s in SETTINGS if s[0] in ("nadam", "radam")} == {None, "optax"}


# -- the named-optimizer contract ------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY)
def test_contract(name):
    opt = getattr(su, name)
    assert name in su.available() and su.get(name).func is opt
    first = list(inspect.signature(opt).parameters)[:3]
    assert first == ["loss_or_grads", "params", "learning_rate"]
    factory = opt(learning_rate=0.01)
    assert isinstance(factory, functools.partial) and factory.keywords == {"learning_rate": 0.01}
    w = pytensor.shared(np.ones(3), name="w")
    with pytest.raises(ValueError):
        opt(None, [w])
    with pytest.raises(InputError, match="beta1"):
        opt(beta1=1.0)
    updates = factory((w**2).sum(), [w])
    assert w in updates and updates[w].type == w.type


@pytest.mark.parametrize("name", FAMILY)
def test_float32_stays_float32_with_float64_hyper_parameters(name):
    w = pytensor.shared(np.ones((2, 2), dtype="float32"), name="w")
    lr = pytensor.shared(np.float64(0.01), name="lr")
    updates = su.get(name, learning_rate=lr, beta1=np.float64(0.9))((w**2).sum(), [w])
    assert all(v.dtype == k.dtype for k, v in updates.items())
    run_steps(updates, 3)
    assert np.all(np.isfinite(w.get_value())) and w.get_value().dtype == np.float32


def run_steps(updates, n):
    fn = pytensor.function([], [], updates=updates, mode=FAST)
    for _ in range(n):
        fn()


@pytest.mark.parametrize("name", FAMILY)
def test_maximize_mirrors_the_steps(name):
    """The directions are odd in the gradient (no decay, zero starts): maximize reflects the path."""
    hyper = dict(learning_rate=0.1, **({"weight_decay": 0.0} if name in ("adamw", "adan") else {}))
    hyper.update({"initial_accumulator_value": 0.0} if name == "yogi" else {})
    g = pt.as_tensor_variable(np.array([1.0, -2.0, 3.0]))
    ends = []
    for maximize in (False, True):
        w = pytensor.shared(np.ones(3), name="w")
        run_steps(su.get(name, maximize=maximize, **hyper)([g * pt.cos(np.arange(3.0))], [w]), 3)
        ends.append(w.get_value())
    assert np.all(ends[0] != 1.0)
    np.testing.assert_allclose(ends[1] - 1, -(ends[0] - 1), rtol=1e-6)


# -- AdamW's decoupled weight decay ----------------------------------------------------------


def test_adamw_weight_decay_is_decoupled():
    """With a zero gradient Adam's direction is 0, so one step is exactly p (1 - lr wd)."""
    w = pytensor.shared(np.array([1.0, -2.0, 4.0]), name="w")
    run_steps(su.adamw([pt.zeros(3)], [w], learning_rate=0.1, weight_decay=0.5), 1)
    np.testing.assert_allclose(w.get_value(), np.array([1.0, -2.0, 4.0]) * (1 - 0.1 * 0.5), rtol=1e-15)


def test_adamw_without_decay_is_torch_form_adam():
    a = run_ours("adamw", dict(weight_decay=0.0), 0.01, n_steps=5)
    b = run_ours("adam", dict(form="torch"), 0.01, n_steps=5)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_allclose(u, v, rtol=1e-14)


@pytest.mark.parametrize("name", ["adamw", "adan"])
def test_own_weight_decay_takes_the_decoupled_slot(name):
    w = pytensor.shared(np.ones(2), name="w")
    with pytest.raises(InputError, match="decoupled_weight_decay"):
        su.get(name, decoupled_weight_decay=0.1)((w**2).sum(), [w])
    assert list(inspect.signature(getattr(su, name)).parameters).count("weight_decay") == 1
    # the mask of the common options applies to the recipe's decay
    b = pytensor.shared(np.ones(2), name="b")
    factory = su.get(name, learning_rate=0.1, weight_decay=0.5, weight_decay_mask={"b": False})
    run_steps(factory([pt.zeros(2)] * 2, [w, b]), 1)
    np.testing.assert_allclose(w.get_value(), 0.95, rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), 1.0, rtol=1e-12)


# -- properties ---------------------------------------------------------------------------------

# settings without any epsilon: the direction ignores the gradient's scale (not RAdam, whose
# first steps are plain momentum: see test_radam_is_bias_corrected_momentum_before_rectification)
SCALE_FREE = {
    "nadam": dict(epsilon=0.0),
    "adabelief": dict(epsilon=0.0, eps_root=0.0),
    "yogi": dict(epsilon=0.0, initial_accumulator_value=0.0),
    "adan": dict(epsilon=0.0, eps_root=0.0),
    "adamw": dict(epsilon=0.0, weight_decay=0.0),
}


@functools.cache
def _scaled_runner(name):
    w = pytensor.shared(np.zeros(3), name="w")
    g, c = pt.dvector("g"), pt.dscalar("c")
    updates = su.get(name, learning_rate=1.0, **SCALE_FREE[name])([c * g], [w])
    return w, updates, pytensor.function([g, c], [], updates=updates, mode=FAST)


@pytest.mark.parametrize("name", sorted(SCALE_FREE))
@settings(max_examples=15, deadline=None)
@given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 2**16))
def test_direction_is_scale_invariant(name, scale, seed):
    w, updates, fn = _scaled_runner(name)
    grads = np.random.default_rng(seed).normal(size=(8, 3))
    trajectories = []
    for c in (1.0, scale):
        updates.reset()
        w.set_value(np.zeros(3))
        for g in grads:
            fn(g, c)
        trajectories.append(w.get_value())
    np.testing.assert_allclose(trajectories[1], trajectories[0], rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(g=st.floats(-100, 100).filter(lambda x: abs(x) > 1e-3), steps=st.integers(1, 5))
def test_radam_is_bias_corrected_momentum_before_rectification(g, steps):
    """With beta2 = 0.999, rho_t <= 5 for t <= 5: a constant gradient moves p by exactly lr * t * g."""
    w, c, updates, fn = _radam_runner()
    updates.reset()
    w.set_value(np.zeros(1))
    for _ in range(steps):
        fn(g)
    np.testing.assert_allclose(w.get_value(), [-0.01 * steps * g], rtol=1e-12)


@functools.cache
def _radam_runner():
    w = pytensor.shared(np.zeros(1), name="w")
    c = pt.dscalar("c")
    updates = su.radam([pt.stack([c])], [w], learning_rate=0.01)
    return w, c, updates, pytensor.function([c], [], updates=updates, mode=FAST)


@settings(max_examples=20, deadline=None)
@given(g=st.lists(st.floats(-10, 10), min_size=3, max_size=3))
def test_yogi_from_zero_starts_like_adam(g):
    """From a zero start Yogi's first v is (1 - beta2) g^2, Adam's: the first steps agree."""
    g = np.array(g)
    out = []
    for name, hyper in (("yogi", dict(initial_accumulator_value=0.0)), ("adam", dict(form="torch"))):
        w = pytensor.shared(np.zeros(3), name="w")
        run_steps(su.get(name, learning_rate=0.1, epsilon=1e-3, **hyper)([pt.as_tensor_variable(g)], [w]), 1)
        out.append(w.get_value())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12, atol=1e-15)


def test_yogi_second_moment_moves_by_at_most_one_minus_beta2_g_squared():
    w = pytensor.shared(np.zeros(4), name="w")
    g = pt.dvector("g")
    updates = su.yogi([g], [w], beta2=0.9)
    v = updates.state["w.yogi.v"]
    fn = pytensor.function([g], [], updates=updates, mode=FAST)
    rng = np.random.default_rng(0)
    for _ in range(20):
        before, grad = v.get_value(), rng.normal(scale=rng.uniform(0.1, 10), size=4)
        fn(grad)
        np.testing.assert_allclose(np.abs(v.get_value() - before), 0.1 * grad**2, rtol=1e-9, atol=1e-13)


def test_nadam_keeps_one_product_state_per_scalar_dtype():
    a = pytensor.shared(np.ones(2), name="a")
    b = pytensor.shared(np.ones(2, dtype="float32"), name="b")
    c = pytensor.shared(np.ones(2), name="c")
    updates = su.nadam(sum((p**2).sum() for p in (a, b, c)), [a, b, c])
    products = sorted(k for k in updates.state if "mu_product" in k)
    assert products == ["nadam.mu_product_float32", "nadam.mu_product_float64"]
    assert "nadam.mu_product_float64" not in su.nadam((a**2).sum(), [a], form="optax").state


def test_adan_first_step_has_no_gradient_difference():
    """t = 1: Delta_1 = 0, so u_1 = g / (sqrt(g^2 + eps_root) + eps)."""
    g = np.array([0.5, -2.0, 3.0])
    w = pytensor.shared(np.zeros(3), name="w")
    run_steps(su.adan([pt.as_tensor_variable(g)], [w], learning_rate=1.0), 1)
    np.testing.assert_allclose(w.get_value(), -g / (np.sqrt(g**2 + 1e-8) + 1e-8), rtol=1e-14)


@pytest.mark.parametrize(
    "factory, bad, match",
    [
        (su.scale_by_radam, dict(threshold=4.0), "threshold"),
        (su.scale_by_nadam, dict(form="keras"), "form"),
        (su.scale_by_radam, dict(form="pymc"), "form"),
        (su.scale_by_nadam, dict(momentum_decay=-1.0), "momentum_decay"),
        (su.scale_by_yogi, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (su.scale_by_belief, dict(eps_root=-1e-3), "eps_root"),
        (su.scale_by_adan, dict(beta3=1.0), "beta3"),
    ],
)
def test_transforms_validate(factory, bad, match):
    with pytest.raises(InputError, match=match):
        factory(**bad)
