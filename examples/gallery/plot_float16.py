r"""
float16 parameters and float32 master copies
============================================

A float16 number has 11 significant bits: between 1 and 2 its neighbours are
:math:`2^{-10} \approx 0.001` apart (one *ulp*), so an update :math:`p - \Delta` with
:math:`|\Delta|` below half an ulp of :math:`p` rounds back to :math:`p` and is lost.
Plain SGD in float16 therefore freezes where :math:`\eta\,|g| < \tfrac12 \mathrm{ulp}(p)`
for every coordinate, well before the minimum; Adam's steps, :math:`\eta\,\hat m /
\sqrt{\hat v}`, shrink near the minimum too, and each coordinate whose step falls below half an ulp
stops moving, so it creeps on far above the minimum.

``multi_precision=True`` (a common option of every optimizer, MXNet's name) keeps a
float32 *master copy* of each float16 parameter: the steps are applied to the master,
in float32, and the parameter receives the master rounded to float16. Small steps add
up in the master until they move the float16 value.

The problem is a least-squares fit with 8 coefficients of order 1. The parameters are
float16 and the loss is computed in float32 from them (``pt.cast(w, "float32")``, the
usual mixed-precision recipe, so the gradient is accurate and only the storage of the
parameters is float16); the data are exactly representable in float16, so the float16
and float32 problems have the same minimum. The curves show the loss of the current
parameters, evaluated in float64, minus the least-squares minimum. Each run is compiled
in ``FAST_COMPILE`` mode (Python implementations; the C backend supports float16 too,
Numba does not).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates

rng = np.random.default_rng(5)
X = rng.normal(size=(256, 8)).astype("float16").astype("float64")
W_TRUE = np.linspace(-1.8, 1.8, 8)
Y = (X @ W_TRUE + 0.1 * rng.normal(size=256)).astype("float16").astype("float64")
w_best = np.linalg.lstsq(X, Y, rcond=None)[0]
best_loss = np.mean((X @ w_best - Y) ** 2)
N_STEPS = 1500


def excess(w):
    return np.mean((X @ np.asarray(w, dtype="float64") - Y) ** 2) - best_loss


def fit(optimizer, dtype, **options):
    w = pytensor.shared(np.zeros(8, dtype=dtype), name="w")
    loss = ((pt.constant(X.astype("float32")) @ pt.cast(w, "float32") - Y.astype("float32")) ** 2).mean()
    updates = optimizer(loss, [w], **options)
    step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    history, last_change, previous = [excess(w.get_value())], 0, w.get_value()
    for k in range(N_STEPS):
        step()
        current = w.get_value()
        if np.any(current != previous):
            last_change = k
        previous = current
        history.append(excess(current))
    assert w.get_value().dtype == dtype  # float16 parameters stay float16
    return np.array(history), last_change


RUNS = {
    "sgd(0.01)": (symupdates.sgd, {"learning_rate": 0.01}),
    "adam(0.01)": (symupdates.adam, {"learning_rate": 0.01}),
}
results = {}
for name, (optimizer, options) in RUNS.items():
    results[name, "float32"] = fit(optimizer, "float32", **options)
    results[name, "float16"] = fit(optimizer, "float16", **options)
    results[name, "float16, multi_precision"] = fit(optimizer, "float16", multi_precision=True, **options)

# %%
# The loss curves
# ---------------
# In float32 both optimizers reach the minimum to within 1e-9. In pure float16, SGD's
# parameters stop changing after a few hundred steps and Adam creeps on at a loss more
# than a hundred times higher than with master copies; with ``multi_precision=True``
# both end within a factor 2 of the dotted line, the excess loss of the least-squares
# solution rounded to float16, which no float16 parameter vector can improve on by much.

rounded = excess(w_best.astype("float16"))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80, sharey=True)
for ax, name in zip(axes, RUNS):
    for variant, style in [("float32", "-"), ("float16", "-"), ("float16, multi_precision", "--")]:
        history, _ = results[name, variant]
        ax.semilogy(np.maximum(history, 1e-12), style, lw=1.3, label=variant)
    ax.axhline(rounded, color="k", lw=0.8, ls=":", label="w* rounded to float16")
    ax.set(title=name, xlabel="step", ylim=(1e-9, None))
    ax.legend(fontsize="small", frameon=False)
axes[0].set_ylabel("loss - least-squares minimum")
fig.tight_layout()

print(f"least-squares solution rounded to float16: excess loss {rounded:.3e}")
for (name, variant), (history, last_change) in results.items():
    print(f"{name:12} {variant:26} excess loss {history[-1]:.3e}, parameters last changed at step {last_change}")
