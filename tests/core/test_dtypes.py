"""Every update keeps the exact type of its variable, whatever floatX and hyper-parameter types.

The matrix is optimizer x floatX x hyper-parameter type x parameter dtype and
needs no compilation (``updates[v].type == v.type``); a representative subset
is then compiled and run in the default mode, and float16 parameters are run for
every optimizer: in the default mode where it has float16 (C on PyTensor 2.38),
else (Numba, PyTensor 3's default, has none) it must fail as documented and run
in the documented way out, ``mode="CVM"`` (the C backend).
"""

import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates
from tests.conftest import DEFAULT, DEFAULT_IS_NUMBA

NAMES = symupdates.available()
P = inspect.Parameter
HYPER_KINDS = ["float", "np.float64", "np.float32", "symbolic", "shared"]


def named(name):
    return symupdates.get(name).func


def positional_float_hyper(name):
    params = list(inspect.signature(named(name)).parameters.values())[2:]
    return [p for p in params if p.kind is P.POSITIONAL_OR_KEYWORD and type(p.default) is float]


def hyper_of(name, kind):
    """The positional float hyper-parameters at their defaults, as ``kind``; plus symbolic inputs."""
    hyper, inputs = {}, []
    for p in positional_float_hyper(name):
        v = p.default
        if kind == "float":
            hyper[p.name] = float(v)
        elif kind == "np.float64":
            hyper[p.name] = np.float64(v)
        elif kind == "np.float32":
            hyper[p.name] = np.float32(v)
        elif kind == "symbolic":
            x = pt.dscalar(p.name)
            hyper[p.name] = x
            inputs.append((x, v))
        else:
            hyper[p.name] = pytensor.shared(np.float64(v), name=p.name)
    return hyper, inputs


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    W = pytensor.shared(rng.normal(size=(2, 3)).astype(dtype), name="W")
    b = pytensor.shared(rng.normal(size=3).astype(dtype), name="b")
    return [W, b]


def loss_of(params):
    W, b = params
    return ((pt.tanh(W).sum(axis=0) + b - 0.3) ** 2).sum() + 0.1 * (W**2).sum()


def check_types(updates, params, multi_precision=False):
    """Every update has its variable's type; state has its parameter's dtype and static shape.

    With ``multi_precision`` float16 parameters keep float32 state and master copies.
    """
    by_name = {p.name: p for p in params}
    for var, new in updates.items():
        # same dtype and rank; the static shape may only be more specific than the variable's
        # (e.g. a gradient of static shape (3,) for a parameter of shape (None,))
        assert new.dtype == var.dtype and new.ndim == var.ndim, (var.name, new.type, var.type)
        assert var.type.is_super(new.type), (var.name, new.type, var.type)
        if None not in var.type.shape:
            assert new.type == var.type, (var.name, new.type, var.type)
        if any(var is p for p in params):
            continue
        owner = by_name.get(var.name.split(".")[0])
        if var.name.endswith(".step") or var.name.endswith(".skipped"):
            assert var.dtype == "int64" and var.ndim == 0, var.name
        elif var.name.endswith(".master"):
            assert multi_precision and owner.dtype == "float16" and var.dtype == "float32", var.name
            assert var.type.shape == owner.type.shape, var.name
        elif owner is not None:
            wide = multi_precision and owner.dtype == "float16"
            assert var.dtype == ("float32" if wide else owner.dtype), var.name
            if None not in owner.type.shape:
                assert None not in var.type.shape, var.name
            if var.ndim >= owner.ndim:
                assert var.type.shape[: owner.ndim] == owner.type.shape, var.name


