"""CLV and churn on Spark, with the DuckDB engine's definitions.

=================  =========================================================================
CLV summary        :data:`shopseg.predict.clv.SUMMARY_SQL` (frequency, recency, T,
                   monetary_value per customer), transpiled
CLV models         :func:`~shopseg.predict.clv.fit_clv_models` (BG/NBD or Pareto/NBD +
                   Gamma-Gamma) fitted on the driver from the collected summary (4 numbers per
                   customer; a random sample of ``fit_rows`` customers above that), then
                   :func:`~shopseg.predict.clv.score_clv` per partition (``mapInPandas``)
churn horizon      :func:`~shopseg.predict.churn.churn_horizon` (its SQL transpiled)
churn frame        customer features (transpiled), the churn extras SQL and the label SQL of
                   :mod:`shopseg.predict._churn_data`, transpiled; the row rules
                   (:func:`numeric_features`, :func:`add_gap_features`) per partition; the
                   shop median gap by Spark's exact ``percentile``
churn model        MLlib ``GBTClassifier`` on the stacked training cutoffs; its margin calibrated
                   on the validation window by the DuckDB engine's :func:`fit_calibrator`
                   (isotonic by default); tiers by the same rule (``churn.tiers``)
=================  =========================================================================

Not filled on Spark: the per-customer reasons of ``churn_scores`` (NULL: the DuckDB
engine's reasons come from per-customer tree contributions, which MLlib does not
expose) and the churn rows of ``model_reports``.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from ..config import Config, load_config
from ..errors import ModelFitError
from ..features import _as_ts

CLV_SCHEMA = ("customer_id string, frequency long, recency double, T double, monetary_value double, "
              "p_alive double, expected_purchases_90d double, expected_purchases_horizon double, "
              "expected_order_value double, clv double, expected_next_order_at timestamp_ntz, "
              "horizon_days double, model string")


# -- CLV ----------------------------------------------------------------------------------------------------

def spark_clv_summary(tables, as_of, time_unit: str = "D"):
    """The CLV summary (customer_id, frequency, recency, T, monetary_value) on Spark: SUMMARY_SQL transpiled."""
    from ..predict.clv import SUMMARY_SQL, _timestamp, _unit

    return tables.frame(SUMMARY_SQL.format(customer_filter=""),
                        {"as_of": _timestamp(as_of).to_pydatetime(), "unit": _unit(time_unit)})


def spark_clv(tables, as_of, config: Config | None = None, *, seed: int = 0, fit_rows: int = 2_000_000):
    """(clv table as a Spark DataFrame, facts): summary in Spark, models fitted on the driver, scored per partition.

    The models are fitted on every customer's summary when there are at most ``fit_rows``
    (then they equal the DuckDB engine's), else on a random sample of about that many.
    """
    from ..predict.clv import CLV_COLUMNS, fit_clv_models, score_clv

    c = (config or load_config())["clv"]
    summary = spark_clv_summary(tables, as_of, c["time_unit"]).cache()
    n = summary.count()
    sample = summary if n <= fit_rows else summary.sample(fraction=min(1.0, 1.2 * fit_rows / n), seed=seed)
    pdf = sample.toPandas().sort_values("customer_id", kind="stable").reset_index(drop=True)
    tm, vm = fit_clv_models(pdf, model=c["model"], penalizer_coef=c["penalizer_coef"],
                            value_penalizer_coef=c["value_penalizer_coef"], time_unit=c["time_unit"])
    name = f"{c['model']}+gammagamma"
    kw = {"horizon_days": c["horizon_days"], "discount_rate_annual": c["discount_rate_annual"],
          "min_p_alive": c["min_p_alive"], "model_name": name}
    cols = list(CLV_COLUMNS)

    def score(it):
        for part in it:
            yield score_clv(part, tm, vm, as_of, **kw)[cols]

    return summary.mapInPandas(score, CLV_SCHEMA), {"transaction_model": tm, "value_model": vm,
                                                     "customers": n, "fit_rows": len(pdf)}


# -- churn --------------------------------------------------------------------------------------------------

def spark_cutoff_frame(tables, cutoff, horizon_days: int, config: Config | None = None, *, features=None,
                       sample: bool = False):
    """:func:`shopseg.predict._churn_data.cutoff_frame` on Spark (one row per customer with a sale before ``cutoff``).

    ``features``: the Spark customer_features as of ``cutoff`` when the caller has them; ``sample``: only the
    customers of the sample view (:func:`spark_customer_sample`; ``cutoff_frame(customers=..., sample=True)``).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType

    from ..predict._churn_data import _EXTRAS_SQL, NOT_FEATURES, add_gap_features, numeric_features
    from ..workspace import only_customers
    from ._sql import only_sample
    from .engine import spark_customer_features

    cfg = config or load_config()
    feats = features if features is not None else spark_customer_features(tables, cutoff, cfg, sample=sample)
    extras_sql = only_sample(only_customers(_EXTRAS_SQL)) if sample else \
        _EXTRAS_SQL.replace("/*only:o*/", "").replace("/*only*/", "")
    extras = tables.frame(extras_sql, {
        "cutoff": _as_ts(cutoff), "h": float(horizon_days), "max_rating": float(cfg["churn.complaint_max_rating"])})
    f = feats.where(F.col("has_orders")).join(extras, "customer_id", "left")
    kinds = {"customer_id": StringType(), "has_orders": BooleanType()}
    fields = [StructField(c, kinds.get(c, DoubleType())) for c in f.columns if c not in NOT_FEATURES or c in kinds]
    f = f.select(*[F.col(f"`{x.name}`") for x in fields])
    from ._session import materialize

    num = materialize(f.mapInPandas(lambda it: (numeric_features(p) for p in it), StructType(fields)))
    gap = num.where("purchase_days >= 2").agg(F.percentile("mean_days_between_orders", 0.5)).first()[0]
    shop_gap = float(gap) if gap is not None else float(horizon_days)
    out = StructType(fields + [StructField("usual_gap_days", DoubleType()),
                               StructField("recency_gap_ratio", DoubleType())])
    return num.mapInPandas(lambda it: (add_gap_features(p, shop_gap) for p in it), out), shop_gap


def spark_labelled_frame(tables, cutoff, horizon_days: int, config: Config | None = None, *, features=None,
                         sample: bool = False):
    """:func:`spark_cutoff_frame` with ``churned`` (the label SQL of ``churn_labels``, transpiled) and ``cutoff``."""
    from pyspark.sql import functions as F

    from ..predict._churn_data import LABELS_SQL

    start = _as_ts(cutoff)
    frame, _ = spark_cutoff_frame(tables, cutoff, horizon_days, config, features=features, sample=sample)
    lab = tables.frame(LABELS_SQL, {"start": start, "end": start + timedelta(days=int(horizon_days))})
    return frame.join(lab.select("customer_id", F.col("churned").cast("int")), "customer_id", "inner") \
        .withColumn("cutoff", F.lit(pd.Timestamp(start).to_pydatetime()).cast("timestamp_ntz"))


def spark_customer_sample(tables, cutoff, max_customers: int, seed: int) -> tuple[list[str] | None, int]:
    """:func:`shopseg.predict._churn_data.customer_sample` on Spark (the same query and draw, so the same
    customers), registered as the temp view ``shopseg.spark._sql.SAMPLE_VIEW`` when there is a sample."""
    from ..predict._churn_data import SAMPLE_POPULATION_SQL, seeded_sample
    from ._sql import SAMPLE_VIEW

    ids = tables.frame(SAMPLE_POPULATION_SQL, [_as_ts(cutoff)]).toPandas()["customer_id"].to_numpy()
    sample = seeded_sample(ids, max_customers, seed)
    if sample is not None:
        tables.register(SAMPLE_VIEW, tables.spark.createDataFrame(pd.DataFrame({"customer_id": sample}),
                                                                  "customer_id string"))
    return sample, len(ids)


def spark_churn_frames(tables, as_of, config: Config | None = None) -> dict:
    """The horizon, cutoffs and the (training, validation) labelled Spark frames, as :func:`fit_churn` builds them."""
    from ..predict.churn import _features, churn_horizon, churn_settings

    cfg = config or load_config()
    c = churn_settings(cfg)
    as_of = _as_ts(as_of)
    hz = churn_horizon(tables, as_of, cfg)
    H = hz["horizon_days"]
    c2, c1 = as_of - timedelta(days=H), as_of - timedelta(days=2 * H)
    step = c["window_step_days"] or max(1, math.ceil(H / 3))
    first = tables.scalar("SELECT min(ordered_at) FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL")
    cutoffs = [t for t in (c1 - timedelta(days=k * step) for k in range(c["train_windows"]))
               if first is not None and t > first]
    if not cutoffs:
        raise ModelFitError(f"Cannot fit a churn model: no sale order before the training cutoff {c1:%Y-%m-%d} "
                            f"(as_of - 2 x {H} days).", hint="Lower churn.horizon_days or use a later as_of.")
    # a large shop: the windows of a seeded sample of customers, as the DuckDB engine draws it (churn.max_customers)
    sample, n_customers = spark_customer_sample(tables, c2, c["max_customers"], c["random_state"])
    valid = spark_labelled_frame(tables, c2, H, cfg, sample=sample is not None).cache()
    features = _features(valid, c)
    keep = ["customer_id", "cutoff", "churned", *features]
    train = None
    for t in cutoffs:
        part = spark_labelled_frame(tables, t, H, cfg, sample=sample is not None).select(*[f"`{k}`" for k in keep])
        train = part if train is None else train.unionByName(part)
    return {"horizon": hz, "cutoffs": cutoffs, "valid_cutoff": c2, "features": features,
            "sample": sample, "n_customers": n_customers,
            "train": train.cache(), "valid": valid.select(*[f"`{k}`" for k in keep])}


def _margin(model, frame, features):
    """(frame + column ``raw``): the GBT margin, MLlib's rawPrediction[1]."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    vec = VectorAssembler(inputCols=list(features), outputCol="features").transform(frame)
    return model.transform(vec).withColumn("raw", vector_to_array("rawPrediction")[1]) \
        .drop("features", "rawPrediction", "probability", "prediction").withColumn("raw", F.col("raw").cast("double"))


def sample_rows(frame, n: int, seed: int):
    """``n`` rows of ``frame`` (exactly, when it has more), the same ones on every run and every partitioning:
    the first ``n`` by a seeded hash of (customer_id, cutoff), ties by those columns."""
    from pyspark.sql import functions as F

    keys = [k for k in ("customer_id", "cutoff") if k in frame.columns]
    h = F.xxhash64(*[F.col(k).cast("string") for k in keys], F.lit(int(seed)))
    return frame.withColumn("_k", h).orderBy("_k", *keys).limit(int(n)).drop("_k")


def spark_churn(tables, as_of, config: Config | None = None, *, features=None, frames: dict | None = None):
    """(churn_scores, churn_validation, facts) on Spark: MLlib gradient-boosted trees.

    Training, validation and scoring windows as in :func:`shopseg.predict.churn.fit_churn`; the
    MLlib margin is calibrated on the validation window (the DuckDB engine's calibrator, fitted on
    the collected (margin, label) pairs: 2 numbers per customer) and tiers follow ``churn.tiers``
    (method ``share``: rank by probability, ties by margin, then customer_id).
    ``features``: Spark customer_features as of ``as_of`` (the segments step's).
    """
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from ..predict import _churn_report as R
    from ..predict._churn_model import _calibrate_apply, fit_calibrator
    from ..predict.churn import apply_recency_floor, churn_settings, recency_floor

    cfg = config or load_config()
    c = churn_settings(cfg)
    fr = frames or spark_churn_frames(tables, as_of, cfg)
    feats, H = fr["features"], fr["horizon"]["horizon_days"]
    train = fr["train"]
    n_train = train.count()
    n1 = train.agg(F.sum("churned")).first()[0] or 0
    rec = [] if "recency_days" in feats else ["recency_days"]  # the recency floor reads it
    valid = fr["valid"].select("customer_id", "churned", *[f"`{k}`" for k in [*feats, *rec]]).cache()
    nv = valid.count()
    nv1 = valid.agg(F.sum("churned")).first()[0] or 0
    for name, n, k in (("training", n_train, n1), ("validation", nv, nv1)):
        if n < c["min_labelled_customers"] or min(k, n - k) < c["min_class_count"]:
            raise ModelFitError(f"Cannot fit a churn model: the {name} window has {n} labelled customers ({k} churned).",
                                hint="Lower churn.horizon_days or use a later as_of.")
    n_fit = n_train
    if c["max_train_rows"] and n_train > c["max_train_rows"]:  # a large shop: a seeded sample (docs/scale.md)
        n_fit = int(c["max_train_rows"])
        train = sample_rows(train, n_fit, int(c["random_state"]))
    gbt = GBTClassifier(featuresCol="features", labelCol="churned", maxIter=20, maxDepth=3, stepSize=0.1,
                        subsamplingRate=1.0, seed=int(c["random_state"]))
    model = gbt.fit(VectorAssembler(inputCols=list(feats), outputCol="features").transform(train))
    vs = _margin(model, valid, feats).select("customer_id", "churned", "raw", "recency_days").toPandas() \
        .sort_values("customer_id", kind="stable").reset_index(drop=True)
    y, raw = vs["churned"].to_numpy(int), vs["raw"].to_numpy(float)
    uncal = lambda s: 1.0 / (1.0 + np.exp(-2.0 * s))  # noqa: E731  MLlib GBT: P = sigmoid(2 * margin)
    cal = fit_calibrator(c["calibration"], raw, y, uncal)
    calibrated = (lambda s: np.clip(_calibrate_apply(cal, s), 0.0, 1.0)) if cal else uncal
    # buyers silent longer than every training row: at least the calendar's churn rate at that edge, as the DuckDB
    # engine (shopseg.predict.churn.recency_floor; the longest training silence is one aggregate of the fitted rows)
    edge = train.agg(F.max("recency_days")).first()[0]
    floor = recency_floor(pd.DataFrame({"recency_days": [] if edge is None else [float(edge)]}), vs, y)

    def prob_of(s, recency):
        return apply_recency_floor(floor, calibrated(s), recency)[0]

    vprob = prob_of(raw, vs["recency_days"].to_numpy(float))
    figures = {"roc_auc": R.roc_auc(y, raw), "pr_auc": R.pr_auc(y, raw), "brier": R.brier(y, vprob)}

    score_frame, shop_gap = spark_cutoff_frame(tables, as_of, H, cfg, features=features)
    scored = _margin(model, score_frame.select("customer_id", *[f"`{k}`" for k in [*feats, *rec]]), feats) \
        .select("customer_id", "raw", "recency_days")

    def calibrate(it):
        for p in it:
            yield pd.DataFrame({"customer_id": p["customer_id"], "raw": p["raw"], "probability": prob_of(
                p["raw"].to_numpy(float), p["recency_days"].to_numpy(float))})

    scored = scored.mapInPandas(calibrate, "customer_id string, raw double, probability double").cache()
    n = scored.count()
    t = c["tiers"]
    cuts = R.tier_cuts(t, vprob, y)
    if cuts["method"] == "share":
        n_high = int(round(t["high_share"] * n))
        n_mid = min(n - n_high, int(round(t["mid_share"] * n)))
        rank = F.row_number().over(Window.orderBy(F.desc("probability"), F.desc("raw"), F.asc("customer_id")))
        ranked = scored.withColumn("_rank", rank)
        tier = F.when(F.col("_rank") <= n_high, "high").when(F.col("_rank") <= n_high + n_mid, "mid").otherwise("low")
    else:
        ranked = scored
        tier = F.when(F.col("probability") >= cuts["high"], "high") \
            .when(F.col("probability") >= cuts["mid"], "mid").otherwise("low")
    null = F.lit(None).cast("string")
    scores = ranked.select("customer_id", "probability", tier.alias("tier"), null.alias("reason_1"),
                           null.alias("reason_2"), null.alias("reason_3"), F.lit("spark-gbt").alias("model"))
    spark = tables.spark
    validation = spark.createDataFrame(pd.DataFrame({
        "customer_id": vs["customer_id"].astype(str), "churned": y.astype(bool), "probability": vprob.astype(float)}))
    imp = pd.Series(model.featureImportances.toArray(), index=feats).sort_values(ascending=False)
    note = None if fr.get("sample") is None else (
        f"training and validation windows of {len(fr['sample']):,} of {fr['n_customers']:,} customers "
        "(churn.max_customers)")
    return scores, validation, {"horizon": fr["horizon"], "figures": figures, "n_train": n_train, "n_fit": n_fit,
                                "customer_sample": note,
                                "n_valid": nv,
                                "n_scored": n, "shop_gap_days": shop_gap, "importance": imp,
                                "recency_floor": floor,
                                "validation_frame": vs.assign(probability=vprob)}
