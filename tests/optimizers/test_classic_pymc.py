"""Live comparison with ``pymc.variational.updates``: same inputs, same numbers.

Every optimizer and helper PyMC has is run next to ours for 100 steps on the
random problem of ``test_classic_numpy`` (float64), called the same way
(positional hyper-parameters, keyword ones, factories), and the trajectories
must agree to 1e-12 relative to each parameter's size: only the order of a few
floating-point operations differs.
"""

import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

pm = pytest.importorskip("pymc")
pmu = pytest.importorskip("pymc.variational.updates")

import symupdates  # noqa: E402
from tests.conftest import DEFAULT  # noqa: E402
from tests.optimizers.test_classic_numpy import N_STEPS, Problem, max_relative_error, run_trajectory  # noqa: E402

RTOL = 1e-12

# (name, positional hyper-parameters, keyword hyper-parameters), in PyMC's signatures.
CASES = [
    ("sgd", (), {}),
    ("sgd", (0.05,), {}),
    ("momentum", (0.02,), {"momentum": 0.9}),
    ("momentum", (0.05, 0.5), {}),
    ("nesterov_momentum", (0.02,), {"momentum": 0.9}),
    ("nesterov_momentum", (0.05, 0.5), {}),
    ("adagrad", (0.03,), {}),
    ("adagrad", (0.05, 1e-3), {}),
    ("adagrad_window", (), {}),
    ("adagrad_window", (0.05, 1e-2, 3), {}),
    ("rmsprop", (0.003,), {}),
    ("rmsprop", (0.003, 0.5), {"epsilon": 1e-4}),
    ("adadelta", (), {}),
    ("adadelta", (0.5, 0.9, 1e-4), {}),
    ("adam", (0.004,), {}),
    ("adam", (0.005, 0.5, 0.9, 1e-6), {}),
    ("adamax", (0.01,), {}),
    ("adamax", (0.005,), {"beta1": 0.8, "beta2": 0.99}),
]


def _id(case):
    name, args, kwargs = case
    return "-".join([name, *map(str, args), *(f"{k}={v}" for k, v in kwargs.items())])


def _trajectories(problem, make_updates_pymc, make_updates_ours, kind):
    runs = []
    for make in (make_updates_pymc, make_updates_ours):
        params = problem.shared("float64")
        runs.append(run_trajectory(make(problem.loss_or_grads(params, kind), params), params))
    return runs


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_pymc(case):
    name, args, kwargs = case
    index = CASES.index(case)
    problem = Problem(seed=index)
    kind = "loss" if index % 2 == 0 else "grads"
    theirs, ours = _trajectories(
        problem,
        lambda loss, params: getattr(pmu, name)(loss, params, *args, **kwargs),
        lambda loss, params: getattr(symupdates, name)(loss, params, *args, **kwargs),
        kind,
    )
    assert max_relative_error(ours, theirs) < RTOL
    assert max_relative_error(theirs[-1:], theirs[:1]) > 0.01  # the comparison is not vacuous


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad_window", "adam"])
def test_factories_match_pymc(name):
    """Called with hyper-parameters only, both return partials that build the same updates."""
    theirs_factory = getattr(pmu, name)(learning_rate=0.01)
    ours_factory = getattr(symupdates, name)(learning_rate=0.01)
    assert isinstance(theirs_factory, functools.partial) and isinstance(ours_factory, functools.partial)
    assert ours_factory.keywords == {k: v for k, v in theirs_factory.keywords.items() if k == "learning_rate"}
    theirs, ours = _trajectories(Problem(seed=7), theirs_factory, ours_factory, "grads")
    assert max_relative_error(ours, theirs) < RTOL
    assert max_relative_error(theirs[-1:], theirs[:1]) > 0.05


