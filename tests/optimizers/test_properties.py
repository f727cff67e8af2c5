"""Property tests (hypothesis) over every registered optimizer.

For any shape (0-d to 4-d, unit axes included), gradient scale and seed:
finite gradients give finite parameters and state; a zero gradient leaves the
parameters exactly where they are (once the weight-decay terms that move
parameters by design are set to zero); float32 tracks float64.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates
from tests.conftest import FAST

NAMES = symupdates.available()
#: Hyper-parameters that move parameters even without a gradient: decoupled and ASGD
#: decay, and Yogi's moments that start at 1e-6 (optax's initial_accumulator_value).
AT_REST = {"adamw": {"weight_decay": 0.0}, "asgd": {"lambd": 0.0}, "yogi": {"initial_accumulator_value": 0.0}}
SHAPES = st.sampled_from([(), (1,), (3,), (3, 1), (2, 3), (1, 1, 2, 2)])
N_STEPS = 8


def run(name, dtype, p0, grads, **hyper):
    """Parameters after each step, and the final state values."""
    p = pytensor.shared(p0.astype(dtype), name="p")
    g = pt.tensor("g", dtype=dtype, shape=p0.shape)
    updates = symupdates.get(name, learning_rate=0.01, **hyper)([g], [p])
    fn = pytensor.function([g], [], updates=updates, mode=FAST)
    trajectory = []
    for grad in grads:
        fn(grad.astype(dtype))
        trajectory.append(p.get_value().copy())
    return trajectory, [v.get_value() for v in updates.state.values()]


def problem(seed, shape, scale, zero=False):
    rng = np.random.default_rng(seed)
    p0 = rng.normal(size=shape)
    grads = [np.zeros(shape) if zero else scale * rng.normal(size=shape) for _ in range(N_STEPS)]
    return p0, grads


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(shape=SHAPES, seed=st.integers(0, 2**16), log_scale=st.floats(-3, 3))
def test_finite_gradients_give_finite_values_and_float32_tracks_float64(name, shape, seed, log_scale):
    p0, grads = problem(seed, shape, 10.0**log_scale)
    wide, wide_state = run(name, "float64", p0, grads)
    narrow, narrow_state = run(name, "float32", p0, grads)
    for values in (wide[-1], narrow[-1], *wide_state, *narrow_state):
        assert np.all(np.isfinite(values)), name
    assert narrow[-1].dtype == np.float32
    # each step moves a parameter by about the learning rate: compare with that scale
    moved = max(float(np.max(np.abs(wide[-1] - p0), initial=0.0)), 1e-2)
    error = max(float(np.max(np.abs(a.astype("float64") - b), initial=0.0)) for a, b in zip(narrow, wide))
    assert error <= 1e-3 * moved + 1e-5, (name, error, moved)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=2, deadline=None, derandomize=True)
@given(shape=SHAPES, seed=st.integers(0, 2**16), dtype=st.sampled_from(["float32", "float64"]))
def test_zero_gradient_leaves_parameters_unchanged(name, shape, seed, dtype):
    p0, grads = problem(seed, shape, 1.0, zero=True)
    trajectory, state = run(name, dtype, p0, grads, **AT_REST.get(name, {}))
    np.testing.assert_array_equal(trajectory[-1], p0.astype(dtype), err_msg=name)
    for values in state:
        assert np.all(np.isfinite(values)), name


def test_the_exemptions_do_move_parameters_without_gradient():
    """The exemptions above are real: with their defaults these optimizers move parameters."""
    p0, grads = problem(0, (3,), 1.0, zero=True)
    for name in AT_REST:
        trajectory, _ = run(name, "float64", p0, grads)
        assert np.all(trajectory[-1] != p0), name
