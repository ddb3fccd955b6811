"""The Spark engine gives the DuckDB engine's answers on the demo shop.

One SparkSession (local[2], warehouse and temp dirs in a pytest temp folder) for
the module; one demo shop of 1,500 customers from shopseg.synth.  Claims:
identical customer_features (integers, booleans and ids exactly; money sums
to 1e-9, as summation order differs), identical RFM scores and segments,
lifecycle windows and stages, value tiers, identical clusters (below
segments.cluster.max_customers and at a cap of 400), identical frequent itemsets; the CLV summary identical and the clv table
within 1e-9 relative; identical churn labels (training and validation windows)
and a validation ROC-AUC of MLlib GBT within 0.05 of LightGBM's; one
``run_spark`` end to end filling every output table (run marked done), whose geo,
interest, age band and gender segments and profiles (computed after import by
their DuckDB code, shopseg.spark._schemes) equal the DuckDB engine's; a partition's ConfigError raised
to the user as itself.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg.errors import ShopsegError

AS_OF = datetime(2024, 12, 31, 23, 59, 59, 999999)
HAVE_SPARK = importlib.util.find_spec("pyspark") is not None and importlib.util.find_spec("sqlglot") is not None
needs_spark = pytest.mark.skipif(not HAVE_SPARK, reason="pyspark / sqlglot not importable: pip install 'shopseg[spark]'")
# pyspark 4.x on pandas 3: its conversions warn (pandas' deprecated copy keyword, version notice); not ours
pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
              pytest.mark.filterwarnings("ignore:toPandas attempted Arrow optimization")]


# -- without a JVM ------------------------------------------------------------------------------------------

def test_import_shopseg_does_not_load_pyspark_or_sqlglot():
    code = "import sys, shopseg, shopseg.spark; print([m for m in ('pyspark', 'sqlglot') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_pyspark_raises_shopseg_error_naming_the_extra(monkeypatch):
    import shopseg.spark as sp

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(ShopsegError) as e:
        sp.spark_session  # noqa: B018  (the lazy attribute checks first)
    assert "pyspark" in e.value.message and "shopseg[spark]" in e.value.hint


@needs_spark
def test_quantile_cont_becomes_spark_exact_percentile_and_params_become_literals():
    from shopseg.spark._sql import to_spark_sql

    out = to_spark_sql("SELECT quantile_cont(gap, 0.95), median(gap) FROM g WHERE d < $as_of", {"as_of": AS_OF})
    assert out == ("SELECT PERCENTILE(gap, 0.95), MEDIAN(gap) FROM g "
                   "WHERE d < CAST('2024-12-31 23:59:59.999999' AS TIMESTAMP)")
    pos = to_spark_sql("SELECT * FROM t WHERE a = '?' AND b < ? LIMIT ?", ["x", 3])
    assert pos == "SELECT * FROM t WHERE a = '?' AND b < 'x' LIMIT 3"


# -- parity on the demo shop ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if not HAVE_SPARK:
        pytest.skip("pyspark / sqlglot not importable: pip install 'shopseg[spark]'")
    from shopseg.spark import spark_session

    # the heap from the shop's ~60k order lines (1 GiB and a bit), not a third of the machine
    s = spark_session("local[2]", tmp_dir=tmp_path_factory.mktemp("spark"), shuffle_partitions=1, rows=60_000)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from shopseg.synth import synthesize
    from shopseg.workspace import Workspace

    root = tmp_path_factory.mktemp("shop")
    ws = Workspace.open(root / "ws")
    synthesize(ws, customers=1500, seed=11)
    yield ws, root
    ws.close()


@pytest.fixture(scope="module")
def cfg():
    from shopseg.config import load_config

    return load_config().with_overrides({"segments": {"cluster": {"random_state": 0}}})


@pytest.fixture(scope="module")
def duck(shop, cfg):
    from shopseg.segment import segment_all
    from shopseg.segment.lifecycle import lifecycle_windows

    ws, _ = shop
    run = segment_all(ws, None, AS_OF, cfg)
    return run, lifecycle_windows(ws, AS_OF, cfg)


@pytest.fixture(scope="module")
def tables(spark, shop, spark_run):
    """Spark views of the Parquet export ``run_spark`` read (lazy: nothing runs until a test asks)."""
    from shopseg.spark._io import read_inputs
    from shopseg.spark._sql import SparkTables

    return SparkTables(spark, read_inputs(spark, shop[1] / "e2e" / "input"))


@pytest.fixture(scope="module")
def sparked(spark_run):
    """The Spark engine's features, segments (wide) and RFM scores, as ``run_spark`` computed them."""
    out = spark_run[2]["segments"]
    fr = out["frames"]
    feats = fr["customer_features"].toPandas().sort_values("customer_id").reset_index(drop=True)
    wide = fr["segments"].toPandas().pivot(index="customer_id", columns="scheme", values="segment")
    scores = fr["rfm_scores"].toPandas().sort_values("customer_id").reset_index(drop=True)
    return feats, wide, scores, out


