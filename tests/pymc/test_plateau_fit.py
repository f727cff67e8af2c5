"""symupdates.pymc: the plateau under a real pm.fit sees the ADVI loss that fit records."""

import subprocess
import sys

import numpy as np
import pytest

pm = pytest.importorskip("pymc")
torch = pytest.importorskip("torch")

import symupdates as su  # noqa: E402
import symupdates.pymc as sp  # noqa: E402

FIT = dict(progressbar=False, compile_kwargs=dict(mode="FAST_COMPILE"))


@pytest.fixture
def model():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=np.array([0.5, 1.0, 1.5]))
    return m


def replay(hist, **kw):
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD([w], lr=0.05), **kw)
    for value in hist:
        sched.step(float(value))
    return sched.get_last_lr()[0]


def plateau_lr(inference):
    return next(v for v in inference.state.step.get_shared() if v.name == "adam.plateau.lr").get_value()


def test_fit_plateau_sees_the_recorded_loss(model):
    kw = dict(patience=3, factor=0.5, threshold=1e-3)
    advi = pm.ADVI(model=model, random_seed=1)
    approx = sp.fit(150, method=advi, obj_optimizer=su.adam(learning_rate=su.reduce_on_plateau(0.05, **kw)), **FIT)
    assert len(approx.hist) == 150
    lr = plateau_lr(advi)
    assert lr < 0.05
    assert lr == replay(approx.hist, **kw)


def test_loss_aware_with_pm_fit(model):
    advi = pm.ADVI(model=model, random_seed=2)
    opt = sp.loss_aware(advi, su.adam(learning_rate=su.reduce_on_plateau(0.05, patience=5, window=4)))
    approx = pm.fit(100, method=advi, model=model, obj_optimizer=opt, **FIT)
    h = approx.hist
    means = [sum(h[i : i + 4]) / 4 for i in range(0, 100, 4)]
    assert plateau_lr(advi) == replay(means, patience=5)


def test_plain_pm_fit_cannot_give_the_loss(model):
    with pytest.raises(su.InputError, match="needs the loss"):
        pm.fit(5, model=model, obj_optimizer=su.adam(learning_rate=su.reduce_on_plateau(0.05)), **FIT)


def test_svgd_has_no_loss_for_the_plateau(model):
    """SVGD's operator (KSD) returns no loss: the error says so, not "use symupdates.pymc.fit"."""
    opt = su.adam(learning_rate=su.reduce_on_plateau(0.05))
    with pytest.raises(su.InputError, match="SVGD's objective has no scalar loss: its operator KSD") as err:
        sp.fit(5, method="svgd", model=model, obj_optimizer=opt, inf_kwargs=dict(n_particles=3), **FIT)
    assert "metric=" in str(err.value) and "symupdates.pymc.fit" not in str(err.value)


def test_as_transform():
    assert isinstance(sp.as_transform(su.adam(learning_rate=0.1)), su.Transform)
    assert isinstance(sp.as_transform(su.adam), su.Transform)
    with pytest.raises(su.InputError, match="symupdates optimizer"):
        sp.as_transform(pm.adam(learning_rate=0.1))


def test_symupdates_does_not_import_pymc():
    code = "import sys, symupdates, symupdates.pymc; assert 'pymc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
