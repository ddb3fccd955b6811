"""Learning curve of the ALS customer sample (``recommend.als_customers``) on a time split of a workspace.

ALS's product factors are learned from a seeded sample of customers when the shop has more than
``recommend.als_customers`` of them; every scored customer's factors are then solved against those
product factors.  This script judges, on the time split of ``evals/online_retail_recommend.py`` (train
up to 2011-09-09, target every product each returning customer bought after it), the collaborative
source alone ("collaborative (als)": products the customer never bought, ranked by ALS), the explore
blend and the next-basket model for each sample size, against the same models on every customer
(size 0), with the ALS fit's CPU seconds.  NDCG@10 on the whole target and on its new part (products
the customer never bought: what ALS is for).

    python evals/recommend_als_sample.py WORKSPACE [--sizes 500,1000,2000,0] [--split "2011-09-09 23:59:59"]

WORKSPACE is an ingested workspace (Online Retail with the ``online-retail`` preset, or its x10 copy
from ``benchmarks/bench_scale.py``); it is read, not written.  Prints a Markdown table.
"""

from __future__ import annotations

import sys
import time

from shopseg.config import load_config
from shopseg.recommend import evaluate_time_split
from shopseg.workspace import Workspace

SPLIT = "2011-09-09 23:59:59"
METHODS = ("collaborative", "blend", "next_basket")


def curve(ws, sizes, split: str = SPLIT) -> str:
    lines = ["| ALS customers | method | users | NDCG@10 | new NDCG@10 | new recall@10 | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for n in sizes:
        cfg = load_config(overrides={"recommend": {"als_customers": n}})
        t0 = time.process_time()
        df = evaluate_time_split(ws, split, k=10, config=cfg, methods=METHODS)
        cpu = time.process_time() - t0
        for r in df.itertuples():
            lines.append(f"| {n if n else 'all'} | {r.method} | {r.users:,} | {r.ndcg:.4f} | {r.new_ndcg:.4f} | "
                         f"{r.new_recall:.4f} | {r.seconds:.1f} |")
        lines.append(f"| {n if n else 'all'} | (process CPU for the three) | | | | | {cpu:.1f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def main(argv: list[str]) -> str:
    if not argv or argv[0].startswith("--"):
        sys.exit("usage: python evals/recommend_als_sample.py WORKSPACE [--sizes 500,1000,2000,0] [--split DATE]")
    sizes = [int(x) for x in argv[argv.index("--sizes") + 1].split(",")] if "--sizes" in argv else [500, 1000, 2000, 0]
    split = argv[argv.index("--split") + 1] if "--split" in argv else SPLIT
    with Workspace.open(argv[0]) as ws:
        n = ws.scalar("SELECT count(DISTINCT customer_id) FROM orders WHERE ordered_at <= CAST(? AS TIMESTAMP)",
                      [split])
        return f"Customers with an order up to {split}: {n:,}.\n\n" + curve(ws, sizes, split)


if __name__ == "__main__":
    print(main(sys.argv[1:]))
