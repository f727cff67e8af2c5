"""docs/migration/optax.rst: every row of its tested tables, run against optax 0.2.8.

Each case runs the optax call of a row and the symupdates code the row gives for it on the
same problem, optax through JAX on the CPU in float64:

* optimizers and transforms take ``N_STEPS`` steps on a noisy quadratic,
  ``g_k = c * (p - a) + n_k`` (the gradient of ``sum(c/2 (p - a)**2 + n_k p)``), with
  tensors of shapes (), (3,) and (2, 4); the parameters after every step are compared by
  their distance relative to the largest displacement ``|p_t - p_0|`` of the run, which
  does not shrink with the step size as the relative error of ``p_t`` would;
* schedules are compared value by value, relative to their largest value.

The same algorithm in both libraries agrees to rounding: the tolerance is 1e-12 unless a
case says why not. Rows whose two sides are *meant* to differ (optax's one-step-late Rprop,
its reduce-on-plateau conventions) assert the documented relation instead.
"""

from __future__ import annotations

import dataclasses

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import optax.contrib  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import pytest  # noqa: E402

import symupdates as su  # noqa: E402
from symupdates import schedules as S  # noqa: E402
from tests.docs.migration import assert_cases_cover  # noqa: E402

PAGE = "optax.rst"
N_STEPS = 12
SHAPES = [(), (3,), (2, 4)]
TOL = 1e-12
#: No graph rewrites and the Python linker: some 120 small graphs are compiled here, for their math
#: (rewrites and backends are tested elsewhere); FAST_COMPILE would double the time.
MODE = pytensor.compile.mode.Mode(linker="py", optimizer=None)


# -- the problem and the two runners ------------------------------------------------------------


@dataclasses.dataclass
class Problem:
    p0: list
    target: list
    curvature: list
    noise: list  # noise[k][i]: the noise of tensor i at step k

    def grads(self, params, k):
        return [c * (np.asarray(p) - a) + n for p, a, c, n in zip(params, self.target, self.curvature, self.noise[k])]

    def loss(self, params, k):
        return sum(
            float(np.sum(c / 2 * (np.asarray(p) - a) ** 2 + n * np.asarray(p)))
            for p, a, c, n in zip(params, self.target, self.curvature, self.noise[k])
        )


def problem(shapes=SHAPES, seed=0, n_steps=N_STEPS, curvature=True) -> Problem:
    """A random problem; ``curvature=False`` makes the gradients the noise alone (independent of ``p``)."""
    rng = np.random.default_rng(seed)
    p0 = [rng.normal(size=s) for s in shapes]
    target = [rng.normal(size=s) for s in shapes]
    c = [rng.uniform(0.5, 2.0, size=s) * curvature for s in shapes]
    noise = [[0.5 * rng.normal(size=s) for s in shapes] for _ in range(n_steps)]
    return Problem(p0, target, c, noise)


def run_ours(make, prob: Problem, before=None, n_steps=None):
    """Parameters after each step of ``make(loss, params)``; ``before(k, updates)`` runs before step ``k``."""
    params = [pytensor.shared(p.copy(), name=f"p{i}") for i, p in enumerate(prob.p0)]
    noise = [pt.tensor(f"n{i}", dtype="float64", shape=p.shape) for i, p in enumerate(prob.p0)]
    loss = sum(pt.sum(c / 2 * (p - a) ** 2 + n * p) for p, a, c, n in zip(params, prob.target, prob.curvature, noise))
    updates = make(loss, params)
    fn = pytensor.function(noise, [], updates=updates, mode=MODE)
    out = []
    for k in range(n_steps or len(prob.noise)):
        if before is not None:
            before(k, updates)
        fn(*prob.noise[k])
        out.append([p.get_value().copy() for p in params])
    return out, updates


def run_optax(tx, prob: Problem, before=None, value=False, n_steps=None, jit=False):
    """Parameters after each step of the optax transformation ``tx``.

    ``before(k, state)`` returns the state to use at step ``k``; ``value=True`` passes the
    loss as optax's ``value`` extra argument. ``jit=True`` compiles the update once, for
    transformations with a ``lax.cond``, which JAX would compile again at every eager call.
    """
    params = [jnp.asarray(p) for p in prob.p0]
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    out = []
    for k in range(n_steps or len(prob.noise)):
        if before is not None:
            state = before(k, state)
        grads = [jnp.asarray(g) for g in prob.grads(params, k)]
        extra = {"value": prob.loss(params, k)} if value else {}
        updates, state = update(grads, state, params, **extra)
        params = optax.apply_updates(params, updates)
        out.append([np.asarray(p) for p in params])
    return out, state


def distance(ours, theirs, p0) -> float:
    """max over steps and tensors of |ours - theirs|, relative to the tensor's largest displacement in ``theirs``."""
    worst = 0.0
    for i, start in enumerate(p0):
        scale = max(float(np.max(np.abs(np.asarray(step[i]) - start))) for step in theirs)
        diff = max(float(np.max(np.abs(a[i] - np.asarray(b[i])))) for a, b in zip(ours, theirs))
        worst = max(worst, diff / max(scale, 1e-300))
    return worst


def trajectory(ours, theirs, shapes=SHAPES, seed=0, value=False, jit=False) -> float:
    """Run the symupdates optimizer ``ours`` and the optax one ``theirs``; return their :func:`distance`."""
    prob = problem(shapes, seed)
    mine, _ = run_ours(ours, prob)
    other, _ = run_optax(theirs, prob, value=value, jit=jit)
    assert np.all(np.isfinite(np.concatenate([np.ravel(x) for x in other[-1]])))
    return distance(mine, other, prob.p0)


def descent(ours, theirs, learning_rate=0.05, **kw) -> float:
    """A transform of each library followed by its learning rate: ``su.chain(ours, lr)`` against ``optax.chain(theirs, lr)``."""
    return trajectory(
        su.chain(ours, su.scale_by_learning_rate(learning_rate)),
        optax.chain(theirs, optax.scale_by_learning_rate(learning_rate)),
        **kw,
    )


def schedule(ours, theirs, n=300) -> float:
    """The two schedules at steps 0..n-1, relative to the largest optax value."""
    mine = S.evaluate(ours, n)
    other = np.asarray(jax.vmap(theirs)(jnp.arange(n)), dtype=np.float64)
    assert mine.shape == other.shape == (n,)
    return float(np.max(np.abs(mine - other)) / np.max(np.abs(other)))


def worst(*errors) -> float:
    return max(errors)


# masks: parameters are p0 (a scalar), p1 (a vector), p2 (a matrix)
def optax_mask(params):
    return [p.ndim >= 1 for p in params]


OUR_MASK = {"p0": False}  # the same mask, by name (also: lambda p: p.ndim >= 1)
MATRICES = (lambda params: [p.ndim >= 2 for p in params], lambda p: p.ndim >= 2)


