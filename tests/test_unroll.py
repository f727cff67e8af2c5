"""Gradients through the optimizer (``symupdates.unroll``) against finite differences and torch.

The problem: logistic regression with two tensors (weights and a scalar bias) on 12
fixed points, from a random start. The meta-gradient ``d L_k / d eta`` of the loss after
``k`` steps w.r.t. each hyper-parameter is checked three ways:

* against central finite differences of the same unrolled loss (``h = 1e-6``), for every
  optimizer and hyper-parameter, evaluating the graph exactly as built (``AS_BUILT``: no
  rewrites, each operation computed by NumPy), so the derivative graph itself is tested;
* on the compiled backends: the default mode (C on PyTensor 2.38, Numba on 3.x), Numba and
  JAX give the same numbers as the graph as built;
* against torch 2.13 autograd through ``torch.optim``'s ``differentiable=True`` optimizers
  (SGD, Adam, AdamW: the learning rate, betas and weight decay as tensors that require
  grad, where torch accepts them) and, for what torch.optim does not differentiate
  (RMSprop; SGD's momentum), a functional k-step torch unroll with ``create_graph=True``.

Compiling a meta-gradient is costly (``k`` copies of a step and its second derivatives),
so the breadth is covered in ``AS_BUILT`` and each compiled backend compiles one case.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import torch
from pytensor.compile.mode import Mode

import symupdates as su
from symupdates.core.checks import InputError
from symupdates.unroll import Unrolled, unroll
from tests.conftest import DEFAULT, DEFAULT_IS_NUMBA

#: The graph exactly as built: no rewrites, every operation computed by its NumPy implementation.
AS_BUILT = Mode(linker="py", optimizer=None)
STEPS = 5
FD_STEP = 1e-6
HYPER = ("lr", "b1", "b2", "mu", "rho", "wd")
#: A data input of the losses of test_errors.
X = pt.vector("X")

#: name: (the optimizer of symbolic hyper-parameters h, the values of those it uses).
CASES = {
    "sgd": (lambda h: su.sgd(learning_rate=h["lr"], weight_decay=h["wd"]), {"lr": 0.5, "wd": 0.05}),
    "sgd_nesterov": (
        lambda h: su.sgd(learning_rate=h["lr"], momentum=h["mu"], nesterov=True),
        {"lr": 0.3, "mu": 0.8},
    ),
    "momentum": (lambda h: su.momentum(learning_rate=h["lr"], momentum=h["mu"]), {"lr": 0.3, "mu": 0.7}),
    "nesterov_momentum": (
        lambda h: su.nesterov_momentum(learning_rate=h["lr"], momentum=h["mu"]),
        {"lr": 0.3, "mu": 0.7},
    ),
    "adam": (
        lambda h: su.adam(learning_rate=h["lr"], beta1=h["b1"], beta2=h["b2"]),
        {"lr": 0.1, "b1": 0.8, "b2": 0.9},
    ),
    "rmsprop": (lambda h: su.rmsprop(learning_rate=h["lr"], rho=h["rho"]), {"lr": 0.05, "rho": 0.8}),
    "adamw": (
        lambda h: su.adamw(learning_rate=h["lr"], beta1=h["b1"], beta2=h["b2"], weight_decay=h["wd"]),
        {"lr": 0.1, "b1": 0.8, "b2": 0.9, "wd": 0.5},
    ),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1509)
    x = rng.normal(size=(12, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=12) > 0).astype("float64")
    return {"x": x, "y": y, "w0": rng.normal(scale=0.5, size=3), "b0": np.array(-0.2)}


def logistic(data, dtype="float64", x=None, y=None):
    """The parameters (fresh shared variables) and the mean logistic loss on ``x, y`` (default: the data)."""
    w = pytensor.shared(data["w0"].astype(dtype), name="w")
    b = pytensor.shared(data["b0"].astype(dtype), name="b")
    x = data["x"].astype(dtype) if x is None else x
    y = data["y"].astype(dtype) if y is None else y
    z = pt.dot(x, w) + b
    return pt.mean(pt.softplus(z) - y * z), [w, b]


def meta_gradient_function(name, data, mode):
    """f(values of the case's hyper-parameters) -> [L_k, dL_k/d each of them], compiled in ``mode``."""
    make, values = CASES[name]
    hyper = {k: pt.dscalar(k) for k in HYPER}
    loss, params = logistic(data)
    unrolled = unroll(make(hyper), loss, params, STEPS)
    used = [hyper[k] for k in values]
    fn = pytensor.function(used, [unrolled.loss, *unrolled.grad(used)], mode=mode)
    return fn, list(values.values())


@pytest.mark.parametrize("name", list(CASES))
def test_meta_gradients_match_finite_differences(name, data, record_property):
    fn, point = meta_gradient_function(name, data, AS_BUILT)
    _, *meta = fn(*point)
    errors = {}
    for i, key in enumerate(CASES[name][1]):
        up, down = list(point), list(point)
        up[i] += FD_STEP
        down[i] -= FD_STEP
        fd = (fn(*up)[0] - fn(*down)[0]) / (2 * FD_STEP)
        errors[key] = abs(meta[i] - fd) / abs(fd)
        record_property("oracle_error", (f"unroll {name} d/d{key} vs FD", {"float64": float(errors[key])}))
    assert max(errors.values()) < 1e-6, errors
    assert all(abs(g) > 1e-3 for g in meta)  # every hyper-parameter matters: the test can fail


@pytest.fixture(scope="module")
def as_built(data):
    """The meta-gradients of sgd_nesterov and adam, the graph as built: the reference of the backends."""
    return {name: meta_gradient_function(name, data, AS_BUILT) for name in ("sgd_nesterov", "adam")}


@pytest.mark.parametrize(
    ("backend", "name"),
    [("default", "sgd_nesterov"), ("NUMBA", "sgd_nesterov"), ("JAX", "adam")],
)
def test_compiled_backends_give_the_same_meta_gradient(backend, name, data, as_built, record_property):
    if backend == "NUMBA" and DEFAULT_IS_NUMBA:
        pytest.skip("the default mode is Numba here: the 'default' case is this one")
    if backend != "default":
        pytest.importorskip(backend.lower())
    reference_fn, point = as_built[name]
    fn, _ = meta_gradient_function(name, data, DEFAULT if backend == "default" else backend)
    got, expected = np.array(fn(*point)), np.array(reference_fn(*point))
    error = float(np.max(np.abs(got - expected) / np.abs(expected)))
    record_property("oracle_error", (f"unroll {name} {backend} vs as built", {"float64": float(error)}))
    assert error < 1e-12


def test_unrolled_loss_equals_running_the_steps(data, record_property):
    """A named optimizer with its defaults, on mini-batches: the unrolled values are the compiled steps'."""
    x, y = pt.matrix("x"), pt.vector("y")
    loss, params = logistic(data, x=x, y=y)
    rows = [np.arange(j, j + 6) % 12 for j in range(STEPS + 1)]
    batches = [(data["x"][r], data["y"][r]) for r in rows]
    unrolled = unroll(su.adam, loss, params, STEPS, inputs=[x, y], data=batches)
    assert isinstance(unrolled, Unrolled) and len(unrolled.losses) == STEPS + 1
    values = [unrolled.values[p] for p in params]
    evaluate = pytensor.function([], [*unrolled.losses, *values], mode=DEFAULT)
    *losses, w_k, b_k = evaluate()
    step = pytensor.function([x, y], loss, updates=unrolled.updates, mode=DEFAULT)
    stepped = [step(*batch) for batch in batches[:STEPS]]
    stepped.append(pytensor.function([x, y], loss, mode=DEFAULT)(*batches[STEPS]))
    # the same operations, fused differently by the rewrites of two graphs: equal to rounding
    errors = [
        np.max(np.abs(np.subtract(a, b)) / np.abs(b))
        for a, b in [(losses, stepped), (w_k, params[0].get_value()), (b_k, params[1].get_value())]
    ]
    record_property("oracle_error", ("unroll adam unrolled vs stepped", {"float64": float(max(errors))}))
    assert max(errors) <= 1e-14, errors
    assert not np.allclose(w_k, data["w0"], rtol=1e-6, atol=0)  # the steps moved the parameters


def test_float32_parameters_stay_float32(data):
    lr = pt.dscalar("lr")
    loss, params = logistic(data, "float32")
    unrolled = unroll(su.adam(learning_rate=lr, beta1=0.8), loss, params, 3)
    for var, value in unrolled.values.items():
        expected = {"adam.step": "int64", "adam.learning_rate": "float64"}.get(var.name, "float32")
        assert value.dtype == var.dtype == expected, var.name
    assert unrolled.loss.dtype == "float32" and all(x.dtype == "float32" for x in unrolled.losses)
    loss_k, grad = pytensor.function([lr], [unrolled.loss, unrolled.grad(lr)], mode=AS_BUILT)(0.05)
    assert loss_k.dtype == np.float32 and np.isfinite(grad) and grad < 0


def test_data_as_symbolic_tensors_and_a_shared_hyper_parameter(data):
    """Mini-batches cut from one symbolic matrix; a learning rate held in a shared variable."""
    x, y = pt.matrix("x"), pt.vector("y")
    big_x, big_y = pt.matrix("big_x"), pt.vector("big_y")
    lr = pytensor.shared(0.3, name="lr")
    loss, params = logistic(data, x=x, y=y)
    batches = [(big_x[4 * j : 4 * j + 4], big_y[4 * j : 4 * j + 4]) for j in range(3)]
    unrolled = unroll(su.sgd(learning_rate=lr), loss, params, 3, inputs=[x, y], data=batches)
    # the loss after the last step is evaluated on the symbolic inputs themselves (here: all the points)
    fn = pytensor.function([big_x, big_y, x, y], [unrolled.loss, unrolled.grad(lr)], mode=AS_BUILT)
    loss_k, grad = fn(data["x"], data["y"], data["x"], data["y"])
    lr.set_value(0.3 + FD_STEP)
    up = fn(data["x"], data["y"], data["x"], data["y"])[0]
    lr.set_value(0.3 - FD_STEP)
    down = fn(data["x"], data["y"], data["x"], data["y"])[0]
    assert abs(grad - (up - down) / (2 * FD_STEP)) < 1e-6 * abs(grad)
    w, b = params
    w.set_value(data["w0"])
    b.set_value(data["b0"])
    lr.set_value(0.3)
    step = pytensor.function([x, y], [], updates=su.sgd(loss, params, learning_rate=0.3), mode=AS_BUILT)
    for j in range(3):
        step(data["x"][4 * j : 4 * j + 4], data["y"][4 * j : 4 * j + 4])
    plain = pytensor.function([x, y], loss, mode=AS_BUILT)(data["x"], data["y"])
    assert loss_k == pytest.approx(plain, rel=1e-14)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda o, loss, p: unroll(o, loss, p, 0), "`steps` must be >= 1"),
        (lambda o, loss, p: unroll(o, loss, p, 2.0), "`steps` must be an integer"),
        (lambda o, loss, p: unroll(o, loss, p, True), "`steps` must be an integer"),
        (lambda o, loss, p: unroll("adam", loss, p, 2), "expected a symupdates optimizer"),
        (lambda o, loss, p: unroll(lambda lg, ps: {}, loss, p, 2), "expected a symupdates optimizer"),
        (lambda o, loss, p: unroll(o, loss * pt.ones(2), p, 2), "`loss` must be a scalar"),
        (lambda o, loss, p: unroll(o, pytensor.grad(loss, p), p, 2), "`loss` must be a scalar"),
        (lambda o, loss, p: unroll(su.sgd(learning_rate=p[1]), loss, p, 2), "hyper-parameter `learning_rate`"),
        (lambda o, loss, p: unroll(o, loss, p, 2, data=[(1.0,), (2.0,)]), "give inputs"),
        (lambda o, loss, p: unroll(o, loss, p, 2, inputs=[X], data=[(np.ones(3),)]), "has 1 entries for 2 steps"),
        (lambda o, loss, p: unroll(o, loss, p, 2, inputs=[X], data=np.ones((2, 3))), "must be a list"),
        (lambda o, loss, p: unroll(o, loss, p, 1, inputs=[X], data=[(np.ones(3), 1.0)]), "has 2 values for the 1"),
        (lambda o, loss, p: unroll(o, loss, p, 1, inputs=[X], data=[(np.ones((2, 3)),)]), "data\\[0\\]\\[0\\] has"),
        (lambda o, loss, p: unroll(o, loss, p, 1, inputs=[X + 1], data=[(np.ones(3),)]), "symbolic input tensor"),
        (lambda o, loss, p: unroll(o, loss, p, 1).grad(p[0]), "is updated by the optimizer"),
    ],
)
def test_errors(call, match):
    w = pytensor.shared(np.ones(3), name="w")
    b = pytensor.shared(np.array(0.5), name="b")
    loss = ((w - X) ** 2).sum() * b**2
    with pytest.raises(InputError, match=match):
        call(su.sgd(learning_rate=0.1), loss, [w, b])


