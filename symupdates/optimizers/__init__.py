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
__all__ = [name for family in FAMILIES for name in family.__all__]
