"""Every tested row of ``docs/migration/torch.rst`` against torch.optim 2.13, run side by side.

A row's case runs torch and the symupdates call its table gives on the same problem and
returns one or more :class:`Agreement`. The optimizer rows take ``N_STEPS`` steps on a
noisy quadratic over three float64 tensors (a matrix, a vector, a scalar), gradients given
explicitly and evaluated at each library's own current parameters; the error is the largest
difference of the parameters over the steps, relative to the largest displacement of that
tensor from its start (so small steps do not hide a wrong step). The scheduler rows compare the
learning rate each update used (torch's ``param_groups[0]["lr"]`` at ``optimizer.step()``,
symupdates' ``updates.learning_rate`` after the step) over enough steps to cross the
milestones, restarts and phases, and the trajectory of an optimizer driven by the schedule.

torch runs with ``torch.set_default_dtype(torch.float64)``: it keeps some per-step scalars
(NAdam's momentum product, ASGD's step size and averaging weight) in the default dtype, and
float32 there would round them (the page states by how much; ``test_float32_default_dtype``
measures it). The tolerance is 1e-12 relative unless a case says why not. Run with ``-s`` to
see the measured differences, row by row.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import torch
from pytensor.graph.replace import graph_replace

import symupdates as su
from symupdates import schedules as S
from tests.docs.migration import MIGRATION, assert_cases_cover
from tests.docs.test_snippets import parse

PAGE = "torch.rst"
# Python linker, no C compilation: the graphs are tiny and each is run a few times only
MODE = pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile")
N_STEPS = 12
SHAPES = {"W": (2, 3), "b": (3,), "s": ()}
RTOL = 1e-12


@contextlib.contextmanager
def torch_float64():
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(default)


# -- the problem ------------------------------------------------------------------------


@dataclasses.dataclass
class Problem:
    """Per-element quadratics with noisy gradients: g_k = c (p - a) + n_k."""

    init: dict
    target: dict
    curvature: dict
    noise: list

    def grad(self, k, name, value):
        return np.asarray(self.curvature[name] * (value - self.target[name]) + self.noise[k % len(self.noise)][name])

    def loss(self, k, values):
        n = self.noise[k % len(self.noise)]
        return float(
            sum(np.sum(self.curvature[x] * (values[x] - self.target[x]) ** 2 / 2 + n[x] * values[x]) for x in values)
        )


def problem(seed=0, shapes=SHAPES, steps=N_STEPS, noise=0.3):
    rng = np.random.default_rng(seed)
    return Problem(
        init={k: rng.normal(size=s) for k, s in shapes.items()},
        target={k: rng.normal(size=s) for k, s in shapes.items()},
        curvature={k: rng.uniform(0.5, 2.0, size=s) for k, s in shapes.items()},
        noise=[{k: noise * rng.normal(size=s) for k, s in shapes.items()} for _ in range(steps)],
    )


# -- the two runners -------------------------------------------------------------------


def run_torch(make_opt, prob, steps=N_STEPS, *, make_sched=None, plateau=False, before=None, sparse=False):
    """torch's parameters after each step, and the learning rate each step used."""
    with torch_float64():
        params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
        opt = make_opt(params)
        sched = make_sched(opt) if make_sched is not None else None
        trajectory, rates = [], []
        for k in range(steps):
            if before is not None:
                before(opt, k)
            values = {n: t.detach().numpy().copy() for n, t in params.items()}
            for n, t in params.items():
                g = torch.from_numpy(prob.grad(k, n, values[n]))
                t.grad = g.to_sparse() if sparse else g
            rates.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            if sched is not None:
                if plateau:
                    sched.step(prob.loss(k, values))
                else:
                    sched.step()
            trajectory.append({n: t.detach().numpy().copy() for n, t in params.items()})
        return trajectory, rates


def run_ours(ours, prob, steps=N_STEPS, *, plateau=False, before=None):
    """symupdates' parameters after each step, the learning rate each step used, and the updates.

    ``ours`` is a factory (named optimizer with hyper-parameters, chain, partition); with
    ``plateau`` a function of the metric input that returns one.
    """
    params = {n: pytensor.shared(v.copy(), name=n) for n, v in prob.init.items()}
    grads = [pt.tensor(f"g_{n}", dtype="float64", shape=v.shape) for n, v in prob.init.items()]
    inputs = list(grads)
    if plateau:
        metric = pt.scalar("metric", dtype="float64")
        inputs.append(metric)
        ours = ours(metric)
    updates = ours(grads, list(params.values()))
    # a frozen parameter's gradient input is not used
    fn = pytensor.function(inputs, [], updates=updates, mode=MODE, on_unused_input="ignore")
    trajectory, rates = [], []
    for k in range(steps):
        if before is not None:
            before(updates, k)
        values = {n: p.get_value() for n, p in params.items()}
        args = [prob.grad(k, n, values[n]) for n in values]
        if plateau:
            args.append(prob.loss(k, values))
        fn(*args)
        rates.append(_rate(updates))
        trajectory.append({n: p.get_value() for n, p in params.items()})
    return trajectory, rates, updates


def _rate(updates):
    try:
        return float(updates.learning_rate.get_value())
    except su.InputError:  # several groups, several rates
        return math.nan


# -- agreement ------------------------------------------------------------------------------


@dataclasses.dataclass
class Agreement:
    """How far symupdates is from torch in one comparison of a row."""

    what: str
    max_abs: float
    max_rel: float
    rtol: float = RTOL


def trajectories(what, ours, theirs, init, rtol=RTOL) -> Agreement:
    """Max abs difference, and max difference relative to the largest displacement of each tensor."""
    worst_abs = worst_rel = moved = 0.0
    for n, p0 in init.items():
        a, b = np.stack([s[n] for s in ours]), np.stack([s[n] for s in theirs])
        displacement = float(np.max(np.abs(b - p0)))
        diff = float(np.max(np.abs(a - b)))
        worst_abs = max(worst_abs, diff)
        moved = max(moved, displacement)
        if displacement == 0.0:  # a frozen tensor must stay exactly where it is in both
            assert float(np.max(np.abs(a - p0))) == 0.0, f"{what}: {n} moved in symupdates only"
        else:
            worst_rel = max(worst_rel, diff / displacement)
    assert moved > 1e-3, f"{what}: the parameters barely moved ({moved:.2g}); the comparison would be empty"
    return Agreement(what, worst_abs, worst_rel, rtol)


def sequences(what, ours, theirs, rtol=RTOL, varies=True) -> Agreement:
    """Max abs and element-wise relative difference of two sequences of numbers (rates)."""
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    assert a.shape == b.shape
    assert not varies or len(set(np.round(b, 15))) > 1, f"{what}: torch's sequence does not change: {b}"
    floor = 1e-6 * float(np.max(np.abs(b)))
    diff = np.abs(a - b)
    return Agreement(what, float(diff.max()), float(np.max(diff / np.maximum(np.abs(b), floor))), rtol)


