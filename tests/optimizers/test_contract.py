"""The PyMC/Lasagne calling contract of every registered optimizer.

Optimizers are discovered with :func:`symupdates.available`, so optimizers
added later are covered without editing this file; each runs with the
defaults of its own signature.
"""

import functools
import inspect
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates
from symupdates.core.checks import InputError
from tests.conftest import FAST, run_steps

NAMES = symupdates.available()
P = inspect.Parameter


def named(name):
    """The registered optimizer function (not a factory)."""
    return symupdates.get(name).func


def positional_hyper(name):
    """Names of the hyper-parameters that may be given positionally, in order."""
    params = list(inspect.signature(named(name)).parameters.values())[2:]
    return [p for p in params if p.kind is P.POSITIONAL_OR_KEYWORD]


def perturbed(value):
    """A different valid value of a hyper-parameter (halving keeps rates and decays in range)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value + 1
    return value * 0.5


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    W = pytensor.shared(rng.normal(size=(2, 3)), name="W")
    b = pytensor.shared(rng.normal(size=3), name="b")
    return [W, b]


def loss_of(params):
    W, b = params
    return ((pt.tanh(W).sum(axis=0) + b - 0.3) ** 2).sum() + (W**2).sum()


def values(params):
    return [p.get_value() for p in params]


def run(*update_sets, steps=3):
    """Run several independent update sets in ONE compiled function (compiling dominates)."""
    merged = OrderedDict()
    for updates in update_sets:
        merged.update(updates)
    run_steps(merged, steps)


@pytest.mark.parametrize("name", NAMES)
def test_bare_call_returns_partial_with_hyper(name):
    opt = named(name)
    bare = opt()
    assert isinstance(bare, functools.partial)
    assert bare.func is opt
    assert bare.keywords == {}
    hyper = positional_hyper(name)
    first = hyper[0]
    factory = opt(**{first.name: perturbed(first.default)})
    assert isinstance(factory, functools.partial)
    assert factory.keywords == {first.name: perturbed(first.default)}
    # positional hyper-parameters after two Nones are carried by name
    factory_pos = opt(None, None, perturbed(first.default))
    assert factory_pos.keywords == {first.name: perturbed(first.default)}
    params = make_params()
    updates = factory(loss_of(params), params)
    assert isinstance(updates, symupdates.Updates)


@pytest.mark.parametrize("name", NAMES)
def test_factory_creates_fresh_state_each_call(name):
    factory = named(name)()
    params = make_params()
    u1 = factory(loss_of(params), params)
    u2 = factory(loss_of(params), params)
    s1 = {id(v) for v in u1 if not any(v is p for p in params)}
    s2 = {id(v) for v in u2 if not any(v is p for p in params)}
    assert not (s1 & s2)
    assert not ({id(v) for v in u1.state.values()} & {id(v) for v in u2.state.values()})
    # and state values are independent: running one leaves the other's state fresh
    before = u2.state_dict()
    run(u1, steps=2)
    after = u2.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("which", ["loss_only", "params_only", "loss_kw", "params_kw"])
def test_exactly_one_of_loss_and_params_raises_valueerror(name, which):
    params = make_params()
    loss = loss_of(params)
    opt = named(name)
    calls = {
        "loss_only": lambda f: f(loss),
        "params_only": lambda f: f(None, params),
        "loss_kw": lambda f: f(loss_or_grads=loss),
        "params_kw": lambda f: f(params=params),
    }
    with pytest.raises(ValueError, match="loss_or_grads"):
        calls[which](opt)
    with pytest.raises(ValueError, match="loss_or_grads"):
        calls[which](opt())


@pytest.mark.parametrize("name", NAMES)
def test_returns_ordered_updates_accepted_by_pytensor_function(name):
    params = make_params()
    start = values(params)
    updates = named(name)(loss_of(params), params)
    assert isinstance(updates, OrderedDict)
    assert isinstance(updates, symupdates.Updates)
    assert list(updates)[: len(params)] == params
    fn = pytensor.function([], [], updates=updates, mode=FAST)
    fn()
    fn()
    moved = [not np.array_equal(a, p.get_value()) for a, p in zip(start, params)]
    assert all(moved)
    assert all(np.all(np.isfinite(p.get_value())) for p in params)


@pytest.mark.parametrize("name", NAMES)
def test_loss_list_and_tuple_of_gradients_agree(name):
    opt = named(name)
    sets, all_params = [], []
    for kind in ("loss", "list", "tuple"):
        params = make_params(1)
        loss = loss_of(params)
        arg = loss if kind == "loss" else pytensor.grad(loss, params)
        if kind == "tuple":
            arg = tuple(arg)
        sets.append(opt(arg, params))
        all_params.append(params)
    run(*sets, steps=4)
    results = [values(params) for params in all_params]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_positional_hyper_parameters_match_keywords(name):
    opt = named(name)
    hyper = positional_hyper(name)
    assert hyper, f"{name} takes no positional hyper-parameter (PyMC passes learning_rate positionally)"
    assert hyper[0].name == "learning_rate"
    args = [perturbed(p.default) for p in hyper]
    kwargs = {p.name: a for p, a in zip(hyper, args)}

    p_pos, p_kw, p_fac, p_def = (make_params(2) for _ in range(4))
    run(
        opt(loss_of(p_pos), p_pos, *args),
        opt(loss_of(p_kw), p_kw, **kwargs),
        opt(None, None, *args)(loss_of(p_fac), p_fac),
        opt(loss_of(p_def), p_def),
        steps=4,
    )
    for a, b, c, d in zip(values(p_pos), values(p_kw), values(p_fac), values(p_def)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert not np.array_equal(a, d)  # the perturbed values were really used


def test_positional_order_and_defaults_match_pymc():
    pymc_updates = pytest.importorskip("pymc.variational.updates")
    common = [n for n in NAMES if callable(getattr(pymc_updates, n, None))]
    assert {"sgd", "adam", "adagrad_window"} <= set(common)
    for name in common:
        theirs = list(inspect.signature(getattr(pymc_updates, name)).parameters.values())
        assert [p.name for p in theirs[:2]] == ["loss_or_grads", "params"]
        ours = positional_hyper(name)
        expected = [(p.name, p.default) for p in theirs[2:]]
        assert [(p.name, p.default) for p in ours[: len(expected)]] == expected, name


def test_available_and_get():
    names = symupdates.available()
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert {
        "sgd",
        "momentum",
        "nesterov_momentum",
        "adagrad",
        "adagrad_window",
        "rmsprop",
        "adadelta",
        "adam",
        "adamax",
    } <= set(names)
    for name in names:
        assert getattr(symupdates, name) is named(name)


@pytest.mark.parametrize("name", NAMES)
def test_get_returns_factory_with_hyper(name):
    first = positional_hyper(name)[0]
    value = perturbed(first.default)
    factory = symupdates.get(name, **{first.name: value})
    assert isinstance(factory, functools.partial)
    assert factory.keywords == {first.name: value}
    assert symupdates.get(name.upper()).func is named(name)
    p_get, p_direct = make_params(3), make_params(3)
    run(factory(loss_of(p_get), p_get), named(name)(loss_of(p_direct), p_direct, **{first.name: value}))
    for a, b in zip(values(p_get), values(p_direct)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wrong, close", [("adma", "adam"), ("rmsporp", "rmsprop"), ("sdg", "sgd")])
def test_get_unknown_name_lists_close_matches(wrong, close):
    with pytest.raises(InputError, match="unknown optimizer") as err:
        symupdates.get(wrong)
    assert repr(close) in str(err.value)
    assert "Did you mean" in str(err.value)
    assert isinstance(err.value, ValueError) and not isinstance(err.value, TypeError)


def test_get_unknown_name_without_close_match_lists_known():
    with pytest.raises(ValueError) as err:
        symupdates.get("zzzzzzzz")
    assert "Did you mean" not in str(err.value)
    assert "sgd" in str(err.value)


def test_get_rejects_bad_hyper_at_creation():
    with pytest.raises(InputError, match="learning_rate"):
        symupdates.get("sgd", learning_rate=-1.0)
