r"""The update math of an update set, printed from its graph.

:func:`explain` reads the graph an optimizer built, not a template: every
option (weight decay, clipping, schedules, learning-rate multipliers,
``maximize``, the switch of ``skip_nonfinite``) appears where it acts. The
result, an :class:`Explanation`, is a list of equations, printed as plain
text (one NumPy expression per line) and as LaTeX.

Conventions
-----------
* **Every right-hand side reads the values before the step.** ``m_w`` is the
  state before the step; its new value is called ``m_w_new`` (``m_{w}'`` in
  LaTeX) and is defined on an earlier line where another update uses it (Adam's
  new moments come before the parameter's update, which reads them).
* Names: parameters by their name (made an identifier), the gradient of ``w``
  ``g_w``, state by role and parameter (``m_w``, ``v_w``; state shared by all
  parameters by its role, e.g. ``step``), hyper-parameters by the transform
  field they came from (``learning_rate``, ``beta1``, ``epsilon``...; an option
  by its name, ``clip_global_norm``; a schedule's value ``learning_rate_t``).
* ``t = step + 1`` and the per-step scalars the build shares between parameters
  (bias corrections, scheduled values) get their own line, printed once before
  first use; so does any other sub-expression used more than once (``e1``, ``e2``...).
* Casts, broadcasts and shape assertions print as their input: the text is the
  math, evaluated in whatever precision it is given. Functions are NumPy's of
  the same name (``sqrt``, ``where``, ``sum``, ``maximum``...), so the text runs
  as Python with NumPy's names in scope. An operation without a NumPy
  spelling prints as ``<op>(arguments)``.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> import symupdates as su
>>> w = pytensor.shared(np.zeros(3), name="w")
>>> print(su.momentum([pt.vector("g")], [w], learning_rate=0.1).explain())
w_new = momentum * velocity_w + w - learning_rate * g_w
velocity_w_new = w_new - w

PyMC's and Lasagne's momentum moves the parameter first and keeps the step
taken as its velocity: the new velocity reads the new parameter.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from pytensor.graph.basic import Constant, Variable

if TYPE_CHECKING:
    from symupdates.core.state import Updates

__all__ = ["explain", "Explanation", "Equation", "Symbol", "Number", "Call", "optimizer_math_rst"]


# -- the printed expression --------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Symbol:
    """A name in an equation: ``name`` is its Python identifier, ``latex`` its LaTeX."""

    name: str
    latex: str


@dataclasses.dataclass(frozen=True)
class Number:
    """A constant: a Python ``int``, ``float`` or ``bool`` (``None`` for an open end of a slice)."""

    value: int | float | bool | None


@dataclasses.dataclass(frozen=True)
class Call:
    """An operation: ``op`` is an operator (``"+"``, ``"**"``, ``"neg"``, ``"[]"``...) or a NumPy function name."""

    op: str
    args: tuple = ()
    keywords: tuple = ()  # ((name, Python value), ...), e.g. (("axis", (0,)),)


Expr = Symbol | Number | Call


@dataclasses.dataclass(frozen=True)
class Equation:
    """``lhs = rhs``; ``target`` is the shared variable whose new value ``lhs`` is (``None`` for a shared scalar)."""

    lhs: Symbol
    rhs: Expr
    target: Variable | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Explanation:
    """The update math of an update set (see :func:`explain`).

    Attributes
    ----------
    equations : tuple of Equation
        In the order they compute: each right-hand side uses only the values
        before the step and names defined on earlier lines.
    symbols : dict
        {identifier: what it stands for}, for every name in the equations.
    inputs : dict
        {identifier: graph variable} for the names the equations read: parameters,
        state, gradients, hyper-parameters. Giving each a value and running
        :attr:`text` computes the new values.
    """

    equations: tuple
    symbols: Mapping
    inputs: Mapping

    @property
    def text(self) -> str:
        """One ``name = expression`` line per equation, valid Python with NumPy's functions."""
        return "\n".join(f"{eq.lhs.name} = {_text(eq.rhs)[0]}" for eq in self.equations)

    @property
    def latex(self) -> str:
        r"""An ``aligned`` block, one line per equation."""
        return "\\begin{aligned}\n" + self.latex_lines() + "\n\\end{aligned}"

    def latex_lines(self) -> str:
        r"""The lines of :attr:`latex` without the ``aligned`` environment (``&=`` and ``\\``)."""
        return " \\\\\n".join(f"{eq.lhs.latex} &= {_latex(eq.rhs)[0]}" for eq in self.equations)

    def _repr_latex_(self) -> str:
        return f"$${self.latex}$$"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


