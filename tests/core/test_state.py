"""Optimizer state: naming, ordering, static types, reset, export/import, save/load."""

import functools
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors

import symupdates
from symupdates.core.checks import InputError
from tests.conftest import FAST, run_steps

NAMES = symupdates.available()
ROOT = Path(__file__).resolve().parents[2]


def named(name):
    return symupdates.get(name).func


def make_params(seed=0, names=("W", "b")):
    rng = np.random.default_rng(seed)
    shapes = [(2, 3), (3,)]
    return [pytensor.shared(rng.normal(size=s), name=n) for s, n in zip(shapes, names)]


def loss_of(params):
    W, b = params
    return ((pt.tanh(W).sum(axis=0) + b - 0.3) ** 2).sum() + 0.1 * (W**2).sum()


def state_vars(updates, params):
    return [v for v in updates if not any(v is p for p in params)]


def merged(*update_sets):
    out = OrderedDict()
    for u in update_sets:
        out.update(u)
    return out


# -- naming and order -------------------------------------------------------------
def test_adam_state_names():
    W, b = make_params()
    updates = symupdates.adam(loss_of([W, b]), [W, b])
    assert [v.name for v in updates] == ["W", "b", "W.adam.m", "W.adam.v", "b.adam.m", "b.adam.v", "adam.step"]
    # Updates.state is in creation order (the step counter is created while building W's step)
    assert sorted(updates.state) == sorted(["W.adam.m", "W.adam.v", "b.adam.m", "b.adam.v", "adam.step"])


def test_state_params_maps_each_state_variable_to_its_parameter():
    w = pytensor.shared(np.zeros((2, 3)), name="w")
    b = pytensor.shared(np.zeros(3), name="b")
    loss = (w**2).sum() + (b**2).sum()
    groups = symupdates.merge(symupdates.adam(loss, [w], name="a"), symupdates.momentum(loss, [b], name="s"))
    owners = {var.name: (param.name if param is not None else None) for var, param in groups.state_params.items()}
    assert owners == {"a.w.adam.m": "w", "a.w.adam.v": "w", "a.adam.step": None, "s.b.momentum.velocity": "b"}
    assert list(groups.state_params) == list(groups.state.values())


@pytest.mark.parametrize("name", NAMES)
def test_state_names_start_with_param_or_optimizer(name):
    params = make_params()
    updates = named(name)(loss_of(params), params)
    for v in state_vars(updates, params):
        assert v.name is not None
        prefix = v.name.split(".")[0]
        assert prefix in ("W", "b", name), v.name
        assert len(v.name.split(".")) >= 2, v.name
    names = [v.name for v in updates]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", NAMES)
def test_unnamed_params_get_index_names(name):
    params = make_params(names=(None, None))
    updates = named(name)(loss_of(params), params)
    prefixes = set()
    for v in state_vars(updates, params):
        assert v.name is not None
        if v.name.split(".")[0] != name:
            prefixes.add(v.name.split(".")[0])
    assert prefixes <= {"param0", "param1"}
    if prefixes:
        assert "param0" in prefixes


@pytest.mark.parametrize("name", NAMES)
def test_duplicate_names_get_deterministic_suffix(name):
    def build():
        params = [pytensor.shared(np.ones(3), name="w") for _ in range(3)]
        updates = named(name)(sum((p**2).sum() for p in params), params)
        return [v.name for v in updates]

    first, second = build(), build()
    assert first == second
    assert first[:3] == ["w", "w", "w"]
    assert len(set(first[3:])) == len(first) - 3
    state = [n for n in first[3:] if n.split(".")[0] != name]
    if state:
        assert {n.split(".")[0] for n in state} == {"w", "w#1", "w#2"}


def test_unnamed_and_duplicate_names_exact():
    a = pytensor.shared(np.ones(2), name="w")
    b = pytensor.shared(np.ones(2))
    c = pytensor.shared(np.ones(2), name="w")
    updates = symupdates.adagrad(sum((p**2).sum() for p in (a, b, c)), [a, b, c])
    assert list(updates.state) == ["w.adagrad.s", "param1.adagrad.s", "w#1.adagrad.s"]


