"""Hypergradient descent (Baydin et al., 2018) against NumPy implementations of the paper's algorithms.

The problem: logistic regression with two tensors (weights and a scalar bias), trained on
random mini-batches of 16 of 64 points for 100 steps (a noisy objective, as in the paper's
logistic-regression experiment). The references (``tests/numpy_reference.py``:
``sgd_hd``, ``sgdn_hd``, ``adam_hd`` and the skeleton ``hypergradient_descent`` they share,
which the rmsprop, AdamW and clipping cases use with a direction written here) are compared
step by step on the parameters and on the learning rate alpha_t.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
import tests.numpy_reference as ref
from symupdates.core.checks import InputError
from symupdates.optimizers.hypergradient import adam_hd, hypergradient, sgd_hd, sgdn_hd
from tests.conftest import DEFAULT, FAST, assert_float32_kept

N_STEPS, N_POINTS, BATCH = 100, 64, 16
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1703)
    x = rng.normal(size=(N_POINTS, 4))
    y = (x @ np.array([1.5, -2.0, 0.5, 1.0]) + 0.3 + rng.normal(size=N_POINTS) > 0).astype("float64")
    batches = [rng.choice(N_POINTS, BATCH, replace=False) for _ in range(N_STEPS)]
    return {"x": x, "y": y, "batches": batches, "w0": rng.normal(scale=0.1, size=4), "b0": np.array(0.05)}


def numpy_gradients(data, dtype):
    """The gradients of the mean logistic loss on each step's mini-batch, in ``dtype``, step after step."""
    x, y = data["x"].astype(dtype), data["y"].astype(dtype)
    step = iter(data["batches"])

    def grad_fn(params):
        w, b = params
        rows = next(step)
        error = 1 / (1 + np.exp(-(x[rows] @ w + b))) - y[rows]
        return [x[rows].T @ error / dtype.type(BATCH), np.mean(error, dtype=dtype)]

    return grad_fn


def rmsprop_direction(rho, epsilon):
    """RMSProp at unit rate, PyMC's epsilon: s = rho s + (1 - rho) g^2, d = g / sqrt(s + eps)."""
    square = 0.0

    def direction(g, t, theta):
        nonlocal square
        square = rho * square + (1 - rho) * g * g
        return g / np.sqrt(square + epsilon)

    return direction


def adamw_direction(beta1, beta2, epsilon, weight_decay):
    """Adam's bias-corrected direction plus the decoupled decay of theta_{t-1} (Loshchilov & Hutter, 2019)."""
    m, v = 0.0, 0.0

    def direction(g, t, theta):
        nonlocal m, v
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        return (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + epsilon) + weight_decay * theta

    return direction


def clipped_direction(max_norm):
    """The gradient rescaled to global L2 norm at most ``max_norm``; h keeps the raw gradient."""
    return lambda g, t, theta: g * min(1.0, max_norm / np.linalg.norm(g.astype("float64")))


#: name: (our factory, its NumPy reference as f(params, grad_fn, n_steps)).
CASES = {
    "sgd_hd": (
        lambda: sgd_hd(learning_rate=0.05, hyper_learning_rate=0.02),
        lambda *a: ref.sgd_hd(*a, learning_rate=0.05, hyper_learning_rate=0.02),
    ),
    "sgdn_hd": (
        lambda: sgdn_hd(learning_rate=0.02, hyper_learning_rate=0.002, momentum=0.8),
        lambda *a: ref.sgdn_hd(*a, learning_rate=0.02, hyper_learning_rate=0.002, momentum=0.8),
    ),
    "adam_hd": (
        lambda: adam_hd(learning_rate=0.01, hyper_learning_rate=1e-4, beta1=0.8, beta2=0.99),
        lambda *a: ref.adam_hd(*a, learning_rate=0.01, hyper_learning_rate=1e-4, beta1=0.8, beta2=0.99),
    ),
    "rmsprop": (
        lambda: hypergradient(su.rmsprop(rho=0.9, epsilon=1e-6), learning_rate=0.01, hyper_learning_rate=1e-4),
        lambda *a: ref.hypergradient_descent(*a, rmsprop_direction(0.9, 1e-6), 0.01, 1e-4),
    ),
    "adamw": (
        lambda: hypergradient(su.adamw(weight_decay=0.1), learning_rate=0.01, hyper_learning_rate=1e-4),
        lambda *a: ref.hypergradient_descent(*a, adamw_direction(0.9, 0.999, 1e-8, 0.1), 0.01, 1e-4),
    ),
    "sgd_clip": (
        lambda: hypergradient(su.sgd(clip_global_norm=0.2), learning_rate=0.05, hyper_learning_rate=0.02),
        lambda *a: ref.hypergradient_descent(*a, clipped_direction(0.2), 0.05, 0.02),
    ),
}


