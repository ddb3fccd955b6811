"""Campaigns on the generated demo shop: do the planted personas get the campaigns a marketer expects?

Runs features + segments, churn and CLV on the demo shop (``shopseg.synth``, planted personas in
``ground_truth``), plans the default playbook, and checks:

1. persona x campaign table (counts and shares), the marketer's expectation per persona;
2. the budget is never exceeded (default budget, and a tight one);
3. each campaign's control share is within 1 point of its target;
4. a planted uplift (treatment responds at base + u, control at base) is recovered inside the
   interval of ``shopseg.act.measure`` (95% intervals: about one campaign in twenty misses), and
   the next plan's uplift and expected values move from the prior towards what was measured;
5. Thompson sampling: after a measured run where one offer variant converted better, the next
   run's offer mix moves towards it;
6. recommendations on the demo shop (time split, last 90 days) against the popularity baseline.

    python evals/synth_campaigns.py [CUSTOMERS]     # default 20,000 (a few minutes here)

Prints a Markdown section (the figures in docs/action.md come from it).
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from shopseg.act import measure, plan_actions, plan_summary
from shopseg.config import load_config
from shopseg.pipeline import start_run
from shopseg.synth import synthesize
from shopseg.workspace import Workspace

AS_OF = datetime(2024, 12, 31, 23, 59, 59)
EXPECTED = {
    "vip": "vip (loyalty perks)",
    "regular": "vip when high value, else coupon / nothing",
    "bargain_hunter": "coupon",
    "new": "welcome",
    "window_shopper": "cart_reminder",
    "dormant": "win_back / reactivation",
    "churned": "last_chance",
    "wholesale": "vip",
}


def prepare(ws, customers: int, cfg) -> int:
    from shopseg.predict.churn import churn_stage
    from shopseg.predict.clv import clv_table
    from shopseg.segment import segment_all

    synthesize(ws, customers=customers, seed=42, as_of="2024-12-31")
    run_id = start_run(ws, AS_OF, cfg, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segment_all(ws, run_id, AS_OF, cfg)
        churn_stage(ws, run_id, AS_OF, cfg)
        clv_table(ws, run_id, AS_OF, **cfg["clv"])
    ws.con.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", [run_id])
    return run_id


def md_table(df: pd.DataFrame, floatfmt="{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(floatfmt.format(v) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(customers: int = 20_000) -> str:
    out = [f"### Demo shop: {customers:,} customers, seed 42, as of 2024-12-31", ""]
    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        t0 = time.perf_counter()
        run_id = prepare(ws, customers, cfg)
        out.append(f"Synth + segments + churn + CLV: {time.perf_counter() - t0:.0f} s.")
        t0 = time.perf_counter()
        plan = plan_actions(ws, run_id, AS_OF, config=cfg, seed=0)
        out.append(f"Planning the default playbook: {time.perf_counter() - t0:.2f} s "
                   f"({plan.notes['eligible_pairs']:,} eligible pairs, {plan.notes['chosen']:,} chosen, "
                   f"{plan.notes['dropped_by_budget']:,} dropped by the budget).")
        out.append("")
        a = plan.actions
        gt = ws.df("SELECT customer_id, persona FROM ground_truth")
        m = gt.merge(a[["customer_id", "campaign"]], on="customer_id", how="left").fillna({"campaign": "(none)"})
        tab = pd.crosstab(m["persona"], m["campaign"])
        share = tab.div(tab.sum(axis=1), axis=0)
        show = share.map(lambda v: f"{v:.0%}" if v else "")
        show.insert(0, "customers", tab.sum(axis=1))
        show["expected"] = [EXPECTED.get(p, "") for p in show.index]
        out += ["**Persona x campaign** (share of the persona's customers; default playbook, no budget):", "",
                md_table(show.reset_index()), ""]
        top = share.drop(columns="(none)", errors="ignore").idxmax(axis=1)
        out.append("Most frequent campaign per persona: " + ", ".join(f"{p} -> {c}" for p, c in top.items()) + ".")
        out.append("")
        budgeted = plan_actions(ws, run_id, AS_OF, config=load_config(overrides={"act": {"budget": 5000.0}}),
                                seed=0, write=False).actions
        m2 = gt.merge(budgeted[["customer_id", "campaign"]], on="customer_id", how="left").fillna(
            {"campaign": "(none)"})
        tab2 = pd.crosstab(m2["persona"], m2["campaign"])
        show2 = tab2.div(tab2.sum(axis=1), axis=0).map(lambda v: f"{v:.0%}" if v else "")
        out += ["With a budget of 5,000 (greedy by expected value per cost: cheap e-mails to valuable customers "
                "first):", "", md_table(show2.reset_index()), ""]

        # budget and control shares
        summ = plan_summary(ws, run_id)
        out += ["**Plan summary** (`shopseg plan`):", "", md_table(summ.drop(columns="run_id"), "{:.2f}"), ""]
        budgets = {"none (default)": float(cfg["act.budget"]), "5000": 5000.0, "500": 500.0}
        rows = []
        for label, b in budgets.items():
            p = plan_actions(ws, run_id, AS_OF, config=load_config(overrides={"act": {"budget": b}}), seed=0,
                             write=False).actions
            shares = p.groupby("campaign")["group"].apply(lambda s: (s == "control").mean())
            worst = max(abs(shares[c] - 0.1) for c in shares.index if (p["campaign"] == c).sum() >= 100) \
                if len(shares) else 0.0
            rows.append({"budget": label, "actions": len(p), "spend": round(p["cost"].sum(), 2),
                         "within budget": b == 0 or p["cost"].sum() <= b,
                         "largest control-share error (campaigns >= 100)": f"{worst * 100:.2f} points"})
        out += ["**Budget and control groups:**", "", md_table(pd.DataFrame(rows)), ""]

        # planted uplift, recovered by measure()
        rng = np.random.default_rng(2024)
        base, u = 0.08, 0.04
        p_resp = np.where(a["group"] == "treatment", base + u, base)
        resp = pd.DataFrame({"customer_id": a["customer_id"], "campaign": a["campaign"],
                             "responded": rng.random(len(a)) < p_resp})
        resp["revenue"] = np.where(resp["responded"], rng.gamma(2.0, 30.0, len(a)), 0.0)
        rep = measure(ws, run_id, responses=resp, config=cfg, write=False)
        top_rep = rep[(rep["segment"] == "all") & (rep["variant"] == "all")][
            ["campaign", "n_treatment", "n_control", "rate_treatment", "rate_control", "uplift", "uplift_low",
             "uplift_high"]].copy()
        top_rep["covers 0.04"] = (top_rep["uplift_low"] <= u) & (u <= top_rep["uplift_high"])
        out += [f"**Planted uplift** (treatment responds at {base:.0%} + {u:.0%}, control at {base:.0%}; Newcombe 95%):",
                "", md_table(top_rep), ""]

        # the next plan uses what was measured instead of the prior
        measure(ws, run_id, responses=resp, config=cfg)
        later = datetime(2025, 3, 31, 23, 59, 59)  # past every cooldown
        nxt = plan_actions(ws, run_id + 1, later, config=cfg, seed=0, write=False).actions
        before = a[a["group"] == "treatment"].groupby("campaign")["uplift"].mean()
        after = nxt[nxt["group"] == "treatment"].groupby("campaign").agg(
            uplift=("uplift", "mean"), source=("uplift_source", "first"),
            treated=("customer_id", "size"), expected_value=("expected_value", "sum"))
        ev_before = a[a["group"] == "treatment"].groupby("campaign")["expected_value"].sum()
        moved = pd.DataFrame({"prior uplift": before, "measured uplift": top_rep.set_index("campaign")["uplift"],
                              "next plan's uplift": after["uplift"], "treated before": a[a["group"] == "treatment"]
                              .groupby("campaign").size(), "treated next": after["treated"],
                              "expected value before": ev_before, "expected value next": after["expected_value"]})
        out += [f"**The next plan** (a run as of {later:%Y-%m-%d}, same customers) plans with the measured uplift "
                f"combined with the prior by precision, not the prior {before.mean():.3f}:", "",
                md_table(moved.reset_index(names="campaign")), "",
                "Source of the next plan's value, e.g.: `" + str(after["source"].iloc[0]) + "`", ""]

        # Thompson sampling: run 2 after run 1's responses favour one vip variant
        offers = cfg["act.campaigns.vip.offers"]
        good = offers[1]
        p_var = np.where(a["group"] == "control", 0.05, np.where(a["variant"] == good, 0.25, 0.05))
        resp2 = pd.DataFrame({"customer_id": a["customer_id"], "campaign": a["campaign"],
                              "responded": rng.random(len(a)) < p_var})
        measure(ws, run_id, responses=resp2, config=cfg)
        run2 = start_run(ws, datetime(2025, 3, 31, 23, 59, 59), cfg, 0)
        ws.con.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", [run2])
        for t in ("customer_features", "segments", "churn_scores", "clv"):  # same customers, later date
            cols = ", ".join(f'"{c}"' for c in ws.columns(t) if c != "run_id")
            ws.con.execute(f'INSERT INTO "{t}" BY NAME SELECT {run2} AS run_id, {cols} FROM "{t}" WHERE run_id = ?',
                           [run_id])
        a2 = plan_actions(ws, run2, datetime(2025, 3, 31, 23, 59, 59), config=cfg, seed=0).actions
        v1 = a[(a["campaign"] == "vip") & (a["group"] == "treatment")]["variant"].value_counts(normalize=True)
        v2 = a2[(a2["campaign"] == "vip") & (a2["group"] == "treatment")]["variant"].value_counts(normalize=True)
        out += [f"**Thompson sampling** (vip offers; run 1 responses: '{good}' 25%, the other 5%): share of "
                f"'{good}' among treated vip customers: run 1 {v1.get(good, 0):.0%} -> run 2 {v2.get(good, 0):.0%} "
                f"(control share in run 2: {(a2[a2['campaign'] == 'vip']['group'] == 'control').mean():.1%}).", ""]
        ex = a2[(a2["campaign"] == "vip") & (a2["group"] == "treatment")]["reason"].iloc[0]
        out += ["Example reason: `" + ex + "`", ""]

        # recommendations on the demo shop
        from shopseg.recommend import evaluate_time_split

        t0 = time.perf_counter()
        ev = evaluate_time_split(ws, datetime(2024, 10, 1, 23, 59, 59), AS_OF)
        ev2 = evaluate_time_split(ws, datetime(2024, 10, 1, 23, 59, 59), AS_OF, methods=("collaborative", "blend"),
                                  collaborative="cooccurrence")
        evs = pd.concat([ev, ev2.assign(method=ev2["method"].replace({"blend": "blend (item_item)"}))])
        out += [f"**Recommendations on the demo shop** (train to 2024-10-01, test the last 91 days; "
                f"{time.perf_counter() - t0:.0f} s):", "",
                md_table(evs[["method", "users", "precision", "recall", "ndcg", "coverage", "seconds"]], "{:.4f}"), ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
