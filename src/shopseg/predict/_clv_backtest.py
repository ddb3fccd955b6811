"""Which CLV candidate a run uses: degenerate fits, the backtest on the shop's own history, the fallbacks.

Every run scores the transaction models of the chain (``clv.model`` first,
then BG/NBD, MBG/NBD, Pareto/NBD) and the naive baseline on the same
customers of a validation window before ``as_of``:

* calibration summary as of ``c = as_of - W`` (W = ``clv.backtest_days``, at
  most half of the history), outcome = purchase days and spend in ``[c, as_of)``;
* P(alive) and expected purchases: ROC-AUC of ranking "bought in the window";
  baselines: days since the last purchase (recency) and the past purchase
  rate (frequency + 1) / (T + 1);
* CLV: normalised Gini of the window's spend (Wang, Liu & Miao 2019, "A Deep
  Probabilistic Model for Customer Lifetime Value Prediction"), baseline:
  past spend rate x window; decile calibration reported beside it;
* CLV is money, expected purchases a count, P(alive) a probability: each
  candidate is also scored on its level (``compare_level``: the Poisson
  deviance of the window's spend and purchase days, the Brier score of
  "bought in the window") against the baseline's prediction out of sample
  (its isotonic map learned on the window before), and a candidate is used
  when it is not worse on ranking or level and better on one
  (``_clv_select.beats_on_level``).

A paired bootstrap over customers (``clv.backtest_resamples``, seeded)
decides: a candidate is used for a prediction only when its figure beats the
baseline's in at least ``clv.backtest_confidence`` of the resamples;
otherwise the next candidate is tried, and finally the baseline itself,
calibrated to the window by isotonic regression (so it predicts numbers, not
just a ranking).  A fit whose parameters ran to their bounds or whose
predictions are not finite is *degenerate* and never used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._exact import exact_sum
from ..errors import ShopsegError

# shape parameters (scale-free) outside this range: the data cannot identify the model
SHAPE_RANGE = (1e-3, 1e5)
SHAPE_PARAMS = ("r", "a", "b", "s", "p", "q")
MIN_WINDOW_CUSTOMERS = 30
MIN_CLASS = 5

PREDICTIONS = ("p_alive", "expected_purchases", "clv")
METRICS = {"p_alive": "roc_auc", "expected_purchases": "roc_auc", "clv": "gini_normalised"}
BASELINE_NAMES = {"p_alive": "recency baseline (days since the last purchase)",
                  "expected_purchases": "frequency baseline (past purchase rate)",
                  "clv": "spend baseline (past spend rate x horizon)"}


def degenerate(model, *predictions) -> str | None:
    """Why a fitted CLV model is not usable (None when it is): shape parameters at their bounds or
    non-finite predictions.

    >>> from shopseg.predict.clv import BGNBD
    >>> degenerate(BGNBD.from_params(r=0.7, alpha=60.0, a=1e-5, b=15377.0))
    'a=1e-05 at the edge of [0.001, 100000]'
    """
    lo, hi = SHAPE_RANGE
    off = [f"{k}={v:.3g}" for k, v in model.params_.items() if k in SHAPE_PARAMS and not lo <= v <= hi]
    if off:
        return f"{', '.join(off)} at the edge of [{lo:g}, {hi:g}]"
    for p in predictions:
        arr = np.asarray(p, dtype=float)
        if arr.size and not np.all(np.isfinite(arr)):
            return f"{int((~np.isfinite(arr)).sum())} non-finite predictions"
    return None


# -- paired bootstrap of ranking figures -----------------------------------------------------------

def _groups(score: np.ndarray):
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts


def auc_resampled(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of ``score`` for binary ``y`` under each row of ``weights`` (resample counts), ties half.

    >>> float(auc_resampled(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), np.ones((1, 4)))[0])
    0.75
    """
    order, starts = _groups(np.asarray(score, float))
    yy = np.asarray(y, float)[order]
    out = []
    for W in _row_blocks(weights, order):
        P = np.add.reduceat(W * yy, starts, axis=1)
        N = np.add.reduceat(W * (1 - yy), starts, axis=1)
        below = np.cumsum(N, axis=1) - N
        num = (P * (below + 0.5 * N)).sum(axis=1)
        den = P.sum(axis=1) * N.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(den > 0, num / den, np.nan))
    return np.concatenate(out) if out else np.empty(0)


