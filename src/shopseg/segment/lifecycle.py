"""Lifecycle stages: prospect, new, active, silent, churned, reactivated.

A customer's stage at ``as_of`` follows from three numbers (calendar days,
sale orders before ``as_of``, same-day orders merged into one purchase day):
``recency_days``, ``days_since_first_order`` and ``last_gap_days`` (the gap
before the latest purchase day).  The first rule that holds wins::

    prospect     no sale order
    churned      recency_days > churned_days
    silent       recency_days > silent_days
    new          days_since_first_order <= new_days
    reactivated  last_gap_days > churned_days (came back after having churned)
    active       otherwise

By default the windows come from the shop's own rhythm: ``silent_days`` is
the 75th and ``churned_days`` the 95th percentile (linear interpolation,
rounded up to whole days) of all gaps between consecutive purchase days of
all customers; ``new_days`` equals ``silent_days``.  With fewer than
``min_gaps`` gaps the fallbacks are used and a :class:`SegmentWarning` says so.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..config import Config
from ._common import SegmentWarning, get_config, index_in

STAGES = ("prospect", "new", "active", "silent", "churned", "reactivated")

_GAPS_SQL = """
WITH pdays AS (
    SELECT DISTINCT customer_id, CAST(ordered_at AS DATE) AS d FROM orders
    WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at < $as_of/*only*/
)
SELECT customer_id, d,
       CAST(date_diff('day', lag(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS DOUBLE) AS gap
FROM pdays
"""

# per buyer: days since the first purchase day, and the gap before the latest one (NULL after a single day);
# the live service puts a customer filter in at /*only*/ (``workspace.only_customers``)
PER_CUSTOMER_SQL = f"""SELECT customer_id,
       date_diff('day', min(d), CAST($as_of AS DATE)) AS days_since_first_order,
       arg_max(gap, d) AS last_gap_days
FROM ({_GAPS_SQL}) GROUP BY 1"""


def lifecycle_windows(ws, as_of, config: Config | None = None) -> dict:
    """The silent / churned / new windows in days, and where they came from.

    >>> from shopseg.workspace import Workspace
    >>> from shopseg.fixtures import load_fixture_shop, FIXTURE_AS_OF
    >>> import tempfile, pathlib
    >>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws"); load_fixture_shop(ws)
    >>> w = lifecycle_windows(ws, FIXTURE_AS_OF)
    >>> w["silent_days"], w["churned_days"], w["new_days"], w["n_gaps"], w["source"]
    (78, 216, 78, 15, 'derived')
    >>> ws.close()
    """
    from ..features import _as_ts

    cfg = get_config(config)
    lc = cfg["segments.lifecycle"]
    q = f"""SELECT count(gap), quantile_cont(gap, {float(lc['silent_quantile'])}),
                   quantile_cont(gap, {float(lc['churned_quantile'])}) FROM ({_GAPS_SQL}) WHERE gap IS NOT NULL"""
    ((n_gaps, q_s, q_c),) = ws.con.execute(q, {"as_of": _as_ts(as_of)}).fetchall()
    out = {"n_gaps": int(n_gaps), "silent_quantile": lc["silent_quantile"],
           "churned_quantile": lc["churned_quantile"]}
    if lc["silent_days"] and lc["churned_days"]:
        silent, churned, source = lc["silent_days"], lc["churned_days"], "config"
    elif n_gaps < lc["min_gaps"]:
        warnings.warn(
            f"Lifecycle: only {n_gaps} gap(s) between purchases before as_of (segments.lifecycle.min_gaps = "
            f"{lc['min_gaps']}); using the fallback windows silent > {lc['fallback_silent_days']} days, "
            f"churned > {lc['fallback_churned_days']} days.",
            SegmentWarning, stacklevel=2,
        )
        silent = lc["silent_days"] or lc["fallback_silent_days"]
        churned = lc["churned_days"] or lc["fallback_churned_days"]
        source = "fallback"
    else:
        silent = lc["silent_days"] or max(1, math.ceil(q_s - 1e-9))
        churned = lc["churned_days"] or math.ceil(q_c - 1e-9)
        source = "derived"
        if churned <= silent:
            warnings.warn(
                f"Lifecycle: the derived churn window ({churned} days) is not longer than the silent "
                f"window ({silent} days) because the gaps are tied; using churned = silent + 1.",
                SegmentWarning, stacklevel=2,
            )
            churned = silent + 1
    out.update(silent_days=silent, churned_days=churned, new_days=lc["new_days"] or silent, source=source)
    return out


def lifecycle_stages(ws, as_of, config: Config | None = None, *, features: pd.DataFrame | None = None,
                     windows: dict | None = None) -> pd.DataFrame:
    """One lifecycle stage per customer of ``features`` (computed when not given).

    Columns: customer_id, stage, recency_days, days_since_first_order, last_gap_days.
    """
    from ..features import _as_ts, customer_features

    cfg = get_config(config)
    if features is None:
        features = customer_features(ws, as_of, config=cfg)
    w = windows if windows is not None else lifecycle_windows(ws, as_of, cfg)
    per = ws.con.execute(PER_CUSTOMER_SQL, {"as_of": _as_ts(as_of)}).df()
    pos = index_in(features["customer_id"], per["customer_id"])  # a left join on customer_id, in features' order
    found = pos >= 0
    cols = {}
    for c in ("days_since_first_order", "last_gap_days"):
        cols[c] = np.full(len(pos), np.nan)
        cols[c][found] = per[c].to_numpy(dtype=float, na_value=np.nan)[pos[found]]
    df = pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "has_orders": features["has_orders"].to_numpy(),
                       "recency_days": features["recency_days"].to_numpy(), **cols})
    return assign_stages(df, w)


def stage_rule(has: np.ndarray, rec: np.ndarray, first: np.ndarray, gap: np.ndarray, w: dict) -> np.ndarray:
    """The stage of each customer (str array) from has_orders, recency_days, days_since_first_order and
    last_gap_days (NaN: NULL, no sale before as_of) under windows ``w``: the rule itself, on arrays (the
    live score calls it for a few customers without building a frame)."""
    first = np.where(np.isnan(first), -1.0, first)
    gap = np.where(np.isnan(gap), 0.0, gap)
    return np.select(
        [~has, rec > w["churned_days"], rec > w["silent_days"], first <= w["new_days"], gap > w["churned_days"]],
        ["prospect", "churned", "silent", "new", "reactivated"],
        default="active",
    ).astype(str)


def assign_stages(df: pd.DataFrame, w: dict) -> pd.DataFrame:
    """The stage rule of the module docstring, row by row (vectorised): what both engines apply.

    ``df``: customer_id, has_orders, recency_days, and :data:`PER_CUSTOMER_SQL`'s
    days_since_first_order and last_gap_days (NULL for non-buyers); ``w``: :func:`lifecycle_windows`.
    """
    gap = df["last_gap_days"].fillna(0).to_numpy(dtype=float)
    stage = stage_rule(df["has_orders"].to_numpy(dtype=bool), df["recency_days"].to_numpy(dtype=float),
                       df["days_since_first_order"].to_numpy(dtype=float, na_value=np.nan), gap, w)
    return pd.DataFrame({
        "customer_id": df["customer_id"].to_numpy(),
        "stage": stage,
        "recency_days": df["recency_days"].to_numpy(),
        "days_since_first_order": df["days_since_first_order"].fillna(0).astype(np.int64).to_numpy(),
        "last_gap_days": gap.astype(np.int64),
    })