@pytest.mark.parametrize(
    "name",
    ["sgd", "momentum", "nesterov_momentum", "adagrad", "adagrad_window", "rmsprop", "adadelta", "adam", "adamax"],
)
def test_missing_argument_raises_like_pymc(name):
    """With exactly one of loss_or_grads and params, both raise ValueError (directly and via a factory)."""
    p = pytensor.shared(np.ones(2), name="p")
    loss = (p**2).sum()
    for module in (pmu, symupdates):
        fn = getattr(module, name)
        with pytest.raises(ValueError, match="Please provide both"):
            fn(loss)
        with pytest.raises(ValueError, match="Please provide both"):
            fn(None, [p])
        with pytest.raises(ValueError, match="Please provide both"):
            fn(learning_rate=0.1)(loss)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("subset", [False, True])
def test_apply_momentum_matches_pymc(nesterov, subset):
    """apply_(nesterov_)momentum on an sgd update dict; optionally on some parameters only."""
    name = "apply_nesterov_momentum" if nesterov else "apply_momentum"
    problem = Problem(seed=11)

    def make(module):
        def build(loss, params):
            chosen = params[1:3] if subset else None
            return getattr(module, name)(module.sgd(loss, params, 0.02), chosen, 0.8)

        return build

    theirs, ours = _trajectories(problem, make(pmu), make(symupdates), "loss")
    assert max_relative_error(ours, theirs) < RTOL
    assert max_relative_error(theirs[-1:], theirs[:1]) > 0.05


def _evaluate(*outputs):
    return pytensor.function([], list(outputs), mode=DEFAULT)()


@pytest.mark.parametrize(
    "shape, norm_axes", [((4, 3), None), ((2, 3, 4), None), ((2, 3, 2, 2), None), ((3, 5), (1,)), ((2, 3, 4), (0, 2))]
)
@pytest.mark.parametrize("max_norm", [0.5, 2.0, 100.0])
def test_norm_constraint_matches_pymc(rng, shape, norm_axes, max_norm):
    x = pt.constant(rng.normal(size=shape))
    theirs, ours = _evaluate(
        pmu.norm_constraint(x, max_norm, norm_axes), symupdates.norm_constraint(x, max_norm, norm_axes)
    )
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    if max_norm == 0.5:
        assert not np.allclose(ours, x.data)  # some slices were rescaled


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
@pytest.mark.parametrize("epsilon", [1e-7, 1e-2])
def test_total_norm_constraint_matches_pymc(rng, max_norm, epsilon):
    xs = [pt.constant(rng.normal(size=s)) for s in [(), (1,), (3, 1), (2, 3)]]
    theirs, their_norm = pmu.total_norm_constraint(xs, max_norm, epsilon, return_norm=True)
    ours, our_norm = symupdates.total_norm_constraint(xs, max_norm, epsilon, return_norm=True)
    values = _evaluate(*theirs, their_norm, *ours, our_norm)
    for a, b in zip(values[: len(xs) + 1], values[len(xs) + 1 :]):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=0)
    without_norm = symupdates.total_norm_constraint(xs, max_norm, epsilon)
    assert isinstance(without_norm, list) and len(without_norm) == len(xs)


def test_pymc_adam_fails_on_float32_params_where_ours_works():
    """Under floatX=float64, PyMC's adam upcasts float32 parameters (its step counter is floatX)."""
    with pytensor.config.change_flags(floatX="float64"):
        problem = Problem(seed=3)
        params = problem.shared("float32")
        loss = problem.loss_or_grads(params, "loss")
        with pytest.raises(TypeError):
            pytensor.function([], [], updates=pmu.adam(loss, params, 0.004), mode=DEFAULT)
        ours = symupdates.adam(loss, params, 0.004)
        assert all(new.dtype == "float32" for p, new in ours.items() if p in params)
        trajectory = run_trajectory(ours, params)
    theirs64 = problem.shared("float64")
    reference = run_trajectory(pmu.adam(problem.loss_or_grads(theirs64, "loss"), theirs64, 0.004), theirs64)
    assert all(x.dtype == "float32" for x in trajectory[-1])
    assert max_relative_error(trajectory, reference) < 1e-4
    assert N_STEPS == len(trajectory) - 1
