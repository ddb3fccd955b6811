"""Reuse or refit: whether a run fits its learned models anew or carries the stored ones over.

Each run stores its fitted models in the workspace's ``models/`` folder (the
cluster model: imputation, caps, scaler and centroids; the churn model; the
CLV models).  Before fitting, a stage asks :func:`decide`:

* refit when asked (``shopseg run --refit``, ``run_pipeline(refit=True)``) or
  when ``drift.reuse_models`` is false;
* refit when no earlier run stored a usable model (none yet, the file is gone,
  or it was fitted under other settings);
* otherwise compare this run's ``customer_features`` with those of the run
  that *fitted* the stored model (not merely the previous run, so a slow drift
  accumulates over reuses until it triggers a refit): the population stability
  index (:func:`shopseg.drift.population_stability`) of each of the model's
  input features, and refit when the largest exceeds ``drift.refit_psi``;
  reuse the stored model otherwise.

The CLV candidates (BG/NBD, MBG/NBD, the repeat-purchase model, the baseline)
are refitted in every run: they are fitted to the run's own summary in about a
second for 20k customers, their stage runs before this run's features exist,
and a refit costs nothing in stability (their parameters are the population's,
not a partition of it).  Each CLV prediction (``clv``, ``p_alive``,
``expected_purchases``) records ``refitted`` with its backtest: the candidate
used, the metric, the model's and the baseline's figures and the decision; so
does ``churn`` (its model against the logistic RFM baseline).

Every decision is a row of table ``model_decisions`` (run_id, model, action,
reason, max_psi, feature, source_run_id: the run that fitted the model used;
candidate, metric, model_value, baseline_value, decision: the backtest)
and a ``fit`` note of its stage in ``runs.stages``, shown by ``shopseg run`` and
the report.

>>> d = Decision("cluster", "reused", "max input PSI 0.0100 <= drift.refit_psi 0.2", 0.01, "recency_days", 3)
>>> d.note()
'reused the model of run 3 (max input PSI 0.0100 <= drift.refit_psi 0.2)'
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .drift import feature_drift
from .errors import ConfigError, ShopsegError

MODELS = ("cluster", "churn", "clv", "p_alive", "expected_purchases", "rules")
CLV_REASON = "the CLV candidates are refitted in every run (cheap; fitted to the run's own summary)"
ACTIONS = ("reused", "refitted")
# name -> DuckDB type; the last five (the backtest) were added later: older workspaces get them by ALTER
DECISIONS_COLUMNS = {"run_id": "BIGINT", "model": "VARCHAR", "action": "VARCHAR", "reason": "VARCHAR",
                     "max_psi": "DOUBLE", "feature": "VARCHAR", "source_run_id": "BIGINT", "candidate": "VARCHAR",
                     "metric": "VARCHAR", "model_value": "DOUBLE", "baseline_value": "DOUBLE", "decision": "VARCHAR"}
DECISIONS_DDL = ("CREATE TABLE IF NOT EXISTS model_decisions ("
                 + ", ".join(f"{k} {v}" for k, v in DECISIONS_COLUMNS.items()) + ")")
DECISIONS_DOC = ("One row per run and learned model or prediction (cluster, churn, clv, p_alive, "
                 "expected_purchases, rules: the baskets' association rules for cross-sell): action `reused` or `refitted`, the reason, the largest input PSI against "
                 "the run that fitted the stored model and its feature, source_run_id (the run that fitted the "
                 "model this run used), and the backtest: candidate used (a model or `baseline`), metric, "
                 "model_value (the model's figure on the validation window), baseline_value (the naive baseline's "
                 "on the same customers) and decision (one sentence).")


class ReuseError(ShopsegError):
    """A stored model turned out not to fit this run's data (checked before anything is written)."""


@dataclass
class Decision:
    """What a run did with one model, and why."""

    model: str
    action: str  # "reused" | "refitted"
    reason: str
    max_psi: float | None = None
    feature: str | None = None  # the input feature with the largest PSI
    source_run_id: int | None = None  # the run that fitted the model used
    candidate: str | None = None  # what was used: a model name or "baseline"
    metric: str | None = None  # the backtest figure's name (roc_auc, gini_normalised)
    model_value: float | None = None  # the model's figure on the validation window
    baseline_value: float | None = None  # the naive baseline's, same customers
    decision: str | None = None  # one sentence: which was used and why

    def note(self) -> str:
        if self.action == "reused":
            return f"reused the model of run {self.source_run_id} ({self.reason})"
        return f"refitted ({self.reason})"


# -- drift of a model's inputs -------------------------------------------------------------------

