"""The same numbers on every backend: default, NUMBA, JAX, PYTORCH and MLX against FAST_COMPILE.

Compiling dominates, so each mode compiles ONE function that updates every
optimizer of the subset at once (each on its own parameter, float64 and
float32, the gradients fed as inputs), giving one compilation per mode; each
(mode, dtype, optimizer) is then its own test. What a backend cannot run is
listed in UNSUPPORTED with the Op at fault: those optimizers are left out of
that mode's function and reported as skips naming the Op, and
``test_unsupported_entries_still_fail`` checks every entry against the backend
(without compiling: :func:`benchmarks.backend_survey.node_faults`), so the table
cannot go stale. ``benchmarks/backend_survey.py`` surveys every optimizer,
option and dtype on every backend (docs/backends.rst).
"""

import functools
import importlib.util
import os
import re
from collections import OrderedDict
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from pytensor.compile.mode import predefined_modes

import symupdates
from benchmarks import backend_survey as survey
from symupdates.core.numerics import is_zero, remainder
from tests.conftest import DEFAULT, FAST

#: Cold-cache C and Numba compilation of every optimizer at once takes minutes on a
#: shared 2-core machine, so CI checks a representative subset (moments + bias
#: correction, a windowed state with a symbolic index, momentum, accumulators,
#: factored state); SYMUPDATES_ALL_BACKENDS=1 checks every registered optimizer.
SUBSET = ("adam", "adagrad_window", "rmsprop", "nesterov_momentum", "adadelta", "adafactor")
NAMES = [n for n in symupdates.available() if os.environ.get("SYMUPDATES_ALL_BACKENDS") == "1" or n in SUBSET]
DTYPES = ("float64", "float32")
MODES = ("default", "NUMBA", "JAX", "PYTORCH", "MLX")
LINE = pytensor.__version__.split(".")[0]  # "2" (PyTensor 2.38) or "3"
_POW = "Elemwise{Pow}: no conversion"  # torch has no `power`, the name PyTensor's Pow asks for
_F64 = "float64: computed in float32"  # PyTensor's mlx_typify makes float64 arrays float32, MLX's default
_POWERS = (
    "adabelief",
    "adafactor",
    "adam",
    "adamax",
    "adamw",
    "adan",
    "amsgrad",
    "asgd",
    "lamb",
    "nadam",
    "radam",
    "yogi",
)
_ADD3, _MUL3 = "Elemwise{Composite} > Add of 3: no conversion", "Elemwise{Composite} > Mul of 3: no conversion"
#: {(backend, PyTensor line): {dtype or optimizer: the start of the fault node_faults reports}}: what
#: each backend cannot run (PyTensor 2.38.3 / 3.0.7, torch 2.13, mlx 0.32.4; docs/backends.rst explains).
UNSUPPORTED = {
    ("PYTORCH", "2"): dict.fromkeys(_POWERS, _POW),
    ("PYTORCH", "3"): dict.fromkeys(_POWERS, _POW),
    ("MLX", "2"): {"float64": _F64, "asgd": _F64},
    ("MLX", "3"): {
        "float64": _F64,
        "asgd": _F64,
        **dict.fromkeys(("adabelief", "adadelta", "adagrad", "rmsprop"), _ADD3),
        **dict.fromkeys(("adafactor", "lamb", "lars", "radam", "yogi"), _MUL3),
        "rprop": "Elemwise{Composite} > Clip of 3: no conversion",
    },
}


def _unsupported(mode, dtype, name):
    """The fault that keeps ``name`` in ``dtype`` off ``mode`` (None when it runs there)."""
    table = UNSUPPORTED.get((mode, LINE), {})
    return table.get(dtype) or table.get(name)


def _mode(name):
    """The mode to compile with, skipping a backend whose package (or PyTensor mode) is missing."""
    if name == "default":
        return None
    package = {"NUMBA": "numba", "JAX": "jax", "PYTORCH": "torch", "MLX": "mlx"}[name]
    if importlib.util.find_spec(package) is None or name not in predefined_modes:
        pytest.skip(f"{package} is not installed" if name in predefined_modes else f"PyTensor has no {name} mode")
    return name


_RUNS: dict = {}
_START = {dtype: survey.build("sgd", dtype).initial[0] for dtype in DTYPES}


