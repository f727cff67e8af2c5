"""Named optimizers: short recipes over the transforms, one module per family.

Each function only says *what* the optimizer is; the math lives in the
transform module of the same family name (:mod:`symupdates.transforms`), and
the common options are added by :func:`symupdates.optimizers.options.assemble`.
The optimizers are reached from the top level (``symupdates.adam``); here the
names are the family modules (``symupdates.optimizers.adam``), so no function
hides its module.
"""

from symupdates.optimizers import adam, averaging, factored, layerwise, momentum, options, rms, sign

#: The families, in the order of the API reference.
FAMILIES = (momentum, rms, adam, sign, layerwise, factored, averaging)
#: The named optimizers (``symupdates.get`` looks them up by name).
# (written out, in FAMILIES' order, so that type checkers see the names)
__all__ = (
    momentum.__all__
    + rms.__all__
    + adam.__all__
    + sign.__all__
    + layerwise.__all__
    + factored.__all__
    + averaging.__all__
)