@needs_spark
def test_customer_features_are_identical_in_both_engines(duck, sparked):
    d = duck[0].features.sort_values("customer_id").reset_index(drop=True)
    s = sparked[0]
    assert len(s) == len(d) >= 1500
    assert list(s.columns) == list(d.columns)
    assert (s["customer_id"].to_numpy() == d["customer_id"].to_numpy()).all()
    for c in d.columns[1:]:
        if d[c].dtype.kind in "biu":
            assert (s[c].to_numpy() == d[c].to_numpy()).all(), c
        else:
            np.testing.assert_allclose(s[c].to_numpy(float), d[c].to_numpy(float), rtol=1e-12, atol=1e-9, err_msg=c)
            print(f"features: {c} max abs diff {np.max(np.abs(s[c].to_numpy(float) - d[c].to_numpy(float))):.2e}")


@needs_spark
def test_rfm_scores_and_segments_are_identical(duck, sparked):
    run = duck[0]
    d = run.extras["rfm_scores"].sort_values("customer_id").reset_index(drop=True)
    s = sparked[2]
    pd.testing.assert_frame_equal(s, d[s.columns].astype({c: "int64" for c in s.columns[1:]}), check_dtype=False)
    wide = run.segments.set_index("customer_id")
    assert (sparked[1].loc[wide.index, "rfm"] == wide["rfm"]).all()
    assert wide["rfm"].nunique() >= 5  # the shop exercises the scheme


@needs_spark
def test_lifecycle_windows_and_stages_are_identical(duck, sparked):
    run, windows = duck
    assert sparked[3]["windows"] == windows
    wide = run.segments.set_index("customer_id")
    assert (sparked[1].loc[wide.index, "lifecycle"] == wide["lifecycle"]).all()
    assert wide["lifecycle"].nunique() >= 4


@needs_spark
def test_value_tiers_rank_by_the_runs_clv_as_the_duckdb_scheme_does(shop, duck, sparked, spark_run, cfg):
    from shopseg.segment.value import clv_scores, value_tiers

    ws, _ = shop
    run_id = spark_run[0].run_id
    # the DuckDB value_tier scheme of a run with CLV (segments.value.basis = "auto"): rank buyers by its clv
    want = value_tiers(duck[0].features, cfg, scores=clv_scores(ws, run_id, cfg)).set_index("customer_id")["tier"]
    got = sparked[1]["value_tier"].reindex(want.index)
    assert (got == want).all(), int((got != want).sum())
    by_money = duck[0].segments.set_index("customer_id")["value_tier"]  # a run without CLV: money spent so far
    assert (want != by_money).sum() > 50 and set(want) == {"high", "mid", "low", "Prospect"}


