"""``shopseg run --engine spark``: a run of the registered stages with Spark executors, through the one runner.

:func:`run_spark` is :func:`shopseg.pipeline.run_pipeline` with :class:`SparkEngine`: the same run record,
stage order (``after``), per-stage transaction and timing, progress, and on failure the same discarding of the
run's outputs and models. The engine supplies, for the stages it has an executor for, their work on Spark
(:meth:`SparkEngine.clv`: BG/NBD + Gamma-Gamma; :meth:`~SparkEngine.segments`: features, RFM, lifecycle,
value tiers, clusters; :meth:`~SparkEngine.churn`: MLlib gradient-boosted trees; :meth:`~SparkEngine.baskets`:
itemsets (the DuckDB engine's miner per partition, SON) and rules), and its reader and writer:

- reader (:meth:`SparkEngine.open`, before the first stage): the workspace's canonical tables exported to
  Parquet and read as Spark views; its time and the stages Spark does not run (reviews, drift, recommend,
  measure, act: no executor) are the record's first entry, ``spark``;
- writer (each executor, inside its stage's transaction): the stage's Spark frames written to Parquet and
  loaded back as this run's rows of the same output tables, so the report and the API read a Spark run as
  they read a DuckDB one. The segments stage then computes, on its stored rows and by the DuckDB engine's own
  functions, the segment profiles (means, z-scores, cluster names) and the schemes Spark does not compute
  (geo, interest, demographics: :mod:`shopseg.spark._schemes`), as its DuckDB counterpart writes them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd

from ..config import Config
from ..pipeline import RunResult, run_pipeline

# the output tables a Spark run fills (every one of them gets rows for the run)
OUTPUT_TABLES = ("customer_features", "segments", "rfm_scores", "clv", "churn_scores", "churn_validation",
                 "frequent_itemsets", "association_rules", "segment_profiles")


class SparkEngine:
    """The Spark engine of a batch run (:class:`shopseg.runner.Engine`): executors for clv, segments, churn
    and baskets, the Parquet export as reader and the Parquet import as writer.

    ``master``: Spark master URL (``local[2]`` by default); ``work_dir``: the Parquet exchange (``input/``,
    ``output/``; a temp folder, removed by :meth:`close`, by default); ``spark``: a session to use (tests
    share one; otherwise one is started for the run's size and left to the process).
    """

    name = "spark"

    def __init__(self, *, master: str | None = None, work_dir=None, spark=None):
        self.master, self.session = master, spark
        self._own_dir = work_dir is None
        self.root = Path(work_dir) if work_dir is not None else None  # made by open() when not given
        self.executors = {name: _unwrapping(fn) for name, fn in (("clv", self.clv), ("segments", self.segments),
                                                                   ("churn", self.churn), ("baskets", self.baskets))}
        self.tables = None
        self.clv_path: str | None = None  # this run's clv Parquet: value tiers rank by it
        self.features = None  # this run's Spark customer features: churn scores them

    # -- reader and writer --------------------------------------------------------------------------------

    def open(self, ctx) -> dict:
        """The reader: the canonical tables to Parquet, read back as Spark views (a session started if none)."""
        from ._io import export_parquet, read_inputs
        from ._session import spark_session
        from ._sql import SparkTables

        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="shopseg-spark-run-"))
        rows = sum(export_parquet(ctx.ws, self.root / "input").values())
        if self.session is None:
            self.session = spark_session(self.master, tmp_dir=self.root / "spark",
                                         rows=ctx.ws.scalar("SELECT count(*) FROM order_lines"))
        self.tables = SparkTables(self.session, read_inputs(self.session, self.root / "input"))
        return {"exported_rows": rows}

    def close(self) -> None:
        if self._own_dir and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def _store(self, ctx, frames: dict) -> dict[str, str]:
        """The writer: Spark frames to Parquet, then stored as this run's rows of the tables of their names."""
        from ._io import import_outputs, write_outputs

        paths = write_outputs(frames, self.root / "output")
        import_outputs(ctx.ws, ctx.run_id, paths)
        return paths

    # -- executors: each a registered stage's run(ctx) on Spark -------------------------------------------

    def clv(self, ctx) -> dict:
        from ._predict import spark_clv

        sdf, out = spark_clv(self.tables, ctx.as_of, ctx.config, seed=ctx.seed)
        self.clv_path = self._store(ctx, {"clv": sdf})["clv"]
        return {"engine": "spark", "rows": out["customers"], "fit_rows": out["fit_rows"],
                "model": ctx.config["clv.model"],
                **{k: round(v, 4) for k, v in out["transaction_model"].params_.items()}}

    def segments(self, ctx) -> dict:
        from ..segment.schemes.cluster import cluster_sample_note
        from ._schemes import duckdb_schemes
        from .engine import spark_segments

        clv = self.session.read.parquet(self.clv_path) if self.clv_path else None
        out = spark_segments(self.tables, ctx.as_of, ctx.config, seed=ctx.seed, clv=clv)
        self.features = out["frames"]["customer_features"]
        self._store(ctx, out["frames"])
        w, cl = out["windows"], out["clusters"]
        notes = {"engine": "spark", "customers": ctx.ws.scalar(
                     "SELECT count(*) FROM customer_features WHERE run_id = ?", [ctx.run_id]),
                 "k": cl["k"], "silent_days": w["silent_days"], "churned_days": w["churned_days"]}
        if cl["fit_rows"] < cl["customers"]:
            notes["cluster_sample"] = cluster_sample_note(cl["fit_rows"], cl["customers"])
        notes.update(_profiles(ctx.ws, ctx.run_id, w, cl, ctx.config))
        notes.update(duckdb_schemes(ctx.ws, ctx.run_id, ctx.as_of, ctx.config))
        return notes

    def churn(self, ctx) -> dict:
        from ._predict import spark_churn

        # a tiny shop or a single class raises ModelFitError: the runner skips the stage with the reason
        scores, valid, out = spark_churn(self.tables, ctx.as_of, ctx.config, features=self.features)
        self._store(ctx, {"churn_scores": scores, "churn_validation": valid})
        notes = {"engine": "spark", "model": "spark-gbt", "horizon_days": out["horizon"]["horizon_days"],
                 "roc_auc": round(float(out["figures"]["roc_auc"]), 4), "n_train": out["n_train"],
                 "n_valid": out["n_valid"], "n_scored": out["n_scored"]}
        if out["customer_sample"]:
            notes["customer_sample"] = out["customer_sample"]
        if out["recency_floor"]:  # as the DuckDB engine: the least risk of a buyer silent beyond the training rows
            notes["train_max_recency_days"] = out["recency_floor"]["max_recency_days"]
            notes["recency_floor"] = out["recency_floor"]["probability"]
        return notes

    def baskets(self, ctx) -> dict:
        from .engine import spark_itemsets

        its, rules, n, _ = spark_itemsets(self.tables, ctx.as_of, ctx.config)
        self._store(ctx, {"frequent_itemsets": its, "association_rules": rules})
        return {"engine": "spark", "baskets": n}


def _unwrapping(executor: Callable) -> Callable:
    """``executor`` raising the :class:`shopseg.errors.ShopsegError` a Spark worker raised (a partition's
    ``baskets.max_itemsets`` ConfigError, a ModelFitError the runner turns into a skipped stage) instead of
    Spark's exception wrapping it (:func:`shopseg.spark._session.worker_error`)."""
    import functools

    @functools.wraps(executor)
    def run(ctx):
        from ._session import worker_error

        try:
            return executor(ctx)
        except Exception as e:  # noqa: BLE001 - only a carried shopseg error is replaced; others re-raised as they are
            err = worker_error(e)
            if err is None:
                raise
            raise err from e

    return run


def run_spark(ws, as_of=None, *, config: Config | None = None, seed: int = 0, master: str | None = None,
              work_dir=None, progress: Callable[[str, str], None] | None = None, spark=None,
              stages=None) -> RunResult:
    """Run the registered stages Spark has an executor for (clv, segments, churn, baskets) on Spark, through
    :func:`shopseg.pipeline.run_pipeline`; stored as a run of the workspace like any other.

    ``master``, ``work_dir``, ``spark``: see :class:`SparkEngine`; ``stages``: only these (each must have a
    Spark executor).
    """
    from . import require_pyspark

    require_pyspark()
    return run_pipeline(ws, as_of, config=config, seed=seed, stages=stages, progress=progress,
                        engine=SparkEngine(master=master, work_dir=work_dir, spark=spark))


def _profiles(ws, run_id: int, windows: dict, cl: dict, cfg: Config) -> dict:
    """segment_profiles of the stored Spark run, by the DuckDB engine's functions."""
    from ..segment.profile import name_clusters, segment_profiles

    feats = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id", [run_id])
    wide = ws.df("SELECT customer_id, scheme, segment FROM segments WHERE run_id = ?", [run_id]) \
        .pivot(index="customer_id", columns="scheme", values="segment").reindex(feats["customer_id"])
    model = cl["model"]
    curve = model.k_curve_.replace({float("nan"): None}).to_dict(orient="records")
    extra = {
        "lifecycle": {s: {"windows": windows} for s in set(wide["lifecycle"])},
        "value_tier": {},
        "cluster": {f"cluster_{cid}": {
            "centroid": {c: round(float(v), 6) for c, v in cl["centroids"].loc[cid].items()},
            "model": {"method": model.method, "k": cl["k"], "elbow_k": model.elbow_k_, "scaler": model.scaler,
                      "features": model.features_, "k_curve": curve, "fit_rows": cl["fit_rows"],
                      "first_level_k": None if getattr(model, "split_table_", None) is None
                      else len(model.split_table_)}}
            for cid in cl["centroids"].index},
    }
    profiles = []
    for scheme in cfg["segments.schemes"]:
        if scheme not in wide.columns:
            continue
        prof = segment_profiles(feats, pd.Series(wide[scheme].to_numpy()), scheme, extra.get(scheme))
        if scheme == "cluster":
            prof["name"] = name_clusters(prof)
        profiles.append(prof)
    prof_df = pd.concat(profiles, ignore_index=True)
    _write_profiles(ws, run_id, prof_df)
    return {"profiles": len(prof_df)}


def _write_profiles(ws, run_id: int, prof: pd.DataFrame) -> None:
    con = ws.con
    con.execute("SELECT 1").fetchall()
    con.register("_shopseg_profiles", prof)
    try:
        ws.write_output("segment_profiles", run_id,
                        "SELECT CAST(scheme AS VARCHAR) AS scheme, CAST(segment AS VARCHAR) AS segment, "
                        "CAST(name AS VARCHAR) AS name, CAST(n_customers AS BIGINT) AS n_customers, "
                        "CAST(share AS DOUBLE) AS share, CAST(profile AS VARCHAR) AS profile FROM _shopseg_profiles")
    finally:
        con.execute("SELECT 1").fetchall()
        con.unregister("_shopseg_profiles")
