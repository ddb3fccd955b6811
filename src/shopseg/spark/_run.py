"""``shopseg run --engine spark``: one run of the Spark stages, stored in the workspace like any run.

Steps, each timed in ``runs.stages``: export the canonical tables to Parquet; then
the registered stages (:mod:`shopseg.stages`) that Spark has an executor for, in the
runner's order (:func:`shopseg.runner.ordered`): CLV (BG/NBD + Gamma-Gamma), features
and segments, churn (MLlib gradient-boosted trees), frequent itemsets and rules; Parquet
results loaded back as run ``run_id`` of the same output tables, and the
segment profiles (means, z-scores, cluster names) computed from the stored
rows by the DuckDB engine's own functions, so the report and the API read a
Spark run exactly as they read a DuckDB one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from ..config import Config, load_config
from ..pipeline import RunResult, default_as_of, parse_as_of, registered_stages, start_run
from ..runner import ordered

# export, the registered stages Spark executes (in the runner's order), import, profiles
SPARK_STAGES = ("export", "clv", "segments", "churn", "baskets", "import", "profiles")
# the output tables a Spark run fills (every one of them gets rows for the run)
OUTPUT_TABLES = ("customer_features", "segments", "rfm_scores", "clv", "churn_scores", "churn_validation",
                 "frequent_itemsets", "association_rules", "segment_profiles")


def run_spark(ws, as_of=None, *, config: Config | None = None, seed: int = 0, master: str | None = None,
              work_dir=None, progress: Callable[[str, str], None] | None = None, spark=None) -> RunResult:
    """Run features, RFM, lifecycle, value tiers, clusters, CLV, churn and baskets on Spark; store them as a run.

    ``master``: Spark master URL (``local[2]`` by default).  ``work_dir`` holds the
    Parquet exchange (a temp folder, removed afterwards, by default).  ``spark``: an
    existing session to use (tests share one).
    """
    from . import require_pyspark

    require_pyspark()
    from ._io import export_parquet, import_outputs, read_inputs, write_outputs
    from ._session import spark_session
    from ._sql import SparkTables
    from ..errors import ModelFitError
    from ._predict import spark_churn, spark_clv
    from ._schemes import duckdb_schemes
    from .engine import spark_itemsets, spark_segments

    cfg = config or load_config()
    when = parse_as_of(as_of) if as_of is not None else default_as_of(ws)
    run_id = start_run(ws, when, cfg, seed)
    own_dir = work_dir is None
    root = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="shopseg-spark-run-"))
    record: dict[str, dict] = {}
    status = "failed"
    facts: dict = {}

    def step(name: str, fn):
        if progress:
            progress(name, "start")
        t0 = time.perf_counter()
        notes = fn() or {}
        record[name] = {"status": "done", "seconds": round(time.perf_counter() - t0, 3), "engine": "spark", **notes}
        if progress:
            progress(name, "done")

    facts["paths"] = {}
    try:
        step("export", lambda: {"rows": sum(export_parquet(ws, root / "input").values())})
        session = spark or spark_session(master, tmp_dir=root / "spark", rows=ws.scalar("SELECT count(*) FROM order_lines"))
        tables = SparkTables(session, read_inputs(session, root / "input"))

        def segments():
            clv_path = facts["paths"].get("clv")  # the CLV step ran first: value tiers rank by it
            out = spark_segments(tables, when, cfg, seed=seed,
                                 clv=session.read.parquet(clv_path) if clv_path else None)
            facts.update(out)
            facts["paths"].update(write_outputs(out["frames"], root / "output"))
            w, cl = out["windows"], out["clusters"]
            return {"customers": out["frames"]["customer_features"].count(), "k": cl["k"],
                    "silent_days": w["silent_days"], "churned_days": w["churned_days"]}


        def clv():
            sdf, out = spark_clv(tables, when, cfg, seed=seed)
            facts["paths"].update(write_outputs({"clv": sdf}, root / "output"))
            return {"rows": out["customers"], "fit_rows": out["fit_rows"], "model": cfg["clv.model"],
                    **{k: round(v, 4) for k, v in out["transaction_model"].params_.items()}}

        def churn():
            try:  # a tiny shop or a single class: skipped with the reason, as the DuckDB pipeline does
                scores, valid, out = spark_churn(tables, when, cfg,
                                                 features=facts["frames"]["customer_features"])
            except ModelFitError as e:
                return {"status": "skipped", "reason": e.message}
            facts["paths"].update(write_outputs({"churn_scores": scores, "churn_validation": valid},
                                                root / "output"))
            return {"model": "spark-gbt", "horizon_days": out["horizon"]["horizon_days"],
                    "roc_auc": round(float(out["figures"]["roc_auc"]), 4), "n_train": out["n_train"],
                    "n_valid": out["n_valid"], "n_scored": out["n_scored"]}


        def baskets():
            its, rules, n, _ = spark_itemsets(tables, when, cfg)
            facts["paths"].update(write_outputs({"frequent_itemsets": its, "association_rules": rules},
                                                root / "output"))
            return {"baskets": n}

        # the registered stages Spark has an executor for, in the runner's order (clv, segments, churn, baskets)
        executors = {"segments": segments, "clv": clv, "churn": churn, "baskets": baskets}
        for stage in ordered(registered_stages()):
            if stage.name in executors:
                step(stage.name, executors[stage.name])
        with ws.transaction():
            step("import", lambda: import_outputs(ws, run_id, facts["paths"]))
            step("profiles", lambda: _profiles(ws, run_id, facts, cfg))
            step("schemes", lambda: duckdb_schemes(ws, run_id, when, cfg))
        status = "done"
    finally:
        ws.con.execute("UPDATE runs SET stages = ?, status = ? WHERE run_id = ?",
                       [json.dumps(record, default=str), status, run_id])
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
    return RunResult(run_id=run_id, as_of=when, stages=record, status=status)


def _profiles(ws, run_id: int, facts: dict, cfg: Config) -> dict:
    """segment_profiles of the stored Spark run, by the DuckDB engine's functions."""
    from ..segment.profile import name_clusters, segment_profiles

    feats = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id", [run_id])
    wide = ws.df("SELECT customer_id, scheme, segment FROM segments WHERE run_id = ?", [run_id]) \
        .pivot(index="customer_id", columns="scheme", values="segment").reindex(feats["customer_id"])
    windows, cl = facts["windows"], facts["clusters"]
    model = cl["model"]
    curve = model.k_curve_.replace({float("nan"): None}).to_dict(orient="records")
    extra = {
        "lifecycle": {s: {"windows": windows} for s in set(wide["lifecycle"])},
        "value_tier": {},
        "cluster": {f"cluster_{cid}": {
            "centroid": {c: round(float(v), 6) for c, v in cl["centroids"].loc[cid].items()},
            "model": {"method": "spark-kmeans", "k": cl["k"], "elbow_k": model.elbow_k_, "scaler": model.scaler,
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
