"""pack(): the packed path gives the unpacked path's numbers."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors
from pytensor.tensor.basic import Join, Split
from pytensor.tensor.subtensor import IncSubtensor, Subtensor

import symupdates
from tests.conftest import FAST

SHAPES = [(3, 4), (4,), (), (1, 1, 2, 2)]


def _problem(rng, dtype="float64"):
    params = [pytensor.shared(rng.normal(size=s).astype(dtype), name=f"p{i}") for i, s in enumerate(SHAPES)]
    x = pt.vector("x", dtype=dtype)
    # x[0] + x[1] + x[2], not x.sum(): PyTensor's JAX backend returns a float32 Sum's
    # float64 accumulator, which would turn the whole float32 step into float64 there
    loss = sum(((p * (x[0] + x[1] + x[2]) - 0.5) ** 2).sum() + (p**4).sum() * 0.01 for p in params)
    return params, x, loss


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "rmsprop", "adadelta", "adamax", "adagrad"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packed_equals_unpacked(name, dtype):
    rng = np.random.default_rng(3)
    params_a, x_a, loss_a = _problem(np.random.default_rng(3), dtype)
    params_b, x_b, loss_b = _problem(np.random.default_rng(3), dtype)
    opt = symupdates.get(name, learning_rate=0.01)
    step_a = pytensor.function([x_a], [], updates=opt(loss_a, params_a), mode=FAST)
    packed = symupdates.pack(params_b)
    step_b = pytensor.function([x_b], [], updates=opt(packed.replace(loss_b), [packed.flat]), mode=FAST)
    for _ in range(30):
        data = rng.normal(size=3).astype(dtype)
        step_a(data)
        step_b(data)
    packed.unpack()
    for a, b in zip(params_a, params_b):
        assert b.get_value().dtype == np.dtype(dtype)
        # element-wise math is identical; only the gradient's summation order may differ
        np.testing.assert_allclose(b.get_value(), a.get_value(), rtol=1e-12 if dtype == "float64" else 1e-5)


def _mode(name):
    if name != "default":
        pytest.importorskip(name.lower())
    return None if name == "default" else name


@pytest.mark.parametrize("mode", ["default", "NUMBA", "JAX"])
def test_packed_equals_unpacked_on_every_backend(mode):
    """The Split views and the Join of their gradients compile and agree on every backend."""
    rng = np.random.default_rng(5)
    params_a, x_a, loss_a = _problem(np.random.default_rng(5), "float32")
    params_b, x_b, loss_b = _problem(np.random.default_rng(5), "float32")
    step_a = pytensor.function([x_a], [], updates=symupdates.adam(loss_a, params_a, learning_rate=0.01), mode=FAST)
    packed = symupdates.pack(params_b)
    updates = symupdates.adam(packed.replace(loss_b), [packed.flat], learning_rate=0.01)
    step_b = pytensor.function([x_b], [], updates=updates, mode=_mode(mode))
    for _ in range(10):
        data = rng.normal(size=3).astype("float32")
        step_a(data)
        step_b(data)
    packed.unpack()
    for a, b in zip(params_a, params_b):
        assert b.get_value().dtype == np.float32
        np.testing.assert_allclose(b.get_value(), a.get_value(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [2, 50, 64, 65, 130])
def test_views_are_a_small_tree_of_splits(n):
    """n parameters add ceil(n / 64)-ish Splits of power-of-two arity <= 64 to the loss and as
    many Joins to its gradient: no slice per parameter, no chain of n increments of a
    zero vector (which made compile time grow with n squared), and only a handful of
    C modules to compile whatever n is. The views read the right values, and the
    gradient lands in the right places."""
    rng = np.random.default_rng(0)
    params = [pytensor.shared(rng.normal(size=(i % 3, 2)), name=f"p{i}") for i in range(n)]
    packed = symupdates.pack(params)
    weights = [rng.normal(size=p.get_value().shape) for p in params]
    loss = packed.replace(sum((p * w).sum() for p, w in zip(params, weights)))
    grad = pytensor.grad(loss, packed.flat)
    nodes = {v.owner for v in ancestors([grad]) if v.owner is not None}
    splits = [nd for nd in nodes if isinstance(nd.op, Split)]
    joins = [nd for nd in nodes if isinstance(nd.op, Join)]
    arities = {len(nd.outputs) for nd in splits}
    assert arities <= {2, 4, 8, 16, 32, 64}, arities
    assert len(splits) == len(joins) <= 1 + -(-n // 64)
    assert not any(isinstance(nd.op, Subtensor | IncSubtensor) for nd in nodes)
    *views, g = pytensor.function([], [*packed.views, grad], mode=FAST)()
    for p, view in zip(params, views):
        np.testing.assert_array_equal(view, p.get_value())
    np.testing.assert_array_equal(g, np.concatenate([w.ravel() for w in weights]))


def test_read_write_and_types(rng):
    params, _, _ = _problem(rng)
    packed = symupdates.pack(params)
    assert packed.flat.type.shape == (sum(int(np.prod(s)) for s in SHAPES),)
    for p, view in zip(params, packed.views):
        assert p.type.is_super(view.type) and view.dtype == p.dtype
        np.testing.assert_array_equal(packed.read(p), p.get_value())
    packed.write(params[1], np.full(4, 7.0))
    np.testing.assert_array_equal(packed.read(params[1]), np.full(4, 7.0))
    packed.unpack()
    np.testing.assert_array_equal(params[1].get_value(), np.full(4, 7.0))


def test_bad_input(rng):
    a = pytensor.shared(np.zeros(2), name="a")
    b = pytensor.shared(np.zeros(2, "float32"), name="b")
    with pytest.raises(ValueError, match="one dtype"):
        symupdates.pack([a, b])
    packed = symupdates.pack([a])
    with pytest.raises(ValueError, match="not one of the packed"):
        packed.read(b)
    with pytest.raises(ValueError, match="shape"):
        packed.write(a, np.zeros(3))


# -- flat_parameters: the model built on views of one vector from the start -------------


def _flat_problem(rng, dtype):
    values = {f"p{i}": rng.normal(size=s).astype(dtype) for i, s in enumerate(SHAPES)}
    params = symupdates.flat_parameters(values)
    x = pt.vector("x", dtype=dtype)
    loss = sum(((params[k] * (x[0] + x[1] + x[2]) - 0.5) ** 2).sum() + (params[k] ** 4).sum() * 0.01 for k in params)
    return params, x, loss


@pytest.mark.parametrize(
    "dtype, mode", [("float64", "default"), ("float32", "default"), ("float32", "NUMBA"), ("float32", "JAX")]
)
def test_flat_parameters_give_the_separate_tensors_numbers(dtype, mode):
    """Adam on one flat vector equals Adam on the same parameters as separate shared
    tensors, on every backend; the dtype is the initial values' one."""
    rng = np.random.default_rng(4)
    params_a, x_a, loss_a = _problem(np.random.default_rng(3), dtype)
    params_b, x_b, loss_b = _flat_problem(np.random.default_rng(3), dtype)
    assert params_b.flat.dtype == dtype and list(params_b) == ["p0", "p1", "p2", "p3"]
    step_a = pytensor.function([x_a], [], updates=symupdates.adam(loss_a, params_a, learning_rate=0.01), mode=FAST)
    updates = symupdates.adam(loss_b, [params_b.flat], learning_rate=0.01)
    step_b = pytensor.function([x_b], loss_b, updates=updates, mode=_mode(mode))
    for _ in range(15):
        data = rng.normal(size=3).astype(dtype)
        step_a(data)
        step_b(data)
    for a, (name, value) in zip(params_a, params_b.get_values().items()):
        assert value.dtype == np.dtype(dtype) and value.shape == a.get_value().shape, name
        np.testing.assert_allclose(value, a.get_value(), rtol=1e-12 if dtype == "float64" else 1e-5, atol=1e-6)


