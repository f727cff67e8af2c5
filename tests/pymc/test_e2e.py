"""PyMC end to end: pm.fit with symupdates optimizers, schedules, gradient-norm constraint, callbacks,
and what happens to optimizer state across two fits and across Inference.refine."""

import numpy as np
import pytest

import symupdates as su
from symupdates import schedules

pm = pytest.importorskip("pymc")


@pytest.fixture(scope="module")
def model():
    y = np.random.default_rng(0).normal(2.0, 1.0, size=50)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("y", mu, sigma, observed=y)
    return m, y


def test_advi_schedule_clipping_callbacks_and_state(model):
    m, y = model
    lr = schedules.warmup_cosine(0.0, 0.1, 50, 600, 0.01)
    opt = su.adam(learning_rate=lr)
    # the Factory keeps the Updates that pm.fit made it build: the rate each step used is state
    tracker = pm.callbacks.Tracker(lr=lambda: opt.latest.learning_rate.get_value().item())
    with m:
        inference = pm.ADVI(random_seed=1)
        approx = inference.fit(
            600,
            obj_optimizer=opt,
            total_grad_norm_constraint=100.0,
            callbacks=[pm.callbacks.CheckParametersConvergence(every=100, tolerance=1e-12), tracker],
            progressbar=False,
        )
    state = opt.latest.state
    assert state["adam.step"].get_value() == 600
    # step k used schedule(k), no lag: the first step used warmup's 0.0
    # (rtol: the vectorised evaluate() graph rounds differently from the compiled step, by an ulp)
    np.testing.assert_allclose(tracker["lr"], schedules.evaluate(lr, np.arange(600)), rtol=1e-14, atol=0)
    assert tracker["lr"][0] == 0.0 and tracker["lr"][50] == 0.1
    assert abs(approx.mean.eval()[approx.ordering["mu"][1]].item() - y.mean()) < 0.1
    # refine reuses the compiled step: the state continues
    first = opt.latest
    m_name = next(k for k in state if k.endswith("adam.m"))
    m_before = state[m_name].get_value().copy()
    inference.refine(100, progressbar=False)
    assert opt.latest is first and state["adam.step"].get_value() == 700
    assert not np.array_equal(state[m_name].get_value(), m_before)
    assert len(tracker["lr"]) == 700
    np.testing.assert_allclose(tracker["lr"][600:], schedules.evaluate(lr, np.arange(600, 700)), rtol=1e-14, atol=0)
    # a second fit compiles a new step: fresh state, parameters carried over
    params_before = [p.get_value().copy() for p in approx.params]
    tiny = su.adam(learning_rate=1e-6)
    with m:
        inference.fit(10, obj_optimizer=tiny, progressbar=False)
    assert tiny.latest.state["adam.step"].get_value() == 10
    assert first.state["adam.step"].get_value() == 700  # the old state is left alone
    for p, before in zip(approx.params, params_before):
        np.testing.assert_allclose(p.get_value(), before, atol=1e-4)
    # the same factory in a new fit builds new, fresh state too
    with m:
        inference.fit(5, obj_optimizer=opt, progressbar=False)
    assert opt.latest is not first and opt.latest.state["adam.step"].get_value() == 5


def test_fullrank_advi_with_wrapped_optimizer(model):
    m, y = model
    with m:
        approx = pm.fit(
            800,
            method="fullrank_advi",
            obj_optimizer=su.multi_steps(su.adam(learning_rate=0.05), 2),
            random_seed=2,
            progressbar=False,
        )
    mean = approx.mean.eval()
    assert abs(mean[approx.ordering["mu"][1]].item() - y.mean()) < 0.15
