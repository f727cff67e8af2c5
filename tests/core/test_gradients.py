"""Drop-in details that PyMC's and Lasagne's own test suites check."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates


def test_get_or_compute_grads_as_lasagne_tests_it():
    """Lasagne's test_get_or_compute_grads: integer shared variables, the list returned as is."""
    a, b = pytensor.shared(1), pytensor.shared(1)
    grads = symupdates.get_or_compute_grads(a + b, [a, b])
    assert len(grads) == 2
    assert symupdates.get_or_compute_grads(grads, [a, b]) is grads
    with pytest.raises(ValueError):
        symupdates.get_or_compute_grads(grads, [a])
    c = pt.scalar()
    with pytest.raises(ValueError, match="not a shared variable"):
        symupdates.get_or_compute_grads(a + c, [a, c])


@pytest.mark.parametrize("container", [list, tuple])
def test_given_gradients_are_returned_unchanged(container):
    """PyMC's and Lasagne's docs: gradients given are "returned as is", not copied or cast."""
    w = pytensor.shared(np.ones(3, "float32"), name="w")
    grads = container([pt.dvector("g")])  # float64 gradient of a float32 parameter: not cast here
    assert symupdates.get_or_compute_grads(grads, [w]) is grads


def test_matches_pymcs_helper_on_a_loss():
    pmu = pytest.importorskip("pymc.variational.updates")
    w = pytensor.shared(np.arange(3.0), name="w")
    loss = (w**3).sum()
    ours = pytensor.function([], symupdates.get_or_compute_grads(loss, [w]))()
    theirs = pytensor.function([], pmu.get_or_compute_grads(loss, [w]))()
    np.testing.assert_array_equal(ours[0], theirs[0])


def test_optimizers_still_check_what_they_update():
    """The optimizers keep rejecting integer parameters and casting gradients to the parameter's dtype."""
    n = pytensor.shared(1, name="n")
    with pytest.raises(symupdates.InputError, match="floating-point"):
        symupdates.sgd(n * 2, [n])
    w = pytensor.shared(np.ones(3, "float32"), name="w")
    updates = symupdates.sgd([pt.dvector("g")], [w], learning_rate=0.1)
    assert updates[w].dtype == "float32"


def test_nan_learning_rate_fails_when_the_factory_is_built():
    """A deliberate difference (docs/conventions.rst): PyMC's test_fit_with_nans expects the fit to
    raise FloatingPointError; a constant NaN rate is rejected here before any graph exists."""
    with pytest.raises(symupdates.InputError, match="learning_rate"):
        symupdates.adam(learning_rate=np.nan)


def test_nan_learning_rate_given_symbolically_fails_the_fit_as_in_pymc():
    """A rate that only becomes NaN at run time reaches pm.fit, which raises as it does for PyMC."""
    pm = pytest.importorskip("pymc")
    rate = pytensor.shared(np.nan, name="rate")
    with pm.Model():
        pm.Normal("x", 0, 1, shape=2)
        with pytest.raises(FloatingPointError):
            pm.fit(n=10, obj_optimizer=symupdates.adam(learning_rate=rate), progressbar=False)
