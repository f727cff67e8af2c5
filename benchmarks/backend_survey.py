"""Which optimizer runs on which PyTensor backend, with FAST_COMPILE's numbers.

Usage::

    python benchmarks/backend_survey.py --table     # every case, dtype and installed backend, then the table
    python benchmarks/backend_survey.py --backends PYTORCH,MLX --cases adam,sgd --dtypes float64

Each cell compiles ONE optimizer (or one option on Adam) for one dtype on one
backend, so that a failure hides nothing else; it runs STEPS steps on a 2 x 3
parameter with random gradients and compares every updated shared variable
(parameter and state) with the FAST_COMPILE run of the same graph (RTOL, ATOL).
Where a backend fails, :func:`node_faults` names what it gets wrong: every node
of the rewritten graph is converted and run on its own, so all the Ops at fault
are listed, not just the first one. ``--table`` prints the reST tables of
docs/backends.rst (``tests/test_backends.py`` checks them). A full run takes
6 to 10 minutes on a warm compile cache (2 cores), PyTorch (torch.compile) the longest.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np
import pytensor
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.basic import Variable
from pytensor.tensor.elemwise import Elemwise

import symupdates

#: The backends: the mode that selects each one and the package it needs ("C" is ``mode="CVM"``).
BACKENDS = {
    "C": ("CVM", None),
    "NUMBA": ("NUMBA", "numba"),
    "JAX": ("JAX", "jax"),
    "PYTORCH": ("PYTORCH", "torch"),
    "MLX": ("MLX", "mlx.core"),
}
#: The backends :func:`node_faults` checks node by node, with the module of their ``<backend>_funcify``:
#: their conversions run eagerly. (Numba would compile every node, and crashes on float16 arrays;
#: a Numba or JAX cell that fails shows the compiler's message.)
DISPATCH = {"PYTORCH": "pytensor.link.pytorch.dispatch", "MLX": "pytensor.link.mlx.dispatch"}
DTYPES = ("float64", "float32", "float16")
STEPS = 20
#: FAST_COMPILE's numbers within these (float16 has 11 bits, and fusing backends round less often than NumPy).
RTOL = {"float64": 1e-10, "float32": 1e-5, "float16": 1e-2}
ATOL = {"float64": 1e-12, "float32": 1e-6, "float16": 1e-3}

#: The options checked on Adam, by label: a maker of the optimizer factory.
OPTION_CASES: dict[str, Callable] = {
    "adam weight_decay": lambda: symupdates.adam(weight_decay=0.01, decoupled_weight_decay=0.01),
    "adam clip_global_norm": lambda: symupdates.adam(clip_global_norm=0.5, clip_norm=0.3),
    "adam clip_gradient": lambda: symupdates.adam(clip_gradient=0.5),
    "adam skip_nonfinite": lambda: symupdates.adam(skip_nonfinite=True),  # one gradient is infinite (build)
    "adam multi_precision": lambda: symupdates.adam(multi_precision=True),  # float16 only (survey)
    "adam schedule": lambda: symupdates.adam(learning_rate=symupdates.schedules.warmup_cosine(0.0, 1e-2, 5, 20)),
    "lookahead(adam)": lambda: symupdates.lookahead(symupdates.adam(), sync_period=3),
    "ema_params(adam)": lambda: symupdates.ema_params(symupdates.adam(), 0.9),
}


def factory(case: str) -> Callable:
    """The optimizer factory of a case: a name of ``symupdates.available()`` or a key of OPTION_CASES."""
    return OPTION_CASES[case]() if case in OPTION_CASES else symupdates.get(case)


def cases() -> list[str]:
    """The rows of the table: every optimizer of ``symupdates.available()``, then the options."""
    return list(symupdates.available()) + list(OPTION_CASES)


def installed(backend: str) -> bool:
    """Whether PyTensor has the backend's mode and its package imports."""
    mode, package = BACKENDS[backend]
    try:
        get_mode(mode)
        return package is None or importlib.util.find_spec(package.split(".")[0]) is not None
    except (KeyError, ValueError):
        return False