@pytest.mark.parametrize("name", NAMES)
def test_every_state_variable_is_updated_and_order_is_deterministic(name):
    params = make_params()
    updates = named(name)(loss_of(params), params)
    keys = list(updates)
    assert keys[: len(params)] == params
    # every state variable the optimizer created is a key of the returned dict
    for var in updates.state.values():
        assert any(var is k for k in keys), var.name
    # and no shared variable read by the updates is left without an update
    for value in updates.values():
        for node in ancestors([value]):
            if isinstance(node, SharedVariable):
                assert any(node is k for k in keys), node.name
    # the step counter, when there is one, comes last
    steps = [i for i, k in enumerate(keys) if k.name and k.name.endswith(".step")]
    if steps:
        assert steps == [len(keys) - 1]
        assert keys[-1].dtype == "int64" and keys[-1].ndim == 0
    again = make_params()
    assert [v.name for v in named(name)(loss_of(again), again)] == [v.name for v in keys]


# -- static shapes -----------------------------------------------------------------
SHAPES = [(), (1,), (3, 1), (1, 1, 5, 5)]


@pytest.mark.parametrize("name", NAMES)
def test_state_keeps_full_static_type(name):
    rng = np.random.default_rng(1)
    params = [pytensor.shared(rng.normal(size=s), name=f"p{k}", shape=s) for k, s in enumerate(SHAPES)]
    updates = named(name)(sum((p**2).sum() for p in params), params)
    by_name = {p.name: p for p in params}
    checked = 0
    for var, new in updates.items():
        assert new.type == var.type, var.name
        owner = by_name.get(var.name.split(".")[0])
        if owner is None or var is owner:
            continue
        assert var.dtype == owner.dtype
        assert None not in var.type.shape, var.name
        if var.ndim >= owner.ndim:  # element-wise state (factored/per-layer state is smaller)
            assert var.type.shape[: owner.ndim] == owner.type.shape, var.name
        checked += 1
    if len(updates.state) > 1:
        assert checked > 0
    run_steps(updates, 2)
    for p, s in zip(params, SHAPES):
        assert p.get_value().shape == s


# -- Updates.state, reset, state_dict ------------------------------------------------------
def built(name, seed=0):
    params = make_params(seed)
    return params, named(name)(loss_of(params), params)


@pytest.mark.parametrize("name", NAMES)
def test_reset_and_state_dict_round_trip(name):
    params, updates = built(name)
    fresh = updates.state_dict()
    fn = run_steps(updates, 3)
    after3 = updates.state_dict()
    params3 = [p.get_value() for p in params]
    assert list(after3) == list(updates.state)
    if fresh:
        assert any(not np.array_equal(fresh[k], after3[k]) for k in fresh)
    # state_dict returns copies
    for k, v in after3.items():
        assert v is not updates.state[k].get_value(borrow=True)

    updates.reset()
    for k, v in updates.state_dict().items():
        np.testing.assert_array_equal(v, fresh[k])
    for p, v in zip(params, params3):
        np.testing.assert_array_equal(p.get_value(), v)  # reset keeps parameters

    updates.load_state_dict(after3)
    for k, v in updates.state_dict().items():
        np.testing.assert_array_equal(v, after3[k])
        assert v.dtype == after3[k].dtype
    fn()  # the compiled function sees the loaded state, nothing recompiled
    assert all(np.all(np.isfinite(p.get_value())) for p in params)


def _corrupt(state, how):
    state = dict(state)
    first = next(k for k in state if np.ndim(state[k]) > 0)
    if how == "shape":
        state[first] = np.zeros(np.shape(state[first]) + (1,), dtype=state[first].dtype)
        return state, first
    if how == "dtype":
        state[first] = state[first].astype("float32")
        return state, first
    if how == "missing":
        del state[first]
        return state, first
    state["nope.adam.m"] = np.zeros(3)
    return state, "nope.adam.m"


@pytest.mark.parametrize("how", ["shape", "dtype", "missing", "extra"])
@pytest.mark.parametrize("name", ["adam", "adagrad_window", "rmsprop"])
def test_failed_load_writes_nothing(name, how):
    params, updates = built(name)
    run_steps(updates, 2)
    good = updates.state_dict()
    target = {k: v + 1 for k, v in good.items()}  # what a (wrong) partial write would leave
    bad, culprit = _corrupt(target, how)
    # put the bad entry last so that a write-as-you-go implementation would have written the others
    bad = dict(sorted(bad.items(), key=lambda kv: kv[0] == culprit))
    with pytest.raises(InputError) as err:
        updates.load_state_dict(bad)
    assert culprit in str(err.value)
    for k, v in updates.state_dict().items():
        np.testing.assert_array_equal(v, good[k])