# -- the cases that need their own loop ----------------------------------------------------------


def sign_of_a_step() -> float:
    """A transform without a learning rate: optax adds its output, symupdates subtracts it."""
    prob = problem(curvature=False)  # gradients independent of p: both see the same gradients
    mine, _ = run_ours(su.scale_by_adam(form="torch"), prob)
    other, _ = run_optax(optax.scale_by_adam(), prob)
    mirrored = [[2 * p0 - np.asarray(x) for p0, x in zip(prob.p0, step)] for step in other]
    return distance(mine, mirrored, prob.p0)


def step_counter() -> float:
    prob = problem()
    _, updates = run_ours(su.adam(learning_rate=0.01, form="torch"), prob)
    _, state = run_optax(optax.adam(0.01), prob)
    ours, theirs = updates.state["adam.step"].get_value(), optax.tree_utils.tree_get(state, "count")
    assert ours.dtype == np.int64 and theirs.dtype == np.int32
    assert int(ours) == int(theirs) == N_STEPS
    return 0.0


def injected_hyperparameters() -> float:
    """Change the learning rate before step 5: a shared variable here, ``opt_state.hyperparams`` in optax."""
    prob = problem()
    rate = pytensor.shared(0.05, name="rate")

    def ours(k, updates):
        if k == 5:
            rate.set_value(0.01)

    def theirs(k, state):
        if k == 5:
            state.hyperparams["learning_rate"] = jnp.asarray(0.01)
        return state

    mine, _ = run_ours(su.adam(learning_rate=rate, beta1=0.8, form="torch"), prob, before=ours)
    other, _ = run_optax(optax.inject_hyperparams(optax.adam)(learning_rate=0.05, b1=0.8), prob, before=theirs)
    return distance(mine, other, prob.p0)


def rprop_steps() -> float:
    """optax 0.2.8's Rprop emits each step one call late: 0 at the first call, and the previous
    call's step after it, zeroed where the gradient's sign flips (optax pull request #1725).
    The step it should emit is in its state (``prev_updates``): that is symupdates' step.
    """
    prob = problem(curvature=False)  # gradients independent of p: the two runs see the same ones
    mine, _ = run_ours(su.rprop(learning_rate=0.05, etas=(0.4, 1.3), step_sizes=(1e-3, 0.08)), prob)
    tx = optax.rprop(0.05, eta_minus=0.4, eta_plus=1.3, min_step_size=1e-3, max_step_size=0.08)
    params = [jnp.asarray(p) for p in prob.p0]
    state, ours, theirs = tx.init(params), [], []
    for k in range(N_STEPS):
        emitted, state = tx.update([jnp.asarray(g) for g in prob.grads(params, k)], state, params)
        if k == 0:
            assert all(not np.any(np.asarray(u)) for u in emitted)
        before = prob.p0 if k == 0 else mine[k - 1]
        ours.append([b - a for b, a in zip(before, mine[k])])  # our step u_k: p_k = p_(k-1) - u_k
        theirs.append([np.asarray(u) for u in state[0].prev_updates])  # before optax's scale(-1): our sign
    zeros = [np.zeros_like(p) for p in prob.p0]
    return distance(ours, theirs, zeros)


def polyak(variant, f_min, scaling, max_learning_rate, eps):
    """optax.polyak_sgd as a symbolic learning rate: ``scaling * min(gap / (scaling**2 |g|**2 + eps), max)``."""

    def make(loss, params):
        grads = pytensor.grad(loss, params)
        gap = loss - f_min
        if variant == "sps+":
            gap = pt.maximum(gap, 0.0)
        norm2 = scaling**2 * sum(pt.sum(g**2) for g in grads) + eps
        rate = scaling * pt.switch(norm2 <= np.finfo(float).eps, 0.0, pt.minimum(gap / norm2, max_learning_rate))
        return su.sgd(grads, params, learning_rate=rate)

    tx = optax.polyak_sgd(max_learning_rate=max_learning_rate, scaling=scaling, f_min=f_min, eps=eps, variant=variant)
    return trajectory(make, tx, value=True)


def if_finite() -> float:
    """NaN gradients at steps 2, 5-6 (skipped: at most 2 in a row) and 8-10 (the third goes through)."""
    prob = problem(n_steps=11)
    for k in (2, 5, 6, 8, 9, 10):
        prob.noise[k][1] = prob.noise[k][1] * np.nan
    other, state = run_optax(optax.apply_if_finite(optax.adam(0.05), 2), prob, jit=True)
    errors = []
    for ours in (su.adam(learning_rate=0.05, form="torch", skip_nonfinite=2),
                 su.skip_nonfinite(su.as_transform(su.adam(learning_rate=0.05, form="torch")), 2)):  # fmt: skip
        mine, updates = run_ours(ours, prob)
        for k in range(len(mine)):  # the same steps are skipped, and step 10 makes p1 NaN in both
            for a, b in zip(mine[k], other[k]):
                np.testing.assert_array_equal(np.isnan(a), np.isnan(np.asarray(b)))
        assert int(updates.state["adam.skipped"].get_value()) == int(state.total_notfinite) - 1 == 5
        errors.append(distance(mine[:10], other[:10], prob.p0))
    return max(errors)


def multi_steps() -> float:
    inner = (su.adam(learning_rate=0.05, form="torch"), optax.adam(0.05))
    return trajectory(
        su.multi_steps(inner[0], 3),
        optax.MultiSteps(inner[1], every_k_schedule=3, accumulator_dtype=jnp.float64),
        jit=True,
    )


def lookahead() -> float:
    prob = problem()
    mine, _ = run_ours(su.lookahead(su.adam(learning_rate=0.05, form="torch"), 3, 0.6), prob)
    tx = optax.lookahead(optax.adam(0.05), 3, 0.6)
    params = optax.LookaheadParams.init_synced([jnp.asarray(p) for p in prob.p0])
    state, other = tx.init(params), []
    for k in range(N_STEPS):
        grads = [jnp.asarray(g) for g in prob.grads(params.fast, k)]
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        other.append([np.asarray(p) for p in params.fast])
    return distance(mine, other, prob.p0)


