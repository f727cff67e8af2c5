"""compile(): device-resident JAX steps give pytensor.function's numbers."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates

pytest.importorskip("jax")


def _problem(dtype):
    w = pytensor.shared(np.linspace(-1, 1, 6).astype(dtype).reshape(2, 3), name="w")
    b = pytensor.shared(np.zeros(3, dtype), name="b")
    x = pt.matrix("x", dtype=dtype)
    loss = ((x @ w.T).sum() * b + (w**2).sum(axis=0) - 1.0).var() + (b**2).sum()
    return [w, b], x, loss


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["adam", "rmsprop", "momentum"])
def test_same_numbers_as_pytensor_function(dtype, name):
    rng = np.random.default_rng(0)
    opt = symupdates.get(name, learning_rate=0.05)
    params_a, x_a, loss_a = _problem(dtype)
    params_b, x_b, loss_b = _problem(dtype)
    updates_a = opt(loss_a, params_a)
    reference = pytensor.function([x_a], loss_a, updates=updates_a, mode="JAX")
    step = symupdates.jax_function([x_b], loss_b, opt(loss_b, params_b))
    for _ in range(15):
        data = rng.normal(size=(4, 3)).astype(dtype)
        np.testing.assert_allclose(np.asarray(step(data)), reference(data), rtol=1e-6 if dtype == "float32" else 1e-12)
    # shared variables are untouched until sync()
    assert np.array_equal(params_b[1].get_value(), np.zeros(3, dtype))
    step.sync()
    for a, b in zip(params_a, params_b):
        assert b.get_value().dtype == np.dtype(dtype)
        np.testing.assert_allclose(b.get_value(), a.get_value(), rtol=1e-6 if dtype == "float32" else 1e-12)
    counters = [v for v in step.shared if v.name == f"{name}.step"]
    assert all(int(c.get_value()) == 15 for c in counters) and (name != "adam" or counters)


def test_load_reads_new_values_and_sync_round_trips():
    w = pytensor.shared(np.zeros(3), name="w")
    loss = ((w - 1.0) ** 2).sum()
    step = symupdates.jax_function([], loss, symupdates.sgd(loss, [w], learning_rate=0.5))
    step()
    step.sync()
    np.testing.assert_allclose(w.get_value(), np.ones(3))
    w.set_value(np.full(3, 3.0))
    step.load()
    step()
    step.sync()
    np.testing.assert_allclose(w.get_value(), np.ones(3))


def test_arity_and_layout_arguments_need_a_mesh():
    w = pytensor.shared(np.zeros(3), name="w")
    loss = (w**2).sum()
    step = symupdates.jax_function([], loss, symupdates.sgd(loss, [w]))
    with pytest.raises(ValueError, match="input"):
        step(np.ones(3))
    with pytest.raises(ValueError, match="mesh"):
        symupdates.jax_function([], loss, symupdates.sgd(loss, [w]), strategy="zero")
    with pytest.raises(ValueError, match="mesh"):
        symupdates.jax_function([], loss, symupdates.sgd(loss, [w]), shardings={"w": None})
    with pytest.raises(ValueError, match="strategy"):
        symupdates.jax_function([], loss, symupdates.sgd(loss, [w]), mesh=_one_device_mesh(), strategy="zero3")
    with pytest.raises(ValueError, match="not both"):
        import jax

        symupdates.jax_function([], loss, symupdates.sgd(loss, [w]), mesh=_one_device_mesh(), device=jax.devices()[0])
    with pytest.raises(ValueError, match="PartitionSpec"):
        symupdates.jax_function([], loss, symupdates.sgd(loss, [w]), mesh=_one_device_mesh(), shardings={"w": 3})


def _one_device_mesh():
    import jax
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()[:1]), ("data",))