def test_load_state_dict_not_strict_keeps_missing():
    params, updates = built("adam")
    run_steps(updates, 2)
    good = updates.state_dict()
    partial = {"W.adam.m": np.full((2, 3), 7.0)}
    with pytest.raises(InputError, match="strict=False"):
        updates.load_state_dict(partial)
    updates.load_state_dict(partial, strict=False)
    now = updates.state_dict()
    np.testing.assert_array_equal(now["W.adam.m"], 7.0)
    for k in good:
        if k != "W.adam.m":
            np.testing.assert_array_equal(now[k], good[k])
    with pytest.raises(InputError, match="unknown"):
        updates.load_state_dict({"zz": np.zeros(1)}, strict=False)


# -- save / load in a new process -----------------------------------------------------------------
SCRIPT = textwrap.dedent(
    """
    import sys
    from collections import OrderedDict
    import numpy as np, pytensor, pytensor.tensor as pt
    sys.path.insert(0, {root!r})
    import symupdates

    names, mode, src, dst = {names!r}, {mode!r}, {src!r}, {dst!r}
    start = np.load(src + "/params.npz")
    merged, params = OrderedDict(), {{}}
    for name in names:
        W = pytensor.shared(start[name + "/W"], name="W")
        b = pytensor.shared(start[name + "/b"], name="b")
        loss = ((pt.tanh(W).sum(axis=0) + b - 0.3) ** 2).sum() + 0.1 * (W ** 2).sum()
        updates = symupdates.get(name)(loss, [W, b])
        updates.load(src + "/" + name + ".npz")
        merged.update(updates)
        params[name] = (W, b)
    fn = pytensor.function([], [], updates=merged, mode=mode)
    for _ in range(50):
        fn()
    np.savez(dst, **{{n + "/" + p.name: p.get_value() for n, ps in params.items() for p in ps}})
    """
)


#: A representative subset (the Python-linker steps of all optimizers take too long):
#: moments + step counter, a windowed state with an extra axis, momentum, two accumulators.
ROUND_TRIP = [n for n in ("adam", "adagrad_window", "nesterov_momentum", "adadelta") if n in NAMES]


def test_save_load_in_new_process_is_bit_identical(tmp_path):
    # the loss in SCRIPT must be loss_of
    full, half, sets_full, sets_half = {}, {}, [], []
    for name in ROUND_TRIP:
        full[name] = make_params(5)
        sets_full.append(named(name)(loss_of(full[name]), full[name]))
        half[name] = make_params(5)
        sets_half.append(named(name)(loss_of(half[name]), half[name]))
    fn_full = pytensor.function([], [], updates=merged(*sets_full), mode=FAST)
    fn_half = pytensor.function([], [], updates=merged(*sets_half), mode=FAST)
    for _ in range(100):
        fn_full()
    for _ in range(50):
        fn_half()
    for name, updates in zip(ROUND_TRIP, sets_half):
        updates.save(tmp_path / f"{name}.npz")
    np.savez(tmp_path / "params.npz", **{f"{n}/{p.name}": p.get_value() for n, ps in half.items() for p in ps})

    script = SCRIPT.format(
        root=str(ROOT), names=ROUND_TRIP, mode=FAST, src=str(tmp_path), dst=str(tmp_path / "out.npz")
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "out.npz") as out:
        for name in ROUND_TRIP:
            for p in full[name]:
                resumed = out[f"{name}/{p.name}"]
                assert resumed.dtype == p.dtype
                np.testing.assert_array_equal(resumed, p.get_value(), err_msg=name)
    # the 50 extra steps did move the parameters: the comparison is not trivially true
    for name in ROUND_TRIP:
        assert not np.array_equal(half[name][0].get_value(), full[name][0].get_value()), name


def test_save_load_same_process(tmp_path):
    params, updates = built("adam")
    run_steps(updates, 3)
    updates.save(tmp_path / "s.npz")
    saved = updates.state_dict()
    updates.reset()
    updates.load(tmp_path / "s.npz")
    for k, v in updates.state_dict().items():
        np.testing.assert_array_equal(v, saved[k])
    assert updates.state["adam.step"].get_value() == 3


# -- the learning rate each step used ------------------------------------------------
def _quadratic():
    w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    return w, (w**2).sum()


def test_learning_rate_of_a_schedule_is_recorded_per_step():
    w, loss = _quadratic()
    lr = symupdates.schedules.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
    updates = symupdates.sgd(loss, [w], learning_rate=lr)
    assert np.isnan(updates.learning_rate.get_value())  # no step yet
    fn = pytensor.function([], [], updates=updates)
    seen = []
    for _ in range(4):
        fn()
        seen.append(updates.learning_rate.get_value().item())
    assert seen == [0.1, 0.05, 0.025, 0.0125]
    assert updates.learning_rate.name == "sgd.learning_rate" and updates.learning_rate.dtype == "float64"
    updates.reset()
    assert np.isnan(updates.learning_rate.get_value())


