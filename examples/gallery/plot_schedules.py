r"""
Learning-rate schedules
=======================

The schedules of :mod:`symupdates.schedules` are functions of the optimizer's int64 step
counter (0 during the first update) built from PyTensor operations, so they compile into
the update step. :func:`symupdates.schedules.evaluate` compiles one for a vector of
steps and returns its values, which is how the curves below are drawn (one compiled
function per schedule, in ``FAST_COMPILE`` mode). :doc:`/schedules` plots each schedule
on its own; here they are compared, and the last figure shows
:func:`symupdates.reduce_on_plateau`, a rate that reacts to the loss, on a noisy
problem.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates
from symupdates import schedules

N_STEPS = 1000
steps = np.arange(N_STEPS)


def show(ax, title, curves):
    """Plot {label: schedule} over ``steps`` on ``ax``; return {label: values}."""
    values = {}
    for label, schedule in curves.items():
        values[label] = schedules.evaluate(schedule, N_STEPS)
        ax.plot(steps, values[label], lw=1.3, label=label)
    ax.set(title=title, xlabel="step")
    ax.legend(fontsize="small", frameon=False)
    return values


# %%
# Warm-up, one cycle, restarts and step decays
# --------------------------------------------
# ``warmup_cosine(init, peak, warmup_steps, decay_steps, end)`` counts the warm-up in
# ``decay_steps``, as optax does: the rate rises linearly to the peak over the first
# ``warmup_steps`` steps and reaches it at step ``warmup_steps``. ``one_cycle`` follows
# ``torch.optim.lr_scheduler.OneCycleLR``: it rises from ``max_lr / 25`` to ``max_lr``
# at step ``pct_start * total_steps - 1`` (299 here), then falls to ``max_lr / 25 / 1e4``
# at the last step. ``cosine_restarts`` (SGDR) starts a new cosine at the end of each
# cycle; with ``T_mult=2`` each cycle is twice as long as the one before, so the
# restarts are at steps 100, 300 and 700.

fig, axes = plt.subplots(2, 2, figsize=(10, 6), dpi=80, sharex=True)
warm = show(
    axes[0, 0],
    "warm-up then cosine",
    {
        "warmup_cosine(0, 0.1, 100, 1000)": schedules.warmup_cosine(0.0, 0.1, 100, 1000),
        "warmup_cosine(0, 0.1, 100, 1000, 0.02)": schedules.warmup_cosine(0.0, 0.1, 100, 1000, 0.02),
        "warmup(linear(0.1, 0, 900), 100)": schedules.warmup(schedules.linear(0.1, 0.0, 900), 100),
    },
)
cycle = show(
    axes[0, 1],
    "one cycle",
    {
        "one_cycle(0.1, 1000)": schedules.one_cycle(0.1, 1000),
        "... anneal_strategy='linear'": schedules.one_cycle(0.1, 1000, anneal_strategy="linear"),
        "... three_phase=True": schedules.one_cycle(0.1, 1000, three_phase=True),
    },
)
restarts = show(
    axes[1, 0],
    "cosine with warm restarts",
    {
        "cosine_restarts(0.1, 100, T_mult=2)": schedules.cosine_restarts(0.1, 100, T_mult=2),
        "cosine_restarts(0.1, 250, eta_min=0.02)": schedules.cosine_restarts(0.1, 250, eta_min=0.02),
    },
)
decays = show(
    axes[1, 1],
    "step decays",
    {
        "exponential_decay(0.1, 0.5, 200)": schedules.exponential_decay(0.1, 0.5, 200),
        "step(0.1, 250, gamma=0.5)": schedules.step(0.1, 250, gamma=0.5),
        "multistep(0.1, [300, 600, 800], 0.5)": schedules.multistep(0.1, [300, 600, 800], 0.5),
    },
)
fig.tight_layout()

first = warm["warmup_cosine(0, 0.1, 100, 1000)"]
print(
    f"warmup_cosine: value at steps 0, 50, 100, 999: {first[0]:.6f}, {first[50]:.6f}, {first[100]:.6f}, {first[999]:.6f}"
)
print(f"warmup_cosine: first step at the peak: {int(np.argmax(first))}")
one = cycle["one_cycle(0.1, 1000)"]
print(f"one_cycle: first, peak step, peak, last: {one[0]:.6f}, {int(np.argmax(one))}, {one.max():.6f}, {one[-1]:.3e}")
sgdr = restarts["cosine_restarts(0.1, 100, T_mult=2)"]
print(f"cosine_restarts: restarts at steps {[int(k) for k in np.flatnonzero(np.diff(sgdr) > 0) + 1]}")

# %%
# Reduce on plateau, on a noisy loss
# ----------------------------------
# :func:`~symupdates.reduce_on_plateau` is a *stateful* schedule: its current rate, best
# metric and counters are shared variables updated by the same compiled step. Here SGD
# fits a linear regression (2000 points, 10 features, noise sd 0.5) from minibatches
# of 8, so the loss it sees is noisy. With a constant rate, the loss stops improving
# at a level set by the rate (the noise of the steps); the plateau policy halves the rate
# each time the mean of the last 50 minibatch losses (``window=50``) has not improved by
# 1 % (``threshold=0.01``) for 3 evaluations in a row (``patience=2``), down to
# ``min_lr=5e-4``. The rate changes only at multiples of 50 steps, and the loss on the
# whole data set ends more than ten times closer to its least-squares minimum than
# with the constant rate. The rate recorded at each step is the state
# ``updates.learning_rate``.

rng = np.random.default_rng(7)
X = rng.normal(size=(2000, 10))
Y = X @ rng.normal(size=10) + 0.5 * rng.normal(size=2000)
BATCHES = rng.integers(0, len(X), size=(2000, 8))
w_best = np.linalg.lstsq(X, Y, rcond=None)[0]
best_loss = np.mean((X @ w_best - Y) ** 2)


def fit(learning_rate):
    w = pytensor.shared(np.zeros(10), name="w")
    xb, yb = pt.matrix("xb"), pt.vector("yb")
    loss = ((xb @ w - yb) ** 2).mean()
    updates = symupdates.sgd(loss, [w], learning_rate=learning_rate)
    step = pytensor.function([xb, yb], loss, updates=updates, mode="FAST_COMPILE")
    full, rates = [], []
    for batch in BATCHES:
        step(X[batch], Y[batch])
        full.append(np.mean((X @ w.get_value() - Y) ** 2))
        rates.append(updates.learning_rate.get_value().item())
    return np.array(full), np.array(rates)


constant_loss, constant_rate = fit(0.05)
plateau = symupdates.reduce_on_plateau(0.05, factor=0.5, patience=2, threshold=0.01, window=50, min_lr=5e-4)
plateau_loss, plateau_rate = fit(plateau)

fig, (ax_loss, ax_rate) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=80)
ax_loss.semilogy(constant_loss - best_loss, lw=1, label="sgd, constant 0.05")
ax_loss.semilogy(plateau_loss - best_loss, lw=1, label="sgd, reduce_on_plateau(0.05, ...)")
ax_loss.set(xlabel="step", ylabel="loss - least-squares minimum", title="excess loss on the whole data set")
ax_loss.legend(fontsize="small", frameon=False)
ax_rate.plot(constant_rate, lw=1.3, label="constant")
ax_rate.plot(plateau_rate, lw=1.3, label="reduce_on_plateau")
ax_rate.set(xlabel="step", ylabel="learning rate", title="the rate each step used", yscale="log")
ax_rate.legend(fontsize="small", frameon=False)
fig.tight_layout()

drops = np.flatnonzero(np.diff(plateau_rate) != 0) + 1
print(f"reduce_on_plateau: rate changes at steps {drops.tolist()}")
print(f"reduce_on_plateau: rates {[float(r) for r in plateau_rate[np.r_[0, drops]]]}")
tail = slice(-500, None)
print(
    f"excess loss, mean of the last 500 steps: constant {np.mean(constant_loss[tail] - best_loss):.3e}, "
    f"plateau {np.mean(plateau_loss[tail] - best_loss):.3e}"
)
