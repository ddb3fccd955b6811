"""The churn and CLV stages' ``state`` and ``score``: a few customers scored with a stored run's models, no fit.

``churn_state`` loads the churn model of the run that holds ``churn_scores`` (checked against the run's
settings; ``None`` when there is none usable); ``churn_score`` scores customers with it through the restricted
:func:`shopseg.predict.churn.score_customers` (O(the customers' rows)), taking their features from the
segments stage's score (``earlier["segments"]``).  ``clv_state`` loads the CLV models the run that holds
``clv`` stored (:class:`~shopseg.predict._clv_scorer.ClvScorer`, one per prediction); ``clv_score`` scores the
customers' order summaries with them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ShopsegError


@dataclass
class ChurnState:
    """The churn stage's state: the run holding ``churn_scores``, its stored model, the settings, and how the run
    pooled churn with P(alive) (:func:`shopseg.predict._reconcile.stored_views`; None: not pooled)."""

    run_id: int
    model: Any
    config: Any
    views: dict | None


def churn_state(ws, runs) -> ChurnState | None:
    """The :class:`ChurnState` of the run holding ``churn_scores``, or None when none is usable."""
    from .. import models
    from ._reconcile import stored_views
    from .churn import load_churn_model

    rid = runs.of("churn_scores")
    if rid is None or not models.exists(ws, "churn", rid):
        return None
    try:
        views = stored_views(ws, rid)
        if views is not None:
            views["clv_run"] = runs.of("clv")  # whose clv rows a customer without a fresh CLV answer shows
        return ChurnState(rid, load_churn_model(ws, rid, config=runs.config), runs.config, views)
    except ShopsegError:  # a model fitted under other settings: leave churn to the next run
        return None


def churn_score(state, reader, customers: list[str], as_of, earlier: dict) -> dict[str, dict]:
    """customer_id -> {probability, tier, reasons, model} for the scored customers with a sale order."""
    from .churn import score_customers

    if state is None:
        return {}
    model, views = state.model, state.views
    seg = earlier.get("segments") or {}
    known = [c for c in customers if c in seg]
    feats = seg[known[0]]["features"] if known else None  # one frame for the customers scored together
    rows = [seg[c]["row"] for c in known]
    if feats is not None and rows != list(range(len(feats))):
        feats = feats.iloc[rows].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            s = score_customers(reader, as_of, list(customers), run_id=state.run_id, config=state.config,
                                features=feats, model=model)
        except ShopsegError:
            return {}  # a model fitted on other features: leave churn to the next run
    if views is not None:  # pooled with P(alive) as the batch pools (docs/churn.md); the CLV answers too
        from ._reconcile import pool_live

        clv = earlier.setdefault("clv", {})
        s = pool_live(s, clv, views, model.metadata_.get("tier_cuts"), as_of,
                      shown=_shown_clv(earlier.get("outputs") or reader, views.get("clv_run"),
                                       [c for c in s["customer_id"].astype(str) if c not in clv]))
    out = {}
    for r in s.itertuples(index=False):
        out[str(r.customer_id)] = {
            "probability": float(r.probability), "tier": str(r.tier),
            "reasons": [str(x) for x in (r.reason_1, r.reason_2, r.reason_3) if pd.notna(x)], "model": str(r.model)}
    return out


def _shown_clv(reader, run_id: int | None, customers: list[str]) -> dict[str, dict]:
    """customer_id -> the run's ``clv`` row (the CLV answer's fields) of ``customers``, where ``reader`` is a
    workspace holding it (an incremental refresh's; the service hands its workspace connection as ``outputs``,
    its online store holding the inputs only): what a customer whose CLV no stored model re-scores shows beside a
    fresh churn score."""
    has = getattr(reader, "has_table", None)
    if run_id is None or not customers or has is None or not has("clv"):
        return {}
    rows = reader.con.execute("SELECT customer_id, clv, p_alive, expected_purchases_90d, expected_order_value, "
                              "expected_next_order_at, expected_purchases_horizon FROM clv WHERE run_id = $1 AND "
                              "customer_id IN (SELECT unnest($2::VARCHAR[]))", [run_id, customers]).fetchall()
    return {str(r[0]): {"clv": r[1], "p_alive": r[2], "expected_purchases_90d": r[3], "expected_order_value": r[4],
                        "expected_next_order_at": None if r[5] is None else pd.Timestamp(r[5]).isoformat(),
                        "expected_purchases_horizon": r[6]}
            for r in rows}


@dataclass
class ClvState:
    """The CLV stage's state: the run holding ``clv`` (``run_id``), its stored models (``scorer``, a
    :class:`~shopseg.predict._clv_scorer.ClvScorer`), or, when they cannot be read, ``scorer`` None and ``why``:
    a run by an older shopseg stored no model when the repeat model or the baseline won, so its rows stand."""

    run_id: int
    scorer: object | None
    why: str | None = None


def clv_state(ws, runs) -> ClvState | None:
    """The models the run holding ``clv`` used, per prediction (:class:`ClvState`); None without such a run."""
    from ._clv_scorer import load_stored

    crun = runs.of("clv")
    if crun is None:
        return None
    scorer, why = load_stored(ws, crun, dict(runs.config["clv"]))
    return ClvState(crun, scorer, why)


def _clv_arrays(state, reader, customers: list[str], as_of):
    """(order summary, total spend or None, columns) of ``customers`` (buyers) scored with the state's models; None
    without stored models.  ``columns``: :meth:`~shopseg.predict._clv_scorer.ClvScorer.columns`' arrays (not a
    frame: a live score has a handful of customers, where pandas' per-column cost is most of the work), None for
    no buyer."""
    from .clv import summary_from_orders

    if state is None or state.scorer is None:
        return None
    sc = state.scorer
    # the repeat model, the baseline's CLV, the mean spend read the customers' spend before as_of: in the same query
    summ = summary_from_orders(reader, as_of, time_unit=sc.settings["time_unit"], customers=list(customers),
                               spend=sc.needs_spend)
    if summ.empty:
        return summ, None, None
    spend = summ.pop("spend_before").to_numpy(float) if sc.needs_spend else None
    cols = sc.columns(*(summ[k].to_numpy(float) for k in ("frequency", "recency", "T", "monetary_value")), spend,
                      as_of)
    return summ, spend, cols


def clv_frame(state, reader, customers: list[str], as_of) -> pd.DataFrame | None:
    """The ``clv`` table's rows for ``customers`` (buyers) scored with the state's models; None without them."""
    got = _clv_arrays(state, reader, customers, as_of)
    if got is None:
        return None
    summ, _, cols = got
    return state.scorer.rows(summ, cols)


def clv_score(state, reader, customers: list[str], as_of, earlier: dict) -> dict[str, dict]:
    """customer_id -> {clv, p_alive, expected_purchases_90d, expected_purchases_horizon, expected_order_value,
    expected_next_order_at}
    (:func:`_clv_arrays`' values, as plain numbers).  ``earlier["clv_rows"]``: when the caller hands a dict there
    (an incremental refresh), the scored customers' ``clv`` table rows (:func:`clv_frame`'s) of this very score are
    put in it under ``"rows"``, so the refresh writes them without scoring again."""
    got = _clv_arrays(state, reader, customers, as_of)
    if got is None or got[2] is None:
        return {}
    summ, _, s = got
    want = earlier.get("clv_rows")
    if isinstance(want, dict):
        want["rows"] = state.scorer.rows(summ, s)
    out = {}
    nxt = np.asarray(s["expected_next_order_at"], dtype="datetime64[us]")
    for i, cid in enumerate(summ["customer_id"].tolist()):
        out[str(cid)] = {
            "clv": float(s["clv"][i]), "p_alive": float(s["p_alive"][i]),
            "expected_purchases_90d": float(s["expected_purchases_90d"][i]),
            "expected_purchases_horizon": float(s["expected_purchases_horizon"][i]),
            "expected_order_value": float(s["expected_order_value"][i]),
            "expected_next_order_at": None if np.isnat(nxt[i]) else pd.Timestamp(nxt[i]).isoformat()}
    return out


__all__ = ["ChurnState", "ClvState", "churn_score", "churn_state", "clv_frame", "clv_score", "clv_state"]
