"""The reference trajectories published in Lasagne's test suite (``test_updates.py``).

Lasagne computed them with torch.optim: 10 steps on f(A) + f(B) with
f(X) = sum([0.1, 0.2, 0.3] * X**2), A = B = ones(3), and compares with
``np.allclose`` (default tolerances) after checking A == B. We do the same,
with float64 and float32 parameters (floatX set accordingly).
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates
from tests.conftest import DEFAULT

# Published in Lasagne's lasagne/tests/test_updates.py (torch_values), with the hyper-parameters used there.
TORCH_VALUES = {
    "sgd": ({"learning_rate": 0.1}, [0.81707280688755, 0.6648326359915, 0.5386151140949]),
    "momentum": ({"learning_rate": 0.1, "momentum": 0.5}, [0.6848486952183, 0.44803321781003, 0.27431190123502]),
    "nesterov_momentum": (
        {"learning_rate": 0.1, "momentum": 0.5},
        [0.67466543592725, 0.44108468114241, 0.2769002108997],
    ),
    "adagrad": ({"learning_rate": 0.1}, [0.55373120047759, 0.55373120041518, 0.55373120039438]),
    "rmsprop": ({"learning_rate": 0.01}, [0.83205403985348, 0.83205322744821, 0.83205295664444]),
    "adadelta": ({}, [0.95453237704725, 0.9545237471374, 0.95452214847397]),
    "adam": ({"learning_rate": 0.01}, [0.90034972009036, 0.90034967993061, 0.90034966654402]),
    "adamax": ({"learning_rate": 0.01}, [0.90211749000754, 0.90211748762402, 0.90211748682951]),
}
N_STEPS = 10
WEIGHTS = np.array([0.1, 0.2, 0.3])


def f(x):
    return (pt.constant(WEIGHTS.astype(x.dtype)) * x**2).sum()


def setup(floatX):
    a = pytensor.shared(np.ones(3, dtype=floatX), name="A")
    b = pytensor.shared(np.ones(3, dtype=floatX), name="B")
    return a, b, f(a) + f(b)


@pytest.mark.parametrize("floatX", ["float64", "float32"])
@pytest.mark.parametrize("method", sorted(TORCH_VALUES))
def test_lasagne_trajectory(method, floatX):
    hyper, expected = TORCH_VALUES[method]
    with pytensor.config.change_flags(floatX=floatX):
        a, b, loss = setup(floatX)
        updates = getattr(symupdates, method)(loss, [a, b], **hyper)
        step = pytensor.function([], [], updates=updates, mode=DEFAULT)
        for _ in range(N_STEPS):
            step()
    assert a.get_value().dtype == floatX
    assert np.allclose(a.get_value(), b.get_value())
    assert np.allclose(a.get_value(), expected)
    assert not np.allclose(np.ones(3), expected)  # the numbers are not the start


@pytest.mark.parametrize("floatX", ["float64", "float32"])
def test_amsgrad_equals_adam_on_this_problem(floatX):
    """Lasagne publishes no amsgrad numbers: here v_t grows for all 10 steps, so AMSGrad is Adam."""
    with pytensor.config.change_flags(floatX=floatX):
        a, b, loss = setup(floatX)
        updates = symupdates.amsgrad(loss, [a, b], learning_rate=0.01)
        state = updates.state
        v, v_max = state["A.adam.v"], state["A.adam.v_max"]
        step = pytensor.function([], [], updates=updates, mode=DEFAULT)
        previous = v.get_value()
        for _ in range(N_STEPS):
            step()
            assert np.array_equal(v_max.get_value(), v.get_value())
            assert np.all(v.get_value() > previous)
            previous = v.get_value()
    assert np.allclose(a.get_value(), b.get_value())
    assert np.allclose(a.get_value(), TORCH_VALUES["adam"][1])
