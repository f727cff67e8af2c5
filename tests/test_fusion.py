"""The fused multi-tensor C step: the numbers of the graph it replaces, one vectorised loop.

The oracle is the same compiled graph with each fused node run by NumPy (its
``perform``: every scalar operation NumPy's, rounded once in its dtype) instead of
its C kernel: the two must agree bit for bit, on every optimizer, in float32 and
float64. PyTensor's own C loop (the graph without the rewrite) multiplies float32
values by double constants and lets gcc contract multiply-adds; the tests bound the
fused step against it to a few units in the last place and record the largest.
"""

import subprocess
import sysconfig

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.graph.fg import FunctionGraph
from pytensor.link.c.basic import CLinker
from pytensor.link.c.cmodule import GCC_compiler

import symupdates
from symupdates.fusion import GROUP_SIZES, MultiElemwise, fused_nodes
from tests.conftest import DEFAULT, DEFAULT_IS_NUMBA

C = Mode(linker="cvm", optimizer="fast_run")
C_UNFUSED = C.excluding("symupdates_fusion")
SHAPES = [(3, 4), (5,), (2, 2), (7,), (4, 3)]


def _run(factory, mode, dtype, shapes=SHAPES, n_steps=8, grads=None):
    rng = np.random.default_rng(1)
    params = [pytensor.shared(rng.normal(size=s).astype(dtype), name=f"p{i}") for i, s in enumerate(shapes)]
    inputs = [pt.tensor(f"g{i}", dtype=dtype, shape=(None,) * len(s)) for i, s in enumerate(shapes)]
    fn = pytensor.function(inputs, [], updates=factory(inputs, params), mode=mode)
    for k in range(n_steps):
        fn(*(grads(k) if grads else [rng.normal(size=s).astype(dtype) for s in shapes]))
    return fn, [p.get_value() for p in params]


def _max_ulp(a, b) -> float:
    return max(float(np.max(np.abs(x - y) / np.spacing(np.maximum(np.abs(x), np.abs(y))))) for x, y in zip(a, b))


@pytest.fixture
def numpy_kernels(monkeypatch):
    """Run every fused node with its NumPy ``perform`` instead of its C kernel."""
    make_thunk = MultiElemwise.make_thunk

    def python_thunk(self, node, storage_map, compute_map, no_recycling, impl=None):
        return make_thunk(self, node, storage_map, compute_map, no_recycling, impl="py")

    def use(on: bool):
        monkeypatch.setattr(MultiElemwise, "make_thunk", python_thunk if on else make_thunk)

    return use


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", symupdates.available())
def test_every_optimizer_fuses_and_its_kernel_computes_what_numpy_does(name, dtype, numpy_kernels, record_property):
    """The same compiled graph with its fused nodes run by the C kernel and by NumPy:
    equal bit for bit. In float64, against the graph without the rewrite (PyTensor's own
    C loops): within a few units in the last place."""
    factory = symupdates.get(name, learning_rate=0.01)
    fused, got = _run(factory, C, dtype)
    # SM3's accumulators of a matrix are a row and a column broadcast against it: only
    # tensors whose state all has their own shape (here, for SM3, the vectors) are fused
    fused_tensors = sum(node.op.n_groups for node in fused_nodes(fused))
    assert fused_tensors >= (2 if name == "sm3" else len(SHAPES))
    numpy_kernels(True)
    numpy_fn, want = _run(factory, C, dtype)
    numpy_kernels(False)
    assert len(fused_nodes(numpy_fn)) == len(fused_nodes(fused))
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(g, w)
    if dtype == "float64":  # float32 against PyTensor's loop: the options test below
        _, unfused = _run(factory, C_UNFUSED, dtype)
        record_property("oracle_error", ("fused vs unfused C, ulp", {dtype: _max_ulp(got, unfused)}))
        for g, u in zip(got, unfused):
            np.testing.assert_allclose(g, u, rtol=1e-13, atol=1e-15)


OPTIONS = {
    "adam": {},
    "adam+weight_decay+clip_global_norm": {"weight_decay": 0.01, "clip_global_norm": 1.0},
    "adamw+skip_nonfinite": {"skip_nonfinite": True},
    "rmsprop centered": {"centered": True, "momentum": 0.5},
    "sgd+schedule": {"learning_rate": symupdates.schedules.exponential_decay(0.1, 0.5, 10), "momentum": 0.9},
    "lion": {},
    "lamb": {},
    "adafactor": {},
}


@pytest.mark.parametrize("case", OPTIONS)
def test_options_fuse_and_give_the_same_numbers(case, numpy_kernels, record_property):
    name = case.split("+")[0].split()[0]
    factory = symupdates.get(name, **{"learning_rate": 0.01, **OPTIONS[case]})
    fused, got = _run(factory, C, "float32")
    assert fused_nodes(fused)
    numpy_kernels(True)
    _, want = _run(factory, C, "float32")
    numpy_kernels(False)
    _, unfused = _run(factory, C_UNFUSED, "float32")
    record_property("oracle_error", ("fused vs unfused C, ulp", {"float32": _max_ulp(got, unfused)}))
    for g, w, u in zip(got, want, unfused):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(g, u, rtol=2e-5, atol=1e-7)


