"""The churn stage's ``run``: fit a model, or reuse the stored one while its inputs hold still (one stage).

:func:`churn_run` asks :func:`shopseg.refit.churn_decision` whether to reuse; the reuse branch scores everyone
with the stored model (no fit) and writes the same tables a fit writes; when the stored model turns out not to
fit this run's features it refits instead.  Both branches score the run's own customer features (handed over by
the segments stage in ``ctx.frames``), not a recomputation.
"""

from __future__ import annotations

import pandas as pd

from ..errors import ConfigError
from ..features import _as_ts
from ..refit import BACKTEST_FIELDS, Decision, ReuseError, backtest_fields, churn_decision, decisions, record
from . import explain
from ._churn_data import cutoff_frame, shop_gap_days
from ._reconcile import reconcile_views
from .churn import BASELINE_FEATURES, _features, _score, _write_reports, churn_settings, churn_stage, floor_of_notes, \
    store_model, write_scores


def churn_run(ctx) -> dict:
    """The churn stage of run ``ctx.run_id``: reuse the stored model or fit; record the decision."""
    ws, feats = ctx.ws, ctx.frames.get("customer_features")
    decision, stored = churn_decision(ws, ctx.run_id, ctx.config, refit=ctx.refit)
    if stored is not None:  # inputs held still: score with the stored model, no fit
        try:
            notes = _reuse(ws, ctx.run_id, ctx.as_of, ctx.config, stored, decision, features=feats)
            src = decisions(ws, decision.source_run_id, "churn")  # the fitting run's backtest holds for its model
            for k, v in (backtest_fields(src.iloc[0]) if len(src) else {}).items():
                setattr(decision, k, v)
        except ReuseError as e:
            decision, stored = Decision("churn", "refitted", e.message, decision.max_psi, decision.feature), None
    if stored is None:
        # a tiny shop or a single class raises ModelFitError: the runner skips the stage with the reason
        notes = churn_stage(ws, ctx.run_id, ctx.as_of, ctx.config, features=feats)
        for k in BACKTEST_FIELDS:
            setattr(decision, k, notes.get(k))
    # this run's P(alive) (a purchase in the CLV window) made to agree with churn (none in the horizon)
    # (a buyer past the churn model's training range keeps at least its recency floor: docs/churn.md)
    views = reconcile_views(ws, ctx.run_id, ctx.as_of, ctx.config, int(notes["horizon_days"]),
                            notes.get("tier_cuts"), floor=floor_of_notes(notes), features=feats)
    return {**notes, **views, **record(ws, ctx.run_id, decision)}


def _reuse(ws, run_id: int, as_of, config, model, decision, features=None) -> dict:
    """Score everyone as of ``as_of`` with the stored churn ``model`` (no fit); write and store as this run.

    Writes ``churn_scores`` like :func:`~shopseg.predict.churn.churn_stage`, with the model's stored
    horizon, calibration and tier cut points and the shop medians (reasons) at ``as_of``; copies the
    fitting run's ``churn_validation`` and churn ``model_reports`` rows (the quality figures are the
    fitted model's) and saves the model as this run's, noting ``fitted_run_id``.
    """

    if "recency_floor" not in model.metadata_:  # stored before the floor: its scores past the training range are
        raise ReuseError(f"the churn model of run {decision.source_run_id} has no recency floor (stored by an older "
                         "shopseg; docs/churn.md, 'Beyond the training range')")
    H = int(model.metadata_["horizon"]["horizon_days"])
    frame = cutoff_frame(ws, _as_ts(as_of), H, config, features=features)
    feats = list(model.feature_names_in_)
    want = _features(frame, churn_settings(config))
    if feats not in (list(want), list(BASELINE_FEATURES)):  # before any write: the caller refits instead
        raise ReuseError(f"the churn features changed since run {decision.source_run_id} "
                         f"(now {len(want)}, the model's {len(feats)})")
    model.reference_ = explain.reference_values(frame[feats])
    src = int(decision.source_run_id)
    # the tiers by the batch rule over this run's population (shares), or cut points from the
    # fitting run's validation window (precision), as a fresh fit would assign them
    valid = ws.df("SELECT churned, probability FROM churn_validation WHERE run_id = ? ORDER BY customer_id", [src]) \
        if ws.has_table("churn_validation") else pd.DataFrame({"churned": [], "probability": []})
    settings = churn_settings(config)["tiers"]
    if settings["method"] == "precision" and valid.empty:
        raise ConfigError(f"Cannot reuse the churn model of run {src}: its validation scores are gone.")
    scores, cuts, _ = _score(model, frame, settings, valid["probability"].to_numpy(float),
                             valid["churned"].to_numpy(int), horizon_days=H)
    n = write_scores(ws, run_id, scores)
    if ws.has_table("churn_validation"):
        ws.write_output("churn_validation", run_id, "SELECT customer_id, churned, probability FROM churn_validation "
                        "WHERE run_id = ?", [src])
    if ws.has_table("model_reports"):
        rows = ws.df("SELECT model, metric, value, CAST(details AS VARCHAR) AS details FROM model_reports "
                     "WHERE run_id = ? AND json_extract_string(details, '$.task') = 'churn'", [src])
        if len(rows):
            _write_reports(ws, run_id, rows)
    meta = {k: v for k, v in model.metadata_.items() if k not in (
        "format", "model", "settings", "params", "features", "reference", "calibrator", "svm_platt",
        "estimator_file", "estimator_sha256", "horizon_days", "versions")}
    meta.update(run_id=int(run_id), fitted_run_id=src, as_of=f"{_as_ts(as_of):%Y-%m-%d %H:%M:%S}",
                shop_gap_days=shop_gap_days(frame, H), tier_cuts=cuts)
    path = store_model(ws, run_id, model, meta, meta.get("config_hash"))
    out = {"model": model.model, "horizon_days": H, "n_scored": n, "tiers": scores["tier"].value_counts().to_dict(),
           "model_path": str(path), "tier_cuts": cuts}
    if model.metadata_.get("train_max_recency_days") is not None:  # the fitted model's training range (views)
        out["train_max_recency_days"] = model.metadata_["train_max_recency_days"]
    if model.recency_floor_:  # and the floor beyond it, which the pooling with P(alive) keeps
        out["recency_floor"] = model.recency_floor_["probability"]
    return out


__all__ = ["churn_run"]