def test_learning_rate_of_a_shared_variable_follows_set_value():
    w, loss = _quadratic()
    lr = pytensor.shared(np.float32(0.5), name="lr")
    updates = symupdates.adam(loss, [w], learning_rate=lr)
    fn = pytensor.function([], [], updates=updates)
    fn()
    assert updates.learning_rate.get_value() == 0.5
    lr.set_value(np.float32(0.25))
    fn()
    assert updates.learning_rate.get_value() == 0.25


@pytest.mark.parametrize(
    "make, rate",
    [
        (lambda loss, w: symupdates.adam(loss, w, learning_rate=0.1), 0.1),
        (lambda loss, w: symupdates.adam(learning_rate=0.1)(loss, w), 0.1),
        (
            lambda loss, w: symupdates.adam(
                learning_rate=0.1, skip_nonfinite=True, multi_precision=True, lr_mult={"w": 3}
            )(loss, w),
            0.1,
        ),
        (lambda loss, w: symupdates.adadelta()(loss, w), 1.0),  # its default rate
        (
            lambda loss, w: symupdates.chain(symupdates.scale_by_adam(), symupdates.scale_by_learning_rate(0.5))(
                loss, w
            ),
            0.5,
        ),
    ],
    ids=["direct", "factory", "guarded", "default", "chain"],
)
def test_constant_learning_rate_reads_like_a_recorded_one(make, rate):
    """A constant rate (before lr_mult) needs no state, yet reads as a recorded one does."""
    w, loss = _quadratic()
    updates = make(loss, [w])
    assert not any(name.endswith("learning_rate") for name in updates.state)
    value = updates.learning_rate.get_value()
    assert value.dtype == np.float64 and value.shape == () and value.item() == rate
    pytensor.function([], [], updates=updates, mode=FAST)()
    assert updates.learning_rate.get_value().item() == rate


def test_no_learning_rate_is_an_error_that_is_not_a_type_error():
    w, loss = _quadratic()
    updates = symupdates.chain(symupdates.scale_by_adam())(loss, [w])
    with pytest.raises(symupdates.InputError, match="no learning rates") as err:
        _ = updates.learning_rate
    assert not isinstance(err.value, TypeError)  # a retry-on-TypeError caller must not swallow it


def test_factory_keeps_its_latest_updates():
    factory = symupdates.rmsprop(learning_rate=symupdates.schedules.constant(0.01))
    assert factory.latest is None
    assert isinstance(factory, functools.partial)
    w, loss = _quadratic()
    first = factory(loss, [w])
    assert factory.latest is first
    second = factory(loss, [w])
    assert factory.latest is second and second is not first
    assert second.learning_rate is not first.learning_rate  # fresh state every call


def test_state_found_by_kind_and_owner():
    params = make_params()
    opt = symupdates.ema_params(symupdates.lookahead(symupdates.adam(learning_rate=0.1, skip_nonfinite=True)))
    updates = opt(loss_of(params), params)
    kinds = {kind: [v.name for v in updates.find(kind)] for kind in ("step", "skipped", "average", "moment")}
    assert kinds["step"] == ["adam.step"]
    assert kinds["skipped"] == ["adam.skipped"]
    assert kinds["moment"] == ["W.adam.m", "W.adam.v", "b.adam.m", "b.adam.v"]
    assert sorted(kinds["average"]) == ["W.ema", "W.lookahead", "b.ema", "b.lookahead"]
    slow = updates.companions("average", "lookahead")
    assert list(slow) == params and [v.name for v in slow.values()] == ["W.lookahead", "b.lookahead"]
    assert [v.name for v in updates.companions("average", "ema").values()] == ["W.ema", "b.ema"]
    assert updates.companions("master") == OrderedDict()
    with pytest.raises(InputError, match="kind"):
        updates.find("moments")


def test_a_parameter_named_like_a_state_suffix_is_not_taken_for_state():
    # state names end in ".skipped" or ".learning_rate" for people; code finds state by kind
    w = pytensor.shared(np.ones(2), name="w.skipped")
    updates = symupdates.sgd((w**2).sum(), [w], learning_rate=lambda k: 0.1 * 0.5**k)
    assert updates.find("skipped") == []
    assert np.isnan(updates.learning_rate.get_value())  # the recorded rate, NaN before the first step
    step = pytensor.function([], [], updates=updates, mode=FAST)
    step()
    step()
    assert float(updates.learning_rate.get_value()) == pytest.approx(0.05)
