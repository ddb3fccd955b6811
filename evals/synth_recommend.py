"""Next-basket recommendations on the demo shop with planted repurchases: are the planted due items recovered?

``synthesize(..., repurchase=True)`` gives each customer a staple consumable re-bought in the first
order of every cycle (30 to 90 days by persona); ``ground_truth_repurchase`` says whether they buy
it in the 180 days after as_of (``bought_in_horizon``, from the simulated future).  The
recommender is fitted at as_of on the observed history only.  A planted item is *due in the test
window* when the customer bought their staple before as_of and buys it again in the horizon; over
the customers with one (one planted item each), against that ground truth, for the next-basket
model and, in the same run, "buy it again" (own most-bought products) and popularity (the shop's
most bought of the last ``recommend.popularity_days``), all three over the recommendable products
only (as in ``evaluate_time_split``: a staple discontinued by as_of is offered by none):

* precision@10 — planted due items in the top 10 / 10 (at most 0.1 here: one planted item each);
* R-precision — precision@k with k = the customer's number of planted due items (1): the top
  recommendation is the planted due item;
* recall@10 and the staple's mean rank when in the top 10;
* precision of the due flag — of the recommended repeats flagged ``is_due``, the share that are the
  planted item bought in the horizon (the rest are the customers' own, unplanted, repeats).

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
from shopseg.recommend import next_basket_model, products_frame, purchases_from_workspace
from shopseg.recommend._nextbasket import top_k
from shopseg.synth import synthesize
from shopseg.workspace import Workspace

AS_OF = "2024-12-31"


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    top, vals = top_k(scores, k)
    return np.where(np.isfinite(vals), top, -1)


def _judge(top: np.ndarray, staple: np.ndarray) -> dict:
    """Each due customer's top ``k`` (item columns, -1 = empty) against their planted due staple."""
    hit = top == staple[:, None]
    rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    return {"precision": float(hit.sum(axis=1).mean() / top.shape[1]), "r_precision": float(hit[:, 0].mean()),
            "recall": float(hit.any(axis=1).mean()),
            "mean_rank": float(rank[rank > 0].mean()) if (rank > 0).any() else float("nan")}


def evaluate(ws, k: int = 10) -> dict:
    """Recovery of the planted due staples by the next-basket model and the baselines, same run."""
    cfg = load_config()
    purch = purchases_from_workspace(ws, AS_OF)
    t0 = time.perf_counter()
    nb = next_basket_model(cfg, purch, products_frame(ws), AS_OF)
    users = np.asarray(sorted(purch["customer_id"].unique()), dtype=object)
    recs = nb.recommend(users, top_n=k)
    secs = time.perf_counter() - t0
    gt = ws.df("SELECT * FROM ground_truth_repurchase")
    # due in the test window: a planted staple the customer bought before as_of and buys again after it
    due = gt[(gt["n_planted_observed"] > 0) & gt["bought_in_horizon"] & gt["customer_id"].isin(users)]
    due = due.sort_values("customer_id").reset_index(drop=True)
    col = pd.Series(np.arange(len(nb.items_)), index=nb.items_)
    staple = col.reindex(due["product_id"].astype(str)).fillna(-2).astype(np.int64).to_numpy()
    # next basket: its stored top k, as item columns per due customer
    r = recs.assign(item=col.reindex(recs["product_id"].astype(str)).to_numpy(),
                    row=pd.Series(np.arange(len(due)), index=due["customer_id"]).reindex(recs["customer_id"]).to_numpy())
    r = r[r["row"].notna() & (r["rank"] <= k)]
    top_nb = np.full((len(due), k), -1, np.int64)
    top_nb[r["row"].astype(np.int64), r["rank"].astype(np.int64) - 1] = r["item"].astype(np.int64)
    # buy it again: the customer's products by purchase days (latest first on ties), then popularity
    h = nb.history_
    rows = h.rows(due["customer_id"].to_numpy(object))
    n_days, since = h.n_days[rows].toarray(), h.last_age[rows].toarray()
    start = pd.Timestamp(AS_OF) - pd.Timedelta(days=cfg["recommend.popularity_days"])
    recent = purch[pd.to_datetime(purch["day"]) > start].drop_duplicates(["customer_id", "product_id"])
    pop = np.bincount(col.reindex(recent["product_id"].astype(str)).dropna().astype(np.int64),
                      minlength=len(nb.items_)).astype(float)
    pop = np.where(nb.recommendable_, pop / max(pop.max(), 1), -np.inf)
    # recommendable products only, as every method of evaluate_time_split (a discontinued staple is not offered)
    again = np.where(nb.recommendable_[None, :], np.where(n_days > 0, n_days + 1 / (1 + since), 1e-3 * pop[None, :]),
                     -np.inf)
    # popularity: the shop's most bought products of the last popularity_days, the same for everyone
    out = {"next_basket": _judge(top_nb, staple), "buy_again": _judge(_top(again, k), staple),
           "popularity": _judge(_top(np.tile(pop, (len(due), 1)), k), staple)}
    key = recs["customer_id"].astype(str) + "\x1f" + recs["product_id"].astype(str)
    is_staple = key.isin(set(due["customer_id"].astype(str) + "\x1f" + due["product_id"].astype(str)))
    rep = recs["kind"] == "repeat"
    flagged = rep & recs["is_due"]
    return {"customers": len(users), "due_customers": len(due),
            "unavailable_staples": int((~nb.recommendable_[staple[staple >= 0]]).sum()), "seconds": round(secs, 1), "methods": out,
            "precision_due_flag": float(is_staple[flagged].mean()) if flagged.any() else float("nan"),
            "n_due_flag": int(flagged.sum()),
            "precision_all_repeats": float(is_staple[rep].mean()) if rep.any() else float("nan"),
            "mix": nb.mix_}


def main(customers: int = 5000) -> str:
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        synthesize(ws, customers=customers, seed=3, repurchase=True)
        m = evaluate(ws)
    rows = [f"| {label} | " + " | ".join(f"{m['methods'][meth][key]:.3f}" for meth in
                                        ("next_basket", "buy_again", "popularity")) + " |"
            for key, label in (("precision", "precision@10 (at most 0.100: one planted due item each)"),
                               ("r_precision", "R-precision (precision@k, k = planted due items = 1)"),
                               ("recall", "recall@10"), ("mean_rank", "mean rank of the staple when in the top 10"))]
    return "\n".join([
        f"### Demo shop with planted repurchases ({customers:,} customers, seed 3, as_of {AS_OF})", "",
        f"Customers with a planted staple bought before and again in the 180 days after as_of (its planted "
        f"item due in the test window): {m['due_customers']:,} of {m['customers']:,} with purchases. "
        f"Fit + recommend: {m['seconds']} s. Of their staples, {m['unavailable_staples']:,} are not "
        f"recommendable (unavailable or not merchandise in the catalogue at as_of): no method may offer them.", "",
        "| against the planted due staple | next basket | buy it again | popularity, last 90 days |",
        "|---|---:|---:|---:|", *rows, "",
        "The explore blend never recommends a bought product: 0 on every row.", "",
        f"Precision of the due flag: of the {m['n_due_flag']:,} recommended repeats flagged `is_due`, "
        f"{m['precision_due_flag']:.3f} are the planted staple bought in the horizon (all recommended repeats: "
        f"{m['precision_all_repeats']:.3f}; the others are the customers' own unplanted repeats, which the "
        f"ground truth does not label). Learned mix: {m['mix']}."])


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