def test_the_guard_still_skips_a_non_finite_step_when_fused():
    factory = symupdates.get("adam", learning_rate=0.1, skip_nonfinite=True)
    bad = [np.ones(s) for s in SHAPES]
    bad[2] = np.full(SHAPES[2], np.nan)
    fn, got = _run(factory, C, "float64", n_steps=1, grads=lambda k: bad)
    assert fused_nodes(fn)
    rng = np.random.default_rng(1)
    p0 = [rng.normal(size=s) for s in SHAPES]
    for g, p in zip(got, p0):
        np.testing.assert_array_equal(g, p)


def test_group_sizes_in_place_and_allow_gc_off(numpy_kernels):
    """20 parameters give fused nodes of 8, 8 and 4 tensors, updating parameters and
    state in place; ``allow_gc=False`` gives the same numbers."""
    shapes = [(i % 5 + 1, 3) for i in range(20)]
    factory = symupdates.get("adam", learning_rate=0.01)
    fused, got = _run(factory, C, "float64", shapes=shapes, n_steps=3)
    nodes = fused_nodes(fused)
    assert [node.op.n_groups for node in nodes] == [8, 8, 4]
    assert GROUP_SIZES[0] == 8
    for node in nodes:  # p, m, v of every tensor written in place
        assert len(node.op.destroy_map) == 3 * node.op.n_groups
    _, no_gc = _run(factory, C.clone(link_kwargs={"allow_gc": False}), "float64", shapes=shapes, n_steps=3)
    numpy_kernels(True)
    _, want = _run(factory, C, "float64", shapes=shapes, n_steps=3)
    for g, h, w in zip(got, no_gc, want):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(h, w)


def test_non_contiguous_gradients_are_read_correctly(numpy_kernels):
    rng = np.random.default_rng(7)
    grads = [[np.asfortranarray(rng.normal(size=s)) if len(s) == 2 else rng.normal(size=s) for s in SHAPES]]
    factory = symupdates.get("rmsprop", learning_rate=0.01)
    fn, got = _run(factory, C, "float64", n_steps=1, grads=lambda k: grads[0])
    assert fused_nodes(fn)
    assert not grads[0][0].flags.c_contiguous
    numpy_kernels(True)
    _, want = _run(factory, C, "float64", n_steps=1, grads=lambda k: grads[0])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_the_switch_and_the_other_backends_keep_todays_graph():
    factory = symupdates.get("adam", learning_rate=0.01)
    off, got = _run(factory, C_UNFUSED, "float64", n_steps=2)
    assert not fused_nodes(off)
    pytest.importorskip("numba")
    numba_fn, numba_got = _run(factory, "NUMBA", "float64", n_steps=2)
    assert not fused_nodes(numba_fn)
    default_fn, _ = _run(factory, DEFAULT, "float64", n_steps=1)
    assert bool(fused_nodes(default_fn)) is not DEFAULT_IS_NUMBA
    for a, b in zip(got, numba_got):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_the_generated_kernel_is_vectorised_by_gcc(tmp_path):
    """Compile the kernel of a float32 Adam step with the flags PyTensor compiles it with,
    and read gcc's vectorisation report."""
    p = pytensor.shared(np.zeros(8, "float32"), name="p")
    g = pt.vector("g", dtype="float32")
    fn = pytensor.function([g], [], updates=symupdates.adam([g], [p]), mode=C)
    [node] = fused_nodes(fn)
    kernel = node.op.kernel_code(node, "fused").replace("static ", "", 1)
    source = tmp_path / "kernel.cpp"
    source.write_text("#include <Python.h>\n#include <numpy/arrayobject.h>\n#include <math.h>\n" + kernel)
    inputs = [x.type() for x in node.inputs]
    linker = CLinker().accept(FunctionGraph(inputs, node.op.make_node(*inputs).outputs, clone=False))
    flags = [*linker.compile_args(), *GCC_compiler.compile_args()]
    includes = [f"-I{d}" for d in (sysconfig.get_paths()["include"], np.get_include())]
    result = subprocess.run(
        ["g++", "-c", str(source), "-o", str(tmp_path / "kernel.o"), "-fopt-info-vec-optimized", *flags, *includes],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "loop vectorized" in result.stderr, result.stderr


def test_the_python_implementation_matches_the_c_kernel():
    """``perform`` (used only where no C compiler is configured) computes what the kernel does."""
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (2, 5)]
    params = [pytensor.shared(rng.normal(size=s), name=f"p{i}") for i, s in enumerate(shapes)]
    grads = [pt.tensor(f"g{i}", dtype="float64", shape=(None,) * len(s)) for i, s in enumerate(shapes)]
    fn = pytensor.function(grads, [], updates=symupdates.adamw(grads, params, learning_rate=0.1), mode=C)
    [node] = fused_nodes(fn)
    values = [rng.normal(size=(1,) * x.type.ndim) if all(x.type.broadcastable) else None for x in node.inputs]
    values = [v if v is not None else rng.normal(size=shapes[k // node.op.nin_group]) for k, v in enumerate(values)]
    storage = [[None] for _ in node.outputs]
    node.op.perform(node, [v.copy() for v in values], storage)
    # the same op out of place, compiled alone: its C kernel
    op = MultiElemwise(node.op.scalar_op, node.op.full, node.op.n_groups)
    inputs = [x.type() for x in node.inputs]
    c_fn = pytensor.function(inputs, op.make_node(*inputs).outputs, mode=Mode(linker="cvm", optimizer=None))
    for got, want in zip(storage, c_fn(*values)):
        np.testing.assert_array_equal(got[0], want)
