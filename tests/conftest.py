"""Shared test helpers.

``FAST`` compiles in milliseconds (Python linker, NumPy kernels) and is used for
the bulk of the numeric tests; the default, NUMBA and JAX modes are exercised
by ``test_backends.py``. Set SYMUPDATES_TEST_MODE to run everything on another mode.
"""

import os

import numpy as np
import pytensor
import pytest

FAST = os.environ.get("SYMUPDATES_TEST_MODE", "FAST_COMPILE")


def run_steps(updates, n_steps, mode=FAST, inputs=(), feed=None):
    """Compile ``updates`` and run ``n_steps``; ``feed(k)`` gives the inputs of step ``k``."""
    fn = pytensor.function(list(inputs), [], updates=updates, mode=mode)
    for k in range(n_steps):
        fn(*(feed(k) if feed else ()))
    return fn


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)
