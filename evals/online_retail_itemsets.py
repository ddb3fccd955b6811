"""Evaluation: our frequent itemsets on UCI Online Retail equal mlxtend's.

Baskets are invoices (cancellations, whose InvoiceNo starts with 'C', removed),
items are StockCodes, read straight from the parquet file with DuckDB.

    .venv/bin/python evals/online_retail_itemsets.py [DATA_DIR] [--min-support 0.01]

DATA_DIR defaults to ../shared/data relative to the repository; the script
exits with a clear message when the file is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--min-support", type=float, default=0.01)
    args = ap.parse_args(argv)
    path = Path(args.data_dir) / "online_retail" / "online_retail.parquet"
    if not path.exists():
        print(f"Online Retail data not found at {path}; pass the data folder as the first argument.")
        return 2

    import duckdb
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    from shopseg.basket import frequent_itemsets

    con = duckdb.connect()
    rel = con.sql(
        f"SELECT DISTINCT InvoiceNo AS basket_id, StockCode AS item FROM read_parquet('{path}') "
        "WHERE NOT starts_with(InvoiceNo, 'C')"
    )
    t0 = time.perf_counter()
    ours = frequent_itemsets(rel, min_support=args.min_support, max_len=10)
    t_ours = time.perf_counter() - t0

    lists = [list(x) for (x,) in con.sql(
        "SELECT list(item) FROM (SELECT DISTINCT basket_id, item FROM rel) GROUP BY basket_id").fetchall()]
    te = TransactionEncoder()
    onehot = pd.DataFrame(te.fit(lists).transform(lists), columns=te.columns_)
    t0 = time.perf_counter()
    theirs = fpgrowth(onehot, min_support=args.min_support, use_colnames=True)
    t_ml = time.perf_counter() - t0

    a = {frozenset(s): round(v, 12) for s, v in zip(ours["items"], ours["support"])}
    b = {frozenset(s): round(v, 12) for s, v in zip(theirs["itemsets"], theirs["support"])}
    identical = a == b
    by_len = ours["length"].value_counts().sort_index().to_dict()
    print(f"Online Retail: {len(lists):,} invoices (cancellations removed), {onehot.shape[1]:,} stock codes, "
          f"min_support {args.min_support}")
    print(f"ours:    {len(a):,} itemsets {by_len} in {t_ours:.2f} s (from the parquet file)")
    print(f"mlxtend: {len(b):,} itemsets in {t_ml:.2f} s (fpgrowth on the one-hot frame)")
    print(f"identical itemsets and supports: {identical}")
    if not identical:
        print("only ours:", list(a.keys() - b.keys())[:5], "only mlxtend:", list(b.keys() - a.keys())[:5])
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