def T(cls, **kw):
    """A torch optimizer of class ``cls`` over all the parameters."""
    return lambda params: cls(list(params.values()), **kw)


def optimizer_case(*settings, steps=N_STEPS, shapes=SHAPES, rtol=RTOL, sparse=False):
    """A row compared as trajectories, for each ``(torch optimizer, symupdates factory)`` setting."""

    def case():
        out = []
        for i, (make_torch, ours) in enumerate(settings):
            prob = problem(seed=i, shapes=shapes, steps=steps)
            theirs, _ = run_torch(make_torch, prob, steps, sparse=sparse)
            mine, _, _ = run_ours(ours, prob, steps)
            out.append(trajectories(f"setting {i}", mine, theirs, prob.init, rtol))
        return out

    return case


def schedule_case(make_sched, schedule, *, steps=30, lr=0.1, cls=torch.optim.SGD, ours=None, torch_kw=None, rtol=RTOL):
    """A scheduler row: the rates used by every update, and the trajectory they drive.

    The default optimizer is SGD with torch's momentum (``sgd(momentum=...)``: the buffer
    holds gradients, so a changing rate acts on it as in torch).
    """
    torch_kw = {"momentum": 0.5} if torch_kw is None and cls is torch.optim.SGD else (torch_kw or {})
    ours = ours or (lambda sch: su.sgd(learning_rate=sch, momentum=0.5))

    def case():
        prob = problem(seed=7, steps=steps)
        theirs, torch_rates = run_torch(T(cls, lr=lr, **torch_kw), prob, steps, make_sched=make_sched)
        mine, our_rates, _ = run_ours(ours(schedule()), prob, steps)
        return [
            sequences("learning rates", our_rates, torch_rates, rtol),
            trajectories("trajectory", mine, theirs, prob.init, rtol),
        ]

    return case


def page_code(defines: str) -> dict:
    """The imports, functions and classes of the code block of torch.rst that has ``def {defines}(``.

    The rest of the block (its own side-by-side run) is left to ``test_snippets.py``.
    """
    path = MIGRATION / PAGE
    blocks = [b for b in parse(path.read_text(encoding="utf-8"), path) if f"def {defines}(" in b.source]
    assert len(blocks) == 1, f"{PAGE} should have one block defining {defines}()"
    tree = ast.parse("\n" * (blocks[0].line - 1) + blocks[0].source, str(path))
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    tree.body = [node for node in tree.body if isinstance(node, kept)]
    namespace = {"__name__": "torch_rst"}
    exec(compile(tree, str(path), "exec", dont_inherit=True), namespace)
    return namespace


L = torch.optim.lr_scheduler
O = torch.optim  # noqa: E741


# -- rows that need more than one optimizer run ----------------------------------------------


def rmsprop_momentum_scheduled():
    # torch's momentum acts on the step before the rate; symupdates.rmsprop's after it. Under a
    # changing rate only the chain with trace() before scale_by_learning_rate agrees with torch.
    def chain(sch):
        return su.chain(
            su.scale_by_rms(0.9, 1e-6, eps_inside_sqrt=False), su.trace(0.8), su.scale_by_learning_rate(sch)
        )

    out = schedule_case(
        lambda o: L.StepLR(o, 4, 0.3),
        lambda: S.step(0.01, 4, 0.3),
        lr=0.01,
        cls=O.RMSprop,
        torch_kw=dict(alpha=0.9, eps=1e-6, momentum=0.8),
        ours=chain,
    )()
    # and the named optimizer is *not* torch's form once the rate changes (the page says so)
    prob = problem(seed=7, steps=30)
    theirs, _ = run_torch(
        T(O.RMSprop, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.8), prob, 30, make_sched=lambda o: L.StepLR(o, 4, 0.3)
    )
    named = su.rmsprop(learning_rate=S.step(0.01, 4, 0.3), rho=0.9, epsilon=1e-6, momentum=0.8, eps_inside_sqrt=False)
    mine, _, _ = run_ours(named, prob, 30)
    assert trajectories("named rmsprop", mine, theirs, prob.init).max_rel > 1e-3
    return out


def asgd_case():
    out = optimizer_case(
        (T(O.ASGD), su.asgd()),
        (
            T(O.ASGD, lr=0.05, lambd=1e-2, alpha=0.5, t0=3, weight_decay=0.1),
            su.asgd(learning_rate=0.05, lambd=1e-2, alpha=0.5, t0=3, weight_decay=0.1),
        ),
    )()
    # the averaged iterates, torch's state["ax"], after t0 has passed
    prob = problem(seed=1)
    with torch_float64():
        params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
        opt = O.ASGD(list(params.values()), lr=0.05, lambd=1e-2, alpha=0.5, t0=3, weight_decay=0.1)
        for k in range(N_STEPS):
            for n, t in params.items():
                t.grad = torch.from_numpy(prob.grad(k, n, t.detach().numpy()))
            opt.step()
        theirs = {n: opt.state[t]["ax"].numpy().copy() for n, t in params.items()}
    _, _, updates = run_ours(su.asgd(learning_rate=0.05, lambd=1e-2, alpha=0.5, t0=3, weight_decay=0.1), prob, N_STEPS)
    averages = su.averaged_parameters(updates)
    mine = {p.name: averages[p].get_value() for p in updates.params}
    out.append(trajectories("averaged iterates ax", [mine], [theirs], prob.init))
    return out


def lbfgs_case():
    # No counterpart: PyTensor's minimize (SciPy's L-BFGS-B) finds the minimum torch's LBFGS
    # finds. The paths differ (line searches, stopping rules), so the minimizers are compared,
    # with each other and with the exact solution.
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    a, b = m @ m.T + 5 * np.eye(5), rng.normal(size=5)
    exact = np.linalg.solve(a, b)
    with torch_float64():
        x = torch.zeros(5, requires_grad=True)
        A, B = torch.from_numpy(a), torch.from_numpy(b)
        opt = O.LBFGS(
            [x], lr=1, max_iter=100, tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe"
        )

        def closure():
            opt.zero_grad()
            loss = 0.5 * x @ A @ x - B @ x
            loss.backward()
            return loss

        opt.step(closure)
        theirs = x.detach().numpy().copy()
    from pytensor.tensor.optimize import minimize

    xs = pt.vector("x", dtype="float64", shape=(5,))
    loss = 0.5 * xs @ pt.constant(a) @ xs - pt.constant(b) @ xs
    solution, success = minimize(loss, xs, method="L-BFGS-B", optimizer_kwargs={"tol": 1e-14})
    # minimize compiles its loss in the default mode: make that Python code (no C, no Numba)
    with pytensor.config.change_flags(mode="FAST_COMPILE", cxx=""):
        mine = pytensor.function([xs], [solution, success], mode=MODE)(np.zeros(5))
    assert mine[1]
    # Near the minimum the loss changes by |x - x*|^2, below float64's resolution of the loss once
    # |x - x*| ~ 1e-8: both line searches stop there (here 1e-10 and 2e-9 from it)
    origin = {"x": np.zeros(5)}
    return [
        trajectories("minimize vs the exact solution", [{"x": mine[0]}], [{"x": exact}], origin, rtol=1e-8),
        trajectories("torch's LBFGS vs minimize", [{"x": mine[0]}], [{"x": theirs}], origin, rtol=1e-7),
    ]


