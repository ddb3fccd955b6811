"""Churn data: the horizon, the labels and the churn-specific features, all as of a cutoff.

Everything here reads only rows dated strictly before the cutoff, except the
label, which reads the ``horizon_days`` after it; the stage checks that the
label window of every cutoff ends on or before the run's ``as_of``.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from .._exact import exact_sum
from ..config import Config
from ..features import _as_ts, customer_features
from ..workspace import only_customers, reading_lines

# Columns of customer_features never used as churn features: ids, flags, and the
# category shares, whose columns change with the top categories of each cutoff.
NOT_FEATURES = ("customer_id", "has_orders", "churned", "cutoff")


class ChurnWarning(UserWarning):
    """The data cannot fully support the churn settings; a fallback was used."""


# The churn-specific features, added to customer_features (docs/churn.md repeats these).
EXTRA_FEATURE_DOCS: dict[str, str] = {
    "purchase_days": "Distinct calendar days with a sale order before the cutoff.",
    "purchase_days_recent": "Purchase days whose age (days before the cutoff's date) is below H, the horizon.",
    "purchase_days_prior": "Purchase days with age in [H, 2H).",
    "spend_recent": "Value of the sale orders of those recent purchase days "
    "(sum(quantity * unit_price) - line discounts - order discount).",
    "spend_prior": "The same for the prior window [H, 2H).",
    "spend_trend": "(spend_recent - spend_prior) / max(spend_recent + spend_prior, 1), in [-1, 1]: "
    "-1 all spend in the earlier window, +1 all in the latest.",
    "activity_decayed": "Sum over purchase days of exp(-age_days / H): frequency that forgets at the "
    "pace of the horizon.",
    "active_months_365d": "Distinct calendar months with a purchase in the 365 days before the cutoff.",
    "n_complaints": "Reviews before the cutoff with rating <= churn.complaint_max_rating.",
    "usual_gap_days": "The customer's mean gap between purchase days when they have at least two; "
    "else the shop median of that mean over such customers (at least 1).",
    "recency_gap_ratio": "recency_days / usual_gap_days: how many usual gaps the customer has been silent.",
}

# the sums exact (shopseg._exact): the same rows give the same bits whatever DuckDB's threads
_EXTRAS_SQL = f"""
WITH ov AS (  -- sale orders before the cutoff, valued as in features.py
    SELECT o.customer_id, CAST(o.ordered_at AS DATE) AS d,
           coalesce({exact_sum("l.quantity * l.unit_price - coalesce(l.discount_amount, 0.0)")}, 0.0)
             - coalesce(any_value(o.discount_amount), 0.0) AS value
    FROM orders o LEFT JOIN order_lines l USING (order_id)
    WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL AND o.ordered_at < $cutoff/*only:o*/
    GROUP BY o.order_id, o.customer_id, o.ordered_at
),
pd AS (
    SELECT customer_id, d, {exact_sum("value")} AS value,
           date_diff('day', d, CAST($cutoff AS DATE)) AS age
    FROM ov GROUP BY 1, 2
),
agg AS (
    SELECT customer_id,
           count(*) AS purchase_days,
           count(*) FILTER (WHERE age < $h) AS purchase_days_recent,
           count(*) FILTER (WHERE age >= $h AND age < 2 * $h) AS purchase_days_prior,
           coalesce({exact_sum("value", "age < $h")}, 0.0) AS spend_recent,
           coalesce({exact_sum("value", "age >= $h AND age < 2 * $h")}, 0.0) AS spend_prior,
           {exact_sum("exp(-age / $h)")} AS activity_decayed,
           count(DISTINCT date_trunc('month', d)) FILTER (WHERE age < 365) AS active_months_365d
    FROM pd GROUP BY 1
),
rv AS (
    SELECT customer_id, count(*) FILTER (WHERE rating <= $max_rating) AS n_complaints
    FROM reviews WHERE reviewed_at < $cutoff AND customer_id IS NOT NULL/*only*/ GROUP BY 1
)
SELECT agg.customer_id,
       CAST(purchase_days AS DOUBLE) AS purchase_days,
       CAST(purchase_days_recent AS DOUBLE) AS purchase_days_recent,
       CAST(purchase_days_prior AS DOUBLE) AS purchase_days_prior,
       spend_recent, spend_prior,
       (spend_recent - spend_prior) / greatest(spend_recent + spend_prior, 1.0) AS spend_trend,
       activity_decayed,
       CAST(active_months_365d AS DOUBLE) AS active_months_365d,
       CAST(coalesce(rv.n_complaints, 0) AS DOUBLE) AS n_complaints
