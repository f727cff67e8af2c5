"""How users call the public API, for the type checker (``mypy`` reads this file; it is not run).

``tests/test_hygiene.py`` runs mypy on ``symupdates`` and this file with the configuration in
pyproject.toml: the types that the public API declares must give these calls the types shown.
"""

from typing import assert_type

import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates
from symupdates import Factory, Transform, Updates

w = pytensor.shared(np.zeros(3), name="w")
loss = pt.sum(w**2)

assert_type(symupdates.adam(loss, [w], learning_rate=0.1), Updates)
assert_type(symupdates.adam(learning_rate=0.1), Factory)
assert_type(symupdates.sgd(loss, [w]), Updates)
assert_type(symupdates.chain(symupdates.scale_by_adam(), symupdates.scale_by_learning_rate(1e-3)), Transform)
assert_type(symupdates.adam.transform(learning_rate=0.1), Transform)
updates = symupdates.adamw(loss, [w], weight_decay=1e-2)
assert_type(updates.state_dict(), dict)
