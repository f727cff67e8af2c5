"""The update math printed by ``explain()``: equal to the graph's and to the docstrings' formulas.

The printed plain text is run as Python with NumPy's functions, on random
values of every name it reads (parameters, state, gradients, the step), and
compared with (a) each optimizer's docstring formula written here in NumPy and
(b) the compiled update itself, on the same values. The docstring cases compile
in the default mode, all in one function; the options and the random
hyper-parameters, which check the text against the graph (whatever the mode),
in FAST_COMPILE.
"""

from __future__ import annotations

import dataclasses
import doctest
import re
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant

import symupdates
from symupdates.core.explain import Call, Equation, Explanation, Number, Symbol, explain
from symupdates.core.state import merge
from tests.conftest import DEFAULT, FAST

NUMPY = {name: getattr(np, name) for name in dir(np) if not name.startswith("_")}
SHAPE = (4,)
TOL = 1e-12


# -- running the text and the graph -------------------------------------------------------------
def run_text(expl: Explanation, values: dict) -> dict:
    """{identifier of each new value: value}, from the plain text run with ``values``."""
    scope = {**NUMPY, **values}
    with np.errstate(all="ignore"):
        exec(expl.text, scope)  # the text is the test's input: plain Python over NumPy
    return {eq.lhs.name: np.asarray(scope[eq.lhs.name]) for eq in expl.equations if eq.target is not None}


def draw(expl: Explanation, updates, rng) -> dict:
    """Random values of every name the text reads (constants keep theirs); parameters and gradients normal,
    state in [0.1, 1) (second moments must be positive), counters small integers."""
    params = {id(p) for p in updates.params}
    values = {}
    for name, var in expl.inputs.items():
        if isinstance(var, Constant):
            values[name] = np.asarray(var.data)
        elif isinstance(var, SharedVariable):
            current = var.get_value()
            if current.dtype.kind in "iu":
                values[name] = np.asarray(rng.integers(0, 30), dtype=current.dtype)
            elif id(var) in params:
                values[name] = rng.normal(size=current.shape).astype(current.dtype)
            else:
                values[name] = rng.uniform(0.1, 1.0, size=current.shape).astype(current.dtype)
        else:
            values[name] = rng.normal(size=var.type.shape).astype(var.dtype)
    return values


def set_shared(expl: Explanation, values: dict) -> None:
    for name, var in expl.inputs.items():
        if isinstance(var, SharedVariable):
            var.set_value(values[name])


def new_values(expl: Explanation) -> dict:
    """{identifier of each new value: the value its shared variable holds}."""
    return {eq.lhs.name: eq.target.get_value() for eq in expl.equations if eq.target is not None}


