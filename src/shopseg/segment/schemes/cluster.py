"""Behavioural clusters: K-means (or hierarchical) on scaled features, K chosen by the data, ids and names
kept across runs by matching centroids; a stored model is reused while its inputs hold still (shopseg.refit)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...config import Config
from .._cluster_space import PARAMETER_CONSTRAINTS
from .._registry import Scheme, SchemeContext, SchemeResult
from ..profile import name_clusters, segment_profiles

if TYPE_CHECKING:  # the estimator (scikit-learn) is imported when a run fits: scoring needs only the scheme
    from ..cluster import BehaviourClusters


def cluster_label(cluster_id: int) -> str:
    return f"cluster_{int(cluster_id)}"


PREVIOUS = "scheme = 'cluster'"  # the rows of segment_profiles whose run the label matching reads


def previous_cluster_profiles(ws, previous_run: int | None) -> pd.DataFrame | None:
    """Cluster profiles of run ``previous_run`` (for label matching: the segments stage hands in the newest
    done run before it with cluster profiles, ``ctx.runs.before("segment_profiles", PREVIOUS)``), or None."""
    if previous_run is None or not ws.has_table("segment_profiles"):
        return None
    df = ws.df("SELECT segment, name, profile FROM segment_profiles WHERE scheme = 'cluster' AND run_id = ?",
               [int(previous_run)])
    return df if len(df) else None


def _centroids_from_profiles(prev: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for seg, prof in zip(prev["segment"], prev["profile"]):
        c = json.loads(prof).get("centroid")
        if c:
            rows[int(seg.removeprefix("cluster_"))] = c
    return pd.DataFrame.from_dict(rows, orient="index")


def fit_sample(customer_ids, cfg: Config) -> list[str] | None:
    """The customers the cluster model is fitted on when a shop has more than ``segments.cluster.max_customers``
    (its preprocessing, K and centres; every customer is then assigned to the nearest centre): a seeded sample
    of that many of the sorted ids, drawn by churn's rule (:func:`shopseg.predict._churn_data.seeded_sample`,
    seed ``segments.cluster.random_state``), so both engines fit on the same customers. None: fit on all.

    >>> from shopseg.config import load_config
    >>> cfg = load_config(overrides={"segments": {"cluster": {"max_customers": 2}}})
    >>> fit_sample(["d", "a", "c", "b"], cfg), fit_sample(["a", "b"], cfg)
    (['c', 'd'], None)
    """
    from ...predict._churn_data import seeded_sample

    c = cfg["segments.cluster"]
    return seeded_sample(np.sort(np.asarray(customer_ids, dtype=str)), int(c["max_customers"]),
                         int(c["random_state"]))


def cluster_sample_note(fitted: int, customers: int) -> str:
    """The run's note when the cluster model was fitted on a sample (both engines say it the same way)."""
    return f"fitted on a seeded sample of {fitted:,} of {customers:,} customers (segments.cluster.max_customers)"


def fit_clusters(features: pd.DataFrame, cfg: Config, previous: pd.DataFrame | None = None,
                 model: BehaviourClusters | None = None):
    """Fit the cluster model, match it to ``previous`` profiles; returns (model, labels, profiles).

    ``model``: a stored fitted model to reuse instead (shopseg.refit): customers are assigned to its
    centroids, whose ids and (with ``keep_names``) names carry over from ``previous``.
    """
    mapping = {}
    prev_names = {}
    if model is not None:
        model.labels_ = model.predict(features)
        mapping = {int(i): int(i) for i in model.cluster_ids_}
        if previous is not None:
            prev_names = dict(zip(previous["segment"], previous["name"]))
    else:
        from ..cluster import BehaviourClusters

        model = BehaviourClusters.from_config(cfg)
        sample = fit_sample(features["customer_id"], cfg)
        if sample is None:
            model.fit(features)
        else:  # fitted on the sample (in customer order, as the Spark engine's), every customer assigned
            model.fit(features[features["customer_id"].isin(sample)].sort_values("customer_id", kind="stable"))
            model.labels_ = model.predict(features)
            model.fit_customers_ = len(sample)
    if previous is not None and not mapping:
        cents = _centroids_from_profiles(previous)
        if len(cents):
            mapping = model.align_to(cents)
            prev_names = dict(zip(previous["segment"], previous["name"]))
    labels = pd.Series([cluster_label(i) for i in range(int(model.labels_.max()) + 1)]).to_numpy()[model.labels_] \
        if len(model.labels_) else np.array([], dtype=object)
    cents = model.centroids_
    curve = model.k_curve_.replace({np.nan: None}).to_dict(orient="records")
    split = getattr(model, "split_table_", None)  # k_selection = "two_level": the curve is the first level's
    extra = {
        cluster_label(cid): {
            "centroid": {c: round(float(v), 6) for c, v in cents.loc[cid].items()},
            "model": {"method": model.method, "k": model.n_clusters_, "elbow_k": model.elbow_k_,
                      "scaler": model.scaler, "features": model.features_, "k_curve": curve,
                      "first_level_k": None if split is None else len(split)},
        }
        for cid in cents.index
    }
    prof = segment_profiles(features, labels, "cluster", extra)
    names = name_clusters(prof)
    if cfg["segments.cluster.keep_names"] and prev_names:
        matched = {cluster_label(v) for v in mapping.values()}
        names = [prev_names.get(s, n) if s in matched and s in prev_names else n
                 for s, n in zip(prof["segment"], names)]
    prof["name"] = names
    return model, labels, prof


def compute(ctx: SchemeContext) -> SchemeResult:
    model, labels, prof = fit_clusters(ctx.features, ctx.config,
                                       previous_cluster_profiles(ctx.ws, ctx.inputs.get("previous_cluster_run")),
                                       ctx.inputs.get("cluster_model"))
    return SchemeResult(labels, profiles=prof, state={"model": model})


SCHEME = Scheme("cluster", "Behavioural clusters learned from the features, named from what sets them apart.",
                compute, spark=True, parameters=PARAMETER_CONSTRAINTS)