def _results(mode):
    """{(dtype, name): values} after the steps, ONE function compiled for ``mode`` (cached per mode)."""
    if mode not in _RUNS:
        keys = [(d, n) for d in DTYPES for n in NAMES if not _unsupported(mode, d, n)]
        values = survey.run([survey.build(n, d) for d, n in keys], _mode(mode) if mode != "FAST_COMPILE" else FAST)
        _RUNS[mode] = dict(zip(keys, values, strict=True))
    return _RUNS[mode]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_backend_matches_fast_compile(mode, dtype, name):
    _mode(mode)
    if fault := _unsupported(mode, dtype, name):
        pytest.skip(f"PyTensor {pytensor.__version__}, {mode}: {fault} (UNSUPPORTED)")
    got, expected = _results(mode)[(dtype, name)], _results("FAST_COMPILE")[(dtype, name)]
    assert len(got) == len(expected)
    for value, want in zip(got, expected):
        assert value.dtype == want.dtype and value.shape == want.shape
        rtol, atol = survey.RTOL[dtype], survey.ATOL[dtype]  # 1e-10 and 1e-12 (float64), 1e-5 and 1e-6 (float32)
        np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, err_msg=f"{mode} {dtype} {name}")
    assert not np.allclose(expected[0], _START[dtype], rtol=0, atol=1e-6), name  # the parameter moved


UNSUPPORTED_CASES = [
    pytest.param(backend, dtype, name, id=f"{backend}{line}-{dtype}-{name}")
    for backend, line in UNSUPPORTED
    if line == LINE
    for dtype in DTYPES
    for name in NAMES
    if _unsupported(backend, dtype, name)
]


@pytest.mark.parametrize("backend, dtype, name", UNSUPPORTED_CASES)
def test_unsupported_entries_still_fail(backend, dtype, name):
    """Each UNSUPPORTED entry still fails on its backend with the fault it names (remove it when fixed)."""
    _mode(backend)
    fault = _unsupported(backend, dtype, name)
    faults = survey.node_faults(survey.build(name, dtype), backend)
    assert any(f.startswith(fault) for f in faults), f"{backend} no longer has {fault!r} for {dtype} {name}: {faults}"


def _counter_problem(condition):
    """A one-parameter step ``p <- p - 0.1 g`` when ``condition(step)`` holds, else ``p <- p - g``."""
    p = pytensor.shared(np.zeros(3, "float32"), name="p")
    step = pytensor.shared(np.int64(0), name="step")
    g = pt.fvector("g", shape=(3,))
    rate = pt.switch(condition(step), np.float32(0.1), np.float32(1))
    updates = OrderedDict([(p, p - rate * g), (step, step + 1)])
    return survey.Problem(updates, g, np.ones((survey.STEPS, 3), "float32"), [np.zeros(3, "float32"), np.int64(0)])


@pytest.mark.parametrize("backend", ["PYTORCH", "MLX"])
def test_zero_tests_and_remainders_convert_where_eq_and_mod_do_not(backend):
    """Why symupdates writes ``is_zero`` and ``remainder`` (core.numerics): Eq fails on PyTorch, Mod on
    PyTorch and on PyTensor 2.38's MLX."""
    _mode(backend)
    faults = survey.node_faults(_counter_problem(lambda k: pt.eq(k % 3, 0)), backend)
    if backend == "PYTORCH" or LINE == "2":
        assert any(f.startswith("Elemwise{Mod}: no conversion") for f in faults), faults
    if backend == "PYTORCH":  # Eq becomes torch.equal, one Python bool for the whole tensor
        assert any(f.startswith("Elemwise{EQ}: returns a bool") for f in faults), faults
    assert survey.node_faults(_counter_problem(lambda k: is_zero(remainder(k, 3))), backend) == []


def test_pytorch_sums_accumulate_in_their_input_dtype():
    """docs/backends.rst: PyTorch's Sum ignores the float64 accumulator a float32 norm asks for."""
    _mode("PYTORCH")
    faults = survey.node_faults(survey.build("lars", "float32"), "PYTORCH")
    assert "Sum{Add}: returns float32[] for float64[]" in faults, faults


def test_wrappers_convert_on_pytorch():
    """multi_steps and lookahead count their steps with Ops PyTorch converts (``pt.ge``, ``remainder``)."""
    _mode("PYTORCH")
    for wrapped in (symupdates.multi_steps(symupdates.sgd(), 2), symupdates.lookahead(symupdates.sgd())):
        assert survey.node_faults(survey.build("sgd", "float32", wrapped), "PYTORCH") == []


