"""Common options against torch.optim where the semantics match: 100 steps, float64 and float32.

The error measured is, per tensor and step, max|ours - torch| / max|torch| (a
parameter crossing zero would make an element-wise ratio meaningless); its
maximum over the 100 steps is printed with ``-s``.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import torch

import symupdates as su
from tests.conftest import DEFAULT

N_STEPS = 100
RTOL = {"float64": 1e-6, "float32": 1e-4}
SHAPES = {"W": (3, 2), "b": (2,)}

# (case id, torch optimizer factory, symupdates call, clip_global_norm for torch)
CASES = [
    (
        "sgd_wd",
        lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.1),
        lambda g, p: su.sgd(g, p, 0.05, weight_decay=0.1),
        None,
    ),
    (
        "sgd_momentum_wd",
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1),
        lambda g, p: su.sgd(g, p, 0.05, momentum=0.9, weight_decay=0.1),
        None,
    ),
    (
        "adam_wd",
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
        lambda g, p: su.adam(g, p, 0.01, form="torch", weight_decay=0.1),
        None,
    ),
    (
        "rmsprop_wd",
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1),
        lambda g, p: su.rmsprop(g, p, 0.01, 0.9, 1e-6, eps_inside_sqrt=False, weight_decay=0.1),
        None,
    ),
    (
        "adagrad_wd",
        lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-6, weight_decay=0.1),
        lambda g, p: su.adagrad(g, p, 0.1, 1e-6, eps_inside_sqrt=False, weight_decay=0.1),
        None,
    ),
    (
        "adadelta_wd",
        lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6, weight_decay=0.1),
        lambda g, p: su.adadelta(g, p, 1.0, 0.95, 1e-6, weight_decay=0.1),
        None,
    ),
    (
        "sgd_maximize",
        lambda p: torch.optim.SGD(p, lr=0.05, maximize=True),
        lambda g, p: su.sgd(g, p, 0.05, maximize=True),
        None,
    ),
    (
        "adam_maximize",
        lambda p: torch.optim.Adam(p, lr=0.01, maximize=True),
        lambda g, p: su.adam(g, p, 0.01, form="torch", maximize=True),
        None,
    ),
    (
        "rmsprop_centered_momentum",
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, centered=True, momentum=0.8),
        lambda g, p: su.rmsprop(g, p, 0.01, 0.9, 1e-6, centered=True, momentum=0.8, eps_inside_sqrt=False),
        None,
    ),
    (
        "adamw",
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
        lambda g, p: su.adam(g, p, 0.01, form="torch", decoupled_weight_decay=0.05),
        None,
    ),
    # torch scales by c / (norm + 1e-6), optax and symupdates by c / norm: a relative ~1e-6 / norm per step
    (
        "sgd_clip_global_norm",
        lambda p: torch.optim.SGD(p, lr=0.05),
        lambda g, p: su.sgd(g, p, 0.05, clip_global_norm=0.5),
        0.5,
    ),
]


def _data(dtype):
    rng = np.random.default_rng(11)
    init = {k: (rng.uniform(0.5, 1.5, size=s) * rng.choice([-1, 1], size=s)).astype(dtype) for k, s in SHAPES.items()}
    target = {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}
    noise = [{k: (0.3 * rng.normal(size=s)).astype(dtype) for k, s in SHAPES.items()} for _ in range(N_STEPS)]
    return init, target, noise


def _grad(p, target, noise):
    """A noisy quadratic's gradient, evaluated at each library's own current parameters."""
    return (p - target) + noise


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_option_matches_torch(case, dtype):
    name, make_torch, make_ours, torch_clip = case
    init, target, noise = _data(dtype)
    tdtype = getattr(torch, dtype)
    tparams = {k: torch.tensor(v, dtype=tdtype, requires_grad=True) for k, v in init.items()}
    topt = make_torch(list(tparams.values()))
    params = {k: pytensor.shared(v.copy(), name=k) for k, v in init.items()}
    grads = [pt.tensor(f"g{k}", dtype=dtype, shape=SHAPES[k]) for k in SHAPES]
    updates = make_ours(grads, list(params.values()))
    fn = pytensor.function(grads, [], updates=updates, mode=DEFAULT)
    worst = 0.0
    for k in range(N_STEPS):
        for key, t in tparams.items():
            t.grad = torch.tensor(_grad(t.detach().numpy(), target[key], noise[k][key]), dtype=tdtype)
        if torch_clip is not None:
            torch.nn.utils.clip_grad_norm_(list(tparams.values()), torch_clip)
        topt.step()
        fn(*(_grad(params[key].get_value(), target[key], noise[k][key]) for key in SHAPES))
        for key in SHAPES:
            ours, theirs = params[key].get_value(), tparams[key].detach().numpy()
            assert ours.dtype == np.dtype(dtype)
            worst = max(worst, float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))))
    print(f"\n{name} {dtype}: max relative error vs torch {worst:.2e}")
    moved = max(float(np.max(np.abs(params[k].get_value() - init[k]))) for k in SHAPES)
    assert moved > 1e-2  # the comparison is not between two parameters that stood still
    assert worst <= RTOL[dtype], f"{name} {dtype}: {worst:.3e}"
