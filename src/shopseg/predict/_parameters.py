"""Constraints of the ``[clv]`` (docs/clv.md) and ``[churn]`` (docs/churn.md) settings, checked by
:mod:`shopseg.params`."""

from ..params import DISTINCT_NAMES, Check, Interval, Options

_TIER_KEYS = ("high_share", "mid_share", "high_probability", "mid_probability", "high_precision", "mid_precision")

PARAMETER_CONSTRAINTS = {
    "clv.model": Options("bgnbd", "mbgnbd", "paretonbd"),
    "clv.time_unit": Options("D", "W"),
    "clv.horizon_days": Interval(float, 0, 3650, closed="right"),
    "clv.discount_rate_annual": Interval(float, 0, 1),
    "clv.penalizer_coef": Interval(float, 0, None),
    "clv.value_penalizer_coef": Interval(float, 0, None),
    "clv.min_p_alive": Interval(float, 0, 1),
    "clv.backtest_days": Interval(float, 7, 3650),
    "clv.backtest_resamples": Interval(int, 10, 10000),
    "clv.backtest_confidence": Interval(float, 0.5, 1),
    "clv.max_customers": Interval(int, 0, 10**9),
    "churn.backtest_resamples": Interval(int, 10, 10000),
    "churn.backtest_confidence": Interval(float, 0.5, 1),
    "churn.horizon_days": Interval(int, 0, 3650),
    "churn.horizon_quantile": Interval(float, 0, 1, closed="neither"),
    "churn.min_horizon_days": Interval(int, 1, 3650),
    "churn.max_horizon_days": Interval(int, 1, 3650),
    "churn.min_gaps": Interval(int, 1, None),
    "churn.fallback_horizon_days": Interval(int, 1, 3650),
    "churn.model": Options("lightgbm", "logistic", "decision_tree", "random_forest", "linear_svm"),
    "churn.calibration": Options("isotonic", "platt", "none"),
    "churn.random_state": Interval(int, 0, None),
    "churn.train_windows": Interval(int, 1, 24),
    "churn.window_step_days": Interval(int, 0, 3650),
    "churn.max_train_rows": Interval(int, 0, 10**9),
    "churn.max_customers": Interval(int, 0, 10**9),
    "churn.min_labelled_customers": Interval(int, 2, None),
    "churn.min_class_count": Interval(int, 1, None),
    "churn.complaint_max_rating": Interval(float, 0, 5),
    "churn.features": DISTINCT_NAMES,
    "churn.tiers.method": Options("share", "probability", "precision"),
    **{f"churn.tiers.{k}": Interval(float, 0, 1) for k in _TIER_KEYS},
    "churn.tiers": Check(
        "a table whose high_share + mid_share is at most 1 and whose mid_probability and mid_precision "
        "are at most high_probability and high_precision",
        lambda t: isinstance(t, dict) and all(isinstance(t.get(k), (int, float)) for k in _TIER_KEYS)
        and t["high_share"] + t["mid_share"] <= 1 + 1e-12 and t["mid_probability"] <= t["high_probability"]
        and t["mid_precision"] <= t["high_precision"]),
    "churn.lightgbm.n_estimators": Interval(int, 1, 100000),
    "churn.lightgbm.learning_rate": Interval(float, 0, 1, closed="right"),
    "churn.lightgbm.num_leaves": Interval(int, 2, 131072),
    "churn.lightgbm.min_child_samples": Interval(int, 1, None),
    "churn.lightgbm.subsample": Interval(float, 0, 1, closed="right"),
    "churn.lightgbm.colsample_bytree": Interval(float, 0, 1, closed="right"),
    "churn.lightgbm.reg_lambda": Interval(float, 0, None),
    "churn.logistic.C": Interval(float, 0, None, closed="neither"),
    "churn.decision_tree.max_depth": Interval(int, 1, 64),
    "churn.decision_tree.min_samples_leaf": Interval(int, 1, None),
    "churn.random_forest.n_estimators": Interval(int, 1, 10000),
    "churn.random_forest.max_depth": Interval(int, 1, 64),
    "churn.random_forest.min_samples_leaf": Interval(int, 1, None),
    "churn.linear_svm.C": Interval(float, 0, None, closed="neither"),
}
