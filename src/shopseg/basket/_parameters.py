"""Constraints of the ``[baskets]`` settings (mining and rules), checked by :mod:`shopseg.params`."""

from ..params import Interval, Options

PARAMETER_CONSTRAINTS = {
    "baskets.unit": Options("order", "customer"),
    "baskets.algorithm": Options("fpgrowth", "eclat", "apriori"),
    "baskets.min_support": Interval(float, 0, 1, closed="right"),
    "baskets.min_confidence": Interval(float, 0, 1),
    "baskets.min_lift": Interval(float, 0, None),
    "baskets.max_len": Interval(int, 1, None),
    "baskets.max_itemsets": Interval(int, 1, None),
}
