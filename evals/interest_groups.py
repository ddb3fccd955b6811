"""Interests on a shop without categories (Online Retail): derived product groups, share of buyers with an
interest, named examples and lifts (docs/segments.md "Interests").

    cp -r /work/ws/online_retail /tmp/or   # a workspace made by `shopseg ingest ... --preset online-retail`
    PYTHONPATH=src .venv/bin/python evals/interest_groups.py /tmp/or --as-of 2011-12-09
"""
import argparse
import time

import pandas as pd
from shopseg.config import load_config
from shopseg.workspace import open_workspace
from shopseg.segment.interest import interests
from shopseg.segment.product_groups import derived_categories

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("workspace")
ap.add_argument("--as-of", default="2011-12-09")
ap.add_argument("--customers", nargs="*", default=["17850", "12347", "14911", "13047", "12583"])
args = ap.parse_args()
ws = open_workspace(args.workspace)
as_of = args.as_of
cfg = load_config()
t = time.perf_counter()
g = derived_categories(ws, n_groups=cfg["segments.interest.derived_groups"],
                       min_products=cfg["segments.interest.derived_min_products"])
print(f"derived groups: {g['category'].nunique()} groups over {len(g)} products in {time.perf_counter()-t:.1f}s")
print(g["category"].value_counts().to_string())
ids = ws.df("SELECT DISTINCT customer_id FROM orders WHERE kind='sale' AND customer_id IS NOT NULL "
            "AND ordered_at < ?", [pd.Timestamp(as_of).to_pydatetime()])["customer_id"]
t = time.perf_counter()
got = interests(ws, as_of, ids, cfg)
print(f"interests in {time.perf_counter()-t:.1f}s; note {got.note}")
r = got.rows
n = len(ids)
print(f"buyers {n}; with an interest {r['customer_id'].nunique()} ({r['customer_id'].nunique()/n:.1%}); "
      f"interests per holder {len(r)/max(1, r['customer_id'].nunique()):.2f}")
print("primary-interest lift: median %.2f, p10 %.2f, p90 %.2f" % tuple(
    r.loc[r['rank'] == 1, 'lift'].quantile([.5, .1, .9])))
print(got.segment.value_counts().head(12).to_string())
for c in args.customers:
    print(c, r.loc[r["customer_id"] == c, ["rank", "name", "lift", "weight"]].round(2).to_dict("records"))
