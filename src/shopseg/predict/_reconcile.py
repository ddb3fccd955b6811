"""One story per customer: the churn probability and the CLV stage's P(alive) made to agree (docs/churn.md).

Where no "buy till you die" model fits (Online Retail, Olist), the CLV stage's P(alive) comes from the repeat
model or the recency baseline and is the probability of a sale order in the next W days (the CLV validation
window, ``clv.backtest_days``); churn is the probability of none in the next H days.  For W <= H a purchase in W
is a purchase in H, so P(alive) <= 1 - churn must hold.  Two models learned apart on their own windows break it
(636 of 4,339 Online Retail buyers by more than 0.05).  The churn stage, which runs after the CLV stage, **pools**
each pair that breaks it: both become their mean, P(alive) = 1 - churn = (P(alive) + 1 - churn) / 2, the
least-squares projection of the pair onto P(alive) <= 1 - churn.  It is never further from the true pair than the
pair it replaces (a projection onto a convex set that holds the truth), and on both real shops' own history it
scored better than either model alone and than moving only one of them (docs/churn.md, "Churn and P(alive): one
story"; ``evals/prediction_views.py``).

The run stores the pooled customers' own P(alive) (``models/run-<id>-churn-views.json``), so a live re-score of
their churn (:func:`shopseg.predict._score.churn_score`) pools the same way and gives the batch's number.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

WINDOW_SOURCES = ("repeat", "baseline")  # P(alive) that is the probability of a purchase in the next W days
VIEWS_MODEL = "churn-views"  # the model-store entry holding the pooled customers' own P(alive)
REASONS = ("reason_1", "reason_2", "reason_3")


def pool(p_alive, churn, floor=None) -> tuple[np.ndarray, np.ndarray]:
    """(P(alive), churn) with every pair where P(alive) > 1 - churn replaced by its mean: P(alive) = 1 - churn.

    ``floor``: each customer's least churn probability (the churn model's recency floor for a buyer silent longer
    than every training row, :func:`shopseg.predict.churn.apply_recency_floor`; 0 or NaN for the others).  Where
    the mean would take churn below it, the pair becomes (1 - floor, floor) instead: the least-squares projection
    onto the pairs that keep both rules (P(alive) <= 1 - churn, churn >= floor), so a buyer the floor raised ends
    at the floor and P(alive) alone moves (docs/churn.md, "The floor and the pooling").

    >>> p, q = pool([0.9, 0.2, 0.5], [0.4, 0.3, 0.5])
    >>> p.round(6).tolist(), q.round(6).tolist()
    ([0.75, 0.2, 0.5], [0.25, 0.3, 0.5])
    >>> p, q = pool([0.9, 0.9, 0.3], [0.4, 0.46, 0.46], floor=[0.0, 0.46, 0.46])  # the mean 0.28 < 0.46: floor kept
    >>> p.round(6).tolist(), q.round(6).tolist()
    ([0.75, 0.54, 0.3], [0.25, 0.46, 0.46])
    """
    p, q = np.asarray(p_alive, float), np.asarray(churn, float)
    bad = p > 1.0 - q
    m = (p + 1.0 - q) / 2.0
    p_new, q_new = m, 1.0 - m
    if floor is not None:  # never below the floor (nor below churn where it is under it), exactly at it
        lo = np.minimum(np.nan_to_num(np.broadcast_to(np.asarray(floor, float), q.shape), nan=0.0), q)
        stop = q_new < lo
        p_new, q_new = np.where(stop, 1.0 - lo, p_new), np.where(stop, lo, q_new)
    return np.where(bad, p_new, p), np.where(bad, q_new, q)


def _source(model_text) -> dict[str, str]:
    """{"p_alive": ..., "purchases": ..., "clv": ...} from the clv table's ``model`` text."""
    return dict(p.strip().split("=", 1) for p in str(model_text or "").split(";") if "=" in p)


