"""Parameter groups: partition() against torch.optim param_groups and optax.partition, and its contract.

The problem: per-element quadratics with noisy gradients, ``g_k = c (p - a) + n_k``,
100 steps, on four tensors split into two groups. The trajectories are compared
by the displacement ``p_t - p_0`` relative to the largest displacement of that
tensor (as in test_adam_oracles.py): 1e-6 in float64, 1e-4 in float32.
"""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import symupdates as su  # noqa: E402
from symupdates.core.checks import InputError  # noqa: E402
from tests.conftest import DEFAULT, FAST  # noqa: E402

N_STEPS = 100
SHAPES = {"W1": (3, 2), "b1": (2,), "W2": (2, 4), "b2": (4,)}
RTOL = {"float64": 1e-6, "float32": 1e-4}


def make_problem(seed, dtype):
    rng = np.random.default_rng(seed)
    cast = lambda a: np.asarray(a, dtype=dtype)  # noqa: E731
    return {
        name: {
            "init": cast(rng.normal(size=s)),
            "target": cast(rng.normal(size=s)),
            "curvature": cast(rng.uniform(0.2, 3.0, size=s)),
            "noise": cast(rng.normal(scale=0.7, size=(N_STEPS,) + s)),
        }
        for name, s in SHAPES.items()
    }


def run_ours(optimizer, prob, mode=FAST):
    params = {n: pytensor.shared(v["init"].copy(), name=n) for n, v in prob.items()}
    noise = {n: pt.tensor(f"noise_{n}", dtype=v["init"].dtype, shape=v["init"].shape) for n, v in prob.items()}
    loss = sum(
        pt.sum(v["curvature"] * (params[n] - v["target"]) ** 2 / 2 + noise[n] * params[n]) for n, v in prob.items()
    )
    updates = optimizer(loss, list(params.values()))
    step = pytensor.function(list(noise.values()), [], updates=updates, mode=mode)
    trajectory = []
    for k in range(N_STEPS):
        step(*(v["noise"][k] for v in prob.values()))
        trajectory.append({n: p.get_value() for n, p in params.items()})
    return trajectory, updates


def gradient(prob, name, value, k):
    v = prob[name]
    return v["curvature"] * (value - v["target"]) + v["noise"][k]


def run_torch(make_optimizer, prob):
    dtype = {np.dtype("float64"): torch.float64, np.dtype("float32"): torch.float32}[prob["W1"]["init"].dtype]
    params = {n: torch.tensor(v["init"].copy(), dtype=dtype, requires_grad=True) for n, v in prob.items()}
    opt = make_optimizer(params)
    trajectory = []
    for k in range(N_STEPS):
        for n, p in params.items():
            p.grad = torch.tensor(gradient(prob, n, p.detach().numpy(), k), dtype=dtype)
        opt.step()
        trajectory.append({n: p.detach().numpy().copy() for n, p in params.items()})
    return trajectory


def run_optax(transform, labels, prob):
    params = {n: jax.numpy.asarray(v["init"]) for n, v in prob.items()}
    opt = optax.partition(transform, labels)
    state = opt.init(params)
    trajectory = []
    for k in range(N_STEPS):
        grads = {n: jax.numpy.asarray(gradient(prob, n, np.asarray(p), k)) for n, p in params.items()}
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append({n: np.asarray(p) for n, p in params.items()})
    return trajectory


def displacement_error(ours, theirs, prob) -> float:
    """The largest difference of displacements, relative to each tensor's largest displacement."""
    worst = 0.0
    for name, v in prob.items():
        p0 = v["init"].astype("float64")
        scale = max(np.max(np.abs(step[name].astype("float64") - p0)) for step in theirs)
        diff = max(np.max(np.abs(a[name].astype("float64") - b[name].astype("float64"))) for a, b in zip(ours, theirs))
        worst = max(worst, diff / scale)
    return worst


