"""pack(): the packed path gives the unpacked path's numbers."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates
from conftest import FAST

SHAPES = [(3, 4), (4,), (), (1, 1, 2, 2)]


def _problem(rng, dtype="float64"):
    params = [pytensor.shared(rng.normal(size=s).astype(dtype), name=f"p{i}") for i, s in enumerate(SHAPES)]
    x = pt.vector("x", dtype=dtype)
    loss = sum(((p * x.sum() - 0.5) ** 2).sum() + (p**4).sum() * 0.01 for p in params)
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
