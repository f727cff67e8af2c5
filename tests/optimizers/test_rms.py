"""PyMC issue 8444: adagrad_window biases ADVI's posterior sd upwards; exclude_current removes the bias.

Model: mu ~ N(0, 10), y_i ~ N(mu, 1), 100 points; exact posterior sd = 1/sqrt(1/100 + 100).
S independent replicas of the model are fitted in one mean-field ADVI run (mean-field and an
element-wise optimizer keep them independent, each with its own Monte Carlo noise), so the sd
is averaged over S "seeds" and over the last iterations at the cost of one ``pm.fit``.
"""

import numpy as np
import pytest

import symupdates as su

pm = pytest.importorskip("pymc")

S, N_FIT, N_AVG, LR = 200, 3000, 5, 0.01


@pytest.fixture(scope="module")
def model():
    y = np.random.default_rng(1).normal(1.0, 1.0, size=100)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10, shape=S)
        pm.Normal("y", mu[:, None], 1, observed=np.broadcast_to(y, (S, 100)))
    return m, 1 / np.sqrt(1 / 100 + 100)


def _fit(model, optimizer):
    with model:
        inference = pm.ADVI(random_seed=3)
        approx = inference.fit(N_FIT, obj_optimizer=optimizer, progressbar=False)
    sds = []
    for _ in range(N_AVG):  # average over the last iterations too
        inference.refine(200, progressbar=False)
        sds.append(approx.std.eval())
    return approx, np.mean(sds)


@pytest.fixture(scope="module")
def fits(model):
    m, exact = model
    return {
        "pymc": _fit(m, pm.adagrad_window(learning_rate=LR)),
        "default": _fit(m, su.adagrad_window(learning_rate=LR)),
        "corrected": _fit(m, su.adagrad_window(learning_rate=LR, exclude_current=True)),
    }, exact


def test_default_matches_pymc(fits):
    """Bit-identical to pymc's adagrad_window inside pm.fit (the learning rate is folded as pymc writes it)."""
    results, _ = fits
    (a, _), (b, _) = results["pymc"], results["default"]
    for pa, pb in zip(a.params, b.params):
        np.testing.assert_array_equal(pa.get_value(), pb.get_value())


def test_default_inflates_the_posterior_sd(fits):
    results, exact = fits
    bias = results["default"][1] / exact - 1
    assert 0.06 < bias < 0.11  # measured +8.45% (issue 8444: about +8.5%)


def test_corrected_variant_has_no_sd_bias(fits):
    results, exact = fits
    bias = results["corrected"][1] / exact - 1
    assert abs(bias) < 0.02  # measured -0.4%


def test_posterior_mean_is_unaffected(fits):
    results, _ = fits
    means = [results[k][0].mean.eval().mean() for k in ("default", "corrected")]
    assert abs(means[0] - means[1]) < 0.01