def test_flat_parameters_by_name_and_state_round_trip(tmp_path):
    params = symupdates.flat_parameters({"W": np.ones((2, 3), "float32"), "b": np.zeros(3, "float32")})
    assert params["W"].type.shape == (2, 3) and params["W"].dtype == "float32" and params["W"].name == "params[W]"
    params.set_value("b", [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(params.get_value("b"), np.array([1, 2, 3], "float32"))
    np.testing.assert_array_equal(params.flat.get_value(), np.array([1] * 6 + [1, 2, 3], "float32"))
    x = pt.vector("x", dtype="float32")
    loss = ((x @ params["W"] + params["b"]) ** 2).sum()
    updates = symupdates.adam(loss, [params.flat], learning_rate=0.1)
    step = pytensor.function([x], loss, updates=updates, mode=FAST)
    step(np.ones(2, "float32"))
    assert sorted(updates.state_dict()) == ["adam.step", "params.adam.m", "params.adam.v"]
    updates.save(tmp_path / "state.npz")
    saved_state, saved_params = updates.state_dict(), params.get_values()
    step(np.ones(2, "float32"))
    updates.load(tmp_path / "state.npz")
    params.set_values(saved_params)
    for name, value in saved_state.items():
        np.testing.assert_array_equal(updates.state_dict()[name], value)
    for name, value in saved_params.items():
        np.testing.assert_array_equal(params.get_value(name), value)
    params.set_values({"W": np.zeros((2, 3))})
    assert not params.get_value("W").any() and params.get_value("W").dtype == np.float32


def test_flat_parameters_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        symupdates.flat_parameters([np.zeros(2)])
    with pytest.raises(ValueError, match=r"one float dtype, got a: float64, b: float32.*dtype="):
        symupdates.flat_parameters({"a": np.zeros(2), "b": np.zeros(2, "float32")})
    with pytest.raises(ValueError, match="one float dtype"):
        symupdates.flat_parameters({"n": np.arange(3)})
    with pytest.raises(ValueError, match="float dtype"):
        symupdates.flat_parameters({"a": np.zeros(2)}, dtype="int32")
    params = symupdates.flat_parameters({"a": np.zeros(2), "b": np.zeros(2, "float32")}, dtype="float32")
    assert params.flat.dtype == "float32"
    with pytest.raises(ValueError, match=r"value for 'a' has shape \(3,\), expected \(2,\)"):
        params.set_value("a", np.zeros(3))
    with pytest.raises(KeyError, match=r"'c' is not one of the parameters \['a', 'b'\]"):
        params["c"]
