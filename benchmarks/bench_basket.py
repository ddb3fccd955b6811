"""Benchmark: shopseg's baskets (itemsets + rules + table writes) against bare pyfim and mlxtend.

Each measurement runs in a fresh Python process, so peak memory is its own:
the data is prepared there first (not timed), then the method is timed (wall
and CPU time of the process) and the process's peak RSS above what it held
before is reported.  All three start from the same (basket, item) pairs.

* ours: DuckDB relation (basket_id, item) -> integer-coded baskets -> frequent
  itemsets (pyfim, the configured algorithm) under the max_itemsets guard ->
  every rule with its measures -> confidence filter -> ``frequent_itemsets``
  and ``association_rules`` written to a workspace.
* bare pyfim: ``fim.fpgrowth`` itemsets + ``fim.arules`` rules on ready-made
  Python lists of integer items (arules' support definition, ``mode='o'``).
* mlxtend, as its user guide writes it: from the list of baskets,
  ``TransactionEncoder`` one-hot (dense, or ``sparse=True`` into
  ``pd.DataFrame.sparse.from_spmatrix``) -> ``fpgrowth`` ->
  ``association_rules``; the one-hot encoding is timed.  Dense is left out
  at 1M baskets (a 1M x 2,000 bool frame is 1.9 GiB, and dense is the
  slower one on the smaller sets).

    .venv/bin/python benchmarks/bench_basket.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RETAIL = REPO.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
MIN_CONFIDENCE = 0.25
MAX_LEN = 10


# -- data (inside the worker) -------------------------------------------------------------

def generated_pairs(n_baskets: int, seed: int = 0):
    """(basket, item) integer arrays: Zipf-like popularity over 2,000 items, 1 + Poisson(3)
    items per basket, and 40 planted 3-item bundles (a quarter of baskets hold one, each
    bundle item kept with probability 0.8) so that there are rules to find."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_items = 2000
    p = 1.0 / (np.arange(n_items) + 10.0) ** 1.1
    p /= p.sum()
    sizes = 1 + rng.poisson(3.0, n_baskets)
    basket = np.repeat(np.arange(n_baskets), sizes)
    item = rng.choice(n_items, size=len(basket), p=p)
    bundles = rng.choice(300, size=(40, 3))
    has = np.flatnonzero(rng.random(n_baskets) < 0.25)
    which = bundles[rng.integers(0, 40, len(has))]
    keep = rng.random(which.shape) < 0.8
    b2 = np.repeat(has, 3).reshape(-1, 3)[keep]
    basket = np.concatenate([basket, b2])
    item = np.concatenate([item, which[keep]])
    key = np.unique(basket.astype(np.int64) * n_items + item)
    return key // n_items, key % n_items


def retail_pairs():
    import duckdb
    import numpy as np

    rows = duckdb.sql(
        f"SELECT DISTINCT InvoiceNo, StockCode FROM read_parquet('{RETAIL}') "
        "WHERE NOT starts_with(InvoiceNo, 'C')"
    ).fetchnumpy()
    _, basket = np.unique(rows["InvoiceNo"], return_inverse=True)
    _, item = np.unique(rows["StockCode"], return_inverse=True)
    order = np.lexsort((item, basket))
    return basket[order], item[order]


def _lists(basket, item):
    import numpy as np

    cut = np.flatnonzero(np.diff(basket)) + 1
    flat = item.tolist()
    bounds = [0, *cut.tolist(), len(flat)]
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


# -- the three methods --------------------------------------------------------------------