def muon_case(monkeypatch_bfloat16):
    """torch.optim.Muon against the page's recipe (its Newton-Schulz iteration in bfloat16, or not)."""
    names = page_code("muon")
    shapes = {"W": (4, 3), "V": (2, 5)}  # Muon takes matrices only; one tall, one wide

    def compare(exact):
        out = []
        settings = [
            (dict(lr=0.02), dict(learning_rate=0.02)),
            (
                dict(lr=0.05, weight_decay=0.02, momentum=0.9, nesterov=False, ns_steps=3),
                dict(learning_rate=0.05, weight_decay=0.02, momentum=0.9, nesterov=False, ns_steps=3),
            ),
            (
                dict(lr=0.01, adjust_lr_fn="match_rms_adamw"),
                dict(learning_rate=0.01, adjust_lr_fn="match_rms_adamw"),
            ),
        ]
        for i, (theirs_kw, ours_kw) in enumerate(settings):
            prob = problem(seed=20 + i, shapes=shapes)
            with monkeypatch_bfloat16(exact):
                theirs, _ = run_torch(T(O.Muon, **theirs_kw), prob)
            mine, _, _ = run_ours(names["muon"](**ours_kw), prob)
            # torch orthogonalizes in bfloat16 (8 significant bits): 3e-2 covers its rounding
            rtol = RTOL if exact else 3e-2
            label = "Newton-Schulz in float64" if exact else "as shipped (bfloat16)"
            out.append(trajectories(f"{label}, setting {i}", mine, theirs, prob.init, rtol))
        return out

    return compare(exact=True) + compare(exact=False)


def sparse_adam_case():
    # SparseAdam is Adam with eps outside the bias correction (symupdates' default form) when
    # every entry has a gradient; it updates only the entries present (no counterpart).
    return optimizer_case(
        (T(O.SparseAdam), su.adam()),
        (
            T(O.SparseAdam, lr=0.05, betas=(0.8, 0.99), eps=1e-4),
            su.adam(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-4),
        ),
        shapes={"W": (2, 3), "b": (3,)},  # torch makes no sparse 0-d tensors
        sparse=True,
    )()


def maximize_case():
    settings = [
        (T(O.SGD, lr=0.05, momentum=0.9, maximize=True), su.sgd(learning_rate=0.05, momentum=0.9, maximize=True)),
        (T(O.Adam, lr=0.05, maximize=True), su.adam(learning_rate=0.05, form="torch", maximize=True)),
        (T(O.AdamW, lr=0.05, maximize=True), su.adamw(learning_rate=0.05, maximize=True)),
        (
            T(O.Adagrad, lr=0.1, weight_decay=0.1, maximize=True),
            su.adagrad(learning_rate=0.1, epsilon=1e-10, eps_inside_sqrt=False, weight_decay=0.1, maximize=True),
        ),
        (
            T(O.RMSprop, lr=0.01, maximize=True),
            su.rmsprop(learning_rate=0.01, rho=0.99, epsilon=1e-8, eps_inside_sqrt=False, maximize=True),
        ),
        (T(O.Rprop, lr=0.01, maximize=True), su.rprop(learning_rate=0.01, maximize=True)),
        (T(O.NAdam, lr=0.01, maximize=True), su.nadam(learning_rate=0.01, maximize=True)),
    ]
    # ascending the quadratic runs away from its minimum: a few steps are enough
    return optimizer_case(*settings, steps=8)()


def implementation_flags_case(flag):
    def case():
        settings = [
            (T(O.SGD, lr=0.05, momentum=0.9, **{flag: True}), su.sgd(learning_rate=0.05, momentum=0.9)),
            (T(O.Adam, lr=0.05, **{flag: True}), su.adam(learning_rate=0.05, form="torch")),
            (T(O.AdamW, lr=0.05, **{flag: True}), su.adamw(learning_rate=0.05)),
            (
                T(O.Adagrad, lr=0.1, **{flag: True}),
                su.adagrad(learning_rate=0.1, epsilon=1e-10, eps_inside_sqrt=False),
            ),
        ]
        if flag == "foreach":
            settings += [
                (T(O.NAdam, lr=0.01, foreach=True), su.nadam(learning_rate=0.01)),
                (T(O.RAdam, lr=0.01, foreach=True), su.radam(learning_rate=0.01)),
                (T(O.ASGD, lr=0.05, foreach=True), su.asgd(learning_rate=0.05)),
                (
                    T(O.RMSprop, lr=0.01, momentum=0.5, foreach=True),
                    su.rmsprop(learning_rate=0.01, rho=0.99, epsilon=1e-8, momentum=0.5, eps_inside_sqrt=False),
                ),
            ]
        return optimizer_case(*settings)()

    return case


def differentiable_case():
    """The derivative of the parameters after 3 steps with respect to the learning rate."""
    rng = np.random.default_rng(5)
    w0, a = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    out = []
    for name, make_torch, make_ours, extra in [
        ("sgd", lambda p, lr: O.SGD(p, lr=lr, differentiable=True), su.sgd, {}),
        ("adam", lambda p, lr: O.Adam(p, lr=lr, differentiable=True), su.adam, dict(form="torch")),
    ]:
        with torch_float64():
            w = torch.tensor(w0.copy())
            lr = torch.tensor(0.1, requires_grad=True)
            opt = make_torch([w], lr)
            for _ in range(3):
                w.grad = torch.from_numpy(a) * w  # the gradient of sum(a w^2 / 2), through w
                opt.step()
            (theirs,) = torch.autograd.grad(w.sum(), lr)
        # symupdates: the updates are expressions; unroll three steps and differentiate
        p = pytensor.shared(w0.copy(), name="w")
        rate = pt.scalar("lr", dtype="float64")
        updates = make_ours((pt.constant(a) * p**2 / 2).sum(), [p], learning_rate=rate, **extra)
        variables, exprs = list(updates), list(updates.values())
        state = dict(zip(variables, variables))
        for _ in range(3):
            state = dict(zip(variables, graph_replace(exprs, state, strict=False)))
        mine = pytensor.function([rate], pytensor.grad(state[p].sum(), rate), mode=MODE)(0.1)
        assert abs(float(theirs)) > 1e-2
        out.append(sequences(name, [float(mine)], [float(theirs)], varies=False))
    return out


