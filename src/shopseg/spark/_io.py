"""Parquet in and out: the workspace's canonical tables to Parquet, Spark's results back as a run.

Layout of a Parquet folder (local path or object storage URL on a cluster)::

    <input>/customers.parquet  products.parquet  orders.parquet  order_lines.parquet  events.parquet  reviews.parquet
    <output>/customer_features/  segments/  rfm_scores/  segment_profiles/  frequent_itemsets/  churn_scores/  clv/

Output tables have the DuckDB engine's columns (without ``run_id``, which the
import adds), so :func:`import_outputs` stores them as one run of the same tables.
"""

from __future__ import annotations

from pathlib import Path

from .. import schema

INPUT_TABLES = schema.LOAD_ORDER


def export_parquet(ws, folder, tables=INPUT_TABLES) -> dict[str, int]:
    """Write the workspace's canonical ``tables`` to ``folder/<table>.parquet`` (DuckDB COPY); rows per table."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for t in tables:
        path = out / f"{t}.parquet"
        ws.con.execute(f"COPY (SELECT * FROM \"{t}\") TO '{path}' (FORMAT parquet)")
        counts[t] = ws.count(t)
    return counts


def read_inputs(spark, folder, tables=INPUT_TABLES) -> dict:
    """Spark DataFrames of the Parquet exports under ``folder`` (a path or URL), by table name."""
    base = str(folder).rstrip("/")
    return {t: spark.read.parquet(f"{base}/{t}.parquet") for t in tables}


def write_outputs(frames: dict, folder) -> dict[str, str]:
    """Write each Spark DataFrame of ``frames`` to ``folder/<name>`` (Parquet, overwritten); name -> path."""
    base = str(folder).rstrip("/")
    paths = {}
    for name, sdf in frames.items():
        path = f"{base}/{name}"
        sdf.write.mode("overwrite").parquet(path)
        paths[name] = path
    return paths


def import_outputs(ws, run_id: int, paths: dict[str, str]) -> dict[str, int]:
    """Store each Parquet output (a local folder) as run ``run_id`` of the workspace table of its name."""
    from ..features import _ensure_columns

    counts = {}
    for name, path in paths.items():
        select = f"SELECT * FROM read_parquet('{Path(path) / '*.parquet'}')"
        _ensure_columns(ws, name, select)
        counts[name] = ws.write_output(name, run_id, select)
    return counts
