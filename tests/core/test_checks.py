"""Bad input is rejected while the graph is built, with a message naming the culprit.

Every case asserts the exception type (``InputError`` is a ``ValueError``, and
only its ``ArgumentError``, for a call that does not match a signature, is
also a ``TypeError``) and that the message names the offending argument. No
test compiles anything: every error must come before ``pytensor.function``.
"""

import inspect
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates
from symupdates.core.checks import ArgumentError, InputError

NAMES = symupdates.available()
P = inspect.Parameter
#: Hyper-parameter names that are decay rates, so must lie in [0, 1).
DECAYS = {"rho", "beta1", "beta2", "momentum", "beta", "beta3", "decay", "b1", "b2"}


def named(name):
    return symupdates.get(name).func


def float_hyper(name):
    """The hyper-parameters (positional or keyword-only) with a float default."""
    params = list(inspect.signature(named(name)).parameters.values())[2:]
    return [
        p for p in params if p.name not in symupdates.optimizers.options.COMMON_OPTIONS and type(p.default) is float
    ]


def make_params():
    W = pytensor.shared(np.ones((2, 3)), name="W")
    b = pytensor.shared(np.zeros(3), name="b")
    return [W, b]


def loss_of(params):
    return sum((p**2).sum() for p in params)


def raises(match, fn, *args, **kwargs):
    """``fn`` raises an InputError (a ValueError, not a TypeError) whose message matches ``match``."""
    with pytest.raises(InputError, match=match) as err:
        fn(*args, **kwargs)
    assert isinstance(err.value, ValueError) and not isinstance(err.value, TypeError)
    return str(err.value)


def raises_argument_error(match, fn, *args, **kwargs):
    """``fn`` rejects its call's signature: an ArgumentError (InputError and TypeError) matching ``match``."""
    with pytest.raises(ArgumentError, match=match) as err:
        fn(*args, **kwargs)
    assert isinstance(err.value, InputError) and isinstance(err.value, TypeError)
    return str(err.value)


# -- parameters ---------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_non_shared_param(name):
    W = pytensor.shared(np.ones(3), name="W")
    x = pt.dvector("x")
    msg = raises(r"params\[1\]", named(name), (W**2).sum() + (x**2).sum(), [W, x])
    assert "shared variable" in msg


def test_non_tensor_shared_param():
    rng = pytensor.shared(np.random.default_rng(0))
    W = pytensor.shared(np.ones(3), name="W")
    msg = raises(r"params\[1\]", symupdates.sgd, [pt.ones(3), pt.ones(3)], [W, rng])
    assert "tensor" in msg


@pytest.mark.parametrize("bad", [lambda W: W, lambda W: 3.0, lambda W: []])
def test_params_not_a_list(bad):
    W = pytensor.shared(np.ones(3), name="W")
    raises("params", symupdates.adam, (W**2).sum(), bad(W))


@pytest.mark.parametrize("name", NAMES)
def test_duplicated_params(name):
    W, b = make_params()
    msg = raises(r"params\[2\]", named(name), loss_of([W, b]), [W, b, W])
    assert "params[0]" in msg and "W" in msg


@pytest.mark.parametrize(
    "value, dtype", [(np.ones(3, "int64"), "int64"), (np.ones(3, "int32"), "int32"), (np.ones(3, bool), "bool")]
)
@pytest.mark.parametrize("name", NAMES)
def test_integer_or_boolean_param(name, value, dtype):
    W = pytensor.shared(np.ones(3), name="W")
    k = pytensor.shared(value, name="k")
    msg = raises(r"params\[1\]", named(name), [pt.ones(3), pt.ones(3)], [W, k])
    assert dtype in msg and "k" in msg
    # the same through a factory
    raises(r"params\[1\]", named(name)(), [pt.ones(3), pt.ones(3)], [W, k])


# -- gradients and loss ---------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 3])
def test_gradient_list_of_wrong_length(name, n):
    params = make_params()
    grads = [pt.zeros_like(params[0])] * n
    msg = raises("gradient", named(name), grads, params)
    assert f"{n} gradient" in msg and "2 parameters" in msg


@pytest.mark.parametrize("name", NAMES)
def test_gradient_of_wrong_ndim(name):
    W, b = make_params()
    msg = raises("gradient 1", named(name), [pt.zeros((2, 3)), pt.zeros((3, 1))], [W, b])
    assert "dimension" in msg and "b" in msg


@pytest.mark.parametrize("name", NAMES)
def test_gradient_of_wrong_static_shape(name):
    W, b = make_params()
    msg = raises("gradient 0", named(name), [pt.zeros((3, 2)), pt.zeros(3)], [W, b])
    assert "shape" in msg and "W" in msg


def test_gradient_static_shape_against_static_param_shape():
    W = pytensor.shared(np.ones((2, 3)), name="W", shape=(2, 3))
    g = pt.tensor("g", shape=(2, 4), dtype="float64")
    msg = raises("gradient 0", symupdates.sgd, [g], [W])
    assert "axis 1" in msg


def test_gradient_not_a_tensor():
    W = pytensor.shared(np.ones(3), name="W")
    raises("gradient 0", symupdates.sgd, ["not a gradient"], [W])


@pytest.mark.parametrize("name", NAMES)
def test_non_scalar_loss(name):
    W, b = make_params()
    msg = raises("loss", named(name), W.sum(axis=0) + b, [W, b])
    assert "scalar" in msg


def test_loss_of_wrong_type():
    W = pytensor.shared(np.ones(3), name="W")
    raises("loss_or_grads", symupdates.adam, "loss", [W])