@pytest.fixture(scope="module", params=["float64", "float32"])
def runs(request, data):
    """Every case, 100 steps in one compiled function (the default mode): {name: (params, rates, updates)}."""
    dtype = request.param
    x, y = pt.matrix("x", dtype=dtype), pt.vector("y", dtype=dtype)
    sets, all_updates = {}, {}
    for name, (make, _) in CASES.items():
        w = pytensor.shared(data["w0"].astype(dtype), name=f"{name}.w")
        b = pytensor.shared(data["b0"].astype(dtype), name=f"{name}.b")
        z = pt.dot(x, w) + b
        loss = pt.mean(pt.softplus(z) - y * z)
        updates = make()(loss, [w, b])
        sets[name] = ([w, b], updates)
        all_updates.update(updates)
    step = pytensor.function([x, y], [], updates=all_updates, mode=DEFAULT)
    traces = {name: ([], [updates.learning_rate.get_value()]) for name, (_, updates) in sets.items()}
    for rows in data["batches"]:
        step(data["x"][rows].astype(dtype), data["y"][rows].astype(dtype))
        for name, (params, updates) in sets.items():
            traces[name][0].append([p.get_value() for p in params])
            traces[name][1].append(float(updates.learning_rate.get_value()))
    return dtype, {name: (*traces[name], sets[name][1]) for name in CASES}