# -- rendering: precedences of Python's grammar --------------------------------------------
_ATOM, _POW, _UNARY, _MUL, _ADD, _CMP, _AND, _OR = 100, 90, 80, 70, 60, 50, 45, 44
_INFIX = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "//": _MUL, "%": _MUL, "**": _POW}
_COMPARE = {"<": "<", ">": ">", "<=": r"\le", ">=": r"\ge", "==": "=", "!=": r"\ne"}
#: Operands of these need no parentheses at the same precedence on the right (mathematically associative).
_RIGHT_OK = {"+": {"+", "-"}, "*": {"*", "/"}}


def _wrap(part: tuple, need: int, strict: bool = False, *, first: bool = True, tex: bool = False) -> str:
    """``part = (text, precedence)`` in parentheses if it binds less than ``need`` (or as much, if ``strict``),
    or if it is not the first operand and starts with a minus sign."""
    text, prec = part
    low = prec <= need if strict else prec < need
    if low or (not first and text.startswith("-")):
        return rf"\left({text}\right)" if tex else f"({text})"
    return text


def _text(e: Expr) -> tuple[str, int]:
    """``(Python text, precedence)`` of ``e``."""
    if isinstance(e, Symbol):
        return e.name, _ATOM
    if isinstance(e, Number):
        text = repr(e.value)
        return text, _UNARY if text.startswith("-") else _ATOM
    args = [_text(a) for a in e.args]
    op = e.op
    if op in _INFIX:
        prec = _INFIX[op]
        if op == "**":
            return f"{_wrap(args[0], prec, True)} ** {_wrap(args[1], prec, first=False)}", prec
        out = _wrap(args[0], prec)
        for a, sub in zip(args[1:], e.args[1:]):
            same_ok = isinstance(sub, Call) and sub.op in _RIGHT_OK.get(op, ())
            out += f" {op} {_wrap(a, prec, strict=not same_ok, first=False)}"
        return out, prec
    if op in _COMPARE:
        return f"{_wrap(args[0], _CMP, True)} {op} {_wrap(args[1], _CMP, True, first=False)}", _CMP
    if op == "neg":
        return f"-{_wrap(args[0], _UNARY, first=False)}", _UNARY
    if op == "[]":
        return f"{_wrap(args[0], _ATOM)}[{', '.join(a[0] for a in args[1:])}]", _ATOM
    if op == ":":
        return ":".join("" if isinstance(a, Number) and a.value is None else t for a, (t, _) in zip(e.args, args)), 0
    if op == "list":
        return "[" + ", ".join(a[0] for a in args) + "]", _ATOM
    if op == "tuple":
        return "(" + ", ".join(a[0] for a in args) + ("," if len(args) == 1 else "") + ")", _ATOM
    keywords = [f"{k}={v!r}" for k, v in e.keywords]
    return f"{op}({', '.join([a[0] for a in args] + keywords)})", _ATOM


def _tex_word(identifier: str) -> str:
    """LaTeX for an identifier: Greek for the usual hyper-parameter names, else upright."""
    if identifier in _GREEK:
        return _GREEK[identifier]
    if re.fullmatch(r"[A-Za-z]", identifier):
        return identifier
    digits = re.fullmatch(r"([A-Za-z])(\d+)", identifier)
    if digits:
        return f"{digits.group(1)}_{{{digits.group(2)}}}"
    return r"\mathrm{" + identifier.replace("_", r"\_") + "}"


_GREEK = {
    "learning_rate": r"\eta",
    "lr": r"\eta",
    "beta1": r"\beta_1",
    "b1": r"\beta_1",
    "beta2": r"\beta_2",
    "b2": r"\beta_2",
    "beta3": r"\beta_3",
    "epsilon": r"\epsilon",
    "eps": r"\epsilon",
    "eps_root": r"\epsilon_{\mathrm{root}}",
    "rho": r"\rho",
    "momentum": r"\mu",
    "weight_decay": r"\lambda",
    "lambd": r"\lambda",
    "alpha": r"\alpha",
    "gamma": r"\gamma",
    "delta": r"\delta",
    "tau": r"\tau",
}

_TEX_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "maximum": r"\max", "minimum": r"\min", "max": r"\max"}
_TEX_FUNCTIONS |= {"min": r"\min", "tanh": r"\tanh", "sin": r"\sin", "cos": r"\cos"}
_TEX_LOGIC = {"logical_and": (r"\land", _AND), "logical_or": (r"\lor", _OR)}


def _tex_number(value) -> str:
    if isinstance(value, bool) or value is None:
        return rf"\mathrm{{{value}}}"
    if isinstance(value, float) and not np.isfinite(value):
        return r"\mathrm{NaN}" if np.isnan(value) else ("-" if value < 0 else "") + r"\infty"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        return power if mantissa in ("1", "1.0") else f"{mantissa} \\cdot {power}"
    return text


