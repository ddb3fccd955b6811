"""Next-basket recommendations on UCI Online Retail, time split: train up to 2011-09-09, test after.

Ingests ``online_retail/online_retail.parquet`` (``shopseg.ingest(..., preset='online-retail')``)
into a temporary workspace, trains on the sale orders up to 2011-09-09 23:59:59 and judges each
method's top 10 against every product each returning customer bought after it (to 2011-12-09),
repeats included, and separately against the repeat part (products they bought before, ranked
among those) and the new part (products they never bought, ranked among those): recall@10,
NDCG@10, hit@10 and catalogue coverage.  Baselines in the same run: shop popularity of the last
``recommend.popularity_days`` days, each customer's most-bought products ("buy it again"),
TIFU-KNN (Hu et al. 2020) and today's explore blend (never repeats).

    python evals/online_retail_recommend.py [DATA_DIR] [--workspace WS]   # default ../shared/data

With ``--workspace`` an already ingested workspace is read (not written).  Prints a Markdown
section; exits with a message when the file is absent.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import shopseg
from shopseg.recommend import evaluate_time_split
from shopseg.workspace import Workspace

SPLIT = "2011-09-09 23:59:59"
LABELS = {"popularity": "popularity, last 90 days", "buy_again": "buy it again (own top frequency)",
          "tifu_knn": "TIFU-KNN (Hu et al. 2020)", "blend": "today's explore blend (ALS + content + rules + popularity)",
          "next_basket": "**next basket** (this model)"}


def _table(df: pd.DataFrame) -> list[str]:
    base = df.set_index("method")
    pop, again = base.loc["popularity", "ndcg"], base.loc["buy_again", "ndcg"]
    lines = ["| recommender | recall@10 | NDCG@10 | hit@10 | coverage | NDCG vs popularity | vs buy-again | "
             "repeat NDCG@10 | new recall@10 | new NDCG@10 | new hit@10 | repeats in top 10 | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df.itertuples():
        lines.append(f"| {LABELS.get(r.method, r.method)} | {r.recall:.3f} | {r.ndcg:.3f} | {r.hit:.3f} | "
                     f"{r.coverage:.3f} | {r.ndcg / pop:.2f}x | {r.ndcg / again:.2f}x | {r.repeat_ndcg:.3f} | "
                     f"{r.new_recall:.3f} | {r.new_ndcg:.3f} | {r.new_hit:.3f} | {r.repeat_share:.0%} | {r.seconds:.1f} |")
    return lines


def evaluate(ws) -> str:
    df = evaluate_time_split(ws, SPLIT, k=10)
    b = df.set_index("method")
    nb, pop, again, blend = (b.loc[m] for m in ("next_basket", "popularity", "buy_again", "blend"))
    out = [f"Returning customers: {int(nb['users']):,} (with a repeat in the target: {int(nb['repeat_users']):,}; "
           f"with a new product: {int(nb['new_users']):,}).", "", *_table(df), "",
           f"Targets: NDCG@10 >= 1.05x buy-again ({nb['ndcg'] / again['ndcg']:.2f}x: "
           f"{'met' if nb['ndcg'] >= 1.05 * again['ndcg'] else 'NOT met'}), >= 3x popularity "
           f"({nb['ndcg'] / pop['ndcg']:.2f}x: {'met' if nb['ndcg'] >= 3 * pop['ndcg'] else 'NOT met'}); new part "
           f"not worse than the blend (NDCG@10 {nb['new_ndcg']:.4f} vs {blend['new_ndcg']:.4f}: "
           f"{'met' if nb['new_ndcg'] >= blend['new_ndcg'] - 1e-12 else 'NOT met'}).",
           f"Learned on the inner split (train to 2011-06-11, target the 90 days to the split): mix "
           f"{b.loc['next_basket', 'learned']}; TIFU-KNN {b.loc['tifu_knn', 'learned']}."]
    return "\n".join(out)


def main(data_dir: str | Path | None = None, workspace: str | None = None) -> str:
    out = ["### UCI Online Retail: train to 2011-09-09, target every product bought 2011-09-10 to 2011-12-09", ""]
    if workspace:
        with Workspace.open(workspace) as ws:
            out.append(evaluate(ws))
        return "\n".join(out)
    root = Path(data_dir) if data_dir else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    path = root / "online_retail" / "online_retail.parquet"
    if not path.exists():
        sys.exit(f"UCI Online Retail not found at {path}: pass the data folder as the first argument.")
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        t0 = time.perf_counter()
        shopseg.ingest(ws, str(path), preset="online-retail")
        out.append(f"Ingest: {time.perf_counter() - t0:.0f} s; {ws.count('orders'):,} orders, "
                   f"{ws.count('products'):,} products.")
        out.append(evaluate(ws))
    return "\n".join(out)


if __name__ == "__main__":
    args = sys.argv[1:]
    ws_arg = None
    if "--workspace" in args:
        i = args.index("--workspace")
        ws_arg = args[i + 1]
        del args[i:i + 2]
    print(main(args[0] if args else None, ws_arg))
