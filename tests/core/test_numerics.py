"""Sums and means keep their input's dtype and are right in float16 on the C backend.

PyTensor's C backend fuses the element-wise producer of a sum into it and then
computes on float16 bits as integers (``(x ** 2).sum()`` comes out negative);
:mod:`symupdates.core.numerics` routes float16 around that fusion. Checked against
NumPy in float64 on FAST_RUN (C; ``CVM`` on PyTensor 3, whose default Numba has
no float16) and FAST_COMPILE.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from symupdates.core.numerics import mean, total
from tests.conftest import DEFAULT, DEFAULT_IS_NUMBA

C_MODE = "CVM" if DEFAULT_IS_NUMBA else DEFAULT
CASES = [
    ((), None, False),
    ((3,), None, False),
    ((2, 3), None, False),
    ((2, 3), 1, True),
    ((2, 3), 0, True),
    ((2, 3, 4), -1, False),
    ((2, 3, 4), (0, 2), True),
]


@pytest.mark.parametrize("mode", [C_MODE, "FAST_COMPILE"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape, axis, keepdims", CASES)
def test_sum_and_mean_of_squares_match_numpy(shape, axis, keepdims, dtype, mode):
    value = np.random.default_rng(len(shape)).normal(size=shape).astype(dtype)
    x = pytensor.shared(value)
    fn = pytensor.function([], [total(pt.sqr(x), axis, keepdims), mean(pt.sqr(pt.abs(x)), axis, keepdims)], mode=mode)
    got_total, got_mean = fn()
    squares = value.astype("float64") ** 2
    rtol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-12}[dtype]
    for got, want in [
        (got_total, squares.sum(axis=axis, keepdims=keepdims)),
        (got_mean, squares.mean(axis=axis, keepdims=keepdims)),
    ]:
        assert got.dtype == dtype and got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=rtol)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_clip_global_norm_with_infinite_gradients_on_the_c_backend(dtype):
    """The infinite elements share the norm (counted by a float16-safe sum); the others become 0."""
    import symupdates

    p = pytensor.shared(np.zeros(4, dtype), name="p")
    g = pt.vector("g", dtype=dtype)
    updates = symupdates.sgd([g], [p], learning_rate=1.0, clip_global_norm=2.0)
    fn = pytensor.function([g], [], updates=updates, mode=C_MODE)
    fn(np.array([np.inf, 1.0, -np.inf, 0.5], dtype))
    np.testing.assert_allclose(p.get_value(), [-np.sqrt(2), 0.0, np.sqrt(2), 0.0], rtol=1e-3)
    assert p.get_value().dtype == dtype