def _tex_wrap(part: tuple, need: int, strict: bool = False, *, first: bool = True) -> str:
    return _wrap(part, need, strict, first=first, tex=True)


def _factors(e: Expr, numerator: list, denominator: list) -> None:
    """Sort the factors of a chain of ``*`` and ``/`` into ``numerator`` and ``denominator``."""
    if isinstance(e, Call) and e.op == "*":
        for a in e.args:
            _factors(a, numerator, denominator)
    elif isinstance(e, Call) and e.op == "/":
        _factors(e.args[0], numerator, denominator)
        _factors(e.args[1], denominator, numerator)
    elif not (isinstance(e, Number) and e.value == 1 and not isinstance(e.value, bool)):
        numerator.append(e)


def _tex_product(factors: list) -> tuple[str, int]:
    if not factors:
        return "1", _ATOM
    if len(factors) == 1:
        return _latex(factors[0])
    out = _tex_wrap(_latex(factors[0]), _MUL)
    for f in factors[1:]:
        factor = _tex_wrap(_latex(f), _MUL, first=False)
        out += (r" \cdot " if factor[:1].isdigit() else r" \, ") + factor
    return out, _MUL


def _tex_call(name: str, args: list) -> str:
    return rf"{name}\left({', '.join(a[0] for a in args)}\right)"


def _latex(e: Expr) -> tuple[str, int]:
    """``(LaTeX, precedence)`` of ``e``."""
    if isinstance(e, Symbol):
        return e.latex, _ATOM
    if isinstance(e, Number):
        text = _tex_number(e.value)
        return text, _UNARY if text.startswith("-") else _ATOM
    args = [_latex(a) for a in e.args]
    op = e.op
    if op in ("+", "-"):
        out = _tex_wrap(args[0], _ADD)
        for a in args[1:]:
            out += f" {op} {_tex_wrap(a, _ADD, strict=op == '-', first=False)}"
        return out, _ADD
    if op in ("*", "/"):  # one fraction of two products
        numerator: list = []
        denominator: list = []
        _factors(e, numerator, denominator)
        top = _tex_product(numerator)
        if not denominator:
            return top
        return rf"\frac{{{top[0]}}}{{{_tex_product(denominator)[0]}}}", _ATOM
    if op == "//":
        return rf"\left\lfloor \frac{{{args[0][0]}}}{{{args[1][0]}}} \right\rfloor", _ATOM
    if op == "%":
        return rf"{_tex_wrap(args[0], _MUL)} \bmod {_tex_wrap(args[1], _MUL, True, first=False)}", _MUL
    if op == "**":
        base = e.args[0]
        plain = isinstance(base, Symbol) or (isinstance(base, Number) and args[0][1] == _ATOM)
        plain = plain or (isinstance(base, Call) and base.op in ("abs", "[]"))
        base = args[0][0] if plain else rf"\left({args[0][0]}\right)"
        return f"{{{base}}}^{{{args[1][0]}}}", _POW
    if op in _COMPARE:
        return f"{_tex_wrap(args[0], _CMP, True)} {_COMPARE[op]} {_tex_wrap(args[1], _CMP, True)}", _CMP
    if op in _TEX_LOGIC:
        symbol, prec = _TEX_LOGIC[op]
        return f" {symbol} ".join(_tex_wrap(a, prec, True) for a in args), prec
    if op == "logical_not":
        return rf"\lnot {_tex_wrap(args[0], _UNARY)}", _UNARY
    if op == "neg":
        return f"-{_tex_wrap(args[0], _UNARY, first=False)}", _UNARY
    if op == "sqrt":
        return rf"\sqrt{{{args[0][0]}}}", _ATOM
    if op == "abs":
        return rf"\left|{args[0][0]}\right|", _ATOM
    if op == "where":
        cond, yes, no = (x[0] for x in args)
        return rf"\begin{{cases}} {yes} & \text{{if }} {cond} \\ {no} & \text{{otherwise}} \end{{cases}}", _ATOM
    if op in ("sum", "prod") and not e.keywords:
        big = r"\sum" if op == "sum" else r"\prod"
        return (f"{big} {args[0][0]}" if args[0][1] >= _POW else rf"{big}\left({args[0][0]}\right)"), _ADD
    if op in ("zeros_like", "ones_like"):
        return ("0" if op == "zeros_like" else "1"), _ATOM
    if op in ("full_like", "full"):
        return args[1][0], args[1][1]
    if op == "array" and len(args) == 1:
        return args[0]
    if op == "[]":
        return f"{_tex_wrap(args[0], _ATOM)}\\left[{', '.join(a[0] for a in args[1:])}\\right]", _ATOM
    if op == ":":
        return ":".join("" if isinstance(a, Number) and a.value is None else t for a, (t, _) in zip(e.args, args)), 0
    if op in ("list", "tuple"):
        return rf"\left[{', '.join(a[0] for a in args)}\right]", _ATOM
    keywords = [rf"\mathrm{{{k}}}={v!r}" for k, v in e.keywords]
    if op in _TEX_FUNCTIONS:
        return _tex_call(_TEX_FUNCTIONS[op], args + [(k, _ATOM) for k in keywords]), _ATOM
    name = op.replace("_", r"\_").replace("{", r"\{").replace("}", r"\}")
    name = rf"\mathtt{{{name}}}" if op.startswith("<") else rf"\operatorname{{{name}}}"
    return _tex_call(name, args + [(k, _ATOM) for k in keywords]), _ATOM


