"""Spark engine: time per million order lines on 1 and 2 local cores, the DuckDB engine beside it.

Measures the order-line-level work (customer features, and the baskets for
frequent itemsets) on one demo shop: DuckDB in-process, then Spark ``local[1]``
and ``local[2]`` (a fresh session each; session start-up is reported apart,
and each Spark figure is the better of two runs, the first one warming the JVM).

    .venv/bin/python benchmarks/bench_spark.py          # 20,000 customers
    .venv/bin/python -c "from benchmarks.bench_spark import main; print(main(quick=True))"
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

AS_OF = datetime(2024, 12, 31, 23, 59, 59, 999999)


def _best(fn, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(quick: bool = False) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from shopseg.basket import frequent_itemsets
    from shopseg.config import load_config
    from shopseg.features import customer_features
    from shopseg.spark import require_pyspark
    from shopseg.synth import synthesize
    from shopseg.workspace import Workspace

    require_pyspark()
    from shopseg.spark._io import export_parquet, read_inputs
    from shopseg.spark._session import spark_session
    from shopseg.spark._sql import SparkTables
    from shopseg.spark.engine import spark_customer_features, spark_itemsets

    warnings.filterwarnings("ignore", category=FutureWarning)
    n_customers = 2000 if quick else 20000
    cfg = load_config()
    root = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    rows = []
    try:
        ws = Workspace.open(root / "ws")
        synthesize(ws, customers=n_customers, seed=3)
        lines = ws.count("order_lines")
        export_parquet(ws, root / "pq")
        rows.append(("DuckDB (in process)", None,
                     _best(lambda: customer_features(ws, AS_OF, config=cfg)),
                     _best(lambda: frequent_itemsets(ws, as_of=AS_OF, config=cfg))))
        for cores in (1, 2):
            t0 = time.perf_counter()
            spark = spark_session(f"local[{cores}]", tmp_dir=root / f"spark{cores}", shuffle_partitions=2 * cores)
            start = time.perf_counter() - t0
            sc = spark.sparkContext
            if sc.master != f"local[{cores}]" or sc.defaultParallelism != cores:
                raise RuntimeError(f"expected a local[{cores}] session, got {sc.master} ({sc.defaultParallelism} cores)")
            tables = SparkTables(spark, read_inputs(spark, root / "pq"))
            feat = _best(lambda: spark_customer_features(tables, AS_OF, cfg).toPandas())
            its = _best(lambda: spark_itemsets(tables, AS_OF, cfg)[0].toPandas())
            rows.append((f"Spark local[{cores}]", start, feat, its))
            spark.stop()
        ws.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_m = 1e6 / lines
    out = [f"## Spark engine ({n_customers:,} customers, {lines:,} order lines)", "",
           "| engine | session start s | features s | itemsets s | features s per 1M lines | "
           "itemsets s per 1M lines |", "|---|---:|---:|---:|---:|---:|"]
    for name, start, feat, its in rows:
        out.append(f"| {name} | {'' if start is None else f'{start:.1f}'} | {feat:.2f} | {its:.2f} | "
                   f"{feat * per_m:.1f} | {its * per_m:.1f} |")
    d, s1, s2 = rows[0], rows[1], rows[2]
    out += ["", f"local[2] / local[1] time: features {s2[2] / s1[2]:.2f}, itemsets {s2[3] / s1[3]:.2f}; "
            f"Spark local[2] / DuckDB: features {s2[2] / d[2]:.1f}x, itemsets {s2[3] / d[3]:.1f}x.",
            "Timings on a shared 2-core machine: compare ratios within one run."]
    return "\n".join(out)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