def reconcile_views(ws, run_id: int, as_of, config, horizon_days: int, tier_cuts: dict | None = None,
                    floor: dict | None = None, features: pd.DataFrame | None = None) -> dict:
    """Pool this run's churn and P(alive) where P(alive) is a window probability of W <= H days; the notes.

    ``floor``: the churn model's recency floor (:func:`shopseg.predict.churn.recency_floor`: ``max_recency_days``,
    ``probability``); a buyer silent longer than ``max_recency_days`` keeps a churn probability of at least
    ``probability`` (:func:`pool`), and one whose pooling the floor stops gets the floor's reason first.
    ``features``: the run's customer features as of ``as_of`` (their ``recency_days``), when the caller has them;
    else the pooled customers' are computed.

    Changes the run's ``clv`` rows (``p_alive``; the next-order date, which the repeat model and the baseline
    derive from it, and which is left out below ``clv.min_p_alive``) and ``churn_scores`` rows (``probability``;
    ``tier`` from ``tier_cuts``, the cut points the batch used), and only when the clv stage wrote rows in this
    very run: another run's outputs are never rewritten.  ``churn.reconcile = false`` leaves both views as the
    models gave them.
    """
    from ._churn_report import tier_of
    from ._clv_select import window_days

    if not config["churn"].get("reconcile", True) or not ws.has_table("clv") or not ws.has_table("churn_scores"):
        return {}
    model = ws.scalar("SELECT any_value(model) FROM clv WHERE run_id = ?", [run_id])
    if model is None:
        return {"views": "P(alive) not checked against churn: the clv stage did not run in this run"}
    src = _source(model)
    p_src = src.get("p_alive") or str(model).split("+")[0]  # a run before the per-prediction choice: "bgnbd+gammagamma"
    if p_src not in WINDOW_SOURCES:
        return {"views": f"P(alive) from {p_src} is the probability of being alive, which may exceed 1 - churn; "
                         "left as it is"}
    ts = pd.Timestamp(as_of)
    W, _ = window_days(ws.con, ts, float(config["clv"]["backtest_days"]))
    if W < 7:  # the uncalibrated baseline (exp(-silence x rate)): no window
        return {"views": f"P(alive) ({p_src}, uncalibrated: no validation window) not pooled with churn"}
    if W > horizon_days:
        return {"views": f"P(alive) ({p_src}, a purchase in {W:g} days) not pooled with churn (no order in "
                         f"{horizon_days} days): only a window of 7 to {horizon_days} days nests in the churn horizon",
                "p_alive_days": W}
    why = [c for c in REASONS if c in ws.columns("churn_scores")]  # (a hand-made table may have none)
    rows = ws.df("SELECT c.customer_id, c.p_alive, c.expected_purchases_horizon, c.horizon_days, "
                 "c.expected_next_order_at, s.probability AS churn, s.tier" + "".join(f", s.{c}" for c in why) +
                 " FROM clv c JOIN churn_scores s "
                 "USING (run_id, customer_id) WHERE c.run_id = ? AND c.p_alive > 1 - s.probability "
                 "ORDER BY c.customer_id", [run_id])
    n_all = int(ws.scalar("SELECT count(*) FROM clv WHERE run_id = ?", [run_id]))
    what = (f"P(alive) ({p_src}: a sale order in the next {W:g} days) is at most 1 - churn (one in the next "
            f"{horizon_days} days)")
    next_from_p = src.get("purchases") in WINDOW_SOURCES
    min_alive = float(config["clv"]["min_p_alive"])
    if rows.empty:
        from .. import models

        if not models.exists(ws, VIEWS_MODEL, run_id):  # the live path pools fresh pairs the same way
            _store(ws, run_id, W, horizon_days, rows, next_from_p, min_alive, floor)
        return {"views": f"{what} for every buyer already", "p_alive_pooled": 0, "p_alive_days": W}
    _store(ws, run_id, W, horizon_days, rows, next_from_p, min_alive, floor)
    gap = rows["p_alive"].to_numpy(float) - (1.0 - rows["churn"].to_numpy(float))
    q0 = rows["churn"].to_numpy(float)
    recency, least = _least_churn(ws, rows["customer_id"], ts, config, floor, features)
    rows["p_alive"], rows["churn"] = pool(rows["p_alive"], rows["churn"], least)
    q1 = rows["churn"].to_numpy(float)
    held = (least > 0) & (q1 == least)  # the floor stopped the pooling: churn is the floor
    newly = held & (q0 > least)  # ... for a buyer the model scored above it: the floor's reason now leads
    if newly.any() and why:
        from .churn import _floor_reasons

        rows[why] = _floor_reasons(rows[why], newly, recency, floor)[why]
    if tier_cuts is not None:
        rows["tier"] = tier_of(rows["churn"].to_numpy(float), tier_cuts)
    rows["expected_next_order_at"] = _next_dates(rows, ts, next_from_p, min_alive)
    ws.con.register("_pooled", rows[["customer_id", "p_alive", "expected_next_order_at", "churn", "tier", *why]])
    try:
        ws.con.execute("UPDATE clv SET p_alive = r.p_alive, expected_next_order_at = r.expected_next_order_at "
                       "FROM _pooled r WHERE clv.run_id = ? AND clv.customer_id = r.customer_id", [run_id])
        ws.con.execute("UPDATE churn_scores SET probability = r.churn, tier = r.tier" +
                       "".join(f", {c} = r.{c}" for c in why) + " FROM _pooled r "
                       "WHERE churn_scores.run_id = ? AND churn_scores.customer_id = r.customer_id", [run_id])
    finally:
        ws.con.unregister("_pooled")
    tiers = dict(ws.con.execute("SELECT tier, count(*) FROM churn_scores WHERE run_id = ? GROUP BY tier",
                                [run_id]).fetchall())
    kept = (f"; {int(held.sum()):,} of them silent longer than every churn training row kept at the recency floor "
            f"{floor['probability']:.3f}, P(alive) lowered to 1 - floor" if held.any() else "")
    out = {"views": f"{what}: both set to their mean for {len(rows):,} of {n_all:,} buyers (they differed by up "
                    f"to {gap.max():.2f}{kept}; docs/churn.md)", "p_alive_pooled": int(len(rows)), "p_alive_days": W,
           "tiers": tiers}
    if floor:
        out["p_alive_pooled_at_floor"] = int(held.sum())
    return out


