"""``pm.fit`` with symupdates' optimizers recovers a known posterior.

Bayesian linear regression y = a + X b + N(0, s^2) on 100 simulated points
with wide priors: the posterior mean of (a, b) is the least-squares estimate
to within a tiny fraction of its sd (the prior sd is 200 times the posterior
sd), and the posterior sd is s * sqrt(diag((X'X)^-1)). Mean-field ADVI gets
the means of a Gaussian posterior right; what is left is the optimizer's
noise at the end of the run. A learning rate decaying from 0.02 to 0.001
(a schedule, read at each step) brings it below 0.1 posterior sd (measured:
at most 0.074 sd; with a constant 0.01 it was 0.42 sd), so the tolerance is a
quarter of a posterior sd.
"""

import numpy as np
import pytensor
import pytest

pm = pytest.importorskip("pymc")

import symupdates  # noqa: E402

N_POINTS = 100
N_ITERATIONS = 5000
TRUE_COEFFICIENTS = np.array([1.0, 2.0, -1.0])  # intercept, b1, b2
TRUE_SIGMA = 0.5
TOLERANCE_SD = 0.25


def decaying_rate(step):
    """0.02 at the first step, 0.001 after N_ITERATIONS (``step`` is the symbolic int64 counter)."""
    return 0.02 * 0.05 ** (step / N_ITERATIONS)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261123)
    x = rng.normal(size=(N_POINTS, 2))
    design = np.column_stack([np.ones(N_POINTS), x])
    y = design @ TRUE_COEFFICIENTS + rng.normal(scale=TRUE_SIGMA, size=N_POINTS)
    estimate, *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - design @ estimate
    sigma = np.sqrt(residuals @ residuals / (N_POINTS - 3))
    sd = sigma * np.sqrt(np.diag(np.linalg.inv(design.T @ design)))
    return {"x": x, "y": y, "estimate": estimate, "sigma": sigma, "sd": sd}


def fit(data, optimizer, floatX="float64", **fit_kwargs):
    """Run ADVI; return the approximation's means and sds of (a, b1, b2) and its mean of s."""
    with pytensor.config.change_flags(floatX=floatX):
        x, y = data["x"].astype(floatX), data["y"].astype(floatX)
        with pm.Model():
            a = pm.Normal("a", 0, 10)
            b = pm.Normal("b", 0, 10, shape=2)
            s = pm.HalfNormal("s", 5)
            pm.Normal("y", a + pm.math.dot(x, b), s, observed=y)
            approx = pm.fit(
                n=N_ITERATIONS, method="advi", obj_optimizer=optimizer, random_seed=7, progressbar=False, **fit_kwargs
            )
        mean, std = approx.mean.eval(), approx.std.eval()
    ordering = approx.groups[0].ordering
    pick = lambda v, name: np.atleast_1d(v[ordering[name][1]])  # noqa: E731
    coefficients = np.concatenate([pick(mean, "a"), pick(mean, "b")])
    sds = np.concatenate([pick(std, "a"), pick(std, "b")])
    return coefficients, sds, float(np.exp(pick(mean, "s_log__")[0])), mean.dtype, approx.hist


def check_posterior(data, coefficients, sds, sigma):
    np.testing.assert_array_less(np.abs(coefficients - data["estimate"]), TOLERANCE_SD * data["sd"])
    assert abs(sigma - data["sigma"]) < 0.1 * data["sigma"]
    # Mean-field sds are at most the marginal ones (here the predictors are nearly uncorrelated).
    assert np.all(sds > 0.5 * data["sd"]) and np.all(sds < 1.5 * data["sd"])


def test_advi_with_adam_recovers_the_posterior(data):
    coefficients, sds, sigma, dtype, hist = fit(data, symupdates.adam(learning_rate=decaying_rate))
    check_posterior(data, coefficients, sds, sigma)
    assert dtype == "float64"
    assert hist[-500:].mean() < hist[:500].mean()  # the ELBO loss went down


def test_advi_with_total_grad_norm_constraint(data):
    """pm.fit clips the gradients (with PyMC's total_norm_constraint) before our optimizer clips them again."""
    coefficients, sds, sigma, _, _ = fit(
        data, symupdates.adam(learning_rate=decaying_rate, clip_global_norm=100.0), total_grad_norm_constraint=50.0
    )
    check_posterior(data, coefficients, sds, sigma)


def test_advi_in_float32(data):
    coefficients, sds, sigma, dtype, _ = fit(data, symupdates.adam(learning_rate=decaying_rate), floatX="float32")
    assert dtype == "float32"
    check_posterior(data, coefficients, sds, sigma)


def test_point_estimates_in_flat_parameters_fit_beside_the_posterior():
    """Regression weights kept as point estimates in one flat vector (``more_obj_params``)
    while ADVI fits the noise scale: the weights converge to the least-squares solution,
    the maximiser of the expected log-likelihood whatever the scale."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_POINTS, 2))
    y = TRUE_COEFFICIENTS[0] + X @ TRUE_COEFFICIENTS[1:] + rng.normal(size=N_POINTS) * TRUE_SIGMA
    params = symupdates.flat_parameters({"a": np.zeros(()), "b": np.zeros(2)})
    with pm.Model():
        s = pm.HalfNormal("s", 2.0)
        pm.Normal("y", params["a"] + X @ params["b"], s, observed=y)
        pm.fit(
            2000,
            method="advi",
            obj_optimizer=symupdates.adam(learning_rate=0.05),
            more_obj_params=[params.flat],
            progressbar=False,
            random_seed=1,
            compile_kwargs=dict(mode="FAST_COMPILE"),
        )
    least_squares = np.linalg.lstsq(np.c_[np.ones(N_POINTS), X], y, rcond=None)[0]
    got = np.r_[params.get_value("a"), params.get_value("b")]
    np.testing.assert_allclose(got, least_squares, atol=1e-5)