def run_ours(basket, item, min_support, tmp):
    import duckdb
    import pyarrow as pa

    from shopseg.basket._transactions import baskets_from_transactions
    from shopseg.basket._mine import build_rules, mine_itemsets, select_rules
    from shopseg.basket._tables import _write, itemsets_table, rules_table
    from shopseg.config import load_config
    from shopseg.workspace import Workspace

    algorithm = load_config()["baskets.algorithm"]
    ws = Workspace.open(Path(tmp) / "ws")
    con = duckdb.connect()
    con.register("pairs", pa.table({"basket_id": basket, "item": item}))
    rel = con.sql("SELECT * FROM pairs")
    t0, c0 = time.perf_counter(), time.process_time()
    b = baskets_from_transactions(rel)
    its = mine_itemsets(b, min_support=min_support, max_len=MAX_LEN, algorithm=algorithm,
                        max_itemsets=2_000_000)
    rules = build_rules(its)
    idx = select_rules(rules, min_confidence=MIN_CONFIDENCE, min_lift=0.0)
    _write(ws, "frequent_itemsets", 1, itemsets_table(its, "all"))
    _write(ws, "association_rules", 1, rules_table(rules, idx, "all"))
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    ws.close()
    return secs, cpu, len(its), len(idx)


def run_pyfim(basket, item, min_support):
    import math

    import fim

    tx = _lists(basket, item)
    n = len(tx)
    mc = max(1, math.ceil(min_support * n - 1e-9))
    t0, c0 = time.perf_counter(), time.process_time()
    its = fim.fpgrowth(tx, target="s", supp=-mc, zmax=MAX_LEN, report="a")
    rules = fim.arules(tx, supp=-mc, conf=MIN_CONFIDENCE * 100, zmin=2, zmax=MAX_LEN, report="aCl", mode="o")
    return time.perf_counter() - t0, time.process_time() - c0, len(its), len(rules)


