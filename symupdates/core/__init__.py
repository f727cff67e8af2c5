"""The core: transforms and their composition, the build context, the returned updates, gradients, checks.

Everything else is built on these five ideas: a :class:`Transform` maps one
expression per parameter to another; :func:`chain` composes them; a
:class:`BuildContext` gives them state, the step counter and hyper-parameters;
:func:`apply` runs the data path; :class:`Updates` is what comes back.
"""

from symupdates.core.checks import ArgumentError, InputError
from symupdates.core.context import BuildContext, scalar_dtype
from symupdates.core.gradients import get_or_compute_grads
from symupdates.core.state import Updates, merge
from symupdates.core.transform import Transform, Wrapper, apply, as_transform, chain, identity

__all__ = [
    "InputError",
    "ArgumentError",
    "Updates",
    "Transform",
    "Wrapper",
    "BuildContext",
    "chain",
    "identity",
    "as_transform",
    "get_or_compute_grads",
    "merge",
]