@given(
    st.lists(st.integers(0, 2**40), min_size=1, max_size=8),
    st.integers(1, 1000),
    st.lists(st.floats(0, allow_infinity=True) | st.just(float("nan")), min_size=1, max_size=8),
)
@settings(max_examples=30, deadline=None)
def test_is_zero_and_remainder_equal_eq_and_mod(counts, k, norms):
    """Property: on their domain (counters >= 0, norms >= 0 or NaN) the replacements give Eq's and Mod's values."""
    c, x = np.asarray(counts, "int64"), np.asarray(norms)
    for got, want in zip(_numerics()(c, k, x), [c % k, x == 0, c == 0], strict=True):
        np.testing.assert_array_equal(got, want)


@functools.cache
def _numerics():
    c, k, x = pt.lvector("c"), pt.lscalar("k"), pt.dvector("x")
    return pytensor.function([c, k, x], [remainder(c, k), is_zero(x), is_zero(c)], mode=DEFAULT)


PAGE = Path(__file__).resolve().parents[1] / "docs" / "backends.rst"
#: The test mode behind each column of the page's tables ("C" is the default mode on PyTensor 2.38 only).
COLUMNS = {"C": "default" if LINE == "2" else None, "NUMBA": "NUMBA", "JAX": "JAX", "PYTORCH": "PYTORCH", "MLX": "MLX"}


def _page_table():
    """The table of docs/backends.rst made on this PyTensor line: (version, {case: {backend: cell}})."""
    text = PAGE.read_text(encoding="utf-8")
    marks = list(re.finditer(r"^\.\. table made by benchmarks/backend_survey.py on PyTensor (\S+)", text, re.M))
    assert len(marks) == 2, "docs/backends.rst shows one table per PyTensor line"
    [mark] = [m for m in marks if m.group(1).split(".")[0] == LINE]
    return mark.group(1), survey.parse_table(text[mark.end() :])


def test_page_table_is_backed_by_these_tests():
    """Every optimizer and option has a row; the subset's cells say what this file's runs and checks found."""
    _, rows = _page_table()
    assert list(rows) == survey.cases()
    for column, mode in COLUMNS.items():
        if mode is None:
            continue
        for name in SUBSET:
            cell = survey.parse_cell(rows[name][column], DTYPES)
            for dtype in DTYPES:
                fault = _unsupported(mode, dtype, name)
                # ok: test_backend_matches_fast_compile runs it; else UNSUPPORTED names the fault, checked above
                assert survey.code(fault) in cell[dtype] if fault else not cell[dtype], (column, name, dtype, cell)


def test_page_table_is_what_the_survey_prints():
    """The survey script, run here for a few cells of the new backends, prints what the page shows."""
    version, rows = _page_table()
    backends = [b for b in ("PYTORCH", "MLX") if survey.installed(b)]
    if not backends:
        pytest.skip("neither torch nor mlx is installed")
    for cell in survey.survey(["adam", "sgd"], backends, ["float32"]):
        assert survey.parse_cell(rows[cell.case][cell.backend], survey.DTYPES)["float32"] == cell.codes, (version, cell)


@pytest.mark.parametrize("mode", MODES)
def test_reductions_keep_float32_on_every_backend(mode):
    """Norms, sums and means (clipping, trust ratios, factored moments) stay float32.

    PyTensor's JAX backend returns the float64 accumulator of a float32 ``Sum``;
    symupdates rounds every reduction explicitly so parameters keep their dtype.
    """
    cases = {
        "adam": dict(clip_global_norm=0.5, clip_norm=0.3),
        "lamb": {},
        "adafactor": dict(factored=False),
        "adagrad_window": {},
        "novograd": {},
        "lars": dict(clip_global_norm=0.5),
    }
    backend = _mode(mode)
    problems = [
        survey.build(name, "float32", symupdates.get(name, **options))
        for name, options in cases.items()
        if not _unsupported(mode, "float32", name)
    ]
    survey.run(problems, backend)
    for problem in problems:
        for var in problem.tracked:
            value = var.get_value()
            assert np.asarray(value).dtype == var.dtype, (mode, var.name, value.dtype)
            # docs/backends.rst: after a JAX or MLX step the shared variables hold JAX or MLX arrays
            if mode in ("JAX", "MLX"):
                assert type(value).__module__.split(".")[0] in ("jax", "jaxlib", "mlx"), (mode, type(value))
