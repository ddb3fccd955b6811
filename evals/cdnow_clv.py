"""Reproduce the published CDNOW CLV numbers, from raw transactions through the workspace.

Data: ``cdnow/CDNOW_sample.txt`` (the 1/10 sample of CDNOW's 1997 cohort, 2,357 customers,
columns master_id sample_id yyyymmdd cds dollars) and Hardie's calibration summary
``cdnow/cdnow_customers_summary_with_transactions.csv`` (weeks, calibration to 1997-09-30),
both as shipped in the MIT-licensed lifetimes package.  Steps:

1. load the raw purchases into a fresh shopseg workspace as orders (one line each);
2. ``summary_from_orders(ws, "1997-09-30", time_unit="W")`` and compare it with Hardie's file;
3. fit BG/NBD, Pareto/NBD and Gamma-Gamma and compare with the published estimates
   (Fader, Hardie & Lee 2005; Fader & Hardie 2013);
4. predict repeat purchase days in the 39-week holdout (1997-10-01 to 1998-06-30) and
   compare with what the customers did.

    python evals/cdnow_clv.py [DATA_DIR]     # DATA_DIR defaults to ../shared/data
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from shopseg.predict import BGNBD, GammaGamma, ParetoNBD, summary_from_orders
from shopseg.workspace import Workspace

PUBLISHED = {
    "BG/NBD": ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, -9582.4),
    "Pareto/NBD": ({"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}, -9595.0),
    "Gamma-Gamma": ({"p": 6.25, "q": 3.74, "v": 15.44}, None),
}
CALIBRATION_END = "1997-09-30"
HOLDOUT_WEEKS = 39.0


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_sample(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "sample_id", "date", "cds", "dollars"],
                      dtype={"master_id": str, "sample_id": str, "date": str})
    raw["ordered_at"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw["order_id"] = [f"o{i}" for i in range(len(raw))]
    return raw


def main(data_dir: Path | None = None) -> str | None:
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    sample = data_dir / "cdnow" / "CDNOW_sample.txt"
    summary_csv = data_dir / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
    if not sample.exists() or not summary_csv.exists():
        return None
    raw = load_sample(sample)
    hardie = pd.read_csv(summary_csv)
    out = ["## CDNOW: published CLV numbers reproduced", ""]
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        ws.con.register("raw", raw)
        ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind) "
                       "SELECT order_id, sample_id, ordered_at, 'sale' FROM raw")
        ws.con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) "
                       "SELECT order_id, 1, 'cd', 1, dollars FROM raw")
        s = summary_from_orders(ws, CALIBRATION_END, time_unit="W")
        # holdout: purchase days after the calibration end, per customer
        holdout = ws.df("SELECT customer_id, count(DISTINCT CAST(ordered_at AS DATE)) AS n FROM orders "
                        "WHERE ordered_at > ? GROUP BY customer_id", [pd.Timestamp(CALIBRATION_END)])
    # customer_id is the zero-padded sample_id, which is the ID column of Hardie's file
    same = {c: np.allclose(s[c].to_numpy(), hardie[h].to_numpy(), atol=0.006)
            for c, h in (("frequency", "x"), ("recency", "t_x"), ("T", "T"), ("monetary_value", "zbar"))}
    out.append(f"Summary from raw orders vs Hardie's file ({len(s)} vs {len(hardie)} customers): "
               + ", ".join(f"{c} {'equal' if ok else 'DIFFERENT'}" for c, ok in same.items())
               + " (to the file's 2 decimals).")
    f, r, T, m = (s[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    bg = BGNBD(time_unit="W").fit(f, r, T)
    pn = ParetoNBD(time_unit="W").fit(f, r, T)
    rep = (f > 0) & (m > 0)
    gg = GammaGamma().fit(f[rep], m[rep])
    out += ["", "| model | parameter | published | shopseg |", "|---|---|---|---|"]
    for label, model in (("BG/NBD", bg), ("Pareto/NBD", pn), ("Gamma-Gamma", gg)):
        params, ll = PUBLISHED[label]
        for k, v in params.items():
            out.append(f"| {label} | {k} | {v} | {model.params_[k]:.4f} |")
        out.append(f"| {label} | log-likelihood | {ll if ll is not None else '-'} | {model.log_likelihood_:.2f} |")
    actual = s[["customer_id"]].merge(holdout, on="customer_id", how="left")["n"].fillna(0).to_numpy(float)
    out += ["", f"Holdout ({HOLDOUT_WEEKS:g} weeks after {CALIBRATION_END}), repeat purchase days:", "",
            "| model | predicted total | actual total | mean abs. error per customer | correlation |",
            "|---|---|---|---|---|"]
    for label, model in (("BG/NBD", bg), ("Pareto/NBD", pn)):
        pred = model.expected_purchases(HOLDOUT_WEEKS, f, r, T)
        out.append(f"| {label} | {pred.sum():.0f} | {actual.sum():.0f} | {np.mean(np.abs(pred - actual)):.3f} | "
                   f"{np.corrcoef(pred, actual)[0, 1]:.3f} |")
    spend = gg.expected_order_value(np.where(rep, f, 0), np.where(rep, m, 0))
    out += ["", f"Gamma-Gamma population mean spend per purchase day: "
            f"{gg.params_['p'] * gg.params_['v'] / (gg.params_['q'] - 1):.2f} (observed mean of repeat "
            f"customers' mean spend {m[rep].mean():.2f}); expected spend ranges {spend.min():.2f}-{spend.max():.2f}."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    arg = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    report = main(arg)
    if report is None:
        where = arg or default_data_dir()
        print(f"SKIPPED: CDNOW data not found under {where}/cdnow (need CDNOW_sample.txt and "
              "cdnow_customers_summary_with_transactions.csv). Pass the data folder as the first argument.")
        sys.exit(0)
    print(report)