def close(a, b, tol=TOL) -> float:
    """The largest error of ``a`` against ``b``, relative to ``max(1, |b|)``; NaN where both are NaN is 0."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"))
    both_nan = np.isnan(a) & np.isnan(b)
    err = np.where(both_nan, 0.0, np.abs(a - b) / np.maximum(1.0, np.abs(b)))
    return float(np.max(err, initial=0.0))


# -- the docstring formulas, one step from arbitrary state ------------------------------------------
def sgd(v, h):
    return {"w_new": v["w"] - h["learning_rate"] * v["g_w"]}


def momentum(v, h):  # v_t = mu v - eta g, p_t = p + v_t
    vel = h["momentum"] * v["velocity_w"] - h["learning_rate"] * v["g_w"]
    return {"velocity_w_new": vel, "w_new": v["w"] + vel}


def nesterov_momentum(v, h):  # v_t = mu v - eta g, p_t = p + mu v_t - eta g
    vel = h["momentum"] * v["velocity_w"] - h["learning_rate"] * v["g_w"]
    return {"velocity_w_new": vel, "w_new": v["w"] + h["momentum"] * vel - h["learning_rate"] * v["g_w"]}


def adagrad(v, h):  # s_t = s + g^2, p_t = p - eta g / sqrt(s_t + eps) (lr_decay 0)
    s = v["s_w"] + v["g_w"] ** 2
    return {"s_w_new": s, "w_new": v["w"] - h["learning_rate"] * v["g_w"] / np.sqrt(s + h["epsilon"])}


def rmsprop(v, h):  # s_t = rho s + (1 - rho) g^2, v_t = eta g / sqrt(s_t + eps) (mu = 0), p_t = p - v_t
    s = h["rho"] * v["s_w"] + (1 - h["rho"]) * v["g_w"] ** 2
    return {"s_w_new": s, "w_new": v["w"] - h["learning_rate"] * v["g_w"] / np.sqrt(s + h["epsilon"])}


def adadelta(v, h):
    rho, eps, g = h["rho"], h["epsilon"], v["g_w"]
    s = rho * v["s_w"] + (1 - rho) * g**2
    u = g * np.sqrt(v["delta_w"] + eps) / np.sqrt(s + eps)
    return {
        "s_w_new": s,
        "delta_w_new": rho * v["delta_w"] + (1 - rho) * u**2,
        "w_new": v["w"] - h["learning_rate"] * u,
    }


def _moments(v, h):
    g = v["g_w"]
    return h["beta1"] * v["m_w"] + (1 - h["beta1"]) * g, h["beta2"] * v["v_w"] + (1 - h["beta2"]) * g**2


def adam(v, h):  # p_t = p - eta sqrt(1 - b2^t) / (1 - b1^t) m_t / (sqrt(v_t) + eps)
    t = v["step"] + 1
    m, s = _moments(v, h)
    coefficient = h["learning_rate"] * np.sqrt(1 - h["beta2"] ** t) / (1 - h["beta1"] ** t)
    return {"m_w_new": m, "v_w_new": s, "w_new": v["w"] - coefficient * m / (np.sqrt(s) + h["epsilon"])}


def amsgrad(v, h):  # v_hat_t = max(v_hat, v_t) in Adam's denominator
    t = v["step"] + 1
    m, s = _moments(v, h)
    top = np.maximum(v["v_max_w"], s)
    coefficient = h["learning_rate"] * np.sqrt(1 - h["beta2"] ** t) / (1 - h["beta1"] ** t)
    w = v["w"] - coefficient * m / (np.sqrt(top) + h["epsilon"])
    return {"m_w_new": m, "v_w_new": s, "v_max_w_new": top, "w_new": w}


def adamax(v, h):  # u_t = max(b2 u, |g|), p_t = p - eta / (1 - b1^t) m_t / (u_t + eps)
    t = v["step"] + 1
    m = h["beta1"] * v["m_w"] + (1 - h["beta1"]) * v["g_w"]
    u = np.maximum(h["beta2"] * v["u_w"], np.abs(v["g_w"]))
    return {
        "m_w_new": m,
        "u_w_new": u,
        "w_new": v["w"] - h["learning_rate"] / (1 - h["beta1"] ** t) * m / (u + h["epsilon"]),
    }


def adamw(v, h):  # p_t = p - eta (m_t / (1 - b1^t) / (sqrt(v_t / (1 - b2^t)) + eps) + lambda p)
    t = v["step"] + 1
    m, s = _moments(v, h)
    direction = m / (1 - h["beta1"] ** t) / (np.sqrt(s / (1 - h["beta2"] ** t)) + h["epsilon"])
    return {"m_w_new": m, "v_w_new": s, "w_new": v["w"] - h["learning_rate"] * (direction + h["weight_decay"] * v["w"])}


def lion(v, h):  # p_t = p - eta (sign(b1 m + (1 - b1) g) + lambda p), m_t = b2 m + (1 - b2) g
    g, m = v["g_w"], v["m_w"]
    w = v["w"] - h["learning_rate"] * np.sign(h["beta1"] * m + (1 - h["beta1"]) * g)
    return {"w_new": w, "m_w_new": h["beta2"] * m + (1 - h["beta2"]) * g}


def nadam(v, h):  # mu_t = b1 (1 - 0.5 * 0.96^(t psi)), Pi_t = Pi_{t-1} mu_t; Adam's moments
    t = v["step"] + 1
    m, s = _moments(v, h)

    def mu(k):
        return h["beta1"] * (1 - 0.5 * 0.96 ** (k * h["momentum_decay"]))

    product = v["mu_product_float64"] * mu(t)
    numerator = (1 - mu(t)) / (1 - product) * v["g_w"] + mu(t + 1) / (1 - product * mu(t + 1)) * m
    w = v["w"] - h["learning_rate"] * numerator / (np.sqrt(s / (1 - h["beta2"] ** t)) + h["epsilon"])
    return {"m_w_new": m, "v_w_new": s, "w_new": w, "mu_product_float64_new": product}


def rprop(v, h):  # Delta_t = clip(Delta_{t-1} f_t, ...), g~_t = 0 where g g~_{t-1} < 0, p_t = p - sign(g~_t) Delta_t
    g, prev = v["g_w"], v["prev_w"]
    before = h["learning_rate"] if v["step"] == 0 else v["step_size_w"]  # Delta_0: the initial step
    agreement = g * prev
    factor = np.where(agreement > 0, h["etas"][1], np.where(agreement < 0, h["etas"][0], 1.0))
    size = np.clip(before * factor, *h["step_sizes"])
    kept = np.where(agreement < 0, 0.0, g)
    return {"prev_w_new": kept, "step_size_w_new": size, "w_new": v["w"] - np.sign(kept) * size}


def _step_counted(oracle):
    def with_step(v, h):
        return {**oracle(v, h), "step_new": v["step"] + 1}

    return with_step


@dataclasses.dataclass
class Case:
    """An optimizer (named with its hyper-parameters), its docstring formula, the names its text must show."""

    name: str
    hyper: dict
    oracle: object = None
    shows: tuple = ()
    options: dict = dataclasses.field(default_factory=dict)
    n_params: int = 1
    fixed: dict = dataclasses.field(default_factory=dict)  # values that are not drawn at random


STEPPED = {"adam", "amsgrad", "adamax", "adamw", "nadam", "rprop"}
DOCSTRING_CASES = [
    Case("sgd", {"learning_rate": 0.05}, sgd, ("learning_rate",)),
    Case("momentum", {"learning_rate": 0.05, "momentum": 0.8}, momentum, ("learning_rate", "momentum")),
    Case("nesterov_momentum", {"learning_rate": 0.05, "momentum": 0.7}, nesterov_momentum, ("momentum",)),
    Case("adagrad", {"learning_rate": 0.3, "epsilon": 1e-3}, adagrad, ("epsilon",)),
    Case("rmsprop", {"learning_rate": 0.1, "rho": 0.8, "epsilon": 1e-3}, rmsprop, ("rho", "epsilon")),
    Case("adadelta", {"learning_rate": 0.9, "rho": 0.85, "epsilon": 1e-3}, adadelta, ("rho", "epsilon")),
    Case("adam", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3}, adam, ("beta1", "beta2")),
    Case("adamax", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3}, adamax, ("beta2",)),
    Case("amsgrad", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3}, amsgrad, ("epsilon",)),
    Case(
        "adamw",
        {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3, "weight_decay": 0.1},
        adamw,
        ("weight_decay",),
    ),
    Case("lion", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95}, lion, ("beta1", "beta2")),
    Case(
        "nadam",
        {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3, "momentum_decay": 0.1},
        nadam,
        ("momentum_decay",),
    ),
    Case("rprop", {"learning_rate": 0.02, "etas": (0.4, 1.3), "step_sizes": (1e-3, 0.5)}, rprop, ("eta_plus",)),
]
for case in DOCSTRING_CASES:
    if case.name in STEPPED:
        case.oracle = _step_counted(case.oracle)

SCHEDULE = symupdates.schedules.exponential_decay(0.1, decay_rate=0.5, transition_steps=7)
OPTION_CASES = [
    Case("adam", {"learning_rate": 0.01}, shows=("weight_decay",), options={"weight_decay": 0.1}),
    Case("sgd", {"learning_rate": 0.1}, shows=("clip_global_norm",), options={"clip_global_norm": 0.5}, n_params=2),
    Case("adam", {"learning_rate": SCHEDULE}, shows=("learning_rate_t",)),
    Case("sgd", {"learning_rate": 0.1}, shows=("multipliers_w0",), options={"lr_mult": {"w0": 3.0}}, n_params=2),
    Case("adam", {"learning_rate": 0.01}, shows=("factor",), options={"maximize": True}),
    Case("adam", {"learning_rate": 0.01}, shows=("where", "consecutive_nonfinite"), options={"skip_nonfinite": True}),
    Case(
        "adam",
        {"learning_rate": 0.01},
        shows=("where", "skipped"),
        options={"skip_nonfinite": True},
        fixed={"g_w": np.array([1.0, np.nan, 0.5, 2.0]), "consecutive_nonfinite": np.int64(0)},
    ),
]
CASES = {f"{c.name}-{k}": c for k, c in enumerate(DOCSTRING_CASES + OPTION_CASES)}


def build(label: str, case: Case, rng):
    names = ["w"] if case.n_params == 1 else [f"w{i}" for i in range(case.n_params)]
    params = [pytensor.shared(rng.normal(size=SHAPE), name=n) for n in names]
    grads = [pt.vector(f"g_{n}", dtype="float64", shape=SHAPE) for n in names]
    updates = symupdates.get(case.name, **case.hyper)(grads, params, name=label.replace("-", "_"), **case.options)
    return updates, grads


@pytest.fixture(scope="module")
def results():
    """{label: (explanation, values, text's new values, compiled new values)}; one compiled function per mode."""
    rng = np.random.default_rng(20260516)
    out = {}
    for mode in (DEFAULT, FAST):
        labels = [label for label, case in CASES.items() if (case.oracle is not None) == (mode is DEFAULT)]
        built = {label: build(label, CASES[label], rng) for label in labels}
        everything: OrderedDict = OrderedDict()
        inputs = []
        for updates, grads in built.values():
            everything.update(updates)
            inputs += grads
        fn = pytensor.function(inputs, [], updates=everything, mode=mode)
        feed = []
        for label, (updates, grads) in built.items():
            expl = explain(updates)
            values = draw(expl, updates, rng)
            values.update(CASES[label].fixed)
            set_shared(expl, values)
            feed += [values[expl_name(expl, g)] for g in grads]
            out[label] = [expl, values, run_text(expl, values)]
        fn(*feed)
        for label in built:
            out[label].append(new_values(out[label][0]))
    return out


def expl_name(expl: Explanation, var) -> str:
    return next(name for name, v in expl.inputs.items() if v is var)


@pytest.mark.parametrize("label", list(CASES))
def test_the_printed_text_computes_the_compiled_update(label, results, record_property):
    expl, _, text, compiled = results[label]
    assert set(text) == set(compiled) and text
    worst = max(close(text[k], compiled[k]) for k in text)
    record_property("oracle_error", (f"explain text vs compiled ({label.split('-')[0]})", {"float64": float(worst)}))
    assert worst <= TOL, expl.text


@pytest.mark.parametrize("label", [label for label, case in CASES.items() if case.oracle is not None])
def test_the_printed_text_is_the_docstring_formula(label, results, record_property):
    expl, values, text, _ = results[label]
    case = CASES[label]
    expected = case.oracle(values, case.hyper)
    assert set(expected) == set(text), expl.text
    worst = max(close(text[k], expected[k]) for k in expected)
    record_property("oracle_error", (f"explain text vs docstring ({case.name})", {"float64": float(worst)}))
    assert worst <= TOL, expl.text


@pytest.mark.parametrize("label", list(CASES))
def test_hyper_parameters_appear_by_name_where_they_act(label, results):
    expl = results[label][0]
    words = set(re.findall(r"\w+", expl.text))
    for name in CASES[label].shows:
        assert name in words, expl.text
    for name in words & set(expl.symbols):
        assert expl.symbols[name], name


def test_the_nonfinite_guard_holds_every_variable(results):
    label = next(k for k, c in CASES.items() if c.fixed)
    expl, values, text, _ = results[label]
    assert np.array_equal(text["w_new"], values["w"]) and text["skipped_new"] == values["skipped"] + 1
    assert np.array_equal(text["m_w_new"], values["m_w"]) and text["step_new"] == values["step"]


def test_options_act_where_the_text_says():
    w = pytensor.shared(np.zeros(3), name="w")
    g = [pt.vector("g", dtype="float64", shape=(3,))]
    assert symupdates.sgd(g, [w], learning_rate=0.1, weight_decay=0.01).explain().text == (
        "w_new = w - learning_rate * (g_w + weight_decay * w)"
    )
    assert symupdates.sgd(g, [w], learning_rate=0.1, maximize=True).explain().text == (
        "w_new = w - learning_rate * factor * g_w"
    )
    clipped = symupdates.sgd(g, [w], learning_rate=0.1, clip_weights=2.0).explain().text
    assert clipped == "w_new = clip(w - learning_rate * g_w, -clip_weights, clip_weights)"


def test_the_docstring_examples_print_what_they_show():
    import symupdates.core.explain as module

    assert doctest.testmod(module).failed == 0


# -- shared sub-expressions -------------------------------------------------------------------
def _two_params(optimizer, **hyper):
    params = [pytensor.shared(np.zeros(3), name=n) for n in ("a", "b")]
    grads = [pt.vector(f"g{n}", dtype="float64", shape=(3,)) for n in ("a", "b")]
    return optimizer(grads, params, **hyper).explain()


def test_the_step_and_bias_corrections_are_printed_once():
    text = _two_params(symupdates.adam).text
    assert text.count("t = step + 1") == 1 and text.count("beta1 ** t") == 1 and text.count("beta2 ** t") == 1
    lines = text.splitlines()
    first_use = min(i for i, line in enumerate(lines) if re.search(r"\bt\b", line.split("=", 1)[1]))
    assert lines.index("t = step + 1") < first_use
    torch_form = _two_params(symupdates.adamw).text  # its coefficients are cached per step: named lines
    assert torch_form.count("c1 = 1 - beta1 ** t") == 1 and torch_form.count("c2 = sqrt(1 - beta2 ** t)") == 1
    assert torch_form.count("/ c1") == 2


def test_a_schedule_is_one_line_read_by_every_parameter():
    schedule = symupdates.schedules.exponential_decay(0.1, decay_rate=0.5, transition_steps=10)
    expl = _two_params(symupdates.sgd, learning_rate=schedule)
    lines = expl.text.splitlines()
    assert sum(line.startswith("learning_rate_t = ") for line in lines) == 1
    assert "a_new = a - learning_rate_t * g_a" in lines and "b_new = b - learning_rate_t * g_b" in lines
    assert "schedule" in expl.symbols["learning_rate_t"]


def test_new_values_used_elsewhere_are_defined_first():
    expl = _two_params(symupdates.adam)
    defined = set()
    for eq in expl.equations:
        used = set(re.findall(r"\w+", _rhs(expl, eq)))
        assert {u for u in used if u.endswith("_new")} <= defined, expl.text
        defined.add(eq.lhs.name)


def _rhs(expl, eq):
    return next(line for line in expl.text.splitlines() if line.startswith(eq.lhs.name + " = ")).split(" = ", 1)[1]


# -- every optimizer, every set ---------------------------------------------------------------------
def _model():
    W = pytensor.shared(np.ones((2, 3)), name="W")
    b = pytensor.shared(np.zeros(3), name="b")
    grads = [pt.matrix("gW", dtype="float64", shape=(2, 3)), pt.vector("gb", dtype="float64", shape=(3,))]
    return [W, b], grads


def _well_formed(expl: Explanation, updates) -> None:
    targets = [eq.target for eq in expl.equations if eq.target is not None]
    assert len(targets) == len(updates) and {id(v) for v in targets} == {id(v) for v in updates}
    lines = expl.text.splitlines()
    assert len(lines) == len(expl.equations) and all(" = " in line for line in lines)
    latex = expl.latex_lines().split(" \\\\\n")
    assert len(latex) == len(expl.equations) and all(" &= " in line for line in latex)
    for line in latex:
        depth = 0
        for ch in line.replace("\\{", "").replace("\\}", ""):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0, line
        assert depth == 0 and line.count("\\left") == line.count("\\right"), line
        assert line.count("\\begin{cases}") == line.count("\\end{cases}")
    assert expl.latex.startswith("\\begin{aligned}") and expl._repr_latex_().startswith("$$")
    words = set(re.findall(r"\b[A-Za-z_]\w*\b", re.sub("<[^>]*>", "", expl.text)))
    assert words - set(NUMPY) <= set(expl.symbols) | {"axis", "True", "False", "None"}


@pytest.mark.parametrize("name", symupdates.available())
def test_every_optimizer_is_explained(name):
    params, grads = _model()
    updates = symupdates.get(name)(grads, params)
    expl = updates.explain()
    _well_formed(expl, updates)
    assert {"g_W", "g_b", "W", "b"} <= set(expl.inputs)


def test_partitions_and_merged_sets_are_explained():
    params, grads = _model()
    groups = {"body": (["W"], symupdates.adam()), "bias": (["b"], symupdates.sgd(learning_rate=0.1))}
    updates = symupdates.partition(groups, clip_global_norm=1.0)(grads, params)
    expl = updates.explain()
    _well_formed(expl, updates)
    assert updates.grads == grads and "g_W" in expl.text and "g_b" in expl.text
    assert "learning_rate" in expl.inputs and "learning_rate_2" in expl.inputs  # two groups, two rates
    first = symupdates.adam([grads[0]], [params[0]], name="one")
    second = symupdates.momentum([grads[1]], [params[1]], name="two")
    merged = merge(second, first, params=params)
    assert merged.grads == grads and set(merged.symbols) == set(first.symbols) | set(second.symbols)
    expl = merged.explain()
    _well_formed(expl, merged)
    assert sum(line.startswith("t = ") for line in expl.text.splitlines()) == 1


def test_an_operation_without_a_numpy_spelling_is_printed_not_fatal():
    params, grads = _model()
    text = symupdates.adagrad_window(grads, params).explain().text
    assert "window_W_new = <set_subtensor>(window_W[:, :, " in text  # NumPy has no expression that sets elements


def test_float32_explains_like_float64():
    def text(dtype):
        w = pytensor.shared(np.zeros(3, dtype=dtype), name="w")
        return symupdates.adam([pt.vector("g", dtype=dtype, shape=(3,))], [w]).explain().text

    assert text("float32") == text("float64")


def test_symbolic_hyper_parameters_keep_their_field_names():
    w = pytensor.shared(np.zeros(3), name="w")
    lr, beta1 = pt.dscalar("lr"), pt.dscalar("b1")
    expl = symupdates.adam([pt.dvector("g")], [w], learning_rate=lr, beta1=beta1).explain()
    assert expl.inputs["learning_rate"] is lr and expl.inputs["beta1"] is beta1
    assert "adam_learning_rate_new = learning_rate" in expl.text.splitlines()  # the record of the rate
    assert expl.symbols["g_w"] == "the gradient for 'w'" and "beta2 of adam: 0.999" == expl.symbols["beta2"]


# -- random hyper-parameters: text == compiled ----------------------------------------------------------
@pytest.fixture(scope="module")
def symbolic():
    """Adam, RMSProp, momentum and Adamax with symbolic hyper-parameters, compiled once."""
    h = {k: pt.dscalar(k) for k in ("lr", "b1", "b2", "eps", "rho", "mu")}
    rng = np.random.default_rng(7)
    sets = {
        "adam": dict(learning_rate=h["lr"], beta1=h["b1"], beta2=h["b2"], epsilon=h["eps"]),
        "adamax": dict(learning_rate=h["lr"], beta1=h["b1"], beta2=h["b2"], epsilon=h["eps"]),
        "rmsprop": dict(learning_rate=h["lr"], rho=h["rho"], epsilon=h["eps"]),
        "momentum": dict(learning_rate=h["lr"], momentum=h["mu"]),
    }
    built, everything, grads = {}, OrderedDict(), []
    for name, hyper in sets.items():
        w = pytensor.shared(rng.normal(size=SHAPE), name="w")
        g = pt.vector(f"g_{name}", dtype="float64", shape=SHAPE)
        updates = symupdates.get(name, **hyper)([g], [w], name=name)
        built[name] = (updates, updates.explain(), g)
        everything.update(updates)
        grads.append(g)
    fn = pytensor.function([*grads, *h.values()], [], updates=everything, mode=FAST, on_unused_input="ignore")
    return built, fn, h


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    lr=st.floats(1e-4, 1.0),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.5, 0.9999),
    eps=st.floats(1e-10, 1e-1),
    rho=st.floats(0.0, 0.99),
    mu=st.floats(0.0, 0.99),
)
def test_random_hyper_parameters_text_equals_compiled(symbolic, seed, **hyper):
    built, fn, h = symbolic
    rng = np.random.default_rng(seed)
    grads, texts = [], {}
    for name, (updates, expl, g) in built.items():
        values = draw(expl, updates, rng)
        for ident, var in expl.inputs.items():
            if var in h.values():
                values[ident] = np.float64(hyper[var.name])
        set_shared(expl, values)
        grads.append(values[expl_name(expl, g)])
        texts[name] = run_text(expl, values)
    fn(*grads, *(hyper[k] for k in h))
    for name, (_, expl, _) in built.items():
        compiled = new_values(expl)
        assert max(close(texts[name][k], compiled[k]) for k in compiled) <= 1e-11, expl.text