def plateau() -> float:
    """The rates both libraries use when they watch the same metric sequence.

    optax reduces after ``patience`` evaluations without improvement and applies the new scale
    to the update of the step that saw the metric; symupdates (torch's convention) reduces
    after ``patience + 1`` and from the next step on. So ``su.reduce_on_plateau(lr,
    patience=P - 1, ...)`` uses at step k + 1 the rate optax uses at step k.
    """
    metrics = [5.0, 4.0, 4.0, 4.1, 3.9996, 4.0, 3.0, 3.1, 3.2, 3.3, 3.0, 3.5, 3.6, 3.7, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9]
    metrics += [3.0] * 20
    lr, factor, patience, cooldown, window, min_scale = 0.1, 0.5, 2, 1, 2, 0.1
    # ours: sgd on a constant gradient 1 records the rate of each step
    w, metric = pytensor.shared(np.zeros(1), name="w"), pt.scalar("metric", dtype="float64")
    rate = su.reduce_on_plateau(
        lr, factor=factor, patience=patience - 1, threshold=1e-4, cooldown=cooldown, min_lr=min_scale * lr,
        window=window, metric=metric,
    )  # fmt: skip
    updates = su.sgd([pt.ones(1)], [w], learning_rate=rate)
    fn = pytensor.function([metric], [], updates=updates, mode=MODE)
    ours = []
    for m in metrics:
        fn(m)
        ours.append(float(updates.learning_rate.get_value()))
    # optax: the scale it applies to a unit update at each step
    tx = optax.contrib.reduce_on_plateau(
        factor=factor, patience=patience, rtol=1e-4, cooldown=cooldown, accumulation_size=window, min_scale=min_scale
    )
    state, theirs, update = tx.init(jnp.zeros(1)), [], jax.jit(tx.update)
    for m in metrics:
        scaled, state = update(jnp.ones(1), state, value=jnp.asarray(m))
        theirs.append(lr * float(scaled[0]))
    assert len(set(theirs)) >= 3, theirs  # it did reduce, twice at least, and hit the floor
    assert min(theirs) == pytest.approx(min_scale * lr)
    assert ours[0] == lr
    return float(np.max(np.abs(np.asarray(ours[1:]) - np.asarray(theirs[:-1]))) / lr)


def partition(frozen) -> float:
    """Two or three groups; the third frozen (``optax.set_to_zero``, ``optax.freeze`` or ``selective_transform``)."""
    labels = ["bias", "vector", "matrix"]
    ours = {
        "bias": (["p0"], su.sgd(learning_rate=0.03, momentum=0.9)),
        "vector": (["p1"], su.adamw(learning_rate=0.02, weight_decay=0.05)),
        "matrix": (["p2"], su.FROZEN if frozen else su.lion(learning_rate=0.01)),
    }
    theirs = {
        "bias": optax.sgd(0.03, momentum=0.9),
        "vector": optax.adamw(0.02, weight_decay=0.05),
        "matrix": optax.set_to_zero() if frozen else optax.lion(0.01, weight_decay=0.0),
    }
    return trajectory(su.partition(ours), optax.partition(theirs, labels))


def freeze(selective) -> float:
    mask = [False, False, True]  # freeze the matrix p2
    ours = su.partition(
        {"train": (["p0", "p1"], su.adam(learning_rate=0.05, form="torch")), "rest": (["p2"], su.FROZEN)}
    )
    if selective:
        theirs = optax.selective_transform(optax.adam(0.05), freeze_mask=mask)
    else:
        theirs = optax.chain(optax.adam(0.05), optax.freeze(mask))
    return trajectory(ours, theirs)


def masked_general() -> float:
    """``optax.masked(scale_by_adam(), mask)``: masked-out parameters get the raw gradient, so plain SGD."""
    ours = su.partition(
        {"adam": (["p1", "p2"], su.adam(learning_rate=0.05, form="torch")), "sgd": (["p0"], su.sgd(learning_rate=0.05))}
    )
    theirs = optax.chain(optax.masked(optax.scale_by_adam(), optax_mask), optax.scale_by_learning_rate(0.05))
    return trajectory(ours, theirs)


def interpolated() -> float:
    """optax.piecewise_interpolate_schedule: linear pieces are linear schedules, cosine pieces cosine_decay with eta_min."""
    boundaries, values = [20, 70, 150], [0.1, 0.5, 0.02, 0.001]  # values[i] reached at boundaries[i - 1]
    scales = {b: values[i + 1] / values[i] for i, b in enumerate(boundaries)}
    starts = [0, *boundaries]
    linear = S.join(
        [S.linear(values[i], values[i + 1], starts[i + 1] - starts[i]) for i in range(3)] + [S.constant(values[3])],
        boundaries,
    )
    cosine = S.join(
        [S.cosine_decay(values[i], starts[i + 1] - starts[i], eta_min=values[i + 1]) for i in range(3)]
        + [S.constant(values[3])],
        boundaries,
    )
    return worst(
        schedule(linear, optax.piecewise_interpolate_schedule("linear", values[0], scales)),
        schedule(cosine, optax.piecewise_interpolate_schedule("cosine", values[0], scales)),
    )


def sgdr() -> float:
    blocks = [
        dict(init_value=0.0, peak_value=0.1, warmup_steps=10, decay_steps=100, end_value=1e-3),
        dict(init_value=1e-3, peak_value=0.05, warmup_steps=5, decay_steps=60, end_value=0.0),
        dict(init_value=0.0, peak_value=0.02, warmup_steps=20, decay_steps=140, end_value=1e-4),
    ]
    ours = S.join(
        [S.warmup_cosine(**kw) for kw in blocks], np.cumsum([kw["decay_steps"] for kw in blocks])[:-1].tolist()
    )
    return schedule(ours, optax.sgdr_schedule(blocks))


def one_cycle_cosine() -> float:
    """optax's cycle of T steps peaks at step floor(p T) and ends at T: su.one_cycle over T + 1 steps."""
    T, p = 200, 0.25
    ours = S.one_cycle(0.1, T + 1, pct_start=(int(p * T) + 1) / (T + 1), div_factor=20.0, final_div_factor=50.0)
    return schedule(ours, optax.cosine_onecycle_schedule(T, 0.1, pct_start=p, div_factor=20.0, final_div_factor=50.0))


def one_cycle_linear() -> float:
    """Symmetric (pct_final = 2 pct_start): su.one_cycle(three_phase=True); otherwise a join of linear schedules."""
    T = 200
    symmetric = S.one_cycle(
        0.1, T + 1, pct_start=61 / (T + 1), anneal_strategy="linear", three_phase=True, div_factor=10.0, final_div_factor=100.0
    )  # fmt: skip
    low = 0.1 / 10.0
    general = S.join([S.linear(low, 0.1, 50), S.linear(0.1, low, 120), S.linear(low, low / 100.0, 30), S.constant(low / 100.0)], [50, 170, 200])  # fmt: skip
    return worst(
        schedule(symmetric, optax.linear_onecycle_schedule(T, 0.1, 0.3, 0.6, div_factor=10.0, final_div_factor=100.0)),
        schedule(general, optax.linear_onecycle_schedule(T, 0.1, 0.25, 0.85, div_factor=10.0, final_div_factor=100.0)),
    )


