"""Two views of one customer against what happened next: the CLV stage's P(alive) and the churn probability.

On a copy of an ingested workspace, runs the ``clv``, ``segments`` and ``churn`` stages as of a past date ``A``
(so that the shop's own later orders are the held-out truth), then scores, per buyer at ``A``:

* ``p_alive`` (the ``clv`` table; from the repeat model or the recency baseline it is the probability of a sale
  order in the ``clv.backtest_days`` window W after ``A``) against "bought in (A, A + W]";
* ``1 - churn probability`` (``churn_scores``: no sale order in the churn horizon H) against "bought in
  (A, A + H]";

ROC-AUC and Brier of each, and how many buyers have P(a purchase in W) above P(a purchase in H) (W <= H: a
contradiction).  The figures are computed for the views as the run stored them (pooled by the churn stage);
``--raw`` reads them as the two models gave them (``churn.reconcile = false``), and the script then also shows
what each rule would give: pool, cap churn, cap P(alive) (docs/churn.md, "Churn and P(alive): one story").

    PYTHONPATH=src .venv/bin/python evals/prediction_views.py --workspace /work/ws/online_retail \\
        --as-of 2011-08-01 --work /tmp/views-or [--horizon 120] [--raw]

The truth windows must end by the shop's last sale: the script says so and stops when they do not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np


def _auc(y, s):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def _brier(y, p):
    return float(np.mean((p - y) ** 2))


def reconcile_rules(p_w: np.ndarray, q: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(P(purchase in W), churn) after each candidate rule, for the customers where P(purchase in W) > 1 - churn.

    ``pool``: both set to their mean (the least-squares projection onto P(W) <= P(H), what the churn stage does:
    :func:`shopseg.predict._reconcile.pool`); ``churn_moves``: churn lowered to 1 - P(W); ``alive_moves``: P(W)
    lowered to 1 - churn.
    """
    p_h = 1.0 - q
    bad = p_w > p_h
    m = np.where(bad, (p_w + p_h) / 2, 0.0)
    return {"as stored": (p_w, q),
            "pool": (np.where(bad, m, p_w), np.where(bad, 1.0 - m, q)),
            "churn_moves": (p_w, np.where(bad, 1.0 - p_w, q)),
            "alive_moves": (np.where(bad, p_h, p_w), q)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", required=True, help="an ingested workspace (copied, never written)")
    ap.add_argument("--as-of", required=True, help="the past date the views are made at")
    ap.add_argument("--work", required=True, help="where the copy goes (replaced)")
    ap.add_argument("--horizon", type=int, default=0, help="churn.horizon_days (0: derived from the shop)")
    ap.add_argument("--raw", action="store_true", help="run with churn.reconcile = false (the views apart)")
    a = ap.parse_args(argv)

    from shopseg import open_workspace
    from shopseg.config import load_config
    from shopseg.pipeline import parse_as_of, run_pipeline

    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(a.workspace, work)
    ws = open_workspace(work)
    over = {"horizon_days": a.horizon, **({"reconcile": False} if a.raw else {})}
    cfg = load_config(overrides={"churn": over})
    A = parse_as_of(a.as_of)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_pipeline(ws, A, config=cfg, stages=["clv", "segments", "churn"])
    rid = res.run_id
    if res.stages["churn"]["status"] != "done":
        print(f"The churn stage did not run: {res.stages['churn'].get('note')}", file=sys.stderr)
        return 2
    H = int(res.stages["churn"]["horizon_days"])
    W = float(cfg["clv"]["backtest_days"])
    last = ws.scalar("SELECT max(ordered_at) FROM orders WHERE kind = 'sale'")
    if A + timedelta(days=max(H, W)) > last:
        print(f"The truth windows end on {A + timedelta(days=max(H, W)):%Y-%m-%d}, after the last sale on "
              f"{last:%Y-%m-%d}: pick an earlier --as-of.", file=sys.stderr)
        return 2
    d = ws.df("""
        WITH later AS (SELECT customer_id, min(ordered_at) AS nxt FROM orders
                       WHERE kind = 'sale' AND ordered_at > ? GROUP BY customer_id)
        SELECT c.customer_id, c.p_alive, c.model, s.probability AS churn, c."T" - c.recency AS silent,
               coalesce(l.nxt <= ? + to_days(CAST(? AS INTEGER)), false)::INTEGER AS bought_w,
               coalesce(l.nxt <= ? + to_days(CAST(? AS INTEGER)), false)::INTEGER AS bought_h
        FROM clv c JOIN churn_scores s USING (run_id, customer_id) LEFT JOIN later l USING (customer_id)
        WHERE c.run_id = ? ORDER BY c.customer_id""", [A, A, int(W), A, H, rid])
    src = d["model"].iloc[0]
    print(f"{a.workspace} as of {A:%Y-%m-%d}: {len(d):,} buyers; clv model {src}; churn "
          f"{res.stages['churn'].get('model')} H = {H} days; W = {W:g} days; bought in W {d.bought_w.mean():.3f}, "
          f"in H {d.bought_h.mean():.3f}")
    y_w, y_h = d["bought_w"].to_numpy(), d["bought_h"].to_numpy()
    print(f"recency baseline (days since the last purchase) ROC-AUC: {_auc(y_w, -d['silent'].to_numpy(float)):.4f} "
          f"for W, {_auc(y_h, -d['silent'].to_numpy(float)):.4f} for H")
    print(f"{'views':<12} {'P(W) AUC':>9} {'P(W) Brier':>10} {'1-churn AUC':>11} {'churn Brier':>11} "
          f"{'sum Brier':>9} {'P(W)>P(H)+.05':>13} {'worst':>6}")
    rules = reconcile_rules(d["p_alive"].to_numpy(float), d["churn"].to_numpy(float))
    for name, (pw, q) in rules.items():
        if name != "as stored" and not a.raw:
            continue
        gap = pw - (1 - q)
        bw, bh = _brier(y_w, pw), _brier(y_h, 1 - q)
        print(f"{name:<12} {_auc(y_w, pw):9.4f} {bw:10.5f} {_auc(y_h, 1 - q):11.4f} {bh:11.5f} {bw + bh:9.5f} "
              f"{int((gap > 0.05).sum()):13d} {max(gap.max(), 0):6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
