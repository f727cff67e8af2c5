"""Optimizer wrappers: multi_steps (vs optax.MultiSteps), ema_params (vs optax.ema), lookahead (vs optax.lookahead)."""

import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates as su
from symupdates.core import chain
from tests.conftest import FAST

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

N_STEPS = 40


def _grads(rng, n=N_STEPS, shape=(3,)):
    return rng.normal(size=(n, *shape))


def _compiled(opt, p0, mode=FAST, dtype="float64"):
    """(param, updates, fn(g)) for ``opt`` with the gradient fed as an input."""
    w = pytensor.shared(np.asarray(p0, dtype=dtype), name="w")
    g = pt.vector("g", dtype=dtype)
    updates = opt([g], [w])
    fn = pytensor.function([g], [], updates=updates, mode=mode)
    return w, updates, fn


def _optax_run(tx, p0, grads):
    params = jnp.asarray(p0)
    state = tx.init(params)
    update = jax.jit(tx.update)
    out = []
    for g in grads:
        updates, state = update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out


# -- multi_steps --------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 4])
@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: su.adam(learning_rate=0.05, form="torch"), lambda: optax.adam(0.05)),
        (lambda: su.sgd(learning_rate=0.1, momentum=0.9), lambda: optax.sgd(0.1, momentum=0.9)),
    ],
    ids=["adam", "sgd_momentum"],
)
def test_multi_steps_matches_optax(rng, k, ours, theirs):
    p0, grads = rng.normal(size=3), _grads(rng)
    w, _, fn = _compiled(su.multi_steps(ours(), k), p0)
    expected = _optax_run(optax.MultiSteps(theirs(), every_k_schedule=k, accumulator_dtype=jnp.float64), p0, grads)
    for g, e in zip(grads, expected):
        fn(g)
        np.testing.assert_allclose(w.get_value(), np.asarray(e), rtol=1e-12, atol=1e-14)


def test_multi_steps_matches_optax_default_mode(rng):
    """The same comparison once on the default (C) mode."""
    p0, grads = rng.normal(size=3), _grads(rng, 12)
    w, _, fn = _compiled(su.multi_steps(su.adam(learning_rate=0.05, form="torch"), 3), p0, mode=None)
    expected = _optax_run(
        optax.MultiSteps(optax.adam(0.05), every_k_schedule=3, accumulator_dtype=jnp.float64), p0, grads
    )
    for g in grads:
        fn(g)
    np.testing.assert_allclose(w.get_value(), np.asarray(expected[-1]), rtol=1e-12)


def test_multi_steps_holds_inner_state_and_counter(rng):
    k = 4
    w, updates, fn = _compiled(su.multi_steps(su.adam(learning_rate=0.1), k), rng.normal(size=3))
    state = updates.state
    assert {"adam.step", "multi_steps.mini_step", "w.multi_steps.acc", "w.adam.m", "w.adam.v"} <= set(state)
    grads = _grads(rng, 2 * k)
    for j, g in enumerate(grads):
        before = {name: var.get_value().copy() for name, var in state.items()}
        p_before = w.get_value().copy()
        fn(g)
        final = (j + 1) % k == 0
        assert state["multi_steps.mini_step"].get_value() == (j + 1) % k
        assert state["adam.step"].get_value() == (j + 1) // k
        for name in ("w.adam.m", "w.adam.v"):
            changed = not np.array_equal(state[name].get_value(), before[name])
            assert changed == final, (name, j)
        assert np.array_equal(w.get_value(), p_before) != final
        acc = state["w.multi_steps.acc"].get_value()
        if final:
            assert np.all(acc == 0)
        else:
            np.testing.assert_allclose(acc, grads[j - j % k : j + 1].mean(axis=0), rtol=1e-13)


def test_multi_steps_one_is_the_optimizer_itself(rng):
    p0, grads = rng.normal(size=3), _grads(rng, 6)
    w1, _, f1 = _compiled(su.adam(learning_rate=0.1), p0)
    w2, _, f2 = _compiled(su.multi_steps(su.adam(learning_rate=0.1), 1), p0)
    for g in grads:
        f1(g)
        f2(g)
    np.testing.assert_array_equal(w1.get_value(), w2.get_value())


@functools.cache
def _sgd_multi(k):
    w, _, fn = _compiled(su.multi_steps(su.sgd(learning_rate=0.5), k), np.zeros(2))
    return w, fn


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 5),
    data=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=10, max_size=10),
)
def test_multi_steps_sgd_steps_with_the_mean_gradient(k, data):
    """Property: k calls of multi_steps(sgd) = one sgd step with the mean of the k gradients."""
    w, fn = _sgd_multi(k)
    w.set_value(np.zeros(2))
    grads = np.resize(np.asarray(data), (k, 2))
    for g in grads:
        fn(g)
    np.testing.assert_allclose(w.get_value(), -0.5 * grads.mean(axis=0), rtol=1e-12, atol=1e-9)