# -- rendering ----------------------------------------------------------------------------------------
a, b, c, x = (Symbol(n, n) for n in "abcx")
eta, beta1 = Symbol("learning_rate", r"\eta"), Symbol("beta1", r"\beta_1")


def one(rhs) -> Explanation:
    return Explanation((Equation(Symbol("y", "y"), rhs),), {}, {})


@pytest.mark.parametrize(
    "rhs, text",
    [
        (Call("-", (a, Call("-", (b, c)))), "y = a - (b - c)"),
        (Call("-", (Call("-", (a, b)), c)), "y = a - b - c"),
        (Call("*", (a, Call("/", (b, c)))), "y = a * b / c"),
        (Call("/", (a, Call("*", (b, c)))), "y = a / (b * c)"),
        (Call("**", (Number(-0.5), x)), "y = (-0.5) ** x"),
        (Call("**", (a, Call("**", (b, c)))), "y = a ** b ** c"),
        (Call("**", (Call("**", (a, b)), c)), "y = (a ** b) ** c"),
        (Call("neg", (Call("**", (x, Number(2))),)), "y = -x ** 2"),
        (Call("*", (a, Call("neg", (b,)))), "y = a * (-b)"),
        (Call("<", (Call("+", (a, b)), c)), "y = a + b < c"),
        (Call("where", (Call("==", (x, Number(0))), a, b)), "y = where(x == 0, a, b)"),
        (Call("sum", (x,), (("axis", (0,)),)), "y = sum(x, axis=(0,))"),
        (Call("[]", (Call("+", (a, b)), Number(1))), "y = (a + b)[1]"),
        (Call("*", (Number(1e-08), Number(0.9))), "y = 1e-08 * 0.9"),
    ],
)
def test_plain_text_has_minimal_parentheses(rhs, text):
    assert one(rhs).text == text
    namespace = {**NUMPY, **{k: np.array([v, v + 1]) for k, v in zip("abcx", (1.1, 1.2, 1.3, 0.0))}}
    exec(text, namespace)  # valid Python