@needs_spark
def test_clusters_are_identical_below_max_customers(duck, sparked):
    """1,500 customers, under segments.cluster.max_customers: both engines fit on every customer, in customer
    order: the same K and the same cluster for every customer (until session 12: ARI >= 0.95 after MLlib's
    Lloyd iterations)."""
    run = duck[0]
    wide = run.segments.set_index("customer_id")
    cl = sparked[3]["clusters"]
    assert cl["k"] == run.model.n_clusters_ and cl["fit_rows"] == cl["customers"] == len(wide) == 1500
    assert (sparked[1].loc[wide.index, "cluster"] == wide["cluster"]).all()


@needs_spark
def test_clusters_above_max_customers_fit_the_same_sample_and_give_the_same_labels_on_both_engines(duck, sparked,
                                                                                                  cfg):
    """segments.cluster.max_customers binding (400 of 1,500 customers, as churn's parity test at 400): the same
    400 customers fitted (fit_sample), the same K and centres, the same cluster for every customer."""
    from shopseg.segment.schemes.cluster import fit_clusters
    from shopseg.spark.engine import spark_clusters

    capped = cfg.with_overrides({"segments": {"cluster": {"max_customers": 400}}})
    feats = duck[0].features
    model, labels, _ = fit_clusters(feats, capped)
    sdf, cl = spark_clusters(sparked[3]["frames"]["customer_features"], capped, seed=0)
    s = sdf.toPandas().set_index("customer_id")["cluster"]
    print(f"clusters at a cap of 400: k={model.n_clusters_} (spark {cl['k']})")
    assert model.fit_customers_ == cl["fit_rows"] == 400 and cl["customers"] == len(feats) == len(s)
    assert cl["k"] == model.n_clusters_ >= 2
    np.testing.assert_allclose(cl["centroids"].to_numpy(), model.centroids_.to_numpy(), rtol=1e-9, atol=1e-9)
    assert (s.loc[feats["customer_id"]].to_numpy() == np.asarray(labels)).all()


@needs_spark
def test_frequent_itemsets_are_identical(shop, spark_run, cfg):
    from shopseg.basket import frequent_itemsets

    ws, _ = shop
    d = frequent_itemsets(ws, as_of=AS_OF, config=cfg)
    its, rules, n, _ = spark_run[2]["itemsets"]
    s = its.toPandas()
    print(f"itemsets: duckdb {len(d)} spark {len(s)} baskets {n} rules {rules.count()}")
    assert len(d) > 20 and (d["length"] >= 2).any()
    as_set = lambda df: {(frozenset(i), int(c)) for i, c in zip(df["items"], df["count"])}  # noqa: E731
    assert as_set(s) == as_set(d)
    np.testing.assert_allclose(np.sort(s["support"].to_numpy()), np.sort(d["support"].to_numpy()), rtol=1e-12)


# -- CLV and churn, and the whole run -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ccfg(cfg):
    """One training cutoff (as_of - 2H) instead of three: the same code paths at half the Spark work."""
    return cfg.with_overrides({"churn": {"train_windows": 1}})


@pytest.fixture(scope="module")
def spark_run(shop, spark, ccfg, duck):
    """One ``run_spark`` of the demo shop (after the DuckDB engine's reference, ``duck``), shared by every parity
    test: besides (result, runs.stages), what its steps computed, caught on the way (Spark's features and
    segments, itemsets and rules, churn frames), so that no Spark pipeline runs twice in the module."""
    import json

    from shopseg.spark import _predict as predict, engine
    from shopseg.spark._run import run_spark

    ws, root = shop
    seen: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        for module, name, key in ((engine, "spark_segments", "segments"), (engine, "spark_itemsets", "itemsets"),
                                  (predict, "spark_churn_frames", "churn_frames")):
            def caught(*args, _real=getattr(module, name), _key=key, **kw):
                seen[_key] = out = _real(*args, **kw)
                return out
            mp.setattr(module, name, caught)
        res = run_spark(ws, AS_OF, config=ccfg, spark=spark, work_dir=root / "e2e")
    assert set(seen) == {"segments", "itemsets", "churn_frames"}, set(seen)
    return res, json.loads(ws.scalar("SELECT stages FROM runs WHERE run_id = ?", [res.run_id])), seen


