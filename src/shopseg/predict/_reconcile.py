"""One story per customer: the churn probability and the CLV stage's P(alive) made to agree (docs/churn.md).

Where no "buy till you die" model fits (Online Retail, Olist), the CLV stage's P(alive) comes from the repeat
model or the recency baseline and is the probability of a sale order in the next W days (the CLV validation
window, ``clv.backtest_days``); churn is the probability of none in the next H days.  For W <= H a purchase in W
is a purchase in H, so P(alive) <= 1 - churn must hold.  Two models learned apart on their own windows break it
(636 of 4,339 Online Retail buyers by more than 0.05).  The churn stage, which runs after the CLV stage, lowers
such a P(alive) to 1 - churn: measured on both real shops' own history, the churn model is the better of the
two (it has more features and is checked against its own baseline), and the capped P(alive) scores better
against what happened next than either the stored one or the two pooled (docs/churn.md, "Churn and P(alive):
one story"; ``evals/prediction_views.py``).  The churn probabilities are left as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOW_SOURCES = ("repeat", "baseline")  # P(alive) that is the probability of a purchase in the next W days


def cap_p_alive(p_alive, churn) -> np.ndarray:
    """P(a purchase in W) no higher than P(a purchase in H) = 1 - churn (W <= H).

    >>> cap_p_alive([0.9, 0.2, 0.5], [0.4, 0.3, 0.5]).tolist()
    [0.6, 0.2, 0.5]
    """
    return np.minimum(np.asarray(p_alive, float), 1.0 - np.asarray(churn, float))


def _source(model_text) -> dict[str, str]:
    """{"p_alive": ..., "purchases": ..., "clv": ...} from the clv table's ``model`` text."""
    return dict(p.strip().split("=", 1) for p in str(model_text or "").split(";") if "=" in p)


def reconcile_views(ws, run_id: int, as_of, config, horizon_days: int) -> dict:
    """Cap this run's P(alive) at 1 - churn where P(alive) is a window probability of W <= H days; the notes.

    Changes the run's ``clv`` rows only (``p_alive``; the next-order date, which the repeat model and the baseline
    derive from it, and which is left out below ``clv.min_p_alive``), and only when the clv stage wrote rows in
    this very run: another run's outputs are never rewritten.  ``churn.reconcile = false`` leaves both views as
    the models gave them.
    """
    from ._clv_select import _next_order_at, window_days

    if not config["churn"].get("reconcile", True) or not ws.has_table("clv") or not ws.has_table("churn_scores"):
        return {}
    model = ws.scalar("SELECT any_value(model) FROM clv WHERE run_id = ?", [run_id])
    if model is None:
        return {"views": "P(alive) not checked against churn: the clv stage did not run in this run"}
    src = _source(model)
    p_src = src.get("p_alive")
    if p_src not in WINDOW_SOURCES:
        return {"views": f"P(alive) from {p_src} is the probability of being alive, which may exceed 1 - churn; "
                         "left as it is"}
    ts = pd.Timestamp(as_of)
    W, _ = window_days(ws.con, ts, float(config["clv"]["backtest_days"]))
    if W < 7:  # the uncalibrated baseline (exp(-silence x rate)): no window
        return {"views": f"P(alive) ({p_src}, uncalibrated: no validation window) not capped by churn"}
    if W > horizon_days:
        return {"views": f"P(alive) ({p_src}, a purchase in {W:g} days) not capped by churn (no order in "
                         f"{horizon_days} days): only a window of 7 to {horizon_days} days nests in the churn horizon",
                "p_alive_days": W}
    rows = ws.df("SELECT c.customer_id, c.p_alive, c.expected_purchases_horizon, c.horizon_days, "
                 "c.expected_next_order_at, s.probability AS churn FROM clv c JOIN churn_scores s "
                 "USING (run_id, customer_id) WHERE c.run_id = ? AND c.p_alive > 1 - s.probability "
                 "ORDER BY c.customer_id", [run_id])
    n_all = int(ws.scalar("SELECT count(*) FROM clv WHERE run_id = ?", [run_id]))
    what = (f"P(alive) ({p_src}: a sale order in the next {W:g} days) is at most 1 - churn (one in the next "
            f"{horizon_days} days)")
    if rows.empty:
        return {"views": f"{what} for every buyer already", "p_alive_capped": 0, "p_alive_days": W}
    gap = rows["p_alive"].to_numpy(float) - (1.0 - rows["churn"].to_numpy(float))
    rows["p_alive"] = cap_p_alive(rows["p_alive"], rows["churn"])
    if src.get("purchases") in WINDOW_SOURCES and len(rows):
        rows["expected_next_order_at"] = _next_order_at(rows, ts, float(rows["horizon_days"].iloc[0]))
    nxt = pd.Series(rows["expected_next_order_at"]).astype("datetime64[us]")
    rows["expected_next_order_at"] = nxt.where(rows["p_alive"].to_numpy() >= float(config["clv"]["min_p_alive"]))
    ws.con.register("_capped", rows[["customer_id", "p_alive", "expected_next_order_at"]])
    try:
        ws.con.execute("UPDATE clv SET p_alive = r.p_alive, expected_next_order_at = r.expected_next_order_at "
                       "FROM _capped r WHERE clv.run_id = ? AND clv.customer_id = r.customer_id", [run_id])
    finally:
        ws.con.unregister("_capped")
    return {"views": f"{what}: lowered to 1 - churn for {len(rows):,} of {n_all:,} buyers (by up to "
                     f"{gap.max():.2f}; docs/churn.md)", "p_alive_capped": int(len(rows)), "p_alive_days": W}


__all__ = ["cap_p_alive", "reconcile_views"]
