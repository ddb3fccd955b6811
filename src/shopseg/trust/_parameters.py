"""Constraints of the ``[privacy]`` settings (pseudonyms, differentially private releases: docs/security.md)."""

from ..params import DISTINCT_NAMES, Check, Interval, Options
from ..segment._registry import scheme_names_constraint as scheme_names

PARAMETER_CONSTRAINTS = {
    "privacy.pii": Options("keep", "hash", "separate"),
    "privacy.max_epsilon_total": Interval(float, 0, None, closed="neither"),
    "privacy.dp.epsilon": Interval(float, 0, None, closed="neither"),
    "privacy.dp.k_min": Interval(int, 0, None),
    "privacy.dp.schemes": scheme_names(many=True),
    "privacy.dp.features": DISTINCT_NAMES,
    "privacy.dp.bounds": Check(
        "a table of feature = [lo, hi] with lo < hi",
        lambda t: isinstance(t, dict) and all(
            isinstance(b, list) and len(b) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in b) and b[0] < b[1] for b in t.values()),
        open=True),
}
