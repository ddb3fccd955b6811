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
clusters           :class:`~shopseg.segment.cluster.BehaviourClusters` fitted on a sample of at
                   most ``fit_rows`` customers (its preprocessing and its K), its
                   ``transform`` applied per partition, then MLlib KMeans on all customers
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


def spark_rfm_value(features, config: Config | None = None, *, clv=None):
    """RFM scores and segment, and value tier, per customer (columns of :data:`RFM_SCHEMA`).

    Runs :func:`rfm_segments` and :func:`value_tiers` unchanged on all customers at
    once (one group): their quantile ranks are over the whole population, so
    they need it in one place; only these six columns per customer travel there.
    ``clv``: the run's clv frame (Spark); with ``segments.value.basis`` auto or clv, buyers are ranked by
    its ``segments.value.clv_column``, as the DuckDB engine's value_tier scheme does when its run has CLV
    (a buyer without a CLV ranks last), else by money spent.
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
            rfm = rfm_segments(pdf, cfg)
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


# -- clusters: BehaviourClusters' preprocessing and K, MLlib KMeans ----------------------------------------

def spark_clusters(features, config: Config | None = None, *, seed: int = 0, fit_rows: int = 200_000):
    """Cluster label per customer (customer_id, cluster) and the fitted model facts.

    :class:`BehaviourClusters` is fitted on all customers when there are at most
    ``fit_rows`` (so its winsorising caps, scaling, K and centres equal the DuckDB engine's),
    else on a random sample of that many; its ``transform`` then runs per partition, MLlib
    KMeans (Lloyd's iterations over all customers) refines the centres starting from the
    fitted ones (not with ``k_selection = "two_level"``: its leaf centres are kept as fitted),
    and each customer goes to the nearest centre (``BehaviourClusters._assign``).
    Ids run from 1 by decreasing cluster size, as in the DuckDB engine.
    Returns (Spark DataFrame customer_id, cluster; dict with the model, K and centroids).
    """
    from pyspark.sql import functions as F

    from ..segment.cluster import BehaviourClusters

    cfg = (config or load_config()).with_overrides({"segments": {"cluster": {"random_state": seed}}})
    n = features.count()
    sample = features if n <= fit_rows else features.sample(fraction=min(1.0, 1.2 * fit_rows / n), seed=seed)
    pdf = sample.toPandas().sort_values("customer_id").reset_index(drop=True)
    model = BehaviourClusters.from_config(cfg).fit(pdf)
    k = int(model.n_clusters_)
    need = [c for c in features.columns if c in set(model.features_) | {"customer_id", "has_orders", "frequency",
                                                                         "tenure_days", "n_units"}]

    def transform(it):
        for part in it:
            yield pd.DataFrame({"customer_id": part["customer_id"].astype(str), "z": list(model.transform(part))})

    scaled = features.select(*need).mapInPandas(transform, "customer_id string, z array<double>").cache()
    if k == 1:
        centers = np.asarray(model.cluster_centers_[:1])
    elif getattr(model, "split_table_", None) is not None:
        # k_selection = "two_level": the leaves' centres as fitted, every customer to the nearest one (as
        # BehaviourClusters.predict); Lloyd iterations from them lower the ARI (docs/segments.md)
        centers = np.asarray(model.cluster_centers_)
    else:
        from pyspark.mllib.clustering import KMeans, KMeansModel

        # Lloyd iterations on every customer, started from the centres fitted on the driver's rows
        # (all of them up to fit_rows: then it is the DuckDB engine's fixed point, and stays there)
        km = KMeans.train(scaled.rdd.map(lambda r: np.asarray(r.z, dtype=float)), k, maxIterations=30,
                          seed=int(seed), epsilon=1e-6, initialModel=KMeansModel(list(model.cluster_centers_)))
        centers = np.asarray(km.clusterCenters)

    def assign(it):
        for part in it:
            Z = np.vstack(part["z"].to_numpy()) if len(part) else np.empty((0, centers.shape[1]))
            lab = model._assign(Z, centers) if len(part) else np.zeros(0, dtype=np.int64)
            yield pd.DataFrame({"customer_id": part["customer_id"], "prediction": lab.astype(np.int64)})

    pred = scaled.mapInPandas(assign, "customer_id string, prediction long").cache()
    sizes = dict(pred.groupBy("prediction").count().collect())
    order = sorted(range(len(centers)), key=lambda j: (-sizes.get(j, 0), tuple(np.round(centers[j], 9))))
    ids = {j: i + 1 for i, j in enumerate(order)}
    mapping = F.create_map(*[x for j in ids for x in (F.lit(j), F.lit(f"cluster_{ids[j]}"))])
    labels = pred.select("customer_id", mapping[F.col("prediction")].alias("cluster"))
    cents = pd.DataFrame(centers[order] * model.scale_ + model.center_, columns=model.features_,
                         index=pd.Index(range(1, len(order) + 1), name="cluster"))
    return labels, {"model": model, "k": k, "centroids": cents, "fit_rows": len(pdf)}


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
    rv = spark_rfm_value(feats, cfg, clv=clv).cache()
    lc, windows = spark_lifecycle(tables, feats, as_of, cfg)
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

