"""Behavioural clusters on UCI Online Retail: the cluster profile table of docs/segments.md.

Usage::

    .venv/bin/python evals/online_retail_segments.py [DATA_DIR] [--as-of 2011-12-09] [--k N]

DATA_DIR defaults to ../shared/data relative to the repository (the file read is
``online_retail/online_retail.parquet``); without it the script exits with a
message.  Prints a Markdown report: the K curve (inertia and silhouette per K)
and one row per cluster (name, size, feature means, z-scores of the features
the name is made from).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEANS = ("frequency", "recency_days", "tenure_days", "monetary_net", "avg_order_value", "return_rate")


def report(path: Path, as_of: str, k: int) -> str:
    import shopseg
    from shopseg.config import load_config
    from shopseg.segment import segment_all
    from shopseg.workspace import open_workspace

    warnings.simplefilter("ignore")
    cfg = load_config(overrides={"segments": {"cluster": {"n_clusters": k}}} if k else None)
    with tempfile.TemporaryDirectory() as d, open_workspace(Path(d) / "ws") as ws:
        shopseg.ingest(ws, str(path), preset="online-retail")
        t0 = time.perf_counter()
        run = segment_all(ws, 1, as_of, cfg)
        secs = time.perf_counter() - t0
    m = run.model
    split = getattr(m, "split_table_", None)
    how = "given" if k else (f"two-level: best silhouette K = {len(split)} (the curve below), its clusters split into "
                             + " + ".join(str(int(x)) for x in split["k"]) if split is not None else "best silhouette")
    md = [f"## Online Retail clusters (as of {as_of}, {len(run.segments):,} customers, segment_all {secs:.1f} s)", "",
          f"K = {m.n_clusters_} ({how}; elbow K = {m.elbow_k_}); features: "
          + ", ".join(f"`{c}`" for c in m.features_) + ".", "",
          "| K | inertia | silhouette |", "|---|---|---|"]
    md += [f"| {int(r.k)} | {r.inertia:,.0f} | {r.silhouette:.3f} |" for r in m.k_curve_.itertuples()]
    md += ["", "| cluster | name | customers | share | " + " | ".join(MEANS) + " | with orders |",
           "|---|---|---|---|" + "---|" * len(MEANS) + "---|"]
    prof = run.profiles[run.profiles["scheme"] == "cluster"]
    for r in prof.itertuples():
        p = json.loads(r.profile)
        vals = " | ".join(f"{p['means'][c]:,.1f}" if c != "return_rate" else f"{p['means'][c]:.3f}" for c in MEANS)
        md.append(f"| {r.segment} | {r.name} | {r.n_customers:,} | {r.share:.1%} | {vals} | "
                  f"{p['share_with_orders']:.0%} |")
    return "\n".join(md)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--as-of", default="2011-12-09")
    ap.add_argument("--k", type=int, default=0, help="fix K (0: automatic)")
    a = ap.parse_args(argv)
    path = Path(a.data_dir) / "online_retail" / "online_retail.parquet"
    if not path.exists():
        print(f"Online Retail not found at {path}; pass the data directory (holding online_retail/).")
        return 2
    print(report(path, a.as_of, a.k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
