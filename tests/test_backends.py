"""The same numbers on every backend: default (C), NUMBA and JAX against FAST_COMPILE.

Compiling dominates, so each mode compiles ONE function that updates every
optimizer at once (each on its own copy of the parameters, float64 and
float32), giving one compilation per mode.
"""

import os
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates
from tests.conftest import FAST

#: Cold-cache C and Numba compilation of every optimizer at once takes minutes on a
#: shared 2-core machine, so CI checks a representative subset (moments + bias
#: correction, a windowed state with a symbolic index, momentum, accumulators,
#: factored state); SYMUPDATES_ALL_BACKENDS=1 checks every registered optimizer.
SUBSET = ("adam", "adagrad_window", "rmsprop", "nesterov_momentum", "adadelta", "adafactor")
NAMES = [n for n in symupdates.available() if os.environ.get("SYMUPDATES_ALL_BACKENDS") == "1" or n in SUBSET]
STEPS = 20
RTOL = {"float64": 1e-10, "float32": 1e-5}
ATOL = {"float64": 1e-12, "float32": 1e-6}


def build(dtype):
    """All optimizers on fresh parameters of ``dtype``: ({(name, var name): var}, merged updates)."""
    rng = np.random.default_rng(7)
    tracked, merged = {}, OrderedDict()
    for name in NAMES:
        W = pytensor.shared(rng.normal(size=(2, 3)).astype(dtype), name="W")
        # explicit gradient of 0.5 |W - 0.3|^2 + sum(sin W): keeps the merged graph small
        grad = W - np.asarray(0.3, dtype) + pt.cos(W)
        updates = symupdates.get(name)([grad], [W])
        merged.update(updates)
        for var in updates:
            tracked[(name, var.name)] = var
    return tracked, merged


def run_mode(mode):
    """Build everything, run STEPS steps in ``mode``, return {(dtype, name, var): value}."""
    results, merged, tracked_all = {}, OrderedDict(), {}
    for dtype in ("float64", "float32"):
        tracked, updates = build(dtype)
        merged.update(updates)
        tracked_all.update({(dtype,) + k: v for k, v in tracked.items()})
    fn = pytensor.function([], [], updates=merged, mode=mode)
    for _ in range(STEPS):
        fn()
    for key, var in tracked_all.items():
        results[key] = np.asarray(var.get_value())
    return results


@pytest.fixture(scope="module")
def reference():
    return run_mode(FAST if FAST != "FAST_COMPILE" else "FAST_COMPILE")


def _mode(name):
    if name == "default":
        return None
    if name == "JAX":
        pytest.importorskip("jax")
    if name == "NUMBA":
        pytest.importorskip("numba")
    return name


@pytest.mark.parametrize("mode", ["default", "NUMBA", "JAX"])
def test_backend_matches_fast_compile(reference, mode):
    results = run_mode(_mode(mode))
    assert results.keys() == reference.keys()
    bad = []
    for key, expected in reference.items():
        got = results[key]
        dtype = key[0]
        assert got.dtype == expected.dtype, key
        assert got.shape == expected.shape, key
        if not np.allclose(got, expected, rtol=RTOL[dtype], atol=ATOL[dtype], equal_nan=False):
            bad.append((key, float(np.max(np.abs(got - expected)))))
    assert not bad, f"{mode} differs from FAST_COMPILE: {bad[:10]}"
    # the parameters really moved over the 20 steps, for every optimizer and dtype
    rng = np.random.default_rng(7)
    for name in NAMES:
        start = rng.normal(size=(2, 3))
        assert not np.allclose(reference[("float64", name, "W")], start, rtol=0, atol=1e-12), name


@pytest.mark.parametrize("mode", ["default", "NUMBA", "JAX"])
def test_reductions_keep_float32_on_every_backend(mode):
    """Norms, sums and means (clipping, trust ratios, factored moments) stay float32.

    PyTensor's JAX backend returns the float64 accumulator of a float32 ``Sum``;
    symupdates rounds every reduction explicitly so parameters keep their dtype.
    """
    rng = np.random.default_rng(0)
    merged, params = OrderedDict(), []
    cases = [
        ("adam", dict(clip_global_norm=0.5, clip_norm=0.3)),
        ("lamb", {}),
        ("adafactor", dict(factored=False)),
        ("adagrad_window", {}),
        ("novograd", {}),
    ]
    for name, options in cases:
        W = pytensor.shared(rng.normal(size=(2, 3)).astype("float32"), name="W")
        grad = W - np.asarray(0.3, "float32") + pt.cos(W)
        merged.update(symupdates.get(name, **options)([grad], [W]))
        params.append(W)
    fn = pytensor.function([], [], updates=merged, mode=_mode(mode))
    for _ in range(3):
        fn()
    for var in merged:
        assert var.get_value().dtype == var.dtype, (mode, var.name, var.get_value().dtype)