def param_groups_case():
    prob = problem(seed=11)
    out = []
    # two groups with their own hyper-parameters, the scalar frozen (not given to torch)
    theirs, _ = run_torch(
        lambda P: O.Adam(
            [{"params": [P["W"]], "lr": 0.05, "weight_decay": 0.1}, {"params": [P["b"]], "betas": (0.8, 0.99)}],
            lr=0.01,
        ),
        prob,
    )
    groups = su.partition(
        {
            "weights": (["W"], su.adam(learning_rate=0.05, form="torch", weight_decay=0.1)),
            "biases": (["b"], su.adam(learning_rate=0.01, beta1=0.8, beta2=0.99, form="torch")),
            "frozen": (["s"], su.FROZEN),
        }
    )
    mine, _, _ = run_ours(groups, prob)
    for step in theirs:  # torch did not touch s
        assert step["s"] == prob.init["s"]
    out.append(trajectories("two groups and a frozen parameter", mine, theirs, prob.init))
    return out


def weight_decay_groups_case():
    prob = problem(seed=12)
    theirs, _ = run_torch(
        lambda P: O.AdamW(
            [{"params": [P["W"]]}, {"params": [P["b"], P["s"]], "weight_decay": 0.0}], lr=0.05, weight_decay=0.2
        ),
        prob,
    )
    mine, _, _ = run_ours(su.adamw(learning_rate=0.05, weight_decay=0.2, weight_decay_mask=lambda p: p.ndim >= 2), prob)
    return [trajectories("no decay for vectors and scalars", mine, theirs, prob.init)]


def lr_groups_case():
    prob = problem(seed=13)
    theirs, _ = run_torch(
        lambda P: O.SGD([{"params": [P["W"], P["s"]]}, {"params": [P["b"]], "lr": 0.01}], lr=0.1, momentum=0.9), prob
    )
    mine, _, _ = run_ours(su.sgd(learning_rate=0.1, momentum=0.9, lr_mult={"b": 0.1}), prob)
    return [trajectories("lr of b ten times smaller", mine, theirs, prob.init)]


def scheduler_groups_case():
    # one scheduler over two groups scales each group's own rate; symupdates: one schedule per group
    prob = problem(seed=14, steps=20)
    theirs, _ = run_torch(
        lambda P: O.Adam([{"params": [P["W"]], "lr": 0.1}, {"params": [P["b"], P["s"]]}], lr=0.02),
        prob,
        20,
        make_sched=lambda o: L.StepLR(o, 5, 0.5),
    )
    groups = su.partition(
        {
            "W": (["W"], su.adam(learning_rate=S.step(0.1, 5, 0.5), form="torch")),
            "rest": (["b", "s"], su.adam(learning_rate=S.step(0.02, 5, 0.5), form="torch")),
        }
    )
    mine, _, _ = run_ours(groups, prob, 20)
    return [trajectories("StepLR over two groups", mine, theirs, prob.init)]


def lr_assignment_case():
    prob = problem(seed=15)
    new_rates = {4: 0.01, 8: 0.2}

    def torch_before(opt, k):
        if k in new_rates:
            for group in opt.param_groups:
                group["lr"] = new_rates[k]

    rate = pytensor.shared(0.05, name="lr")

    def ours_before(updates, k):
        if k in new_rates:
            rate.set_value(new_rates[k])

    theirs, torch_rates = run_torch(T(O.AdamW, lr=0.05), prob, before=torch_before)
    mine, our_rates, _ = run_ours(su.adamw(learning_rate=rate), prob, before=ours_before)
    return [
        trajectories("rate changed at steps 4 and 8", mine, theirs, prob.init),
        sequences("rates used", our_rates, torch_rates),
    ]


def state_dict_case():
    """Save after 6 steps, take 6 more, load, take the 6 again: both libraries repeat themselves."""
    prob = problem(seed=16)
    with torch_float64():
        params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
        opt = O.Adam(list(params.values()), lr=0.05)

        def torch_steps(ks):
            out = []
            for k in ks:
                for n, t in params.items():
                    t.grad = torch.from_numpy(prob.grad(k, n, t.detach().numpy()))
                opt.step()
                out.append({n: t.detach().numpy().copy() for n, t in params.items()})
            return out

        torch_steps(range(6))
        saved, saved_params = copy.deepcopy(opt.state_dict()), {n: t.detach().clone() for n, t in params.items()}
        torch_count = int(saved["state"][0]["step"])  # (loading makes this tensor torch's live counter)
        first = torch_steps(range(6, 12))
        opt.load_state_dict(saved)
        with torch.no_grad():
            for n, t in params.items():
                t.copy_(saved_params[n])
        again = torch_steps(range(6, 12))
    shared = {n: pytensor.shared(v.copy(), name=n) for n, v in prob.init.items()}
    grads = [pt.tensor(f"g_{n}", dtype="float64", shape=v.shape) for n, v in prob.init.items()]
    updates = su.adam(grads, list(shared.values()), learning_rate=0.05, form="torch")
    fn = pytensor.function(grads, [], updates=updates, mode=MODE)

    def our_steps(ks):
        out = []
        for k in ks:
            fn(*(prob.grad(k, n, p.get_value()) for n, p in shared.items()))
            out.append({n: p.get_value() for n, p in shared.items()})
        return out

    our_steps(range(6))
    state, values = updates.state_dict(), {n: p.get_value() for n, p in shared.items()}
    assert int(state["adam.step"]) == torch_count == 6  # both count completed steps
    our_first = our_steps(range(6, 12))
    updates.load_state_dict(state)
    for n, p in shared.items():
        p.set_value(values[n])
    our_again = our_steps(range(6, 12))
    assert all(np.array_equal(x[n], y[n]) for x, y in zip(our_first, our_again) for n in x)
    return [
        trajectories("steps 7-12", our_first, first, saved_params_numpy(saved_params)),
        trajectories("steps 7-12 after loading", our_again, again, saved_params_numpy(saved_params)),
    ]


def saved_params_numpy(saved):
    return {n: t.numpy() for n, t in saved.items()}


def accumulation_case():
    """Three micro-batches summed into .grad (loss / 3), one step, zero_grad: multi_steps(3)."""
    k_micro = 3
    prob = problem(seed=17, steps=N_STEPS * k_micro)
    with torch_float64():
        params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
        opt = O.AdamW(list(params.values()), lr=0.05)
        theirs = []
        for step in range(N_STEPS):
            opt.zero_grad()
            for j in range(k_micro):
                k = step * k_micro + j
                for n, t in params.items():
                    g = torch.from_numpy(np.asarray(prob.grad(k, n, t.detach().numpy()) / k_micro))
                    t.grad = g if t.grad is None else t.grad + g
            opt.step()
            theirs.append({n: t.detach().numpy().copy() for n, t in params.items()})
    mine, _, updates = run_ours(su.multi_steps(su.adamw(learning_rate=0.05), k_micro), prob, N_STEPS * k_micro)
    assert updates.state["adamw.step"].get_value() == N_STEPS  # real steps only
    return [trajectories("every third call", mine[k_micro - 1 :: k_micro], theirs, prob.init)]


