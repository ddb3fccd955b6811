"""Trust benchmarks: pseudonymisation cost at ingest, forget cost, DP release error.

Each figure is measured in the same run as its baseline (ingest with ``privacy.pii = "keep"``; the
segments run the forget is compared with; the true segment statistics the noisy ones are compared with).
``python benchmarks/bench_trust.py`` prints a Markdown section; ``main(quick=True)`` is smaller.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _customers_csv(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(n)
    pd.DataFrame({
        "customer_id": [f"c{i:07d}" for i in ids],
        "email": [f"person{i}@example.org" for i in ids],
        "phone": [f"+44 20 7946 {i % 10000:04d}" for i in ids],
        "name": [f"Person {i}" for i in ids],
        "address": [f"{i % 300} High Street" for i in ids],
        "country": rng.choice(["GB", "FR", "DE"], n),
    }).to_csv(path, index=False)


def bench_ingest(root: Path, n: int) -> list[str]:
    from shopseg.config import load_config
    from shopseg.ingest import ingest
    from shopseg.workspace import open_workspace

    csv = root / "customers.csv"
    _customers_csv(csv, n)
    secs = {}
    for pii in ("keep", "hash", "separate"):
        ws = open_workspace(root / f"ingest-{pii}")
        t = time.perf_counter()
        ingest(ws, csv, table="customers", config=load_config(overrides={"privacy": {"pii": pii}}))
        secs[pii] = time.perf_counter() - t
        ws.close()
    out = [f"Ingest of a customers file with {n:,} rows and 4 PII columns:", "",
           "| privacy.pii | seconds | ratio to keep |", "|---|---|---|"]
    out += [f"| `{p}` | {s:.2f} | {s / secs['keep']:.2f} |" for p, s in secs.items()]
    return out + [""]


def bench_forget_and_dp(root: Path, customers: int, releases: int) -> list[str]:
    from shopseg.config import load_config
    from shopseg.pipeline import run_pipeline
    from shopseg.synth import synthesize
    from shopseg.trust import forget
    from shopseg.trust.dp import dp_segment_stats
    from shopseg.workspace import open_workspace

    ws = open_workspace(root / "shop")
    synthesize(ws, customers=customers, seed=5)
    t = time.perf_counter()
    run_pipeline(ws, "2024-12-31", seed=0, stages=["segments"])
    run_s = time.perf_counter() - t
    ids = [r[0] for r in ws.sql("SELECT customer_id FROM customers ORDER BY hash(customer_id) LIMIT 101")]
    t = time.perf_counter()
    forget(ws, ids[:1])
    one_s = time.perf_counter() - t
    t = time.perf_counter()
    forget(ws, ids[1:])
    hundred_s = time.perf_counter() - t
    out = [f"Forget on a synthetic shop of {customers:,} customers after one segments run "
           f"({run_s:.2f} s, the baseline):",
           "", "| request | seconds | ratio to the run |", "|---|---|---|",
           f"| 1 customer | {one_s:.2f} | {one_s / run_s:.2f} |",
           f"| 100 customers | {hundred_s:.2f} | {hundred_s / run_s:.2f} |",
           ""]
    run_pipeline(ws, "2024-12-31", seed=0, stages=["segments"])
    cfg = load_config()
    feats = cfg["privacy.dp.features"]
    bounds = cfg["privacy.dp.bounds"]
    rid = ws.latest_run_id()
    schemes = cfg["privacy.dp.schemes"]
    clamp = ", ".join(f"avg(greatest(least(f.\"{x}\", {bounds[x][1]}), {bounds[x][0]})) AS \"mean_{x}\"" for x in feats)
    truth = ws.df(f"SELECT s.scheme, s.segment, count(*) AS n_customers, {clamp} FROM segments s "
                  f"JOIN customer_features f "
                  f"USING (run_id, customer_id) WHERE run_id = ? AND s.scheme IN (SELECT unnest(?)) GROUP BY ALL",
                  [rid, schemes]).set_index(["scheme", "segment"])
    out += [f"DP release of {', '.join(schemes)} ({len(truth)} segments) of that shop, {releases} releases per epsilon "
            "(not recorded), error against the exact figures of released segments:", "",
            "| epsilon | seconds per release | segments released | median abs error of size | "
            "median rel error of size | " + " | ".join(f"median abs error of mean {x}" for x in feats) + " |",
            "|---|---|---|---|---|" + "---|" * len(feats)]
    for eps in (0.5, 1.0, 4.0):
        errs, rel_errs, mean_errs, n_rel, secs = [], [], {x: [] for x in feats}, [], []
        for _ in range(releases):
            t = time.perf_counter()
            rel = dp_segment_stats(ws, rid, epsilon=eps, record=False, config=cfg)
            secs.append(time.perf_counter() - t)
            got = rel.table.set_index(["scheme", "segment"])
            true = truth.loc[got.index]
            errs += list(np.abs(got["n_customers"] - true["n_customers"]))
            rel_errs += list(np.abs(got["n_customers"] - true["n_customers"]) / true["n_customers"])
            for x in feats:
                mean_errs[x] += list(np.abs(got[f"mean_{x}"] - true[f"mean_{x}"]))
            n_rel.append(len(got))
        out.append(f"| {eps:g} | {np.median(secs):.2f} | {np.mean(n_rel):.1f} of {len(truth)} | "
                   f"{np.median(errs):.1f} | "
                   f"{np.median(rel_errs):.1%} | " + " | ".join(f"{np.median(mean_errs[x]):.2f}" for x in feats) + " |")
    ws.close()
    return out + [""]


def main(quick: bool = False) -> str:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        lines = ["## Trust: pseudonymisation, forget, differential privacy", "",
                 "Measured by `python benchmarks/bench_trust.py` (2-core machine shared with other jobs: timings are "
                 "noisy, ratios are the figures to read).", ""]
        lines += bench_ingest(root, 20_000 if quick else 200_000)
        lines += bench_forget_and_dp(root, 1_000 if quick else 5_000, 5 if quick else 20)
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(main(quick="--quick" in sys.argv))