def test_multi_steps_schedule_reads_real_steps(rng):
    seen = []
    w, _, fn = _compiled(su.multi_steps(su.sgd(learning_rate=lambda step: 0.1 * (step + 1)), 2), np.zeros(1))
    for _ in range(6):
        before = w.get_value().copy()
        fn(np.ones(1))
        seen.append(float(before[0] - w.get_value()[0]))
    np.testing.assert_allclose(seen, [0, 0.1, 0, 0.2, 0, 0.3], rtol=1e-12)


# -- ema_params -----------------------------------------------------------------


def _trajectory_and_ema(rng, opt):
    p0, grads = rng.normal(size=3), _grads(rng, 25)
    w, updates, fn = _compiled(opt, p0)
    path, averages = [], []
    for g in grads:
        fn(g)
        path.append(w.get_value().copy())
        averages.append(updates.state["w.ema"].get_value().copy())
    return p0, np.array(path), np.array(averages)


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9])
def test_ema_params_debiased_matches_optax_ema(rng, decay):
    p0, path, averages = _trajectory_and_ema(rng, su.ema_params(su.adam(learning_rate=0.1), decay))
    tx = optax.ema(decay, debias=True)
    state = tx.init(jnp.zeros(3))
    update = jax.jit(tx.update)
    for p, ours in zip(path, averages):
        theirs, state = update(jnp.asarray(p), state)
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12)


def test_ema_params_without_debias_starts_at_the_parameters(rng):
    decay = 0.8
    p0, path, averages = _trajectory_and_ema(rng, su.ema_params(su.sgd(learning_rate=0.1), decay, debias=False))
    reference = p0.copy()
    for p, ours in zip(path, averages):
        reference = decay * reference + (1 - decay) * p
        np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_ema_params_leaves_the_optimizer_unchanged(rng):
    p0, grads = rng.normal(size=3), _grads(rng, 5)
    w1, _, f1 = _compiled(su.adam(learning_rate=0.1), p0)
    w2, _, f2 = _compiled(su.ema_params(su.adam(learning_rate=0.1), 0.9), p0)
    for g in grads:
        f1(g)
        f2(g)
    np.testing.assert_array_equal(w1.get_value(), w2.get_value())


def test_param_givens_and_swap_params(rng):
    w = pytensor.shared(rng.normal(size=3), name="w")
    loss = ((w - 1.0) ** 2).sum()
    updates = su.ema_params(su.sgd(learning_rate=0.2), 0.9)(loss, [w])
    step = pytensor.function([], [], updates=updates, mode=FAST)
    for _ in range(5):
        step()
    ema = updates.state["w.ema"].get_value()
    current = w.get_value().copy()
    assert not np.allclose(ema, current)
    averaged_loss = pytensor.function([], loss, givens=su.param_givens(updates), mode=FAST)
    np.testing.assert_allclose(averaged_loss(), ((ema - 1) ** 2).sum(), rtol=1e-12)
    with su.swap_params(updates):
        np.testing.assert_array_equal(w.get_value(), ema)
    np.testing.assert_array_equal(w.get_value(), current)
    with pytest.raises(RuntimeError), su.swap_params(updates):
        raise RuntimeError("evaluation failed")
    np.testing.assert_array_equal(w.get_value(), current)
    with pytest.raises(su.InputError, match="lookahead"):
        su.param_givens(updates, "lookahead")


def test_ema_reset_rereads_the_parameters(rng):
    w, updates, fn = _compiled(su.ema_params(su.sgd(learning_rate=0.1), 0.9), rng.normal(size=3))
    for g in _grads(rng, 3):
        fn(g)
    updates.reset()
    np.testing.assert_array_equal(updates.state["w.ema"].get_value(), w.get_value())


def test_ema_float32_stays_float32(rng):
    opt = su.ema_params(su.adam(learning_rate=np.float64(0.1)), np.float64(0.9))
    w, updates, fn = _compiled(opt, rng.normal(size=3), dtype="float32")
    assert all(new.dtype == var.dtype for var, new in updates.items())
    assert updates.state["w.ema"].dtype == "float32"


# -- lookahead ------------------------------------------------------------------