def clip_case(kind):
    def case():
        prob = problem(seed=18, noise=1.0)
        steps = N_STEPS

        def torch_run(clip):
            with torch_float64():
                params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
                opt = O.SGD(list(params.values()), lr=0.1, momentum=0.5)
                out = []
                for k in range(steps):
                    for n, t in params.items():
                        t.grad = torch.from_numpy(prob.grad(k, n, t.detach().numpy()))
                    clip(list(params.values()))
                    opt.step()
                    out.append({n: t.detach().numpy().copy() for n, t in params.items()})
                return out

        if kind == "global":
            theirs = torch_run(lambda ps: torch.nn.utils.clip_grad_norm_(ps, 1.0))
            ours = su.sgd(learning_rate=0.1, momentum=0.5, clip_global_norm=1.0)
        elif kind == "per tensor":
            theirs = torch_run(lambda ps: [torch.nn.utils.clip_grad_norm_([p], 0.5) for p in ps])
            ours = su.sgd(learning_rate=0.1, momentum=0.5, clip_norm=0.5)
        else:
            theirs = torch_run(lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.4))
            ours = su.sgd(learning_rate=0.1, momentum=0.5, clip_gradient=0.4)
        mine, _, _ = run_ours(ours, prob, steps)
        # torch divides by norm + 1e-6 where symupdates divides by the norm: relative 1e-6 / norm
        # per clipped step (the norms are about 1 to 5 here)
        rtol = RTOL if kind == "value" else 2e-6
        return [trajectories(kind, mine, theirs, prob.init, rtol)]

    return case


def nonfinite_case():
    """A NaN gradient at step 5: torch's clip_grad_norm_ raises and the loop skips; symupdates skips."""
    prob = problem(seed=23)
    bad = 5
    prob.noise[bad] = {**prob.noise[bad], "W": np.where(np.eye(2, 3) > 0, np.nan, prob.noise[bad]["W"])}
    with torch_float64():
        params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
        opt = O.Adam(list(params.values()), lr=0.05)
        theirs, raised = [], []
        for k in range(N_STEPS):
            for n, t in params.items():
                t.grad = torch.from_numpy(prob.grad(k, n, t.detach().numpy()))
            try:
                torch.nn.utils.clip_grad_norm_(list(params.values()), 100.0, error_if_nonfinite=True)
                opt.step()
            except RuntimeError:
                raised.append(k)
            theirs.append({n: t.detach().numpy().copy() for n, t in params.items()})
    assert raised == [bad]
    ours = su.adam(learning_rate=0.05, form="torch", clip_global_norm=100.0, skip_nonfinite=True)
    mine, _, updates = run_ours(ours, prob)
    assert updates.state["adam.step"].get_value() == N_STEPS - 1
    return [trajectories("NaN at step 5", mine, theirs, prob.init)]


def plateau_case():
    steps = 40
    prob = problem(seed=19, steps=steps, noise=0.6)
    kw = dict(patience=2, factor=0.5, threshold=0.05, cooldown=1, min_lr=0.004)
    theirs, torch_rates = run_torch(
        T(O.SGD, lr=0.1, momentum=0.5), prob, steps, make_sched=lambda o: L.ReduceLROnPlateau(o, **kw), plateau=True
    )
    mine, our_rates, _ = run_ours(
        lambda m: su.sgd(learning_rate=su.reduce_on_plateau(0.1, metric=m, **kw), momentum=0.5),
        prob,
        steps,
        plateau=True,
    )
    return [sequences("rates", our_rates, torch_rates), trajectories("trajectory", mine, theirs, prob.init)]