def resumed_factored_rms() -> float:
    """``step_offset`` (our ``decay_offset``) is for a run resumed at that step: both counters start at 5 here.

    (In a fresh run, optax's decay 1 - (t - offset)**(-c) is NaN for the first ``offset`` steps.)
    """
    prob = problem()
    ours = su.chain(
        su.scale_by_factored_rms(0.7, decay_offset=3, min_dim_size_to_factor=2, epsilon=1e-20),
        su.scale_by_learning_rate(0.05),
    )
    theirs = optax.chain(
        optax.scale_by_factored_rms(decay_rate=0.7, step_offset=3, min_dim_size_to_factor=2, epsilon=1e-20),
        optax.scale_by_learning_rate(0.05),
    )

    def resume_ours(k, updates):
        if k == 0:
            updates.state["chain.step"].set_value(5)

    def resume_theirs(k, state):
        return (state[0]._replace(count=jnp.asarray(5, jnp.int32)), *state[1:]) if k == 0 else state

    mine, _ = run_ours(ours, prob, before=resume_ours)
    other, _ = run_optax(theirs, prob, before=resume_theirs)
    return distance(mine, other, prob.p0)


def fromage(learning_rate) -> float:
    keep = 1 / np.sqrt(1 + learning_rate**2)
    ours = su.chain(
        su.scale_by_trust_ratio(), su.scale_by_learning_rate(learning_rate * keep), su.add_decayed_weights(1 - keep)
    )
    return trajectory(ours, optax.fromage(learning_rate))


#: optax computes Adafactor's decay 1 - t**(-c) in float32 (``jnp.array(t, jnp.float32)``), x64 or not:
#: the second moments, and so the steps, then differ from ours (float64) at float32's rounding.
FLOAT32_DECAY = 1e-7


@dataclasses.dataclass(frozen=True)
class Case:
    run: object  # () -> the error measured
    tol: float = TOL


def case(run, tol=TOL) -> Case:
    return Case(run, tol)


# -- one case per row of the page's tested tables, keyed as the page writes the row -----------

