"""Fit ADVI with symupdates: Adam under a warmup-cosine schedule, gradient-norm clipping,
convergence callbacks and a Tracker of the learning rate, then PyMC's default optimizer with the issue-8444 fix.

Run: python examples/pymc_advi_schedule.py
(measured on 2 cores: 40 to 55 s the first time, mostly PyTensor compiling the C code of the
fits, which it caches; 8 to 10 s with that cache)
"""

import numpy as np
import pymc as pm

import symupdates as su
from symupdates import schedules

rng = np.random.default_rng(0)
y = rng.normal(2.0, 1.5, size=200)

with pm.Model() as model:
    mu = pm.Normal("mu", 0, 10)
    sigma = pm.HalfNormal("sigma", 5)
    pm.Normal("y", mu, sigma, observed=y)

    # 1. Adam with a schedule (any callable of the int64 step counter works too).
    lr = schedules.warmup_cosine(init_value=0.0, peak_value=0.1, warmup_steps=100, decay_steps=2000, end_value=0.005)
    opt = su.adam(learning_rate=lr)
    # opt.latest is the Updates that pm.fit made the factory build; the rate each step used is state
    tracker = pm.callbacks.Tracker(lr=lambda: opt.latest.learning_rate.get_value().item())
    inference = pm.ADVI(random_seed=1)
    approx = inference.fit(
        2000,
        obj_optimizer=opt,
        total_grad_norm_constraint=100.0,
        callbacks=[pm.callbacks.CheckParametersConvergence(every=100, diff="absolute", tolerance=1e-4), tracker],
        progressbar=False,
    )
    print(
        "learning rate at steps 0, 50, 100, 1000: " + ", ".join(f"{tracker['lr'][k]:.4f}" for k in (0, 50, 100, 1000))
    )
    # Inference.refine keeps the optimizer state (same compiled step); a new fit starts fresh.
    inference.refine(200, progressbar=False)
    post = approx.sample(2000)
    print(
        f"adam + warmup_cosine: mu = {float(post.posterior['mu'].mean()):.3f} +- {float(post.posterior['mu'].std()):.3f}"
    )

    # 2. PyMC's default optimizer, and the corrected variant of PyMC issue 8444.
    for name, opt in [
        ("adagrad_window (PyMC)", su.adagrad_window(learning_rate=0.01)),
        ("adagrad_window(exclude_current=True)", su.adagrad_window(learning_rate=0.01, exclude_current=True)),
    ]:
        fitted = pm.fit(3000, obj_optimizer=opt, random_seed=2, progressbar=False)
        print(f"{name}: sd(mu) = {fitted.std.eval()[fitted.ordering['mu'][1]].item():.4f}")

print("exact-ish sd(mu) ~ sigma/sqrt(n) = %.4f" % (y.std() / np.sqrt(len(y))))