@pytest.mark.parametrize(
    "rhs, latex",
    [
        (Call("/", (Call("*", (eta, a)), Call("+", (Call("sqrt", (b,)), c)))), r"\frac{\eta \, a}{\sqrt{b} + c}"),
        (Call("*", (Call("-", (Number(1), beta1)), a)), r"\left(1 - \beta_1\right) \, a"),
        (Call("maximum", (a, Call("abs", (b,)))), r"\max\left(a, \left|b\right|\right)"),
        (Call("**", (Symbol("m_w", "m_{w}"), Number(2))), r"{m_{w}}^{2}"),
        (Call("sign", (a,)), r"\operatorname{sign}\left(a\right)"),
        (Call("sum", (Call("**", (x, Number(2))),)), r"\sum {x}^{2}"),
        (Call("*", (Number(2), Number(1e-08))), r"2 \cdot 10^{-8}"),
        (
            Call("where", (Call(">", (a, Number(0))), b, c)),
            r"\begin{cases} b & \text{if } a > 0 \\ c & \text{otherwise} \end{cases}",
        ),
    ],
)
def test_latex_rendering(rhs, latex):
    assert one(rhs).latex_lines() == f"y &= {latex}"


def test_latex_of_an_optimizer():
    w = pytensor.shared(np.zeros(3), name="w")
    expl = symupdates.adam([pt.dvector("g")], [w]).explain()
    assert expl.latex.splitlines() == [
        r"\begin{aligned}",
        r"t &= \mathrm{step} + 1 \\",
        r"m_{w}' &= \beta_1 \, m_{w} + \left(1 - \beta_1\right) \, g_{w} \\",
        r"v_{w}' &= \beta_2 \, v_{w} + \left(1 - \beta_2\right) \, {g_{w}}^{2} \\",
        r"w' &= w - \frac{\eta \, \sqrt{1 - {\beta_2}^{t}} \, m_{w}'}"
        r"{\left(1 - {\beta_1}^{t}\right) \, \left(\sqrt{v_{w}'} + \epsilon\right)} \\",
        r"\mathrm{step}' &= \mathrm{step} + 1",
        r"\end{aligned}",
    ]
