"""Next-basket recommendations on the demo shop with planted repurchases: are the planted due items recovered?

``synthesize(..., repurchase=True)`` gives each customer a staple consumable re-bought in the first
order of every cycle (30 to 90 days by persona); ``ground_truth_repurchase`` says whether they buy
it in the 180 days after as_of (``bought_in_horizon``, from the simulated future).  The
recommender is fitted at as_of on the observed history only; among the customers who bought their
staple before and buy it again in the horizon ("due in the test window"):

* recall@10 — share whose top 10 holds the staple, for the next-basket model, "buy it again" (own
  most-bought products) and the explore blend (never repeats);
* precision@10 — share of the top 10's repeat items flagged due (``is_due``) that are the staple
  bought in the horizon, against the same share for all repeat items;
* the staple's mean rank when recommended.

    python evals/synth_recommend.py [CUSTOMERS]      # default 5000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shopseg.config import load_config
from shopseg.recommend import build_history, next_basket_model, products_frame, purchases_from_workspace
from shopseg.recommend._nextbasket import top_k
from shopseg.synth import synthesize
from shopseg.workspace import Workspace

AS_OF = "2024-12-31"


def evaluate(ws, k: int = 10) -> dict:
    cfg = load_config()
    purch = purchases_from_workspace(ws, AS_OF)
    t0 = time.perf_counter()
    nb = next_basket_model(cfg, purch, products_frame(ws), AS_OF)
    users = np.asarray(sorted(purch["customer_id"].unique()), dtype=object)
    recs = nb.recommend(users, top_n=k)
    secs = time.perf_counter() - t0
    gt = ws.df("SELECT * FROM ground_truth_repurchase")
    due = gt[(gt["n_planted_observed"] > 0) & gt["bought_in_horizon"] & gt["customer_id"].isin(set(users))]
    key = set(zip(due["customer_id"], due["product_id"]))
    r = recs.assign(staple_due=[(c, p) in key for c, p in zip(recs["customer_id"], recs["product_id"])])
    # buy it again: the customer's products by purchase days (latest first on ties)
    h = build_history(purch, nb.items_, AS_OF)
    rows = h.rows(due["customer_id"].to_numpy(object))
    n_days = h.n_days[rows].toarray()
    since = h.last_age[rows].toarray()
    s = np.where(n_days > 0, n_days + 1 / (1 + since), -np.inf)
    top, vals = top_k(s, k)
    staple_col = pd.Series(np.arange(len(nb.items_)), index=nb.items_).reindex(due["product_id"]).to_numpy()
    again = float(((top == staple_col[:, None]) & np.isfinite(vals)).any(axis=1).mean())
    rep = r[r["kind"] == "repeat"]
    flagged = rep[rep["is_due"]]
    return {"customers": len(users), "due_customers": len(due), "seconds": round(secs, 1),
            "recall_next_basket": float(r["staple_due"].sum() / len(due)), "recall_buy_again": again,
            "recall_blend": 0.0,
            "precision_due_flag": float(flagged["staple_due"].mean()) if len(flagged) else float("nan"),
            "n_due_flag": len(flagged),
            "precision_all_repeats": float(rep["staple_due"].mean()) if len(rep) else float("nan"),
            "mean_rank": float(r.loc[r["staple_due"], "rank"].mean()), "mix": nb.mix_}


def main(customers: int = 5000) -> str:
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        synthesize(ws, customers=customers, seed=3, repurchase=True)
        m = evaluate(ws)
    return "\n".join([
        f"### Demo shop with planted repurchases ({customers:,} customers, seed 3, as_of {AS_OF})", "",
        f"Customers with a planted staple bought before and again in the 180 days after as_of: "
        f"{m['due_customers']:,} of {m['customers']:,} with purchases. Fit + recommend: {m['seconds']} s.", "",
        "| | next basket | buy it again | explore blend |", "|---|---:|---:|---:|",
        f"| recall@10 of the planted due staple | {m['recall_next_basket']:.3f} | {m['recall_buy_again']:.3f} | "
        f"{m['recall_blend']:.3f} |", "",
        f"precision@10 of the due flag: of the {m['n_due_flag']:,} recommended repeats flagged `is_due`, "
        f"{m['precision_due_flag']:.3f} are the planted staple bought in the horizon (all recommended repeats: "
        f"{m['precision_all_repeats']:.3f}). Mean rank of the staple when recommended: {m['mean_rank']:.2f}. "
        f"Learned mix: {m['mix']}."])


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