# -- torch ----------------------------------------------------------------------------------


def torch_loss(data, w, b):
    x, y = torch.tensor(data["x"]), torch.tensor(data["y"])
    z = x @ w + b
    return torch.mean(torch.nn.functional.softplus(z) - y * z)


def torch_optim_unroll(data, cls, make_hyper, **fixed):
    """L_k and its gradient w.r.t. the tensor hyper-parameters, through torch.optim's differentiable step."""
    hyper = make_hyper()
    params = [
        torch.tensor(data["w0"], requires_grad=True).clone(),
        torch.tensor(data["b0"], requires_grad=True).clone(),
    ]
    kwargs = {**fixed, **{k: v for k, v in hyper.items() if k not in ("beta1", "beta2")}}
    if "beta1" in hyper:
        kwargs["betas"] = (hyper["beta1"], hyper["beta2"])
    opt = cls(params, differentiable=True, foreach=False, **kwargs)
    for _ in range(STEPS):
        grads = torch.autograd.grad(torch_loss(data, *params), params, create_graph=True)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    loss = torch_loss(data, *params)
    return loss, torch.autograd.grad(loss, list(hyper.values()))


def torch_functional_unroll(data, direction, hyper):
    """L_k and its gradient w.r.t. ``hyper`` for p <- p - lr * direction(g, state): written out in torch."""
    params = [torch.tensor(data["w0"]), torch.tensor(data["b0"])]
    state = [{} for _ in params]
    for _ in range(STEPS):
        grads = torch.autograd.grad(torch_loss(data, *[p.requires_grad_() for p in params]), params, create_graph=True)
        params = [p - hyper["lr"] * direction(g, s, hyper) for p, g, s in zip(params, grads, state)]
    loss = torch_loss(data, *params)
    return loss, torch.autograd.grad(loss, list(hyper.values()))


