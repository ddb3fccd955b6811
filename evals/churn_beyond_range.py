"""Churn risk past the training range: the floors measured on the validation window (docs/churn.md, session 17).

The validation cutoff is a horizon after the last training cutoff, so its buyers can be silent up to H days
longer than any training row, with labels: the place to measure what the model says where it has no data. For
the workspace's newest finished run (its as_of), fits the churn model as the stage does and prints, on the whole
validation window and on its buyers silent longer than every training row, cross-fitted (5 stratified folds: the
calibration and each floor learned on the other folds):

* ``model``: the calibrated model alone;
* ``edge``: at least the calendar's churn rate at the longest training silence (what the stage does);
* ``own``: at least the calendar's churn rate at the buyer's own silence.

    .venv/bin/python evals/churn_beyond_range.py WORKSPACE [--monotone]

``--monotone`` fits LightGBM with a +1 monotone constraint on recency_days and recency_gap_ratio instead.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from shopseg.config import load_config
from shopseg.predict import _churn_report as R
from shopseg.predict.churn import fit_churn, train_max_recency
from shopseg.predict._churn_model import _calibrate_apply, fit_calibrator
from shopseg.workspace import open_workspace

MONOTONE = {"recency_days": 1, "recency_gap_ratio": 1}


def _monotone_lightgbm() -> None:
    """Make every LightGBM fit of the churn model carry :data:`MONOTONE` (the stage has no setting for it)."""
    import lightgbm as lgb

    from shopseg.predict._churn_model import ChurnModel

    fit, train = ChurnModel.fit, lgb.train
    names: list = []

    def fit_named(self, X, y):
        names.append([str(c) for c in X.columns])
        return fit(self, X, y)

    def train_monotone(params, data, **kw):
        if not names:
            return train(params, data, **kw)
        cons = [MONOTONE.get(n, 0) for n in names.pop()]
        return train({**params, "monotone_constraints": cons, "monotone_constraints_method": "advanced"}, data, **kw)

    ChurnModel.fit, lgb.train = fit_named, train_monotone


def measure(ws) -> list[str]:
    cfg = load_config()
    c = cfg["churn"]
    as_of = ws.scalar("SELECT as_of FROM runs WHERE status = 'done' ORDER BY run_id DESC LIMIT 1")
    fit = fit_churn(ws, as_of, cfg)
    y, raw = fit.valid["churned"].to_numpy(), fit.valid_raw
    rec = fit.valid["recency_days"].to_numpy(float)
    edge = train_max_recency(fit.train)
    beyond = rec > edge
    from sklearn.model_selection import StratifiedKFold

    p = {"model": R.crossfit_calibrated(fit_calibrator, c["calibration"], raw, y, fit.model._uncalibrated,
                                        c["random_state"])}
    p["edge"], p["own"] = p["model"].copy(), p["model"].copy()
    for a, b in StratifiedKFold(5, shuffle=True, random_state=c["random_state"]).split(rec, y):
        cal = fit_calibrator("isotonic", rec[a], y[a], None)
        at_edge = _calibrate_apply(cal, np.array([edge]))[0]
        p["edge"][b] = np.where(beyond[b], np.maximum(p["model"][b], at_edge), p["model"][b])
        p["own"][b] = np.where(beyond[b], np.maximum(p["model"][b], _calibrate_apply(cal, rec[b])), p["model"][b])
    out = [f"as of {as_of}: {fit.model.model} ROC-AUC {fit.figures['roc_auc']:.4f} (baseline "
           f"{fit.baseline_figures['roc_auc']:.4f}); longest training silence {edge:.0f} days; {int(beyond.sum())} "
           f"validation buyers beyond it, {y[beyond].mean():.3f} churned", "",
           "| floor | mean risk beyond | below 0.4 beyond | Brier beyond | Brier | ROC-AUC of the probabilities |",
           "|---|---:|---:|---:|---:|---:|"]
    for k, v in p.items():
        out.append(f"| {k} | {v[beyond].mean():.3f} | {int((v[beyond] < 0.4).sum())} | {R.brier(y[beyond], v[beyond]):.4f} "
                   f"| {R.brier(y, v):.5f} | {R.roc_auc(y, v):.4f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace")
    ap.add_argument("--monotone", action="store_true", help="LightGBM with a +1 constraint on the recency features")
    a = ap.parse_args()
    if a.monotone:
        _monotone_lightgbm()
    warnings.simplefilter("ignore")
    with open_workspace(a.workspace, create=False, read_only=True) as ws:
        print("\n".join(measure(ws)))


if __name__ == "__main__":
    main()