def run_mlxtend(basket, item, min_support, sparse):
    import warnings

    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    tx = _lists(basket, item)
    t0, c0 = time.perf_counter(), time.process_time()
    te = TransactionEncoder()
    onehot = te.fit(tx).transform(tx, sparse=sparse)
    df = (pd.DataFrame.sparse.from_spmatrix(onehot, columns=te.columns_) if sparse
          else pd.DataFrame(onehot, columns=te.columns_))
    its = fpgrowth(df, min_support=min_support, use_colnames=True, max_len=MAX_LEN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rules = association_rules(its, num_itemsets=len(tx), metric="confidence", min_threshold=MIN_CONFIDENCE)
    rules = rules[rules.consequents.map(len) == 1]  # arules' one-item consequents, as ours and pyfim
    return time.perf_counter() - t0, time.process_time() - c0, len(its), len(rules)


def worker(method: str, data: str, n: int, min_support: float) -> dict:
    import resource
    import tempfile

    import numpy as np
    import psutil

    if method == "ours":  # imports before the baseline, so memory counts the work only
        import shopseg.basket._tables  # noqa: F401
        import shopseg.workspace  # noqa: F401
    elif method.startswith("mlxtend"):
        import mlxtend.frequent_patterns  # noqa: F401
        import mlxtend.preprocessing  # noqa: F401
    else:
        import fim  # noqa: F401
    basket, item = retail_pairs() if data == "retail" else generated_pairs(n)
    if data == "retail" and n:
        keep = basket < n
        basket, item = basket[keep], item[keep]
    n_baskets = int(np.unique(basket).size)
    before = psutil.Process().memory_info().rss
    with tempfile.TemporaryDirectory() as tmp:
        if method == "ours":
            secs, cpu, n_sets, n_rules = run_ours(basket, item, min_support, tmp)
        elif method == "pyfim":
            secs, cpu, n_sets, n_rules = run_pyfim(basket, item, min_support)
        else:
            secs, cpu, n_sets, n_rules = run_mlxtend(basket, item, min_support, method == "mlxtend-sparse")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(method=method, data=data, baskets=n_baskets, seconds=secs, cpu=cpu, itemsets=n_sets, rules=n_rules,
                peak_mb=peak / 2**20, extra_mb=max(0, peak - before) / 2**20)


def measure(method, data, n, min_support, timeout=900):
    cmd = [sys.executable, __file__, "--worker", method, data, str(n), str(min_support)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=True)
    except subprocess.TimeoutExpired:
        return dict(method=method, data=data, baskets=n, timeout=timeout)
    except subprocess.CalledProcessError as e:
        return dict(method=method, data=data, baskets=n, error=e.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(r):
    if "timeout" in r:
        return f"| {r['method']} | {r['baskets']:,} | > {r['timeout']} s (stopped) | | | | |"
    if "error" in r:
        return f"| {r['method']} | {r['baskets']:,} | failed: {r['error']} | | | | |"
    return (f"| {r['method']} | {r['baskets']:,} | {r['seconds']:.2f} s | {r['cpu']:.2f} s | {r['itemsets']:,} | "
            f"{r['rules']:,} | {r['extra_mb']:.0f} MB (process peak {r['peak_mb']:.0f} MB) |")


HEADER = ["| method | baskets | wall time | CPU time | itemsets | rules | extra peak memory |",
          "|---|---:|---:|---:|---:|---:|---:|"]


def main(quick: bool = False) -> str:
    lines = ["## Baskets: frequent itemsets and rules", ""]
    n_gen = 100_000 if quick else 1_000_000
    n_small = 20_000 if quick else 100_000
    ml_timeout = 300 if quick else 900
    found = []
    if RETAIL.exists():
        lines += [f"Online Retail invoices (cancellations removed), items = StockCode, min_support 0.01, "
                  f"min_confidence {MIN_CONFIDENCE}, max_len {MAX_LEN}:", ""] + HEADER
        res = [measure(m, "retail", 0, 0.01, timeout=ml_timeout)
               for m in ("ours", "pyfim", "mlxtend-dense", "mlxtend-sparse")]
        lines += [_row(r) for r in res] + ["", _ratios(res, "Online Retail"), ""]
        found.append(res)
    else:
        lines += [f"Online Retail skipped: {RETAIL} not found.", ""]
    lines += [f"Generated baskets (Zipf popularity over 2,000 items, planted bundles), min_support 0.002, "
              f"min_confidence {MIN_CONFIDENCE}, max_len {MAX_LEN}; mlxtend's dense one-hot only on "
              f"{n_small:,} baskets (at {n_gen:,} the dense frame alone is {n_gen * 2000 / 2**30:.1f} GiB); "
              f"mlxtend stopped after {ml_timeout} s:", ""] + HEADER
    big = [measure(m, "gen", n_gen, 0.002, timeout=ml_timeout) for m in ("ours", "pyfim", "mlxtend-sparse")]
    small = [measure(m, "gen", n_small, 0.002, timeout=ml_timeout)
             for m in ("ours", "pyfim", "mlxtend-dense", "mlxtend-sparse")]
    lines += [_row(r) for r in big + small]
    lines += ["", _ratios(big, f"{n_gen:,} generated"), "", _ratios(small, f"{n_small:,} generated"), ""]
    load = os.getloadavg()
    lines += [f"Load average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} cores; "
              "the machine is shared, so compare ratios within one run (CPU time is the steadier figure).", ""]
    return "\n".join(lines)


def _ratios(res, label):
    by = {r["method"]: r for r in res if "seconds" in r}
    ml = [by[m] for m in ("mlxtend-dense", "mlxtend-sparse") if m in by]
    best = min(ml, key=lambda r: r["seconds"]) if ml else None
    out = []
    if "ours" in by and "pyfim" in by:
        o, p = by["ours"], by["pyfim"]
        out.append(f"ours / bare pyfim: {o['seconds'] / p['seconds']:.2f}x the wall time "
                   f"({o['cpu'] / p['cpu']:.2f}x the CPU time)")
    if best is not None:
        for m in ("ours", "pyfim"):
            if m in by:
                out.append(f"{m} is {best['seconds'] / by[m]['seconds']:.1f}x faster than mlxtend's faster "
                           f"variant ({best['method']}) in wall time, {best['cpu'] / by[m]['cpu']:.1f}x in CPU time")
    missing = [r for r in res if "seconds" not in r]
    out += [f"{r['method']}: {'timed out' if 'timeout' in r else 'failed'}" for r in missing]
    return f"{label}: " + "; ".join(out) + ("." if out else "")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, method, data, n, supp = sys.argv
        print(json.dumps(worker(method, data, int(n), float(supp))))
    else:
        print(main(quick="--quick" in sys.argv))
