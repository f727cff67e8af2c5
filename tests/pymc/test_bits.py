"""Bit for bit PyMC: every function of ``pymc.variational.updates``, every step, every mode.

With the default options symupdates builds the same expression structure as
PyMC (the same operations in the same order, ``1 - beta`` left to constant
folding, the learning rate folded into Adam's coefficient, momentum applied to
the new parameter values), so every backend's rewrites turn both into the same
kernels. Each case runs 100 float64 steps of a non-quadratic loss with fresh
inputs at each step and compares all parameters after every step, exactly,
on FAST_RUN (C), FAST_COMPILE (Python) and NUMBA; then a whole ``pm.fit``.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

pm = pytest.importorskip("pymc")
pmu = pytest.importorskip("pymc.variational.updates")

import symupdates  # noqa: E402

N_STEPS = 100
MODES = ["FAST_RUN", "FAST_COMPILE", "NUMBA"]
#: PyMC's nine optimizers, with a learning rate that moves the parameters visibly in 100 steps.
OPTIMIZERS = {
    "sgd": {"learning_rate": 0.05},
    "momentum": {"learning_rate": 0.01},
    "nesterov_momentum": {"learning_rate": 0.01, "momentum": 0.8},
    "adagrad": {"learning_rate": 0.05},
    "adagrad_window": {"learning_rate": 0.05, "n_win": 4},
    "rmsprop": {"learning_rate": 0.01},
    "adadelta": {},
    "adam": {"learning_rate": 0.01},
    "adamax": {"learning_rate": 0.01},
}


def _mode(name):
    if name == "NUMBA":
        pytest.importorskip("numba")
    return name


def trajectory(make_updates, mode):
    """Parameter values after each of N_STEPS steps of ``make_updates(loss, params)``."""
    rng = np.random.default_rng(1)
    a = pytensor.shared(rng.normal(size=3), name="a")
    b = pytensor.shared(rng.normal(size=(2, 2)), name="b")
    x = pt.vector("x")
    loss = pt.tanh((a * x).sum()) ** 2 + (b**2).sum() * pt.tanh(x.sum()) + pt.exp(0.1 * b).sum()
    step = pytensor.function([x], loss, updates=make_updates(loss, [a, b]), mode=mode)
    out = []
    for _ in range(N_STEPS):
        step(rng.normal(size=3))
        out.append(np.concatenate([a.get_value().ravel(), b.get_value().ravel()]))
    return np.array(out)


def assert_same_bits(ours, theirs):
    differing = np.flatnonzero(np.any(ours != theirs, axis=1))
    assert differing.size == 0, (
        f"first differs at step {differing[0] + 1}: max |diff| {np.max(np.abs(ours - theirs)):.3g}"
    )
    assert np.max(np.abs(theirs[-1] - theirs[0])) > 1e-2  # the parameters moved: not vacuous


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_step_bit_identical_to_pymc(name, mode):
    kwargs = OPTIMIZERS[name]
    theirs = trajectory(lambda loss, params: getattr(pmu, name)(loss, params, **kwargs), _mode(mode))
    ours = trajectory(lambda loss, params: getattr(symupdates, name)(loss, params, **kwargs), _mode(mode))
    assert_same_bits(ours, theirs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("helper", ["apply_momentum", "apply_nesterov_momentum"])
def test_momentum_helpers_bit_identical_to_pymc(helper, mode):
    """Lasagne's dict-level helpers on an sgd update dict."""

    def make(module):
        return lambda loss, params: getattr(module, helper)(module.sgd(loss, params, 0.02), momentum=0.7)

    assert_same_bits(trajectory(make(symupdates), _mode(mode)), trajectory(make(pmu), _mode(mode)))


@pytest.mark.parametrize("name, learning_rate", [("adam", 0.01), ("momentum", 1e-3)])
def test_pm_fit_bit_identical_to_pymc(name, learning_rate):
    """A whole ADVI fit on the default mode: the same ELBO history and the same posterior, bit for bit."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 2))
    y = x @ np.array([1.5, -0.5]) + 0.3 + rng.normal(scale=0.4, size=50)
    results = []
    for module in (pmu, symupdates):
        with pm.Model():
            b = pm.Normal("b", 0, 5, shape=2)
            c = pm.Normal("c", 0, 5)
            s = pm.HalfNormal("s", 2)
            pm.Normal("y", c + pm.math.dot(x, b), s, observed=y)
            optimizer = getattr(module, name)(learning_rate=learning_rate)
            approx = pm.fit(n=300, obj_optimizer=optimizer, random_seed=3, progressbar=False)
        results.append((np.asarray(approx.hist), approx.mean.eval(), approx.std.eval()))
    (hist_theirs, mean_theirs, std_theirs), (hist_ours, mean_ours, std_ours) = results
    assert np.all(np.isfinite(hist_theirs)) and hist_theirs[-50:].mean() < hist_theirs[:50].mean()
    np.testing.assert_array_equal(hist_ours, hist_theirs)
    np.testing.assert_array_equal(mean_ours, mean_theirs)
    np.testing.assert_array_equal(std_ours, std_theirs)
