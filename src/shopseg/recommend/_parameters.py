"""Constraints of the ``[recommend]`` settings (docs/action.md), checked by :mod:`shopseg.params`."""

from ..params import Check, Interval, Options
from ..segment._registry import scheme_names_constraint as scheme_names

PARAMETER_CONSTRAINTS = {
    "recommend.top_n": Interval(int, 1, 1000),
    "recommend.collaborative": Options("auto", "als", "cooccurrence"),
    **{f"recommend.weight_{k}": Interval(float, 0, None) for k in ("collaborative", "content", "rules", "popularity")},
    "recommend.als_factors": Interval(int, 1, 1024),
    "recommend.als_iterations": Interval(int, 1, 1000),
    "recommend.als_customers": Interval(int, 0, None),
    "recommend.als_regularization": Interval(float, 0, None),
    "recommend.als_alpha": Interval(float, 0, None, closed="neither"),
    "recommend.popularity_days": Interval(int, 0, None),
    "recommend.group_size": Interval(int, 1, 1000),
    "recommend.within_decay": Interval(float, 0, 1, closed="right"),
    "recommend.group_decay": Interval(float, 0, 1, closed="right"),
    "recommend.neighbours": Interval(int, 1, 100000),
    "recommend.neighbour_pool": Interval(int, 2, 10**8),
    "recommend.horizon_days": Interval(int, 1, 3650),
    "recommend.mix_customers": Interval(int, 20, 10**7),
    "recommend.never_repeat": Check("a list of product ids",
                                    lambda v: isinstance(v, list) and all(isinstance(x, (str, int)) for x in v)),
    "recommend.popularity_scheme": scheme_names(many=False),
    "recommend.content_max_features": Interval(int, 1, None),
    "recommend.random_state": Interval(int, 0, None),
}