@needs_spark
def test_run_spark_end_to_end_fills_every_output_table_and_marks_the_run_done(shop, spark_run):
    from shopseg.spark._run import OUTPUT_TABLES

    ws, _ = shop
    res, stages, _ = spark_run
    assert res.status == "done"
    assert ws.scalar("SELECT status FROM runs WHERE run_id = ?", [res.run_id]) == "done"
    assert {"clv", "churn"} <= set(stages) and all(v["status"] == "done" for v in stages.values())
    for t in OUTPUT_TABLES:
        assert ws.scalar(f'SELECT count(*) FROM "{t}" WHERE run_id = ?', [res.run_id]) > 0, t
    n_buyers = ws.scalar("SELECT count(DISTINCT customer_id) FROM orders WHERE kind = 'sale' "
                         "AND customer_id IS NOT NULL AND ordered_at < ?", [AS_OF])
    assert ws.scalar("SELECT count(*) FROM clv WHERE run_id = ?", [res.run_id]) == n_buyers
    assert ws.scalar("SELECT count(*) FROM churn_scores WHERE run_id = ?", [res.run_id]) == n_buyers
    print("run_spark stages (s): " + ", ".join(f"{k} {v['seconds']}" for k, v in stages.items()))


WHO = ["geo", "interest", "age_band", "gender"]  # schemes of the default config that run after import


@needs_spark
def test_geo_interest_age_band_and_gender_segments_equal_the_duckdb_engines(shop, duck, spark_run):
    ws, _ = shop
    res, stages, _ = spark_run
    # computed on the stored run by their DuckDB code (spark/_schemes), inside the segments stage
    assert stages["segments"]["schemes"] == WHO
    got = ws.df("SELECT customer_id, scheme, segment FROM segments WHERE run_id = ?", [res.run_id]).pivot(
        index="customer_id", columns="scheme", values="segment")
    want = duck[0].segments.set_index("customer_id")
    assert set(WHO) <= set(got.columns)
    for scheme in WHO:
        assert got[scheme].reindex(want.index).tolist() == want[scheme].tolist(), scheme
    # the demo shop plants places, birth dates, genders and interests: no scheme is one segment
    assert all(want[s].nunique() >= 3 for s in WHO), {s: want[s].nunique() for s in WHO}
    n = ws.scalar("SELECT count(*) FROM customer_interests WHERE run_id = ?", [res.run_id])
    assert n == len(duck[0].extras["customer_interests"]) > 0


@needs_spark
def test_spark_runs_profiles_carry_the_geo_dimension_and_match_the_duckdb_engines(shop, duck, spark_run):
    import json

    ws, _ = shop
    res, _, _ = spark_run
    prof = ws.df("SELECT scheme, segment, name, n_customers, profile FROM segment_profiles WHERE run_id = ?",
                 [res.run_id])
    want = duck[0].profiles.set_index(["scheme", "segment"])
    assert set(WHO) <= set(prof["scheme"])
    for row in prof.itertuples():
        p = json.loads(row.profile)
        if row.scheme != "geo":
            assert "by_geo" in p, (row.scheme, row.segment)  # Spark's own schemes get the dimension too
        if row.scheme in WHO:
            w = want.loc[(row.scheme, row.segment)]
            assert (row.name, row.n_customers) == (w["name"], w["n_customers"])
            key = "level" if row.scheme == "geo" else "by_geo"
            assert p[key] == json.loads(w["profile"])[key]