# -- hyper-parameters -----------------------------------------------------------
def _hyper_cases():
    cases = []
    for name in NAMES:
        for p in float_hyper(name):
            values = [(math.nan, "NaN"), (-0.5, "must lie in")]
            if p.name in DECAYS:
                values += [(1.0, "must lie in"), (1.5, "must lie in")]
            for value, what in values:
                cases.append(pytest.param(name, p.name, value, what))
    return cases


@pytest.mark.parametrize("name, hyper, value, what", _hyper_cases())
def test_constant_hyper_parameter_out_of_range(name, hyper, value, what):
    # at factory creation ...
    msg = raises(f"`{hyper}`", named(name), **{hyper: value})
    assert what in msg
    # ... and when building updates directly
    params = make_params()
    raises(f"`{hyper}`", named(name), loss_of(params), params, **{hyper: value})


@pytest.mark.parametrize("name", NAMES)
def test_learning_rate_negative_positional(name):
    params = make_params()
    msg = raises("`learning_rate`", named(name), loss_of(params), params, -0.1)
    assert "-0.1" in msg


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [True, None, "0.1", [0.1], pt.dvector("v")])
def test_learning_rate_of_wrong_type(name, bad):
    raises("`learning_rate`", named(name), learning_rate=bad)


@pytest.mark.parametrize("bad", [0, -3])
def test_n_win_below_one(bad):
    msg = raises("`n_win`", symupdates.adagrad_window, n_win=bad)
    assert ">= 1" in msg


@pytest.mark.parametrize("bad", [2.5, True, "10"])
def test_n_win_not_an_integer(bad):
    raises("`n_win`", symupdates.adagrad_window, n_win=bad)


@pytest.mark.parametrize("name", [n for n in NAMES if "form" in inspect.signature(named(n)).parameters])
def test_unknown_choice(name):
    msg = raises("`form`", named(name), form="bogus")
    assert "bogus" in msg


@pytest.mark.parametrize("option", ["maximize", "multi_precision", "skip_nonfinite"])
def test_flag_options_must_be_bool(option):
    raises(f"`{option}`", symupdates.adam, **{option: "yes"})


@pytest.mark.parametrize("bad", [0, -2, 2.5, "3", None])
def test_skip_nonfinite_policy_must_be_a_positive_integer(bad):
    raises("`skip_nonfinite`", symupdates.adam, skip_nonfinite=bad)
    raises("`max_consecutive_errors`", symupdates.skip_nonfinite, symupdates.identity(), bad)


@pytest.mark.parametrize("option", ["weight_decay", "decoupled_weight_decay"])
def test_negative_weight_decay(option):
    raises(f"`{option}`", symupdates.sgd, **{option: -1e-3})


# -- keywords and the loss slot -----------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_misspelled_keyword_at_factory_creation(name):
    msg = raises_argument_error("learning_rte", named(name), learning_rte=0.1)
    assert "Did you mean 'learning_rate'" in msg
    assert f"{name}()" in msg


@pytest.mark.parametrize("name", NAMES)
def test_misspelled_keyword_when_building(name):
    params = make_params()
    msg = raises_argument_error("wieght_decay", named(name), loss_of(params), params, wieght_decay=0.1)
    assert "'weight_decay'" in msg


def test_misspelled_keyword_through_get():
    msg = raises_argument_error("epsilom", symupdates.get, "adam", epsilom=1e-7)
    assert "'epsilon'" in msg


def test_unknown_keyword_without_close_match():
    msg = raises_argument_error("zzz", symupdates.adam, zzz=1)
    assert "Did you mean" not in msg


def test_too_many_positional_arguments():
    hyper = [p for p in inspect.signature(symupdates.sgd).parameters.values() if p.kind is P.POSITIONAL_OR_KEYWORD]
    args = [None] * len(hyper) + [0.1]
    raises_argument_error("sgd", symupdates.sgd, *args)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("number", [0.01, 1, np.float32(0.5)])
def test_number_in_the_loss_slot(name, number):
    msg = raises("learning_rate=", named(name), number)
    assert f"learning_rate={number!r}" in msg


def test_errors_leave_no_partial_graph_state():
    """A failed build creates no shared variable that a later build could pick up."""
    W, b = make_params()
    with pytest.raises(InputError):
        symupdates.adam([pt.zeros((2, 3))], [W, b])
    updates = symupdates.adam(loss_of([W, b]), [W, b])
    assert len({v.name for v in updates}) == len(updates)


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_exclude_current_must_be_a_bool(bad):
    raises("`exclude_current`", symupdates.adagrad_window, exclude_current=bad)


@pytest.mark.parametrize(
    "make, old, new",
    [
        (
            symupdates.lamb,
            {"weight_decay_rate": 0.1, "weight_decay_rate_mask": {"W": False}},
            {"weight_decay": 0.1, "weight_decay_mask": {"W": False}},
        ),
        (symupdates.novograd, {"weight_decay_rate": 0.1}, {"weight_decay": 0.1}),
        (symupdates.adafactor, {"weight_decay_rate": 0.1}, {"weight_decay": 0.1}),
        (symupdates.scale_by_rms, {"initial_accumulator_value": 0.1, "initial": 0.1}, None),
    ],
)
def test_former_names_warn_and_mean_the_same(make, old, new):
    W = pytensor.shared(np.ones((2, 3)), name="W")
    b = pytensor.shared(np.ones(3), name="b")
    loss = (W**2).sum() + (b**2).sum()
    if new is None:  # both names at once
        with pytest.raises(ArgumentError, match="initial_accumulator_value"):
            make(**old)
        return
    with pytest.warns(DeprecationWarning, match="now called `weight_decay`"):
        before = make(loss, [W, b], **old)
    after = make(loss, [W, b], **new)
    f_before = pytensor.function([], list(before.values()))
    f_after = pytensor.function([], list(after.values()))
    assert [np.array_equal(x, y) for x, y in zip(f_before(), f_after())] == [True] * len(after)