def per_epoch_case():
    # torch steps StepLR once per epoch of 3 updates; symupdates counts updates
    steps, per_epoch = 30, 3

    def make(opt):
        sched = L.StepLR(opt, 2, 0.5)
        orig = opt.step

        def step(*a, **kw):
            out = orig(*a, **kw)
            step.calls += 1
            if step.calls % per_epoch == 0:
                sched.step()
            return out

        step.calls = 0
        opt.step = step
        return None

    prob = problem(seed=21, steps=steps)
    theirs, torch_rates = run_torch(
        lambda P: make_and_return(O.SGD(list(P.values()), lr=0.1, momentum=0.5), make), prob, steps
    )
    schedule = S.step(0.1, 2, 0.5)
    mine, our_rates, _ = run_ours(su.sgd(learning_rate=lambda k: schedule(k // per_epoch), momentum=0.5), prob, steps)
    return [sequences("rates", our_rates, torch_rates), trajectories("trajectory", mine, theirs, prob.init)]


def make_and_return(opt, hook):
    hook(opt)
    return opt


def cyclic_case(**kw):
    names = page_code("cyclic_lr")
    momentum = kw.pop("cycle_momentum", False)
    base, peak = 0.01, 0.1

    def case():
        steps = 40
        prob = problem(seed=22, steps=steps)
        theirs, torch_rates = run_torch(
            T(O.SGD, lr=base, momentum=0.5),
            prob,
            steps,
            make_sched=lambda o: L.CyclicLR(o, base, peak, cycle_momentum=momentum, **kw),
        )
        lr = names["cyclic_lr"](base, peak, **kw)
        mu = names["cyclic_momentum"](0.8, 0.9, **kw) if momentum else 0.5
        mine, our_rates, _ = run_ours(su.sgd(learning_rate=lr, momentum=mu), prob, steps)
        return [sequences("rates", our_rates, torch_rates), trajectories("trajectory", mine, theirs, prob.init)]

    return case


def cosine_past_t_max():
    return schedule_case(
        lambda o: L.CosineAnnealingLR(o, 8, 0.01),
        lambda: lambda k: 0.01 + (0.1 - 0.01) * (1 + pt.cos(np.pi * k / 8)) / 2,
        steps=30,
    )()


def chained_case():
    return schedule_case(
        lambda o: L.ChainedScheduler([L.ConstantLR(o, factor=0.5, total_iters=4), L.ExponentialLR(o, gamma=0.9)]),
        lambda: lambda k: S.exponential_decay(0.1, 0.9)(k) * S.join([S.constant(0.5), S.constant(1.0)], [4])(k),
    )()


def multiplicative_case():
    out = schedule_case(
        lambda o: L.MultiplicativeLR(o, lambda e: 1 - 0.02 * e),
        lambda: lambda k: 0.1 * pt.prod(1 - 0.02 * pt.arange(1, k + 1)),
    )()
    out += schedule_case(lambda o: L.MultiplicativeLR(o, lambda e: 0.9), lambda: S.exponential_decay(0.1, 0.9))()
    return out


def one_cycle_momentum_case():
    n = 20
    out = schedule_case(
        lambda o: L.OneCycleLR(o, 0.1, total_steps=n, base_momentum=0.8, max_momentum=0.95),
        lambda: S.one_cycle(0.1, n),
        steps=n,
        torch_kw=dict(momentum=0.9),
        ours=lambda sch: su.sgd(
            learning_rate=sch, momentum=S.one_cycle(0.8, n, div_factor=0.8 / 0.95, final_div_factor=1.0)
        ),
    )()
    # Adam cycles beta1 in its place
    out += schedule_case(
        lambda o: L.OneCycleLR(o, 0.1, total_steps=n, three_phase=True),
        lambda: S.one_cycle(0.1, n, three_phase=True),
        steps=n,
        cls=O.Adam,
        ours=lambda sch: su.adam(
            learning_rate=sch,
            beta1=S.one_cycle(0.85, n, div_factor=0.85 / 0.95, final_div_factor=1.0, three_phase=True),
            form="torch",
        ),
    )()
    return out


def sequential_case():
    return schedule_case(
        lambda o: L.SequentialLR(
            o, [L.LinearLR(o, 0.1, 1.0, 5), L.ExponentialLR(o, 0.9), L.StepLR(o, 3, 0.5)], milestones=[5, 12]
        ),
        lambda: S.join([S.linear(0.01, 0.1, 5), S.exponential_decay(0.1, 0.9), S.step(0.1, 3, 0.5)], [5, 12]),
    )()


CASES = {
    # -- optimizers
    "torch.optim.SGD(lr, weight_decay)": optimizer_case(
        (T(O.SGD), su.sgd()),
        (T(O.SGD, lr=0.1, weight_decay=0.1), su.sgd(learning_rate=0.1, weight_decay=0.1)),
    ),
    "torch.optim.SGD(lr, momentum, dampening)": optimizer_case(
        (T(O.SGD, lr=0.05, momentum=0.9), su.sgd(learning_rate=0.05, momentum=0.9)),
        (
            T(O.SGD, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.05),
            su.sgd(learning_rate=0.05, momentum=0.8, dampening=0.3, weight_decay=0.05),
        ),
    ),
    "torch.optim.SGD(lr, momentum, nesterov=True)": optimizer_case(
        (T(O.SGD, lr=0.05, momentum=0.9, nesterov=True), su.sgd(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ),
    "torch.optim.Adam(lr, betas, eps, weight_decay)": optimizer_case(
        (T(O.Adam), su.adam(form="torch")),
        (
            T(O.Adam, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
            su.adam(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-3, weight_decay=0.1, form="torch"),
        ),
    ),
    "torch.optim.Adam(amsgrad=True)": optimizer_case(
        (T(O.Adam, lr=0.05, amsgrad=True), su.adam(learning_rate=0.05, amsgrad=True, form="torch")),
    ),
    "torch.optim.Adam(weight_decay, decoupled_weight_decay=True)": optimizer_case(
        (
            T(O.Adam, lr=0.05, weight_decay=0.2, decoupled_weight_decay=True),
            su.adam(learning_rate=0.05, decoupled_weight_decay=0.2, form="torch"),
        ),
    ),
    "torch.optim.AdamW(lr, betas, eps, weight_decay)": optimizer_case(
        (T(O.AdamW), su.adamw()),
        (
            T(O.AdamW, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.3),
            su.adamw(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-3, weight_decay=0.3),
        ),
    ),
    "torch.optim.AdamW(amsgrad=True)": optimizer_case(
        (T(O.AdamW, lr=0.05, amsgrad=True), su.adamw(learning_rate=0.05, amsgrad=True)),
    ),
    "torch.optim.Adamax(lr, betas, eps, weight_decay)": optimizer_case(
        (T(O.Adamax), su.adamax(form="torch")),
        (
            T(O.Adamax, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
            su.adamax(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-3, weight_decay=0.1, form="torch"),
        ),
    ),
    "torch.optim.NAdam(lr, betas, eps, momentum_decay, weight_decay)": optimizer_case(
        (T(O.NAdam), su.nadam()),
        (
            T(O.NAdam, lr=0.05, betas=(0.8, 0.99), eps=1e-3, momentum_decay=0.01, weight_decay=0.1),
            su.nadam(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-3, momentum_decay=0.01, weight_decay=0.1),
        ),
    ),
    "torch.optim.NAdam(weight_decay, decoupled_weight_decay=True)": optimizer_case(
        (
            T(O.NAdam, lr=0.05, weight_decay=0.2, decoupled_weight_decay=True),
            su.nadam(learning_rate=0.05, decoupled_weight_decay=0.2),
        ),
    ),
    "torch.optim.RAdam(lr, betas, eps, weight_decay)": optimizer_case(
        (T(O.RAdam), su.radam()),
        (
            T(O.RAdam, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
            su.radam(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-3, weight_decay=0.1),
        ),
    ),
    "torch.optim.RAdam(weight_decay, decoupled_weight_decay=True)": optimizer_case(
        (
            T(O.RAdam, lr=0.05, weight_decay=0.2, decoupled_weight_decay=True),
            su.radam(learning_rate=0.05, decoupled_weight_decay=0.2),
        ),
    ),
    "torch.optim.Adagrad(lr, lr_decay, weight_decay, initial_accumulator_value, eps)": optimizer_case(
        (T(O.Adagrad), su.adagrad(learning_rate=0.01, epsilon=1e-10, eps_inside_sqrt=False)),
        (
            T(O.Adagrad, lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-3),
            su.adagrad(
                learning_rate=0.1,
                epsilon=1e-3,
                lr_decay=0.05,
                initial_accumulator_value=0.5,
                weight_decay=0.1,
                eps_inside_sqrt=False,
            ),
        ),
    ),
    "torch.optim.Adadelta(lr, rho, eps, weight_decay)": optimizer_case(
        (T(O.Adadelta), su.adadelta(rho=0.9)),
        (
            T(O.Adadelta, lr=0.5, rho=0.8, eps=1e-3, weight_decay=0.1),
            su.adadelta(learning_rate=0.5, rho=0.8, epsilon=1e-3, weight_decay=0.1),
        ),
    ),
    "torch.optim.RMSprop(lr, alpha, eps, weight_decay)": optimizer_case(
        (T(O.RMSprop), su.rmsprop(learning_rate=0.01, rho=0.99, epsilon=1e-8, eps_inside_sqrt=False)),
        (
            T(O.RMSprop, lr=0.02, alpha=0.9, eps=1e-3, weight_decay=0.1),
            su.rmsprop(learning_rate=0.02, rho=0.9, epsilon=1e-3, weight_decay=0.1, eps_inside_sqrt=False),
        ),
    ),
    "torch.optim.RMSprop(centered=True)": optimizer_case(
        (
            T(O.RMSprop, lr=0.01, alpha=0.9, centered=True),
            su.rmsprop(learning_rate=0.01, rho=0.9, epsilon=1e-8, centered=True, eps_inside_sqrt=False),
        ),
    ),
    "torch.optim.RMSprop(momentum)": optimizer_case(
        (
            T(O.RMSprop, lr=0.01, momentum=0.8),
            su.rmsprop(learning_rate=0.01, rho=0.99, epsilon=1e-8, momentum=0.8, eps_inside_sqrt=False),
        ),
        (
            T(O.RMSprop, lr=0.01, alpha=0.9, momentum=0.5, centered=True),
            su.rmsprop(learning_rate=0.01, rho=0.9, epsilon=1e-8, momentum=0.5, centered=True, eps_inside_sqrt=False),
        ),
    ),
    "torch.optim.RMSprop(momentum) with a scheduler": rmsprop_momentum_scheduled,
    "torch.optim.Rprop(lr, etas, step_sizes)": optimizer_case(
        (T(O.Rprop), su.rprop()),
        (
            T(O.Rprop, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2)),
            su.rprop(learning_rate=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2)),
        ),
    ),
    "torch.optim.ASGD(lr, lambd, alpha, t0, weight_decay)": asgd_case,
    "torch.optim.Adafactor(lr, beta2_decay, eps, d, weight_decay)": optimizer_case(
        (T(O.Adafactor), su.adafactor(form="torch")),
        (
            T(O.Adafactor, lr=0.05, beta2_decay=-0.5, eps=(1e-3, 1e-2), d=2.0, weight_decay=0.1),
            su.adafactor(
                learning_rate=0.05,
                form="torch",
                decay_rate=0.5,
                epsilon=1e-3,
                min_scale=1e-2,
                clipping_threshold=2.0,
                weight_decay=0.05 * 0.1,
            ),
        ),
    ),
    "torch.optim.SparseAdam(lr, betas, eps)": sparse_adam_case,
    "torch.optim.LBFGS(lr, max_iter, tolerance_grad, tolerance_change, history_size, line_search_fn)": lbfgs_case,
    "torch.optim.Muon(lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn)": "muon",
    # -- arguments and workflow
    "maximize=True": maximize_case,
    "foreach=True": implementation_flags_case("foreach"),
    "fused=True": implementation_flags_case("fused"),
    "differentiable=True": differentiable_case,
    "params=[{'params': ..., 'lr': ...}, ...]": param_groups_case,
    "{'params': biases, 'weight_decay': 0.0}": weight_decay_groups_case,
    "{'params': some, 'lr': smaller}": lr_groups_case,
    "optimizer.param_groups[i]['lr'] = value": lr_assignment_case,
    "optimizer.state_dict(), load_state_dict()": state_dict_case,
    "zero_grad() every k backward() calls": accumulation_case,
    "torch.nn.utils.clip_grad_norm_(params, max_norm)": clip_case("global"),
    "torch.nn.utils.clip_grad_norm_(p, max_norm) for each p": clip_case("per tensor"),
    "torch.nn.utils.clip_grad_value_(params, clip_value)": clip_case("value"),
    "clip_grad_norm_(..., error_if_nonfinite=True)": nonfinite_case,
    # -- schedulers
    "StepLR(step_size, gamma)": schedule_case(lambda o: L.StepLR(o, 7, 0.5), lambda: S.step(0.1, 7, 0.5)),
    "MultiStepLR(milestones, gamma)": schedule_case(
        lambda o: L.MultiStepLR(o, [5, 12, 12, 20], 0.5), lambda: S.multistep(0.1, [5, 12, 12, 20], 0.5)
    ),
    "ExponentialLR(gamma)": schedule_case(
        lambda o: L.ExponentialLR(o, 0.9),
        lambda: S.exponential_decay(0.1, 0.9),
    ),
    "CosineAnnealingLR(T_max, eta_min)": schedule_case(
        lambda o: L.CosineAnnealingLR(o, 30, 0.001),
        lambda: S.cosine_decay(0.1, 30, eta_min=0.001),
        steps=31,
    ),
    "CosineAnnealingLR(T_max, eta_min) past T_max": cosine_past_t_max,
    "CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)": schedule_case(
        lambda o: L.CosineAnnealingWarmRestarts(o, 4, 2, 0.001), lambda: S.cosine_restarts(0.1, 4, 2, 0.001), steps=40
    ),
    "OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase)": (
        schedule_case(
            lambda o: L.OneCycleLR(
                o, 0.2, total_steps=30, pct_start=0.2, anneal_strategy="linear", cycle_momentum=False
            ),
            lambda: S.one_cycle(0.2, 30, pct_start=0.2, anneal_strategy="linear"),
        )
    ),
    "OneCycleLR(cycle_momentum=True, base_momentum, max_momentum)": one_cycle_momentum_case,
    "LinearLR(start_factor, end_factor, total_iters)": schedule_case(
        lambda o: L.LinearLR(o, 0.2, 0.9, 10),
        lambda: S.linear(0.02, 0.09, 10),
    ),
    "PolynomialLR(total_iters, power)": schedule_case(
        lambda o: L.PolynomialLR(o, 20, 2.0),
        lambda: S.polynomial(0.1, 0.0, 2.0, 20),
        steps=20,  # torch's rate is 0 from step 20 on
    ),
    "ConstantLR(factor, total_iters)": schedule_case(
        lambda o: L.ConstantLR(o, factor=1 / 3, total_iters=5),
        lambda: S.join([S.constant(0.1 / 3), S.constant(0.1)], [5]),
        steps=10,
    ),
    "SequentialLR(schedulers, milestones)": sequential_case,
    "LambdaLR(lr_lambda)": schedule_case(
        lambda o: L.LambdaLR(o, lambda e: 1 / (1 + 0.3 * e) if e < 10 else 0.2),
        lambda: lambda k: 0.1 * pt.switch(k < 10, 1 / (1 + 0.3 * k), 0.2),
    ),
    "MultiplicativeLR(lr_lambda)": multiplicative_case,
    "ChainedScheduler(schedulers)": chained_case,
    "ReduceLROnPlateau(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)": plateau_case,
    "CyclicLR(base_lr, max_lr, step_size_up, step_size_down, mode, gamma)": "cyclic",
    "CyclicLR(cycle_momentum=True, base_momentum, max_momentum)": "cyclic momentum",
    "scheduler.step() once per epoch": per_epoch_case,
    "a scheduler over several param_groups": scheduler_groups_case,
}


def _cyclic_settings():
    return [
        cyclic_case(step_size_up=5),
        cyclic_case(step_size_up=4, step_size_down=7, mode="triangular2"),
        cyclic_case(step_size_up=6, mode="exp_range", gamma=0.97),
    ]


def run_case(key, monkeypatch):
    case = CASES[key]
    if case == "muon":

        @contextlib.contextmanager
        def exact_bfloat16(exact):
            with monkeypatch.context() as m:
                if exact:  # torch's Newton-Schulz casts to bfloat16 first: keep float64
                    m.setattr(torch.Tensor, "bfloat16", lambda self: self.clone())
                yield

        return muon_case(exact_bfloat16)
    if case == "cyclic":
        return [a for c in _cyclic_settings() for a in c()]
    if case == "cyclic momentum":
        return cyclic_case(step_size_up=5, step_size_down=3, cycle_momentum=True)()
    return case()


def test_every_row_has_a_case():
    assert_cases_cover(PAGE, CASES)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's warnings about scheduler and sparse use
@pytest.mark.parametrize("key", list(CASES))
def test_row_agrees_with_torch(key, monkeypatch, record_property):
    agreements = run_case(key, monkeypatch)
    assert agreements
    worst = max(a.max_rel for a in agreements)
    record_property("oracle_error", (f"torch.rst {key[:40]}", {"float64": worst}))
    for a in agreements:
        print(f"\n{key} | {a.what}: max abs {a.max_abs:.2e}, max rel {a.max_rel:.2e} (rtol {a.rtol:g})", end="")
    failed = [a for a in agreements if not a.max_rel <= a.rtol]
    assert not failed, "; ".join(f"{a.what}: relative {a.max_rel:.3g} > {a.rtol:g}" for a in failed)


# -- the figures of "Convention differences" -------------------------------------------------


def first_step(ours, make_torch, g):
    """The first step of each library from p = 0 for the gradient g (one element)."""
    with torch_float64():
        t = torch.zeros(1, requires_grad=True)
        opt = make_torch([t])
        t.grad = torch.tensor([g])
        opt.step()
        theirs = -float(t.detach()[0])
    p = pytensor.shared(np.zeros(1), name="p")
    pytensor.function([], [], updates=ours([pt.constant(np.array([g]))], [p]), mode=MODE)()
    return -float(p.get_value()[0]), theirs


def test_where_eps_sits_in_adam():
    torch_form, theirs = first_step(su.adam(learning_rate=1.0, form="torch"), lambda p: O.Adam(p, lr=1.0), 1e-6)
    pymc_form, _ = first_step(su.adam(learning_rate=1.0), lambda p: O.Adam(p, lr=1.0), 1e-6)
    assert round(theirs, 3) == round(torch_form, 3) == 0.990 and round(pymc_form, 3) == 0.760
    torch_form, _ = first_step(su.adam(learning_rate=1.0, form="torch"), lambda p: O.Adam(p, lr=1.0), 1.0)
    pymc_form, _ = first_step(su.adam(learning_rate=1.0), lambda p: O.Adam(p, lr=1.0), 1.0)
    assert 2.5e-7 < (torch_form - pymc_form) / torch_form < 3.5e-7


def test_eps_inside_the_square_root():
    def ours(inside):
        return su.rmsprop(learning_rate=1.0, rho=0.99, epsilon=1e-8, eps_inside_sqrt=inside)

    outside, theirs = first_step(ours(False), lambda p: O.RMSprop(p, lr=1.0), 1e-6)
    inside, _ = first_step(ours(True), lambda p: O.RMSprop(p, lr=1.0), 1e-6)
    assert round(theirs, 2) == round(outside, 2) == 9.09 and round(inside, 4) == 0.01
    outside, _ = first_step(ours(False), lambda p: O.RMSprop(p, lr=1.0), 1.0)
    inside, _ = first_step(ours(True), lambda p: O.RMSprop(p, lr=1.0), 1.0)
    assert round(outside, 5) == 10.0 and 3e-7 < (outside - inside) / outside < 5e-7


def test_momentum_before_or_after_the_rate():
    prob = problem(seed=30, steps=30)
    constant, _ = run_torch(T(O.SGD, lr=0.05, momentum=0.9), prob, 30)
    lasagne, _, _ = run_ours(su.momentum(learning_rate=0.05, momentum=0.9), prob, 30)
    assert trajectories("constant rate", lasagne, constant, prob.init).max_rel < 1e-12
    scheduled, _ = run_torch(T(O.SGD, lr=0.05, momentum=0.9), prob, 30, make_sched=lambda o: L.StepLR(o, 5, 0.3))
    lasagne, _, _ = run_ours(su.momentum(learning_rate=S.step(0.05, 5, 0.3), momentum=0.9), prob, 30)
    assert trajectories("scheduled", lasagne, scheduled, prob.init).max_rel > 1e-3


def test_clip_grad_norm_shrinks_just_below_the_threshold():
    g = np.array([0.6, 0.8]) * (1.0 - 1e-7)  # norm 1 - 1e-7, below max_norm = 1
    t = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    t.grad = torch.from_numpy(g.copy())
    torch.nn.utils.clip_grad_norm_([t], 1.0)
    assert np.all(t.grad.numpy() < g)
    p = pytensor.shared(np.zeros(2), name="p")
    updates = su.sgd([pt.constant(g)], [p], learning_rate=1.0, clip_global_norm=1.0)
    pytensor.function([], [], updates=updates, mode=MODE)()
    np.testing.assert_array_equal(-p.get_value(), g)


@pytest.mark.parametrize(
    "name, low, high",
    [("nadam", 1e-9, 4e-9), ("asgd", 3.5e-9, 1.4e-8)],  # the page: about 2e-9 and 7e-9
)
def test_float32_default_dtype(name, low, high):
    """torch's per-step scalars in float32 (its default dtype) against symupdates' float64."""
    make = {"nadam": T(O.NAdam, lr=0.05), "asgd": T(O.ASGD, lr=0.05, t0=3)}[name]
    ours = {"nadam": su.nadam(learning_rate=0.05), "asgd": su.asgd(learning_rate=0.05, t0=3)}[name]
    prob = problem(seed=0)
    assert torch.get_default_dtype() == torch.float32
    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in prob.init.items()}
    opt = make(params)
    theirs = []
    for k in range(N_STEPS):
        for n, t in params.items():
            t.grad = torch.from_numpy(prob.grad(k, n, t.detach().numpy()))
        opt.step()
        theirs.append({n: t.detach().numpy().copy() for n, t in params.items()})
    assert opt.state[params["W"]]["step"].dtype == torch.float32  # the step count too
    mine, _, _ = run_ours(ours, prob)
    assert low < trajectories(name, mine, theirs, prob.init).max_rel < high


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make", [lambda o: L.OneCycleLR(o, 0.1, total_steps=10), lambda o: L.CyclicLR(o, 0.01, 0.1)])
def test_schedulers_turn_momentum_on(make):
    w = torch.zeros(2, requires_grad=True)
    opt = O.SGD([w], lr=0.1)  # momentum=0
    make(opt)
    assert opt.param_groups[0]["momentum"] in (0.95, 0.9)  # OneCycleLR's and CyclicLR's max_momentum


def test_a_parameter_without_gradient():
    """torch skips a parameter whose .grad is None; symupdates' zero gradient still moves it by momentum."""
    with torch_float64():
        t = torch.ones(2, requires_grad=True)
        opt = O.SGD([t], lr=0.1, momentum=0.9)
        t.grad = torch.ones(2)
        opt.step()
        t.grad = None
        before = t.detach().clone()
        opt.step()
        assert torch.equal(t.detach(), before)
    p = pytensor.shared(np.ones(2), name="p")
    g = pt.vector("g", dtype="float64", shape=(2,))
    fn = pytensor.function([g], [], updates=su.sgd([g], [p], learning_rate=0.1, momentum=0.9), mode=MODE)
    fn(np.ones(2))
    first = p.get_value()
    fn(np.zeros(2))
    np.testing.assert_allclose(first - p.get_value(), 0.1 * 0.9 * np.ones(2), rtol=1e-14)