# resamples evaluated at a time: the float copies of the weights are this many rows, not all of them
RESAMPLE_BLOCK = 16


def _row_blocks(weights: np.ndarray, order: np.ndarray):
    """``weights`` (resamples x rows) as float blocks of :data:`RESAMPLE_BLOCK` resamples, columns in ``order``:
    the bootstrap's memory is one block's, whatever the number of resamples (each resample is computed on
    its own, so the figures do not depend on the block size)."""
    for lo in range(0, len(weights), RESAMPLE_BLOCK):
        yield weights[lo:lo + RESAMPLE_BLOCK][:, order].astype(float)


def _gini(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    order, starts = _groups(np.asarray(score, float))
    yy = np.asarray(y, float)[order]
    out = []
    for W in _row_blocks(weights, order):
        cnt = np.add.reduceat(W, starts, axis=1)
        val = np.add.reduceat(W * yy, starts, axis=1)
        tot = cnt.sum(axis=1, keepdims=True)
        mid = (np.cumsum(cnt, axis=1) - 0.5 * cnt) / tot  # weighted mid-rank in (0, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(2 * (val * mid).sum(axis=1) / val.sum(axis=1) - 1)
    return np.concatenate(out) if out else np.empty(0)


def gini_resampled(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Normalised Gini of ``score`` for the amounts ``y``: Gini(y by score) / Gini(y by y), per resample.

    1 ranks as well as the outcome itself, 0 like a coin.

    >>> float(gini_resampled(np.array([0.0, 0, 10, 30]), np.array([1, 2, 3, 4]), np.ones((1, 4)))[0])
    1.0
    """
    return _gini(y, score, weights) / _gini(y, y, weights)


def decile_calibration(pred: np.ndarray, actual: np.ndarray) -> float | None:
    """Mean absolute gap between predicted and actual totals per decile of prediction, as a share of the
    actual total (0 = every decile right)."""
    n = len(pred)
    if n < 10 or not np.sum(actual) > 0:
        return None
    dec = np.minimum((np.argsort(np.argsort(-pred, kind="mergesort")) * 10) // n, 9)
    gap = np.abs(np.bincount(dec, pred, 10) - np.bincount(dec, actual, 10)).sum()
    return float(gap / np.sum(actual))


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """Row 0: the sample itself; rows 1..resamples: bootstrap counts (multinomial), seeded.

    Counts as the smallest unsigned integers that hold them (one byte each in practice: a count is about
    Poisson(1)), drawn a block of resamples at a time from one generator (the same draws as all at once),
    so a shop of 400,000 customers holds 80 MB of counts instead of 640 MB of floats.
    """
    rng = np.random.default_rng(seed)
    w = np.ones((resamples + 1, n), dtype=np.uint8)
    for lo in range(0, resamples, RESAMPLE_BLOCK):
        block = rng.multinomial(n, np.full(n, 1.0 / n), size=min(RESAMPLE_BLOCK, resamples - lo))
        top = int(block.max()) if block.size else 0
        if top > np.iinfo(w.dtype).max:
            w = w.astype(np.min_scalar_type(max(top, n)))
        w[1 + lo:1 + lo + len(block)] = block
    return w


@dataclass
class Comparison:
    """One prediction's backtest: the candidate's and the baseline's figure and the share of resamples won."""

    metric: str
    model: float | None
    baseline: float | None
    win_share: float | None
    extra: dict = field(default_factory=dict)

    def beats(self, confidence: float) -> bool:
        return self.win_share is not None and self.win_share >= confidence

    def not_worse(self, confidence: float) -> bool:
        """The baseline does not beat it in ``confidence`` of the resamples (a tie is not worse)."""
        return self.win_share is not None and self.extra.get("lose_share", 1.0 - self.win_share) < confidence


def compare(metric: str, y: np.ndarray, model_score: np.ndarray, base_score: np.ndarray,
            weights: np.ndarray) -> Comparison:
    """The paired bootstrap: both scores on the same resamples of the same customers."""
    fn = auc_resampled if metric == "roc_auc" else gini_resampled
    return _paired(metric, fn(y, model_score, weights), fn(y, base_score, weights))


def _paired(metric: str, m: np.ndarray, b: np.ndarray, extra: dict | None = None, lower_is_better: bool = False
            ) -> Comparison:
    """The candidate's figures ``m`` against the baseline's ``b`` (row 0 the sample, then the resamples):
    ``win_share`` the share of resamples the candidate is the better in, ``extra["lose_share"]`` the baseline."""
    extra = dict(extra or {})
    if not (np.isfinite(m[0]) and np.isfinite(b[0])):
        return Comparison(metric, None if not np.isfinite(m[0]) else float(m[0]),
                          None if not np.isfinite(b[0]) else float(b[0]), None, extra)
    d = (b[1:] - m[1:]) if lower_is_better else (m[1:] - b[1:])
    d = d[np.isfinite(d)]
    if len(d):
        extra["lose_share"] = float(np.mean(d < 0))
    return Comparison(metric, float(m[0]), float(b[0]), float(np.mean(d > 0)) if len(d) else None, extra)


def poisson_deviance(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Each customer's Poisson deviance of predicted spend ``pred`` for the spend ``actual``: 2 (y ln(y / mu) -
    (y - mu)), a proper score for the mean (its expectation is lowest at the true mean), so it sees the level as
    well as the order. ``mu`` is floored at a millionth of the mean spend (a prediction of 0 for a customer who
    spent is heavily, not infinitely, penalised).

    >>> poisson_deviance(np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.0, 0.0])).tolist()
    [0.0, 4.0, 1.0]
    """
    y = np.asarray(actual, float)
    mu = np.maximum(np.asarray(pred, float), 1e-6 * max(float(y.mean()) if len(y) else 0.0, 1e-12))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return 2.0 * (t - (y - mu))


def brier(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Each customer's Brier score (p - y)^2 of a probability ``pred`` for the outcome ``actual`` (0 or 1): a proper
    score for a probability (its expectation is lowest at the true probability), so it sees calibration as well as
    the order; bounded, unlike the log loss, so a calibrated step at 0 or 1 is not infinitely penalised.

    >>> brier(np.array([0.9, 0.2, 0.5]), np.array([1.0, 0.0, 1.0])).round(4).tolist()
    [0.01, 0.04, 0.25]
    """
    return (np.asarray(pred, float) - np.asarray(actual, float)) ** 2


