"""Learning-rate (and other hyper-parameter) schedules.

:mod:`~symupdates.schedules.fixed` holds the schedules, functions of the step
counter (listed in ``__all__``); :mod:`~symupdates.schedules.plateau` holds
:func:`~symupdates.reduce_on_plateau`, a policy that reacts to the loss.
"""

from symupdates.schedules import fixed, plateau
from symupdates.schedules.fixed import *  # noqa: F403
from symupdates.schedules.plateau import reduce_on_plateau  # noqa: F401

__all__ = fixed.__all__