TORCH_CASES = {
    "sgd": (
        lambda: su.partition(
            {
                "weights": (["W1", "W2"], su.sgd(learning_rate=0.05, weight_decay=0.1)),
                "biases": ("b*", su.sgd(learning_rate=0.02)),
            }
        ),
        lambda p: torch.optim.SGD(
            [{"params": [p["W1"], p["W2"]], "lr": 0.05, "weight_decay": 0.1}, {"params": [p["b1"], p["b2"]]}], lr=0.02
        ),
    ),
    "adam": (
        lambda: su.partition(
            {
                "weights": (
                    lambda p: p.name.startswith("W"),
                    su.adam(learning_rate=0.03, weight_decay=0.01, form="torch"),
                ),
                "biases": (lambda p: p.name.startswith("b"), su.adam(learning_rate=0.01, beta1=0.8, form="torch")),
            }
        ),
        lambda p: torch.optim.Adam(
            [
                {"params": [p["W1"], p["W2"]], "lr": 0.03, "weight_decay": 0.01},
                {"params": [p["b1"], p["b2"]], "lr": 0.01, "betas": (0.8, 0.999)},
            ]
        ),
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch_param_groups(case, dtype):
    ours_factory, torch_factory = TORCH_CASES[case]
    prob = make_problem(1, dtype)
    ours, updates = run_ours(ours_factory(), prob)
    theirs = run_torch(torch_factory, prob)
    assert all(ours[-1][n].dtype == np.dtype(dtype) for n in SHAPES)
    error = displacement_error(ours, theirs, prob)
    print(f"partition {case} {dtype} vs torch param groups: {error:.2e}")
    assert error < RTOL[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_optax_partition(dtype):
    prob = make_problem(2, dtype)
    labels = {"W1": "weights", "W2": "weights", "b1": "biases", "b2": "biases"}
    theirs = run_optax(
        {"weights": optax.adamw(0.02, weight_decay=0.05), "biases": optax.sgd(0.03, momentum=0.9)}, labels, prob
    )
    ours, _ = run_ours(
        su.partition(
            {
                "weights": (["W1", "W2"], su.adamw(learning_rate=0.02, weight_decay=0.05)),
                "biases": (["b1", "b2"], su.chain(su.trace(0.9), su.scale_by_learning_rate(0.03))),
            }
        ),
        prob,
    )
    error = displacement_error(ours, theirs, prob)
    print(f"partition {dtype} vs optax.partition: {error:.2e}")
    assert error < RTOL[dtype]


def test_global_clip_spans_the_groups_and_equals_one_optimizer():
    prob = make_problem(3, "float64")
    grouped, _ = run_ours(
        su.partition(
            {"all_w": ("W*", su.adam(learning_rate=0.05)), "all_b": ("b*", su.adam(learning_rate=0.05))},
            clip_global_norm=0.5,
        ),
        prob,
    )
    single, _ = run_ours(su.adam(learning_rate=0.05, clip_global_norm=0.5), prob)
    error = displacement_error(grouped, single, prob)
    assert error < 1e-12


def test_frozen_group_gets_no_update_and_no_state():
    prob = make_problem(4, "float64")
    trajectory, updates = run_ours(
        su.partition({"frozen": (["W1", "b1"], su.FROZEN), "rest": (["W2", "b2"], su.adam(learning_rate=0.1))}), prob
    )
    assert [p.name for p in updates.params] == ["W2", "b2"]
    assert [name for name in updates.state if "1" in name.split(".")[1]] == []
    np.testing.assert_array_equal(trajectory[-1]["W1"], prob["W1"]["init"])
    assert np.max(np.abs(trajectory[-1]["W2"] - prob["W2"]["init"])) > 0.1


def test_state_names_one_counter_per_group_and_schedules_per_group():
    prob = make_problem(5, "float64")
    decay = su.schedules.exponential_decay(0.1, 0.5, 10)
    _, updates = run_ours(
        su.partition({"body": ("W*", su.adam(learning_rate=decay)), "bias": ("b*", su.sgd(learning_rate=0.01))}), prob
    )
    assert sorted(updates.state) == [
        "body.W1.adam.m",
        "body.W1.adam.v",
        "body.W2.adam.m",
        "body.W2.adam.v",
        "body.adam.learning_rate",
        "body.adam.step",
    ]  # the sgd group's constant rate needs no state
    assert [int(v.get_value()) for v in updates.find("step")] == [N_STEPS]
    assert float(updates.companions("moment", "adam")[updates.params[0]].get_value().sum()) != 0.0
    np.testing.assert_allclose(float(updates.state["body.adam.learning_rate"].get_value()), 0.1 * 0.5 ** (99 / 10))


def test_save_load_round_trip_bit_for_bit(tmp_path):
    def make():
        return su.partition({"w": ("W*", su.adam(learning_rate=0.05)), "b": ("b*", su.rmsprop(learning_rate=0.01))})

    prob = make_problem(6, "float32")
    _, updates = run_ours(make(), prob)
    path = tmp_path / "groups.npz"
    updates.save(path)
    saved = updates.state_dict()
    updates.reset()
    assert not np.array_equal(updates.state["w.W1.adam.m"].get_value(), saved["w.W1.adam.m"])
    updates.load(path)
    assert {k: v.tobytes() for k, v in updates.state_dict().items()} == {k: v.tobytes() for k, v in saved.items()}


def test_loading_other_groups_names_missing_and_extra_entries():
    prob = make_problem(7, "float64")
    _, two_groups = run_ours(su.partition({"w": ("W*", su.adam()), "b": ("b*", su.adam())}), prob)
    _, other = run_ours(su.partition({"w": ("W*", su.adam()), "bias": ("b*", su.adam())}), prob)
    with pytest.raises(InputError, match=r"unknown state names \['b\.adam\.step'"):
        other.load_state_dict(two_groups.state_dict())
    state = {k: v for k, v in two_groups.state_dict().items() if not k.startswith("b.")}
    with pytest.raises(InputError, match=r"missing state names \['b\.adam\.step'"):
        two_groups.load_state_dict(state)


def params_and_loss():
    W = pytensor.shared(np.ones((2, 2)), name="W")
    b = pytensor.shared(np.ones(2), name="b")
    return [W, b], ((W @ b) ** 2).sum()


@pytest.mark.parametrize(
    "groups, message",
    [
        ({"w": (["W"], su.adam())}, r"the parameters \['b'\] are in no group.*FROZEN"),
        (
            {"a": ("*", su.adam()), "b": (["b"], su.sgd(learning_rate=0.1))},
            r"'b' is selected by the groups \['a', 'b'\]",
        ),
        ({"w": ("W", su.adam()), "b": ("b", su.adam()), "none": ("x*", su.adam())}, r"the groups \['none'\] select no"),
    ],
)
def test_assignment_errors_name_the_parameters_and_groups(groups, message):
    params, loss = params_and_loss()
    with pytest.raises(InputError, match=message):
        su.partition(groups)(loss, params)


@pytest.mark.parametrize(
    "groups, message",
    [
        ({}, "non-empty dict"),
        ({"w": su.adam()}, r"group 'w' must be a pair"),
        ({"w": (3, su.adam())}, r"group 'w': the selector"),
        ({"w": ("W", "adam")}, "expected a symupdates optimizer"),
        ({"w": ("W", su.adam(name="enc"))}, "drop `name`"),
    ],
)
def test_bad_groups_fail_when_built(groups, message):
    with pytest.raises(InputError, match=message):
        su.partition(groups)


def test_two_update_sets_on_one_variable_or_one_name_are_refused_naming_both():
    params, loss = params_and_loss()
    with pytest.raises(InputError, match=r"'W' is updated by update set 0 \(state W\.adam\.m.*and by update set 1"):
        su.merge(su.adam(loss, params[:1]), su.sgd(loss, params[:1], learning_rate=0.1))
    with pytest.raises(InputError, match=r"state variable named 'adam\.step'.*name="):
        su.merge(su.adam(loss, params[:1]), su.adam(loss, params[1:]))
    merged = su.merge(su.adam(loss, params[:1], name="enc"), su.adam(loss, params[1:], name="dec"))
    assert list(merged.state) == [
        "enc.W.adam.m",
        "enc.W.adam.v",
        "enc.adam.step",
        "dec.b.adam.m",
        "dec.b.adam.v",
        "dec.adam.step",
    ]
    assert [p.name for p in merged.params] == ["W", "b"]
    assert list(merged.companions("moment", "adam")) == params


@pytest.mark.parametrize("mode", [DEFAULT, "NUMBA", "JAX"])
def test_same_numbers_on_every_backend(mode):
    pytest.importorskip("numba" if mode == "NUMBA" else "jax" if mode == "JAX" else "numpy")

    def make():
        return su.partition(
            {"w": ("W*", su.adamw(learning_rate=0.05, weight_decay=0.1)), "b": ("b*", su.momentum(learning_rate=0.02))},
            clip_global_norm=2.0,
        )

    prob = make_problem(8, "float64")
    reference, _ = run_ours(make(), prob)
    other, _ = run_ours(make(), prob, mode=mode)
    error = displacement_error(other, reference, prob)
    assert error < 1e-10