CASES = {
    # the API
    "optax.apply_updates(params, updates)": case(sign_of_a_step),
    'optax.tree_utils.tree_get(opt_state, "count")': case(step_counter),
    "optax.inject_hyperparams(optax.adam)(learning_rate=lr, b1=b1)": case(injected_hyperparameters),
    "optax.adam(learning_rate=schedule)": case(
        lambda: trajectory(
            su.adam(
                learning_rate=S.join([S.linear(0.125, 0.0625, 4), S.piecewise_constant(0.0625, {3: 0.25})], [4]),
                form="torch",
            ),
            optax.adam(
                optax.join_schedules(
                    [optax.linear_schedule(0.125, 0.0625, 4), optax.piecewise_constant_schedule(0.0625, {3: 0.25})], [4]
                )
            ),
        )  # rates exact in float32, which optax computes them in (see test_optax_schedules_run_in_float32)
    ),
    # the optimizers
    "optax.sgd(learning_rate)": case(lambda: trajectory(su.sgd(learning_rate=0.1), optax.sgd(0.1))),
    "optax.sgd(learning_rate, momentum, nesterov)": case(
        lambda: worst(
            trajectory(su.sgd(learning_rate=0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)),
            trajectory(su.sgd(learning_rate=0.05, momentum=0.8, nesterov=True), optax.sgd(0.05, 0.8, nesterov=True)),
        )
    ),
    "optax.adam(learning_rate, b1, b2, eps)": case(
        lambda: trajectory(
            su.adam(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-6, form="torch"),
            optax.adam(0.05, b1=0.8, b2=0.99, eps=1e-6),
        )
    ),
    "optax.nadam(learning_rate, b1, b2, eps)": case(
        lambda: worst(
            trajectory(
                su.nadam(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-6, form="optax"),
                optax.nadam(0.05, b1=0.8, b2=0.99, eps=1e-6),
            ),
            trajectory(su.nadam(learning_rate=0.05, form="optax"), optax.adam(0.05, nesterov=True)),
        )
    ),
    "optax.adamw(learning_rate, b1, b2, eps, weight_decay, mask)": case(
        lambda: worst(
            trajectory(su.adamw(learning_rate=0.05, weight_decay=1e-4), optax.adamw(0.05)),
            trajectory(
                su.adamw(learning_rate=0.05, beta1=0.85, epsilon=1e-7, weight_decay=0.2, weight_decay_mask=OUR_MASK),
                optax.adamw(0.05, b1=0.85, eps=1e-7, weight_decay=0.2, mask=optax_mask),
            ),
        )
    ),
    "optax.nadamw(learning_rate, b1, b2, eps, weight_decay, mask)": case(
        lambda: trajectory(
            su.nadam(
                learning_rate=0.05, beta2=0.99, form="optax", decoupled_weight_decay=0.1, weight_decay_mask=OUR_MASK
            ),
            optax.nadamw(0.05, b2=0.99, weight_decay=0.1, mask=optax_mask),
        )
    ),
    "optax.adamax(learning_rate, b1, b2, eps)": case(
        lambda: trajectory(
            su.adamax(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-4, form="torch"),
            optax.adamax(0.05, b1=0.8, b2=0.99, eps=1e-4),
        )
    ),
    "optax.adamaxw(learning_rate, b1, b2, eps, weight_decay, mask)": case(
        lambda: trajectory(
            su.adamax(learning_rate=0.05, form="torch", decoupled_weight_decay=0.1, weight_decay_mask=OUR_MASK),
            optax.adamaxw(0.05, weight_decay=0.1, mask=optax_mask),
        )
    ),
    "optax.radam(learning_rate, b1, b2, eps, threshold)": case(
        lambda: worst(
            trajectory(su.radam(learning_rate=0.05, form="optax"), optax.radam(0.05)),
            trajectory(
                su.radam(learning_rate=0.05, beta2=0.9, epsilon=1e-6, threshold=4.5, form="optax"),
                optax.radam(0.05, b2=0.9, eps=1e-6, threshold=4.5),
            ),
        )
    ),
    "optax.adabelief(learning_rate, b1, b2, eps, eps_root)": case(
        lambda: trajectory(
            su.adabelief(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-8, eps_root=1e-10),
            optax.adabelief(0.05, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10),
        )
    ),
    "optax.yogi(learning_rate, b1, b2, eps)": case(
        lambda: trajectory(
            su.yogi(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-4),
            optax.yogi(0.05, b1=0.8, b2=0.99, eps=1e-4),
        )
    ),
    "optax.adan(learning_rate, b1, b2, b3, eps, eps_root, weight_decay, mask)": case(
        lambda: trajectory(
            su.adan(
                learning_rate=0.05,
                beta1=0.9,
                beta2=0.9,
                beta3=0.95,
                eps_root=1e-10,
                weight_decay=0.1,
                weight_decay_mask=OUR_MASK,
            ),
            optax.adan(0.05, b1=0.9, b2=0.9, b3=0.95, eps_root=1e-10, weight_decay=0.1, mask=optax_mask),
        )
    ),
    "optax.lamb(learning_rate, b1, b2, eps, weight_decay, mask)": case(
        lambda: trajectory(
            su.lamb(learning_rate=0.05, beta1=0.8, epsilon=1e-8, weight_decay=0.1, weight_decay_mask=OUR_MASK),
            optax.lamb(0.05, b1=0.8, eps=1e-8, weight_decay=0.1, mask=optax_mask),
        )
    ),
    "optax.lars(learning_rate, weight_decay, weight_decay_mask, trust_coefficient, eps, trust_ratio_mask, momentum, nesterov)": case(
        lambda: worst(
            trajectory(su.lars(learning_rate=0.5), optax.lars(0.5)),
            trajectory(
                su.lars(
                    learning_rate=0.5,
                    momentum=0.8,
                    trust_coefficient=0.01,
                    epsilon=1e-3,
                    nesterov=True,
                    trust_ratio_mask=MATRICES[1],
                    weight_decay=1e-2,
                    weight_decay_mask=OUR_MASK,
                ),
                optax.lars(
                    0.5,
                    weight_decay=1e-2,
                    weight_decay_mask=optax_mask,
                    trust_coefficient=0.01,
                    eps=1e-3,
                    trust_ratio_mask=MATRICES[0],
                    momentum=0.8,
                    nesterov=True,
                ),
            ),
        )  # fmt: skip
    ),
    "optax.lion(learning_rate, b1, b2, weight_decay, mask)": case(
        lambda: trajectory(
            su.lion(learning_rate=0.01, beta1=0.8, beta2=0.95, decoupled_weight_decay=0.1, weight_decay_mask=OUR_MASK),
            optax.lion(0.01, b1=0.8, b2=0.95, weight_decay=0.1, mask=optax_mask),
        )
    ),
    "optax.novograd(learning_rate, b1, b2, eps, weight_decay)": case(
        lambda: trajectory(
            su.novograd(learning_rate=0.05, beta1=0.8, beta2=0.5, epsilon=1e-8, weight_decay=0.01),
            optax.novograd(0.05, b1=0.8, b2=0.5, eps=1e-8, weight_decay=0.01),
        )
    ),
    "optax.adafactor(learning_rate, min_dim_size_to_factor, decay_rate, decay_offset, multiply_by_parameter_scale, clipping_threshold, momentum, weight_decay_rate, eps, factored)": case(
        lambda: worst(
            trajectory(
                su.adafactor(learning_rate=0.05, min_dim_size_to_factor=2),
                optax.adafactor(0.05, min_dim_size_to_factor=2),
            ),
            trajectory(
                su.adafactor(
                    learning_rate=0.05,
                    min_dim_size_to_factor=2,
                    decay_rate=0.7,
                    multiply_by_parameter_scale=False,
                    clipping_threshold=0.5,
                    momentum=0.9,
                    weight_decay=1e-3,
                    epsilon=1e-20,
                ),
                optax.adafactor(
                    0.05,
                    min_dim_size_to_factor=2,
                    decay_rate=0.7,
                    multiply_by_parameter_scale=False,
                    clipping_threshold=0.5,
                    momentum=0.9,
                    dtype_momentum=jnp.float64,
                    weight_decay_rate=1e-3,
                    eps=1e-20,
                ),
            ),
            trajectory(su.adafactor(learning_rate=0.05, factored=False), optax.adafactor(0.05, factored=False)),
        ),  # fmt: skip
        FLOAT32_DECAY,
    ),
    "optax.sm3(learning_rate, momentum)": case(
        lambda: trajectory(
            su.sm3(learning_rate=0.05, momentum=0.8), optax.sm3(0.05, momentum=0.8), shapes=[(3,), (2, 4)]
        )
    ),
    "optax.adagrad(learning_rate, initial_accumulator_value, eps)": case(
        lambda: worst(
            trajectory(su.adagrad(learning_rate=0.1, epsilon=1e-7, initial_accumulator_value=0.1), optax.adagrad(0.1)),
            trajectory(
                su.adagrad(learning_rate=0.1, epsilon=1e-4, initial_accumulator_value=0.5),
                optax.adagrad(0.1, initial_accumulator_value=0.5, eps=1e-4),
            ),
        )
    ),
    "optax.adadelta(learning_rate, rho, eps, weight_decay, weight_decay_mask)": case(
        lambda: worst(
            trajectory(su.adadelta(learning_rate=1.0, rho=0.9), optax.adadelta(1.0)),
            trajectory(
                su.adadelta(learning_rate=0.5, rho=0.8, epsilon=1e-4, weight_decay=0.1, weight_decay_mask=OUR_MASK),
                optax.adadelta(0.5, rho=0.8, eps=1e-4, weight_decay=0.1, weight_decay_mask=optax_mask),
            ),
        )
    ),
    "optax.rmsprop(learning_rate, decay, eps, eps_in_sqrt, centered, momentum)": case(
        lambda: worst(
            trajectory(su.rmsprop(learning_rate=0.01, epsilon=1e-8), optax.rmsprop(0.01)),
            trajectory(
                su.rmsprop(learning_rate=0.01, rho=0.8, epsilon=1e-6, centered=True, momentum=0.9),
                optax.rmsprop(0.01, decay=0.8, eps=1e-6, centered=True, momentum=0.9),
            ),
            trajectory(
                su.rmsprop(learning_rate=0.01, epsilon=1e-4, eps_inside_sqrt=False),
                optax.rmsprop(0.01, eps=1e-4, eps_in_sqrt=False),
            ),
        )
    ),
    "optax.rmsprop(learning_rate, decay, eps, initial_scale, centered, momentum, nesterov=True)": case(
        lambda: trajectory(
            su.chain(
                su.scale_by_rms(0.8, 1e-6, centered=True, initial_accumulator_value=0.5),
                su.scale_by_learning_rate(0.01),
                su.trace(0.9, nesterov=True),
            ),
            optax.rmsprop(0.01, decay=0.8, eps=1e-6, initial_scale=0.5, centered=True, momentum=0.9, nesterov=True),
        )
    ),
    "optax.rmsprop(learning_rate, decay, eps, eps_in_sqrt=False, bias_correction=True)": case(
        lambda: trajectory(
            su.adam(learning_rate=0.01, beta1=0.0, beta2=0.8, epsilon=1e-6, form="torch"),
            optax.rmsprop(0.01, decay=0.8, eps=1e-6, eps_in_sqrt=False, bias_correction=True),
        )
    ),
    "optax.rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)": case(rprop_steps),
    "optax.sign_sgd(learning_rate)": case(lambda: trajectory(su.sign_sgd(learning_rate=0.05), optax.sign_sgd(0.05))),
    "optax.signum(learning_rate, beta)": case(
        lambda: trajectory(su.signum(learning_rate=0.05, beta=0.7), optax.signum(0.05, beta=0.7))
    ),
    "optax.fromage(learning_rate, min_norm)": case(lambda: worst(fromage(0.1), fromage(0.5))),
    "optax.polyak_sgd(max_learning_rate, scaling, f_min, eps, variant)": case(
        lambda: worst(polyak("sps", 0.0, 1.0, 1.0, 0.0), polyak("sps+", 0.5, 0.5, 0.3, 1e-3))
    ),
    # the transforms
    "optax.chain(*transforms)": case(
        lambda: trajectory(
            su.chain(
                su.clip_global_norm(1.0),
                su.scale_by_adam(form="torch"),
                su.add_decayed_weights(1e-2),
                su.scale_by_learning_rate(0.05),
            ),
            optax.chain(
                optax.clip_by_global_norm(1.0),
                optax.scale_by_adam(),
                optax.add_decayed_weights(1e-2),
                optax.scale_by_learning_rate(0.05),
            ),
        )
    ),
    "optax.identity()": case(lambda: descent(su.identity(), optax.identity(), 0.1)),
    "optax.scale(step_size)": case(
        lambda: trajectory(
            su.chain(su.scale_by_adam(form="torch"), su.scale(0.05)),
            optax.chain(optax.scale_by_adam(), optax.scale(-0.05)),
        )
    ),
    "optax.scale_by_learning_rate(learning_rate, flip_sign)": case(
        lambda: worst(
            trajectory(su.scale_by_learning_rate(0.1), optax.scale_by_learning_rate(0.1)),
            trajectory(
                su.scale_by_learning_rate(0.1),
                optax.chain(optax.scale_by_learning_rate(0.1, flip_sign=False), optax.scale(-1.0)),
            ),
            trajectory(  # rates exact in float32 (see test_optax_schedules_run_in_float32)
                su.scale_by_learning_rate(S.exponential_decay(0.5, 0.5)),
                optax.scale_by_learning_rate(optax.exponential_decay(0.5, 1, 0.5)),
            ),
        )
    ),
    "optax.scale_by_schedule(step_size_fn)": case(
        lambda: trajectory(
            su.chain(su.scale_by_adam(form="torch"), su.scale(S.linear(0.125, 0.0, 8))),
            optax.chain(
                optax.scale_by_adam(), optax.scale_by_schedule(lambda k: -optax.linear_schedule(0.125, 0.0, 8)(k))
            ),
        )  # rates exact in float32 (see test_optax_schedules_run_in_float32)
    ),
    "optax.clip(max_delta)": case(
        lambda: worst(
            descent(su.clip_by_value(0.3), optax.clip(0.3), 0.1),
            trajectory(su.sgd(learning_rate=0.1, clip_gradient=0.3), optax.chain(optax.clip(0.3), optax.sgd(0.1))),
        )
    ),
    "optax.clip_by_global_norm(max_norm)": case(
        lambda: worst(
            descent(su.clip_global_norm(1.0), optax.clip_by_global_norm(1.0), 0.1),
            trajectory(
                su.adam(learning_rate=0.05, form="torch", clip_global_norm=1.0),
                optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.05)),
            ),
        )
    ),
    "optax.clip_by_block_rms(threshold)": case(
        lambda: descent(su.clip_by_block_rms(0.4), optax.clip_by_block_rms(0.4), 0.1)
    ),
    "optax.add_decayed_weights(weight_decay, mask)": case(
        lambda: worst(
            trajectory(  # before the scaling: coupled (L2)
                su.adam(learning_rate=0.05, form="torch", weight_decay=0.1, weight_decay_mask=OUR_MASK),
                optax.chain(optax.add_decayed_weights(0.1, optax_mask), optax.adam(0.05)),
            ),
            trajectory(  # after it: decoupled
                su.adam(learning_rate=0.05, form="torch", decoupled_weight_decay=0.1, weight_decay_mask=OUR_MASK),
                optax.chain(
                    optax.scale_by_adam(),
                    optax.add_decayed_weights(0.1, optax_mask),
                    optax.scale_by_learning_rate(0.05),
                ),
            ),
            descent(
                su.add_decayed_weights(0.2, mask=lambda p: p.ndim >= 1), optax.add_decayed_weights(0.2, optax_mask), 0.1
            ),
        )
    ),
    "optax.masked(inner, mask)": case(
        lambda: worst(
            trajectory(
                su.chain(
                    su.scale_by_adam(form="torch"),
                    su.add_decayed_weights(0.1, mask=OUR_MASK),
                    su.scale_by_learning_rate(0.05),
                ),
                optax.chain(
                    optax.scale_by_adam(),
                    optax.masked(optax.add_decayed_weights(0.1), optax_mask),
                    optax.scale_by_learning_rate(0.05),
                ),
            ),
            masked_general(),
        )
    ),
    "optax.partition(transforms, param_labels)": case(lambda: partition(frozen=False)),
    "optax.set_to_zero()": case(lambda: partition(frozen=True)),
    "optax.freeze(mask)": case(lambda: freeze(selective=False)),
    "optax.selective_transform(optimizer, freeze_mask)": case(lambda: freeze(selective=True)),
    "optax.apply_if_finite(inner, max_consecutive_errors)": case(if_finite),
    "optax.MultiSteps(opt, every_k_schedule)": case(multi_steps),
    "optax.lookahead(fast_optimizer, sync_period, slow_step_size)": case(lookahead),
    "optax.contrib.reduce_on_plateau(factor, patience, rtol, atol, cooldown, accumulation_size, min_scale)": case(
        plateau
    ),
    "optax.trace(decay, nesterov)": case(
        lambda: worst(
            descent(su.trace(0.9), optax.trace(0.9), 0.05),
            descent(su.trace(0.8, nesterov=True), optax.trace(0.8, nesterov=True), 0.05),
        )
    ),
    "optax.ema(decay, debias=False)": case(lambda: descent(su.ema(0.8), optax.ema(0.8, debias=False), 0.1)),
    "optax.scale_by_adam(b1, b2, eps, nesterov)": case(
        lambda: worst(
            descent(su.scale_by_adam(0.8, 0.99, 1e-6, form="torch"), optax.scale_by_adam(0.8, 0.99, 1e-6)),
            descent(
                su.scale_by_nadam(0.8, 0.99, 1e-6, form="optax"), optax.scale_by_adam(0.8, 0.99, 1e-6, nesterov=True)
            ),
        )
    ),
    "optax.scale_by_adamax(b1, b2, eps)": case(
        lambda: descent(su.scale_by_adamax(0.8, 0.99, 1e-4, form="torch"), optax.scale_by_adamax(0.8, 0.99, 1e-4))
    ),
    "optax.scale_by_radam(b1, b2, eps, threshold)": case(
        lambda: descent(
            su.scale_by_radam(0.8, 0.9, 1e-6, threshold=4.5, form="optax"),
            optax.scale_by_radam(0.8, 0.9, 1e-6, threshold=4.5),
        )
    ),
    "optax.scale_by_belief(b1, b2, eps, eps_root)": case(
        lambda: descent(
            su.scale_by_belief(0.8, 0.99, 1e-8, eps_root=1e-10), optax.scale_by_belief(0.8, 0.99, 1e-8, 1e-10)
        )
    ),
    "optax.scale_by_yogi(b1, b2, eps, eps_root, initial_accumulator_value)": case(
        lambda: descent(
            su.scale_by_yogi(0.8, 0.99, 1e-4, eps_root=1e-8, initial_accumulator_value=0.1),
            optax.scale_by_yogi(0.8, 0.99, 1e-4, 1e-8, initial_accumulator_value=0.1),
        )
    ),
    "optax.scale_by_adan(b1, b2, b3, eps, eps_root)": case(
        lambda: descent(
            su.scale_by_adan(0.9, 0.9, 0.95, 1e-8, eps_root=1e-10), optax.scale_by_adan(0.9, 0.9, 0.95, 1e-8, 1e-10)
        )
    ),
    "optax.scale_by_lion(b1, b2)": case(
        lambda: descent(su.scale_by_lion(0.8, 0.95), optax.scale_by_lion(0.8, 0.95), 0.01)
    ),
    "optax.scale_by_sign()": case(lambda: descent(su.scale_by_sign(), optax.scale_by_sign(), 0.01)),
    "optax.scale_by_novograd(b1, b2, eps, weight_decay)": case(
        lambda: descent(
            su.scale_by_novograd(0.8, 0.5, 1e-8, weight_decay=0.01),
            optax.scale_by_novograd(0.8, 0.5, 1e-8, weight_decay=0.01),
        )
    ),
    "optax.scale_by_trust_ratio(min_norm, trust_coefficient, eps)": case(
        lambda: descent(
            su.scale_by_trust_ratio(0.5, 1e-3), optax.scale_by_trust_ratio(trust_coefficient=0.5, eps=1e-3), 0.1
        )
    ),
    "optax.scale_by_sm3(b1, b2=1.0, eps)": case(
        lambda: descent(su.scale_by_sm3(0.8, 1e-6), optax.scale_by_sm3(0.8, eps=1e-6), shapes=[(3,), (2, 4)])
    ),
    "optax.scale_by_factored_rms(factored, decay_rate, step_offset, min_dim_size_to_factor, epsilon)": case(
        resumed_factored_rms, FLOAT32_DECAY
    ),
    "optax.scale_by_param_block_rms(min_scale)": case(
        lambda: descent(su.scale_by_param_block_rms(0.1), optax.scale_by_param_block_rms(0.1), 0.1)
    ),
    "optax.scale_by_rms(decay, eps, initial_scale, eps_in_sqrt)": case(
        lambda: worst(
            descent(
                su.scale_by_rms(0.8, 1e-6, initial_accumulator_value=0.5), optax.scale_by_rms(0.8, 1e-6, 0.5), 0.01
            ),
            descent(
                su.scale_by_rms(0.8, 1e-4, eps_inside_sqrt=False),
                optax.scale_by_rms(0.8, 1e-4, eps_in_sqrt=False),
                0.01,
            ),
        )
    ),
    "optax.scale_by_stddev(decay, eps, initial_scale, eps_in_sqrt)": case(
        lambda: descent(
            su.scale_by_rms(0.8, 1e-6, centered=True, initial_accumulator_value=0.5),
            optax.scale_by_stddev(0.8, 1e-6, 0.5),
            0.01,
        )
    ),
    "optax.scale_by_rss(initial_accumulator_value, eps)": case(
        lambda: descent(su.scale_by_adagrad(1e-4, initial_accumulator_value=0.5), optax.scale_by_rss(0.5, 1e-4), 0.1)
    ),
    "optax.scale_by_adadelta(rho, eps)": case(
        lambda: descent(su.scale_by_adadelta(0.8, 1e-4), optax.scale_by_adadelta(0.8, 1e-4), 0.5)
    ),
    # the schedules
    "optax.constant_schedule(value)": case(lambda: schedule(S.constant(0.3), optax.constant_schedule(0.3))),
    "optax.exponential_decay(init_value, transition_steps, decay_rate, transition_begin, staircase, end_value)": case(
        lambda: worst(
            schedule(S.exponential_decay(0.1, 0.97, 10), optax.exponential_decay(0.1, 10, 0.97)),
            schedule(
                S.exponential_decay(0.1, 0.5, 40, transition_begin=30, staircase=True, end_value=0.01),
                optax.exponential_decay(0.1, 40, 0.5, transition_begin=30, staircase=True, end_value=0.01),
            ),
            schedule(
                S.exponential_decay(0.01, 1.02, 3, end_value=0.05),
                optax.exponential_decay(0.01, 3, 1.02, end_value=0.05),
            ),
        )
    ),
    "optax.piecewise_constant_schedule(init_value, boundaries_and_scales)": case(
        lambda: schedule(
            S.piecewise_constant(0.1, {50: 0.5, 120: 0.1, 200: 3.0}),
            optax.piecewise_constant_schedule(0.1, {50: 0.5, 120: 0.1, 200: 3.0}),
        )
    ),
    "optax.linear_schedule(init_value, end_value, transition_steps, transition_begin)": case(
        lambda: schedule(S.linear(0.1, 0.02, 150, transition_begin=40), optax.linear_schedule(0.1, 0.02, 150, 40))
    ),
    "optax.polynomial_schedule(init_value, end_value, power, transition_steps, transition_begin)": case(
        lambda: schedule(
            S.polynomial(0.1, 0.001, 2.5, 200, transition_begin=20), optax.polynomial_schedule(0.1, 0.001, 2.5, 200, 20)
        )
    ),
    "optax.cosine_decay_schedule(init_value, decay_steps, alpha, exponent)": case(
        lambda: schedule(S.cosine_decay(0.1, 200, 0.05, exponent=1.5), optax.cosine_decay_schedule(0.1, 200, 0.05, 1.5))
    ),
    "optax.warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps, decay_steps, end_value, exponent)": case(
        lambda: schedule(
            S.warmup_cosine(0.001, 0.2, 30, 250, 0.002, exponent=2.0),
            optax.warmup_cosine_decay_schedule(0.001, 0.2, 30, 250, 0.002, 2.0),
        )
    ),
    "optax.warmup_constant_schedule(init_value, peak_value, warmup_steps)": case(
        lambda: schedule(S.warmup(S.constant(0.1), 40, 0.001), optax.warmup_constant_schedule(0.001, 0.1, 40))
    ),
    "optax.warmup_exponential_decay_schedule(init_value, peak_value, warmup_steps, transition_steps, decay_rate, transition_begin, staircase, end_value)": case(
        lambda: schedule(
            S.warmup(
                S.exponential_decay(0.1, 0.8, 20, transition_begin=10, staircase=True, end_value=0.005), 30, 0.001
            ),
            optax.warmup_exponential_decay_schedule(
                0.001, 0.1, 30, 20, 0.8, transition_begin=10, staircase=True, end_value=0.005
            ),
        )
    ),
    "optax.join_schedules(schedules, boundaries)": case(
        lambda: schedule(
            S.join([S.linear(0.01, 0.1, 50), S.exponential_decay(0.1, 0.99), S.constant(0.02)], [50, 200]),
            optax.join_schedules(
                [
                    optax.linear_schedule(0.01, 0.1, 50),
                    optax.exponential_decay(0.1, 1, 0.99),
                    optax.constant_schedule(0.02),
                ],
                [50, 200],
            ),
        )
    ),
    "optax.sgdr_schedule(cosine_kwargs)": case(sgdr),
    "optax.piecewise_interpolate_schedule(interpolate_type, init_value, boundaries_and_scales)": case(interpolated),
    "optax.cosine_onecycle_schedule(transition_steps, peak_value, pct_start, div_factor, final_div_factor)": case(
        one_cycle_cosine
    ),
    "optax.linear_onecycle_schedule(transition_steps, peak_value, pct_start, pct_final, div_factor, final_div_factor)": case(
        one_cycle_linear
    ),
}


