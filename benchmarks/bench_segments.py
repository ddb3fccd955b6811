"""Benchmark: features + RFM + lifecycle + value tiers + clusters with automatic K.

A shop of N customers and 10N order lines (4N orders, 2N browsing events,
1,000 products in 12 categories) is generated directly in DuckDB, then
:func:`shopseg.segment.segment_all` runs on it (writing every table).  Each
size runs in its own subprocess so the peak memory (ru_maxrss: Python +
DuckDB) belongs to that size alone.

Baseline, measured in the same run: the textbook approach, i.e. pandas
``groupby`` for recency / frequency / monetary, ``pd.qcut`` scores, then
StandardScaler + scikit-learn KMeans for K = 2..8 with ``silhouette_score``
on all rows, at the sizes it finishes within the time limit.

Also measured: recovery of the planted personas of the generated demo shop
(``shopseg.synth``; 20,000, 5,000 and 3,000 customers, seeds 42, 7, 123) by
the clusters, as adjusted Rand index.

Usage: ``.venv/bin/python benchmarks/bench_segments.py [--quick]``
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve()
BASELINE_LIMIT_S = 600
AS_OF = "2025-01-01"

GENERATE = """
CREATE OR REPLACE TABLE _p AS SELECT {n} AS n;
INSERT INTO customers (customer_id, country, signed_up_at)
SELECT 'c' || i, 'GB', TIMESTAMP '2023-01-01' + to_days(CAST(hash(i, 1) % 700 AS INTEGER))
FROM range({n}) t(i);
INSERT INTO products (product_id, name, category, brand, price, is_merchandise, is_available)
SELECT 'p' || i, 'product ' || i, 'category ' || (i % 12), 'brand ' || (i % 50), 5 + (i % 200), true, true
FROM range(1000) t(i);
-- 4N orders; customer skewed towards low ids (a few heavy buyers, many one-off ones)
INSERT INTO orders (order_id, customer_id, ordered_at, kind, channel, discount_amount, shipping_amount)
SELECT 'o' || i,
       'c' || CAST(floor({n} * pow((hash(i, 2) % 1000000) / 1000000.0, 2)) AS BIGINT),
       TIMESTAMP '2023-01-01' + to_seconds(CAST(hash(i, 3) % (730 * 86400) AS BIGINT)),
       CASE WHEN hash(i, 4) % 100 < 3 THEN 'return' ELSE 'sale' END, 'web',
       CASE WHEN hash(i, 5) % 10 = 0 THEN 5.0 ELSE 0.0 END, 0.0
FROM range({n_orders}) t(i);
-- 10N lines: every order gets one, the rest fall on random orders
INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount_amount)
SELECT 'o' || CASE WHEN i < {n_orders} THEN i ELSE hash(i, 6) % {n_orders} END, i + 1,
       'p' || (hash(i, 7) % 1000), 1 + hash(i, 8) % 3, 5 + (hash(i, 9) % 200), 0.0