def relative_error(got, reference):
    """The largest |got - reference| over the run, relative to the largest |reference|, per quantity."""
    got, reference = np.asarray(got, dtype="float64"), np.asarray(reference, dtype="float64")
    return float(np.max(np.abs(got - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("name", list(CASES))
def test_matches_the_papers_algorithm(runs, data, name, record_property):
    dtype, results = runs
    params, rates, updates = results[name]
    start = [data["w0"].astype(dtype), data["b0"].astype(dtype)]
    reference, reference_rates = CASES[name][1](start, numpy_gradients(data, np.dtype(dtype)), N_STEPS)
    errors = {
        "params": max(relative_error([p[i] for p in params], [r[i] for r in reference[1:]]) for i in range(2)),
        "alpha": relative_error(rates, reference_rates),
    }
    record_property("oracle_error", (f"hypergradient {name} params", {dtype: float(errors["params"])}))
    record_property("oracle_error", (f"hypergradient {name} alpha", {dtype: float(errors["alpha"])}))
    assert errors["params"] < TOLERANCE[dtype] and errors["alpha"] < TOLERANCE[dtype], errors
    # the rate did adapt (a wrapper that left it alone would still be close to the reference otherwise)
    assert abs(reference_rates[-1] / reference_rates[0] - 1) > 0.1
    if dtype == "float32":
        assert_float32_kept(updates, params)


def test_state_names_kinds_and_reset(data):
    w = pytensor.shared(np.zeros(3), name="w")
    updates = hypergradient(su.adam(beta1=0.8), learning_rate=0.02, hyper_learning_rate=1e-3)(
        (w - 1.0).dot(w - 1.0), [w]
    )
    assert list(updates.state) == [
        "w.adam.m",
        "w.adam.v",
        "adam.step",
        "hypergradient.learning_rate",
        "w.hypergradient.direction",
    ]
    assert updates.find("learning_rate") == [updates.learning_rate]
    assert list(updates.companions("moment")) == [w]
    assert updates.learning_rate.get_value() == 0.02  # alpha_0, the rate the first step uses (alpha_1 = alpha_0)
    step = pytensor.function([], [], updates=updates, mode=FAST)
    step()
    step()
    assert updates.learning_rate.get_value() > 0.02  # g_2 . u_1 > 0 on a quadratic bowl: the rate grows
    updates.reset()
    assert updates.learning_rate.get_value() == 0.02
    assert not updates.state["w.hypergradient.direction"].get_value().any()


def test_partial_contract():
    w = pytensor.shared(np.ones(2), name="w")
    loss = (w**2).sum()
    opt = hypergradient(su.adam, learning_rate=0.01, hyper_learning_rate=1e-6)
    assert opt() is opt
    assert isinstance(opt(loss, [w]), su.Updates)
    for factory in (sgd_hd(), sgdn_hd(), adam_hd(learning_rate=0.1)):
        assert isinstance(factory, su.Transform)
        assert isinstance(factory(loss, [w]), su.Updates)
    with pytest.raises(ValueError):
        opt(loss)
    with pytest.raises(ValueError):
        adam_hd(loss)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: hypergradient(su.adam(learning_rate=0.01)), "owns the learning rate"),
        (lambda: hypergradient(su.multi_steps(su.adam, 2)), "learning rate 0.001"),
        (lambda: hypergradient(su.sgd(maximize=True)), "maximize"),
        (lambda: hypergradient(su.adam, learning_rate=pt.dscalar("a")), "must be a number"),
        (lambda: hypergradient(su.adam, learning_rate=-0.1), "learning_rate"),
        (lambda: hypergradient(su.adam, hyper_learning_rate=-1.0), "hyper_learning_rate"),
        (lambda: hypergradient("adam"), "expected a symupdates optimizer"),
        (lambda: sgd_hd(unknown=1), "unknown"),
    ],
)
def test_errors(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_a_transform_at_unit_rate_is_accepted_and_options_reach_it():
    w, v = pytensor.shared(np.array([3.0, -4.0]), name="w"), pytensor.shared(np.array(2.0), name="v")
    grads = [pt.constant(np.array([3.0, -4.0])), pt.constant(np.array(0.0))]
    inner = su.chain(su.clip_global_norm(1.0), su.scale_by_learning_rate(1.0, multipliers={"v": 0.5}))
    updates = hypergradient(inner, learning_rate=0.5, hyper_learning_rate=0.1)(grads, [w, v])
    assert updates.constant_learning_rates == ()  # the unit rate is not a rate of these updates
    pytensor.function([], [], updates=updates, mode=FAST)()
    np.testing.assert_allclose(w.get_value(), [3.0 - 0.5 * 0.6, -4.0 + 0.5 * 0.8])  # alpha_1 = alpha_0, clipped
    unscaled = hypergradient(su.sgd(lr_mult={"v": 0.5}), learning_rate=0.5)([pt.constant(np.array(1.0))], [v])
    pytensor.function([], [], updates=unscaled, mode=FAST)()
    assert v.get_value() == 2.0 - 0.5 * 0.5  # lr_mult is part of the direction


def test_master_copies_stay_outermost():
    w = pytensor.shared(np.ones(3, dtype="float16"), name="w")
    updates = hypergradient(su.multi_precision(su.scale_by_adam()), hyper_learning_rate=1e-6)((w**2).sum(), [w])
    assert updates.state["w.hypergradient.direction"].dtype == "float32"
    assert updates.companions("master")[w].dtype == "float32"


@settings(max_examples=15, deadline=None)
@given(
    alpha0=st.floats(0.0, 0.3),
    beta=st.floats(0.0, 2e-3),
    scale=st.floats(0.1, 2.0),
)
def test_sgd_hd_property(compiled_sgd_hd, alpha0, beta, scale):
    """SGD-HD on a quadratic bowl 0.5 * scale * |w - c|^2 for random alpha_0, beta: the paper's recursion.

    (beta and the curvature are kept where 12 steps stay finite.)"""
    step, w, updates = compiled_sgd_hd
    rate = updates.learning_rate
    updates.reset()
    w.set_value(np.array([1.0, -2.0, 0.5]))
    rate.set_value(np.float64(alpha0))
    reference, rates = ref.sgd_hd(
        [w.get_value()],
        lambda p: [scale * (p[0] - np.array([0.5, 0.5, -1.0]))],
        12,
        learning_rate=alpha0,
        hyper_learning_rate=beta,
    )
    for k in range(12):
        step(beta, scale)
        np.testing.assert_allclose(w.get_value(), reference[k + 1][0], rtol=1e-12, atol=1e-14)
        assert rate.get_value() == pytest.approx(rates[k + 1], rel=1e-12, abs=1e-15)


@pytest.fixture(scope="module")
def compiled_sgd_hd():
    """One compiled SGD-HD step whose beta and curvature are inputs; alpha_0 is set in its state."""
    w = pytensor.shared(np.zeros(3), name="w")
    beta, scale = pt.dscalar("beta"), pt.dscalar("scale")
    loss = 0.5 * scale * ((w - np.array([0.5, 0.5, -1.0])) ** 2).sum()
    updates = sgd_hd(loss, [w], learning_rate=0.0, hyper_learning_rate=beta)
    step = pytensor.function([beta, scale], [], updates=updates, mode=DEFAULT)
    return step, w, updates


def test_pm_fit_converges():
    """ADVI with Adam-HD (float32 parameters) recovers the posterior of a conjugate Normal mean."""
    pm = pytest.importorskip("pymc")
    y = np.random.default_rng(3).normal(1.5, 1.0, size=50)
    with pytensor.config.change_flags(floatX="float32"):
        with pm.Model():
            mu = pm.Normal("mu", 0.0, 10.0)
            pm.Normal("y", mu, 1.0, observed=y.astype("float32"))
            factory = adam_hd(learning_rate=0.05, hyper_learning_rate=1e-4)
            approx = pm.fit(300, method="advi", obj_optimizer=factory, random_seed=11, progressbar=False)
        mean, std = float(approx.mean.eval()[0]), float(approx.std.eval()[0])
        assert all(p.dtype == "float32" for p in approx.params)
    precision = 1 / 100 + 50
    exact_mean, exact_sd = y.sum() / precision, precision**-0.5
    assert abs(mean - exact_mean) < 0.5 * exact_sd
    assert 0.5 < std / exact_sd < 1.5
