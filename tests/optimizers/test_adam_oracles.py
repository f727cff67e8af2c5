"""The Adam family against live oracles: torch.optim and optax, 100 steps each.

Each case runs one of our optimizers and its oracle on the same random
problem (several parameter shapes, a scalar included): per-element quadratic
losses with noisy gradients, ``g_k = c (p - a) + n_k``. The trajectories are
compared by the displacement ``p_t - p_0`` relative to the largest
displacement of that tensor over the run, a measure that, unlike the
relative error of ``p_t`` itself, does not shrink when the steps are small.
Tolerance: 1e-6 in float64, 1e-4 in float32.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import symupdates as su  # noqa: E402
from tests.conftest import FAST  # noqa: E402

N_STEPS = 100
SHAPES = [(5,), (2, 3), ()]
RTOL = {"float64": 1e-6, "float32": 1e-4}


def make_problem(seed, dtype):
    rng = np.random.default_rng(seed)
    arrays = {
        "init": [rng.normal(size=s) for s in SHAPES],
        "target": [rng.normal(size=s) for s in SHAPES],
        "curvature": [rng.uniform(0.2, 3.0, size=s) for s in SHAPES],
        "noise": [rng.normal(scale=0.7, size=(N_STEPS,) + s) for s in SHAPES],
    }
    return {k: [np.asarray(a, dtype=dtype) for a in v] for k, v in arrays.items()}


def run_ours(name, hyper, prob):
    params = [pytensor.shared(x.copy(), name=f"p{j}") for j, x in enumerate(prob["init"])]
    noise = [pt.tensor(f"n{j}", dtype=x.dtype, shape=x.shape) for j, x in enumerate(prob["init"])]
    loss = sum(
        pt.sum(c * (p - a) ** 2 / 2 + n * p) for p, a, c, n in zip(params, prob["target"], prob["curvature"], noise)
    )
    updates = su.get(name, **hyper)(loss, params)
    fn = pytensor.function(noise, [], updates=updates, mode=FAST)
    out = []
    for k in range(N_STEPS):
        fn(*(n[k] for n in prob["noise"]))
        out.append([p.get_value() for p in params])
    return out


def run_torch(cls, hyper, prob):
    dtype = torch.float64 if prob["init"][0].dtype == np.float64 else torch.float32
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # torch's scalar state (step, mu_product) follows it
    try:
        params = [torch.tensor(x, requires_grad=True) for x in prob["init"]]
        opt = cls(params, foreach=False, **hyper)
        data = [[torch.tensor(x) for x in prob[k]] for k in ("target", "curvature", "noise")]
        out = []
        for k in range(N_STEPS):
            with torch.no_grad():
                for p, a, c, n in zip(params, *data):
                    p.grad = c * (p - a) + n[k]
            opt.step()
            out.append([p.detach().numpy().copy() for p in params])
        return out
    finally:
        torch.set_default_dtype(default)


def run_optax(opt, prob):
    target, curvature = prob["target"], prob["curvature"]

    @jax.jit
    def step(params, state, noise):
        grads = [c * (p - a) + n for p, a, c, n in zip(params, target, curvature, noise)]
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    params = [jnp.asarray(x) for x in prob["init"]]
    state = opt.init(params)
    out = []
    for k in range(N_STEPS):
        params, state = step(params, state, [n[k] for n in prob["noise"]])
        out.append([np.asarray(p) for p in params])
    return out


def optax_yogi_from_zero(learning_rate, **hyper):
    return optax.chain(
        optax.scale_by_yogi(initial_accumulator_value=0.0, **hyper), optax.scale_by_learning_rate(learning_rate)
    )


# (our name, our hyper-parameters, oracle, oracle hyper-parameters); an oracle is
# a torch.optim class or an optax factory taking learning_rate first.
CASES = {
    "adamw-defaults": ("adamw", {}, torch.optim.AdamW, {}),
    "adamw-strong": (
        "adamw",
        dict(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-6, weight_decay=0.1),
        torch.optim.AdamW,
        dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "adamw-amsgrad": (
        "adamw",
        dict(learning_rate=0.01, weight_decay=0.3, amsgrad=True),
        torch.optim.AdamW,
        dict(lr=0.01, weight_decay=0.3, amsgrad=True),
    ),
    "nadam-defaults": ("nadam", {}, torch.optim.NAdam, {}),
    "nadam-coupled-wd": (
        "nadam",
        dict(learning_rate=0.02, beta1=0.8, beta2=0.99, momentum_decay=0.01, weight_decay=0.1),
        torch.optim.NAdam,
        dict(lr=0.02, betas=(0.8, 0.99), momentum_decay=0.01, weight_decay=0.1),
    ),
    "nadam-decoupled-wd": (
        "nadam",
        dict(learning_rate=0.01, epsilon=1e-6, decoupled_weight_decay=0.05),
        torch.optim.NAdam,
        dict(lr=0.01, eps=1e-6, weight_decay=0.05, decoupled_weight_decay=True),
    ),
    "nadam-optax-defaults": ("nadam", dict(learning_rate=2e-3, form="optax"), optax.nadam, dict(learning_rate=2e-3)),
    "nadam-optax-strong": (
        "nadam",
        dict(learning_rate=0.03, beta1=0.7, beta2=0.95, epsilon=1e-5, form="optax"),
        optax.nadam,
        dict(learning_rate=0.03, b1=0.7, b2=0.95, eps=1e-5),
    ),
    "radam-defaults": ("radam", {}, torch.optim.RAdam, {}),
    "radam-strong": (
        "radam",
        dict(learning_rate=0.02, beta1=0.8, beta2=0.99, epsilon=1e-6),
        torch.optim.RAdam,
        dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    ),
    "radam-decoupled-wd": (
        "radam",
        dict(learning_rate=0.01, beta2=0.98, decoupled_weight_decay=0.1),
        torch.optim.RAdam,
        dict(lr=0.01, betas=(0.9, 0.98), weight_decay=0.1, decoupled_weight_decay=True),
    ),
    "radam-optax-defaults": ("radam", dict(form="optax"), optax.radam, dict(learning_rate=1e-3)),
    "radam-optax-threshold": (
        "radam",
        dict(learning_rate=0.02, beta2=0.99, epsilon=1e-6, threshold=6.0, form="optax"),
        optax.radam,
        dict(learning_rate=0.02, b2=0.99, eps=1e-6, threshold=6.0),
    ),
    "adabelief-defaults": ("adabelief", {}, optax.adabelief, dict(learning_rate=1e-3)),
    "adabelief-strong": (
        "adabelief",
        dict(learning_rate=0.02, beta1=0.8, beta2=0.99, epsilon=1e-8, eps_root=1e-10),
        optax.adabelief,
        dict(learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10),
    ),
    "adabelief-no-eps-root": (
        "adabelief",
        dict(learning_rate=0.01, epsilon=1e-12, eps_root=0.0),
        optax.adabelief,
        dict(learning_rate=0.01, eps=1e-12, eps_root=0.0),
    ),
    "yogi-defaults": ("yogi", {}, optax.yogi, dict(learning_rate=1e-2)),
    "yogi-strong": (
        "yogi",
        dict(learning_rate=0.05, beta1=0.8, beta2=0.99, epsilon=1e-4),
        optax.yogi,
        dict(learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-4),
    ),
    "yogi-fast-v": (
        "yogi",
        dict(learning_rate=1e-3, beta2=0.9, epsilon=1e-2),
        optax.yogi,
        dict(learning_rate=1e-3, b2=0.9, eps=1e-2),
    ),
    "yogi-zero-start": (
        "yogi",
        dict(learning_rate=0.01, initial_accumulator_value=0.0, eps_root=1e-8),
        optax_yogi_from_zero,
        dict(learning_rate=0.01, eps_root=1e-8),
    ),
    "adan-defaults": ("adan", {}, optax.adan, dict(learning_rate=1e-3)),
    "adan-strong": (
        "adan",
        dict(learning_rate=0.02, beta1=0.9, beta2=0.9, beta3=0.999, weight_decay=0.05),
        optax.adan,
        dict(learning_rate=0.02, b1=0.9, b2=0.9, b3=0.999, weight_decay=0.05),
    ),
    "adan-no-eps-root": (
        "adan",
        dict(learning_rate=0.01, epsilon=1e-6, eps_root=0.0, weight_decay=0.1),
        optax.adan,
        dict(learning_rate=0.01, eps=1e-6, eps_root=0.0, weight_decay=0.1),
    ),
}


def run_oracle(oracle, hyper, prob):
    if isinstance(oracle, type) and issubclass(oracle, torch.optim.Optimizer):
        return run_torch(oracle, hyper, prob)
    return run_optax(oracle(**hyper), prob)


def displacement_error(ours, reference, init):
    """max_t |(a_t - p_0) - (b_t - p_0)| / max_t |b_t - p_0|, the worst over the tensors."""
    worst = 0.0
    for j, p0 in enumerate(init):
        a = np.stack([step[j] for step in ours]).astype(np.float64) - p0
        b = np.stack([step[j] for step in reference]).astype(np.float64) - p0
        worst = max(worst, np.abs(a - b).max() / np.abs(b).max())
    return worst


def parameter_error(ours, reference):
    """max_t max |a_t - b_t| / |b_t| (element-wise relative error of the parameters)."""
    return max(
        float(np.max(np.abs(a.astype(np.float64) - b) / np.maximum(np.abs(b.astype(np.float64)), 1e-30)))
        for sa, sb in zip(ours, reference)
        for a, b in zip(sa, sb)
    )


def compare(case, dtype, seed=0):
    name, hyper, oracle, oracle_hyper = CASES[case]
    prob = make_problem(seed, dtype)
    ours, reference = run_ours(name, hyper, prob), run_oracle(oracle, oracle_hyper, prob)
    assert all(a.dtype == np.dtype(dtype) for step in ours for a in step)
    return displacement_error(ours, reference, prob["init"]), parameter_error(ours, reference)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_oracle(case, dtype):
    displacement, _ = compare(case, dtype, seed=sorted(CASES).index(case))
    assert displacement <= RTOL[dtype], f"{case} {dtype}: relative error {displacement:.3g}"


def test_every_optimizer_of_the_family_has_three_settings():
    names = [name for name, *_ in CASES.values()]
    for name in ("adamw", "nadam", "radam", "adabelief", "yogi", "adan"):
        assert names.count(name) >= 3, name


@pytest.mark.parametrize(
    "case, ours, theirs, flip",
    [
        ("nadam-defaults", {}, {}, {"form": "optax"}),
        ("nadam-optax-strong", {}, {}, {"form": "torch"}),
        ("radam-strong", {"epsilon": 1e-2}, {"eps": 1e-2}, {"form": "optax"}),
        ("radam-optax-threshold", {"epsilon": 1e-2}, {"eps": 1e-2}, {"form": "torch"}),
        ("yogi-defaults", {}, {}, {"initial_accumulator_value": 0.0}),
    ],
)
def test_forms_really_differ(case, ours, theirs, flip):
    """The alternative forms are not the same numbers under another name: each misses the other oracle."""
    name, hyper, oracle, oracle_hyper = CASES[case]
    prob = make_problem(3, "float64")
    reference = run_oracle(oracle, {**oracle_hyper, **theirs}, prob)
    hyper = {**hyper, **ours}
    assert displacement_error(run_ours(name, hyper, prob), reference, prob["init"]) <= RTOL["float64"]
    assert displacement_error(run_ours(name, {**hyper, **flip}, prob), reference, prob["init"]) > 1e-4