FROM range({n_lines}) t(i);
INSERT INTO events (event_id, customer_id, session_id, event_type, product_id, occurred_at, duration_seconds)
SELECT 'e' || i, 'c' || (hash(i, 10) % {n}), 's' || (i // 4),
       ['view', 'view', 'click', 'add_to_cart', 'search'][CAST(1 + hash(i, 11) % 5 AS BIGINT)], 'p' || (hash(i, 12) % 1000),
       TIMESTAMP '2023-01-01' + to_seconds(CAST(hash(i, 13) % (730 * 86400) AS BIGINT)), hash(i, 14) % 120
FROM range({n_events}) t(i);
DROP TABLE _p;
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(ws, n: int) -> float:
    t = time.perf_counter()
    ws.con.execute(GENERATE.format(n=n, n_orders=4 * n, n_lines=10 * n, n_events=2 * n))
    return time.perf_counter() - t


def one_shopseg(n: int) -> dict:
    """Run in a subprocess: generate, then time every stage of segment_all."""
    from shopseg.config import load_config
    from shopseg.features import customer_features
    from shopseg.segment import lifecycle_stages, lifecycle_windows, rfm_segments, segment_all, value_tiers
    from shopseg.segment.stage import fit_clusters
    from shopseg.workspace import open_workspace

    warnings.simplefilter("ignore")
    cfg = load_config()
    with tempfile.TemporaryDirectory() as d, open_workspace(Path(d) / "ws") as ws:
        gen_s = generate(ws, n)
        t = {}
        t0 = time.perf_counter()
        f = customer_features(ws, AS_OF, config=cfg)
        t["features"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rfm_segments(f, cfg)
        t["rfm"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lifecycle_stages(ws, AS_OF, cfg, features=f, windows=lifecycle_windows(ws, AS_OF, cfg))
        t["lifecycle"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        value_tiers(f, cfg)
        t["value"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model, _, _ = fit_clusters(f, cfg)
        t["clusters"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        segment_all(ws, 1, AS_OF, cfg)
        t["segment_all (all of it, tables written)"] = time.perf_counter() - t0
        return {"n": n, "customers": len(f), "generate_s": gen_s, "stages_s": t, "k": model.n_clusters_,
                "peak_mb": _peak_mb()}


def one_baseline(n: int) -> dict:
    """Run in a subprocess: the textbook pandas + sklearn approach on the same generated shop."""
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    from shopseg.workspace import open_workspace

    with tempfile.TemporaryDirectory() as d, open_workspace(Path(d) / "ws") as ws:
        generate(ws, n)
        t0 = time.perf_counter()
        orders = ws.df("SELECT order_id, customer_id, ordered_at, kind FROM orders")
        lines = ws.df("SELECT order_id, quantity, unit_price FROM order_lines")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lines["value"] = lines["quantity"] * lines["unit_price"]
        ov = lines.groupby("order_id", as_index=False)["value"].sum().merge(orders, on="order_id")
        sales = ov[(ov["kind"] == "sale") & (ov["ordered_at"] < pd.Timestamp(AS_OF))]
        rfm = sales.groupby("customer_id").agg(last=("ordered_at", "max"), frequency=("order_id", "nunique"),
                                               monetary=("value", "sum"))
        rfm["recency"] = (pd.Timestamp(AS_OF) - rfm["last"]).dt.days
        for col, asc in (("recency", False), ("frequency", True), ("monetary", True)):
            r = rfm[col].rank(method="first", ascending=asc)
            rfm[col[0] + "_score"] = pd.qcut(r, 5, labels=False) + 1
        feat_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        X = StandardScaler().fit_transform(np.log1p(rfm[["recency", "frequency", "monetary"]]))
        sils = {}
        for k in range(2, 9):
            lab = KMeans(k, n_init=4, random_state=0).fit_predict(X)
            sils[k] = silhouette_score(X, lab)
        clus_s = time.perf_counter() - t0
        return {"n": n, "customers": len(rfm), "load_s": load_s, "features_rfm_s": feat_s,
                "kmeans_silhouette_s": clus_s, "total_s": load_s + feat_s + clus_s,
                "k": max(sils, key=sils.get), "peak_mb": _peak_mb()}


PERSONA_SHOPS = ((20000, 42), (20000, 7), (20000, 123), (5000, 42), (5000, 7), (5000, 123), (3000, 42))
PERSONA_SETTINGS = (
    ("auto K (two-level, the default)", {}),
    ("auto K (silhouette, one level)", {"k_selection": "silhouette"}),
    ("auto K (elbow)", {"k_selection": "elbow"}),
    ("K = 8 (the planted number), k-means", {"n_clusters": 8}),
    ("K = 8, hierarchical Ward", {"n_clusters": 8, "method": "hierarchical"}),
)


def persona_recovery(shops=PERSONA_SHOPS) -> dict:
    """ARI between clusters (default features) and the planted personas of demo shops of several sizes and seeds."""
    from sklearn.metrics import adjusted_rand_score

    from shopseg.config import load_config
    from shopseg.features import customer_features
    from shopseg.segment import BehaviourClusters
    from shopseg.synth import synthesize
    from shopseg.workspace import open_workspace

    warnings.simplefilter("ignore")
    cfg = load_config()
    rows = {}
    for n, seed in shops:
        with tempfile.TemporaryDirectory() as d, open_workspace(Path(d) / "ws") as ws:
            synthesize(ws, customers=n, seed=seed)
            f = customer_features(ws, "2024-12-31")
            gt = ws.df("SELECT customer_id, persona FROM ground_truth")
        f = f.merge(gt, on="customer_id")
        for label, params in PERSONA_SETTINGS:
            bc = BehaviourClusters.from_config(cfg).set_params(**params).fit(f)
            rows.setdefault(label, []).append((bc.n_clusters_, adjusted_rand_score(f["persona"], bc.labels_)))
    return {"shops": list(shops), "rows": rows}


def _sub(kind: str, n: int, timeout: float) -> dict | None:
    cmd = [sys.executable, str(HERE), f"--{kind}", str(n)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        raise RuntimeError(f"{kind} {n} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> str:
    sizes = [20_000, 100_000] if quick else [20_000, 100_000, 1_000_000]
    base_sizes = [20_000] if quick else [20_000, 50_000, 100_000]
    ours = {n: _sub("shopseg", n, 3600) for n in sizes}
    base = {}
    for n in base_sizes:
        b = _sub("baseline", n, BASELINE_LIMIT_S)
        base[n] = b
        if b is None:
            break
    md = ["## Segments benchmark", "",
          f"Shop generated in DuckDB: N customers, 4N orders (3% returns), 10N order lines, 2N events; "
          f"as_of {AS_OF}. Machine: {os.cpu_count()} cores. Each size in its own process; peak = ru_maxrss.", "",
          "| N customers | order lines | features | RFM | lifecycle | value | clusters (auto K) | K | "
          "segment_all incl. writing tables | peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n, r in ours.items():
        if r is None:
            md.append(f"| {n:,} | {10 * n:,} | timed out |")
            continue
        s = r["stages_s"]
        md.append(f"| {n:,} | {10 * n:,} | {s['features']:.1f} s | {s['rfm']:.2f} s | {s['lifecycle']:.1f} s | "
                  f"{s['value']:.2f} s | {s['clusters']:.1f} s | {r['k']} | "
                  f"{s['segment_all (all of it, tables written)']:.1f} s | {r['peak_mb']:.0f} |")
    md += ["", "Baseline (textbook: pandas groupby RFM + qcut scores + KMeans K=2..8 with silhouette_score "
           f"on all rows; only R, F, M; limit {BASELINE_LIMIT_S} s):", "",
           "| N customers | load to pandas | groupby RFM | KMeans + silhouette | total | peak MB | "
           "shopseg segment_all | ratio |", "|---|---|---|---|---|---|---|---|"]
    for n, b in base.items():
        if b is None:
            md.append(f"| {n:,} | did not finish within {BASELINE_LIMIT_S} s | | | | | | |")
            continue
        o = ours.get(n)
        mine = o["stages_s"]["segment_all (all of it, tables written)"] if o else None
        ratio = f"{b['total_s'] / mine:.1f}x" if mine else "n/a"
        md.append(f"| {n:,} | {b['load_s']:.1f} s | {b['features_rfm_s']:.1f} s | {b['kmeans_silhouette_s']:.1f} s | "
                  f"{b['total_s']:.1f} s | {b['peak_mb']:.0f} | {mine:.1f} s | {ratio} |" if mine else
                  f"| {n:,} | {b['load_s']:.1f} s | {b['features_rfm_s']:.1f} s | {b['kmeans_silhouette_s']:.1f} s | "
                  f"{b['total_s']:.1f} s | {b['peak_mb']:.0f} | n/a | n/a |")
    pr = persona_recovery(PERSONA_SHOPS[:3] if quick else PERSONA_SHOPS)
    md += ["", "Persona recovery on the demo shop (8 planted personas), adjusted Rand index of clusters vs "
           "`ground_truth.persona` (K in brackets), per shop size / seed:", "",
           "| setting | " + " | ".join(f"{n:,} / {s}" for n, s in pr["shops"]) + " |",
           "|---|" + "---|" * len(pr["shops"])]
    md += [f"| {label} | " + " | ".join(f"{a:.3f} ({k})" for k, a in res) + " |" for label, res in pr["rows"].items()]
    return "\n".join(md)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--shopseg", "--baseline"):
        fn = one_shopseg if sys.argv[1] == "--shopseg" else one_baseline
        print(json.dumps(fn(int(sys.argv[2]))))
    else:
        print(main(quick="--quick" in sys.argv))