def input_drift(ws, run_id: int, reference_run_id: int, features, *, bins: int = 10,
                shared: dict | None = None) -> tuple[float | None, str | None]:
    """The largest PSI of ``features`` (columns of ``customer_features``) between two runs, and its feature.

    (None, None) when neither run has any of them with values.  ``shared``: a dict kept across calls (one
    run's decisions): the PSI of every feature between the two runs is computed once into it and each call
    takes its features' rows (a feature's PSI does not depend on the others; the rows in ``features``' order,
    so a tie names the same feature).
    """
    if not ws.has_table("customer_features"):
        return None, None
    if shared is None:
        df = feature_drift(ws, int(run_id), int(reference_run_id), bins=bins, features=features)
    else:
        key = (int(run_id), int(reference_run_id), int(bins))
        if key not in shared:
            shared[key] = feature_drift(ws, key[0], key[1], bins=bins).set_index("feature", drop=False)
        every = shared[key]
        df = every.loc[[f for f in dict.fromkeys(features) if f in every.index]].sort_values(
            "psi", ascending=False, kind="stable", ignore_index=True)
    df = df[np.isfinite(df["psi"].to_numpy(float))]
    if df.empty:
        return None, None
    return float(df["psi"].iloc[0]), str(df["feature"].iloc[0])


def decide(ws, run_id: int, model: str, config, *, features, source_run_id: int | None, refit: bool = False,
           unusable: str | None = None, shared: dict | None = None) -> Decision:
    """Reuse the model fitted by ``source_run_id`` or refit (see the module docstring).

    ``features``: the model's input columns of ``customer_features``;
    ``unusable``: why the stored model cannot be used (other settings...), or None;
    ``shared``: the drift computed once for several decisions (:func:`input_drift`).
    """
    d = config["drift"]
    if refit:
        return Decision(model, "refitted", "refit requested (--refit)")
    if not d["reuse_models"]:
        return Decision(model, "refitted", "drift.reuse_models = false")
    if source_run_id is None:
        return Decision(model, "refitted", "no stored model of an earlier run")
    if unusable:
        return Decision(model, "refitted", unusable)
    psi, feat = input_drift(ws, run_id, source_run_id, features, bins=d["bins"], shared=shared)
    thr = float(d["refit_psi"])
    if psi is None:
        return Decision(model, "refitted", f"no input feature of run {source_run_id} to compare with")
    if psi > thr:
        return Decision(model, "refitted", f"input drift: PSI {psi:.4f} of {feat} > drift.refit_psi {thr:g}",
                        psi, feat)
    return Decision(model, "reused", f"max input PSI {psi:.4f} of {feat} <= drift.refit_psi {thr:g}", psi, feat,
                    int(source_run_id))


def record(ws, run_id: int, decision: Decision) -> dict:
    """Store ``decision`` as run ``run_id``'s row of ``model_decisions``; returns notes for ``runs.stages``."""
    if decision.action not in ACTIONS or decision.model not in MODELS:
        raise ConfigError(f"A model decision must be one of {ACTIONS} for one of {MODELS}. "
                          f"Got {decision.action!r} for {decision.model!r} instead.")
    ws.con.execute(DECISIONS_DDL)
    for name, typ in list(DECISIONS_COLUMNS.items())[7:]:  # a workspace made before the backtest columns
        ws.con.execute(f"ALTER TABLE model_decisions ADD COLUMN IF NOT EXISTS {name} {typ}")
    ws.con.execute("DELETE FROM model_decisions WHERE run_id = ? AND model = ?", [int(run_id), decision.model])

    def num(v):
        return None if v is None or not math.isfinite(v) else float(v)

    ws.con.execute(f"INSERT INTO model_decisions ({', '.join(DECISIONS_COLUMNS)}) VALUES "
                   f"({', '.join('?' * len(DECISIONS_COLUMNS))})", [
        int(run_id), decision.model, decision.action, decision.reason, num(decision.max_psi), decision.feature,
        decision.source_run_id if decision.source_run_id is None else int(decision.source_run_id),
        decision.candidate, decision.metric, num(decision.model_value), num(decision.baseline_value),
        decision.decision])
    out = {"fit": decision.note()}
    if decision.decision:
        out["decision"] = decision.decision
    return out


def decisions(ws, run_id: int, model: str | None = None) -> pd.DataFrame:
    """The ``model_decisions`` rows of ``run_id`` (only ``model``'s when given; empty when none)."""
    cols = list(DECISIONS_COLUMNS)[1:]
    if not ws.has_table("model_decisions"):
        return pd.DataFrame(columns=cols)
    have = set(ws.columns("model_decisions"))
    sel = ", ".join(c if c in have else f"NULL AS {c}" for c in cols)
    where, params = ("run_id = ?", [int(run_id)]) if model is None else ("run_id = ? AND model = ?", [int(run_id), model])
    return ws.df(f"SELECT {sel} FROM model_decisions WHERE {where} ORDER BY model", params)


