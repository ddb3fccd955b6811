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
what each rule would give: pool, cap churn, cap P(alive) (docs/churn.md, "Churn and P(alive): one story"), and,
for the buyers silent longer than every churn training row (whose churn the recency floor holds up), what the
rules that keep the floor give (docs/churn.md, "The floor and the pooling"): ``pool, floor kept`` (the stage's:
the pair's mean, or (1 - floor, floor) where the mean would take churn below the floor) and ``floor, P(alive)
capped`` (their churn as the floor left it, P(alive) lowered to 1 - churn).

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


def reconcile_rules(p_w: np.ndarray, q: np.ndarray, least: np.ndarray | None = None
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(P(purchase in W), churn) after each candidate rule, for the customers where P(purchase in W) > 1 - churn.

    ``pool``: both set to their mean (the least-squares projection onto P(W) <= P(H), what the churn stage does:
    :func:`shopseg.predict._reconcile.pool`); ``churn_moves``: churn lowered to 1 - P(W); ``alive_moves``: P(W)
    lowered to 1 - churn.  ``least``: each buyer's recency floor (0 inside the training range): ``pool, floor
    kept`` (:func:`shopseg.predict._reconcile.pool` with it) and ``floor, P(alive) capped`` (pooled inside the
    range, P(W) lowered to 1 - churn beyond it).
    """
    from shopseg.predict._reconcile import pool

    p_h = 1.0 - q
    bad = p_w > p_h
    out = {"as stored": (p_w, q),
           "pool": pool(p_w, q),
           "churn_moves": (p_w, np.where(bad, 1.0 - p_w, q)),
           "alive_moves": (np.where(bad, p_h, p_w), q)}
    if least is not None:
        out["pool, floor kept"] = pool(p_w, q, least)
        beyond = least > 0
        out["floor, P capped"] = (np.where(beyond, np.minimum(p_w, p_h), out["pool"][0]),
                                  np.where(beyond, q, out["pool"][1]))
    return out


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
    from shopseg.predict.churn import floor_of_notes, least_churn

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
               f.recency_days, coalesce(g.segment = 'churned', false) AS gone,
               coalesce(l.nxt <= ? + to_days(CAST(? AS INTEGER)), false)::INTEGER AS bought_w,
               coalesce(l.nxt <= ? + to_days(CAST(? AS INTEGER)), false)::INTEGER AS bought_h
        FROM clv c JOIN churn_scores s USING (run_id, customer_id) LEFT JOIN later l USING (customer_id)
        LEFT JOIN customer_features f USING (run_id, customer_id)
        LEFT JOIN segments g ON g.run_id = c.run_id AND g.customer_id = c.customer_id AND g.scheme = 'lifecycle'
        WHERE c.run_id = ? ORDER BY c.customer_id""", [A, A, int(W), A, H, rid])
    floor = floor_of_notes(res.stages["churn"])
    src = d["model"].iloc[0]
    print(f"{a.workspace} as of {A:%Y-%m-%d}: {len(d):,} buyers; clv model {src}; churn "
          f"{res.stages['churn'].get('model')} H = {H} days; W = {W:g} days; bought in W {d.bought_w.mean():.3f}, "
          f"in H {d.bought_h.mean():.3f}")
    y_w, y_h = d["bought_w"].to_numpy(), d["bought_h"].to_numpy()
    print(f"recency baseline (days since the last purchase) ROC-AUC: {_auc(y_w, -d['silent'].to_numpy(float)):.4f} "
          f"for W, {_auc(y_h, -d['silent'].to_numpy(float)):.4f} for H")
    print(f"{'views':<17} {'P(W) AUC':>9} {'P(W) Brier':>10} {'1-churn AUC':>11} {'churn Brier':>11} "
          f"{'sum Brier':>9} {'P(W)>P(H)+.05':>13} {'worst':>6}")
    least = least_churn(floor, d["recency_days"].to_numpy(float)) if floor and a.raw else None
    rules = reconcile_rules(d["p_alive"].to_numpy(float), d["churn"].to_numpy(float), least)
    for name, (pw, q) in rules.items():
        if name != "as stored" and not a.raw:
            continue
        gap = pw - (1 - q)
        bw, bh = _brier(y_w, pw), _brier(y_h, 1 - q)
        print(f"{name:<17} {_auc(y_w, pw):9.4f} {bw:10.5f} {_auc(y_h, 1 - q):11.4f} {bh:11.5f} {bw + bh:9.5f} "
              f"{int((gap > 0.05).sum()):13d} {max(gap.max(), 0):6.3f}")
    if least is not None:
        _beyond(d, rules, least, floor)
    return 0


def _beyond(d, rules: dict, least: np.ndarray, floor: dict) -> None:
    """The buyers silent longer than every churn training row, all of them and those whose pair contradicts (the
    only ones where the rules differ): what they did next against each rule's churn and P(W)."""
    y_w, y_h = d["bought_w"].to_numpy(), d["bought_h"].to_numpy()
    pw0, q0 = rules["as stored"]
    beyond = least > 0
    print(f"\nbeyond the churn training range (silent > {floor['max_recency_days']:g} days; floor "
          f"{floor['probability']:.3f}): {int(beyond.sum()):,} buyers, {int((q0[beyond] <= least[beyond]).sum()):,} "
          "at the floor")
    bad = pw0 > 1 - q0
    gone = d["gone"].to_numpy(bool)
    for label, sel in (("all beyond", beyond), ("beyond, contradicting", beyond & bad),
                       ("beyond, contradicting, raised to the floor", beyond & bad & (q0 <= least)),
                       ("beyond, contradicting, lifecycle churned", beyond & bad & gone),
                       ("lifecycle churned, contradicting (any range)", bad & gone)):
        n = int(sel.sum())
        if not n:
            print(f"{label}: none")
            continue
        print(f"{label}: {n:,} buyers; no order in H {1 - y_h[sel].mean():.3f}; an order in W {y_w[sel].mean():.3f}")
        print(f"  {'rule':<17} {'mean churn':>10} {'churn Brier':>11} {'below floor':>11} {'mean P(W)':>9} "
              f"{'P(W) Brier':>10}")
        for name in ("as stored", "pool", "pool, floor kept", "floor, P capped", "churn_moves", "alive_moves"):
            pw, q = rules[name]
            print(f"  {name:<17} {q[sel].mean():10.3f} {_brier(1 - y_h[sel], q[sel]):11.5f} "
                  f"{int((q[sel] < least[sel] - 1e-12).sum()):11d} {pw[sel].mean():9.3f} {_brier(y_w[sel], pw[sel]):10.5f}")


if __name__ == "__main__":
    sys.exit(main())