@needs_spark
def test_clv_summary_is_identical_and_clv_table_equals_the_duckdb_engines(shop, tables, cfg, spark_run):
    from shopseg.predict.clv import CLV_COLUMNS, fit_clv_models, score_clv, summary_from_orders
    from shopseg.spark._predict import spark_clv_summary

    ws, _ = shop
    c = cfg["clv"]
    d_sum = summary_from_orders(ws, AS_OF, time_unit=c["time_unit"])
    s_sum = spark_clv_summary(tables, AS_OF, c["time_unit"]).toPandas().sort_values("customer_id") \
        .reset_index(drop=True)
    assert len(d_sum) == len(s_sum) > 1000
    assert (s_sum["customer_id"].to_numpy() == d_sum["customer_id"].to_numpy()).all()
    for col in ("frequency", "recency", "T"):
        assert (s_sum[col].to_numpy() == d_sum[col].to_numpy()).all(), col
    m_diff = np.max(np.abs(s_sum["monetary_value"].to_numpy() - d_sum["monetary_value"].to_numpy()))
    np.testing.assert_allclose(s_sum["monetary_value"], d_sum["monetary_value"], rtol=1e-12, atol=1e-9)
    tm, vm = fit_clv_models(d_sum, model=c["model"], penalizer_coef=c["penalizer_coef"],
                            value_penalizer_coef=c["value_penalizer_coef"], time_unit=c["time_unit"])
    d = score_clv(d_sum, tm, vm, AS_OF, horizon_days=c["horizon_days"], discount_rate_annual=c["discount_rate_annual"],
                  min_p_alive=c["min_p_alive"], model_name=f"{c['model']}+gammagamma")
    res, stages, _ = spark_run
    assert {k: stages["clv"][k] for k in tm.params_} == {k: round(v, 4) for k, v in tm.params_.items()}
    s = ws.df("SELECT * EXCLUDE (run_id) FROM clv WHERE run_id = ? ORDER BY customer_id", [res.run_id])
    assert list(s.columns) == list(CLV_COLUMNS) and len(s) == len(d)
    assert (s["customer_id"].to_numpy() == d["customer_id"].to_numpy()).all()
    assert (s["frequency"].to_numpy() == d["frequency"].to_numpy()).all()
    worst = 0.0
    for col in ("recency", "T", "monetary_value", "p_alive", "expected_purchases_90d", "expected_purchases_horizon",
                "expected_order_value", "clv"):
        a, b = s[col].to_numpy(float), d[col].to_numpy(float)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=col)
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))
    nxt_s, nxt_d = s["expected_next_order_at"], d["expected_next_order_at"]
    assert (nxt_s.isna().to_numpy() == nxt_d.isna().to_numpy()).all() and nxt_d.notna().sum() > 100
    gap_s = np.abs((nxt_s - nxt_d).dropna().dt.total_seconds().to_numpy())
    assert gap_s.max() <= 1e-3  # microsecond timestamps
    print(f"clv: {len(s)} customers, monetary max abs diff {m_diff:.2e}, scores max rel diff {worst:.2e}, "
          f"next order max diff {gap_s.max():.1e} s")


@pytest.fixture(scope="module")
def churn_both(shop, spark_run, ccfg):
    """The DuckDB engine's churn fit and the churn frames ``run_spark`` trained and validated on."""
    from shopseg.predict.churn import fit_churn

    ws, _ = shop
    return fit_churn(ws, AS_OF, ccfg), spark_run[2]["churn_frames"]


@needs_spark
def test_churn_training_and_validation_labels_and_features_are_identical(churn_both):
    fit, fr = churn_both
    assert fr["horizon"] == fit.horizon and fr["features"] == fit.features
    for name, d in (("train", fit.train), ("valid", fit.valid)):
        s = fr[name].toPandas()
        key = ["cutoff", "customer_id"]
        s = s.assign(cutoff=pd.to_datetime(s["cutoff"])).sort_values(key).reset_index(drop=True)
        d = d.assign(cutoff=pd.to_datetime(d["cutoff"])).sort_values(key).reset_index(drop=True)
        assert len(s) == len(d) > 500, name
        assert (s[key + ["churned"]].to_numpy() == d[key + ["churned"]].to_numpy()).all(), name
        assert 0.1 < d["churned"].mean() < 0.9
        diff = np.abs(s[fit.features].to_numpy(float) - d[fit.features].to_numpy(float))
        # both rounded to 1e-6: a sum differing in its last bits may land on the other side of a rounding step
        assert diff.max() <= 1.01e-6, (name, fit.features[int(np.argmax(diff.max(axis=0)))])
        print(f"churn {name}: {len(s)} labelled rows identical ({int(d['churned'].sum())} churned), "
              f"features max abs diff {diff.max():.1e} ({int((diff > 0).sum())} of {diff.size} values differ)")