@dataclasses.dataclass
class Problem:
    """One optimizer on a 2 x 3 parameter, its gradient an input fed from ``gradients`` (one per step)."""

    updates: OrderedDict
    gradient: Variable
    gradients: np.ndarray
    initial: list[np.ndarray]  # the values of ``tracked`` before the first step

    @property
    def tracked(self) -> list:
        """The shared variables the step updates: the parameter and the optimizer's state."""
        return list(self.updates)


def build(case: str, dtype: str, optimizer: Callable | None = None) -> Problem:
    """``case`` (or ``optimizer``, a factory) on a fresh parameter of ``dtype``.

    The gradient of step 7 is infinite for ``skip_nonfinite``.
    """
    rng = np.random.default_rng(7)
    W = pytensor.shared(rng.normal(size=(2, 3)).astype(dtype), name="W")
    gradient = pt.tensor("g", dtype=dtype, shape=(2, 3))
    gradients = rng.normal(size=(STEPS, 2, 3)).astype(dtype)
    if "skip_nonfinite" in case:
        gradients[7, 0, 1] = np.inf
    updates = (optimizer or factory(case))([gradient], [W])
    return Problem(updates, gradient, gradients, [np.copy(var.get_value()) for var in updates])


def run(problems: list[Problem], mode) -> list[list[np.ndarray]]:
    """Compile ONE function stepping every problem in ``mode``, run STEPS steps, return each one's values."""
    updates = OrderedDict()
    for problem in problems:
        updates.update(problem.updates)
    fn = pytensor.function([p.gradient for p in problems], [], updates=updates, mode=mode)
    for k in range(STEPS):
        fn(*(p.gradients[k] for p in problems))
    return [[np.asarray(var.get_value()) for var in p.tracked] for p in problems]


def _node_name(node) -> str:
    scalar = getattr(node.op, "scalar_op", None)
    return f"{type(node.op).__name__}{{{type(scalar).__name__}}}" if scalar is not None else str(node.op)


def _backend_api(backend: str) -> tuple[Callable, Callable, Callable]:
    """(funcify, typify, to_numpy) of a JIT backend."""
    module = importlib.import_module(DISPATCH[backend])
    prefix = backend.lower()
    to_numpy = {"PYTORCH": lambda x: x.detach().cpu().numpy()}.get(backend, np.asarray)
    return getattr(module, f"{prefix}_funcify"), getattr(module, f"{prefix}_typify"), to_numpy


def _array_type(backend: str) -> tuple[type, ...]:
    if backend == "PYTORCH":
        import torch

        return (torch.Tensor,)
    import mlx.core as mx

    return (mx.array,)


def _close(value: np.ndarray, want: np.ndarray) -> bool:
    """Equal, or within 8 units in the last place of the largest value for floats (rounding, fused or not)."""
    if want.dtype.kind != "f":
        return bool(np.array_equal(value, want))
    scale = np.finfo(want.dtype).eps * 8 * (np.max(np.abs(want), initial=0, where=np.isfinite(want)) or 1)
    return bool(np.allclose(value, want, rtol=0, atol=scale, equal_nan=True))


