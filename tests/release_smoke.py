"""Smoke test of an installed symupdates (the wheel, not the checkout): run as a script.

``python -I tests/release_smoke.py`` from any folder: it checks that ``symupdates`` is imported
from the environment's site-packages, that its version is the one of the installed
distribution, that the typing marker is there, and that an optimizer trains a model on the
default backend. ``.ci/run`` runs it in a fresh virtualenv into which only the wheel and its
dependencies were installed; ``tests/test_release.py`` runs it against a wheel it builds.
"""

import importlib.metadata
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates

where = Path(symupdates.__file__).resolve().parent
site = Path(sysconfig.get_paths()["purelib"]).resolve()
assert where.parent == site, f"symupdates imported from {where}, not from this environment's {site}"
assert symupdates.__version__ == importlib.metadata.version("symupdates"), symupdates.__version__
assert (where / "py.typed").is_file(), "the wheel lacks symupdates/py.typed"

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 3))
Y = X @ np.array([1.0, -2.0, 0.5])
w = pytensor.shared(np.zeros(3, dtype="float32"), name="w")
x, y = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="float32")
loss = ((x @ w - y) ** 2).mean()
factory = symupdates.adam(learning_rate=0.1)
step = pytensor.function([x, y], loss, updates=factory(loss, [w]))
losses = [float(step(X.astype("float32"), Y.astype("float32"))) for _ in range(200)]
assert w.get_value().dtype == np.float32
assert losses[-1] < 1e-3 * losses[0], losses[::50]
print(f"symupdates {symupdates.__version__} from {where}: loss {losses[0]:.3f} -> {losses[-1]:.2e}", file=sys.stdout)
