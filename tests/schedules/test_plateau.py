"""reduce_on_plateau inside the compiled step vs torch.optim.lr_scheduler.ReduceLROnPlateau."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.conftest import FAST

torch = pytest.importorskip("torch")

N = 300


def losses(rng, n=N):
    """A decreasing loss that flattens, with noise and a few spikes."""
    k = np.arange(n)
    out = 1.0 + 5.0 * np.exp(-k / 40) + 0.05 * rng.normal(size=n)
    out[::37] += 0.5
    return out


def torch_rates(metrics, window=1, **kw):
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    rates = []
    for k in range(len(metrics)):
        rates.append(opt.param_groups[0]["lr"])
        if (k + 1) % window == 0:
            total = 0.0
            for x in metrics[k + 1 - window : k + 1]:
                total += x
            sched.step(total / window)
    return np.array(rates)


CASES = [
    dict(patience=3, factor=0.5),
    dict(mode="min", threshold_mode="abs", threshold=0.01, patience=2, cooldown=4, factor=0.3, min_lr=1e-3),
    dict(mode="max", patience=4, factor=0.7),
    dict(mode="max", threshold_mode="abs", threshold=0.05, patience=0, cooldown=1),
    dict(patience=1, factor=0.5, window=5),
    dict(patience=0, factor=0.9, window=3, cooldown=2, min_lr=0.05),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_matches_torch_on_a_given_metric(case, rng):
    """The rate used at each step (read from the SGD step on a unit gradient) equals torch's."""
    case = dict(case)
    window = case.pop("window", 1)
    metrics = losses(rng)
    if case.get("mode") == "max":
        metrics = -metrics
    m = pt.scalar("m", dtype="float64")
    w = pytensor.shared(np.zeros(1), name="w")
    plateau = su.reduce_on_plateau(0.1, window=window, metric=m, **case)
    updates = su.sgd([pt.ones(1)], [w], learning_rate=plateau)
    fn = pytensor.function([m], [], updates=updates, mode=FAST)
    state, rates, steps = updates.state["sgd.plateau.lr"], [], []
    for x in metrics:
        before = w.get_value()[0]
        rates.append(float(state.get_value()))
        fn(x)
        steps.append(before - w.get_value()[0])
    expected = torch_rates(list(metrics), window=window, **case)
    assert len(set(expected)) > 2  # the sequence does get reduced
    np.testing.assert_array_equal(rates, expected)  # identical, not just close
    np.testing.assert_allclose(steps, expected, rtol=1e-6)  # and it is the rate the step used


def test_real_loss_and_state(rng):
    """Given the scalar loss, the plateau watches it; the lr state equals torch's after the same losses."""
    x = pt.vector("x")
    w = pytensor.shared(np.array([1.0, -1.0]), name="w")
    loss = ((w - x) ** 2).sum()
    updates = su.adam(loss, [w], learning_rate=su.reduce_on_plateau(0.05, patience=2, factor=0.5))
    assert {"adam.plateau.lr", "adam.plateau.best", "adam.plateau.num_bad", "adam.plateau.cooldown"} <= set(
        updates.state
    )
    fn = pytensor.function([x], loss, updates=updates, mode=FAST)
    seen = [float(fn(rng.normal(size=2))) for _ in range(80)]
    w_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w_t], lr=0.05)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for value in seen:
        sched.step(value)
    lr = updates.state["adam.plateau.lr"].get_value()
    assert lr < 0.05
    assert lr == sched.get_last_lr()[0]
    updates.reset()
    assert updates.state["adam.plateau.lr"].get_value() == 0.05
    assert updates.state["adam.plateau.best"].get_value() == np.inf


def test_float32_parameters_stay_float32():
    w = pytensor.shared(np.ones(2, dtype="float32"), name="w")
    updates = su.sgd((w**2).sum(), [w], learning_rate=su.reduce_on_plateau(0.1))
    assert updates[w].dtype == "float32"
    pytensor.function([], [], updates=updates, mode=FAST)()
    assert w.get_value().dtype == "float32"


def test_needs_the_loss():
    w = pytensor.shared(np.ones(2), name="w")
    with pytest.raises(su.InputError, match="needs the loss"):
        su.sgd([pt.ones(2)], [w], learning_rate=su.reduce_on_plateau(0.1))
    # the loss can be given next to gradients
    updates = su.core.apply(
        su.sgd.transform(learning_rate=su.reduce_on_plateau(0.1)), [pt.ones(2)], [w], loss=(w**2).sum()
    )
    assert "sgd.plateau.lr" in updates.state


def test_is_not_a_plain_schedule():
    with pytest.raises(su.InputError, match="keeps state"):
        su.reduce_on_plateau(0.1)(pt.constant(0))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(mode="minimum"), "mode"),
        (dict(factor=1.0), "factor"),
        (dict(patience=-1), "patience"),
        (dict(threshold_mode="relative"), "threshold_mode"),
        (dict(window=0), "window"),
        (dict(metric=3.0), "metric"),
    ],
)
def test_invalid_arguments(kw, match):
    with pytest.raises(su.InputError, match=match):
        su.reduce_on_plateau(0.1, **kw)