FROM agg LEFT JOIN rv USING (customer_id)
"""


def cutoff_frame(ws, cutoff: datetime, horizon_days: int, config: Config, *, customers=None,
                 shop_gap: float | None = None, reference_run_id: int | None = None,
                 features: pd.DataFrame | None = None, sample: bool = False) -> pd.DataFrame:
    """Features as of ``cutoff`` for every customer with a sale order before it (one row each).

    customer_features (``shopseg.features``) joined with :data:`EXTRA_FEATURE_DOCS`;
    numeric columns as float, booleans as 0/1.  Ordered by customer_id.

    The restricted path (what the live service needs: O(the customers' rows)):
    ``customers`` (ids) computes only those customers, with the same SQL;
    ``shop_gap`` is then the shop median gap behind ``usual_gap_days`` (stored with
    the model by the churn stage: :func:`shop_gap_days`), required because it is a
    whole-shop figure; ``reference_run_id`` is passed to
    :func:`~shopseg.features.customer_features` (top categories and outlier
    reference of that run); ``features`` is their ``customer_features`` as of
    ``cutoff`` when the caller already has them.

    ``sample``: ``customers`` is a random sample of the shop (the training and
    validation windows of a large shop, :func:`customer_sample`): the whole-shop
    figures (the median gap, the outlier cut) are then the sample's own.
    """
    if customers is not None and shop_gap is None and not sample:
        raise ValueError("cutoff_frame(customers=...) needs shop_gap: the shop median gap is a whole-shop figure "
                         "(stored with the churn model as metadata 'shop_gap_days').")
    ids = None if customers is None else [str(c) for c in customers]
    if features is not None:
        f = features if ids is None or set(features["customer_id"].tolist()) <= set(ids) else \
            features[features["customer_id"].isin(ids)]
    else:
        f = customer_features(ws, cutoff, config=config, customers=ids, reference_run_id=reference_run_id)
    buyers = f["has_orders"].to_numpy(dtype=bool)
    f = f.reset_index(drop=True) if buyers.all() else f[buyers].reset_index(drop=True)
    params = {"cutoff": _as_ts(cutoff), "h": float(horizon_days),
              "max_rating": float(config["churn.complaint_max_rating"])}
    sql = _EXTRAS_SQL
    if ids is not None:  # their lines from the reader's table of them where it has one (Workspace.with_lines)
        sql = reading_lines(only_customers(sql), ws)
        params["customers"] = ids
    extras = ws.con.execute(sql, params).df()
    f = numeric_features(_left_join(f, extras, "customer_id"))
    if shop_gap is None:
        shop_gap = shop_gap_days(f, horizon_days)
    f = add_gap_features(f, shop_gap)
    ids_now = f["customer_id"].to_numpy()
    if len(ids_now) > 1 and not (ids_now[:-1] <= ids_now[1:]).all():
        f = f.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return f


def _left_join(f: pd.DataFrame, extras: pd.DataFrame, key: str) -> pd.DataFrame:
    """``f.merge(extras, on=key, how="left")`` for a key unique in ``extras``, as one frame built from arrays
    (a live re-score joins one row, where merge's machinery costs more than the query)."""
    at = pd.Index(extras[key]).get_indexer(f[key])
    cols = {c: f[c].array for c in f.columns}
    missing = at < 0
    for c in extras.columns:
        if c == key:
            continue
        v = extras[c].to_numpy()
        if missing.any():
            v = np.where(missing, np.nan, v[np.where(missing, 0, at)].astype(float)) if len(v) else \
                np.full(len(at), np.nan)
        else:
            v = v[at]
        cols[c] = v
    return pd.DataFrame(cols, index=f.index)


def numeric_features(f: pd.DataFrame) -> pd.DataFrame:
    """Every column but :data:`NOT_FEATURES` as float, missing as 0, rounded to 1e-6 (row by row: the
    Spark engine applies it per partition)."""
    # rounded: the batch's sums are exact (shopseg._exact), but the live store (SQLite) and Spark add the same
    # terms as floats, and a model must not see their last bits (a value on a LightGBM bin edge would flip);
    # 1e-6 keeps every cent and ratio
    cols = [c for c in f.columns if c not in NOT_FEATURES]
    try:  # one block conversion (numbers and booleans): a live re-score of one row pays ~1 ms, not ~40
        A = f[cols].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):  # a non-numeric value: coerce column by column
        A = np.column_stack([pd.to_numeric(f[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                             for c in cols]) if cols else np.empty((len(f), 0))
    A = np.round(np.where(np.isnan(A), 0.0, A), 6)
    pos = {c: j for j, c in enumerate(cols)}
    # one frame built from arrays (no concat / re-order): the id columns keep their own arrays and dtypes
    return pd.DataFrame({c: A[:, pos[c]] if c in pos else f[c].array for c in f.columns}, index=f.index)


def add_gap_features(f: pd.DataFrame, shop_gap: float) -> pd.DataFrame:
    """usual_gap_days and recency_gap_ratio (row by row, given the whole-shop ``shop_gap``)."""
    multi = f["purchase_days"] >= 2
    f["usual_gap_days"] = np.maximum(np.where(multi, f["mean_days_between_orders"], shop_gap), 1.0)
    f["recency_gap_ratio"] = (f["recency_days"] / f["usual_gap_days"]).round(6)
    return f


def shop_gap_days(frame: pd.DataFrame, horizon_days: int) -> float:
    """The shop median of mean_days_between_orders over customers with >= 2 purchase days (else H)."""
    multi = frame["purchase_days"] >= 2
    return float(np.median(frame.loc[multi, "mean_days_between_orders"])) if multi.any() else float(horizon_days)


def default_features(frame: pd.DataFrame) -> list[str]:
    """All numeric columns but ids, flags and the category shares (their columns vary by cutoff)."""
    return [c for c in frame.columns if c not in NOT_FEATURES and not c.startswith("cat_share_")]


def churn_labels(ws, cutoff: datetime, horizon_days: int) -> pd.DataFrame:
    """(customer_id, churned) for customers with a sale order before ``cutoff``.

    ``churned`` = 1 when the customer has no sale order in [cutoff, cutoff + horizon_days).
    """
    start = _as_ts(cutoff)
    end = start + timedelta(days=int(horizon_days))
    return ws.con.execute(LABELS_SQL, {"start": start, "end": end}).df()


LABELS_SQL = """
SELECT customer_id,
       CAST(NOT bool_or(ordered_at >= $start AND ordered_at < $end) AS INTEGER) AS churned
FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at < $end
GROUP BY 1 HAVING bool_or(ordered_at < $start) ORDER BY 1
"""


def labelled_frame(ws, cutoff: datetime, horizon_days: int, config: Config, customers=None) -> pd.DataFrame:
    """:func:`cutoff_frame` plus the ``churned`` label and the ``cutoff`` itself.

    ``customers``: a random sample of the shop's customers (:func:`customer_sample`) to compute, else all.
    """
    f = cutoff_frame(ws, cutoff, horizon_days, config, customers=customers, sample=customers is not None)
    lab = churn_labels(ws, cutoff, horizon_days)
    f = f.merge(lab, on="customer_id", how="inner")
    f["churned"] = f["churned"].astype(int)
    f["cutoff"] = _as_ts(cutoff)
    return f


def customer_sample(ws, cutoff: datetime, max_customers: int, seed: int) -> tuple[list[str] | None, int]:
    """(a seeded random sample of ``max_customers`` of the customers with a sale order before ``cutoff``,
    sorted, or ``None`` when they are not more than that or ``max_customers`` is 0; how many there are).

    The training and validation windows of a large shop are computed for these customers only: every
    training cutoff is before ``cutoff`` (the validation one), so their populations are inside it.
    """
    ids = ws.con.execute(SAMPLE_POPULATION_SQL, [_as_ts(cutoff)]).fetchnumpy()["customer_id"]
    return seeded_sample(ids, max_customers, seed), len(ids)


# the customers a churn sample is drawn from, sorted (the Spark engine runs the same query)
SAMPLE_POPULATION_SQL = ("SELECT DISTINCT customer_id FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL "
                         "AND ordered_at < ? ORDER BY 1")


def seeded_sample(ids, max_customers: int, seed: int) -> list[str] | None:
    """``max_customers`` of the sorted ``ids``, drawn with ``seed`` and kept in order; None when there are not
    more than that or ``max_customers`` is 0 (both engines draw by this rule).

    >>> seeded_sample(["a", "b", "c", "d"], 2, 0), seeded_sample(["a", "b"], 2, 0), seeded_sample(["a"], 0, 0)
    (['c', 'd'], None, None)
    """
    n = len(ids)
    if not max_customers or n <= max_customers:
        return None
    keep = np.sort(np.random.default_rng(seed).choice(n, int(max_customers), replace=False))
    return [str(x) for x in np.asarray(ids, dtype=object)[keep]]


def churn_horizon(ws, as_of, config: Config) -> dict:
    """The horizon H in days and where it came from.

    ``churn.horizon_days`` when set (> 0); else the ``churn.horizon_quantile``
    quantile (linear interpolation, rounded up) of all gaps in days between
    consecutive purchase days of the same customer before ``as_of``, clipped
    to [min_horizon_days, max_horizon_days]: a customer silent for longer than
    most customers' gaps has probably left.  With fewer than ``churn.min_gaps``
    gaps, ``fallback_horizon_days`` (with a :class:`ChurnWarning`).
    """
    c = config["churn"]
    n_gaps, q = ws.con.execute(
        """
        WITH pdays AS (SELECT DISTINCT customer_id, CAST(ordered_at AS DATE) AS d FROM orders
                       WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at < $as_of),
        gaps AS (SELECT date_diff('day', lag(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS gap FROM pdays)
        SELECT count(gap), quantile_cont(gap, $q) FROM gaps WHERE gap IS NOT NULL
        """,
        {"as_of": _as_ts(as_of), "q": float(c["horizon_quantile"])},
    ).fetchone()
    out = {"n_gaps": int(n_gaps), "quantile": c["horizon_quantile"], "gap_quantile_days": q}
    if c["horizon_days"]:
        return {**out, "horizon_days": int(c["horizon_days"]), "source": "config"}
    if n_gaps < c["min_gaps"]:
        warnings.warn(
            f"Churn: only {n_gaps} gap(s) between purchase days before as_of (churn.min_gaps = {c['min_gaps']}); "
            f"using churn.fallback_horizon_days = {c['fallback_horizon_days']}.",
            ChurnWarning, stacklevel=2,
        )
        return {**out, "horizon_days": int(c["fallback_horizon_days"]), "source": "fallback"}
    h = int(min(max(math.ceil(q - 1e-9), c["min_horizon_days"]), c["max_horizon_days"]))
    return {**out, "horizon_days": h, "source": "derived"}