@pytest.mark.parametrize("param_dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", HYPER_KINDS)
@pytest.mark.parametrize("floatX", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_update_types_match_variables(name, floatX, kind, param_dtype):
    with pytensor.config.change_flags(floatX=floatX):
        params = [
            pytensor.shared(np.ones((2, 3), param_dtype), name="W", shape=(2, 3)),
            pytensor.shared(np.zeros(3, param_dtype), name="b"),
        ]
        hyper, _ = hyper_of(name, kind)
        updates = named(name)(loss_of(params), params, **hyper)
        check_types(updates, params)
        for p in params:
            assert updates[p].dtype == param_dtype


REPRESENTATIVE = [n for n in ("adam", "adagrad_window", "rmsprop", "momentum", "adadelta") if n in NAMES]


#: Each kind of hyper-parameter with one floatX, alternately, and two of the representative
#: optimizers, in turn, so that each optimizer meets two kinds (every combination is checked
#: symbolically by ``test_update_types_match_variables``; compiling all of them in the default
#: mode took over four minutes of CI).
COMPILED_CASES = [
    (
        ["float32", "float64"][i % 2],
        kind,
        (REPRESENTATIVE[i % len(REPRESENTATIVE)], REPRESENTATIVE[(i + 1) % len(REPRESENTATIVE)]),
    )
    for i, kind in enumerate(HYPER_KINDS)
]


@pytest.mark.parametrize("floatX, kind, names", COMPILED_CASES)
def test_compile_and_run_representative(floatX, kind, names):
    """float32 and float64 parameters of two representative optimizers, one compiled function."""
    with pytensor.config.change_flags(floatX=floatX):
        merged, inputs, all_params = {}, [], []
        for name in names:
            for dtype in ("float32", "float64"):
                params = make_params(dtype)
                hyper, ins = hyper_of(name, kind)
                merged.update(named(name)(loss_of(params), params, **hyper))
                inputs += ins
                all_params.append((name, params, [p.get_value() for p in params]))
        fn = pytensor.function([x for x, _ in inputs], [], updates=merged, mode=DEFAULT)
        for _ in range(3):
            fn(*[v for _, v in inputs])
    for name, params, start in all_params:
        for p, s in zip(params, start):
            value = p.get_value()
            assert value.dtype == s.dtype, name
            assert np.all(np.isfinite(value)), name
            assert not np.array_equal(value, s), name
    for var in merged:
        if var.name.endswith(".step"):
            assert var.get_value() == 3 and var.get_value().dtype == np.int64


def test_float32_params_match_float64_hyper_numbers():
    """float32 parameters with float64 symbolic hyper-parameters give the float32-constant numbers."""
    values = {}
    for kind in ("float", "shared"):
        params = make_params("float32")
        hyper, _ = hyper_of("adam", kind)
        fn = pytensor.function([], [], updates=symupdates.adam(loss_of(params), params, **hyper), mode=DEFAULT)
        for _ in range(5):
            fn()
        values[kind] = [p.get_value() for p in params]
    for a, b in zip(values["float"], values["shared"]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


#: Where float16 runs: the default mode, or the C backend where the default is Numba (see docs/conventions.rst).
FLOAT16_MODE = "CVM" if DEFAULT_IS_NUMBA else DEFAULT


@pytest.mark.parametrize("multi_precision", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_float16_params_update(name, multi_precision):
    params = make_params("float16", seed=3)
    start = [p.get_value() for p in params]
    updates = named(name)(loss_of(params), params, learning_rate=0.05, multi_precision=multi_precision)
    check_types(updates, params, multi_precision)
    masters = [v for v in updates if v.name.endswith(".master")]
    assert len(masters) == (2 if multi_precision else 0)
    assert all(m.dtype == "float32" for m in masters)
    if DEFAULT_IS_NUMBA:
        with pytest.raises(NotImplementedError, match="float16"):
            pytensor.function([], [], updates=updates, mode=DEFAULT)()
    fn = pytensor.function([], [], updates=updates, mode=FLOAT16_MODE)
    for _ in range(3):
        fn()
    for p, s in zip(params, start):
        value = p.get_value()
        assert value.dtype == np.float16
        assert np.all(np.isfinite(value)), name
        assert not np.array_equal(value, s), name
