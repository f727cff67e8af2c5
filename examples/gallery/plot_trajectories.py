r"""
Optimizer trajectories on classic test functions
================================================

Every optimizer of :func:`symupdates.available` runs 400 steps from the same start on
four two-dimensional problems:

* **Rosenbrock**, :math:`(1-x)^2 + 100\,(y-x^2)^2`: a curved, narrow valley, minimum at
  :math:`(1, 1)`;
* **Beale**, :math:`\sum_{i=1}^{3} (c_i - x + x y^i)^2` with :math:`c = (1.5, 2.25, 2.625)`:
  flat plateaus and steep walls, minimum at :math:`(3, 0.5)`;
* an **ill-conditioned quadratic**, :math:`\tfrac12 (10\,u^2 + 0.1\,v^2)` in coordinates
  :math:`(u, v)` rotated by 30 degrees from :math:`(x, y)`, so the axes of its
  ellipses are not those of a per-coordinate method (condition number 100), minimum at
  the origin;
* a **noisy quadratic**, :math:`\tfrac12 (x^2 + 3 y^2)` whose gradient the optimizer
  sees with standard normal noise added (the optimizer is given the loss
  :math:`f(p) + \xi_k \cdot p`, with :math:`\xi_k` drawn once with a fixed seed and
  the same for every optimizer); the curves show the noise-free loss.

Each figure shows one family of :mod:`symupdates.optimizers` (the modules of
``symupdates.optimizers.FAMILIES``): the paths over the contours of each problem (top)
and the loss against the step on a log scale (bottom). The minimum of all four
problems is 0.

The learning rates are in the table ``LEARNING_RATES`` below: a value that reaches the
minimum of most problems in 400 steps without wild jumps, not the best possible one.
Optimizers whose step scales with the gradient (``sgd``, ``momentum``,
``nesterov_momentum``, ``asgd``) cannot share one rate between the Rosenbrock valley,
whose curvature is about 1000, and the quadratics, whose curvature is at most 10: they
get a rate per problem, given through the common option ``lr_mult`` (the per-parameter
learning-rate multipliers of :doc:`/options`). The script fails if an optimizer of
:func:`symupdates.available` has no entry in the table, so that the gallery shows every
optimizer.

**One compiled function per optimizer.** The four problems have a parameter each, and
the optimizer minimises the *sum* of the four losses: the gradient with respect to
each parameter is that of its own loss, and all the optimizers here keep state and
take steps per parameter tensor (the layer-wise ones, ``lars``, ``lamb`` and
``novograd``, use the norms of each tensor, and the factored ones the statistics of
each tensor), so one step of the sum is exactly one step of each problem on its own.
That would not hold for an option that couples the parameters, such as
``clip_global_norm`` (one norm over all of them) or a
:func:`~symupdates.reduce_on_plateau` learning rate (which watches the summed loss);
none is used here. ``tests/docs/test_gallery.py`` checks, for the optimizers whose
state is the least obviously per parameter, that the combined step reproduces the paths
of the separate runs bit for bit.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates
from symupdates.optimizers import FAMILIES

N_STEPS = 400


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def beale(p):
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


ANGLE = np.deg2rad(30.0)


def quadratic(p):
    u = np.cos(ANGLE) * p[0] + np.sin(ANGLE) * p[1]
    v = -np.sin(ANGLE) * p[0] + np.cos(ANGLE) * p[1]
    return 0.5 * (10.0 * u**2 + 0.1 * v**2)


def noisy_quadratic(p):
    return 0.5 * (p[0] ** 2 + 3.0 * p[1] ** 2)


#: name: (loss, start, minimum, x range, y range, contour levels)
PROBLEMS = {
    "rosenbrock": (rosenbrock, (-1.2, 1.0), (1.0, 1.0), (-2.0, 2.0), (-1.0, 3.0), np.logspace(-1, 3.5, 14)),
    "beale": (beale, (1.0, 1.0), (3.0, 0.5), (-0.5, 4.0), (-1.5, 2.0), np.logspace(-1.5, 3, 14)),
    "quadratic": (quadratic, (-3.0, 1.0), (0.0, 0.0), (-4.0, 4.0), (-3.0, 3.0), np.logspace(-2, 2, 12)),
    "noisy quadratic": (noisy_quadratic, (2.5, 2.0), (0.0, 0.0), (-1.5, 3.0), (-1.5, 2.5), np.logspace(-2, 1.5, 12)),
}
NOISE = np.random.default_rng(2026).normal(size=(N_STEPS, 2))

# %%
# The learning rates
# ------------------
# A number is used on every problem; a dict gives one rate per problem (applied as
# ``learning_rate=max(rates)`` with ``lr_mult={parameter: rate / max(rates)}``).

PER_PROBLEM = dict.fromkeys(PROBLEMS)
LEARNING_RATES = {
    # momentum family: the step scales with the gradient
    "sgd": {"rosenbrock": 0.002, "beale": 0.03, "quadratic": 0.1, "noisy quadratic": 0.03},
    "momentum": {"rosenbrock": 0.001, "beale": 0.01, "quadratic": 0.03, "noisy quadratic": 0.01},
    "nesterov_momentum": {"rosenbrock": 0.001, "beale": 0.01, "quadratic": 0.03, "noisy quadratic": 0.01},
    # rms family
    "adagrad": 1.0,
    "adagrad_window": 0.05,
    "rmsprop": 0.02,
    "adadelta": 3.0,  # its default, 1, needs more than 400 steps (first steps ~ sqrt(epsilon))
    # adam family
    "adam": 0.1,
    "adamax": 0.2,  # twice adam's, as the defaults
    "amsgrad": 0.1,
    "adamw": 0.1,
    "nadam": 0.1,
    "radam": {"rosenbrock": 0.003, "beale": 0.03, "quadratic": 0.1, "noisy quadratic": 0.1},  # starts as SGD
    "adabelief": 0.1,
    "yogi": 0.1,
    "adan": 0.1,
    # sign family: steps of about the learning rate per coordinate
    "sign_sgd": 0.01,
    "signum": 0.01,
    "lion": 0.01,
    "rprop": 0.01,
    # layer-wise: steps relative to the norm of the parameter
    "lars": 10.0,
    "lamb": 0.03,
    "novograd": 0.003,
    # factored
    "adafactor": 0.1,
    "sm3": 3.0,
    # averaging
    "asgd": {"rosenbrock": 0.002, "beale": 0.03, "quadratic": 0.1, "noisy quadratic": 0.03},
}

missing = [name for name in symupdates.available() if name not in LEARNING_RATES]
if missing:
    raise RuntimeError(
        f"plot_trajectories.py: no learning rate for {missing}; add them to LEARNING_RATES so that the gallery "
        "shows every optimizer of symupdates.available()."
    )
unknown = [name for name in LEARNING_RATES if name not in symupdates.available()]
if unknown:
    raise RuntimeError(f"plot_trajectories.py: LEARNING_RATES names {unknown}, which are not optimizers.")
in_families = sorted(name for family in FAMILIES for name in family.__all__)
if in_families != sorted(symupdates.available()):
    raise RuntimeError("plot_trajectories.py: the families of symupdates.optimizers.FAMILIES do not cover available()")

# %%
# One compiled step per optimizer
# -------------------------------
# ``run`` builds the four parameters, the summed loss and the updates, compiles one
# function in ``FAST_COMPILE`` mode (the graphs are tiny, so compiling C code would cost
# more than it saves) and calls it ``N_STEPS`` times. The function returns the four
# noise-free losses and the parameters before the step.


def run(name, keys=tuple(PROBLEMS), n_steps=N_STEPS):
    """Run optimizer ``name`` on the problems ``keys``; return the losses and the paths."""
    problems = [PROBLEMS[key] for key in keys]
    params = [
        pytensor.shared(np.array(start, dtype="float64"), name=key) for key, (_, start, *_) in zip(keys, problems)
    ]
    losses = pt.stack([loss(p) for p, (loss, *_) in zip(params, problems)])
    noise = pt.vector("noise")
    objective = losses.sum()
    if "noisy quadratic" in keys:
        objective += pt.dot(noise, params[keys.index("noisy quadratic")])
    rate = LEARNING_RATES[name]
    options = {}
    if isinstance(rate, dict):
        top = max(rate.values())
        options["lr_mult"] = {key: rate[key] / top for key in keys}
        rate = top
    updates = getattr(symupdates, name)(objective, params, learning_rate=rate, **options)
    step = pytensor.function(
        [noise], [losses, pt.stack(params)], updates=updates, mode="FAST_COMPILE", on_unused_input="ignore"
    )
    step.trust_input = True
    history = [step(NOISE[k]) for k in range(n_steps)]
    end = [p.get_value() for p in params]
    loss_history = np.array([h[0] for h in history] + [[loss(p) for p, (loss, *_) in zip(end, problems)]])
    paths = np.array([h[1] for h in history] + [np.stack(end)])
    if not np.all(np.isfinite(loss_history)):
        raise RuntimeError(f"plot_trajectories.py: {name} diverged; lower its rate in LEARNING_RATES.")
    return loss_history, paths


def rate_label(name):
    rate = LEARNING_RATES[name]
    if isinstance(rate, dict):
        return f"{name} (per problem)"
    return f"{name} ({rate:g})"


GRIDS = {}
for key, (loss, _, _, xr, yr, _) in PROBLEMS.items():
    xs, ys = np.meshgrid(np.linspace(*xr, 200), np.linspace(*yr, 200))
    GRIDS[key] = (xs, ys, loss(np.stack([xs, ys])))


def plot_family(family):
    names = list(family.__all__)
    fig, axes = plt.subplots(2, len(PROBLEMS), figsize=(12, 6.4), dpi=80)
    colors = plt.get_cmap("tab10").colors
    print(f"{family.__name__}: loss after {N_STEPS} steps")
    print(f"  {'optimizer (learning rate)':34}" + "".join(f"{key:>17}" for key in PROBLEMS))
    lowest = np.full(len(PROBLEMS), np.inf)
    for i, name in enumerate(names):
        loss_history, paths = run(name)
        print(f"  {rate_label(name):34}" + "".join(f"{value:17.3e}" for value in loss_history[-1]))
        lowest = np.minimum(lowest, loss_history.min(axis=0))
        for j in range(len(PROBLEMS)):
            axes[0, j].plot(paths[:, j, 0], paths[:, j, 1], color=colors[i], lw=1.2, alpha=0.9)
            axes[0, j].plot(paths[-1, j, 0], paths[-1, j, 1], "o", color=colors[i], ms=3)
            axes[1, j].semilogy(loss_history[:, j], color=colors[i], lw=1.0, label=rate_label(name))
    for j, (key, (_, start, minimum, xr, yr, levels)) in enumerate(PROBLEMS.items()):
        xs, ys, zs = GRIDS[key]
        ax = axes[0, j]
        ax.contour(xs, ys, zs, levels=levels, colors="0.75", linewidths=0.6)
        ax.plot(*start, "ks", ms=5)
        ax.plot(*minimum, "k*", ms=9)
        ax.set(xlim=xr, ylim=yr, title=key)
        axes[1, j].set(xlabel="step", ylim=(max(lowest[j] / 3, 1e-14), None))
    axes[1, 0].set_ylabel("loss")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(names), 5), fontsize="small", frameon=False)
    fig.suptitle(f"The {family.__name__.rsplit('.', 1)[-1]} family: {', '.join(names)}")
    fig.tight_layout(rect=(0, 0.05 * (1 + (len(names) - 1) // 5), 1, 1))


# %%
# The momentum family
# -------------------
# With momentum (heavy ball or Nesterov's), the loss on Beale and on the quadratic falls
# below 1e-10 in 400 steps; plain SGD, at the same rates, stays above 1e-6 on both (on the
# quadratic its progress along the flat direction is set by the smallest curvature,
# 0.1). On the noisy quadratic all three end at the level the noise allows at their
# rate, between 1e-3 and 1e-1.
plot_family(FAMILIES[0])

# %%
# The rms family
# --------------
# Steps divided by a running root mean square of the gradients. Adagrad, whose
# accumulated squares make the steps shrink, takes Beale below 1e-10; ``adagrad_window``
# (PyMC's default for ``pm.fit``) and ``rmsprop`` forget old gradients and keep moving;
# ``adadelta``, whose first steps are about :math:`\sqrt{\epsilon}` times the rate,
# is the slowest of the family on the quadratic.
plot_family(FAMILIES[1])

# %%
# The adam family
# ---------------
# Steps of about the learning rate per coordinate, whatever the scale of the gradient,
# so one rate serves all four problems. ``adam``, ``amsgrad``, ``nadam``, ``adabelief``
# and ``yogi`` take Beale below 1e-12; ``adamw`` stays above 1e-5 there, because its
# decoupled weight decay (0.01 by default) pulls the parameters toward the origin and so
# moves its fixed point away from the minimum at (3, 0.5). ``radam`` takes plain
# momentum-SGD steps until its variance estimate is trusted (about its first five steps),
# so it needs SGD-sized rates on the steep problems and gets a rate per problem.
plot_family(FAMILIES[2])

# %%
# The sign family
# ---------------
# ``sign_sgd`` moves every coordinate by exactly the learning rate, so it cannot follow
# the curved Rosenbrock valley and stays at a loss above 1; ``signum`` and ``lion`` take
# the sign of a momentum and do better; ``rprop`` adapts a step size per coordinate from
# the changes of sign of the gradient and reaches 1e-10 on Beale and the quadratic.
plot_family(FAMILIES[3])

# %%
# The layer-wise family
# ---------------------
# Their steps are proportional to the norm of the parameter (a "layer" here is the
# whole 2-vector). On the quadratics, whose minimum is the origin, the steps shrink as
# the parameters approach it, and ``lars`` and ``lamb`` take the quadratic below 1e-8.
# On Rosenbrock the path passes close to the origin, where the norm and so the steps
# nearly vanish: ``lamb`` stays there, at a loss of 1, the value at the origin.
plot_family(FAMILIES[4])

# %%
# The factored family
# -------------------
# A vector of two elements is not factored, so ``adafactor`` is an RMS method whose
# steps are relative to the root mean square of the parameter
# (``multiply_by_parameter_scale=True``): like ``lamb`` it stays next to the origin on
# Rosenbrock (loss within 1 % of 1). ``sm3``, whose covers are single elements here,
# is Adagrad with momentum and takes Beale below 1e-10.
plot_family(FAMILIES[5])

# %%
# The averaging family
# --------------------
# ``asgd`` (torch's ASGD) averages the iterates only after ``t0`` steps (a million by
# default), so these 400 iterates are those of SGD with a small decay of the rate and
# of the weights: its losses are within a factor 2 of ``sgd``'s at the same rates.
plot_family(FAMILIES[6])