def test_every_row_has_a_case():
    assert_cases_cover(PAGE, CASES)


def _ids(keys):
    """Short test ids: the call without its arguments, numbered when repeated (optax.rmsprop-2)."""
    names = [key.split("(")[0] for key in keys]
    return [name if names.count(name) == 1 else f"{name}-{names[:i].count(name) + 1}" for i, name in enumerate(names)]


@pytest.mark.parametrize("key", list(CASES), ids=_ids(CASES))
def test_row_agrees_with_optax(key, record_property):
    row = CASES[key]
    error = row.run()
    record_property("oracle_error", (f"optax.rst {key[:60]}", {"float64": error}))
    assert error <= row.tol, f"{key}: relative difference {error:.3g} > {row.tol:g}"


# -- the convention differences the page states ---------------------------------------------------


def test_amsgrad_has_no_exact_counterpart():
    """optax.amsgrad takes the maximum of the bias-corrected second moment, su.amsgrad of the raw one.

    They agree at the first step and differ once the raw second moment falls (here the gradients shrink).
    """
    prob = problem()
    prob.noise = [[n * 4.0 / (k + 1) for n in step] for k, step in enumerate(prob.noise)]
    mine, _ = run_ours(su.adam(learning_rate=0.05, form="torch", amsgrad=True), prob)
    other, _ = run_optax(optax.amsgrad(0.05), prob)
    assert distance(mine[:1], other[:1], prob.p0) < TOL
    assert distance(mine, other, prob.p0) > 1e-3


