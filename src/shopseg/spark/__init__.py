"""The same pipeline on Apache Spark, for shops that outgrow one machine.

``shopseg run --engine spark`` is the ordinary run (:func:`shopseg.pipeline.run_pipeline`,
the one runner) with the Spark engine (:class:`shopseg.spark._run.SparkEngine`): it exports the
workspace's canonical tables to Parquet, runs the registered stages it has an executor for on
Spark (:mod:`shopseg.spark.engine`, :mod:`shopseg.spark._predict`) and loads each stage's
Parquet results back into the workspace as the run's rows, so the report and the API read
them like any other run.  On a cluster the same functions read and write
object-storage paths (``docs/scale.md``).

One definition per rule, two engines:

- customer features: the DuckDB SQL of :func:`shopseg.features.features_sql`,
  transpiled to Spark SQL by SQLGlot (:mod:`shopseg.spark._sql`);
- lifecycle windows and per-customer gaps: the same SQL text, transpiled;
- RFM scores, lifecycle stages, value tiers: the same numpy functions, run on
  the customer-level rows (one row per customer);
- clusters: the same preprocessing (:class:`BehaviourClusters`) applied per
  partition, with MLlib KMeans; baskets: the DuckDB engine's miner per
  partition with exact counts over all (SON); churn: MLlib
  gradient-boosted trees; CLV: per-customer summary in Spark SQL, the fitted
  BG/NBD + Gamma-Gamma applied per partition.

pyspark is optional (``pip install 'shopseg[spark]'``): importing this package
does not import it; the functions load it on first use and raise
:class:`shopseg.errors.ShopsegError` with the install hint when it is missing.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import ShopsegError

__all__ = ["require_pyspark", "spark_session", "SparkTables", "export_parquet", "run_spark", "SparkEngine",
           "spark_customer_features", "spark_clv", "spark_churn"]

_LAZY = {
    "spark_session": "._session",
    "SparkTables": "._sql",
    "export_parquet": "._io",
    "run_spark": "._run",
    "SparkEngine": "._run",
    "spark_customer_features": ".engine",
    "spark_clv": "._predict",
    "spark_churn": "._predict",
}


def require_pyspark() -> None:
    """Raise :class:`ShopsegError` (with the install hint) when pyspark or sqlglot cannot be imported."""
    missing = [m for m in ("pyspark", "sqlglot") if importlib.util.find_spec(m) is None]
    if missing:
        raise ShopsegError(
            f"The Spark engine needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            "not installed.",
            hint="pip install 'shopseg[spark]' (pyspark[ml] and sqlglot; Spark also needs Java 17).",
        )


def __getattr__(name: str):
    if name in _LAZY:
        require_pyspark()
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