class _Checker:
    """Runs single nodes on one backend, eagerly, against their Python implementation."""

    def __init__(self, backend: str, converted: dict[str, str]):
        self.funcify, self.typify, self.to_numpy = _backend_api(backend)
        self.arrays = _array_type(backend)
        # {dtype: what the backend's input conversion turns it into}; values are then not compared
        self.converted = converted

    def expected(self, node, inputs: list) -> list[np.ndarray]:
        storage = [[None] for _ in node.outputs]
        node.op.perform(node, [np.copy(x) for x in inputs], storage)
        return [np.asarray(cell[0]) for cell in storage]

    def faults(self, node, inputs: list, name: str = "") -> set[str]:
        """The faults of ``node`` run on ``inputs``; those of a Composite are looked for in its scalar graph."""
        name = name or _node_name(node)
        expected = self.expected(node, inputs)
        try:
            got = self.funcify(node.op, node=node, storage_map=None)(*(self.typify(x) for x in inputs))
        except Exception as error:  # noqa: BLE001 - each backend raises its own kind
            found = {f"{name}: no conversion ({type(error).__name__}: {str(error).splitlines()[0][:70]})"}
        else:
            found = self.compare(node, name, got if isinstance(got, tuple | list) else [got], expected)
        composite = getattr(node.op, "scalar_op", None)
        if found and isinstance(composite, ps.Composite):
            inner = self.inner_faults(composite, inputs)
            found = inner or found
        return found

    def compare(self, node, name: str, got: list, expected: list) -> set[str]:
        found = set()
        for out, value, want in zip(node.outputs, got, expected, strict=True):
            if isinstance(value, int) and not isinstance(value, bool) and out.type.ndim == 0 and "int" in out.dtype:
                continue  # a shape, as MLX gives it
            if not isinstance(value, self.arrays):
                found.add(f"{name}: returns a {type(value).__name__}, not an array")
                continue
            value = np.asarray(self.to_numpy(value))
            if self.converted.get(out.dtype) == value.dtype:
                continue
            if value.dtype != out.dtype or value.shape != want.shape:
                found.add(f"{name}: returns {value.dtype}{list(value.shape)} for {out.dtype}{list(want.shape)}")
            elif not self.converted and not _close(value, want):
                found.add(f"{name}: wrong values")
        return found

    def inner_faults(self, composite, inputs: list) -> set[str]:
        """Each scalar node of ``composite`` as an Elemwise on the (broadcasting) arrays it would see."""
        values = dict(zip(composite.fgraph.inputs, inputs, strict=True))
        found = set()
        for inner in composite.fgraph.toposort():
            args = [values[v] if v in values else np.asarray(v.data, v.dtype) for v in inner.inputs]
            node = Elemwise(inner.op).make_node(*(pt.as_tensor(np.asarray(a)) for a in args))
            label = f"Elemwise{{Composite}} > {type(inner.op).__name__}" + (f" of {len(args)}" if len(args) > 2 else "")
            found |= self.faults(node, args, label)
            values.update(zip(inner.outputs, self.expected(node, args)))
        return found


def node_faults(problem: Problem, backend: str) -> list[str]:
    """What ``backend`` gets wrong in the compiled graph of ``problem``: one line per Op and fault.

    The graph is rewritten as ``backend``'s mode rewrites it (and kept on the Python
    linker, so it always compiles). The dtypes of its inputs must survive the
    backend's input conversion; then each node is converted on its own and run
    eagerly (no JIT) on the values the Python implementation gives it, and must
    return arrays of the node's dtypes and shapes with NumPy's values. So every
    Op without a conversion is named, and also an Op whose conversion returns
    something else (e.g. a Python bool); in a fused ``Composite`` the scalar Op at fault.
    """
    if backend not in DISPATCH:
        return []
    rewrites = get_mode(BACKENDS[backend][0])._optimizer
    rewritten = pytensor.function([problem.gradient], [], updates=problem.updates, mode=Mode("py", rewrites))
    fgraph = rewritten.maker.fgraph
    values = {var: cell.data for var, cell in zip(fgraph.inputs, rewritten.input_storage, strict=True)}
    values[fgraph.inputs[0]] = problem.gradients[0]
    _, typify, to_numpy = _backend_api(backend)
    faults, converted = set(), {}
    inner = [
        v
        for n in fgraph.apply_nodes
        if isinstance(c := getattr(n.op, "scalar_op", None), ps.Composite)
        for v in c.fgraph.variables
    ]
    for dtype in sorted({v.dtype for v in [*fgraph.variables, *inner] if hasattr(v, "dtype")}):
        kept = str(np.asarray(to_numpy(typify(np.zeros(2, dtype)))).dtype)
        if kept != dtype:  # then every node computing in ``dtype`` returns ``kept``: one fault, not one per node
            converted[dtype] = kept
            faults.add(f"{dtype}: computed in {kept} ({backend.lower()}_typify converts {dtype} arrays to {kept})")
    checker = _Checker(backend, converted)
    for node in fgraph.toposort():
        inputs = [np.copy(values[v]) if v in values else v.data for v in node.inputs]
        faults |= checker.faults(node, inputs)
        values.update(zip(node.outputs, checker.expected(node, inputs)))
    return sorted(faults)