# the level's proper score of each prediction: the Poisson deviance of a mean (spend, purchase days), the Brier
# score of a probability (a purchase in the window)
LEVEL_SCORES = {"p_alive": "brier", "expected_purchases": "poisson_deviance", "clv": "poisson_deviance"}
_SCORE_FNS = {"poisson_deviance": poisson_deviance, "brier": brier}


def compare_level(actual: np.ndarray, model_pred: np.ndarray, base_pred: np.ndarray,
                  weights: np.ndarray, score: str = "poisson_deviance") -> Comparison:
    """The level check of a candidate against the baseline's prediction out of sample: the mean ``score`` per
    customer (lower is better) on the same resamples; for CLV (its money) and expected purchases the Poisson
    deviance (:func:`poisson_deviance`) of the predicted spend / purchase days, for P(alive) the Brier score
    (:func:`brier`) of the probability of a purchase in the window. ``win_share``: the share of resamples where the
    candidate's is the lower; ``extra``: ``lose_share``, the predicted and actual totals, the number of customers
    and both decile calibrations (the sample itself)."""
    actual = np.asarray(actual, float)
    fn = _SCORE_FNS[score]
    dm, db = fn(model_pred, actual), fn(base_pred, actual)
    # each resample's mean deviance of both, one pass over the resamples' blocks
    means = np.concatenate([np.column_stack([Wt @ dm, Wt @ db]) / Wt.sum(axis=1, keepdims=True)
                            for Wt in _row_blocks(weights, np.arange(len(actual)))])
    extra = {"model_total": float(np.sum(model_pred)), "baseline_total": float(np.sum(base_pred)),
             "actual_total": float(actual.sum()), "n": len(actual),
             "model_deciles": decile_calibration(model_pred, actual), "baseline_deciles": decile_calibration(base_pred, actual)}
    return _paired(score, means[:, 0], means[:, 1], extra, lower_is_better=True)


