"""The PyMC/Lasagne optimizers against independent NumPy implementations.

Each optimizer runs 100 steps on a random smooth problem (a positive definite
quadratic plus a quartic, coupling parameters of shapes (), (1,), (3, 1) and
(2, 3)), from a loss or from an explicit list of gradient expressions, and its
whole trajectory is compared with :mod:`numpy_reference`. A float64 and a
float32 copy of the problem are optimized together, in one call (so mixed
dtypes are covered too), and both are compared with the float64 reference (the
problem's data are rounded to float32 first, so only the arithmetic differs).
Errors are measured relative to each parameter's largest reference element
over the trajectory; the settings are chosen well-conditioned (tested below),
so rounding cannot explain an error above the tolerances.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symupdates
from tests import numpy_reference as ref
from tests.conftest import DEFAULT, FAST

SHAPES = [(), (1,), (3, 1), (2, 3)]
SIZES = [int(np.prod(s)) for s in SHAPES]
N_STEPS = 100
#: Largest error allowed against the float64 reference, relative to each parameter's largest element.
TOLERANCE = {"float64": 1e-12, "float32": 1e-4}
#: Largest growth over 100 steps of a relative perturbation of the start (see test_settings_are_well_conditioned).
MAX_AMPLIFICATION = 100


class Problem:
    """f(z) = z'Qz/2 + b'z + sum(c z^4)/4 over the concatenation z of all parameters."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        n = sum(SIZES)
        m = rng.normal(size=(n, n))
        as32 = lambda x: np.asarray(x, dtype="float32").astype("float64")  # noqa: E731
        self.Q = as32(m @ m.T / n + 0.5 * np.eye(n))
        self.b = as32(rng.normal(size=n))
        self.c = as32(rng.uniform(0.01, 0.05, size=n))
        self.x0 = [as32(rng.normal(size=s)) for s in SHAPES]

    # NumPy side
    def split(self, z):
        out, start = [], 0
        for shape, size in zip(SHAPES, SIZES):
            out.append(z[start : start + size].reshape(shape))
            start += size
        return out

    def grad(self, params):
        z = np.concatenate([np.ravel(p) for p in params])
        return self.split(self.Q @ z + self.b + self.c * z**3)

    # PyTensor side
    def shared(self, dtype):
        return [pytensor.shared(x.astype(dtype), name=f"p{i}") for i, x in enumerate(self.x0)]

    def loss_or_grads(self, params, kind):
        dtype = params[0].dtype
        Q, b, c = (pt.constant(x.astype(dtype)) for x in (self.Q, self.b, self.c))
        z = pt.concatenate([p.flatten() for p in params])
        if kind == "loss":
            return 0.5 * z @ Q @ z + b @ z + 0.25 * (c * z**4).sum()
        g = Q @ z + b + c * z**3
        out, start = [], 0
        for p, size in zip(params, SIZES):
            out.append(g[start : start + size].reshape(p.shape))
            start += size
        return out


def run_trajectory(updates, params, n_steps=N_STEPS, mode=DEFAULT):
    fn = pytensor.function([], [], updates=updates, mode=mode)
    trajectory = [[p.get_value() for p in params]]
    for _ in range(n_steps):
        fn()
        trajectory.append([p.get_value() for p in params])
    return trajectory


def max_relative_error(trajectory, reference):
    """max over steps and parameters of |x - x_ref|, relative to the parameter's largest reference element.

    The scale is taken over the whole trajectory, so a coordinate crossing
    zero is not held to a relative accuracy it cannot have.
    """
    worst = 0.0
    for i in range(len(reference[0])):
        scale = max(max(float(np.max(np.abs(step[i]))) for step in reference), 1e-3)
        for step, step_ref in zip(trajectory, reference):
            error = float(np.max(np.abs(np.asarray(step[i], dtype="float64") - step_ref[i])))
            worst = max(worst, error / scale)
    return worst


def assert_trajectories_close(trajectory, reference, dtype):
    """Every step of every parameter within ``rtol`` of the reference, relative to the parameter's size."""
    assert len(trajectory) == len(reference) == N_STEPS + 1
    for step, step_ref in zip(trajectory, reference):
        for x, r in zip(step, step_ref):
            assert x.dtype == dtype and x.shape == r.shape
    error = max_relative_error(trajectory, reference)
    assert error < TOLERANCE[dtype], f"max relative error {error:.3g} (tolerance {TOLERANCE[dtype]})"