#: The faults that stop a graph from running (a reduction returning a narrower accumulator only costs bits),
#: named in the table; the others are listed by the script.
BLOCKING = ("no conversion", "not an array", "computed in")
#: The short names of the faults in the table: (regular expression on a fault or an error message, name).
CODES = (
    (r"^Elemwise\{Composite\} > (Add|Mul) of (\d+): no conversion", r"\1\2"),
    (r"^Elemwise\{Composite\} > (\w+)(?: of \d+)?: no conversion", r"\1"),
    (r"^Elemwise\{(\w+)\}: no conversion", r"\1"),
    (r"^Elemwise\{EQ\}: returns a bool", "Eq"),
    (r"^float64: computed in float32|returns float64 -> float32", "f64->f32"),
    (r"NotImplementedError: float16", "no-f16"),
)


def code(fault: str) -> str:
    """The short name of a fault (or of an error message) in the table."""
    for pattern, name in CODES:
        if match := re.search(pattern, fault):
            return match.expand(name)
    return fault.split(":")[0].replace(" ", "")


@dataclasses.dataclass
class Cell:
    """One case in one dtype on one backend."""

    case: str
    backend: str
    dtype: str
    status: str  # "ok", "differs" or "unsupported"
    error: float = float("nan")  # the largest normwise relative error against FAST_COMPILE
    faults: tuple[str, ...] = ()  # node_faults, or the error message
    seconds: float = 0.0  # compile + first call (torch.compile compiles at the first call)

    @property
    def codes(self) -> frozenset[str]:
        """The short names of what stops it (empty when it runs)."""
        if self.status == "differs":
            return frozenset({f"differs-{self.error:.0e}"})
        # float64 scalars computed in float32 (MLX) cost float32 parameters only bits
        precision = "float64: computed in" if self.dtype != "float64" else None
        blocking = [
            f for f in self.faults if any(k in f for k in BLOCKING) and not (precision and f.startswith(precision))
        ]
        blocking = blocking or list(self.faults[-1:])
        return frozenset(code(f) for f in blocking)

    def short(self) -> str:
        return f"ok {self.error:.1e}" if self.status == "ok" else " ".join(sorted(self.codes))