# a decision's backtest: what a run that reuses another run's model (or its rules) carries from it
BACKTEST_FIELDS = ("candidate", "metric", "model_value", "baseline_value", "decision")


def backtest_fields(row) -> dict:
    """The backtest fields (:data:`BACKTEST_FIELDS`) of one :func:`decisions` row that are not NULL."""
    return {k: row[k] for k in BACKTEST_FIELDS if not pd.isna(row[k])}


def _done_runs_before(ws, run_id: int) -> list[int]:
    return [int(r[0]) for r in ws.sql("SELECT run_id FROM runs WHERE status = 'done' AND run_id < ? "
                                      "ORDER BY run_id DESC", [int(run_id)])]


# -- the cluster model -------------------------------------------------------------------------------

CLUSTER_FORMAT = "shopseg-cluster-model/1"
_CLUSTER_ARRAYS = ("log_mask_", "sqrt_mask_", "impute_mask_", "impute_", "caps_", "center_", "scale_",
                   "cluster_centers_", "cluster_ids_")


def cluster_model_path(ws, run_id: int) -> Path:
    """The JSON of run ``run_id``'s cluster model in the workspace's model store (``models/run-<id>-clusters.json``)."""
    from . import models

    return models.path(ws, "clusters", run_id)


def _cluster_doc(model, metadata: dict | None = None) -> str:
    model._check_fitted()
    state = {a: np.asarray(getattr(model, a)).tolist() for a in _CLUSTER_ARRAYS}
    state["caps_"] = [None if not np.isfinite(v) else v for v in np.asarray(model.caps_, float).tolist()]
    doc = {"format": CLUSTER_FORMAT, "params": model.get_params(), "features_": list(model.features_),
           "n_clusters_": int(model.n_clusters_), "elbow_k_": int(model.elbow_k_),
           "k_curve_": model.k_curve_.replace({np.nan: None}).to_dict(orient="list"), "state": state,
           **(metadata or {})}
    return json.dumps(doc, indent=1, default=float) + "\n"


def save_cluster_model(model, path: str | Path, metadata: dict | None = None) -> Path:
    """Write a fitted :class:`~shopseg.segment.BehaviourClusters` as JSON: hyperparameters and learned state.

    Everything ``predict`` needs (imputation, caps, scaler, centroids, ids), the K curve, and ``metadata``.
    (A run stores its model in the workspace's model store instead: :func:`store_cluster_model`.)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(_cluster_doc(model, metadata), encoding="utf-8")
    return p


def store_cluster_model(ws, run_id: int, model, metadata: dict) -> Path:
    """Store ``model`` as run ``run_id``'s cluster model (:mod:`shopseg.models`); config hash of its hyperparameters."""
    from . import models

    digest = hashlib.sha256(json.dumps(model.get_params(), sort_keys=True, default=str).encode()).hexdigest()
    return models.save(ws, "clusters", run_id, {".json": _cluster_doc(model, metadata)}, config_hash=digest,
                       fitted_run_id=metadata.get("fitted_run_id"))


def load_cluster_model(path: str | Path, *, light: bool = False):
    """The :class:`~shopseg.segment.BehaviourClusters` written by :func:`save_cluster_model` (``metadata_`` holds the rest).

    ``light``: a :class:`~shopseg.segment._cluster_space.ClusterSpace` instead, which applies the model (``predict``)
    but neither fits nor aligns: what scoring needs, without importing scikit-learn."""
    from .predict._store import read_model_json

    p = Path(path)
    doc = read_model_json(p, "cluster", "segments")
    if doc.get("format") != CLUSTER_FORMAT:
        raise ConfigError(f"{p} is not a stored shopseg cluster model: expected format {CLUSTER_FORMAT!r}; "
                          f"got {doc.get('format')!r}.")
    if light:
        from .segment._cluster_space import ClusterSpace

        m = ClusterSpace(metric=doc["params"].get("metric", "euclidean"))
    else:
        from .segment.cluster import BehaviourClusters

        m = BehaviourClusters(**doc["params"])
    st = doc["state"]
    m.features_ = list(doc["features_"])
    for a in ("log_mask_", "sqrt_mask_", "impute_mask_"):
        m.__dict__[a] = np.asarray(st[a], dtype=bool)
    for a in ("impute_", "center_", "scale_"):
        m.__dict__[a] = np.asarray(st[a], dtype=float)
    m.caps_ = np.array([np.inf if v is None else v for v in st["caps_"]], dtype=float)
    m.cluster_centers_ = np.asarray(st["cluster_centers_"], dtype=float).reshape(len(st["cluster_ids_"]), -1)
    m.cluster_ids_ = np.asarray(st["cluster_ids_"], dtype=np.int64)
    m.n_clusters_ = int(doc["n_clusters_"])
    m.elbow_k_ = int(doc["elbow_k_"])
    m.k_curve_ = pd.DataFrame(doc["k_curve_"]).astype(float).astype({"k": int})
    m.metadata_ = {k: v for k, v in doc.items() if k not in ("state", "k_curve_")}
    return m


