"""Constraints of the ``[synth]`` settings (the demo shop), checked by :mod:`shopseg.params`."""

from ..params import Interval

PARAMETER_CONSTRAINTS = {
    "synth.customers": Interval(int, 1, None),
    "synth.seed": Interval(int, 0, None),
    "synth.history_days": Interval(int, 365, 3650),
    "synth.horizon_days": Interval(int, 1, 1095),
}