# -- the window ------------------------------------------------------------------------------------

WINDOW_SQL = f"""
WITH ov AS (
    SELECT o.customer_id, CAST(o.ordered_at AS DATE) AS d, o.ordered_at < $c AS before,
           coalesce({exact_sum("l.quantity * l.unit_price - coalesce(l.discount_amount, 0)")}, 0)
             - coalesce(any_value(o.discount_amount), 0) AS value
    FROM orders o LEFT JOIN order_lines l USING (order_id)
    WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL AND o.ordered_at <= $end
    GROUP BY o.order_id, o.customer_id, o.ordered_at
), dd AS (
    SELECT customer_id, d, bool_and(before) AS before, {exact_sum("value")} AS value FROM ov GROUP BY 1, 2
)
SELECT customer_id,
       coalesce({exact_sum("value", "before")}, 0.0) AS spend_before,
       CAST(count(*) FILTER (WHERE NOT before) AS DOUBLE) AS days_after,
       coalesce({exact_sum("value", "NOT before")}, 0.0) AS spend_after
FROM dd GROUP BY 1 ORDER BY 1
"""  # the sums exact (shopseg._exact): the same bits whatever DuckDB's threads


# WINDOW_SQL over a table of order values (:func:`shopseg.predict.clv.order_values`): the same rows
_WINDOW_FROM_VALUES = ("WITH ov AS (\n    SELECT customer_id, CAST(ordered_at AS DATE) AS d, ordered_at < $c AS before, value "
                       "FROM {table} WHERE ordered_at <= $end\n" + WINDOW_SQL[WINDOW_SQL.index("), dd AS"):])


def _window_sql(values: str | None) -> str:
    return WINDOW_SQL if values is None else _WINDOW_FROM_VALUES.format(table=values)


def spend_totals(con, end, values: str | None = None) -> pd.DataFrame:
    """customer_id, total spend on purchase days up to ``end`` (what the spend baseline reads).
    ``values``: an order-values table up to ``end`` or later, read instead of the order lines."""
    return con.execute(_window_sql(values), {"c": end, "end": end}).df()[["customer_id", "spend_before"]]


def window_outcomes(con, c, end, values: str | None = None) -> pd.DataFrame:
    """Per customer: spend before ``c``, purchase days and spend in ``[c, end]`` (``values`` as above)."""
    return con.execute(_window_sql(values), {"c": c, "end": end}).df()


def shop_gap(summary, unit_days: float) -> float:
    """The shop's typical gap between purchase days (its days of tenure per purchase day, at least 1) over the
    customers of ``summary``: the rates' prior tenure in :func:`baseline_scores`."""
    f, T = (np.asarray(summary[k], float) for k in ("frequency", "T"))
    return max(1.0, float(np.sum(T * unit_days) / max(np.sum(f + 1), 1.0))) if len(f) else 1.0


def baseline_scores(summary, spend_total: np.ndarray, window_days: float, unit_days: float,
                    gap: float | None = None) -> dict:
    """The naive scores for a summary (a frame or a dict of arrays; times in model units): recency, purchase
    rate, spend rate x window.

    Rates are per day of tenure plus one typical gap of the shop (its days per purchase day, ``gap``; by default
    :func:`shop_gap` of ``summary``), so a customer who bought for the first time yesterday is not predicted a
    purchase a day."""
    f, r, T = (np.asarray(summary[k], float) for k in ("frequency", "recency", "T"))
    silence = (T - r) * unit_days
    gap = shop_gap(summary, unit_days) if gap is None else float(gap)
    tenure = T * unit_days + gap
    return {"p_alive": -silence, "expected_purchases": (f + 1) / tenure * window_days,
            "clv": np.asarray(spend_total, float) / tenure * window_days}


def isotonic(x: np.ndarray, y: np.ndarray):
    """A monotone (increasing) map from score to outcome, learned on the window; clipped at the ends."""
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y)


# -- the repeat-purchase model: what the shop's own last window says buyers like these did next ----------

