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
    "baskets.backtest_days": Interval(float, 7, 3650),
    "baskets.backtest_top_k": Interval(int, 1, None),
    "baskets.backtest_resamples": Interval(int, 10, 10000),
    "baskets.backtest_confidence": Interval(float, 0.5, 1),
    "baskets.backtest_max_baskets": Interval(int, 0, None),
}
