"""Evaluation: the association rules' backtest against popularity (docs/baskets.md, "Backtest").

On Groceries (no dates: the file's order, first 75 % of the baskets before the "cutoff", and a seeded random
75 / 25 split) and on any ingested workspaces given with ``--workspace`` (the baskets stage's own split: the
last ``baskets.backtest_days`` before ``--as-of``).  Prints the decision sentence and the figures; default
``[baskets]`` settings.

    .venv/bin/python evals/rules_backtest.py [DATA_DIR] [--workspace WS [--as-of DATE]]...

DATA_DIR defaults to ../shared/data relative to the repository; Groceries is skipped with a message when absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--workspace", action="append", default=[], help="an ingested workspace (repeatable)")
    ap.add_argument("--as-of", action="append", default=[], help="its as_of (default: its last sale order)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np

    from shopseg.basket import baskets_from_transactions
    from shopseg.basket._backtest import backtest_split, backtest_workspace
    from shopseg.basket._baskets import baskets_from_workspace
    from shopseg.basket._tables import _Params
    from shopseg.config import load_config

    cfg = load_config()
    p = _Params(cfg)
    s = {k: cfg[f"baskets.backtest_{k}"] for k in ("top_k", "resamples", "confidence", "max_baskets")}

    def show(name, res, seconds):
        print(f"{name} ({seconds:.2f} s): {res.sentence()}")
        print("   ", json.dumps({k: res.notes().get(k) for k in ("popularity_hit_rate_all", "top_rule")}))

    path = Path(args.data_dir) / "groceries" / "groceries.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            tx = [[x for x in row if x] for row in csv.reader(f)]
        b = baskets_from_transactions(tx)
        n = b.n_baskets
        cut = int(0.75 * n)
        perm = np.random.default_rng(args.seed).permutation(n)
        for name, tr, te in (("Groceries, file order 75 / 25", np.arange(cut), np.arange(cut, n)),
                             (f"Groceries, random 75 / 25 (seed {args.seed})", np.sort(perm[:cut]), np.sort(perm[cut:]))):
            t = time.perf_counter()
            res = backtest_split(b, tr, te, params=p, seed=args.seed, **s)
            show(name, res, time.perf_counter() - t)
    else:
        print(f"Groceries not found at {path}: skipped.")

    from shopseg.workspace import open_workspace

    for i, w in enumerate(args.workspace):
        ws = open_workspace(w)
        try:
            as_of = args.as_of[i] if i < len(args.as_of) else str(ws.scalar(
                "SELECT max(ordered_at) FROM orders WHERE kind = 'sale'"))
            t = time.perf_counter()
            shop = baskets_from_workspace(ws, as_of=as_of, unit="order")
            res = backtest_workspace(ws, shop, as_of=as_of, params=p, config=cfg, seed=args.seed)
            show(f"{w} as of {as_of}", res, time.perf_counter() - t)
        finally:
            ws.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