# -- reading the graph ------------------------------------------------------------------------
_SCALAR_OPS = {
    "Add": "+",
    "Sub": "-",
    "Mul": "*",
    "TrueDiv": "/",
    "IntDiv": "//",
    "Mod": "%",
    "Pow": "**",
    "Neg": "neg",
    "LT": "<",
    "GT": ">",
    "LE": "<=",
    "GE": ">=",
    "EQ": "==",
    "NEQ": "!=",
    "Switch": "where",
    "IsNan": "isnan",
    "IsInf": "isinf",
    "RoundHalfToEven": "round",
    "Log1p": "log1p",
    "Expm1": "expm1",
}
#: Scalar ops spelled as the lower-cased class name in NumPy.
_SAME_NAME = {"Sqrt", "Abs", "Sign", "Exp", "Exp2", "Log", "Log2", "Log10", "Maximum", "Minimum", "Clip", "Floor"}
_SAME_NAME |= {"Ceil", "Tanh", "Sinh", "Cosh", "Sin", "Cos", "Tan", "Arctan", "Arcsin", "Arccos"}
_LOGICAL = {
    "AND": ("logical_and", "bitwise_and"),
    "OR": ("logical_or", "bitwise_or"),
    "XOR": ("logical_xor", "bitwise_xor"),
}
_LOGICAL |= {"Invert": ("logical_not", "invert")}
_REDUCTIONS = {"Add": "sum", "Mul": "prod", "Maximum": "max", "Minimum": "min", "OR": "any", "AND": "all"}
#: Ops that only change a variable's type, shape promise or view: printed as their first input.
_PASS_THROUGH = {"SpecifyShape", "TensorFromScalar", "ScalarFromTensor", "Unbroadcast", "ViewOp", "DeepCopyOp"}
#: Names the text uses for NumPy's functions and constants: never identifiers of symbols.
_RESERVED = (
    set(keyword.kwlist) | {"inf", "nan", "True", "False", "None"} | {np.dtype(c).name for c in "?bhilqBHILQefdgFD"}
)
_RESERVED |= {name.lower() for name in _SAME_NAME} | set(_SCALAR_OPS.values()) | set(_REDUCTIONS.values())
_RESERVED |= {n for pair in _LOGICAL.values() for n in pair} | {"array", "shape", "reshape", "dot", "transpose"}
_RESERVED |= {"squeeze", "expand_dims", "zeros_like", "ones_like", "full_like", "full", "concatenate", "bool_"}


def _aligned(op) -> bool:
    """Whether a DimShuffle only adds leading axes or drops leading ones (what NumPy broadcasting does)."""
    kept = [k for k in op.new_order if k != "x"]
    n_new = len(op.new_order) - len(kept)
    return list(op.new_order[:n_new]) == ["x"] * n_new and kept == list(range(op.input_ndim - len(kept), op.input_ndim))


def _pass_through(var: Variable) -> Variable | None:
    """The input ``var`` prints as, if its op only casts, broadcasts or re-types; else ``None``."""
    node = var.owner
    if node is None:
        return None
    op, name = node.op, type(node.op).__name__
    if name == "Elemwise":
        scalar = type(op.scalar_op).__name__
        if scalar == "Identity":
            return node.inputs[0]
        if scalar == "Cast":
            kind, was = np.dtype(var.type.dtype).kind, np.dtype(node.inputs[0].type.dtype).kind
            return node.inputs[0] if kind in "fc" or (kind in "iu" and was in "iub") or kind == was else None
        return None
    if name == "DimShuffle":
        return node.inputs[0] if _aligned(op) else None
    if name == "Alloc":  # a broadcast; of a constant to a shape, `full(shape, value)`
        return None if isinstance(node.inputs[0], Constant) and len(node.inputs) > 1 else node.inputs[0]
    return node.inputs[0] if name in _PASS_THROUGH else None


