"""Real shops: per shop and prediction, the candidate a run uses, its backtest figure, the baseline's, the
decision, and the buyers left with a NULL output (must be 0).  Results: docs/benchmarks.md, "Real shops".

Shops: UCI Online Retail as of 2011-09-09 and 2011-12-09, Olist, CDNOW raw purchases, and two generated
shapes (tiny: 50 customers; low-repeat: a synth shop keeping each customer's first order only, plus 3% of
customers' repeat orders).  Each shop is ingested into a fresh workspace under ``--work`` and runs the
``clv``, ``segments`` and ``churn`` stages; nothing is written next to the data.

    PYTHONPATH=src .venv/bin/python evals/real_shops.py --data ../shared/data --work /tmp/real-shops

Skips a shop whose data is absent, with a message.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

import pandas as pd


def _ws(work: Path, name: str):
    from shopseg import open_workspace

    p = work / name
    shutil.rmtree(p, ignore_errors=True)
    return open_workspace(p)


def _cdnow(ws, path: Path) -> None:
    d = pd.read_csv(path, sep=r"\s+", header=0, names=["customer_id", "day", "cds", "dollars"], dtype=str)
    d["ordered_at"] = pd.to_datetime(d["day"], format="%Y%m%d")
    d["order_id"] = [f"o{i}" for i in range(len(d))]
    d["value"] = d["dollars"].astype(float)
    ws.con.register("cd", d)
    ws.con.execute("INSERT INTO customers (customer_id) SELECT DISTINCT customer_id FROM cd")
    ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind) "
                   "SELECT order_id, customer_id, ordered_at, 'sale' FROM cd")
    ws.con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) "
                   "SELECT order_id, 1, 'cd', 1, value FROM cd")
    ws.con.unregister("cd")


def _low_repeat(ws, seed: int = 5) -> None:
    from shopseg.synth import synthesize

    synthesize(ws, customers=2000, seed=seed, as_of="2024-06-30")
    # keep every customer's first order and the repeat orders of 3% of customers: an Olist-like shape
    ws.con.execute("""DELETE FROM orders WHERE order_id IN (
        SELECT order_id FROM (SELECT order_id, customer_id,
               row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS k FROM orders)
        WHERE k > 1 AND hash(customer_id) % 100 >= 3)""")
    ws.con.execute("DELETE FROM order_lines WHERE order_id NOT IN (SELECT order_id FROM orders)")


def shops(data: Path):
    """(name, as_of, loader) per shop; loader(ws) fills the workspace or returns a reason to skip."""
    from shopseg import ingest
    from shopseg.synth import synthesize

    orp = data / "online_retail" / "online_retail.parquet"
    for as_of in ("2011-09-09", "2011-12-09"):
        yield (f"online_retail@{as_of}", as_of,
               (lambda ws: ingest(ws, orp, preset="online-retail")) if orp.exists() else f"{orp} absent")
    ol = data / "olist"
    yield "olist", None, (lambda ws: ingest(ws, ol, preset="olist")) if ol.exists() else f"{ol} absent"
    cd = data / "cdnow" / "CDNOW_master.txt"
    yield "cdnow", "1998-06-30", (lambda ws: _cdnow(ws, cd)) if cd.exists() else f"{cd} absent"
    yield "tiny_50", "2024-06-30", lambda ws: synthesize(ws, customers=50, seed=1, as_of="2024-06-30")
    yield "low_repeat", "2024-06-30", _low_repeat


def evaluate(ws, name: str, as_of) -> list[dict]:
    from shopseg.pipeline import run_pipeline
    from shopseg.refit import decisions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_pipeline(ws, pd.Timestamp(as_of) if as_of else None, stages=["clv", "segments", "churn"])
    d = decisions(ws, res.run_id)
    nulls = ws.scalar("SELECT count(*) FROM clv WHERE run_id = ? AND (clv IS NULL OR expected_purchases_90d IS NULL "
                      "OR expected_purchases_horizon IS NULL OR p_alive IS NULL)", [res.run_id]) \
        if ws.has_table("clv") else None
    prospects = ws.scalar("SELECT count(*) FROM segments s WHERE run_id = ? AND scheme = 'value_tier' AND "
                          "segment = 'Prospect' AND customer_id IN (SELECT customer_id FROM orders WHERE kind = 'sale' "
                          "AND ordered_at <= (SELECT as_of FROM runs WHERE run_id = ?))", [res.run_id, res.run_id]) \
        if ws.has_table("segments") else None
    rows = []
    for r in d.itertuples(index=False):
        if r.model == "cluster":
            continue
        rows.append({"shop": name, "prediction": r.model, "used": r.candidate, "metric": r.metric,
                     "model": r.model_value, "baseline": r.baseline_value, "null_buyers": nulls,
                     "buyers_in_prospect": prospects, "decision": r.decision})
    for st in ("clv", "churn"):
        s = res.stages.get(st, {})
        if s.get("status") != "done":
            rows.append({"shop": name, "prediction": st, "used": None, "decision": f"{s.get('status')}: {s.get('note')}"})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/real-shops"))
    ap.add_argument("--only", default=None, help="Comma-separated shop names.")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    out = []
    for name, as_of, load in shops(args.data):
        if args.only and name not in args.only.split(","):
            continue
        if isinstance(load, str):
            print(f"skip {name}: {load}", file=sys.stderr)
            continue
        ws = _ws(args.work, name.replace("@", "_"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(ws)
        rows = evaluate(ws, name, as_of)
        ws.close()
        for r in rows:
            print(f"{name} / {r['prediction']}: used {r['used']}, {r.get('metric')} model {r.get('model')} "
                  f"baseline {r.get('baseline')}; null buyers {r.get('null_buyers')}; buyers in Prospect "
                  f"{r.get('buyers_in_prospect')}", file=sys.stderr, flush=True)
        out += rows
    df = pd.DataFrame(out)
    with pd.option_context("display.max_colwidth", 400, "display.width", 250):
        print(df.drop(columns=["decision"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        for r in df.itertuples(index=False):
            print(f"{r.shop} / {r.prediction}: {r.decision}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
