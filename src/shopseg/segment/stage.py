"""The segments stage of a run: features, every scheme, and the two output tables.

Tables written (each with a leading ``run_id``):

- ``customer_features``: see ``docs/features.md``;
- ``segments`` (customer_id, scheme, segment): exactly one row per customer
  and scheme, for the schemes of ``segments.schemes`` (the registry: :mod:`shopseg.segment._registry`);
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
from ._registry import SchemeContext
from ._registry import get as get_scheme
from .cluster import BehaviourClusters
from .profile import segment_profiles
# the cluster scheme's helpers, kept importable from here (refit, tests)
from .schemes.cluster import cluster_label, fit_clusters, previous_cluster_profiles  # noqa: F401


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
    state: dict = field(default_factory=dict)  # the schemes' states; "skipped": scheme -> why it has no segments

    def _repr_html_(self) -> str:
        """The segments in a notebook: one row per scheme and segment (name, customers, share)."""
        from .._html import html_table

        p = self.profiles
        rows = zip(p["scheme"], p["segment"], p["name"], p["n_customers"], (f"{s:.1%}" for s in p["share"]))
        return html_table(["scheme", "segment", "name", "customers", "share"], rows, max_rows=100,
                          caption=f"Segments of {len(self.features):,} customers"
                          + (f" (run {self.run_id})" if self.run_id is not None else ""))


def segment_all(ws, run_id: int | None, as_of, config: Config | None = None, *,
                features: pd.DataFrame | None = None, cluster_model: BehaviourClusters | None = None,
                previous_cluster_run: int | None | str = "latest") -> SegmentRun:
    """Features and every configured scheme for ``as_of``; writes the tables when ``run_id`` is given.

    The schemes are those of ``segments.schemes``, in that order, each computed by its registry entry
    (:mod:`shopseg.segment._registry`). Pass ``features`` (the output of ``customer_features`` for the same
    ``as_of``) when an earlier stage already computed and stored them: they are then neither recomputed nor
    rewritten. ``cluster_model``: a stored fitted cluster model to reuse instead of fitting one (shopseg.refit).
    ``previous_cluster_run``: the run whose cluster names the new clusters are matched to (the segments stage
    hands it in from the runner); ``"latest"``: the newest done run before ``run_id`` with cluster profiles.
    """
    if previous_cluster_run == "latest":
        from ..runner import table_run
        from .schemes.cluster import PREVIOUS

        previous_cluster_run = table_run(ws, "segment_profiles", run_id - 1, PREVIOUS) if run_id is not None else None
    from .._memory import release_memory

    release_memory()  # what the stages before freed (CLV's frames) goes back to the OS first
    cfg = get_config(config)
    as_ts = _as_ts(as_of)
    feats = features if features is not None else customer_features(ws, as_ts, run_id, config=cfg)
    ctx = SchemeContext(ws, run_id, as_ts, cfg, feats, inputs={"cluster_model": cluster_model,
                                                              "previous_cluster_run": previous_cluster_run})
    wide = feats[["customer_id"]].copy()
    profiles: dict[str, pd.DataFrame] = {}
    compute_schemes(ctx, cfg["segments.schemes"], wide, profiles)
    prof_df = pd.concat(list(profiles.values()), ignore_index=True) if profiles else pd.DataFrame(
        columns=["scheme", "segment", "n_customers", "share", "profile", "name"])
    extras = {k: v for res in ctx.done.values() for k, v in res.tables.items()}
    if run_id is not None:
        _write(ws, run_id, wide, prof_df, extras.get("rfm_scores"))
        _write_tables(ws, run_id, extras)
    state = {k: v for res in ctx.done.values() for k, v in res.state.items() if k != "skipped"}
    state["skipped"] = {k: v for res in ctx.done.values() for k, v in res.state.get("skipped", {}).items()}
    return SegmentRun(run_id, feats, wide, prof_df, state.get("windows"), state.get("model"), extras, state)


def compute_schemes(ctx: SchemeContext, names, wide: pd.DataFrame, profiles: dict[str, pd.DataFrame]) -> None:
    """Compute the schemes ``names`` in order: their labels become columns of ``wide`` (one row per row of
    ``ctx.features``) and their profiles entries of ``profiles``; then every profile gets the dimension schemes'
    shares (:func:`add_dimensions`). In place; ``ctx.done`` holds each scheme's result (also a skipped one's)."""
    feats = ctx.features
    for name in names:
        res = get_scheme(name).compute(ctx)
        ctx.done[name] = res
        if res.labels is None:  # the shop lacks what the scheme needs (state["skipped"] says what)
            continue
        wide[name] = np.asarray(res.labels, dtype=object)
        prof = res.profiles if res.profiles is not None else segment_profiles(feats, wide[name], name, res.extras)
        if res.names:
            prof["name"] = [res.names.get(s, s) for s in prof["segment"]]
        profiles[name] = prof
    add_dimensions(profiles, wide, [n for n in profiles if get_scheme(n).dimension])


def add_dimensions(profiles: dict[str, pd.DataFrame], wide: pd.DataFrame, dimensions: list[str],
                   top: int = 3) -> None:
    """Give every other scheme's profiles the shares of each dimension scheme's largest segments
    (``profile["by_geo"] = [{"segment": "United Kingdom", "share": 0.71}, ...]``), in place."""
    for dim in dimensions:
        for name, prof in profiles.items():
            if name == dim:
                continue
            shares = pd.crosstab(wide[name].astype(str), wide[dim].astype(str), normalize="index")
            out = []
            for seg, js in zip(prof["segment"], prof["profile"]):
                p = json.loads(js)
                if seg in shares.index:
                    row = shares.loc[seg]
                    row = row[row > 0].sort_values(ascending=False, kind="stable").head(top)
                    p[f"by_{dim}"] = [{"segment": str(k), "share": round(float(v), 4)} for k, v in row.items()]
                out.append(json.dumps(p, sort_keys=True))
            prof["profile"] = out


# Extra output tables a scheme may hand back (SchemeResult.tables) besides rfm_scores, and their typed columns.
EXTRA_TABLES = {
    "customer_interests": "CAST(customer_id AS VARCHAR) AS customer_id, CAST(rank AS BIGINT) AS rank, "
                          "CAST(interest AS VARCHAR) AS interest, CAST(name AS VARCHAR) AS name, "
                          "CAST(lift AS DOUBLE) AS lift, CAST(weight AS DOUBLE) AS weight",
}


def _write_tables(ws, run_id: int, tables: dict) -> None:
    for name, cols in EXTRA_TABLES.items():
        if name not in tables:
            continue
        ws.con.execute("SELECT 1").fetchall()
        ws.con.register("_shopseg_extra", tables[name])
        try:
            ws.write_output(name, run_id, f"SELECT {cols} FROM _shopseg_extra")
        finally:
            ws.con.execute("SELECT 1").fetchall()
            ws.con.unregister("_shopseg_extra")


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
