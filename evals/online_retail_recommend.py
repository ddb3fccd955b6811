"""Recommendations on UCI Online Retail, time split: train up to 2011-09-09, test after.

Ingests ``online_retail/online_retail.parquet`` (``shopseg.ingest(..., preset='online-retail')``)
into a temporary workspace, trains every source on the sale orders up to 2011-09-09 23:59:59 and
evaluates on the products each returning customer bought for the first time after it
(to 2011-12-09): precision@10, recall@10, NDCG@10 and catalogue coverage, against the popularity
baseline (shop popularity of the last ``recommend.popularity_days`` before the split, bought
products excluded like for every method).

    python evals/online_retail_recommend.py [DATA_DIR]     # default ../shared/data

Prints a Markdown section; exits with a message when the file is absent.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import shopseg
from shopseg.recommend import evaluate_time_split, has_implicit
from shopseg.workspace import Workspace

SPLIT = "2011-09-09 23:59:59"


def main(data_dir: str | Path | None = None) -> str:
    root = Path(data_dir) if data_dir else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    path = root / "online_retail" / "online_retail.parquet"
    if not path.exists():
        sys.exit(f"UCI Online Retail not found at {path}: pass the data folder as the first argument.")
    out = ["### UCI Online Retail: train to 2011-09-09, test 2011-09-10 to 2011-12-09", ""]
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        t0 = time.perf_counter()
        shopseg.ingest(ws, str(path), preset="online-retail")
        out.append(f"Ingest: {time.perf_counter() - t0:.0f} s; {ws.count('orders'):,} orders, "
                   f"{ws.count('products'):,} products.")
        res = [evaluate_time_split(ws, SPLIT, k=10)]
        res.append(evaluate_time_split(ws, SPLIT, k=10, methods=("collaborative", "blend"),
                                       collaborative="cooccurrence"))
        res[-1]["method"] = res[-1]["method"].replace({"blend": "blend (item_item)"})
        if has_implicit():
            res[0]["method"] = res[0]["method"].replace({"blend": "blend (als)"})
        df = pd.concat(res, ignore_index=True)
    base = df.loc[df["method"] == "popularity", "ndcg"].iloc[0]
    lines = ["| method | users | precision@10 | recall@10 | NDCG@10 | coverage | NDCG vs popularity | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df.itertuples():
        lines.append(f"| {r.method} | {r.users:,} | {r.precision:.4f} | {r.recall:.4f} | {r.ndcg:.4f} | "
                     f"{r.coverage:.3f} | {r.ndcg / base:.2f}x | {r.seconds:.1f} |")
    out += ["", *lines, ""]
    blend = df[df["method"].str.startswith("blend")]
    verdict = "beats" if (blend["ndcg"] > base).all() else "does NOT beat"
    out.append(f"The blend {verdict} the popularity baseline on NDCG@10 "
               f"({', '.join(f'{m} {v:.4f}' for m, v in zip(blend['method'], blend['ndcg']))} vs {base:.4f}).")
    return "\n".join(out)


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))