def test_adam_default_form_moves_epsilon():
    """su.adam's default (PyMC's) form takes the first step eta g / (|g| + eps / sqrt(1 - b2)), optax eta g / (|g| + eps)."""
    g = np.array([1e-6, 1e-3, 1.0])
    w = pytensor.shared(np.zeros(3), name="w")
    pytensor.function([], [], updates=su.adam([pt.constant(g)], [w], learning_rate=1.0), mode=MODE)()
    updates, _ = optax.adam(1.0).update(jnp.asarray(g), optax.adam(1.0).init(jnp.zeros(3)))
    np.testing.assert_allclose(-w.get_value(), g / (g + 1e-8 / np.sqrt(1 - 0.999)), rtol=1e-12)
    np.testing.assert_allclose(-np.asarray(updates), g / (g + 1e-8), rtol=1e-12)
    relative = w.get_value() / np.asarray(updates) - 1  # about -(1/sqrt(1 - b2) - 1) eps / |g| = -30.6 eps / |g|
    np.testing.assert_allclose(relative[1:], -30.6e-8 / g[1:], rtol=2e-3)


def test_clip_at_zero_is_off_here_and_freezes_in_optax():
    prob = problem()
    mine, _ = run_ours(su.sgd(learning_rate=0.1, clip_gradient=0.0), prob)
    plain, _ = run_ours(su.sgd(learning_rate=0.1), prob)
    other, _ = run_optax(optax.chain(optax.clip(0.0), optax.sgd(0.1)), prob)
    assert distance(mine, plain, prob.p0) == 0.0
    assert all(np.array_equal(np.asarray(x), p) for x, p in zip(other[-1], prob.p0))


