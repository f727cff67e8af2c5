"""Clipping transforms and the Lasagne/PyMC norm constraints, against NumPy, torch, optax and PyMC."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

import symupdates as su  # noqa: E402
from tests.conftest import FAST  # noqa: E402


def _apply(transform, values, dtype="float64"):
    """Run ``transform`` once on gradients ``values``; return the steps u (p moves by -u from 0)."""
    params = [pytensor.shared(np.zeros(np.shape(v), dtype=dtype), name=f"p{i}") for i, v in enumerate(values)]
    grads = [pt.tensor(dtype=dtype, shape=(None,) * np.ndim(v)) for v in values]
    updates = transform(grads, params)
    fn = pytensor.function(grads, [updates[p] for p in params], mode=FAST)
    return [-out for out in fn(*[np.asarray(v, dtype=dtype) for v in values])]


def np_global_clip(values, c):
    norm = np.sqrt(sum(np.sum(np.square(v)) for v in values))
    return [v if norm <= c else v * (c / norm) for v in values]


# -- clip_by_value ---------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_clip_by_value(c, rng):
    g = rng.normal(size=(3, 4)) * 2
    (out,) = _apply(su.clip_by_value(c), [g])
    np.testing.assert_array_equal(out, np.clip(g, -c, c))


@pytest.mark.parametrize("c", [None, 0, 0.0, -1.0])
def test_clip_by_value_off(c, rng):
    g = rng.normal(size=5) * 10
    (out,) = _apply(su.clip_by_value(c), [g])
    np.testing.assert_array_equal(out, g)


def test_clip_by_value_symbolic_threshold_off_at_run_time(rng):
    c = pytensor.shared(np.float64(0.5), name="c")
    g = rng.normal(size=6) * 3
    p = pytensor.shared(np.zeros(6), name="p")
    x = pt.vector("g")
    fn = pytensor.function([x], su.chain(su.clip_by_value(c))([x], [p])[p], mode=FAST)
    np.testing.assert_array_equal(-fn(g), np.clip(g, -0.5, 0.5))
    for off in (0.0, -2.0):
        c.set_value(np.float64(off))
        np.testing.assert_array_equal(-fn(g), g)


def test_clip_by_value_inf_and_nan():
    (out,) = _apply(su.clip_by_value(1.5), [np.array([np.inf, -np.inf, np.nan, 0.3])])
    np.testing.assert_array_equal(out[[0, 1, 3]], [1.5, -1.5, 0.3])
    assert np.isnan(out[2])


# -- clip_by_norm and clip_global_norm vs NumPy, torch, optax ---------------------------------


@pytest.mark.parametrize("c", [0.1, 1.0, 100.0])
def test_clip_by_norm_numpy(c, rng):
    values = [rng.normal(size=(2, 3)), rng.normal(size=4)]
    out = _apply(su.clip_by_norm(c), values)
    for o, v in zip(out, values):
        np.testing.assert_allclose(o, np_global_clip([v], c)[0], rtol=1e-14)
        assert np.sqrt(np.sum(o**2)) <= c * (1 + 1e-14)


@pytest.mark.parametrize("c", [0.1, 1.0, 100.0])
def test_clip_global_norm_vs_numpy_optax_torch(c, rng):
    values = [rng.normal(size=(2, 3)), rng.normal(size=4)]
    out = _apply(su.clip_global_norm(c), values)
    for o, e in zip(out, np_global_clip(values, c)):
        np.testing.assert_allclose(o, e, rtol=1e-14)
    # optax: exactly the same rule
    tx = optax.clip_by_global_norm(c)
    ox, _ = tx.update([jnp.asarray(v) for v in values], tx.init([jnp.asarray(v) for v in values]))
    for o, e in zip(out, ox):
        np.testing.assert_allclose(o, np.asarray(e), rtol=1e-14)
    # torch scales by c / (norm + 1e-6): equal to ours up to a relative 1e-6 / norm
    tensors = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in values]
    for t, v in zip(tensors, values):
        t.grad = torch.tensor(v)
    total = float(torch.nn.utils.clip_grad_norm_(tensors, c))
    rtol = 0 if total <= c else 2e-6 / total
    for o, t in zip(out, tensors):
        np.testing.assert_allclose(o, t.grad.numpy(), rtol=rtol + 1e-15)


def _scaled_norm(x):
    """The L2 norm without underflow or overflow of the squares (np.linalg.norm has both)."""
    m = np.max(np.abs(x))
    return 0.0 if m == 0 else m * np.sqrt(np.sum((x / m) ** 2))


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    st.floats(0.0, 50.0, allow_subnormal=False),
)
def test_clip_global_norm_property(x, c):
    """Result norm is min(norm, c), and the direction is kept."""
    (out,) = _apply(su.clip_global_norm(c), [x])
    norm = _scaled_norm(x)
    np.testing.assert_allclose(_scaled_norm(out), min(norm, c), rtol=1e-12, atol=0)
    if norm <= c:
        np.testing.assert_array_equal(out, x)
    else:
        np.testing.assert_allclose(out * norm, x * c, rtol=1e-12, atol=1e-12)


# -- edge cases of the module docstring ------------------------------------------------------

CLIPPERS = [su.clip_by_norm, su.clip_global_norm]


@pytest.mark.parametrize("clipper", CLIPPERS)
def test_zero_gradient_zero_max_norm_gives_zeros(clipper):
    out = _apply(clipper(0.0), [np.zeros(3), np.zeros((2, 2))])
    for o in out:
        np.testing.assert_array_equal(o, 0.0)
    out = _apply(clipper(0.0), [np.array([1.0, -2.0])])
    np.testing.assert_array_equal(out[0], 0.0)


@pytest.mark.parametrize("clipper", CLIPPERS)
def test_infinite_elements_give_the_finite_limit(clipper):
    (out,) = _apply(clipper(2.0), [np.array([np.inf, 1.0, -np.inf, 0.0])])
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [np.sqrt(2.0), 0.0, -np.sqrt(2.0), 0.0], rtol=1e-15)


def test_global_infinite_element_zeroes_other_tensors():
    out = _apply(su.clip_global_norm(3.0), [np.array([1.0, np.inf]), np.array([5.0, 5.0])])
    np.testing.assert_array_equal(out[0], [0.0, 3.0])
    np.testing.assert_array_equal(out[1], [0.0, 0.0])


@pytest.mark.parametrize("clipper", CLIPPERS)
def test_norm_exactly_at_threshold_is_bit_identical(clipper):
    x = np.array([3.0, 4.0])
    (out,) = _apply(clipper(5.0), [x])
    assert out.tobytes() == x.tobytes()


@pytest.mark.parametrize("clipper", CLIPPERS)
def test_overflowing_squares_with_finite_elements(clipper):
    x = np.array([1e200, -1e200, 3e199])
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(x**2))  # the naive norm overflows
    (out,) = _apply(clipper(1.0), [x])
    expected = x / 1e200 / np.linalg.norm(x / 1e200)
    np.testing.assert_allclose(out, expected, rtol=1e-14)


@pytest.mark.parametrize("clipper", CLIPPERS)
def test_nan_propagates(clipper):
    (out,) = _apply(clipper(1.0), [np.array([np.nan, 1.0])])
    assert np.all(np.isnan(out))


@pytest.mark.parametrize("clipper", [su.clip_by_norm, su.clip_global_norm, su.clip_by_value])
def test_float32_kept_under_float64_floatx(clipper, rng):
    assert pytensor.config.floatX == "float64"
    values = [rng.normal(size=3).astype("float32") * 5]
    (out,) = _apply(clipper(1.0), values, dtype="float32")
    assert out.dtype == np.float32
    expected = (
        np_global_clip([values[0].astype(np.float64)], 1.0)[0]
        if clipper is not su.clip_by_value
        else np.clip(values[0], -1, 1)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_global_norm_mixed_dtypes(rng):
    a, b = rng.normal(size=3).astype("float32") * 4, rng.normal(size=2) * 4
    pa, pb = pytensor.shared(np.zeros(3, "float32"), name="a"), pytensor.shared(np.zeros(2), name="b")
    ga, gb = pt.vector(dtype="float32"), pt.vector(dtype="float64")
    up = su.clip_global_norm(1.0)([ga, gb], [pa, pb])
    assert up[pa].dtype == "float32" and up[pb].dtype == "float64"
    oa, ob = pytensor.function([ga, gb], [-up[pa], -up[pb]], mode=FAST)(a, b)
    ea, eb = np_global_clip([a.astype(np.float64), b], 1.0)
    np.testing.assert_allclose(oa, ea, rtol=1e-6)
    np.testing.assert_allclose(ob, eb, rtol=1e-6)


# -- norm_constraint and total_norm_constraint vs PyMC --------------------------------------


@pytest.mark.parametrize("shape,axes", [((4, 3), None), ((2, 3, 4), None), ((3, 5), (1,)), ((2, 2, 2, 2), (0, 2))])
@pytest.mark.parametrize("max_norm", [0.5, 3.0])
def test_norm_constraint_vs_pymc(shape, axes, max_norm, rng):
    pmu = pytest.importorskip("pymc.variational.updates")

    x = pt.tensor(dtype="float64", shape=(None,) * len(shape))
    value = rng.normal(size=shape)
    ours = su.norm_constraint(x, max_norm, norm_axes=axes)
    theirs = pmu.norm_constraint(x, max_norm, norm_axes=axes)
    a, b = pytensor.function([x], [ours, theirs], mode=FAST)(value)
    np.testing.assert_allclose(a, b, rtol=1e-13)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_total_norm_constraint_vs_pymc(max_norm, rng):
    pmu = pytest.importorskip("pymc.variational.updates")

    xs = [pt.matrix(), pt.vector()]
    values = [rng.normal(size=(2, 3)), rng.normal(size=4)]
    ours, norm = su.total_norm_constraint(xs, max_norm, return_norm=True)
    theirs, their_norm = pmu.total_norm_constraint(xs, max_norm, return_norm=True)
    out = pytensor.function(xs, [*ours, norm, *theirs, their_norm], mode=FAST)(*values)
    for a, b in zip(out[:3], out[3:]):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    np.testing.assert_allclose(out[2], np.sqrt(sum(np.sum(v**2) for v in values)), rtol=1e-14)


def test_total_norm_constraint_float32_and_inf():
    x = pt.vector(dtype="float32")
    (out,), norm = su.total_norm_constraint([x], 2.0, return_norm=True)
    assert out.dtype == "float32" and norm.dtype == "float32"
    o, n = pytensor.function([x], [out, norm], mode=FAST)(np.array([np.inf, 1.0], dtype="float32"))
    assert np.isinf(n)
    np.testing.assert_allclose(o, [2.0, 0.0])


def test_norm_constraint_rejects_bad_input():
    with pytest.raises(su.InputError, match="norm_axes"):
        su.norm_constraint(pt.vector(), 1.0)
    with pytest.raises(su.InputError, match="max_norm"):
        su.total_norm_constraint([pt.vector()], -1.0)
    with pytest.raises(su.InputError, match="empty"):
        su.total_norm_constraint([], 1.0)
