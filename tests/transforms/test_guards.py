"""skip_nonfinite on every backend, and multi_precision for float16 parameters."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.conftest import DEFAULT, FAST

MODES = [
    pytest.param(FAST, id="fast"),
    pytest.param("FAST_RUN", id="c"),
    pytest.param("NUMBA", id="numba"),
    pytest.param("JAX", id="jax"),
]
INIT = {"W": np.array([[0.5, -1.0], [1.5, 0.2]]), "b": np.array([0.3, -0.7])}


def _grads(n=5, seed=3):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=v.shape) for k, v in INIT.items()} for _ in range(n)]


def _snapshot(updates):
    """Every parameter and state variable (moments, step counter) by name."""
    return {v.name: np.array(v.get_value()) for v in updates}


@pytest.mark.parametrize("mode", MODES)
def test_skip_nonfinite_skips_the_whole_step(mode):
    """A NaN (step 1) or Inf (step 3) gradient leaves everything unchanged; later steps go on."""
    pytest.importorskip({"JAX": "jax", "NUMBA": "numba"}.get(mode, "numpy"))
    params = [pytensor.shared(v.copy(), name=k) for k, v in INIT.items()]
    grads = [pt.matrix("gW"), pt.vector("gb")]
    updates = su.adam(grads, params, 0.1, skip_nonfinite=True)
    skipped = updates.state["adam.skipped"]
    fn = pytensor.function(grads, [], updates=updates, mode=mode)  # the one function of this mode
    seq, bad_steps = _grads(), {1: np.nan, 3: np.inf}

    # run 1: non-finite gradients inserted before steps 1 and 3
    n_skipped = 0
    for k, g in enumerate(seq):
        if k in bad_steps:
            before = _snapshot(updates)
            bad_b = g["b"].copy()
            bad_b[1] = bad_steps[k]  # one element of one tensor is enough
            fn(g["W"], bad_b)
            n_skipped += 1
            after = _snapshot(updates)
            for name in before:
                if name not in ("adam.skipped", "adam.consecutive_nonfinite"):
                    np.testing.assert_array_equal(after[name], before[name], err_msg=name)
            assert int(skipped.get_value()) == n_skipped
            assert int(after["adam.consecutive_nonfinite"]) == 1
        fn(g["W"], g["b"])
    with_skip = _snapshot(updates)
    assert int(with_skip["adam.skipped"]) == 2
    assert int(with_skip["adam.step"]) == len(seq)

    # run 2, same compiled function: the bad steps never happen
    updates.reset()
    for p in params:
        p.set_value(INIT[p.name].copy())
    assert int(skipped.get_value()) == 0
    for g in seq:
        fn(g["W"], g["b"])
    for name, value in _snapshot(updates).items():
        if name != "adam.skipped":
            np.testing.assert_allclose(with_skip[name], value, rtol=1e-12, err_msg=name)
    assert np.all(np.isfinite(params[0].get_value()))
    assert np.all(params[0].get_value() != INIT["W"])


def test_without_the_option_nan_propagates():
    params = [pytensor.shared(v.copy(), name=k) for k, v in INIT.items()]
    grads = [pt.matrix("gW"), pt.vector("gb")]
    updates = su.adam(grads, params, 0.1)
    assert "adam.skipped" not in updates.state
    fn = pytensor.function(grads, [], updates=updates, mode=FAST)
    g = _grads(1)[0]
    bad = g["W"].copy()
    bad[0, 0] = np.nan
    fn(bad, g["b"])
    assert np.isnan(params[0].get_value()[0, 0])
    assert np.isnan(updates.state["W.adam.m"].get_value()[0, 0])


def test_skip_when_the_result_overflows():
    """Finite gradients but a non-finite new value also skip (checked after the step)."""
    p = pytensor.shared(np.array([1e308]), name="p")
    g = pt.vector("g")
    updates = su.sgd([g], [p], 1.0, skip_nonfinite=True)
    fn = pytensor.function([g], [], updates=updates, mode=FAST)
    fn(np.array([-1e308]))
    np.testing.assert_array_equal(p.get_value(), [1e308])
    assert int(updates.state["sgd.skipped"].get_value()) == 1


#: (gradient, consecutive non-finite steps, total skipped, whether the step was applied) for
#: a limit of 2: two NaN steps are skipped, a finite one resets the run, a third NaN in a row
#: goes through, and from then on the NaN parameter keeps every step non-finite and applied.
LIMIT_2 = [
    (1.0, 0, 0, True),
    (np.nan, 1, 1, False),
    (np.inf, 2, 2, False),
    (1.0, 0, 2, True),
    (np.nan, 1, 3, False),
    (np.nan, 2, 4, False),
    (np.nan, 3, 4, True),
    (1.0, 4, 4, True),
]


@pytest.mark.parametrize("mode", [pytest.param("FAST_RUN", id="fast_run"), pytest.param(DEFAULT, id="default")])
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda g, p: su.adam(g, p, 0.1, skip_nonfinite=2), id="option"),
        pytest.param(lambda g, p: su.skip_nonfinite(su.adam.transform(learning_rate=0.1), 2)(g, p), id="wrapper"),
    ],
)
def test_only_max_consecutive_errors_nonfinite_steps_in_a_row_are_skipped(mode, build):
    p = pytensor.shared(np.array([1.0, 2.0]), name="p")
    g = pt.vector("g")
    updates = build([g], [p])
    fn = pytensor.function([g], [], updates=updates, mode=mode)
    consecutive, skipped, step = (updates.state[f"adam.{k}"] for k in ("consecutive_nonfinite", "skipped", "step"))
    n_applied = 0
    for value, n_consecutive, n_skipped, applied in LIMIT_2:
        before = p.get_value().copy()
        fn(np.array([value, 1.0]))
        n_applied += applied
        assert (int(consecutive.get_value()), int(skipped.get_value())) == (n_consecutive, n_skipped)
        assert int(step.get_value()) == n_applied
        if not applied:
            np.testing.assert_array_equal(p.get_value(), before)
    assert np.isnan(p.get_value()[0])  # the NaN reached the parameter
    updates.reset()
    assert int(consecutive.get_value()) == 0 and int(skipped.get_value()) == 0


def test_skip_nonfinite_true_skips_five_in_a_row():
    p = pytensor.shared(np.array([1.0]), name="p")
    g = pt.vector("g")
    fn = pytensor.function([g], [], updates=su.sgd([g], [p], 0.1, skip_nonfinite=True), mode=FAST)
    for _ in range(5):
        fn(np.array([np.nan]))
    assert p.get_value()[0] == 1.0
    fn(np.array([np.nan]))
    assert np.isnan(p.get_value()[0])


# -- multi_precision ------------------------------------------------------------------

N_SMALL = 1000


def _small_steps(dtype, multi_precision, optimizer="adam"):
    rng = np.random.default_rng(5)
    init = (1.0 + rng.uniform(-0.2, 0.2, size=4)).astype("float16")
    g_values = rng.uniform(0.5, 1.5, size=(N_SMALL, 4)).astype("float16")  # float16-exact gradients
    p = pytensor.shared(init.astype(dtype), name="p")
    g = pt.vector("g", dtype=dtype)
    updates = getattr(su, optimizer)([g], [p], 1e-4, multi_precision=multi_precision)
    fn = pytensor.function([g], [], updates=updates, mode=FAST)
    for k in range(N_SMALL):
        fn(g_values[k].astype(dtype))
    return init, p, updates


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_multi_precision_float16_follows_float32(optimizer):
    init, p16, updates = _small_steps("float16", True, optimizer)
    _, p32, _ = _small_steps("float32", False, optimizer)
    _, p16_plain, _ = _small_steps("float16", False, optimizer)
    assert p16.get_value().dtype == np.float16
    # the float32 run moved by ~0.1; the float16 master-copy run matches it, rounded
    assert np.all(np.abs(p32.get_value() - init.astype("float32")) > 0.02)
    np.testing.assert_array_equal(p16.get_value(), p32.get_value().astype("float16"))
    master = updates.state["p.master"].get_value()
    np.testing.assert_array_equal(master, p32.get_value())
    # plain float16: each ~1e-4 step is below half an ulp of ~1 and rounds away
    np.testing.assert_array_equal(p16_plain.get_value(), init)
    # every state variable of the master-copy run is float32 (the step counter int64)
    for name, var in updates.state.items():
        assert var.dtype == ("int64" if name.endswith((".step", ".skipped")) else "float32"), name


def test_multi_precision_reset_rereads_masters():
    _, p16, updates = _small_steps("float16", True)
    p16.set_value(np.array([0.25, 0.5, 2.0, -3.0], dtype="float16"))
    updates.reset()
    master = updates.state["p.master"].get_value()
    assert master.dtype == np.float32
    np.testing.assert_array_equal(master, [0.25, 0.5, 2.0, -3.0])
    assert float(np.abs(updates.state["p.adam.m"].get_value()).max()) == 0.0


def test_multi_precision_leaves_other_dtypes_alone():
    p = pytensor.shared(np.ones(3), name="p")
    updates = su.adam([pt.vector("g")], [p], multi_precision=True)
    assert "p.master" not in updates.state
    assert updates.state["p.adam.m"].dtype == "float64"


def test_multi_precision_with_skip_nonfinite():
    p = pytensor.shared(np.ones(3, dtype="float16"), name="p")
    g = pt.vector("g", dtype="float16")
    updates = su.sgd([g], [p], 0.5, multi_precision=True, skip_nonfinite=True)
    fn = pytensor.function([g], [], updates=updates, mode=FAST)
    fn(np.array([np.inf, 0, 0], dtype="float16"))
    np.testing.assert_array_equal(p.get_value(), 1.0)
    np.testing.assert_array_equal(updates.state["p.master"].get_value(), 1.0)
    fn(np.array([1, 0, 0], dtype="float16"))
    np.testing.assert_array_equal(p.get_value(), [0.5, 1, 1])


def test_skip_nonfinite_checks_the_float16_values_multi_precision_writes():
    """A float32 master that overflows float16 makes the step non-finite: it is skipped."""
    p = pytensor.shared(np.array([65000.0, 1.0], "float16"), name="p")
    g = pytensor.shared(np.array([-1000.0, 0.0], "float16"))
    updates = su.sgd([g], [p], learning_rate=1.0, multi_precision=True, skip_nonfinite=True)
    pytensor.function([], [], updates=updates, mode="FAST_COMPILE")()
    state = updates.state_dict()
    assert int(state["sgd.skipped"]) == 1
    np.testing.assert_array_equal(p.get_value(), np.array([65000.0, 1.0], "float16"))
    np.testing.assert_array_equal(state["p.master"], np.array([65000.0, 1.0], "float16").astype("float32"))