def rmsprop_direction(g, state, hyper):
    """torch.optim.RMSprop: s = alpha s + (1 - alpha) g^2, direction g / (sqrt(s) + eps)."""
    state["s"] = hyper["rho"] * state.get("s", 0.0) + (1 - hyper["rho"]) * g * g
    return g / (torch.sqrt(state["s"]) + 1e-8)


def momentum_direction(g, state, hyper):
    """torch.optim.SGD's momentum: b_1 = g_1, b_t = mu b_{t-1} + g_t."""
    state["b"] = g if "b" not in state else hyper["mu"] * state["b"] + g
    return state["b"]


def tensors(**values):
    return lambda: {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}


#: name: (our optimizer of symbolic hyper-parameters, their values, torch's L_k and gradients, oracle kind).
TORCH_CASES = {
    "SGD nesterov (torch.optim)": (
        lambda h: su.sgd(learning_rate=h["lr"], momentum=0.9, nesterov=True, weight_decay=0.01),
        {"lr": 0.2},
        lambda d: torch_optim_unroll(
            d, torch.optim.SGD, tensors(lr=0.2), momentum=0.9, nesterov=True, weight_decay=0.01
        ),
    ),
    "Adam (torch.optim)": (
        lambda h: su.adam(
            learning_rate=h["lr"], beta1=h["beta1"], beta2=h["beta2"], weight_decay=h["weight_decay"], form="torch"
        ),
        {"lr": 0.1, "beta1": 0.8, "beta2": 0.9, "weight_decay": 0.3},
        lambda d: torch_optim_unroll(d, torch.optim.Adam, tensors(lr=0.1, beta1=0.8, beta2=0.9, weight_decay=0.3)),
    ),
    "AdamW (torch.optim)": (
        lambda h: su.adamw(learning_rate=h["lr"], beta1=h["beta1"], beta2=h["beta2"], weight_decay=h["weight_decay"]),
        {"lr": 0.1, "beta1": 0.8, "beta2": 0.9, "weight_decay": 0.5},
        lambda d: torch_optim_unroll(d, torch.optim.AdamW, tensors(lr=0.1, beta1=0.8, beta2=0.9, weight_decay=0.5)),
    ),
    "RMSprop (functional torch)": (
        lambda h: su.rmsprop(learning_rate=h["lr"], rho=h["rho"], epsilon=1e-8, eps_inside_sqrt=False),
        {"lr": 0.05, "rho": 0.8},
        lambda d: torch_functional_unroll(d, rmsprop_direction, tensors(lr=0.05, rho=0.8)()),
    ),
    "SGD momentum (functional torch)": (
        lambda h: su.sgd(learning_rate=h["lr"], momentum=h["mu"]),
        {"lr": 0.2, "mu": 0.8},
        lambda d: torch_functional_unroll(d, momentum_direction, tensors(lr=0.2, mu=0.8)()),
    ),
}


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_meta_gradients_match_torch(name, data, record_property):
    make, values, oracle = TORCH_CASES[name]
    hyper = {k: pt.dscalar(k) for k in values}
    loss, params = logistic(data)
    unrolled = unroll(make(hyper), loss, params, STEPS)
    got = pytensor.function(list(hyper.values()), [unrolled.loss, *unrolled.grad(list(hyper.values()))], mode=AS_BUILT)(
        *values.values()
    )
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch_loss_k, torch_grads = oracle(data)
    finally:
        torch.set_default_dtype(default)
    expected = np.array([torch_loss_k.item(), *(g.item() for g in torch_grads)])
    errors = np.abs(np.array(got) - expected) / np.abs(expected)
    for key, err in zip(["loss", *values], errors):
        record_property("oracle_error", (f"unroll {name} {key} vs torch", {"float64": float(err)}))
    assert errors.max() < 1e-10, dict(zip(["loss", *values], errors))
