"""RFM scores and named RFM segments.

Recency, frequency and monetary value are scored 1-5 among buyers (Hughes,
*Strategic Database Marketing*, 1994).  With ``method = "quantile"`` a score
is ``1 + floor(5 * (rank - 1) / n)`` where ``rank`` is the minimum rank
(ties share the lowest rank) of the customer's value ordered from worst to
best: deterministic, ties always share a score, and the worst tie group
always scores 1.  With ``method = "cuts"`` fixed cut points are used.

Segment names come from data: a table ``name -> ["R:FM", ...]`` in config
(``[segments.rfm.names]``), where FM is the rounded-half-up mean of the F
and M scores, in the manner of Putler's and PyMC-Marketing's RFM segment
tables.  Cells that no name covers go to the catch-all; customers without a
sale order get ``segments.no_orders_segment``.

The quintiles are relative to the shop: on a shop without a sale for months
the least silent fifth would still score R = 5 and be named "Champions".  So
the recency score also reads the lifecycle's churn window (the shop's own
95th-percentile gap, :func:`shopseg.segment.lifecycle.lifecycle_windows`): a
buyer silent for longer than it, whom the lifecycle calls churned, scores
R = 1 whatever their rank (:func:`churned_recency`).  The two views of a
customer then agree: a churned buyer is "Lost", "At Risk" or "Can't Lose
Them", never "Champions" or "Loyal".
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import ConfigError
from ..params import Check, Interval, Options
from ._common import SegmentWarning, get_config

N_SCORES = 5


def _parse_side(text: str, pattern: str, name: str) -> range:
    try:
        if "-" in text:
            lo_s, hi_s = text.split("-")
            lo, hi = int(lo_s), int(hi_s)
        else:
            lo = hi = int(text)
    except ValueError:
        lo = hi = -1
    if not (1 <= lo <= hi <= N_SCORES):
        raise ConfigError(
            f"RFM segment {name!r}: pattern {pattern!r} must be \"R:FM\" with each side a score 1-5 "
            f"or a range \"a-b\" (a <= b), e.g. \"4-5:2-3\". Got {text!r} in it."
        )
    return range(lo, hi + 1)


def parse_names(names) -> dict[tuple[int, int], str]:
    """The (R, FM) cell -> segment name table of ``[segments.rfm.names]``.

    Raises :class:`ConfigError` naming the bad pattern, or the cell two names claim.

    >>> parse_names({"Top": ["5:4-5"], "Rest": ["1-4:1-5", "5:1-3"]})[(5, 4)]
    'Top'
    >>> parse_names({"A": ["5:5"], "B": ["4-5:5"]})
    Traceback (most recent call last):
    ...
    shopseg.errors.ConfigError: RFM segments 'A' and 'B' both claim the cell R=5, FM=5: patterns may not overlap.
    Hint: Narrow one of the patterns, or set a default name to [] to drop it.
    """
    if not isinstance(names, dict):
        raise ConfigError(f"The 'segments.rfm.names' setting must be a table. Got {names!r} instead.")
    cells: dict[tuple[int, int], str] = {}
    for name, patterns in names.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ConfigError(
                f"RFM segment {name!r} must map to a list of \"R:FM\" patterns. Got {patterns!r} instead."
            )
        for p in patterns:
            parts = p.replace(" ", "").split(":")
            if len(parts) != 2:
                raise ConfigError(
                    f"RFM segment {name!r}: pattern {p!r} must be \"R:FM\", e.g. \"4-5:2-3\"."
                )
            for r in _parse_side(parts[0], p, name):
                for fm in _parse_side(parts[1], p, name):
                    if cells.get((r, fm), name) != name:
                        raise ConfigError(
                            f"RFM segments {cells[(r, fm)]!r} and {name!r} both claim the cell "
                            f"R={r}, FM={fm}: patterns may not overlap.",
                            hint="Narrow one of the patterns, or set a default name to [] to drop it.",
                        )
                    cells[(r, fm)] = name
    return cells


_CUTS = Check("a list of 4 increasing numbers",
              lambda v: isinstance(v, list) and len(v) == 4
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
              and all(a < b for a, b in zip(v, v[1:])))

# The [segments.rfm] settings (the config checks them through the rfm scheme).
PARAMETER_CONSTRAINTS = {
    "method": Options("quantile", "cuts"),
    **{f"{k}_cuts": _CUTS for k in ("recency", "frequency", "monetary")},
    "monetary_column": Options("monetary_net", "monetary_total"),
    "min_customers": Interval(int, 1, None),
    # a table of the user's own segment names; parse_names raises its own ConfigError naming the bad pattern
    "names": Check('a table of segment name = list of "R:FM" patterns', lambda v: parse_names(v) is not None,
                   open=True),
}


def quantile_scores(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1-5 by minimum rank: ``1 + floor(5 * (rank - 1) / n)``.

    >>> quantile_scores(np.array([1, 1, 2, 3, 5])).tolist()
    [1, 1, 3, 4, 5]
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    from scipy.stats import rankdata  # here: scipy.stats costs ~0.5 s to import, and scoring does not rank

    ranks = rankdata(x if higher_is_better else -x, method="min")
    return (1 + np.floor(N_SCORES * (ranks - 1) / x.size)).astype(np.int64)


def cut_scores(values: np.ndarray, cuts, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1-5 from four increasing cut points (a value equal to a cut point falls below it).

    >>> cut_scores(np.array([1, 2, 4, 9]), [1, 2, 3, 5]).tolist()
    [1, 2, 4, 5]
    >>> cut_scores(np.array([10, 30, 31, 400]), [30, 90, 180, 365], higher_is_better=False).tolist()
    [5, 5, 4, 1]
    """
    idx = np.searchsorted(np.asarray(cuts, dtype=float), np.asarray(values, dtype=float), side="left")
    return (1 + idx if higher_is_better else N_SCORES - idx).astype(np.int64)