# Hyper-parameter settings: PyMC/Lasagne ones first, then the torch-style extras.
SETTINGS = [
    ("sgd", {"learning_rate": 0.05}),
    ("sgd", {"learning_rate": 0.02, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.02, "momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"learning_rate": 0.01, "momentum": 0.8, "nesterov": True}),
    ("momentum", {"learning_rate": 0.02, "momentum": 0.9}),
    ("momentum", {"learning_rate": 0.05, "momentum": 0.5}),
    ("nesterov_momentum", {"learning_rate": 0.02, "momentum": 0.9}),
    ("nesterov_momentum", {"learning_rate": 0.05, "momentum": 0.5}),
    ("adagrad", {"learning_rate": 0.03}),
    ("adagrad", {"learning_rate": 0.05, "epsilon": 1e-3}),
    ("adagrad", {"learning_rate": 0.3, "lr_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("adagrad", {"learning_rate": 0.02, "epsilon": 1e-2, "eps_inside_sqrt": False}),
    ("adagrad_window", {"learning_rate": 0.05}),
    ("adagrad_window", {"learning_rate": 0.05, "epsilon": 1e-2, "n_win": 3}),
    ("adagrad_window", {"learning_rate": 0.01, "n_win": 4, "exclude_current": True}),
    ("rmsprop", {"learning_rate": 0.003}),
    ("rmsprop", {"learning_rate": 0.003, "rho": 0.5, "epsilon": 1e-4}),
    ("rmsprop", {"learning_rate": 0.003, "centered": True, "epsilon": 0.1}),
    ("rmsprop", {"learning_rate": 0.0003, "momentum": 0.9}),
    ("rmsprop", {"learning_rate": 0.002, "centered": True, "momentum": 0.5, "eps_inside_sqrt": False, "epsilon": 1e-8}),
    ("adadelta", {}),
    ("adadelta", {"learning_rate": 0.5, "rho": 0.9, "epsilon": 1e-4}),
    ("adam", {"learning_rate": 0.004}),
    ("adam", {"learning_rate": 0.005, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-6}),
    ("adam", {"learning_rate": 0.003, "form": "torch", "epsilon": 1e-3}),
    ("adam", {"learning_rate": 0.005, "beta2": 0.9, "amsgrad": True}),
    ("adam", {"learning_rate": 0.005, "beta2": 0.9, "amsgrad": True, "form": "torch", "epsilon": 1e-4}),
    ("adamax", {"learning_rate": 0.01}),
    ("adamax", {"learning_rate": 0.005, "beta1": 0.8, "beta2": 0.99}),
    ("adamax", {"learning_rate": 0.004, "form": "torch"}),
    ("adamax", {"learning_rate": 0.01, "form": "torch", "epsilon": 1e-3}),
    ("amsgrad", {"learning_rate": 0.01}),
    ("amsgrad", {"learning_rate": 0.005, "beta1": 0.5, "beta2": 0.9}),
]


def _id(setting):
    name, hyper = setting
    return name + "".join(f"-{k}={v}" for k, v in hyper.items())


@pytest.mark.parametrize("setting", SETTINGS, ids=[_id(s) for s in SETTINGS])
def test_matches_numpy_reference(setting):
    """float64 and float32 copies of the problem, optimized together in one call (mixed dtypes)."""
    name, hyper = setting
    index = SETTINGS.index(setting)
    kind = "loss" if index % 2 == 0 else "grads"  # every optimizer is tried from both inputs
    problem = Problem(seed=index)
    p64, p32 = problem.shared("float64"), problem.shared("float32")
    inputs = [problem.loss_or_grads(p, kind) for p in (p64, p32)]
    loss_or_grads = inputs[0] + inputs[1]  # the sum of the losses, or the concatenated gradient lists
    updates = getattr(symupdates, name)(loss_or_grads, p64 + p32, **hyper)
    trajectory = run_trajectory(updates, p64 + p32)
    reference = ref.REFERENCES[name](problem.x0, problem.grad, N_STEPS, **hyper)
    assert_trajectories_close([step[:4] for step in trajectory], reference, "float64")
    assert_trajectories_close([step[4:] for step in trajectory], reference, "float32")


@pytest.mark.parametrize("name", ["sgd", "adagrad_window", "adam"])
def test_loss_and_gradient_list_agree(name):
    """A loss and the equivalent explicit gradient list give the same float64 trajectory."""
    hyper = next(h for n, h in SETTINGS if n == name)
    problem = Problem(seed=99)
    runs = []
    for kind in ("loss", "grads"):
        params = problem.shared("float64")
        runs.append(
            run_trajectory(getattr(symupdates, name)(problem.loss_or_grads(params, kind), params, **hyper), params)
        )
    assert max_relative_error(runs[0], runs[1]) < 1e-12
    assert max_relative_error(runs[0], [problem.x0] * (N_STEPS + 1)) > 1e-2  # the parameters moved


def test_problem_gradient_is_that_of_the_loss():
    """The hand-written gradients of the test problem are the loss's (so both inputs test the same thing)."""
    problem = Problem(seed=5)
    params = problem.shared("float64")
    loss = problem.loss_or_grads(params, "loss")
    symbolic = pytensor.function([], pytensor.grad(loss, params), mode=DEFAULT)()
    for g, expected in zip(symbolic, problem.grad(problem.x0)):
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("flag", ["amsgrad", "exclude_current", "centered", "eps_inside_sqrt", "nesterov", "form"])
def test_settings_exercise_the_variants(flag):
    """For each variant flag, some setting changes its trajectory by far more than the float64 tolerance.

    (Where epsilon sits changes Adam's trajectory by only ~1e-7 when epsilon=1e-8,
    which the float32 comparison cannot see: hence the settings with a larger epsilon.)
    """
    changes = []
    for index, (name, hyper) in enumerate(SETTINGS):
        if flag in hyper:
            problem = Problem(seed=index)
            plain = {k: v for k, v in hyper.items() if k != flag}
            with_flag = ref.REFERENCES[name](problem.x0, problem.grad, N_STEPS, **hyper)
            without = ref.REFERENCES[name](problem.x0, problem.grad, N_STEPS, **plain)
            changes.append(max_relative_error(with_flag, without))
    assert max(changes) > 10 * TOLERANCE["float32"]  # visible in float32 too
    assert min(changes) > 1e2 * TOLERANCE["float64"]


def test_reference_first_steps_by_hand():
    """The reference itself, on f(x) = x^2/2 from x = 1 (g = x), against hand-computed first steps."""
    grad = lambda ps: [ps[0]]  # noqa: E731
    x0 = [np.array(1.0)]
    # Adam, any betas: the first step is lr * g / (|g| + eps * ...) ~ lr.
    step1 = ref.adam(x0, grad, 1, learning_rate=0.1, epsilon=0.0)[1][0]
    assert step1 == pytest.approx(0.9, rel=1e-15)
    # Adagrad: x1 = 1 - lr / sqrt(1 + eps).
    assert ref.adagrad(x0, grad, 1, learning_rate=0.5, epsilon=0.0)[1][0] == pytest.approx(0.5)
    # Momentum: x1 = 1 - lr, x2 = x1 - lr*x1 + mu*(-lr).
    traj = ref.momentum(x0, grad, 2, learning_rate=0.1, momentum=0.5)
    assert traj[2][0] == pytest.approx(0.9 - 0.09 - 0.05)
    # torch SGD with dampening: the first buffer is the undamped gradient.
    traj = ref.sgd(x0, grad, 2, learning_rate=0.1, momentum=0.5, dampening=0.5)
    assert traj[2][0] == pytest.approx(0.9 - 0.1 * (0.5 * 1.0 + 0.5 * 0.9))


@pytest.mark.parametrize("index", range(len(SETTINGS)))
def test_settings_are_well_conditioned(index):
    """The problems amplify rounding errors at most MAX_AMPLIFICATION times over 100 steps.

    This is what makes the tolerances meaningful: float64 rounding (1e-16 a
    step) cannot reach 1e-12, nor float32 rounding (6e-8) 1e-4, unless the
    implementation differs. Sign-like methods (Adam, RMSProp) that oscillate
    around the optimum amplify a 1e-15 perturbation to 1e-3, so the settings
    above keep them on their way to it.
    """
    name, hyper = SETTINGS[index]
    problem = Problem(seed=index)
    reference = ref.REFERENCES[name](problem.x0, problem.grad, N_STEPS, **hyper)
    perturbed = ref.REFERENCES[name]([x * (1 + 1e-12) for x in problem.x0], problem.grad, N_STEPS, **hyper)
    assert max_relative_error(perturbed, reference) < MAX_AMPLIFICATION * 1e-12
    assert max_relative_error(reference[-1:], reference[:1]) > 0.1  # and they do move


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(["adam", "adamax", "rmsprop", "adagrad", "adadelta", "adagrad_window"]),
    learning_rate=st.floats(1e-4, 0.05),
    decay=st.floats(0.0, 0.99),
    epsilon=st.floats(1e-8, 1e-1),
    torch_style=st.booleans(),
)
def test_random_hyper_parameters_match_reference(name, learning_rate, decay, epsilon, torch_style):
    """Any valid hyper-parameters: 10 float64 steps agree with the reference.

    Compiled in FAST_COMPILE: each example's constants would be new C code in the default
    mode, which ``test_matches_numpy_reference`` covers."""
    hyper = {"learning_rate": learning_rate, "epsilon": epsilon}
    if name in ("adam", "adamax"):
        hyper.update(beta1=decay, form="torch" if torch_style else "pymc")
    elif name in ("rmsprop", "adadelta"):
        hyper.update(rho=decay)
        if name == "rmsprop":
            hyper.update(eps_inside_sqrt=not torch_style)
    elif name == "adagrad":
        hyper.update(eps_inside_sqrt=not torch_style, lr_decay=decay)
    else:
        hyper.update(n_win=1 + int(10 * decay), exclude_current=torch_style)
    problem = Problem(seed=1)
    params = problem.shared("float64")
    updates = getattr(symupdates, name)(problem.loss_or_grads(params, "grads"), params, **hyper)
    trajectory = run_trajectory(updates, params, n_steps=10, mode=FAST)
    reference = ref.REFERENCES[name](problem.x0, problem.grad, 10, **hyper)
    assert max_relative_error(trajectory, reference) < 1e-11
