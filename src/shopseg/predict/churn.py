"""Churn prediction: who will place no order in the next H days, how sure we are, and why.

Definition (docs/churn.md): a customer with at least one sale order before a
cutoff *churned* when they place no sale order in the ``H`` days from the
cutoff on.  ``H`` is ``churn.horizon_days``, or derived from the shop's own
purchase rhythm (a high quantile of the gaps between purchase days).

Time-based, never a random split: with ``as_of`` the run's date,

* training: labelled customers at cutoff ``c1 = as_of - 2H`` (and, with
  ``churn.train_windows`` > 1, at earlier cutoffs ``c1 - k * step``), their
  labels read from ``[c, c + H)`` which ends on or before ``c2``;
* validation and calibration: cutoff ``c2 = as_of - H``, labels from
  ``[c2, as_of)``; every quality figure in ``model_reports`` comes from here;
* scoring: every customer with a sale order before ``as_of``, features as of
  ``as_of``, with the validated and calibrated model.

Nothing on or after ``as_of`` is read.  :class:`ChurnModel` is the estimator
(LightGBM by default; logistic regression, decision tree, random forest and
linear SVM selectable), :func:`churn_stage` the pipeline stage writing
``churn_scores`` and ``model_reports``, :func:`score_customers` re-scores a few
customers with the stored model (the live service).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config, load_config
from ..errors import ConfigError, DataContractError, ModelFitError, NotFittedError, ShopsegError
from ..features import _as_ts
from ..progress import track
from . import _churn_report as R
from . import explain
from ._churn_data import (EXTRA_FEATURE_DOCS, ChurnWarning, churn_horizon, churn_labels, customer_sample,
                          cutoff_frame, default_features, labelled_frame, shop_gap_days)
from ._churn_model import CALIBRATIONS, DEFAULT_PARAMS, MODELS, ChurnModel, _calibrate_apply, fit_calibrator

__all__ = [
    "ChurnModel", "ChurnFit", "ChurnWarning", "churn_stage", "fit_churn", "score_customers", "load_churn_model",
    "churn_horizon", "churn_labels", "cutoff_frame", "labelled_frame", "default_features", "churn_config_hash", "model_path",
    "MODELS", "CALIBRATIONS", "DEFAULT_PARAMS", "EXTRA_FEATURE_DOCS", "CHURN_SCORES_COLUMNS", "MODEL_REPORTS_COLUMNS",
]

CHURN_SCORES_COLUMNS: dict[str, str] = {
    "customer_id": "Customer with at least one sale order before as_of.",
    "probability": "Probability of no sale order in the horizon_days after as_of: the churn model's calibrated "
    "score; for a buyer silent longer than every training row, at least the recency floor (the validation window's "
    "churn rate at that silence); then, where the CLV stage's P(alive) is a purchase in a window nested in the "
    "horizon and exceeds 1 - this, pooled with it (their mean), never below the floor (docs/churn.md).",
    "tier": "Risk tier: high, mid or low (churn.tiers).",
    "reason_1": "Strongest reason, in plain words: the recency floor's sentence where the floor sets the "
    "probability, else a feature pushing towards churn when there is one.",
    "reason_2": "Second reason.",
    "reason_3": "Third reason.",
    "model": "Model family that scored the customer (churn.model).",
}
MODEL_REPORTS_COLUMNS: dict[str, str] = {
    "model": "Model the figure is about (lightgbm, rfm_logit, bgnbd, ...).",
    "metric": "roc_auc, pr_auc, brier, lift_top_decile, gains_top_20, base_rate, ...",
    "value": "The figure.",
    "details": "JSON: task, horizon, cutoffs, window sizes, the gains table...",
}

_MODEL_REPORTS_DDL = ('CREATE TABLE IF NOT EXISTS model_reports (run_id BIGINT, model VARCHAR, metric VARCHAR, '
                      'value DOUBLE, details JSON)')


def churn_settings(config: Config | None = None) -> dict:
    """The [churn] section, with the checks that involve several settings."""
    cfg = config if config is not None else load_config()
    c = cfg["churn"]
    R.validate_tiers(c["tiers"])
    if c["min_horizon_days"] > c["max_horizon_days"]:
        raise ConfigError("The 'churn.min_horizon_days' setting must be at most 'max_horizon_days' "
                          f"({c['max_horizon_days']!r}). Got {c['min_horizon_days']!r} instead.")
    return c


def churn_config_hash(config: Config | None = None) -> str:
    """SHA-256 of the [churn] section only: other stages' settings do not invalidate a churn model."""
    c = (config if config is not None else load_config())["churn"]
    return hashlib.sha256(json.dumps(c, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_path(ws, run_id: int) -> Path:
    """The JSON file of run ``run_id``'s churn model in the workspace's model store (``models/run-<id>-churn.json``)."""
    from .. import models

    return models.path(ws, "churn", run_id)


def store_model(ws, run_id: int, model: ChurnModel, metadata: dict, config_hash: str | None) -> Path:
    """Store ``model`` as run ``run_id``'s churn model (:mod:`shopseg.models`); returns its JSON path."""
    from .. import models

    return models.save(ws, "churn", run_id, model.files(f"run-{int(run_id)}-churn", metadata), config_hash=config_hash,
                       fitted_run_id=metadata.get("fitted_run_id"))


def _features(frame: pd.DataFrame, c: dict) -> list[str]:
    if not c["features"]:
        return default_features(frame)
    missing = [f for f in c["features"] if f not in frame.columns]
    if missing:
        raise ConfigError(f"The 'churn.features' setting names unknown feature(s) {', '.join(missing)}. "
                          f"Known: {', '.join(default_features(frame))}.")
    return list(c["features"])


# the baseline's inputs, as churn features: what the run scores with when the model does not beat it
BASELINE_FEATURES = ("recency_days", "frequency", "monetary_total", "tenure_days", "avg_order_value")


def rfm_baseline_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The baseline's inputs: log1p recency, frequency and monetary, tenure days and average order value."""
    return np.column_stack([
        np.log1p(frame["recency_days"].clip(lower=0)), np.log1p(frame["frequency"].clip(lower=0)),
        np.log1p(frame["monetary_total"].clip(lower=0)), frame["tenure_days"], frame["avg_order_value"],
    ]).astype(float)


def _fit_baseline(train: pd.DataFrame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
        rfm_baseline_matrix(train), train["churned"].to_numpy())


def _bgnbd_view(ws, c2: datetime, horizon: int, valid: pd.DataFrame, customers=None) -> dict:
    """The "buy till you die" view of the same validation window: 1 - P(alive) from a BG/NBD model.

    Also P(no purchase in the horizon) = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + H))^(r + x),
    since an alive customer's rate given the history is Gamma(r + x, alpha + T) (Fader, Hardie & Lee 2005).
    Hook: needs ``shopseg.predict.clv`` (BGNBD, summary_from_orders); without it, a note says so.
    ``customers``: the customer sample of a large shop's windows (fitted on them, like the model).
    """
    try:
        from .clv import BGNBD, summary_from_orders
    except ImportError as e:  # the CLV capability is not installed: keep the hook visible
        return {"status": f"skipped: shopseg.predict.clv unavailable ({e})"}
    s = summary_from_orders(ws, _as_ts(c2) - timedelta(microseconds=1), customers=customers)
    try:
        m = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    except ShopsegError as e:
        return {"status": f"skipped: BG/NBD fit failed ({e.message})"}
    from ._clv_backtest import degenerate

    x, tx, T = (s[k].to_numpy(dtype=float) for k in ("frequency", "recency", "T"))
    with np.errstate(all="ignore"):
        p_alive = np.asarray(m.conditional_probability_alive(x, tx, T), dtype=float)
        r, alpha = m.params_["r"], m.params_["alpha"]
        p_none = 1.0 - p_alive + p_alive * ((alpha + T) / (alpha + T + horizon)) ** (r + x)
    bad = degenerate(m, p_alive, p_none)
    if bad:  # a fit at its bounds says nothing about the customers: not compared
        return {"status": f"skipped: BG/NBD fit degenerate ({bad})"}
    v = valid[["customer_id", "churned"]].merge(
        pd.DataFrame({"customer_id": s["customer_id"], "p_alive": p_alive, "p_none": p_none}), on="customer_id")
    y = v["churned"].to_numpy()
    return {"status": "done", "n": len(v), "params": m.params_,
            "roc_auc": R.roc_auc(y, 1.0 - v["p_alive"].to_numpy()),
            "pr_auc": R.pr_auc(y, 1.0 - v["p_alive"].to_numpy()),
            "roc_auc_no_purchase_in_horizon": R.roc_auc(y, v["p_none"].to_numpy()),
            "brier_no_purchase_in_horizon": R.brier(y, v["p_none"].to_numpy())}


@dataclass
class ChurnFit:
    """What :func:`fit_churn` learned and measured (before anything is written)."""

    model: ChurnModel
    horizon: dict
    cutoffs: dict
    features: list[str]
    train: pd.DataFrame
    valid: pd.DataFrame
    figures: dict
    baseline_figures: dict
    bgnbd: dict
    notes: dict = field(default_factory=dict)
    importance_: pd.Series | None = None
    valid_raw: np.ndarray | None = None  # the model's raw scores on ``valid`` (one pass of the model)

    @property
    def importance(self) -> pd.Series:
        """Mean |contribution| per feature, largest first: over the customers scored when :func:`churn_stage`
        set it from their per-customer contributions (TreeSHAP once), else over the validation window."""
        if self.importance_ is None:
            self.importance_ = self.model.feature_importance(self.valid[self.features])
        return self.importance_


def fit_churn(ws, as_of, config: Config | None = None) -> ChurnFit:
    """Label, train (cutoffs up to as_of - 2H), validate and calibrate (cutoff as_of - H). Writes nothing."""
    cfg = config if config is not None else load_config()
    c = churn_settings(cfg)
    as_of = _as_ts(as_of)
    hz = churn_horizon(ws, as_of, cfg)
    H = hz["horizon_days"]
    c2 = as_of - timedelta(days=H)
    c1 = as_of - timedelta(days=2 * H)
    step = c["window_step_days"] or max(1, math.ceil(H / 3))
    first = ws.scalar("SELECT min(ordered_at) FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL")
    train_cutoffs = [c1 - timedelta(days=k * step) for k in range(c["train_windows"])]
    train_cutoffs = [t for t in train_cutoffs if first is not None and t > first]
    hint = ("Churn needs history before as_of - 2 x horizon: lower churn.horizon_days (now "
            f"{H}, {hz['source']}) or use a later as_of.")
    if not train_cutoffs:
        raise ModelFitError(f"Cannot fit a churn model: no sale order before the training cutoff {c1:%Y-%m-%d} "
                            f"(as_of - 2 x {H} days).", hint=hint)
    # a large shop: the training and validation windows of a seeded sample of customers (docs/scale.md)
    sample, n_customers = customer_sample(ws, c2, c["max_customers"], c["random_state"])
    done = track("churn training windows", len(train_cutoffs), "cutoffs")
    frames = []
    for t in train_cutoffs:
        frames.append(labelled_frame(ws, t, H, cfg, customers=sample))
        done.advance(1)
    train = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
    n_train_rows = len(train)
    if c["max_train_rows"] and n_train_rows > c["max_train_rows"]:  # a large shop: a seeded sample (docs/scale.md)
        keep = np.random.default_rng(c["random_state"]).choice(n_train_rows, c["max_train_rows"], replace=False)
        train = train.iloc[np.sort(keep)].reset_index(drop=True)
    valid = labelled_frame(ws, c2, H, cfg, customers=sample)
    for name, f in (("training", train), ("validation", valid)):
        n1 = int(f["churned"].sum()) if len(f) else 0
        if len(f) < c["min_labelled_customers"] or min(n1, len(f) - n1) < c["min_class_count"]:
            raise ModelFitError(
                f"Cannot fit a churn model: the {name} window has {len(f)} labelled customers "
                f"({n1} churned, {len(f) - n1} retained); need at least {c['min_labelled_customers']} "
                f"(churn.min_labelled_customers) with {c['min_class_count']} of each class (churn.min_class_count).",
                hint=hint)
    y_val = valid["churned"].to_numpy()

    def fit_on(kind: str, features: list[str]):
        """(model fitted on the training window and calibrated on the validation one, its raw validation scores,
        its figures there: the calibrated ones cross-fitted, so they are out of sample)."""
        m = ChurnModel(kind, calibration=c["calibration"], random_state=c["random_state"], params=c[kind],
                       min_class_count=c["min_class_count"])
        m.fit(train[features], train["churned"])
        m.horizon_days_ = H
        r = m.decision_function(valid[features])
        prob_cv = R.crossfit_calibrated(fit_calibrator, c["calibration"], r, y_val, m._uncalibrated,
                                        c["random_state"])
        fig = R.quality(y_val, r, prob_cv)
        fig["brier_uncalibrated"] = R.brier(y_val, m._uncalibrated(r))
        m.calibrate(valid[features], y_val, raw=r)
        return m, r, fig

    features = _features(valid, c)
    model, raw, figures = fit_on(c["model"], features)
    base = _fit_baseline(train)
    b_raw = base.decision_function(rfm_baseline_matrix(valid))
    baseline_figures = R.quality(y_val, b_raw, base.predict_proba(rfm_baseline_matrix(valid))[:, 1])
    bg = _bgnbd_view(ws, c2, H, valid, sample) if c["compare_bgnbd"] else {"status": "skipped: churn.compare_bgnbd = false"}
    # the paired bootstrap on the validation window: the model is used only when it beats its baseline
    from ._clv_backtest import compare, resample_weights

    cmp = compare("roc_auc", y_val, raw, b_raw, resample_weights(len(y_val), c["backtest_resamples"],
                                                                c["random_state"]))
    notes = {"candidate": model.model, "metric": "roc_auc", "model_value": cmp.model, "baseline_value": cmp.baseline}
    if cmp.beats(c["backtest_confidence"]):
        notes["decision"] = (f"{model.model} ROC-AUC {cmp.model:.3f} beats the logistic RFM baseline "
                             f"{cmp.baseline:.3f} in {cmp.win_share:.0%} of {c['backtest_resamples']} resamples of "
                             "the validation window")
    else:
        share = "n/a" if cmp.win_share is None else f"{cmp.win_share:.0%}"
        mv = "n/a" if cmp.model is None else f"{cmp.model:.3f}"
        bv = "n/a" if cmp.baseline is None else f"{cmp.baseline:.3f}"
        notes["decision"] = (f"logistic RFM baseline used: {model.model} ROC-AUC {mv} vs baseline {bv} beats it in "
                             f"only {share} of {c['backtest_resamples']} resamples of the validation window "
                             f"(needs {c['backtest_confidence']:.0%})")
        notes["candidate"] = "rfm_logit"
        features = list(BASELINE_FEATURES)
        model, raw, figures = fit_on("logistic", features)
    _naive_check(y_val, raw, valid, model.model, len(train), c, hint)
    if sample is not None:
        notes["customer_sample"] = (f"training and validation windows of {len(sample):,} of {n_customers:,} "
                                    "customers (churn.max_customers)")
    if len(train) < n_train_rows:
        notes["train_sample"] = f"{len(train):,} of {n_train_rows:,} training rows (churn.max_train_rows)"
    cutoffs = {"train": [f"{t:%Y-%m-%d %H:%M:%S}" for t in train_cutoffs], "valid": f"{c2:%Y-%m-%d %H:%M:%S}",
               "as_of": f"{as_of:%Y-%m-%d %H:%M:%S}"}
    # buyers silent longer than every training row: at least the calendar's churn rate at that edge
    model.recency_floor_ = recency_floor(train, valid, y_val)
    return ChurnFit(model, hz, cutoffs, features, train, valid, figures, baseline_figures, bg, notes, valid_raw=raw)


# the naive rankings a used churn model must not lose to (higher = more likely to churn), not fitted to anything
NAIVE_CHURN = {"days since the last order": lambda f: f["recency_days"].to_numpy(float),
               "fewest orders": lambda f: -f["frequency"].to_numpy(float)}


def _naive_check(y_val, raw, valid: pd.DataFrame, name: str, n_train: int, c: dict, hint: str) -> None:
    """Raise ModelFitError (the stage steps aside, saying why) when a naive ranking (:data:`NAIVE_CHURN`) beats the
    model the stage would use on the validation window in ``backtest_confidence`` of the paired resamples: Online
    Retail's last 90 days (a 44-day horizon leaves a training window of 130 customers with two days of history)
    used LightGBM at ROC-AUC 0.544, "beating" a logistic baseline that learned the window upside down (0.423),
    where ranking by fewest orders gave 0.638."""
    from ._clv_backtest import compare, resample_weights

    w = resample_weights(len(y_val), c["backtest_resamples"], c["random_state"])
    for what, score in NAIVE_CHURN.items():
        cmp = compare("roc_auc", y_val, score(valid), raw, w)
        if cmp.beats(c["backtest_confidence"]):
            raise ModelFitError(
                f"Cannot use a churn model: on the validation window the naive ranking by {what} (ROC-AUC "
                f"{cmp.model:.3f}) beats the {name} model ({cmp.baseline:.3f}) in {cmp.win_share:.0%} of "
                f"{c['backtest_resamples']} resamples (the training window has {n_train:,} labelled customers); "
                "no churn risk is given.", hint=hint)


# customers scored (contributions, reasons) per batch: memory bounded by the batch, not the shop
SCORE_BATCH_ROWS = 100_000


def _score(model: ChurnModel, frame: pd.DataFrame, cuts_settings: dict | None, valid_prob=None, valid_y=None,
           cuts: dict | None = None, horizon_days: int | None = None) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    A = model._matrix(frame)  # the feature matrix once, for the contributions and the score
    # contributions (TreeSHAP) once per customer, in batches: the reasons, the global importance
    # (``why.attrs["importance"]``) and, for LightGBM, the raw score (TreeSHAP's parts and bias add up to it:
    # a second pass of the 500 trees over everyone cost as much as the contributions) all come from them
    additive = model.model == "lightgbm"
    parts, raws, abs_sum = [], [], np.zeros(len(model.feature_names_in_))
    done = track("churn reasons", len(frame), "customers")
    for lo in range(0, max(len(frame), 1), SCORE_BATCH_ROWS):
        part = frame.iloc[lo:lo + SCORE_BATCH_ROWS]
        contrib = model.contributions(A[lo:lo + SCORE_BATCH_ROWS])  # the matrix built above, not again
        abs_sum += np.abs(contrib[:, :len(abs_sum)]).sum(axis=0)
        if additive:
            raws.append(contrib.sum(axis=1))
        parts.append(model.reasons(part, 3, horizon_days, contrib=contrib))
        done.advance(len(part))
    why = parts[0] if len(parts) == 1 else pd.concat(parts)
    raw = np.concatenate(raws) if additive else model.decision_function(A)
    prob, lifted = apply_recency_floor(model.recency_floor_, model.probability_of(raw),
                                       frame["recency_days"].to_numpy(float))
    if lifted.any():  # the floor's reason first: the model's own reasons explain a score it does not give them
        why = _floor_reasons(why, lifted, frame["recency_days"].to_numpy(float), model.recency_floor_)
    if cuts is None:
        cuts = R.tier_cuts(cuts_settings, valid_prob, valid_y)
        tiers, cuts = R.assign_tiers(prob, raw, cuts_settings, cuts)
    else:
        tiers = R.tier_of(prob, cuts)
    why.attrs["importance"] = explain.importance_series(abs_sum / max(len(frame), 1), model.feature_names_in_)
    why.attrs["raised"] = int(lifted.sum())  # customers the recency floor raised
    out = pd.DataFrame({"customer_id": frame["customer_id"].to_numpy(), "probability": prob, "tier": tiers,
                        "reason_1": why["reason_1"].to_numpy(), "reason_2": why["reason_2"].to_numpy(),
                        "reason_3": why["reason_3"].to_numpy(), "model": model.model})
    return out, cuts, why


def _floor_reasons(why: pd.DataFrame, lifted: np.ndarray, recency: np.ndarray, floor: dict) -> pd.DataFrame:
    """``why`` with, for the ``lifted`` rows, the floor's sentence as reason 1 and their reasons 1 and 2 as 2 and 3."""
    why = why.copy()
    days, at = np.unique(np.round(recency[lifted]).astype(np.int64), return_inverse=True)  # once per distinct value
    tail = (f" days, longer than any buyer the model learned from ({floor['max_recency_days']:,.0f} days); the shop's "
            f"churn rate at that silence: {explain.percent_words(floor['probability'])}")
    text = np.array([f"no order for {d:,}{tail}" for d in days.tolist()], dtype=object)[at.ravel()]
    for k in (3, 2):
        for col in (f"reason_{k}", f"reason_feature_{k}", f"contribution_{k}"):
            if col in why:
                prev = why[col.replace(str(k), str(k - 1))].to_numpy()
                why[col] = np.where(lifted, prev, why[col].to_numpy())
    first = why["reason_1"].to_numpy(dtype=object).copy()
    first[lifted] = text
    why["reason_1"] = first
    if "reason_feature_1" in why:
        why["reason_feature_1"] = np.where(lifted, "recency_days", why["reason_feature_1"].to_numpy())
    if "contribution_1" in why:
        why["contribution_1"] = np.where(lifted, np.nan, why["contribution_1"].to_numpy(float))
    return why


def write_scores(ws, run_id: int, scores: pd.DataFrame) -> int:
    """``scores`` (from :func:`_score`) as run ``run_id``'s ``churn_scores``; returns the rows written."""
    _temp_table(ws, "_churn_scores_df", scores)
    try:
        return ws.write_output("churn_scores", run_id, "SELECT customer_id, probability, tier, reason_1, reason_2, "
                               "reason_3, model FROM _churn_scores_df")
    finally:
        ws.con.execute("DROP TABLE IF EXISTS _churn_scores_df")


def _temp_table(ws, name: str, df: pd.DataFrame) -> None:
    """Copy ``df`` into temp table ``name`` (register + copy + unregister at once, so no view outlives it)."""
    ws.con.register("_churn_df_view", df)
    try:
        ws.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM _churn_df_view')
    finally:
        ws.con.unregister("_churn_df_view")


def _write_reports(ws, run_id: int, rows: pd.DataFrame) -> None:
    ws.con.execute(_MODEL_REPORTS_DDL)
    ws.con.execute("DELETE FROM model_reports WHERE run_id = ? AND json_extract_string(details, '$.task') = 'churn'",
                   [run_id])
    _temp_table(ws, "_churn_reports", rows)
    try:
        ws.con.execute("INSERT INTO model_reports SELECT CAST(? AS BIGINT), model, metric, value, "
                       "CAST(details AS JSON) FROM _churn_reports", [run_id])
    finally:
        ws.con.execute("DROP TABLE IF EXISTS _churn_reports")


def churn_stage(ws, run_id: int, as_of, config: Config | None = None, *,
                features: pd.DataFrame | None = None) -> dict:
    """The pipeline stage: fit and validate, score everyone as of ``as_of``, write and store.

    Writes ``churn_scores`` (one row per customer with a sale order before
    ``as_of``), the churn rows of ``model_reports`` and the model files
    ``models/run-<run_id>-churn.json`` (+ estimator, :mod:`shopseg.models`).  Returns notes for ``runs``, among
    them ``tier_cuts``: the tier cut points the scores used (``{"method", "high", "mid"}``, also in the stored
    model's metadata), with which the pooling with P(alive) re-cuts a pooled customer's tier.  ``features``: the
    run's customer features as of ``as_of`` when the caller has them (the segments stage's), else computed.
    """
    cfg = config if config is not None else load_config()
    c = churn_settings(cfg)
    fit = fit_churn(ws, as_of, cfg)
    H = fit.horizon["horizon_days"]
    model = fit.model
    y_val = fit.valid["churned"].to_numpy()
    valid_prob, _ = apply_recency_floor(model.recency_floor_, model.probability_of(fit.valid_raw),
                                        fit.valid["recency_days"].to_numpy(float))
    frame = cutoff_frame(ws, _as_ts(as_of), H, cfg, features=features)
    # "shop median" in the reasons means the shop as of as_of, not the (older) training cutoffs
    model.reference_ = explain.reference_values(frame[fit.features])
    scores, cuts, why = _score(model, frame, c["tiers"], valid_prob, y_val, horizon_days=H)
    fit.importance_ = why.attrs["importance"]
    n = write_scores(ws, run_id, scores)
    # the validation window's labels and calibrated scores: ROC and calibration charts, the threshold slider
    _temp_table(ws, "_churn_valid_df", pd.DataFrame({
        "customer_id": fit.valid["customer_id"].astype(str).to_numpy(), "churned": y_val.astype(bool),
        "probability": valid_prob.astype(float)}))
    try:
        ws.write_output("churn_validation", run_id, "SELECT customer_id, churned, probability FROM _churn_valid_df")
    finally:
        ws.con.execute("DROP TABLE IF EXISTS _churn_valid_df")
    common = {"task": "churn", "horizon_days": H, "horizon_source": fit.horizon["source"], "cutoffs": fit.cutoffs,
              "n_train": len(fit.train), "n_valid": len(fit.valid)}
    rows = [R.report_rows(model.model, fit.figures, {**common, "calibration": c["calibration"]}),
            R.report_rows("rfm_logit", fit.baseline_figures,
                          {**common, "inputs": "log1p recency, frequency, monetary; tenure_days; avg_order_value"})]
    extra = [{"model": model.model, "metric": "brier_uncalibrated", "value": fit.figures["brier_uncalibrated"],
              "details": json.dumps(common, default=str)}]
    imp = fit.importance
    extra.append({"model": model.model, "metric": "global_importance_top", "value": float(imp.iloc[0]),
                  "details": json.dumps({**common, "feature": imp.index[0],
                                         "mean_abs_contribution": {k: float(v) for k, v in imp.items()}})})
    bg = fit.bgnbd
    if bg["status"] == "done":
        for metric in ("roc_auc", "pr_auc", "roc_auc_no_purchase_in_horizon", "brier_no_purchase_in_horizon"):
            if bg[metric] is not None:
                extra.append({"model": "bgnbd", "metric": metric, "value": bg[metric], "details": json.dumps(
                    {**common, "score": "1 - P(alive)" if metric in ("roc_auc", "pr_auc")
                     else "P(no purchase in horizon)", "params": bg["params"],
                     "supervised_roc_auc": fit.figures["roc_auc"]}, default=str)})
    _write_reports(ws, run_id, pd.concat(rows + [pd.DataFrame(extra)], ignore_index=True))
    notes = {"model": model.model, "horizon_days": H, "horizon_source": fit.horizon["source"],
             "roc_auc": _r(fit.figures["roc_auc"]), "baseline_roc_auc": _r(fit.baseline_figures["roc_auc"]),
             "bgnbd_roc_auc": _r(bg.get("roc_auc")), "pr_auc": _r(fit.figures["pr_auc"]),
             "brier": _r(fit.figures["brier"]), "n_train": len(fit.train), "n_valid": len(fit.valid),
             "n_scored": n, "tiers": scores["tier"].value_counts().to_dict(), **fit.notes}
    # the longest silence among the training rows: a buyer silent longer is scored by extrapolation (the customer
    # view says so where the lifecycle calls them churned and the churn risk is low; docs/churn.md)
    seen = train_max_recency(fit.train)
    if seen is not None:
        notes["train_max_recency_days"] = seen
    floor = model.recency_floor_
    if floor:
        n_beyond = int((frame["recency_days"].to_numpy(float) > floor["max_recency_days"]).sum())
        n_raised = why.attrs["raised"]
        notes["recency_floor"] = floor["probability"]
        notes["beyond_training"] = (
            f"{n_beyond:,} buyers silent longer than any training row ({seen:,.0f} days) get at least the calendar's "
            f"churn rate at that silence, {floor['probability']:.2f} (validation window: {floor['churned_valid_beyond']:,}"
            f" of {floor['n_valid_beyond']:,} buyers beyond it churned); {n_raised:,} raised to it, which the pooling "
            "with P(alive) keeps")
    if c["save_model"]:
        path = store_model(ws, run_id, model, {
            "train_max_recency_days": seen,
            "config_hash": churn_config_hash(cfg), "run_id": int(run_id), "as_of": fit.cutoffs["as_of"],
            "horizon": fit.horizon, "cutoffs": fit.cutoffs, "tier_cuts": cuts,
            # the whole-shop figure behind usual_gap_days at as_of: lets score_customers re-score a few
            # customers without computing everyone's features
            "shop_gap_days": shop_gap_days(frame, H),
            "figures": {k: v for k, v in fit.figures.items() if k != "gains"}}, churn_config_hash(cfg))
        notes["model_path"] = str(path)
    notes["tier_cuts"] = cuts  # the run's tier cut points: the pooling with P(alive) re-cuts with them
    return notes


def _r(v):
    return None if v is None else round(float(v), 4)


def train_max_recency(train: pd.DataFrame) -> float | None:
    """The longest silence (days since the last order) among the churn model's training rows, None without any: the
    training cutoffs come a horizon or more before as_of, so on a short history no training row may have been as
    silent as the buyers the lifecycle calls churned at as_of (200 Online Retail customers: 141 days, the churn
    window 150).

    >>> train_max_recency(pd.DataFrame({"recency_days": [3.0, 141.0, 20.0]}))
    141.0
    """
    if "recency_days" not in train or not len(train):
        return None
    v = float(pd.to_numeric(train["recency_days"], errors="coerce").max())
    return v if v == v else None


def recency_floor(train: pd.DataFrame, valid: pd.DataFrame, y_val) -> dict | None:
    """The least churn probability of a buyer silent longer than every training row, None without a training range.

    The training cutoffs come a horizon or more before as_of, so the scored buyers can be silent far longer than
    any row the model learned from, where a tree's score is flat at its last leaf and a linear model follows its
    other inputs (a long tenure, many orders) into "low risk". Such a buyer gets at least the calendar's churn rate
    at that edge: the isotonic fit (Jeffreys-shrunk, as the calibration) of the validation window's labels on days
    since the last order, read at the longest training silence. Churn does not get less likely with a longer
    silence, so nobody beyond the edge is less likely to churn than the buyers at it (docs/churn.md, "Beyond the
    training range"). ``max_recency_days`` the edge, ``probability`` the floor, ``n_valid_beyond`` /
    ``churned_valid_beyond`` the validation buyers beyond the edge and how many of them churned.

    >>> t = pd.DataFrame({"recency_days": [1.0, 5.0, 10.0]})
    >>> v = pd.DataFrame({"recency_days": [1.0, 2.0, 8.0, 9.0, 12.0, 14.0]})
    >>> recency_floor(t, v, np.array([0, 0, 1, 0, 1, 1]))  # blocks 0/2, 1/2, 2/2 at 1-2, 8-9, 12-14 days
    {'max_recency_days': 10.0, 'probability': 0.611111, 'n_valid_beyond': 2, 'churned_valid_beyond': 2}
    >>> round(1.5 / 3 + (10 - 9) / (12 - 9) * (2.5 / 3 - 1.5 / 3), 6)  # Jeffreys 1.5/3 at 9 days, 2.5/3 at 12
    0.611111
    """
    seen = train_max_recency(train)
    if seen is None:
        return None
    rec = pd.to_numeric(valid["recency_days"], errors="coerce").to_numpy(float)
    y = np.asarray(y_val).astype(int)
    cal = fit_calibrator("isotonic", rec, y, None)
    beyond = rec > seen
    return {"max_recency_days": seen, "probability": round(float(_calibrate_apply(cal, np.array([seen]))[0]), 6),
            "n_valid_beyond": int(beyond.sum()), "churned_valid_beyond": int(y[beyond].sum())}


def apply_recency_floor(f: dict | None, prob: np.ndarray, recency) -> tuple[np.ndarray, np.ndarray]:
    """(``prob`` with the floor ``f`` (:func:`recency_floor`, a model's ``recency_floor_``) applied to the buyers
    silent longer than its training rows, which of them it raised). No floor (a model stored by an older shopseg):
    left as it is. The DuckDB and Spark engines' one rule."""
    prob = np.asarray(prob, dtype=float)
    least = least_churn(f, recency) if f else np.zeros(len(prob))
    lifted = prob < least
    return np.where(lifted, least, prob), lifted


def floor_of_notes(notes: dict) -> dict | None:
    """The recency floor (:func:`apply_recency_floor`'s ``f``) a churn stage recorded in its notes
    (``train_max_recency_days``, ``recency_floor``); None when it recorded none.

    >>> floor_of_notes({"train_max_recency_days": 139, "recency_floor": 0.46})
    {'max_recency_days': 139.0, 'probability': 0.46}
    """
    if notes.get("recency_floor") is None or notes.get("train_max_recency_days") is None:
        return None
    return {"max_recency_days": float(notes["train_max_recency_days"]), "probability": float(notes["recency_floor"])}


def least_churn(floor: dict | None, recency) -> np.ndarray:
    """The least churn probability the recency ``floor`` allows each buyer silent ``recency`` days: its
    ``probability`` beyond its ``max_recency_days``, 0 elsewhere and without a floor (what
    :func:`apply_recency_floor` raises a lower probability to; the pooling with P(alive) stops there too).

    >>> least_churn({"max_recency_days": 139.0, "probability": 0.46}, [10, 139, 184]).tolist()
    [0.0, 0.0, 0.46]
    """
    r = np.asarray(recency, dtype=float)
    if not floor:
        return np.zeros(len(r))
    return np.where(r > float(floor["max_recency_days"]), float(floor["probability"]), 0.0)


def _latest_model_run(ws) -> int:
    """The newest *finished* run with a stored churn model: a failed or unfinished run's model is never loaded
    (its files are discarded with it, and one left behind by a discard that did not get through is skipped)."""
    from .. import models

    rid = models.latest_run(ws, "churn")
    if rid is None:
        from ..workspace import run_of_file

        for old in sorted(Path(ws.models_dir).glob("churn_run*.json")):  # stored by an older shopseg: say so
            models.require(ws, "churn", run_of_file(old.name))
        raise NotFittedError(f"No stored churn model in {ws.models_dir}.",
                             hint="Run the churn stage first (`shopseg run` or `shopseg predict churn`).")
    return rid


def load_churn_model(ws, run_id: int | None = None, *, config: Config | None = None,
                     features: list[str] | None = None) -> ChurnModel:
    """The churn model stored by run ``run_id`` (default: the newest finished run's), checked against ``config``.

    Fails loudly (ConfigError) when it was fitted under other [churn] settings, and
    (DataContractError) when ``features`` is given and differs from its feature list.
    """
    from .. import models

    rid = _latest_model_run(ws) if run_id is None else int(run_id)
    models.require(ws, "churn", rid)
    return ChurnModel.load(model_path(ws, rid), expected_config_hash=churn_config_hash(config)
                           if config is not None else None, expected_features=features)


def score_customers(ws, as_of, customer_ids=None, *, run_id: int | None = None,
                    config: Config | None = None, features: pd.DataFrame | None = None,
                    model: ChurnModel | None = None) -> pd.DataFrame:
    """Re-score customers with a stored model (what the live service calls after an event).

    Features as of ``as_of`` (same definitions as the batch), the stored
    calibration, the stored tier cut points and the reasons.  Columns as in
    ``churn_scores`` plus ``reason_feature_1..3`` and ``recency_days`` (with
    which the live pooling with P(alive) keeps the recency floor).  A model
    fitted under other settings or on other features is refused.

    With ``customer_ids`` and a model that stored its shop median gap
    (``shop_gap_days``), only those customers' features are computed (the
    restricted :func:`cutoff_frame`, with the model's run as the reference for
    top categories and the outlier median / MAD): milliseconds per customer
    instead of a whole-shop pass.  ``features``: their customer_features as of
    ``as_of`` when the caller already has them.  Older models without it fall
    back to the whole-shop computation, filtered.  ``model``: the stored model
    already loaded by :func:`load_churn_model` (a service keeps it per run); its
    feature list is still checked against the features computed.
    """
    cfg = config if config is not None else load_config()
    c = churn_settings(cfg)
    probe = model if model is not None else load_churn_model(ws, run_id, config=cfg)
    H = int(probe.metadata_["horizon"]["horizon_days"])
    gap = probe.metadata_.get("shop_gap_days")
    if customer_ids is not None and gap is not None:
        ref = probe.metadata_.get("run_id")
        has_ref = ref is not None and ws.has_table("customer_features") and bool(ws.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM customer_features WHERE run_id = ? LIMIT 1)", [int(ref)]))
        frame = cutoff_frame(ws, _as_ts(as_of), H, cfg, customers=[str(x) for x in customer_ids],
                             shop_gap=float(gap), reference_run_id=int(ref) if has_ref else None, features=features)
    else:
        frame = cutoff_frame(ws, _as_ts(as_of), H, cfg)
    if model is None:
        model = load_churn_model(ws, run_id, config=cfg)
    if list(model.feature_names_in_) not in (list(_features(frame, c)), list(BASELINE_FEATURES)):
        raise DataContractError(f"The churn model given was fitted on other features than {_features(frame, c)}.",
                                hint="Load the model of the run being scored (load_churn_model).")
    if customer_ids is not None:
        frame = frame[frame["customer_id"].isin([str(x) for x in customer_ids])].reset_index(drop=True)
    if frame.empty:  # nobody to score (a prospect's live event): estimators refuse zero rows
        return pd.DataFrame(columns=["customer_id", "probability", "tier", "reason_1", "reason_2", "reason_3",
                                     "model", "reason_feature_1", "reason_feature_2", "reason_feature_3",
                                     "recency_days"])
    out, _, why = _score(model, frame, None, cuts=model.metadata_["tier_cuts"], horizon_days=H)
    for k in (1, 2, 3):
        out[f"reason_feature_{k}"] = why[f"reason_feature_{k}"].to_numpy()
    out["recency_days"] = frame["recency_days"].to_numpy(float)
    return out