def churned_recency(r: np.ndarray, recency_days: np.ndarray, windows: dict | None) -> np.ndarray:
    """Recency scores ``r`` with R = 1 for a buyer silent for longer than the lifecycle's churn window
    (``windows["churned_days"]``: what the lifecycle calls churned); ``r`` unchanged without ``windows``.

    >>> churned_recency(np.array([5, 4, 2]), np.array([600.0, 216.0, 300.0]), {"churned_days": 216}).tolist()
    [1, 4, 1]
    """
    if not windows or windows.get("churned_days") is None:
        return r
    return np.where(np.asarray(recency_days, dtype=float) > float(windows["churned_days"]), 1, r).astype(np.int64)


def rfm_scores(features: pd.DataFrame, config: Config | None = None, windows: dict | None = None) -> pd.DataFrame:
    """R, F, M and FM scores of the buyers in ``features`` (output of ``customer_features``).

    Columns: customer_id, r_score, f_score, m_score, fm_score, rfm_code ("545").
    Customers without orders are left out. Warns (:class:`SegmentWarning`)
    when there are too few buyers or ties leave a score with < 3 distinct values.
    ``windows``: the lifecycle's (:func:`~shopseg.segment.lifecycle.lifecycle_windows`): a buyer past its churn
    window scores R = 1 (:func:`churned_recency`); None: the quintiles alone.
    """
    cfg = get_config(config)
    rc = cfg["segments.rfm"]
    buyers = features.loc[features["has_orders"].astype(bool)]
    n = len(buyers)
    rec = buyers["recency_days"].to_numpy(dtype=float)
    freq = buyers["frequency"].to_numpy(dtype=float)
    mon = buyers[rc["monetary_column"]].to_numpy(dtype=float)
    if rc["method"] == "quantile":
        r = quantile_scores(rec, higher_is_better=False)
        f = quantile_scores(freq)
        m = quantile_scores(mon)
    else:
        r = cut_scores(rec, rc["recency_cuts"], higher_is_better=False)
        f = cut_scores(freq, rc["frequency_cuts"])
        m = cut_scores(mon, rc["monetary_cuts"])
    r = churned_recency(r, rec, windows)
    if n < rc["min_customers"]:
        warnings.warn(
            f"RFM: only {n} customer(s) with orders (segments.rfm.min_customers = {rc['min_customers']}); "
            "scores and segments are not meaningful for so few buyers.",
            SegmentWarning, stacklevel=2,
        )
    elif rc["method"] == "quantile":
        for label, s in (("recency", r), ("frequency", f), ("monetary", m)):
            k = len(np.unique(s))
            if k < 3:
                warnings.warn(
                    f"RFM: ties leave the {label} score with only {k} distinct value(s) of {N_SCORES} "
                    f"among {n} buyers; consider method = \"cuts\" with segments.rfm.{label}_cuts.",
                    SegmentWarning, stacklevel=2,
                )
    fm = np.floor((f + m) / 2 + 0.5).astype(np.int64)
    return pd.DataFrame({
        "customer_id": buyers["customer_id"].to_numpy(),
        "r_score": r, "f_score": f, "m_score": m, "fm_score": fm,
        "rfm_code": pd.Series(r.astype(str)) + pd.Series(f.astype(str)) + pd.Series(m.astype(str)),
    })


def rfm_segments(features: pd.DataFrame, config: Config | None = None, windows: dict | None = None) -> pd.DataFrame:
    """One RFM segment per customer of ``features``: customer_id, r_score, f_score, m_score, fm_score, segment.

    Non-buyers get scores 0 and ``segments.no_orders_segment``.  ``windows``: the lifecycle's, as in
    :func:`rfm_scores` (the rfm scheme always passes them).
    """
    cfg = get_config(config)
    cells = parse_names(cfg["segments.rfm.names"])
    catch_all = cfg["segments.rfm.catch_all"]
    grid = np.full((N_SCORES + 1, N_SCORES + 1), catch_all, dtype=object)
    for (r, fm), name in cells.items():
        grid[r, fm] = name
    sc = rfm_scores(features, cfg, windows)
    # rfm_scores' rows are the buyers in features' order: put them back by position (no merge on customer_id)
    buyers = features["has_orders"].to_numpy(dtype=bool)
    out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()})
    for c in ("r_score", "f_score", "m_score", "fm_score"):
        col = np.zeros(len(features), dtype=np.int64)
        col[buyers] = sc[c].to_numpy()
        out[c] = col
    segment = np.full(len(features), cfg["segments.no_orders_segment"], dtype=object)
    segment[buyers] = grid[sc["r_score"].to_numpy(), sc["fm_score"].to_numpy()]
    out["segment"] = pd.Series(segment, dtype=object).astype(str)
    return out