def test_exponential_decay_arguments_swap_places():
    """optax's positional order is (init, transition_steps, decay_rate); symupdates' (init, decay_rate, transition_steps)."""
    assert schedule(S.exponential_decay(0.1, 0.5, 10), optax.exponential_decay(0.1, 10, 0.5)) < TOL
    with pytest.raises(su.InputError, match="transition_steps"):
        S.exponential_decay(0.1, 10, 0.5)  # optax's order: a step count of 0.5 is refused


def test_multi_steps_accumulates_in_float32_in_optax():
    """optax.MultiSteps' default accumulator is float32: float64 runs then differ at float32's rounding."""
    inner = (su.sgd(learning_rate=0.1), optax.sgd(0.1))
    error = trajectory(su.multi_steps(inner[0], 3), optax.MultiSteps(inner[1], every_k_schedule=3), jit=True)
    assert 1e-10 < error < 1e-5


def test_optax_schedules_run_in_float32():
    """optax calls a schedule with its int32 count, and its schedules then compute in float32, x64 or not."""
    ours, theirs = S.warmup_cosine(0.01, 0.1, 4, 10, 1e-3), optax.warmup_cosine_decay_schedule(0.01, 0.1, 4, 10, 1e-3)
    inside = np.array([theirs(jnp.int32(k)) for k in range(12)])
    assert inside.dtype == np.float32 and np.asarray(jax.vmap(theirs)(jnp.arange(12))).dtype == np.float64
    error = np.max(np.abs(inside.astype(np.float64) - S.evaluate(ours, 12)) / 0.1)
    assert 1e-10 < error < 1e-7


def test_optax_adadelta_default_ascends():
    """optax.adadelta() (learning_rate=None) drops scale_by_learning_rate and its sign flip: it climbs."""
    error = trajectory(su.adadelta(learning_rate=1.0, rho=0.9, maximize=True), optax.adadelta())
    assert error < TOL
