"""The segments stage of a run: features, every scheme, and the two output tables.

Tables written (each with a leading ``run_id``):

- ``customer_features``: see ``docs/features.md``;
- ``segments`` (customer_id, scheme, segment): exactly one row per customer
  and scheme, for the schemes ``rfm``, ``lifecycle``, ``value_tier``, ``cluster``;
- ``segment_profiles`` (scheme, segment, name, n_customers, share, profile):
  ``profile`` is JSON with feature means, z-scores and top categories, plus the
  lifecycle windows, the value-tier bounds, and for clusters the centroid and
  the K curve; clusters keep their id and name across runs (matched centroids);
- ``rfm_scores`` (customer_id, r_score, f_score, m_score, fm_score).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config import Config
from ..features import _as_ts, customer_features
from ._common import get_config
from .cluster import BehaviourClusters
from .lifecycle import lifecycle_stages, lifecycle_windows
from .profile import name_clusters, segment_profiles
from .rfm import rfm_segments
from .value import clv_scores, value_tiers

SCHEMES = ("rfm", "lifecycle", "value_tier", "cluster")


@dataclass
class SegmentRun:
    """What :func:`segment_all` computed (also stored in the workspace)."""

    run_id: int | None
    features: pd.DataFrame
    segments: pd.DataFrame  # wide: customer_id + one column per scheme
    profiles: pd.DataFrame
    windows: dict | None = None
    model: BehaviourClusters | None = None
    extras: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        """The segments in a notebook: one row per scheme and segment (name, customers, share)."""
        from .._html import html_table

        p = self.profiles
        rows = zip(p["scheme"], p["segment"], p["name"], p["n_customers"], (f"{s:.1%}" for s in p["share"]))
        return html_table(["scheme", "segment", "name", "customers", "share"], rows, max_rows=100,
                          caption=f"Segments of {len(self.features):,} customers"
                          + (f" (run {self.run_id})" if self.run_id is not None else ""))


def cluster_label(cluster_id: int) -> str:
    return f"cluster_{int(cluster_id)}"


def previous_cluster_profiles(ws, run_id: int | None) -> pd.DataFrame | None:
    """Cluster profiles of the latest run before ``run_id`` (for label matching), or None."""
    if run_id is None or not ws.has_table("segment_profiles"):
        return None
    df = ws.df(
        "SELECT segment, name, profile FROM segment_profiles WHERE scheme = 'cluster' AND run_id = "
        "(SELECT max(run_id) FROM segment_profiles WHERE scheme = 'cluster' AND run_id < ?)", [run_id])
    return df if len(df) else None


def _centroids_from_profiles(prev: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for seg, prof in zip(prev["segment"], prev["profile"]):
        c = json.loads(prof).get("centroid")
        if c:
            rows[int(seg.removeprefix("cluster_"))] = c
    return pd.DataFrame.from_dict(rows, orient="index")


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
        model = BehaviourClusters.from_config(cfg).fit(features)
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


def segment_all(ws, run_id: int | None, as_of, config: Config | None = None, *,
                features: pd.DataFrame | None = None, cluster_model: BehaviourClusters | None = None) -> SegmentRun:
    """Features and every configured scheme for ``as_of``; writes the tables when ``run_id`` is given.

    Pass ``features`` (the output of ``customer_features`` for the same ``as_of``) when an
    earlier stage already computed and stored them: they are then neither recomputed nor rewritten.
    ``cluster_model``: a stored fitted cluster model to reuse instead of fitting one (shopseg.refit).
    """
    cfg = get_config(config)
    as_ts = _as_ts(as_of)
    feats = features if features is not None else customer_features(ws, as_ts, run_id, config=cfg)
    wide = feats[["customer_id"]].copy()
    profiles, extras = [], {}
    windows = model = None
    schemes = [s for s in SCHEMES if s in cfg["segments.schemes"]]
    if "rfm" in schemes:
        rfm = rfm_segments(feats, cfg)
        wide["rfm"] = rfm["segment"].to_numpy()
        profiles.append(segment_profiles(feats, wide["rfm"], "rfm"))
        extras["rfm_scores"] = rfm.drop(columns="segment")
    if "lifecycle" in schemes:
        windows = lifecycle_windows(ws, as_ts, cfg)
        lc = lifecycle_stages(ws, as_ts, cfg, features=feats, windows=windows)
        wide["lifecycle"] = lc["stage"].to_numpy()
        profiles.append(segment_profiles(feats, wide["lifecycle"], "lifecycle",
                                         {s: {"windows": windows} for s in set(wide["lifecycle"])}))
    if "value_tier" in schemes:
        basis = cfg["segments.value.basis"]
        if basis == "auto":  # predicted value when this run has it, else the money spent so far
            basis = "clv" if ws.has_table("clv") and ws.scalar(
                "SELECT count(*) FROM clv WHERE run_id = ?", [run_id]) else "monetary_net"
        scores = clv_scores(ws, run_id, cfg) if basis == "clv" else None
        vt = value_tiers(feats, cfg, scores=scores)
        wide["value_tier"] = vt["tier"].to_numpy()
        bounds = vt.groupby("tier")["value"].agg(["min", "max"])
        profiles.append(segment_profiles(feats, wide["value_tier"], "value_tier", {
            t: {"value_min": float(r["min"]), "value_max": float(r["max"]), "basis": basis,
                **({"note": vt.attrs["note"]} if "note" in vt.attrs else {})} for t, r in bounds.iterrows()}))
    if "cluster" in schemes:
        model, labels, prof = fit_clusters(feats, cfg, previous_cluster_profiles(ws, run_id), cluster_model)
        wide["cluster"] = labels
        profiles.append(prof)
    prof_df = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame(
        columns=["scheme", "segment", "n_customers", "share", "profile", "name"])
    if run_id is not None:
        _write(ws, run_id, wide, prof_df, extras.get("rfm_scores"))
    return SegmentRun(run_id, feats, wide, prof_df, windows, model, extras)


def _write(ws, run_id: int, wide: pd.DataFrame, prof: pd.DataFrame, rfm: pd.DataFrame | None) -> None:
    long = wide.melt(id_vars="customer_id", var_name="scheme", value_name="segment")
    con = ws.con
    con.execute("SELECT 1").fetchall()  # finish any half-read result: DuckDB 2 refuses register() otherwise
    con.register("_shopseg_segments", long)
    con.register("_shopseg_profiles", prof)
    if rfm is not None:
        con.register("_shopseg_rfm", rfm)
    try:
        ws.write_output("segments", run_id,
                        "SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(scheme AS VARCHAR) AS scheme, "
                        "CAST(segment AS VARCHAR) AS segment FROM _shopseg_segments")
        ws.write_output("segment_profiles", run_id,
                        "SELECT CAST(scheme AS VARCHAR) AS scheme, CAST(segment AS VARCHAR) AS segment, "
                        "CAST(name AS VARCHAR) AS name, CAST(n_customers AS BIGINT) AS n_customers, "
                        "CAST(share AS DOUBLE) AS share, CAST(profile AS VARCHAR) AS profile FROM _shopseg_profiles")
        if rfm is not None:
            ws.write_output("rfm_scores", run_id,
                            "SELECT CAST(customer_id AS VARCHAR) AS customer_id, r_score, f_score, m_score, "
                            "fm_score FROM _shopseg_rfm")
    finally:
        con.execute("SELECT 1").fetchall()
        for v in ("_shopseg_segments", "_shopseg_profiles", "_shopseg_rfm"):
            try:
                con.unregister(v)
            except Exception:  # not registered
                pass