def _least_churn(ws, ids: pd.Series, ts, config, floor: dict | None,
                 features: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(days since the last order, least churn probability) of customers ``ids`` as of ``ts``: the recency floor's
    probability for a buyer silent longer than its ``max_recency_days``, 0 for the others and without a floor."""
    n = len(ids)
    if not floor or not n:
        return np.full(n, np.nan), np.zeros(n)
    rec = pd.Series(np.nan, index=ids.index)
    if features is not None and "recency_days" in features:
        rec = ids.map(features.set_index("customer_id")["recency_days"]).astype(float)
    miss = rec.isna().to_numpy()
    if miss.any():  # the stage alone (no segments frame): the same features, for these customers only
        from ..features import customer_features

        f = customer_features(ws, ts, config=config, customers=ids[miss].astype(str).tolist())
        rec[miss] = ids[miss].astype(str).map(f.set_index("customer_id")["recency_days"]).astype(float).to_numpy()
    r = rec.to_numpy(float)
    from .churn import least_churn

    return r, least_churn(floor, r)


def _next_dates(rows: pd.DataFrame, ts, next_from_p_alive: bool, min_p_alive: float) -> pd.Series:
    """The pooled rows' next-order date: from their new P(alive) when the run's date follows it (the repeat model,
    the baseline), none below ``min_p_alive``."""
    from ._clv_scorer import next_order_at

    nxt = rows["expected_next_order_at"]
    if next_from_p_alive and len(rows):
        nxt = next_order_at(rows["p_alive"].to_numpy(float), rows["expected_purchases_horizon"].to_numpy(float),
                            pd.Timestamp(ts), float(rows["horizon_days"].iloc[0]))
    return pd.Series(nxt, index=rows.index).astype("datetime64[us]").where(
        rows["p_alive"].to_numpy(float) >= min_p_alive)


def _store(ws, run_id: int, W: float, H: int, rows: pd.DataFrame, next_from_p_alive: bool,
           min_p_alive: float, floor: dict | None = None) -> None:
    """How the run pooled, as model ``churn-views`` of the run: the pooled customers' own P(alive) (before the
    pooling), whether the next-order date follows P(alive), the run's ``clv.min_p_alive``.  A live score pools its
    fresh pairs with it (:func:`pool_live`); a run whose views do not nest stores nothing and a live score then pools
    nobody.  ``recency_floor``: the churn model's floor the pooling kept (None: a run before session 18, or no floor),
    which the live score keeps too."""
    from .. import models

    body = {"window_days": W, "horizon_days": int(H), "next_from_p_alive": bool(next_from_p_alive),
            "min_p_alive": float(min_p_alive), "recency_floor": floor or None,
            "p_alive": dict(zip(rows["customer_id"].astype(str), rows["p_alive"].astype(float)))}
    models.save(ws, VIEWS_MODEL, run_id, {".json": json.dumps(body, sort_keys=True)})


def pool_live(scores: pd.DataFrame, clv: dict[str, dict], views: dict, tier_cuts: dict | None,
              as_of, shown: dict[str, dict] | None = None) -> pd.DataFrame:
    """A live re-score pooled as the batch pools: churn ``scores`` with each customer's P(alive) — the fresh one of
    ``clv`` (the CLV stage's answers of the same score, customer_id -> {p_alive, expected_next_order_at, ...})
    where there is one, else the run's stored own P(alive) (``views``: :func:`stored_views`).  The pooled
    customers' ``clv`` answers are changed in place: P(alive) the pair's mean and, when the run's next-order date
    follows P(alive), the wait to it scaled by the new P(alive) over the old (the batch's ``ln 2 x P(alive) x
    horizon / expected purchases``), none below ``min_p_alive``.  ``shown``: the run's CLV rows (the answer's
    fields) of customers with no fresh CLV answer: their P(alive) pooled as their own, or, for those the run pooled,
    their stored own P(alive); a customer of theirs whose pair is pooled gets a CLV answer from the row, so the
    view shows the pooled P(alive) beside the pooled churn.  When the run kept the churn model's recency floor
    (``views["recency_floor"]``), ``scores``' ``recency_days`` (:func:`shopseg.predict.churn.score_customers`
    gives them) say who is past it: as in the batch, their churn stays at least the floor (:func:`pool`) and one
    the floor stops gets its reason first.  Returns the pooled scores.

    >>> s = pd.DataFrame({"customer_id": ["a", "b"], "probability": [0.4, 0.3], "tier": ["mid", "low"]})
    >>> clv = {"a": {"p_alive": 0.9, "expected_next_order_at": "2024-01-31T00:00:00"}}
    >>> views = {"p_alive": {"b": 0.95}, "next_from_p_alive": True, "min_p_alive": 0.5}
    >>> pool_live(s, clv, views, None, "2024-01-01").round(6).values.tolist()
    [['a', 0.25, 'mid'], ['b', 0.175, 'low']]
    >>> clv["a"]["p_alive"], clv["a"]["expected_next_order_at"][:13]
    (0.75, '2024-01-25T23')
    """
    from ._churn_report import tier_of
    from .churn import least_churn

    ids = scores["customer_id"].astype(str)
    shown = {c: v for c, v in (shown or {}).items() if c not in clv and v.get("p_alive") is not None}
    fresh = {c: float(v["p_alive"]) for c, v in clv.items() if v.get("p_alive") is not None}
    own = ids.map({**{c: float(v["p_alive"]) for c, v in shown.items()}, **views["p_alive"], **fresh})
    hit = own.notna().to_numpy()
    q = scores["probability"].to_numpy(float)
    floor = views.get("recency_floor")
    least = None
    if floor and "recency_days" in scores:
        least = least_churn(floor, scores["recency_days"].to_numpy(float))[hit]
    p_new, q_new = pool(own.to_numpy(float)[hit], q[hit], least)
    moved = (q_new != q[hit]) | (p_new != own.to_numpy(float)[hit])
    if not moved.any():
        return scores
    out = scores.copy()
    out.loc[hit, "probability"] = q_new
    if least is not None:
        newly = np.zeros(len(out), dtype=bool)
        newly[hit] = (least > 0) & (q_new == least) & (q[hit] > least)  # the floor stopped the pooling
        if newly.any():
            from .churn import _floor_reasons

            cols = [c for c in out.columns if c.startswith(("reason_", "contribution_"))]
            why = _floor_reasons(out[cols].reset_index(drop=True), newly,
                                 out["recency_days"].to_numpy(float), floor)
            out[cols] = why[cols].to_numpy()
    if tier_cuts:
        out.loc[hit, "tier"] = tier_of(q_new, tier_cuts)
    ts = pd.Timestamp(as_of)
    for cid, p in zip(ids[hit][moved], p_new[moved]):
        v = clv.get(cid) if cid in fresh else shown.get(cid)
        if v is None:
            continue
        nxt, was = v.get("expected_next_order_at"), float(v["p_alive"])
        if p < float(views["min_p_alive"]):
            nxt = None
        elif nxt is not None and views.get("next_from_p_alive"):
            nxt = (ts + (pd.Timestamp(nxt) - ts) * (p / was)).isoformat()
        clv[cid] = {**v, "p_alive": float(p), "expected_next_order_at": nxt}
    return out


def pool_frame(clv: pd.DataFrame, answers: dict[str, dict], views: dict, as_of) -> pd.DataFrame:
    """``clv`` rows of a re-score (the table's columns) with the pooled P(alive) of :func:`pool_live`'s ``answers``
    and their next-order date as the batch derives it (:func:`_next_dates`): the rows an incremental run writes
    equal a full run's that pools the same pairs."""
    got = clv["customer_id"].astype(str).map({c: v.get("p_alive") for c, v in answers.items()})
    moved = (got.notna() & (got.astype(float) != clv["p_alive"])).to_numpy()
    if not moved.any():
        return clv
    out = clv.copy()
    rows = out.loc[moved].copy()
    rows["p_alive"] = got[moved].astype(float).to_numpy()
    rows["expected_next_order_at"] = _next_dates(rows, as_of, bool(views.get("next_from_p_alive")),
                                                 float(views["min_p_alive"]))
    out.loc[moved, "p_alive"] = rows["p_alive"]
    out["expected_next_order_at"] = out["expected_next_order_at"].astype("datetime64[us]")
    out.loc[moved, "expected_next_order_at"] = rows["expected_next_order_at"]
    return out


def stored_views(ws, run_id: int) -> dict | None:
    """How run ``run_id`` pooled its churn and P(alive) (:func:`_store`'s body); None when its views do not nest."""
    from .. import models

    if not models.exists(ws, VIEWS_MODEL, run_id):
        return None
    return json.loads(models.read_text(ws, VIEWS_MODEL, run_id))


def stored_p_alive(ws, run_id: int) -> dict[str, float] | None:
    """customer_id -> own P(alive) of the customers run ``run_id`` pooled; None when its views do not nest."""
    views = stored_views(ws, run_id)
    return None if views is None else views["p_alive"]


__all__ = ["pool", "pool_frame", "pool_live", "reconcile_views", "stored_p_alive", "stored_views"]
