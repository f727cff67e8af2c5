"""symupdates.pymc as the docs use it: after ``import symupdates``, with factories, trackers, guards."""

import subprocess
import sys
import traceback

import numpy as np
import pytensor
import pytest

import symupdates as su

FIT = dict(progressbar=False, random_seed=1, compile_kwargs=dict(mode="FAST_COMPILE"))
N_STEPS = 60
Y = np.random.default_rng(0).normal(1.0, 1.0, size=20)


def test_pymc_module_is_there_after_import_symupdates():
    """In a fresh interpreter ``symupdates.pymc`` needs no import of its own, and PyMC is not imported."""
    code = (
        "import sys, symupdates; "
        "assert callable(symupdates.pymc.fit) and callable(symupdates.pymc.loss_aware); "
        "assert 'pymc' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def pm():
    return pytest.importorskip("pymc")


@pytest.fixture
def model(pm):
    """y ~ N(mu, 1) with the data in a shared variable, so a callback can spoil later steps."""
    with pm.Model() as m:
        data = pm.Data("data", Y)
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=data)
    return m, data


def test_fit_keeps_the_factory_latest(pm, model):
    opt = su.adam(learning_rate=0.05)
    su.pymc.fit(N_STEPS, model=model[0], obj_optimizer=opt, **FIT)
    assert isinstance(opt.latest, su.Updates)
    assert int(opt.latest.state["adam.step"].get_value()) == N_STEPS


@pytest.mark.parametrize("fit", ["pm.fit", "symupdates.pymc.fit"])
@pytest.mark.parametrize(
    "rate, expected",
    [
        pytest.param(0.01, np.full(N_STEPS, 0.01), id="constant"),
        pytest.param(pytensor.shared(0.02), np.full(N_STEPS, 0.02), id="shared"),
        pytest.param(
            su.schedules.exponential_decay(0.1, transition_steps=1, decay_rate=0.9),
            0.1 * 0.9 ** np.arange(N_STEPS),
            id="schedule",
        ),
    ],
)
def test_tracker_recipe_records_the_rate_of_every_step(pm, model, fit, rate, expected):
    """The recipe of docs/pymc.rst, under a real fit, for every kind of learning rate."""
    opt = su.adam(learning_rate=rate)
    tracker = pm.callbacks.Tracker(lr=lambda: opt.latest.learning_rate.get_value().item())
    run = pm.fit if fit == "pm.fit" else su.pymc.fit
    run(N_STEPS, model=model[0], obj_optimizer=opt, callbacks=[tracker], **FIT)
    np.testing.assert_allclose(tracker["lr"], expected, rtol=1e-12)


def test_tracker_lambda_error_keeps_its_message(pm, model):
    """A tracked lambda that raises an InputError: its message is in what the fit raises.

    PyMC's Tracker retries a failing callable with ``(approx, hist, i)`` on any
    exception, so a zero-argument lambda ends in that retry's TypeError; the
    InputError (a ValueError only) is the error it was raised while handling.
    """
    advi = pm.ADVI(model=model[0], random_seed=1)
    opt = su.pymc.loss_aware(advi, su.chain(su.scale_by_adam(), su.scale(0.01)))  # no learning rate to read
    tracker = pm.callbacks.Tracker(lr=lambda: opt.latest.learning_rate.get_value())
    with pytest.raises(TypeError, match="positional argument") as err:
        advi.fit(3, obj_optimizer=opt, callbacks=[tracker], progressbar=False)
    cause = err.value.__context__
    assert isinstance(cause, su.InputError) and not isinstance(cause, TypeError)
    assert str(cause) in "".join(traceback.format_exception(err.value))
    assert "no learning rates" in str(cause)


def _spoil(data, steps):
    """A callback that puts an infinite observation in the data for the steps numbered ``steps``."""
    bad = np.where(np.arange(Y.size) == 0, np.inf, Y)

    def callback(approx, hist, i):  # runs after step i - 1 (0-based), so it sets the data of step i
        data.set_value(bad if i in steps else Y)

    return callback


@pytest.mark.parametrize("fit", ["pm.fit", "symupdates.pymc.fit"])
@pytest.mark.parametrize("options", [{}, {"skip_nonfinite": True}], ids=["plain", "skip_nonfinite"])
def test_a_diverged_fit_fails_with_or_without_the_guard(pm, model, fit, options):
    """From step 10 on every gradient is infinite: plain PyMC raises, and so does the default guard."""
    m, data = model
    run = pm.fit if fit == "pm.fit" else su.pymc.fit
    opt = su.adam(learning_rate=0.05, **options)
    with pytest.raises(FloatingPointError, match="NaN occurred"):
        run(N_STEPS, model=m, obj_optimizer=opt, callbacks=[_spoil(data, range(10, N_STEPS))], **FIT)
    if options:
        state = opt.latest.state
        assert int(state["adam.skipped"].get_value()) == 5
        assert int(state["adam.consecutive_nonfinite"].get_value()) > 5


def test_fit_skips_a_few_bad_steps_and_warns(pm, model):
    """Two bad steps in a row are skipped, the counters say so, the fit goes on and warns."""
    m, data = model
    opt = su.adam(learning_rate=0.05, skip_nonfinite=True)
    with pytest.warns(RuntimeWarning, match=f"2 of the {N_STEPS} steps of this fit were skipped"):
        approx = su.pymc.fit(N_STEPS, model=m, obj_optimizer=opt, callbacks=[_spoil(data, {20, 21})], **FIT)
    state = opt.latest.state
    assert int(state["adam.skipped"].get_value()) == 2
    assert int(state["adam.consecutive_nonfinite"].get_value()) == 0
    assert int(state["adam.step"].get_value()) == N_STEPS - 2
    assert np.isinf(approx.hist[20:22]).all() and np.isfinite(approx.hist[22:]).all()
    assert np.all(np.isfinite(approx.params[0].get_value()))


def test_fit_without_skipped_steps_does_not_warn(pm, model, recwarn):
    su.pymc.fit(N_STEPS, model=model[0], obj_optimizer=su.adam(learning_rate=0.05, skip_nonfinite=True), **FIT)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning) and "skipped" in str(w.message)]
