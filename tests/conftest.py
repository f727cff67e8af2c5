"""Shared test helpers.

``DEFAULT`` is the mode users get, ``pytensor.function``'s default: FAST_RUN with
the C backend on PyTensor 2.38, Numba on PyTensor 3.x. The core numeric groups
(NumPy and Lasagne reference trajectories, live PyMC, the dtype matrix, options
against torch, bit identity with PyMC) compile with it. ``FAST`` compiles in
milliseconds (Python linker, NumPy kernels) and serves the other tests; NUMBA
and JAX are exercised by ``test_backends.py``. SYMUPDATES_TEST_MODE replaces both.
"""

import os


def _own_compiledir_per_worker() -> None:
    """Under pytest-xdist, give each worker its own C module cache under ``base_compiledir``.

    PyTensor compiles a C module while holding the lock of its compiledir and rescans the whole
    cache before each compilation, so workers sharing one compile one at a time. Must run before
    PyTensor is imported (compiledir is read once); an explicit ``compiledir`` or
    ``compiledir_format`` in PYTENSOR_FLAGS is left alone. Subprocesses inherit the setting.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if not worker or "compiledir" in flags.replace("base_compiledir", ""):
        return
    # PyTensor's default format (the same on 2.38 and 3.x), plus the worker's name
    own = (
        f"compiledir_format=compiledir_%(short_platform)s-%(processor)s-%(python_version)s-%(python_bitwidth)s-{worker}"
    )
    os.environ["PYTENSOR_FLAGS"] = f"{flags},{own}" if flags else own


_own_compiledir_per_worker()

# PyTensor reads its flags when first imported, so these imports follow the call above
import numpy as np  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import pytest  # noqa: E402

FAST = os.environ.get("SYMUPDATES_TEST_MODE", "FAST_COMPILE")
DEFAULT = os.environ.get("SYMUPDATES_TEST_MODE") or pytensor.compile.mode.get_default_mode()
#: Whether the default mode runs on Numba, which has no float16 (PyTensor 3.x).
DEFAULT_IS_NUMBA = "numba" in type(pytensor.compile.mode.get_mode(DEFAULT).linker).__module__


def run_steps(updates, n_steps, mode=FAST, inputs=(), feed=None):
    """Compile ``updates`` and run ``n_steps``; ``feed(k)`` gives the inputs of step ``k``."""
    fn = pytensor.function(list(inputs), [], updates=updates, mode=mode)
    for k in range(n_steps):
        fn(*(feed(k) if feed else ()))
    return fn


SHAPES = [(), (1,), (3,), (2, 3)]


def random_problem(seed, dtype, shapes=SHAPES, n_steps=20):
    """Initial parameters of ``shapes`` and ``n_steps`` lists of gradients, normal draws."""
    rng = np.random.default_rng(seed)
    p0 = [rng.normal(size=s).astype(dtype) for s in shapes]
    grads = [[rng.normal(size=s).astype(dtype) for s in shapes] for _ in range(n_steps)]
    return p0, grads


def run_trajectory(factory, p0, grads, mode=FAST, after_step=None):
    """The parameter values after every step of ``factory(gradient inputs, params)``.

    Returns (list over steps of lists of arrays, the updates); ``after_step(updates)``
    runs after each step (e.g. to record some state).
    """
    params = [pytensor.shared(p.copy(), name=f"p{i}") for i, p in enumerate(p0)]
    inputs = [pt.tensor(f"g{i}", dtype=p.dtype, shape=p.shape) for i, p in enumerate(p0)]
    updates = factory(inputs, params)
    fn = pytensor.function(inputs, [], updates=updates, mode=mode)
    out = []
    for g in grads:
        fn(*g)
        out.append([p.get_value().copy() for p in params])
        if after_step is not None:
            after_step(updates)
    return out, updates


def assert_float32_kept(updates, trajectory):
    """Every update and the final parameters are float32, except the int64 step counter
    and the float64 record of a non-constant learning rate."""
    for var, new in updates.items():
        if var.name.endswith(("step", ".learning_rate")):
            continue
        assert var.dtype == "float32" and new.dtype == "float32", var.name
    assert all(x.dtype == np.float32 and np.all(np.isfinite(x)) for x in trajectory[-1])


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


# -- the oracle errors the tests measured, printed at the end of the run ---------------
_ORACLE_ERRORS: list = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _ORACLE_ERRORS.extend(value for key, value in report.user_properties if key == "oracle_error")


def pytest_terminal_summary(terminalreporter):
    if not _ORACLE_ERRORS:
        return
    merged: dict = {}
    for label, worst in _ORACLE_ERRORS:  # one line per label: the largest error per dtype
        for dtype, err in worst.items():
            merged.setdefault(label, {})[dtype] = max(err, merged.get(label, {}).get(dtype, err))
    terminalreporter.section("largest relative error against the oracle, over all steps")
    for label, worst in sorted(merged.items()):
        figures = "  ".join(f"{dtype} {err:.3g}" for dtype, err in sorted(worst.items()))
        terminalreporter.write_line(f"{label:34s} {figures}")


def _plain(value):
    """``value`` with NumPy scalars as Python numbers: pytest-xdist's workers send reports with
    execnet, which cannot serialize ``numpy.float64`` (a recorded property of one broke a whole run)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    report.user_properties = [(key, _plain(value)) for key, value in report.user_properties]