@needs_spark
def test_spark_gbt_validation_auc_is_within_005_of_lightgbm(churn_both, spark_run, shop):
    fit, _ = churn_both
    res, stages, _ = spark_run
    ws, _ = shop
    auc_s, auc_d = stages["churn"]["roc_auc"], fit.figures["roc_auc"]
    print(f"churn validation ROC-AUC: spark GBT {auc_s:.4f}, duckdb {fit.model.model} {auc_d:.4f}")
    assert stages["churn"]["n_valid"] == len(fit.valid) and stages["churn"]["n_train"] == len(fit.train)
    assert abs(auc_s - auc_d) <= 0.05
    # churn.tiers, method "probability" (the default): high from 0.7, mid from 0.4, low below
    wrong = ws.scalar("SELECT count(*) FROM churn_scores WHERE run_id = ? AND tier <> CASE WHEN probability >= 0.7 "
                      "THEN 'high' WHEN probability >= 0.4 THEN 'mid' ELSE 'low' END", [res.run_id])
    assert wrong == 0 and ws.scalar("SELECT count(*) FROM churn_scores WHERE run_id = ?", [res.run_id]) > 0
    # the recency floor depends on the windows only (the same labelled frames): the same edge and floor as DuckDB's
    floor = fit.model.recency_floor_
    assert floor and stages["churn"]["train_max_recency_days"] == floor["max_recency_days"]
    assert stages["churn"]["recency_floor"] == floor["probability"]


@needs_spark
def test_churn_max_customers_samples_the_same_customers_and_features_as_the_duckdb_engine(shop, tables, ccfg):
    """churn.max_customers binding (400 of the shop's buyers): the validation window of the same seeded
    customers, with the same labels and features (outliers flagged among the sample, as the DuckDB engine)."""
    from datetime import timedelta

    from shopseg.predict._churn_data import customer_sample, labelled_frame
    from shopseg.predict.churn import churn_horizon
    from shopseg.spark._predict import spark_churn_frames

    ws, _ = shop
    cfg = ccfg.with_overrides({"churn": {"max_customers": 400}})
    H = churn_horizon(ws, AS_OF, cfg)["horizon_days"]
    c2 = AS_OF - timedelta(days=H)
    sample, n = customer_sample(ws, c2, 400, cfg["churn.random_state"])
    fr = spark_churn_frames(tables, AS_OF, cfg)
    assert fr["sample"] == sample and fr["n_customers"] == n > 400 and len(sample) == 400
    d = labelled_frame(ws, c2, H, cfg, customers=sample).sort_values("customer_id").reset_index(drop=True)
    s = fr["valid"].toPandas().sort_values("customer_id").reset_index(drop=True)
    assert len(s) == len(d) > 300 and (s["customer_id"] == d["customer_id"]).all()
    assert (s["churned"].to_numpy() == d["churned"].to_numpy()).all()
    diff = np.abs(s[fr["features"]].to_numpy(float) - d[fr["features"]].to_numpy(float))
    assert diff.max() <= 1.01e-6, fr["features"][int(np.argmax(diff.max(axis=0)))]