def repeat_features(summary: pd.DataFrame, spend_total: np.ndarray, unit_days: float) -> np.ndarray:
    """Per buyer: days since the last purchase, repeat purchase days, days since the first, total spend,
    mean repeat spend (what :class:`RepeatModel` learns from)."""
    f, r, T, m = (np.asarray(summary[k], float) for k in ("frequency", "recency", "T", "monetary_value"))
    return np.column_stack([(T - r) * unit_days, f, T * unit_days, np.asarray(spend_total, float), m])


class TreeOutput:
    """One of the repeat model's LightGBM models, scored in numpy (:class:`shopseg.predict._trees.TreeEnsemble`: the
    raw score bit for bit) through its objective's link: ``1 / (1 + exp(-sigmoid x raw))`` for ``binary``,
    ``exp(raw)`` for ``poisson`` and ``tweedie``.  Built from LightGBM's text model (``Booster.model_to_string``),
    so the batch, the refresh and the live service score the same trees with the same code, and a process that
    only scores a stored model never imports LightGBM (about a CPU second with scikit-learn and SciPy).  A model
    the numpy trees do not follow is scored by LightGBM itself."""

    def __init__(self, text: str):
        from ._trees import TreeEnsemble

        self.text = text
        objective = next((line.split("=", 1)[1] for line in text.splitlines() if line.startswith("objective=")), "")
        self.link = objective.split(" ")[0]
        self.sigmoid = float(next((w.split(":", 1)[1] for w in objective.split(" ") if w.startswith("sigmoid:")), 1.0))
        self.trees = TreeEnsemble.from_model_string(text, objectives=("binary", "poisson", "tweedie"))
        self.booster = None
        if self.trees is None:
            import lightgbm as lgb

            self.booster = lgb.Booster(model_str=text)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster is not None:
            return np.asarray(self.booster.predict(X, num_threads=1), float)
        raw = self.trees.raw_score(X)
        if self.link == "binary":
            return 1.0 / (1.0 + np.exp(-self.sigmoid * raw))
        return np.exp(raw)


class RepeatModel:
    """Gradient-boosted trees (LightGBM, one thread, deterministic) from a buyer's recency, frequency,
    tenure and spend at one cutoff to what they did in the ``window_days`` after it: whether they bought
    (binary), how many purchase days (Poisson) and how much they spent (Tweedie).

    The repeat-purchase candidate for shops the "buy till you die" models do not fit (few repeat buyers,
    no dropout to identify): it assumes nothing about the purchase process, only that the next window looks
    like the last one.  Fitted on the window before a cutoff and applied at the cutoff.
    """

    def __init__(self, window_days: float, random_state: int = 0, n_estimators: int = 150):
        self.window_days = window_days
        self.random_state = random_state
        self.n_estimators = n_estimators

    def fit(self, X: np.ndarray, bought: np.ndarray, days: np.ndarray, spend: np.ndarray) -> "RepeatModel":
        import lightgbm as lgb

        rs = int(self.random_state)
        base = {"learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 20, "lambda_l2": 1.0, "seed": rs,
                "deterministic": True, "num_threads": 1, "force_col_wise": True, "verbose": -1}
        self.models_ = {}
        for name, obj, y in (("bought", "binary", bought), ("days", "poisson", days),
                             ("spend", "tweedie", np.maximum(spend, 0.0))):
            y = np.asarray(y, float)
            if len(y) == 0 or np.all(y == y[0]):  # nothing to learn (all spend zero, nobody bought): a constant
                self.models_[name] = float(y[0]) if len(y) else 0.0
                continue
            data = lgb.Dataset(X, label=y, free_raw_data=True)
            booster = lgb.train({**base, "objective": obj}, data, num_boost_round=self.n_estimators)
            self.models_[name] = TreeOutput(booster.model_to_string())  # what is stored, scored as stored
        return self

    def predict(self, X: np.ndarray, what: str) -> np.ndarray:
        m = self.models_[what]
        if isinstance(m, float):
            return np.full(len(X), m)
        return m.predict(np.asarray(X, float))


class CandidateError(ShopsegError):
    """A candidate could not be fitted or is degenerate (the message says why)."""