def stored_cluster_model(ws, run_id: int, *, light: bool = False):
    """Run ``run_id``'s cluster model from the model store (NotFittedError when the run stored none);
    ``light``: applied only (:func:`load_cluster_model`)."""
    from . import models

    models.require(ws, "clusters", run_id)
    return load_cluster_model(cluster_model_path(ws, run_id), light=light)


def cluster_inputs(model) -> list[str]:
    """The ``customer_features`` columns the cluster model reads (derived rates map to their inputs)."""
    from .segment._cluster_space import DERIVED

    out: list[str] = []
    for f in model.features_:
        out += list(DERIVED[f][:2]) if f in DERIVED else [f]
    return list(dict.fromkeys(out))


def cluster_decision(ws, run_id: int, config, *, refit: bool = False, light: bool = False,
                     shared: dict | None = None):
    """(Decision, stored model to reuse or None) for this run's behavioural clusters.

    ``config`` is the run's (with ``segments.cluster.random_state`` = the seed):
    a stored model fitted with other cluster settings is not reused.  ``light``: the model loaded to be
    applied only (:func:`load_cluster_model`; an incremental run, which needs the decision, not a fit).
    """
    from . import models
    from .segment._cluster_space import cluster_params

    src = model = None
    unusable = None
    for rid in _done_runs_before(ws, run_id):
        if not models.exists(ws, "clusters", rid):
            continue
        try:
            model = stored_cluster_model(ws, rid, light=light)
        except ShopsegError as e:
            unusable = f"the stored model of run {rid} cannot be read: {e.message}"
            break
        want, have = cluster_params(config), model.metadata_["params"]
        diff = sorted(k for k in want if want[k] != have.get(k))
        cap = model.metadata_.get("max_customers")  # the fit's sample rule (models stored before session 12: none)
        if cap is not None and cap != config["segments.cluster.max_customers"]:
            diff.append("max_customers")
        if diff:
            unusable = f"[segments.cluster] settings changed since run {rid} ({', '.join(diff)})"
        src = int(model.metadata_.get("fitted_run_id", rid))
        break
    if model is None or src is None:
        return decide(ws, run_id, "cluster", config, features=[], source_run_id=None, refit=refit), None
    d = decide(ws, run_id, "cluster", config, features=cluster_inputs(model), source_run_id=src, refit=refit,
               unusable=unusable, shared=shared)
    return d, (model if d.action == "reused" else None)


# -- the churn model ---------------------------------------------------------------------------------

def churn_decision(ws, run_id: int, config, *, refit: bool = False, shared: dict | None = None):
    """(Decision, stored churn model to reuse or None) for this run (``shared``: :func:`input_drift`)."""
    from . import models
    from .predict.churn import load_churn_model

    src = model = None
    unusable = None
    for rid in _done_runs_before(ws, run_id):
        if not models.exists(ws, "churn", rid):
            continue
        try:
            model = load_churn_model(ws, rid, config=config)
        except ShopsegError as e:
            unusable = f"the stored model of run {rid} is not usable: {e.message}"
            model = None
        src = int((model.metadata_ if model is not None else {}).get("fitted_run_id", rid))
        break
    if src is None:
        return decide(ws, run_id, "churn", config, features=[], source_run_id=None, refit=refit), None
    feats = list(model.feature_names_in_) if model is not None else []
    d = decide(ws, run_id, "churn", config, features=feats, source_run_id=src, refit=refit, unusable=unusable,
               shared=shared)
    return d, (model if d.action == "reused" else None)


__all__ = ["ACTIONS", "ReuseError", "DECISIONS_DOC", "Decision", "MODELS", "churn_decision",
           "cluster_decision", "cluster_inputs", "cluster_model_path", "decide", "decisions", "input_drift",
           "load_cluster_model", "record", "save_cluster_model", "store_cluster_model",
           "stored_cluster_model"]