def _core(var: Variable, stop=()) -> Variable:
    """``var`` without the casts, broadcasts and type assertions around it, down to a variable in ``stop``."""
    while var not in stop and (inner := _pass_through(var)) is not None:
        var = inner
    return var


def _python_value(x):
    x = np.asarray(x)[()]
    if x.dtype.kind == "b":
        return bool(x)
    if x.dtype.kind in "iu":
        return int(x)
    if x.dtype == np.float64 or x.dtype.kind != "f":
        return float(x)
    return float(np.format_float_scientific(x, unique=True))  # the shortest text that round-trips in its dtype


def _constant(data) -> Expr:
    data = np.asarray(data)
    if data.ndim == 0 or (data.size and np.all(data == data.flat[0])):
        return Number(_python_value(data.flat[0] if data.ndim else data))
    if data.size <= 16:
        return Call("array", (_nested(data),))
    return Call(f"<constant {data.dtype} {data.shape}>")


def _nested(data) -> Expr:
    if data.ndim == 0:
        return Number(_python_value(data))
    return Call("list", tuple(_nested(row) for row in data))


def _identifier(name: str) -> str:
    ident = re.sub(r"\W+", "_", name).strip("_") or "x"
    if ident[0].isdigit():
        ident = "p" + ident
    return ident + "_" if ident in _RESERVED else ident


# -- naming ---------------------------------------------------------------------------------
@dataclasses.dataclass
class _Leaf:
    """A name the equations read: candidates from short to specific, a priority (lower keeps its name)."""

    candidates: list
    priority: int
    description: str
    variable: Variable
    latex: str | None = None  # its LaTeX under its first candidate (else that of the identifier)


def _resolve(leaves: list, taken: set) -> list[str]:
    """Unique identifiers for ``leaves``: on a clash the lower priorities move to their next candidate."""
    level = [0] * len(leaves)

    def current(i):
        c = leaves[i].candidates
        return c[min(level[i], len(c) - 1)]

    while True:  # levels only rise, and are bounded: this ends
        groups = defaultdict(list)
        for i in range(len(leaves)):
            groups[current(i)].append(i)
        moved = False
        for name, members in groups.items():
            if len(members) < 2 and name not in taken:
                continue
            best = min(leaves[i].priority for i in members)
            keep = [i for i in members if leaves[i].priority == best]
            bumped = [i for i in members if i not in keep or len(keep) > 1 or name in taken]
            for i in bumped:
                if level[i] < len(leaves[i].candidates) - 1:
                    level[i] += 1
                    moved = True
        if not moved:
            break
    names: list[str] = []
    for i in range(len(leaves)):
        names.append(_fresh(current(i), taken))
    return names


def _fresh(base: str, taken: set) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not ``taken``; the name is then taken."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


