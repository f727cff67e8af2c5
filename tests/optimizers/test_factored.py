"""Adafactor and SM3 against NumPy implementations of the papers.

References: Shazeer & Stern (2018) Adafactor, algorithms 4 and 5 (factored and
unfactored second moments, update clipping, relative step), written with
sums as in the paper — the library uses means, which give the same estimate;
Anil et al. (2019) SM3-II with the axis-slice cover (and Adagrad for vectors).
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symupdates as su
from tests.conftest import FAST, assert_float32_kept, random_problem, run_trajectory

RTOL = {"float64": 1e-10, "float32": 2e-4}


def rms(x):
    return np.sqrt(np.mean(np.square(x)))


# -- NumPy references ---------------------------------------------------------------------


def ref_adafactor(p0, grads, lr, c, eps1, eps2, d, factor_2d, torch_form=False, wd=0.0):
    """The paper's algorithm with beta2_t = 1 - t^-c; ``factor_2d`` says which tensors are factored.

    torch_form: the relative step min(lr, 1/sqrt t), eps1 a clamp instead of an addition,
    and the last two axes of 3-d tensors factored (a batch of matrices).
    """
    p = [x.astype("float64") for x in p0]
    state = [None] * len(p0)
    out = []
    for t, g in enumerate(grads, start=1):
        b2 = 1.0 - t ** (-c)
        rate = min(lr, 1 / np.sqrt(t)) if torch_form else lr
        new_p = []
        for i, (pi, gi) in enumerate(zip(p, g)):
            sq = gi**2 if torch_form else gi**2 + eps1
            if factor_2d[i]:
                n, m = pi.shape[-2:]
                if state[i] is None:
                    state[i] = [np.zeros(pi.shape[:-1]), np.zeros(pi.shape[:-2] + (m,))]
                R, C = state[i]
                R = b2 * R + (1 - b2) * sq.sum(axis=-1)  # row sums (paper: G^2 1_m)
                C = b2 * C + (1 - b2) * sq.sum(axis=-2)  # column sums (paper: 1_n^T G^2)
                state[i] = [R, C]
                # V = R C / (1_n^T R), rescaled from sums to means: R/m, C/n, (1^T R)/(n m)
                total = R.sum(axis=-1, keepdims=True) / (n * m)
                if torch_form:
                    total = np.maximum(total, eps1)
                V = (R / m / total)[..., :, None] * (C / n)[..., None, :]
                if torch_form:
                    V = np.maximum(V, eps1**2)
            else:
                if state[i] is None:
                    state[i] = np.zeros(pi.shape)
                state[i] = b2 * state[i] + (1 - b2) * sq
                V = np.maximum(state[i], eps1**2) if torch_form else state[i]
            U = gi / np.sqrt(V)
            U = U / max(1.0, rms(U) / d)
            step = rate * max(rms(pi), eps2) * U
            new_p.append(pi - step - wd * pi)
        p = new_p
        out.append(p)
    return out


def ref_sm3(p0, grads, lr, beta, eps):
    p = [x.astype("float64") for x in p0]
    covers = [None] * len(p0)
    m = [np.zeros(x.shape) for x in p0]
    out = []
    for g in grads:
        new_p = []
        for i, (pi, gi) in enumerate(zip(p, g)):
            if pi.ndim < 2:
                covers[i] = (np.zeros(pi.shape) if covers[i] is None else covers[i]) + gi**2
                nu = covers[i]
            else:
                if covers[i] is None:
                    covers[i] = [np.zeros(n) for n in pi.shape]
                nu = np.empty(pi.shape)
                for idx in np.ndindex(pi.shape):
                    nu[idx] = gi[idx] ** 2 + min(covers[i][a][j] for a, j in enumerate(idx))
                for a in range(pi.ndim):
                    covers[i][a] = np.array([nu.take(j, axis=a).max() for j in range(pi.shape[a])])
            scaled = np.where(nu > 0, gi / np.sqrt(np.where(nu > 0, nu, 1) + eps), 0.0)
            m[i] = beta * m[i] + (1 - beta) * scaled
            new_p.append(pi - lr * m[i])
        p = new_p
        out.append(p)
    return out


OPTAX_SHAPES = [(), (1,), (4,), (3, 4), (2, 5)]
CASES = {
    # min_dim_size_to_factor=3: (3, 4) is factored, (2, 5) is not (its smaller axis is 2)
    "adafactor": (
        OPTAX_SHAPES,
        lambda: su.adafactor(learning_rate=0.05, min_dim_size_to_factor=3, decay_rate=0.8, clipping_threshold=1.0),
        lambda p0, g: ref_adafactor(p0, g, 0.05, 0.8, 1e-30, 1e-3, 1.0, [False, False, False, True, False]),
    ),
    "adafactor_unfactored_clip": (
        OPTAX_SHAPES,
        lambda: su.adafactor(
            learning_rate=0.05, factored=False, min_dim_size_to_factor=1, clipping_threshold=0.5, weight_decay=0.01
        ),
        lambda p0, g: ref_adafactor(p0, g, 0.05, 0.8, 1e-30, 1e-3, 0.5, [False] * 5, wd=0.01),
    ),
    "adafactor_torch": (
        [(3,), (3, 4), (2, 3, 4)],
        lambda: su.adafactor(learning_rate=0.3, form="torch", decay_rate=0.7),
        lambda p0, g: ref_adafactor(p0, g, 0.3, 0.7, None, 1e-3, 1.0, [False, True, True], torch_form=True),
    ),
    "sm3": (
        [(), (3,), (3, 4), (2, 3, 2)],
        lambda: su.sm3(learning_rate=0.05, momentum=0.8, epsilon=1e-8),
        lambda p0, g: ref_sm3(p0, g, 0.05, 0.8, 1e-8),
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_paper_reference(name, dtype):
    shapes, make, reference = CASES[name]
    p0, grads = random_problem(13, dtype, shapes)
    ours, _ = run_trajectory(make(), p0, grads)
    if name == "adafactor_torch":  # the clamp is the dtype's machine epsilon
        eps = float(np.finfo(dtype).eps)
        reference = lambda p, g: ref_adafactor(p, g, 0.3, 0.7, eps, 1e-3, 1.0, [False, True, True], torch_form=True)  # noqa: E731
    expected = reference(p0, [[g.astype("float64") for g in gs] for gs in grads])
    for k, (got, want) in enumerate(zip(ours, expected)):
        for x, y in zip(got, want):
            assert x.dtype == dtype and x.shape == y.shape
            np.testing.assert_allclose(x, y, rtol=RTOL[dtype], atol=RTOL[dtype], err_msg=f"{name} step {k + 1}")


@pytest.mark.parametrize(
    "kwargs, factored",
    [
        ({}, {"p0": False, "p1": False, "p2": False}),  # default min_dim_size_to_factor=128: nothing small is factored
        ({"min_dim_size_to_factor": 3}, {"p0": False, "p1": True, "p2": False}),
        ({"min_dim_size_to_factor": 2}, {"p0": False, "p1": True, "p2": True}),
        ({"min_dim_size_to_factor": 2, "factored": False}, {"p0": False, "p1": False, "p2": False}),
        ({"form": "torch"}, {"p0": False, "p1": True, "p2": True}),
    ],
)
def test_factored_and_unfactored_state(kwargs, factored):
    p0, grads = random_problem(1, "float64", [(4,), (3, 4), (2, 5)], n_steps=1)
    _, updates = run_trajectory(su.adafactor(**kwargs), p0, grads)
    state = updates.state
    for name, is_factored in factored.items():
        shape = dict(zip(["p0", "p1", "p2"], [(4,), (3, 4), (2, 5)]))[name]
        if is_factored:
            assert f"{name}.adafactor.v" not in state
            sizes = {
                state[f"{name}.adafactor.v_row"].get_value().size,
                state[f"{name}.adafactor.v_col"].get_value().size,
            }
            assert sizes == set(shape)
        else:
            assert state[f"{name}.adafactor.v"].get_value().shape == shape
            assert f"{name}.adafactor.v_row" not in state


def test_block_pieces():
    p0 = [np.array([[3.0, -4.0], [0.0, 0.0]]), np.zeros(3)]
    g = [np.array([[2.0, 2.0], [2.0, 2.0]]), np.array([0.0, 3.0, 4.0])]
    # clip: rms(g0) = 2 -> g0 / 2 at threshold 1; rms(g1) = 5/sqrt(3)
    ours, _ = run_trajectory(su.clip_by_block_rms(1.0), p0, [g])
    np.testing.assert_allclose(ours[0][0], p0[0] - g[0] / 2.0, rtol=1e-14)
    np.testing.assert_allclose(ours[0][1], -g[1] * np.sqrt(3) / 5, rtol=1e-14)
    ours, _ = run_trajectory(su.clip_by_block_rms(10.0), p0, [g])
    np.testing.assert_allclose(ours[0][1], -g[1], rtol=1e-14)
    # param scale: rms(p0) = 2.5, p1 = 0 takes min_scale
    ours, _ = run_trajectory(su.scale_by_param_block_rms(1e-2), p0, [g])
    np.testing.assert_allclose(ours[0][0], p0[0] - 2.5 * g[0], rtol=1e-14)
    np.testing.assert_allclose(ours[0][1], -1e-2 * g[1], rtol=1e-14)


def test_sm3_zero_gradient_and_covers():
    p0 = [np.ones((2, 3))]
    g0 = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    ours, updates = run_trajectory(su.sm3(learning_rate=0.1, momentum=0.0), p0, [[g0]])
    # no NaN where nu = 0; the covered rows and columns hold the slice maxima of g^2
    assert np.all(np.isfinite(ours[0][0]))
    np.testing.assert_array_equal(ours[0][0][1], 1.0)
    np.testing.assert_allclose(updates.state["p0.sm3.v0"].get_value(), [4.0, 0.0])
    np.testing.assert_allclose(updates.state["p0.sm3.v1"].get_value(), [1.0, 0.0, 4.0])


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: su.scale_by_factored_rms(decay_rate=-0.5), "decay_rate"),
        (lambda: su.scale_by_factored_rms(decay_offset=-1), "decay_offset"),
        (lambda: su.scale_by_factored_rms(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
        (lambda: su.scale_by_factored_rms(epsilon=-1e-3), "epsilon"),
        (lambda: su.scale_by_factored_rms(form="jax"), "form"),
        (lambda: su.clip_by_block_rms(0.0), "clipping_threshold"),
        (lambda: su.scale_by_param_block_rms(-1.0), "min_scale"),
        (lambda: su.scale_by_sm3(momentum=1.0), "momentum"),
        (lambda: su.scale_by_sm3(epsilon=-1.0), "epsilon"),
        (lambda: su.adafactor(form="keras"), "form"),
        (lambda: su.adafactor(momentum=1.5), "momentum"),
        (lambda: su.adafactor(weight_decay=-0.1), "weight_decay"),
        (lambda: su.adafactor(multiply_by_parameter_scale=1), "multiply_by_parameter_scale"),
        (lambda: su.sm3(momentum=-0.1), "momentum"),
    ],
)
def test_validation_names_the_argument(build, argument):
    with pytest.raises(su.InputError, match=argument):
        build()


@pytest.mark.parametrize(
    "make", [lambda: su.adafactor(min_dim_size_to_factor=2, momentum=0.9), lambda: su.adafactor(form="torch"), su.sm3]
)
def test_float32_params_stay_float32(make):
    with pytensor.config.change_flags(floatX="float64"):
        p0, grads = random_problem(3, "float32", [(), (3,), (2, 3)], n_steps=2)
        ours, updates = run_trajectory(make(), p0, grads)
    assert_float32_kept(updates, ours)


_FN = {}


def _rank_one_fn():
    if not _FN:
        p = pytensor.shared(np.zeros((3, 4)), name="p")
        g = pt.matrix("g", dtype="float64", shape=(3, 4))
        transform = su.chain(su.scale_by_factored_rms(min_dim_size_to_factor=1), su.scale_by_learning_rate(1.0))
        updates = transform([g], [p])
        _FN["fn"] = (pytensor.function([g], [], updates=updates, mode=FAST), p, updates)
    return _FN["fn"]


nonzero = st.floats(0.1, 10.0) | st.floats(-10.0, -0.1)


@settings(max_examples=25, deadline=None)
@given(a=hnp.arrays(np.float64, 3, elements=nonzero), b=hnp.arrays(np.float64, 4, elements=nonzero))
def test_factoring_is_exact_for_rank_one(a, b):
    """The paper's observation: for G^2 of rank one the factored estimate is exact, so step 1 is sign(G)."""
    fn, p, updates = _rank_one_fn()
    updates.reset()
    p.set_value(np.zeros((3, 4)))
    G = np.outer(a, b)
    fn(G)
    np.testing.assert_allclose(-p.get_value(), np.sign(G), rtol=1e-9)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_sm3_covers_bound_the_adagrad_sums(seed):
    """SM3's guarantee: min over the covering slices >= the Adagrad sum of g^2 of every entry."""
    rng = np.random.default_rng(seed)
    grads = [[rng.normal(size=(2, 3)) * rng.integers(0, 2, size=(2, 3))] for _ in range(4)]
    _, updates = run_trajectory(su.sm3(), [np.zeros((2, 3))], grads)
    v0, v1 = updates.state["p0.sm3.v0"].get_value(), updates.state["p0.sm3.v1"].get_value()
    adagrad = sum(g[0] ** 2 for g in grads)
    bound = np.minimum(v0[:, None], v1[None, :])
    assert np.all(bound >= adagrad - 1e-12)
