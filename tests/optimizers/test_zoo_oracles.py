"""Live oracles for the sign-based, layer-wise, factored and averaged optimizers.

Each case runs 100 steps of a noisy quadratic, g = a (p - c) + n_k, on
tensors of several shapes and of both float64 and float32 (in one optimizer),
through symupdates and through the oracle (optax 0.2.8 or torch 2.13), and
compares the parameters after every step: rtol 1e-6 in float64, 1e-4 in float32.
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

N_STEPS = 100
SHAPES = [(), (5,), (3, 4), (2, 3, 4)]
RTOL = {"float64": 1e-6, "float32": 1e-4}
# No graph rewrites: these graphs are compiled 30+ times, and the rewrites are tested elsewhere.
MODE = pytensor.compile.mode.Mode(linker="py", optimizer=None)


def make_problem(seed, shapes=SHAPES, dtypes=("float64", "float32")):
    rng = np.random.default_rng(seed)
    specs = [(s, d) for d in dtypes for s in shapes]
    p0 = [rng.normal(size=s).astype(d) for s, d in specs]
    a = [rng.uniform(0.5, 2.0, size=s).astype(d) for s, d in specs]
    c = [rng.normal(size=s).astype(d) for s, d in specs]
    noise = [[(0.3 * rng.normal(size=s)).astype(d) for s, d in specs] for _ in range(N_STEPS)]
    return p0, a, c, noise


def grads_np(params, a, c, noise_k):
    return [ai * (p - ci) + n for p, ai, ci, n in zip(params, a, c, noise_k)]


def run_ours(factory, p0, a, c, noise):
    params = [pytensor.shared(p.copy(), name=f"p{i}") for i, p in enumerate(p0)]
    inputs = [pt.tensor(f"n{i}", dtype=p.dtype, shape=p.shape) for i, p in enumerate(p0)]
    grads = [pt.constant(ai) * (p - pt.constant(ci)) + n for p, ai, ci, n in zip(params, a, c, inputs)]
    updates = factory(grads, params)
    fn = pytensor.function(inputs, [], updates=updates, mode=MODE)
    out = []
    for k in range(N_STEPS):
        fn(*noise[k])
        out.append([p.get_value().copy() for p in params])
    return out, updates


def run_optax(tx, p0, a, c, noise):
    params = [jnp.asarray(p) for p in p0]
    state = tx.init(params)
    update = jax.jit(tx.update)
    out = []
    for k in range(N_STEPS):
        g = grads_np([np.asarray(p) for p in params], a, c, noise[k])
        updates, state = update([jnp.asarray(x) for x in g], state, params)
        params = optax.apply_updates(params, updates)
        out.append([np.asarray(p) for p in params])
    return out


def run_torch(make_opt, p0, a, c, noise, extra=None):
    params = [torch.tensor(p.copy(), requires_grad=True) for p in p0]
    opt = make_opt(params)
    out, extras = [], []
    for k in range(N_STEPS):
        g = grads_np([p.detach().numpy() for p in params], a, c, noise[k])
        for p, gi in zip(params, g):
            p.grad = torch.from_numpy(np.array(gi))
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
        if extra is not None:
            extras.append(extra(opt, params))
    return out, extras


def max_rel_error(ours, oracle, p0):
    """{dtype: max over steps and tensors of max|ours - oracle| / max|oracle|}."""
    worst = {}
    for step_ours, step_oracle in zip(ours, oracle):
        for x, y, p in zip(step_ours, step_oracle, p0):
            assert x.dtype == p.dtype
            y = np.asarray(y, dtype=np.float64)
            err = np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)
            worst[p.dtype.name] = max(worst.get(p.dtype.name, 0.0), float(err))
    return worst


def errors_beyond(ours, oracle, p0, label, record, rtol=RTOL) -> list[str]:
    """The errors above ``rtol``, as messages; ``record`` (pytest's record_property) keeps all for the summary."""
    worst = max_rel_error(ours, oracle, p0)
    record("oracle_error", (label, worst))
    assert set(worst) == {p.dtype.name for p in p0}  # every dtype was compared
    return [f"{label}: {dtype} max relative error {err:.3g}" for dtype, err in worst.items() if err > rtol[dtype]]


def by_index(flags):
    """A symupdates mask from per-parameter flags (parameters are named p0, p1, ...)."""
    return {f"p{i}": bool(f) for i, f in enumerate(flags)}


# -- optax oracles ----------------------------------------------------------------

OPTAX_CASES = {
    "sign_sgd": [
        (dict(learning_rate=0.01), lambda m: optax.sign_sgd(0.01)),
        (dict(learning_rate=0.03), lambda m: optax.sign_sgd(0.03)),
        (dict(learning_rate=0.1), lambda m: optax.sign_sgd(0.1)),
    ],
    "signum": [
        (dict(learning_rate=0.01, beta=0.9), lambda m: optax.signum(0.01, beta=0.9)),
        (dict(learning_rate=0.05, beta=0.5), lambda m: optax.signum(0.05, beta=0.5)),
        (dict(learning_rate=0.02, beta=0.0), lambda m: optax.signum(0.02, beta=0.0)),
    ],
    "lion": [
        (dict(learning_rate=1e-3), lambda m: optax.lion(1e-3, weight_decay=0.0)),
        (
            dict(learning_rate=3e-3, beta1=0.95, beta2=0.98, decoupled_weight_decay=0.01),
            lambda m: optax.lion(3e-3, b1=0.95, b2=0.98, weight_decay=0.01),
        ),
        (
            dict(learning_rate=1e-2, beta1=0.5, beta2=0.9, decoupled_weight_decay=0.1),
            lambda m: optax.lion(1e-2, b1=0.5, b2=0.9, weight_decay=0.1),
        ),
    ],
    "lamb": [
        (dict(learning_rate=1e-2), lambda m: optax.lamb(1e-2)),
        (
            dict(learning_rate=5e-3, beta1=0.8, beta2=0.99, epsilon=1e-8, weight_decay=0.01),
            lambda m: optax.lamb(5e-3, b1=0.8, b2=0.99, eps=1e-8, weight_decay=0.01),
        ),
        (
            dict(learning_rate=2e-2, weight_decay=0.1, weight_decay_mask="mask"),
            lambda m: optax.lamb(2e-2, weight_decay=0.1, mask=lambda params: list(m)),
        ),
    ],
    "lars": [
        (dict(learning_rate=0.1), lambda m: optax.lars(0.1)),
        (
            dict(learning_rate=0.5, momentum=0.5, nesterov=True, weight_decay=1e-3),
            lambda m: optax.lars(0.5, momentum=0.5, nesterov=True, weight_decay=1e-3),
        ),
        (
            dict(
                learning_rate=1.0,
                momentum=0.0,
                trust_coefficient=0.01,
                epsilon=1e-6,
                weight_decay=0.01,
                weight_decay_mask="mask",
                trust_ratio_mask="mask",
            ),
            lambda m: optax.lars(
                1.0,
                momentum=0.0,
                trust_coefficient=0.01,
                eps=1e-6,
                weight_decay=0.01,
                weight_decay_mask=lambda params: list(m),
                trust_ratio_mask=lambda params: list(m),
            ),
        ),
    ],
    "novograd": [
        (dict(learning_rate=1e-2), lambda m: optax.novograd(1e-2)),
        (
            dict(learning_rate=5e-3, beta1=0.95, beta2=0.5, epsilon=1e-8),
            lambda m: optax.novograd(5e-3, b1=0.95, b2=0.5, eps=1e-8),
        ),
        (
            dict(learning_rate=2e-2, beta1=0.8, beta2=0.1, weight_decay=1e-3),
            lambda m: optax.novograd(2e-2, b1=0.8, b2=0.1, weight_decay=1e-3),
        ),
    ],
    "adafactor": [
        (dict(learning_rate=1e-2, min_dim_size_to_factor=2), lambda m: optax.adafactor(1e-2, min_dim_size_to_factor=2)),
        (
            dict(learning_rate=0.05, min_dim_size_to_factor=3, decay_rate=0.5, momentum=0.9, weight_decay=1e-3),
            lambda m: optax.adafactor(
                0.05,
                min_dim_size_to_factor=3,
                decay_rate=0.5,
                momentum=0.9,
                weight_decay_rate=1e-3,
                dtype_momentum=jnp.float64,
            ),
        ),
        (
            dict(learning_rate=0.02, multiply_by_parameter_scale=False, clipping_threshold=None, factored=False),
            lambda m: optax.adafactor(0.02, multiply_by_parameter_scale=False, clipping_threshold=None, factored=False),
        ),
        (
            dict(learning_rate=0.3, min_dim_size_to_factor=2, clipping_threshold=0.5, epsilon=1e-20, min_scale=0.1),
            lambda m: optax.chain(
                optax.scale_by_factored_rms(min_dim_size_to_factor=2, epsilon=1e-20),
                optax.clip_by_block_rms(0.5),
                optax.scale_by_learning_rate(0.3, flip_sign=False),
                optax.scale_by_param_block_rms(0.1),
                optax.scale(-1),
            ),
        ),
    ],
    "sm3": [
        (dict(learning_rate=1e-2), lambda m: optax.sm3(1e-2)),
        (dict(learning_rate=5e-2, momentum=0.0), lambda m: optax.sm3(5e-2, momentum=0.0)),
        (
            dict(learning_rate=2e-2, momentum=0.5, epsilon=1e-6),
            lambda m: optax.chain(optax.scale_by_sm3(0.5, eps=1e-6), optax.scale(-2e-2)),
        ),
    ],
}


def _resolve(hyper, mask_flags):
    return {k: (by_index(mask_flags) if v == "mask" else v) for k, v in hyper.items()}


@pytest.mark.parametrize("name,k", [(name, k) for name, cases in OPTAX_CASES.items() for k in range(len(cases))])
def test_against_optax(name, k, record_property):
    hyper, make_tx = OPTAX_CASES[name][k]
    shapes = [s for s in SHAPES if s != ()] if name == "sm3" else SHAPES  # optax.sm3 fails on 0-d
    p0, a, c, noise = make_problem(100 * k + len(name), shapes)
    mask = [p.ndim >= 2 for p in p0]
    ours, _ = run_ours(su.get(name, **_resolve(hyper, mask)), p0, a, c, noise)
    oracle = run_optax(make_tx(mask), p0, a, c, noise)
    # NovoGrad's momentum sums ~1/(1-beta1) = 20 undamped terms: float32 rounding grows to ~1.6e-4.
    rtol = {**RTOL, "float32": 3e-4} if (name, k) == ("novograd", 1) else RTOL
    assert not errors_beyond(ours, oracle, p0, f"{name}[{k}] optax", record_property, rtol)


# -- torch oracles ----------------------------------------------------------------

TORCH_CASES = {
    "rprop": [
        (dict(learning_rate=0.01), lambda ps: torch.optim.Rprop(ps, lr=0.01, foreach=False)),
        (
            dict(learning_rate=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 1.0)),
            lambda ps: torch.optim.Rprop(ps, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 1.0), foreach=False),
        ),
        (
            dict(learning_rate=1e-3, etas=(0.6, 1.1), step_sizes=(1e-6, 0.05)),
            lambda ps: torch.optim.Rprop(ps, lr=1e-3, etas=(0.6, 1.1), step_sizes=(1e-6, 0.05), foreach=False),
        ),
    ],
    "asgd": [
        (dict(learning_rate=0.01), lambda ps: torch.optim.ASGD(ps, lr=0.01, foreach=False)),
        (
            dict(learning_rate=0.05, lambd=1e-2, alpha=0.5, t0=10),
            lambda ps: torch.optim.ASGD(ps, lr=0.05, lambd=1e-2, alpha=0.5, t0=10, foreach=False),
        ),
        (
            dict(learning_rate=0.02, lambd=0.1, alpha=1.0, t0=0, weight_decay=1e-2),
            lambda ps: torch.optim.ASGD(ps, lr=0.02, lambd=0.1, alpha=1.0, t0=0, weight_decay=1e-2, foreach=False),
        ),
    ],
    "adafactor": [
        (dict(learning_rate=1e-2, form="torch"), lambda ps: torch.optim.Adafactor(ps, lr=1e-2, foreach=False)),
        (
            dict(learning_rate=0.5, form="torch", decay_rate=0.5, clipping_threshold=2.0),
            lambda ps: torch.optim.Adafactor(ps, lr=0.5, beta2_decay=-0.5, d=2.0, foreach=False),
        ),
        (
            dict(learning_rate=0.1, form="torch", epsilon=1e-3, min_scale=1e-2, weight_decay=0.1 * 0.05),
            lambda ps: torch.optim.Adafactor(ps, lr=0.1, eps=(1e-3, 1e-2), weight_decay=0.05, foreach=False),
        ),
    ],
}


def _torch_ax(opt, params):
    return [opt.state[p]["ax"].numpy().copy() for p in params]


@pytest.mark.parametrize("name,k", [(name, k) for name, cases in TORCH_CASES.items() for k in range(len(cases))])
def test_against_torch(name, k, record_property):
    hyper, make_opt = TORCH_CASES[name][k]
    p0, a, c, noise = make_problem(200 * k + len(name))
    ours, updates = run_ours(su.get(name, **hyper), p0, a, c, noise)
    # torch keeps ASGD's eta and mu in the default dtype: make it float64 so they are not rounded to float32.
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        oracle, extras = run_torch(make_opt, p0, a, c, noise, extra=_torch_ax if name == "asgd" else None)
    finally:
        torch.set_default_dtype(default)
    assert not errors_beyond(ours, oracle, p0, f"{name}[{k}] torch", record_property)
    if name == "asgd":  # the averaged iterates: compare the final ones
        averages = su.averaged_parameters(updates)
        final = [[averages[p].get_value() for p in updates.params]]
        assert not errors_beyond(final, [extras[-1]], p0, f"asgd[{k}] torch ax", record_property)