@needs_spark
def test_churn_training_sample_is_exact_seeded_and_a_subset(spark):
    from shopseg.spark._predict import sample_rows

    frame = spark.createDataFrame(pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(1000)],
                                                "cutoff": pd.Timestamp("2024-01-01"), "churned": 0}))
    a = sample_rows(frame, 300, seed=7).toPandas()
    b = sample_rows(frame.repartition(5), 300, seed=7).toPandas()
    c = sample_rows(frame, 300, seed=8).toPandas()
    assert len(a) == 300 and a["customer_id"].is_unique and set(a["customer_id"]) <= {f"C{i:04d}" for i in range(1000)}
    assert sorted(a["customer_id"]) == sorted(b["customer_id"])  # the same rows however the frame is split
    assert sorted(a["customer_id"]) != sorted(c["customer_id"])  # another seed, another sample
    assert len(sample_rows(frame, 5000, seed=7).toPandas()) == 1000  # fewer rows than asked: all of them


def test_spark_resource_failures_become_errors_naming_the_setting(monkeypatch):
    from shopseg.spark import _session
    from shopseg.spark._session import broadcast_threshold, driver_memory, resource_error

    monkeypatch.setenv("SHOPSEG_SPARK_MEMORY", "3g")
    monkeypatch.setattr(_session, "_session_memory", lambda: None)  # no JVM yet: the setting a run would use
    assert driver_memory() == "3g" == driver_memory(10**9)
    assert broadcast_threshold("1g") == 2**30 // 200 and broadcast_threshold("3g") == 10 * 2**20
    java = ("An error occurred while calling o123.count.\n: org.apache.spark.SparkException: Not enough memory to "
            "build and broadcast the table to all worker nodes. As a workaround, ...\n\tat org.apache.spark...")
    e = resource_error(RuntimeError(java))
    assert "spark.driver.memory = 3g" in e.message and "Not enough memory to build and broadcast" in e.message
    assert "SHOPSEG_SPARK_MEMORY=6144m" in e.hint and "autoBroadcastJoinThreshold" in e.hint
    monkeypatch.setattr(_session, "_session_memory", lambda: "1551m")  # a JVM runs: its heap is the one named
    e = resource_error(RuntimeError("java.lang.OutOfMemoryError: Java heap space\n\tat ..."))
    assert e.message == ("Spark ran out of memory (driver heap spark.driver.memory = 1551m): "
                         "java.lang.OutOfMemoryError: Java heap space") and "SHOPSEG_SPARK_MEMORY=3102m" in e.hint
    e = resource_error(RuntimeError("Py4JJavaError: ...\njava.lang.StackOverflowError\n\tat scala.collection..."))
    assert e.message == ("Spark ran out of thread stack (-Xss64m in spark.driver.extraJavaOptions): "
                         "java.lang.StackOverflowError") and "SHOPSEG_SPARK_STACK" in e.hint
    assert resource_error(ValueError("column not found")) is None  # any other failure stays as it was


def test_cli_run_rejects_an_unknown_engine_naming_both_choices(tmp_path):
    from typer.testing import CliRunner

    from shopseg.cli import app

    res = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "run", "--engine", "flink"])
    assert res.exit_code != 0
    assert "duckdb or spark" in res.output and "flink" in res.output


@needs_spark
def test_a_partitions_max_itemsets_config_error_reaches_the_user_as_the_config_error(shop, spark, ccfg, tmp_path):
    """baskets.max_itemsets exceeded while a Spark partition mines: the run raises the miner's ConfigError
    (message and hint), not Spark's PythonException with a Python traceback in its text."""
    from shopseg.errors import ConfigError
    from shopseg.spark._run import run_spark

    ws, _ = shop
    with pytest.raises(ConfigError) as e:
        run_spark(ws, AS_OF, config=ccfg.with_overrides({"baskets": {"max_itemsets": 5}}), spark=spark,
                  work_dir=tmp_path / "run", stages=["baskets"])
    assert "than max_itemsets=5 frequent itemsets" in e.value.message and "Traceback" not in e.value.message
    assert "(baskets.max_itemsets)" in e.value.hint