class _Reader:
    """Turns an update set into equations (see :func:`explain`)."""

    def __init__(self, updates: Updates):
        self.updates = updates
        self.taken: set = set(_RESERVED)
        self.symbol: dict = {}  # core variable -> Symbol of a leaf
        self.symbols: dict = {}  # identifier -> description
        self.inputs: dict = {}  # identifier -> variable
        self.lines: list = []
        self._name_leaves()
        self._analyse()

    # leaves --------------------------------------------------------------------------------
    def _name_leaves(self) -> None:
        updates = self.updates
        params = list(updates.params)
        param_leaves = [
            _Leaf(
                [_identifier(p.name or f"param{i}")],
                0,
                f"the parameter {p.name or i!r}",
                p,
                _tex_word(_identifier(p.name or f"param{i}")),
            )
            for i, p in enumerate(params)
        ]
        names = _resolve(param_leaves, self.taken)
        self._add(param_leaves, names)
        tag = {id(p): self.symbol[p] for p in params}
        leaves: list[_Leaf] = []
        if len(updates.grads) == len(params):
            for p, g in zip(params, updates.grads):
                sub = tag[id(p)]
                leaves.append(_Leaf([f"g_{sub.name}"], 1, f"the gradient for {p.name!r}", g, _sub_tex("g", sub.latex)))
        for e in updates._entries:
            role = e.var.name.rsplit(".", 1)[-1] if e.var.name else "state"
            if e.param is None:
                candidates, tex = [_identifier(role)], _tex_word(_identifier(role))
                described = f"the {e.kind} {e.var.name!r}"
            else:
                sub = tag[id(params[e.param])]
                candidates, tex = [f"{_identifier(role)}_{sub.name}"], _sub_tex(_tex_word(_identifier(role)), sub.latex)
                described = f"the {e.kind} {e.var.name!r} of {params[e.param].name!r}"
            candidates.append(_identifier(e.var.name or role))
            leaves.append(_Leaf(candidates, 3, described, e.var, tex))
        known = {id(leaf.variable) for leaf in leaves} | {id(p) for p in params}
        for var in updates:
            if id(var) not in known:
                known.add(id(var))
                leaves.append(_Leaf([_identifier(var.name or "x")], 4, f"the variable {var.name!r}", var))
        self.named_nodes: dict = {}  # core -> (name, description) of the scalars the build named
        by_key: dict = {}
        for var, (name, described) in updates.symbols.items():
            core = _core(var)
            if core.owner is not None and name != "loss":  # the loss is read, not printed
                self.named_nodes.setdefault(core, (name, described))
                continue
            if id(core) in known or id(var) in known:
                continue
            core = var if name == "loss" else core
            known.add(id(core))
            # the same hyper-parameter in two dtypes, or in two groups, is one name
            key = (name, described) if isinstance(core, Constant) else core
            if key in by_key:
                by_key[key].append(core)
                continue
            by_key[key] = [core]
            leaves.append(_Leaf([_identifier(name)], 2, described, core))
        names = _resolve(leaves, self.taken)
        self._add(leaves, names)
        for cores in by_key.values():
            for core in cores[1:]:
                self.symbol[core] = self.symbol[cores[0]]

    def _add(self, leaves, names) -> None:
        for leaf, name in zip(leaves, names):
            tex = leaf.latex if leaf.latex is not None and name == leaf.candidates[0] else _tex_word(name)
            self.symbol[leaf.variable] = Symbol(name, tex)
            self.symbols[name] = leaf.description
            self.inputs[name] = leaf.variable

    def _root_symbol(self, var: Variable) -> Expr:
        """A root of the graph that no leaf names: a constant, or an input named on first use."""
        if isinstance(var, Constant):
            return _constant(var.data)
        if var not in self.symbol:
            name = _fresh(_identifier(var.name or "x"), self.taken)
            self.symbol[var] = Symbol(name, _tex_word(name))
            self.symbols[name] = f"the input {var.name!r}"
            self.inputs[name] = var
        return self.symbol[var]

    # the shape of the graph ------------------------------------------------------------
    def _analyse(self) -> None:
        """Which nodes get a line of their own: updates, named scalars, sub-expressions used twice."""
        self.roots = [(var, new, self._core(new)) for var, new in self.updates.items()]
        uses: Counter = Counter()
        seen: set = set()
        stack = [core for _, _, core in self.roots]
        for core in stack:
            uses[core] += 1
        while stack:
            var = stack.pop()
            if var in seen or var in self.symbol or var.owner is None:
                continue
            seen.add(var)
            for inp in var.owner.inputs:
                core = self._core(inp)
                uses[core] += 1
                stack.append(core)
        self.equation_of: dict = {}  # core -> index of the update it is the new value of
        for k, (_, _, core) in enumerate(self.roots):
            if core.owner is not None and core not in self.symbol and core not in self.named_nodes:
                self.equation_of.setdefault(core, k)
        self.shared = {
            v
            for v, n in uses.items()
            if n > 1
            and v.owner is not None
            and v not in self.symbol
            and v not in self.equation_of
            and not self._simple(v)
        }
        new_leaves = [
            _Leaf([f"{self.symbol[var].name}_new"], 0, f"the new value of {var.name!r}", var)
            for var, _, _ in self.roots
        ]
        self.new_symbol = [
            Symbol(name, self.symbol[var].latex + "'")
            for (var, _, _), name in zip(self.roots, _resolve(new_leaves, self.taken))
        ]
        for (var, _, _), sym in zip(self.roots, self.new_symbol):
            self.symbols[sym.name] = f"the new value of {var.name!r}"

    def _simple(self, var: Variable) -> bool:
        """One operation on leaves: cheaper to repeat than to name."""
        return all(self._core(i).owner is None or self._core(i) in self.symbol for i in var.owner.inputs)

    def _core(self, var: Variable) -> Variable:
        return _core(var, self.symbol)

    # equations -----------------------------------------------------------------------------
    def read(self) -> Explanation:
        self.done: set = set()  # the indices of the updates whose equation is written (or being written)
        self.written: dict = {}  # core -> Symbol of its line
        self.merged: dict = {}  # (name, text of right-hand side) -> Symbol
        self.n_shared = 0
        for k in range(len(self.roots)):
            self._equation(k)
        return Explanation(tuple(self.lines), dict(self.symbols), dict(self.inputs))

    def _equation(self, k: int) -> Symbol:
        if k not in self.done:
            self.done.add(k)
            var, new, core = self.roots[k]
            rhs = self._expr(new, own=k)
            self.lines.append(Equation(self.new_symbol[k], rhs, var))
        return self.new_symbol[k]

    def _expr(self, var: Variable, own: int | None = None) -> Expr:
        core = self._core(var)
        if core in self.symbol:
            return self.symbol[core]
        if core.owner is None:
            return self._root_symbol(core)
        k = self.equation_of.get(core)
        if k is not None and k != own:
            return self._equation(k)
        if core in self.named_nodes or core in self.shared:
            return self._line(core)
        return self._op(core)

    def _line(self, core: Variable) -> Symbol:
        """The name of a line of its own for ``core``, written before first use."""
        if core in self.written:
            return self.written[core]
        rhs = self._op(core)
        if core in self.named_nodes:
            name, described = self.named_nodes[core]
            key = (name, _text(rhs)[0])
            if key in self.merged:  # the same scalar in another dtype
                self.written[core] = self.merged[key]
                return self.merged[key]
            ident = _fresh(_identifier(name), self.taken)
            sym = self.merged[key] = Symbol(ident, _named_tex(name, ident))
        else:
            self.n_shared += 1
            ident = _fresh(f"e{self.n_shared}", self.taken)
            sym, described = Symbol(ident, _tex_word(ident)), "a sub-expression used more than once"
        self.symbols[ident] = described
        self.written[core] = sym
        self.lines.append(Equation(sym, rhs))
        return sym

    def _op(self, var: Variable) -> Expr:
        """The operation computing ``var``, its inputs read through :meth:`_expr`."""
        node = var.owner
        op, name = node.op, type(node.op).__name__
        inputs = node.inputs
        if name == "Elemwise":
            return self._elemwise(var)
        if name == "Alloc":
            return Call("full", (Call("tuple", tuple(self._expr(i) for i in inputs[1:])), self._expr(inputs[0])))
        if hasattr(op, "scalar_op") and hasattr(op, "axis"):  # a CAReduce: sum, max, any...
            fn = _REDUCTIONS.get(type(op.scalar_op).__name__, f"<{op}>")
            axis = op.axis
            whole = axis is None or sorted(axis) == list(range(inputs[0].ndim))
            return Call(fn, (self._expr(inputs[0]),), () if whole else (("axis", tuple(axis)),))
        if name == "DimShuffle":
            return self._dimshuffle(op, self._expr(inputs[0]))
        if name == "Subtensor":
            from pytensor.tensor.subtensor import indices_from_subtensor

            index = indices_from_subtensor(inputs[1:], op.idx_list)
            return Call("[]", (self._expr(inputs[0]), *(self._index(i) for i in index)))
        if name == "Shape":
            return Call("shape", (self._expr(inputs[0]),))
        if name == "Shape_i":
            return Call("[]", (Call("shape", (self._expr(inputs[0]),)), Number(int(op.i))))
        if name == "MakeVector":
            return Call("array", (Call("list", tuple(self._expr(i) for i in inputs)),))
        if name == "Reshape":
            return Call("reshape", (self._expr(inputs[0]), self._expr(inputs[1])))
        if name in ("Dot", "Dot22", "Dot22Scalar"):
            return Call("dot", tuple(self._expr(i) for i in inputs))
        if name in ("IncSubtensor", "SetSubtensor"):  # no NumPy expression sets elements: marked as such
            from pytensor.tensor.subtensor import indices_from_subtensor

            index = indices_from_subtensor(inputs[2:], op.idx_list)
            where = Call("[]", (self._expr(inputs[0]), *(self._index(i) for i in index)))
            fn = "<set_subtensor>" if op.set_instead_of_inc else "<inc_subtensor>"
            return Call(fn, (where, self._expr(inputs[1])))
        if name == "Join":
            return Call(
                "concatenate", (Call("list", tuple(self._expr(i) for i in inputs[1:])),), (("axis", _axis(inputs[0])),)
            )
        return Call(f"<{op}>", tuple(self._expr(i) for i in inputs))

    def _index(self, index) -> Expr:
        if isinstance(index, slice):
            parts = (index.start, index.stop) + (() if index.step is None else (index.step,))
            return Call(":", tuple(Number(None) if x is None else self._expr(x) for x in parts))
        return self._expr(index)

    def _elemwise(self, var: Variable) -> Expr:
        node = var.owner
        scalar = type(node.op.scalar_op).__name__
        args = tuple(self._expr(i) for i in node.inputs)
        if scalar in _SCALAR_OPS:
            return Call(_SCALAR_OPS[scalar], args)
        if scalar in _SAME_NAME:
            return Call(scalar.lower(), args)
        if scalar in _LOGICAL:
            logical, bitwise = _LOGICAL[scalar]
            return Call(logical if all(i.dtype == "bool" for i in node.inputs) else bitwise, args)
        if scalar == "Sqr":
            return Call("**", (args[0], Number(2)))
        if scalar == "Reciprocal":
            return Call("/", (Number(1), args[0]))
        if scalar == "Second":
            fill = args[1]
            if isinstance(fill, Number) and fill.value in (0, 1) and not isinstance(fill.value, bool):
                return Call("zeros_like" if fill.value == 0 else "ones_like", args[:1])
            return Call("full_like", args)
        if scalar == "Cast":  # one that rounds or truncates: NumPy's type of that name
            return Call("bool_" if var.type.dtype == "bool" else var.type.dtype, args)
        return Call(f"<{node.op}>", args)

    @staticmethod
    def _dimshuffle(op, x: Expr) -> Expr:
        """``squeeze``, ``transpose`` and ``expand_dims`` doing what the DimShuffle does."""
        kept = [k for k in op.new_order if k != "x"]
        dropped = [k for k in range(op.input_ndim) if k not in kept]
        if dropped:
            x = Call("squeeze", (x,), (("axis", tuple(dropped)),))
        order = [sorted(kept).index(k) for k in kept]
        if order != sorted(order):
            x = Call("transpose", (x, Call("tuple", tuple(Number(k) for k in order))))
        added = tuple(i for i, k in enumerate(op.new_order) if k == "x")
        return Call("expand_dims", (x,), (("axis", added),)) if added else x


