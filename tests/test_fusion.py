"""The fused multi-tensor C step: same numbers as the graph it replaces, one vectorised loop.

The oracle is the same FAST_RUN graph run by PyTensor's Python linker, where every
scalar operation is NumPy's, rounded once in its dtype. The fused kernel must equal
it bit for bit wherever the graph has no reduction (a C sum and a NumPy sum add in
different orders) and, in float32, no power or exponential outside the kernel (C's
``pow`` in double and NumPy's float32 ``power`` round differently). PyTensor's own C
loop is further from that oracle than the fused one: it multiplies by double constants
and gcc contracts multiply-adds; the tests bound fused against it too.
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
from pytensor.tensor.elemwise import CAReduce

import symupdates
from symupdates.fusion import GROUP_SIZES, MultiElemwise, fused_nodes
from tests.conftest import DEFAULT, DEFAULT_IS_NUMBA

C = Mode(linker="cvm", optimizer="fast_run")
C_UNFUSED = C.excluding("symupdates_fusion")
NUMPY = Mode(linker="py", optimizer="fast_run")
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


def _has_reduction(fn) -> bool:
    return any(isinstance(node.op, CAReduce) for node in fn.maker.fgraph.apply_nodes)


@pytest.mark.parametrize("name", symupdates.available())
def test_every_optimizer_fuses_and_equals_numpy_in_float64(name, record_property):
    factory = symupdates.get(name, learning_rate=0.01)
    fused, got = _run(factory, C, "float64")
    # SM3's accumulators of a matrix are a row and a column broadcast against it: only
    # tensors whose state all has their own shape (here, for SM3, the vectors) are fused
    fused_tensors = sum(node.op.n_groups for node in fused_nodes(fused))
    assert fused_tensors >= (2 if name == "sm3" else len(SHAPES))
    numpy_fn, want = _run(factory, NUMPY, "float64")
    _, unfused = _run(factory, C_UNFUSED, "float64")
    record_property("oracle_error", ("fused vs unfused C, ulp", {"float64": _max_ulp(got, unfused)}))
    if _has_reduction(numpy_fn):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)
    else:
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
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
def test_float32_fused_step_is_within_a_few_ulp_of_both_references(case, record_property):
    name = case.split("+")[0].split()[0]
    kwargs = {"learning_rate": 0.01, **OPTIONS[case]}
    factory = symupdates.get(name, **kwargs)
    fused, got = _run(factory, C, "float32")
    assert fused_nodes(fused)
    assert all(x.dtype == np.float32 for x in got)
    _, unfused = _run(factory, C_UNFUSED, "float32")
    _, want = _run(factory, NUMPY, "float32")
    record_property("oracle_error", ("fused vs unfused C, ulp", {"float32": _max_ulp(got, unfused)}))
    for g, u, w in zip(got, unfused, want):
        np.testing.assert_allclose(g, u, rtol=2e-5, atol=1e-7)
        np.testing.assert_allclose(g, w, rtol=5e-5, atol=1e-7)


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


def test_group_sizes_in_place_and_allow_gc_off():
    """20 parameters give fused nodes of 16 and 4 tensors, updating parameters and
    state in place; ``allow_gc=False`` gives the same numbers."""
    shapes = [(i % 5 + 1, 3) for i in range(20)]
    factory = symupdates.get("adam", learning_rate=0.01)
    fused, got = _run(factory, C, "float64", shapes=shapes, n_steps=3)
    nodes = fused_nodes(fused)
    assert [node.op.n_groups for node in nodes] == [16, 4]
    assert GROUP_SIZES[0] == 16
    for node in nodes:  # p, m, v of every tensor written in place
        assert len(node.op.destroy_map) == 3 * node.op.n_groups
    _, no_gc = _run(factory, C.clone(link_kwargs={"allow_gc": False}), "float64", shapes=shapes, n_steps=3)
    _, want = _run(factory, NUMPY, "float64", shapes=shapes, n_steps=3)
    for g, h, w in zip(got, no_gc, want):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(h, w)


def test_non_contiguous_gradients_are_read_correctly():
    rng = np.random.default_rng(7)
    grads = [[np.asfortranarray(rng.normal(size=s)) if len(s) == 2 else rng.normal(size=s) for s in SHAPES]]
    factory = symupdates.get("rmsprop", learning_rate=0.01)
    fn, got = _run(factory, C, "float64", n_steps=1, grads=lambda k: grads[0])
    assert fused_nodes(fn)
    assert not grads[0][0].flags.c_contiguous
    _, want = _run(factory, NUMPY, "float64", n_steps=1, grads=lambda k: grads[0])
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
    shapes = [(4, 3), (6,)]
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
