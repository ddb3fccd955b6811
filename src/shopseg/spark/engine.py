"""The stages on Spark: features, RFM, lifecycle, value tiers, clusters, frequent itemsets and rules.

Each function takes a :class:`SparkTables` (the canonical tables as Spark temp
views) or Spark DataFrames and returns Spark DataFrames with the columns of the
DuckDB engine's output tables (without ``run_id``).  Every rule has one
definition, shared with the DuckDB engine:

=================  =========================================================================
customer features  :func:`shopseg.features.features_sql`, transpiled (SQLGlot)
RFM, value tiers   :func:`~shopseg.segment.rfm.rfm_segments`, :func:`~shopseg.segment.value.value_tiers`
                   on the narrow customer-level frame, in one ``applyInPandas`` group (a
                   quantile rank needs the whole population; one row per customer)
lifecycle          windows: :func:`~shopseg.segment.lifecycle.lifecycle_windows` (its
                   ``quantile_cont`` SQL transpiled to Spark's exact ``percentile``);
                   per-customer gaps: ``PER_CUSTOMER_SQL`` transpiled; stages:
                   :func:`~shopseg.segment.lifecycle.assign_stages` per partition
clusters           :class:`~shopseg.segment.cluster.BehaviourClusters` fitted on the driver on the
                   DuckDB engine's customers (``segments.cluster.max_customers``' seeded sample
                   above the cap), ``predict`` applied per partition
baskets            the DuckDB engine's basket SQL, transpiled; its miner per partition, exact counts (SON)
=================  =========================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config, load_config
from ..features import _as_ts, _ordered_columns, features_sql
from ._sql import SparkTables

FEATURE_COLUMNS_INT = ("frequency", "recency_days", "tenure_days", "n_sessions", "brand_diversity", "n_reviews")


def spark_customer_features(tables: SparkTables, as_of, config: Config | None = None, *, sample: bool = False):
    """customer_features as of ``as_of`` on Spark: the DuckDB SQL of :func:`features_sql`, transpiled.

    Top categories and the review-sentiment hook are decided by the same code,
    asking the Spark views instead of the workspace.  ``sample``: only the customers of the temp view
    ``shopseg.spark._sql.SAMPLE_VIEW`` (the DuckDB engine's ``customer_features(customers=...)``: the same
    SQL restricted; outliers flagged among them, the shop's top categories).
    """
    from ._sql import only_sample

    cfg = config or load_config()
    as_ts = _as_ts(as_of)
    sql = features_sql(tables, as_ts, cfg, restricted=sample)
    sdf = tables.frame(only_sample(sql) if sample else sql, {"as_of": as_ts})
    return sdf.select(*[f"`{c}`" for c in _ordered_columns(sdf.columns)])


# -- RFM and value tiers: the numpy rules on the customer-level frame -------------------------------------

_RANK_COLUMNS = ("customer_id", "has_orders", "frequency", "recency_days", "monetary_total", "monetary_net")
RFM_SCHEMA = ("customer_id string, r_score long, f_score long, m_score long, fm_score long, "
              "rfm string, value_tier string")


def spark_rfm_value(features, config: Config | None = None, *, clv=None, windows: dict | None = None):
    """RFM scores and segment, and value tier, per customer (columns of :data:`RFM_SCHEMA`).

    Runs :func:`rfm_segments` and :func:`value_tiers` unchanged on all customers at
    once (one group): their quantile ranks are over the whole population, so
    they need it in one place; only these six columns per customer travel there.
    ``clv``: the run's clv frame (Spark); with ``segments.value.basis`` auto or clv, buyers are ranked by
    its ``segments.value.clv_column``, as the DuckDB engine's value_tier scheme does when its run has CLV
    (a buyer without a CLV ranks last), else by money spent.  ``windows``: the lifecycle's, for RFM's recency
    (a buyer past the churn window scores R = 1, as in a DuckDB run).
    """
    from ..segment.rfm import rfm_segments
    from ..segment.value import value_tiers

    cfg = config or load_config()
    cols = [c for c in _RANK_COLUMNS if c in features.columns]
    money = cfg["segments.rfm.monetary_column"]
    if money not in cols:
        cols.append(money)
    by_clv = clv is not None and cfg["segments.value.basis"] in ("auto", "clv")

    def score(pdf: pd.DataFrame) -> pd.DataFrame:
        import warnings

        pdf = pdf.sort_values("customer_id").reset_index(drop=True)
        scores = pdf.set_index("customer_id")["_clv"].astype(float) if by_clv else None
        with warnings.catch_warnings():  # the driver's own checks warn; workers stay quiet
            warnings.simplefilter("ignore")
            rfm = rfm_segments(pdf, cfg, windows)
            vt = value_tiers(pdf, cfg, scores=scores)
        return pd.DataFrame({
            "customer_id": rfm["customer_id"].astype(str),
            **{c: rfm[c].astype(np.int64) for c in ("r_score", "f_score", "m_score", "fm_score")},
            "rfm": rfm["segment"].astype(str), "value_tier": vt["tier"].astype(str),
        })

    from pyspark.sql import functions as F

    narrow = features.select(*cols)
    if by_clv:
        value = clv.select("customer_id", F.col(f"`{cfg['segments.value.clv_column']}`").cast("double").alias("_clv"))
        narrow = narrow.join(value, "customer_id", "left")
    return narrow.groupBy(F.lit(0).alias("_all")).applyInPandas(lambda key, pdf: score(pdf), RFM_SCHEMA)


# -- lifecycle: transpiled SQL for windows and gaps, the numpy rule per partition --------------------------

LIFECYCLE_SCHEMA = ("customer_id string, stage string, recency_days long, days_since_first_order long, "
                    "last_gap_days long")


def spark_lifecycle(tables: SparkTables, features, as_of, config: Config | None = None):
    """(lifecycle stage per customer, the windows dict) on Spark."""
    from ..segment.lifecycle import PER_CUSTOMER_SQL, assign_stages, lifecycle_windows

    cfg = config or load_config()
    as_ts = _as_ts(as_of)
    windows = lifecycle_windows(tables, as_ts, cfg)
    per = tables.frame(PER_CUSTOMER_SQL, {"as_of": as_ts})
    df = features.select("customer_id", "has_orders", "recency_days").join(per, "customer_id", "left")

    def stages(it):
        for pdf in it:
            out = assign_stages(pdf, windows)
            yield out.astype({"recency_days": "int64"})

    return df.mapInPandas(stages, LIFECYCLE_SCHEMA), windows


# -- clusters: BehaviourClusters fitted on the DuckDB engine's sample, every customer assigned ------------

def spark_clusters(features, config: Config | None = None, *, seed: int = 0):
    """Cluster label per customer (customer_id, cluster) and the fitted model facts.

    One sample rule for both engines (:func:`shopseg.segment.schemes.cluster.fit_sample`): above
    ``segments.cluster.max_customers`` customers, :class:`BehaviourClusters` is fitted on the driver on the
    same seeded sample of customers as the DuckDB engine's (all of them below it), rows in customer order, so its
    winsorising caps, scaling, K and centres are the DuckDB engine's; every customer then goes to the nearest
    centre (``BehaviourClusters.predict``, per partition). Ids run from 1 by decreasing size among the
    customers fitted, as in the DuckDB engine. (Until session 12: a 200,000-customer sample of Spark's own,
    then MLlib KMeans over everyone; above 200,000 customers K differed from the DuckDB engine's.)
    Returns (Spark DataFrame customer_id, cluster; dict with the model, K, centroids, customers and fit_rows).
    """
    from ..segment.cluster import BehaviourClusters
    from ..segment.schemes.cluster import cluster_label, fit_sample

    cfg = (config or load_config()).with_overrides({"segments": {"cluster": {"random_state": seed}}})
    ids = features.select("customer_id").toPandas()["customer_id"]
    sample = fit_sample(ids, cfg)
    fit = features
    if sample is not None:
        chosen = features.sparkSession.createDataFrame(pd.DataFrame({"customer_id": sample}), "customer_id string")
        fit = features.join(chosen, "customer_id")
    pdf = fit.toPandas().sort_values("customer_id", kind="stable").reset_index(drop=True)
    model = BehaviourClusters.from_config(cfg).fit(pdf)
    need = [c for c in features.columns if c in set(model.features_) | {"customer_id", "has_orders", "frequency",
                                                                         "tenure_days", "n_units"}]

    names = np.array([cluster_label(i) for i in range(int(model.cluster_ids_.max()) + 1)], dtype=object)

    def assign(it):
        for part in it:
            lab = model.predict(part) if len(part) else np.zeros(0, dtype=np.int64)
            yield pd.DataFrame({"customer_id": part["customer_id"].astype(str), "cluster": names[lab]})

    labels = features.select(*need).mapInPandas(assign, "customer_id string, cluster string")
    return labels, {"model": model, "k": int(model.n_clusters_), "centroids": model.centroids_,
                    "customers": len(ids), "fit_rows": len(pdf)}


# -- baskets: the DuckDB engine's basket SQL and miner (per partition, SON) -------------------------------

ITEMSET_COLUMNS = ("scope", "items", "item_names", "length", "support", "count")


def spark_itemsets(tables: SparkTables, as_of, config: Config | None = None):
    """(frequent_itemsets, association_rules, n_baskets, baskets) of the whole shop on Spark.

    Baskets come from the same SQL as the DuckDB engine; support is thresholded at the same least basket
    count (:func:`shopseg.basket._baskets.min_count`) and lengths at ``max_len``; the itemsets of two items
    or more are mined by the DuckDB engine's miner on each partition and counted exactly over all of them
    (:func:`shopseg.spark._itemsets.spark_son_itemsets`: Savasere et al. 1995). Rules: MLlib's one-consequent
    rules (:func:`~shopseg.spark._itemsets.rules_from_itemsets`), with leverage and conviction derived
    from support, confidence and lift (redundancy pruning, done by the DuckDB engine, is not applied here).
    """
    from pyspark.sql import functions as F

    from ..basket._baskets import _PRODUCT_NAMES_SQL, _WS_PAIRS, check_param, min_count, setting
    from ._itemsets import rules_from_itemsets, spark_son_itemsets

    cfg = config or load_config()
    unit = check_param("unit", setting("unit", None, cfg))
    basket = "o.order_id" if unit == "order" else "o.customer_id"
    extra = "" if unit == "order" else "AND o.customer_id IS NOT NULL"
    pairs = tables.frame(_WS_PAIRS.format(grp="NULL", basket=basket, seg_join="", extra=extra), [_as_ts(as_of)])
    pairs = pairs.where("basket_id IS NOT NULL AND item IS NOT NULL")
    # one name per item, as the DuckDB engine picks it: from products (one row per product), not the lines
    names = tables.frame(_PRODUCT_NAMES_SQL).cache()
    baskets = pairs.groupBy("basket_id").agg(F.array_sort(F.collect_set("item")).alias("items")).cache()
    n = baskets.count()
    mc = min_count(float(cfg["baskets.min_support"]), n) if n else 1
    max_len = int(cfg["baskets.max_len"])
    single = baskets.select(F.explode("items").alias("item")).groupBy("item").count() \
        .where(F.col("count") >= mc).toPandas().sort_values("item").reset_index(drop=True)
    ids = single["item"].astype(str).to_numpy()
    sets = np.zeros((0, 2), np.int32)
    sizes, counts = np.zeros(0, np.int32), np.zeros(0, np.int64)
    if len(ids) >= 2 and max_len >= 2:
        parts = baskets.select("items").coalesce(max(1, tables.spark.sparkContext.defaultParallelism))
        sets, sizes, counts, _ = spark_son_itemsets(parts, ids.tolist(), n, mc, max_len=max_len,
                                                    algorithm=cfg["baskets.algorithm"],
                                                    max_itemsets=int(cfg["baskets.max_itemsets"]))
    padded = np.append(ids, "")  # the pad code (len(ids)) names nothing
    found = pd.DataFrame({
        "items": [[str(x)] for x in ids] + [list(padded[r[:z]]) for r, z in zip(sets, sizes.tolist())],
        "count": np.concatenate([single["count"].to_numpy(np.int64), counts])})
    its = tables.spark.createDataFrame(found, "items array<string>, count long") \
        .select(F.array_sort("items").alias("items"), "count")
    named = its.select(F.monotonically_increasing_id().alias("_id"), "items", "count")
    exploded = named.select("_id", F.posexplode("items").alias("pos", "item")).join(names, "item", "left")
    item_names = exploded.groupBy("_id").agg(
        F.transform(F.array_sort(F.collect_list(F.struct("pos", "name"))), lambda s: s["name"]).alias("item_names"))
    itemsets = named.join(item_names, "_id").select(
        F.lit("all").alias("scope"), "items", "item_names", F.size("items").cast("long").alias("length"),
        (F.col("count") / F.lit(n)).alias("support"), F.col("count").cast("long").alias("count"))
    rules = _rules(rules_from_itemsets(its, n, float(cfg["baskets.min_confidence"])), names, n, cfg, max_len)
    return itemsets, rules, n, baskets


def _rules(rules, names, n: int, cfg: Config, max_len: int):
    from pyspark.sql import functions as F

    r = rules.where(F.size("antecedent") + 1 <= max_len)
    r = r.where(F.col("lift") >= float(cfg["baskets.min_lift"]))
    cons_support = F.col("confidence") / F.col("lift")
    ante_support = F.col("support") / F.col("confidence")
    r = r.select(
        F.array_sort("antecedent").alias("antecedent"), F.col("consequent")[0].alias("consequent"),
        "support", "confidence", "lift",
        (F.col("support") - ante_support * cons_support).alias("leverage"),
        F.when(F.col("confidence") < 1, (1 - cons_support) / (1 - F.col("confidence"))).alias("conviction"))
    r = r.select(F.monotonically_increasing_id().alias("_id"), "*")
    ex = r.select("_id", F.posexplode("antecedent").alias("pos", "item")).join(names, "item", "left")
    an = ex.groupBy("_id").agg(
        F.transform(F.array_sort(F.collect_list(F.struct("pos", "name"))), lambda s: s["name"]).alias("antecedent_names"))
    cn = names.select(F.col("item").alias("consequent"), F.col("name").alias("consequent_name"))
    null = F.lit(None).cast("double")
    return r.join(an, "_id").join(cn, "consequent", "left").select(
        F.lit("all").alias("scope"), "antecedent", "consequent", "antecedent_names", "consequent_name",
        (F.size("antecedent") + 1).cast("long").alias("length"), "support", "confidence", "lift", "leverage",
        "conviction", F.round(F.col("support") * F.lit(n)).cast("long").alias("count"),
        null.alias("shop_support"), null.alias("shop_confidence"), null.alias("lift_vs_shop"))


# -- the whole run ----------------------------------------------------------------------------------------

def spark_segments(tables: SparkTables, as_of, config: Config | None = None, *, seed: int = 0,
                   features=None, clv=None) -> dict:
    """Features and every segment scheme on Spark: a dict of output name -> Spark DataFrame, plus facts.

    ``clv``: the run's clv frame, when it has one (value tiers then rank by predicted CLV)."""
    from pyspark.sql import functions as F

    cfg = config or load_config()
    from ._session import materialize

    feats = features if features is not None else materialize(spark_customer_features(tables, as_of, cfg))
    lc, windows = spark_lifecycle(tables, feats, as_of, cfg)
    rv = spark_rfm_value(feats, cfg, clv=clv, windows=windows).cache()  # R = 1 past the churn window
    labels, cl = spark_clusters(feats, cfg, seed=seed)
    long = (rv.select("customer_id", F.lit("rfm").alias("scheme"), F.col("rfm").alias("segment"))
            .unionByName(lc.select("customer_id", F.lit("lifecycle").alias("scheme"), F.col("stage").alias("segment")))
            .unionByName(rv.select("customer_id", F.lit("value_tier").alias("scheme"),
                                   F.col("value_tier").alias("segment")))
            .unionByName(labels.select("customer_id", F.lit("cluster").alias("scheme"),
                                       F.col("cluster").alias("segment"))))
    rfm_scores = rv.select("customer_id", "r_score", "f_score", "m_score", "fm_score")
    return {"frames": {"customer_features": feats, "segments": long, "rfm_scores": rfm_scores},
            "windows": windows, "clusters": cl}