def _axis(var: Variable):
    return int(var.data) if isinstance(var, Constant) else None


def _sub_tex(base: str, sub: str) -> str:
    """``base`` subscripted with ``sub`` (braced when ``base`` has a subscript of its own)."""
    return f"{{{base}}}_{{{sub}}}" if "_" in base else f"{base}_{{{sub}}}"


def _named_tex(name: str, ident: str) -> str:
    """LaTeX of a named scalar: a schedule's ``learning_rate_t`` is :math:`\\eta_t`."""
    if ident != _identifier(name):  # renamed to stay unique
        return _tex_word(ident)
    if name.endswith("_t") and name[:-2] in _GREEK:
        return _sub_tex(_GREEK[name[:-2]], "t")
    return _tex_word(ident)


def explain(updates: Updates) -> Explanation:
    """The update math of ``updates``, read from their graph.

    Parameters
    ----------
    updates : Updates
        What an optimizer (or :func:`~symupdates.partition`, :func:`~symupdates.merge`) returned.

    Returns
    -------
    Explanation
        One equation per updated variable (``{name}_new = ...``), and before first
        use one per shared scalar (``t``, bias corrections, scheduled values) and
        per sub-expression used more than once. All right-hand sides read the
        values *before* the step, plus names defined on earlier lines; see
        :mod:`symupdates.core.explain` for the naming. ``str()`` is plain text
        that runs as Python with NumPy's functions in scope; ``.latex`` is an
        ``aligned`` block.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> w = pytensor.shared(np.zeros(3), name="w")
    >>> print(su.sgd([pt.vector("g")], [w], learning_rate=0.1, weight_decay=0.01).explain())
    w_new = w - learning_rate * (g_w + weight_decay * w)
    """
    return _Reader(updates).read()


# -- the math of every optimizer, for docs/explain.rst -----------------------------------------------
def optimizer_math_rst() -> str:
    """The reST of ``docs/explain.rst``'s section showing :func:`explain` for every named optimizer.

    Each optimizer of :func:`symupdates.available` with its default
    hyper-parameters, on one float64 parameter ``w`` of shape (3,) and its gradient.
    """
    import pytensor
    import pytensor.tensor as pt

    import symupdates  # the catalogue sits above the core: imported when asked for

    lines: list[str] = []
    for name in symupdates.available():
        w = pytensor.shared(np.zeros(3), name="w")
        expl = explain(symupdates.get(name)([pt.vector("g", dtype="float64", shape=(3,))], [w]))
        title = f":func:`~symupdates.{name}`"
        lines += [title, "~" * len(title), "", ".. code-block:: text", ""]
        lines += ["   " + line for line in expl.text.splitlines()] + ["", ".. math::", ""]
        lines += ["   " + line for line in expl.latex_lines().splitlines()] + [""]
    return "\n".join(lines)