def relative_error(got: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """max over the variables of ``max |got - expected| / max |expected|``."""
    worst = 0.0
    for g, e in zip(got, expected, strict=True):
        scale = float(np.max(np.abs(e.astype("float64")))) or 1.0
        worst = max(worst, float(np.max(np.abs(g.astype("float64") - e.astype("float64")))) / scale)
    return worst


def check(case: str, dtype: str, backend: str, reference: list[np.ndarray]) -> Cell:
    """One cell: ``case`` in ``dtype`` on ``backend`` against ``reference`` (FAST_COMPILE's values)."""
    start = time.perf_counter()
    try:
        [got] = run([build(case, dtype)], BACKENDS[backend][0])
    except Exception as error:  # noqa: BLE001 - the survey records every failure
        seconds = time.perf_counter() - start
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        faults = tuple(node_faults(build(case, dtype), backend)) + (message,)
        return Cell(case, backend, dtype, "unsupported", faults=faults, seconds=seconds)
    cell = Cell(case, backend, dtype, "ok", relative_error(got, reference), seconds=time.perf_counter() - start)
    changed = sorted({f"{e.dtype} -> {g.dtype}" for g, e in zip(got, reference, strict=True) if g.dtype != e.dtype})
    if changed:
        cell.status, cell.faults = (
            "unsupported",
            (*node_faults(build(case, dtype), backend), "returns " + ", ".join(changed)),
        )
    elif not all(np.allclose(g, e, rtol=RTOL[dtype], atol=ATOL[dtype]) for g, e in zip(got, reference)):
        cell.status = "differs"
    return cell


def survey(names: Iterable[str], backends: Iterable[str], dtypes: Iterable[str] = DTYPES, log=None) -> list[Cell]:
    """Every cell of ``names`` x ``dtypes`` x ``backends`` (backends not installed are left out)."""
    backends = [b for b in backends if installed(b)]
    cells = []
    for case in names:
        for dtype in dtypes:
            if case == "adam multi_precision" and dtype != "float16":
                continue
            [reference] = run([build(case, dtype)], "FAST_COMPILE")
            for backend in backends:
                cells.append(check(case, dtype, backend, reference))
                if log:
                    log(cells[-1])
    return cells


def _dtypes(names) -> str:
    return " ".join(d.replace("float", "f") for d in names)


def format_cell(cells: list[Cell]) -> str:
    """The table's text for one case on one backend: ``f64 f32 f16``, ``f32; not f64 (Pow)``, ``none (Pow)``."""
    ok = [c.dtype for c in cells if c.status == "ok"]
    groups: dict[frozenset, list[str]] = {}
    for c in cells:
        if c.status != "ok":
            groups.setdefault(c.codes, []).append(c.dtype)
    if not groups:
        return _dtypes(ok)
    if not ok and len(groups) == 1:
        return f"none ({', '.join(sorted(next(iter(groups))))})"
    failed = [f"not {_dtypes(dtypes)} ({', '.join(sorted(codes))})" for codes, dtypes in groups.items()]
    return "; ".join([_dtypes(ok)] * bool(ok) + failed)


def parse_cell(text: str, dtypes: Iterable[str]) -> dict[str, frozenset]:
    """{dtype: frozenset of fault names (empty: it runs)} from a table cell (the inverse of format_cell)."""
    out: dict[str, frozenset] = {}
    for part in text.split("; "):
        if match := re.fullmatch(r"(?:not ([\w ]+)|none) \((.*)\)", part):
            codes = frozenset(match.group(2).split(", "))
            for d in (match.group(1) or _dtypes(dtypes)).split():
                out[d.replace("f", "float")] = codes
        else:
            out.update((d.replace("f", "float"), frozenset()) for d in part.split())
    return out


def table(cells: list[Cell]) -> str:
    """A reST table: one row per case, one column per backend (format_cell)."""
    backends = list(dict.fromkeys(c.backend for c in cells))
    rows: dict[str, dict[str, list[Cell]]] = {}
    for c in cells:
        rows.setdefault(c.case, {}).setdefault(c.backend, []).append(c)
    lines = [[case, *(format_cell(by.get(b, [])) for b in backends)] for case, by in rows.items()]
    header = ["optimizer", *backends]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    fmt = "  ".join(f"{{:{w}s}}" for w in widths)
    return "\n".join([rule, fmt.format(*header).rstrip(), rule, *(fmt.format(*r).rstrip() for r in lines), rule])


def parse_table(text: str) -> dict[str, dict[str, str]]:
    """{case: {backend: cell}} from the first reST simple table in ``text`` (the inverse of :func:`table`)."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line))
    spans = [m.span() for m in re.finditer(r"=+", lines[first])]

    def fields(line: str) -> list[str]:
        return [line[a : b if k < len(spans) - 1 else None].strip() for k, (a, b) in enumerate(spans)]

    header = fields(lines[first + 1])
    rows = {}
    for line in lines[first + 3 :]:
        if line.startswith("="):
            break
        case, *cells = fields(line)
        rows[case] = dict(zip(header[1:], cells, strict=True))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated names (default: every optimizer and option)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--table", action="store_true", help="also print the condensed reST table")
    args = parser.parse_args()
    names = [n for n in args.cases.split(",") if n] or cases()
    print(f"PyTensor {pytensor.__version__}", flush=True)

    def log(c: Cell) -> None:
        print(f"{c.case:22s} {c.backend:8s} {c.dtype:8s} {c.seconds:6.1f}s  {c.short()}", flush=True)
        for fault in c.faults:
            print(f"{'':50s}{fault}", flush=True)

    cells = survey(names, args.backends.split(","), args.dtypes.split(","), log=log)
    if args.table:
        print(table(cells))


if __name__ == "__main__":
    main()
