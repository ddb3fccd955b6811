"""CLV, expected purchases and P(alive) as the clv stage chooses them at a past as_of, against what followed.

For each shop the stage runs as of a date with a holdout after it, with ``horizon_days`` = the holdout's length
and no discounting, so a customer's ``clv`` is their predicted spend in the holdout and ``expected_purchases_horizon``
their predicted purchase days in it; they are compared with what they did there: the chosen model, the holdout's
normalised Gini (CLV) and ROC-AUC of "bought in the holdout" (purchases), predicted and actual totals, the decile
calibration (mean absolute gap per decile of prediction / actual total), and the CLV's distribution (max, median,
share of buyers whose CLV another buyer shares).  P(alive) (``--figure p_alive``) is the probability of a purchase in
the next W days (the validation window, ``clv.backtest_days`` at most half the history) for the repeat model and the
baseline, so it is compared with the first W days of the holdout: ROC-AUC, mean probability against the share who
bought, Brier score (a transaction model's P(alive) is the probability of being alive: its figures are shown, not
comparable).  Results: docs/clv.md, "CLV as money" and "Purchases and P(alive) on level".

    PYTHONPATH=src .venv/bin/python evals/clv_money.py --data ../shared/data --work /tmp/clv-money [--only olist]
        [--figure clv,expected_purchases,p_alive]

Shops: Online Retail as of 2011-09-09 (91 days after) and 2011-06-09 (183), Olist as of 2018-03-04 (183),
CDNOW raw purchases as of 1997-09-30 (273: Hardie's calibration split), the demo shop (``shopseg.synth``, 20,000
customers, 730 days to 2024-12-31) as of 2024-06-30 (184).  Skips a shop whose data is absent, with a message.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SHOPS = [("online_retail", "2011-09-09", 91), ("online_retail", "2011-06-09", 183), ("olist", "2018-03-04", 183),
         ("cdnow", "1997-09-30", 273), ("demo", "2024-06-30", 184)]


def _load(ws, shop: str, data: Path) -> str | None:
    from shopseg import ingest

    if shop == "online_retail":
        p = data / "online_retail" / "online_retail.parquet"
        if not p.exists():
            return f"{p} absent"
        ingest(ws, p, preset="online-retail")
    elif shop == "olist":
        if not (data / "olist").exists():
            return f"{data / 'olist'} absent"
        ingest(ws, data / "olist", preset="olist")
    elif shop == "cdnow":
        p = data / "cdnow" / "CDNOW_master.txt"
        if not p.exists():
            return f"{p} absent"
        sys.path.insert(0, str(Path(__file__).parent))
        from real_shops import _cdnow

        _cdnow(ws, p)
    else:
        from shopseg.synth import synthesize

        synthesize(ws, customers=20000, seed=42, as_of="2024-12-31")
    return None


FIGURES = ("clv", "expected_purchases", "p_alive")
SOURCE_KEYS = {"clv": "clv", "expected_purchases": "purchases", "p_alive": "p_alive"}


def figures(ws, as_of: str, days: int, seed: int = 0, which=FIGURES) -> dict:
    """Run the clv stage as of ``as_of`` with a ``days`` horizon, undiscounted, and measure each figure of ``which``
    on what followed: {figure: {its measures, "model", "decision"}}."""
    from shopseg.predict import _clv_backtest as B
    from shopseg.predict._clv_select import window_days
    from shopseg.predict.clv import clv_table

    ts = pd.Timestamp(as_of) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)  # the end of the as-of day
    res = clv_table(ws, 1, ts, horizon_days=float(days), discount_rate_annual=0.0, seed=seed, save_models=False)
    pred = ws.con.execute("SELECT customer_id, clv, expected_purchases_horizon, p_alive, model FROM clv "
                          "WHERE run_id = 1 ORDER BY customer_id").df()
    source = dict(p.strip().split("=", 1) for p in pred["model"].iloc[0].split(";"))
    ch = {c.prediction: c for c in res.choices}
    one = np.ones((1, len(pred)), np.uint8)

    def outcome(after_days: float) -> pd.DataFrame:
        out = B.window_outcomes(ws.con, ts.to_pydatetime(), (ts + pd.Timedelta(days=after_days)).to_pydatetime())
        return pred.merge(out[["customer_id", "days_after", "spend_after"]], on="customer_id", how="left").fillna(
            {"days_after": 0.0, "spend_after": 0.0})

    d = outcome(days)
    got = {}
    for fig in which:
        f = {"model": source[SOURCE_KEYS[fig]], "decision": ch[fig].decision, "buyers": len(d)}
        if fig == "clv":
            p, a = d["clv"].to_numpy(float), d["spend_after"].to_numpy(float)
            counts = pd.Series(p).value_counts()
            f.update({"gini": float(B.gini_resampled(a, p, one)[0]), "pred_total": float(p.sum()),
                      "actual_total": float(a.sum()), "decile_cal": B.decile_calibration(p, a), "max": float(p.max()),
                      "median": float(np.median(p)), "tied": float(counts[counts > 1].sum() / len(p)),
                      "largest_tie": float(counts.iloc[0] / len(p))})
        elif fig == "expected_purchases":
            p, a = d["expected_purchases_horizon"].to_numpy(float), d["days_after"].to_numpy(float)
            f.update({"roc_auc": float(B.auc_resampled((a > 0).astype(int), p, one)[0]), "pred_total": float(p.sum()),
                      "actual_total": float(a.sum()), "decile_cal": B.decile_calibration(p, a),
                      "poisson_deviance": float(B.poisson_deviance(p, a).mean())})
        else:
            W, _ = window_days(ws.con, ts, 90.0)
            dw = outcome(W)
            p, a = dw["p_alive"].to_numpy(float), (dw["days_after"].to_numpy(float) > 0).astype(float)
            f.update({"window_days": W, "roc_auc": float(B.auc_resampled(a.astype(int), p, one)[0]),
                      "mean_p": float(p.mean()), "share_bought": float(a.mean()), "brier": float(((p - a) ** 2).mean()),
                      "decile_cal": B.decile_calibration(p, a)})
        got[fig] = f
    return got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/clv-money"))
    ap.add_argument("--only", default=None, help="Comma-separated shop names.")
    ap.add_argument("--figure", default=",".join(FIGURES), help="Comma-separated: clv, expected_purchases, p_alive.")
    args = ap.parse_args(argv)
    which = [f for f in args.figure.split(",") if f]
    from shopseg import open_workspace

    args.work.mkdir(parents=True, exist_ok=True)
    rows = {f: [] for f in which}
    for shop, as_of, days in SHOPS:
        if args.only and shop not in args.only.split(","):
            continue
        path = args.work / shop
        if not (path / "loaded").exists():
            shutil.rmtree(path, ignore_errors=True)
            ws = open_workspace(path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                why = _load(ws, shop, args.data)
            if why:
                print(f"skip {shop}: {why}", file=sys.stderr)
                ws.close()
                continue
            (path / "loaded").touch()
        else:
            ws = open_workspace(path)
        ws.con.execute("DELETE FROM clv WHERE run_id = 1") if ws.has_table("clv") else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = figures(ws, as_of, days, which=which)
        ws.close()
        for fig, f in got.items():
            rows[fig].append({"shop": f"{shop}@{as_of}+{days}d", **f})
            print(f"{rows[fig][-1]['shop']} {fig}: {f['model']}; {f['decision']}", file=sys.stderr, flush=True)
    for fig, r in rows.items():
        print(f"\n{fig}")
        with pd.option_context("display.width", 250):
            print(pd.DataFrame(r).drop(columns=["decision"]).to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