@pytest.mark.parametrize("sync_period, alpha", [(1, 0.5), (3, 0.5), (5, 0.8)])
def test_lookahead_matches_optax(rng, sync_period, alpha):
    p0, grads = rng.normal(size=3), _grads(rng)
    w, updates, fn = _compiled(su.lookahead(su.adam(learning_rate=0.05, form="torch"), sync_period, alpha), p0)
    tx = optax.lookahead(optax.adam(0.05), sync_period, alpha)
    params = optax.LookaheadParams.init_synced(jnp.asarray(p0))
    state = tx.init(params)
    update = jax.jit(tx.update)
    for g in grads:
        fn(g)
        upd, state = update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, upd)
        np.testing.assert_allclose(w.get_value(), np.asarray(params.fast), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(updates.state["w.lookahead"].get_value(), np.asarray(params.slow), rtol=1e-11)


def test_lookahead_numpy_reference_with_sgd(rng):
    """Zhang et al.'s algorithm written as two loops, against the single-loop wrapper."""
    k, alpha, lr = 4, 0.5, 0.1
    p0, grads = rng.normal(size=3), _grads(rng, 12)
    w, updates, fn = _compiled(su.lookahead(su.sgd(learning_rate=lr), k, alpha), p0)
    slow = p0.copy()
    for outer in range(3):
        fast = slow.copy()
        for g in grads[outer * k : (outer + 1) * k]:
            fast = fast - lr * g
            fn(g)
        slow = slow + alpha * (fast - slow)
        np.testing.assert_allclose(w.get_value(), slow, rtol=1e-13)
        np.testing.assert_allclose(su.param_givens(updates, "lookahead")[w].get_value(), slow, rtol=1e-13)


# -- composition, contract and validation -----------------------------------------


def test_wrappers_inside_multi_steps_see_real_steps_only(rng):
    k, decay = 3, 0.5
    p0, grads = rng.normal(size=3), _grads(rng, 9)
    w, updates, fn = _compiled(su.ema_params(su.multi_steps(su.sgd(learning_rate=0.1), k), decay), p0)
    reference, p, count = np.zeros(3), p0.copy(), 0
    for j, g in enumerate(grads):
        fn(g)
        if (j + 1) % k == 0:
            p = p - 0.1 * grads[j + 1 - k : j + 1].mean(axis=0)
            count += 1
            reference = decay * reference + (1 - decay) * p
        np.testing.assert_allclose(w.get_value(), p, rtol=1e-12)
        if count:
            np.testing.assert_allclose(updates.state["w.ema"].get_value(), reference / (1 - decay**count), rtol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: su.multi_steps(opt, 2),
        lambda opt: su.ema_params(opt, 0.9),
        lambda opt: su.lookahead(opt, 2, 0.5),
    ],
    ids=["multi_steps", "ema_params", "lookahead"],
)
@pytest.mark.parametrize(
    "inner",
    [su.adam, su.adam(learning_rate=0.01), chain(su.scale_by_adam(), su.scale_by_learning_rate(0.01))],
    ids=["named", "factory", "transform"],
)
def test_wrapper_contract(rng, make, inner):
    opt = make(inner)
    assert isinstance(opt, su.Transform)
    assert opt() is opt
    w = pytensor.shared(rng.normal(size=2), name="w")
    loss = (w**2).sum()
    with pytest.raises(ValueError, match="both"):
        opt(loss, None)
    with pytest.raises(ValueError, match="both"):
        opt(None, [w])
    updates = opt(loss, [w])
    assert list(updates)[0] is w
    assert make(opt)(loss, [w])[w].type == w.type  # wrappers nest


def test_wrapper_keeps_multi_precision_outermost(rng):
    w = pytensor.shared(rng.normal(size=3).astype("float16"), name="w")
    opt = su.lookahead(su.multi_steps(su.adam(learning_rate=0.01, multi_precision=True), 2), 2)
    updates = opt((w.astype("float32") ** 2).sum(), [w])
    assert "w.master" in updates.state
    assert updates.state["w.lookahead"].dtype == "float32"
    assert updates[w].dtype == "float16"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: su.multi_steps(su.adam, 0), "every_k"),
        (lambda: su.multi_steps(su.adam, 2.5), "every_k"),
        (lambda: su.ema_params(su.adam, 1.0), "decay"),
        (lambda: su.ema_params(su.adam, 0.9, debias="yes"), "debias"),
        (lambda: su.lookahead(su.adam, 0, 0.5), "sync_period"),
        (lambda: su.lookahead(su.adam, 5, 1.5), "alpha"),
        (lambda: su.multi_steps("adam", 2), "optimizer to wrap"),
        (lambda: su.lookahead(lambda loss, params: None, 2), "optimizer to wrap"),
    ],
)
def test_wrapper_validation(call, match):
    with pytest.raises(su.InputError, match=match):
        call()


@pytest.mark.parametrize(
    "wrap",
    [
        su.skip_nonfinite,
        su.multi_precision,
        lambda t: su.multi_steps(t, 2),
        lambda t: su.ema_params(t),
        lambda t: su.lookahead(t),
    ],
    ids=["skip_nonfinite", "multi_precision", "multi_steps", "ema_params", "lookahead"],
)
def test_every_wrapper_takes_its_inner_name_and_rejects_non_transforms(wrap):
    wrapped = wrap(su.chain(su.scale_by_adam(), su.scale_by_learning_rate(0.1), name="inner"))
    assert isinstance(wrapped, su.Wrapper) or isinstance(getattr(wrapped, "inner", None), su.Wrapper)
    assert wrapped.name == "inner"
    with pytest.raises(su.InputError, match="optimizer to wrap|wraps a transform"):
        wrap(3)
