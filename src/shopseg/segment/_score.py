"""The segments stage's ``state`` and ``score``: a few customers' features and segments by a stored run's rules.

``segments_state(ws, runs)`` reads, once per served run, what the run stored: its ``customer_features``
(the RFM / value-tier reference population: :class:`~shopseg.segment._ranks.RunRanks`, the sorted buyer
values), the lifecycle windows in ``segment_profiles``, the cluster model, the top categories and the outlier
median / MAD, and from them the restricted features SQL (made once).  ``segments_score`` then gives, for each
customer, the batch features restricted to that customer (:func:`shopseg.features.features_sql` with
``restricted=True``) and the segments by the run's rules: RFM and value tiers against the run's population (the
batch rank rules with the customer's row replaced), lifecycle by :func:`~shopseg.segment.lifecycle.stage_rule` with the run's windows,
the cluster by the stored model (nearest centroid).  Value tiers by predicted value take the CLV stage's
score (``earlier["clv"]``), which the runner computes first.

Schemes scored here: rfm, value_tier, lifecycle, cluster; and every other registered scheme that gives a
``score`` (age_band, gender, geo, buyer_type, interest: :class:`~shopseg.segment.Scheme`).  The others (group, a
plug-in without one) keep the run's label until the next run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ShopsegError

BUILT_IN = ("rfm", "value_tier", "lifecycle", "cluster")  # scored here from the run's population and models


@dataclass
class SegmentsState:
    """What a stored run left for scoring its segments (see the module docstring)."""

    run_id: int | None  # the run whose customer_features are the reference population
    config: Any
    segments_run: int | None = None  # the run whose segments are the "old" labels
    windows: dict | None = None  # lifecycle windows
    names: dict = field(default_factory=dict)  # (scheme, segment) -> display name
    ranks: Any = None  # RunRanks, or None without a population
    cluster_model: Any = None
    categories: list | None = None
    outlier_stats: dict | None = None
    features_sql: str | None = None
    schemes: dict = field(default_factory=dict)  # other registered schemes with a live score: name -> (scheme, state)


def segments_state(ws, runs) -> SegmentsState:
    """The state of run ``runs.run_id``: each input from the run :meth:`~shopseg.runner.Runs.of` names."""
    from ..features import features_sql, outlier_reference, top_categories
    from ._ranks import RunRanks

    cfg = runs.config
    frun, prun, crun = runs.of("customer_features"), runs.of("segment_profiles"), runs.of("clv")
    st = SegmentsState(frun, cfg, segments_run=runs.of("segments"))
    if prun is not None:
        for scheme, seg, name, prof in ws.sql("SELECT scheme, segment, name, profile FROM segment_profiles "
                                              "WHERE run_id = ?", [prun]):
            st.names[(scheme, seg)] = name
            if scheme in ("lifecycle", "rfm") and st.windows is None and prof:  # rfm's recency reads them too
                st.windows = json.loads(prof).get("windows")
    if frun is not None:  # the columns the rank rules read
        cols = ", ".join(f'"{c}"' for c in dict.fromkeys(("customer_id", "has_orders", "recency_days", "frequency",
                                                           "monetary_net", cfg["segments.rfm.monetary_column"])))
        pop = ws.df(f"SELECT {cols} FROM customer_features WHERE run_id = ? ORDER BY customer_id", [frun])
        scores = None
        if crun is not None and cfg["segments.value.basis"] in ("clv", "auto"):
            col = cfg["segments.value.clv_column"]
            scores = ws.df(f'SELECT customer_id, "{col}" AS v FROM clv WHERE run_id = ?',
                           [crun]).set_index("customer_id")["v"]
        st.ranks = RunRanks(pop, cfg, scores, windows=st.windows)
    if st.segments_run is not None:
        from .. import models
        from ..refit import stored_cluster_model

        try:
            st.cluster_model = stored_cluster_model(ws, st.segments_run, light=True) \
                if models.exists(ws, "clusters", st.segments_run) else None
        except ShopsegError:
            st.cluster_model = None
    from ._registry import get

    run_schemes = {sc for sc, _ in st.names}
    for name in cfg["segments.schemes"]:  # the registered schemes that score one customer (age_band, gender...)
        scheme = get(name)
        if name not in BUILT_IN and name in run_schemes and scheme.score is not None:
            st.schemes[name] = (scheme, scheme.state(ws, runs) if scheme.state is not None else None)
    if "customer_features" in runs.given:  # every score is handed the features: no SQL to prepare
        return st
    st.categories = top_categories(ws, runs.as_of, cfg["features.top_categories"])
    st.outlier_stats = outlier_reference(ws, frun) if frun is not None else None
    st.features_sql = _in_column_order(ws, features_sql(
        ws, runs.as_of, cfg, restricted=True, categories=st.categories, outlier_stats=st.outlier_stats,
        review_run=runs.of("review_insights")), runs.as_of)
    return st


def _in_column_order(ws, sql: str, as_of) -> str:
    """``sql`` selecting its columns in the batch's order (:func:`shopseg.features._ordered_columns`), so that each
    score takes the frame as it comes (reordering a one-row frame costs as much as the query)."""
    from ..features import _ordered_columns

    res = ws.con.execute(f"SELECT * FROM ({sql}) AS f LIMIT 0", {"as_of": as_of, "customers": [""]})
    names = [d[0] for d in res.description]
    res.fetchall()
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in _ordered_columns(names) if c in names)
    return f"SELECT {cols} FROM ({sql}) AS f"


def customer_features(state: SegmentsState, reader, customers: list[str], as_of) -> pd.DataFrame:
    """The batch features of ``customers`` as of ``as_of`` (a row each that is known, in their order)."""
    if state.features_sql is None:
        raise ShopsegError("This segments state was loaded for scores handed the customers' features "
                           "(load_states(given=['customer_features'])); expected them in score's given. Got none.")
    df = reader.con.execute(state.features_sql, {"as_of": as_of, "customers": list(customers)}).df()
    order = {c: i for i, c in enumerate(customers)}
    ids = df["customer_id"].tolist()
    if any(c not in order for c in ids):
        df = df[df["customer_id"].isin(customers)].reset_index(drop=True)
        ids = df["customer_id"].tolist()
    if state.outlier_stats is None:
        df["is_outlier"] = False  # no stored population to be an outlier of
    if len(ids) > 1 and ids != sorted(ids, key=order.__getitem__):
        df = df.sort_values("customer_id", key=lambda s: s.map(order)).reset_index(drop=True)
    return df


def value_basis(state: SegmentsState) -> str:
    basis = state.config["segments.value.basis"]
    if basis == "auto":  # as the batch: predicted value when the run has it
        return "clv" if state.ranks is not None and state.ranks.has_basis("clv") else "monetary_net"
    return basis


def given_features(frame: pd.DataFrame, customers: list[str]) -> pd.DataFrame:
    """The rows of ``customers`` (those it has) of a features frame computed already, in their order."""
    at = pd.Index(frame["customer_id"].astype(str)).get_indexer([str(c) for c in customers])
    return frame.iloc[at[at >= 0]].reset_index(drop=True)


def segments_score(state: SegmentsState, reader, customers: list[str], as_of, earlier: dict) -> dict[str, dict]:
    """customer_id -> {"features": the scored customers' features frame, "row": this customer's row in it,
    "segments": {scheme: segment}, "rfm_scores": {r_score, f_score, m_score, fm_score} (with the rfm scheme)}
    (unknown customers left out).  The frame is one for all the customers scored together (no one-row frames).

    ``earlier["customer_features"]``: the customers' features as of ``as_of`` when the caller computed them
    already (an incremental run has everyone's); else they are computed here (the restricted SQL).
    ``earlier["rows_unchanged"]``: customers with no row since the state's run (a set; an incremental run's
    date-moved ones): a ``rows_only`` scheme does not score them, their answer leaves its label out."""
    from ..workspace import only_customers
    from .lifecycle import PER_CUSTOMER_SQL, stage_rule

    given = earlier.get("customer_features")
    feats = customer_features(state, reader, customers, as_of) if given is None else given_features(given, customers)
    if feats.empty:
        return {}
    cfg = state.config
    schemes = cfg["segments.schemes"]
    ranks, basis = state.ranks, value_basis(state)
    ids = [str(c) for c in feats["customer_id"]]
    # the columns the rules read, as arrays: a handful of customers, where a pandas row costs more than the rule
    cols = {c: feats[c].to_numpy() for c in {"recency_days", "frequency", "monetary_net",
                                             ranks.mcol if ranks is not None else "monetary_net"}}
    has = feats["has_orders"].to_numpy(dtype=bool)
    stages = None
    if "lifecycle" in schemes and state.windows is not None:
        gaps = {r[0]: r[1:] for r in reader.con.execute(
            f"SELECT customer_id, days_since_first_order, last_gap_days FROM ({only_customers(PER_CUSTOMER_SQL)})",
            {"as_of": as_of, "customers": ids}).fetchall()}
        # no sale before as_of: NULL (NaN), as the batch's left join
        first, gap = (np.array([gaps.get(c, (None, None))[k] for c in ids], dtype=float) for k in (0, 1))
        stages = stage_rule(has, cols["recency_days"].astype(float), first, gap, state.windows)
    clusters = None
    if "cluster" in schemes and state.cluster_model is not None:
        try:
            clusters = state.cluster_model.predict(feats)
        except (KeyError, ValueError):  # features the stored model needs are missing: keep the run's
            clusters = None
    others = {}
    same = earlier.get("rows_unchanged") or ()  # no row since the state's run: a rows-only scheme's label stands
    for name, (scheme, st) in state.schemes.items():
        sub = [c for c in ids if c not in same] if same and scheme.rows_only else ids
        labels = scheme.score(st, reader, sub, as_of) if sub else None
        if labels is not None:
            others[name] = dict(zip(sub, labels))
    out: dict[str, dict] = {}
    for i, cid in enumerate(ids):  # a few customers: the ones a posted batch touched
        row = {c: v[i] for c, v in cols.items()} | {"has_orders": bool(has[i])}
        segs: dict[str, str] = {}
        rfm = None
        if ranks is not None:
            if "rfm" in schemes:
                rfm = ranks.rfm(cid, row)
                segs["rfm"] = rfm["segment"]
            if "value_tier" in schemes and basis == "monetary_net":
                segs["value_tier"] = ranks.value_tier(cid, bool(has[i]), float(row["monetary_net"]))
        if stages is not None:
            segs["lifecycle"] = str(stages[i])
        if clusters is not None:
            segs["cluster"] = f"cluster_{int(clusters[i])}"
        clv = (earlier.get("clv") or {}).get(cid)
        # by predicted value: a customer without orders is the no-orders segment (the batch rule) whatever CLV
        # says; a buyer needs the CLV stage's score (none: the run's tier stands)
        if (clv is not None or not has[i]) and ranks is not None and "value_tier" in schemes \
                and basis == "clv" and ranks.has_basis("clv"):
            v = None if clv is None else clv.get(cfg["segments.value.clv_column"])
            segs["value_tier"] = ranks.value_tier(cid, bool(has[i]), None if v is None else float(v), basis="clv")
        for name, labels in others.items():
            if cid in labels:
                segs[name] = str(labels[cid])
        out[cid] = {"features": feats, "row": i, "segments": segs}
        if rfm is not None:  # the rfm_scores row (an incremental run writes it)
            out[cid]["rfm_scores"] = {k: rfm[k] for k in ("r_score", "f_score", "m_score", "fm_score")}
    return out


__all__ = ["SegmentsState", "customer_features", "given_features", "segments_score", "segments_state", "value_basis"]
