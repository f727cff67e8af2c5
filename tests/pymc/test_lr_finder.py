"""The learning-rate range test on a variational fit: the normal mean with known sd (a conjugate model).

y_i ~ N(mu, 1), i = 1..20, mu ~ N(0, 10^2): the posterior is normal with precision
n + 1/100 and mean sum(y) / (n + 1/100), so mean-field ADVI can reach it exactly.
The losses of the sweep are PyMC's estimates of the negative ELBO; before the
parameters move, their average matches the closed form of the negative ELBO at
the starting approximation.

The step functions compile with FAST (``compile_kwargs``, which also checks that
they reach ``step_function``): the C compilation of an ADVI graph takes over a
minute on a cold cache. The sweep itself runs in the default mode in
tests/test_lr_finder.py, and on PyMC in the code block of docs/lr_finder.rst.
"""

import numpy as np
import pytest

pm = pytest.importorskip("pymc", reason="symupdates.pymc.lr_find needs PyMC (it needs PyTensor < 2.39)")

import symupdates  # noqa: E402
import symupdates.pymc  # noqa: E402
from symupdates.core.checks import ArgumentError, InputError  # noqa: E402
from tests.conftest import FAST  # noqa: E402

N_POINTS = 20
PRIOR_SD = 10.0
SWEEP = dict(start=1e-4, stop=10.0, num_steps=100, obj_n_mc=10, compile_kwargs={"mode": FAST})


@pytest.fixture(scope="module")
def problem():
    y = np.random.default_rng(20261123).normal(5.0, 1.0, size=N_POINTS)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.Normal("y", mu, 1.0, observed=y)
    advi = pm.ADVI(model=model, random_seed=3)
    before = {p.name: p.get_value(borrow=False) for p in advi.approx.params}
    result = symupdates.pymc.lr_find(model, advi, optimizer=symupdates.adam, **SWEEP)
    precision = N_POINTS + 1 / PRIOR_SD**2
    return dict(y=y, model=model, advi=advi, before=before, result=result, mean=y.sum() / precision, sd=precision**-0.5)


def negative_elbo(y, m, s):
    """E_q[-log p(y, mu)] - H[q] for q = N(m, s^2), in closed form."""
    likelihood = np.sum(0.5 * np.log(2 * np.pi) + 0.5 * ((y - m) ** 2 + s**2))
    prior = 0.5 * np.log(2 * np.pi * PRIOR_SD**2) + (m**2 + s**2) / (2 * PRIOR_SD**2)
    return likelihood + prior - 0.5 * np.log(2 * np.pi * np.e * s**2)


def test_parameters_are_restored_bit_for_bit(problem):
    for p in problem["advi"].approx.params:
        now, before = p.get_value(), problem["before"][p.name]
        assert now.dtype == before.dtype and now.tobytes() == before.tobytes(), p.name


def test_losses_are_the_negative_elbo_and_the_curve_gives_a_suggestion(problem):
    result = problem["result"]
    rates = SWEEP["start"] * (SWEEP["stop"] / SWEEP["start"]) ** (np.arange(len(result.losses)) / 99)
    np.testing.assert_allclose(result.learning_rates, rates, rtol=1e-14)
    assert np.all(np.isfinite(result.losses[result.learning_rates < 0.1]))
    # adam moves mu by at most ~sum(rates) < 0.01 over the first 20 steps: the draws average the start's -ELBO
    m, s = problem["before"]["mu"][0], np.log1p(np.exp(problem["before"]["rho"][0]))
    first = result.losses[:20]
    assert abs(first.mean() - negative_elbo(problem["y"], m, s)) < 4 * first.std(ddof=1) / np.sqrt(len(first))
    assert result.suggestion is not None and SWEEP["start"] < result.suggestion < SWEEP["stop"]
    k = result.steepest()
    assert result.smoothed[k] < result.smoothed[0]


def test_a_fit_at_the_suggested_rate_reaches_the_posterior(problem):
    with problem["model"]:
        approx = pm.fit(
            400,
            method=problem["advi"],
            obj_optimizer=symupdates.adam(learning_rate=problem["result"].suggestion),
            progressbar=False,
            compile_kwargs={"mode": FAST},
        )
    assert abs(approx.mean.eval()[0] - problem["mean"]) < problem["sd"]
    assert abs(approx.std.eval()[0] / problem["sd"] - 1) < 0.5
    elbo_gap = np.mean(approx.hist[-100:]) - negative_elbo(problem["y"], problem["mean"], problem["sd"])
    assert abs(elbo_gap) < 2.0


def test_refuses_what_it_cannot_sweep(problem):
    with problem["model"]:
        with pytest.raises(InputError, match="returns none"):
            symupdates.pymc.lr_find(method="svgd", optimizer=symupdates.adam)
        with pytest.raises(InputError, match=r"learning_rate.*adam\(\)"):
            symupdates.pymc.lr_find(optimizer=symupdates.adam(learning_rate=0.1))
        with pytest.raises(ArgumentError, match="optimizer="):
            symupdates.pymc.lr_find(obj_optimizer=symupdates.adam)
        with pytest.raises(InputError, match="num_steps"):
            symupdates.pymc.lr_find(num_steps=1)
