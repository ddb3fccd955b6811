"""Churn quality figures and risk tiers.

The figures are computed on the later, validation window (never on the
training rows): ROC-AUC (rank quality), PR-AUC (average precision), Brier
score (mean squared error of the probabilities), lift in the top decile and a
cumulative gains table ("contacting the top 20% reaches N% of churners").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(int)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None


def pr_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    y = np.asarray(y).astype(int)
    return float(average_precision_score(y, score)) if 0 < y.sum() < len(y) else None


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def _order(score: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices by score descending; ties by ``tiebreak`` descending, then by position."""
    keys = (np.arange(len(score)),) + (() if tiebreak is None else (-np.asarray(tiebreak),)) + (-np.asarray(score),)
    return np.lexsort(keys)


def gains_table(y: np.ndarray, score: np.ndarray, shares=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> list[dict]:
    """Cumulative gains: for each share of customers contacted (highest scores first), the share of all
    churners reached, the precision and the lift (precision / base rate)."""
    y = np.asarray(y).astype(float)
    n, total = len(y), y.sum()
    cum = np.cumsum(y[_order(score)])
    rows = []
    for s in shares:
        k = max(1, int(round(s * n)))
        reached = cum[k - 1]
        precision = reached / k
        base = total / n if n else 0.0
        rows.append({"contacted_share": float(s), "contacted": k, "churners_reached": int(reached),
                     "churners_reached_share": float(reached / total) if total else 0.0,
                     "precision": float(precision), "lift": float(precision / base) if base else 0.0})
    return rows


def crossfit_calibrated(fit_calibrator, method: str, s: np.ndarray, y: np.ndarray, uncalibrated,
                        random_state: int, folds: int = 5) -> np.ndarray:
    """Calibrated probabilities of the validation rows, each from a calibrator fitted on the other folds.

    So the Brier score of a calibration learned on the validation window is not measured on the rows it
    was learned from.
    """
    from sklearn.model_selection import StratifiedKFold

    from ._churn_model import _calibrate_apply

    y = np.asarray(y).astype(int)
    if method == "none":
        return uncalibrated(s)
    k = int(min(folds, y.sum(), len(y) - y.sum()))
    if k < 2:
        return uncalibrated(s)
    out = np.empty(len(y))
    for a, b in StratifiedKFold(k, shuffle=True, random_state=random_state).split(s, y):
        out[b] = _calibrate_apply(fit_calibrator(method, s[a], y[a], uncalibrated), s[b])
    return np.clip(out, 0.0, 1.0)


def quality(y: np.ndarray, raw: np.ndarray, prob: np.ndarray) -> dict:
    """The figures of one model on one labelled window (rank figures from ``raw``, Brier from ``prob``)."""
    g = gains_table(y, raw)
    top10, top20 = g[0], g[1]
    return {
        "roc_auc": roc_auc(y, raw), "pr_auc": pr_auc(y, raw), "brier": brier(y, prob),
        "lift_top_decile": top10["lift"], "gains_top_20": top20["churners_reached_share"],
        "base_rate": float(np.mean(y)) if len(y) else None, "gains": g,
    }


# -- tiers ---------------------------------------------------------------------------

def tier_cuts(settings: dict, prob_valid: np.ndarray, y_valid: np.ndarray) -> dict:
    """Probability cut points for methods ``probability`` and ``precision`` (None for ``share``)."""
    m = settings["method"]
    if m == "share":
        return {"method": m, "high": None, "mid": None}
    if m == "probability":
        return {"method": m, "high": float(settings["high_probability"]), "mid": float(settings["mid_probability"])}
    order = _order(prob_valid)
    p, yy = np.asarray(prob_valid)[order], np.asarray(y_valid)[order]
    cumprec = np.cumsum(yy) / np.arange(1, len(yy) + 1)

    def cut(target: float) -> float:
        ok = np.nonzero(cumprec >= target)[0]
        return float(p[ok[-1]]) if len(ok) else float("inf")  # the lowest probability keeping the precision

    high, mid = cut(settings["high_precision"]), cut(settings["mid_precision"])
    return {"method": m, "high": high, "mid": min(mid, high)}


def assign_tiers(prob: np.ndarray, raw: np.ndarray, settings: dict, cuts: dict) -> tuple[np.ndarray, dict]:
    """One tier per customer (``high``, ``mid`` or ``low``) and the probability cut points used.

    ``share``: rank by probability (ties by raw score, then input order) and give the first
    ``round(high_share * n)`` "high", the next ``round(mid_share * n)`` "mid", the rest "low"; the
    cut points returned are the least probabilities inside high and mid (for scoring one customer later).
    ``probability`` / ``precision``: prob >= high cut is "high", >= mid cut is "mid".
    """
    n = len(prob)
    tiers = np.full(n, "low", dtype=object)
    if cuts["method"] == "share":
        order = _order(prob, raw)
        n_high = int(round(settings["high_share"] * n))
        n_mid = min(n - n_high, int(round(settings["mid_share"] * n)))
        tiers[order[:n_high]] = "high"
        tiers[order[n_high:n_high + n_mid]] = "mid"
        used = {"method": "share",
                "high": float(prob[order[n_high - 1]]) if n_high else float("inf"),
                "mid": float(prob[order[n_high + n_mid - 1]]) if n_high + n_mid else float("inf")}
        return tiers, used
    tiers[prob >= cuts["mid"]] = "mid"
    tiers[prob >= cuts["high"]] = "high"
    return tiers, dict(cuts)


def tier_of(prob: np.ndarray, cuts: dict) -> np.ndarray:
    """Tiers from stored cut points (what re-scoring one customer uses)."""
    prob = np.asarray(prob, dtype=float)
    return np.where(prob >= cuts["high"], "high", np.where(prob >= cuts["mid"], "mid", "low")).astype(object)


def validate_tiers(t: dict) -> None:
    """Checks across the tier settings (single ranges: predict/_parameters.py, checked by the config)."""
    if t["high_share"] + t["mid_share"] > 1 + 1e-12:
        raise ConfigError("The 'churn.tiers.high_share' and 'mid_share' settings must add up to at most 1. "
                          f"Got {t['high_share']!r} + {t['mid_share']!r} instead.")
    if t["mid_probability"] > t["high_probability"]:
        raise ConfigError("The 'churn.tiers.mid_probability' setting must be at most 'high_probability' "
                          f"({t['high_probability']!r}). Got {t['mid_probability']!r} instead.")
    if t["mid_precision"] > t["high_precision"]:
        raise ConfigError("The 'churn.tiers.mid_precision' setting must be at most 'high_precision' "
                          f"({t['high_precision']!r}). Got {t['mid_precision']!r} instead.")


def report_rows(model: str, figures: dict, extra: dict) -> pd.DataFrame:
    """Rows (model, metric, value, details) for table model_reports."""
    import json

    rows = []
    for metric in ("roc_auc", "pr_auc", "brier", "lift_top_decile", "gains_top_20", "base_rate"):
        if metric not in figures:
            continue
        details = dict(extra)
        if metric == "gains_top_20":
            details["text"] = (f"contacting the top 20% reaches {100 * figures[metric]:.0f}% of churners")
            details["gains"] = figures["gains"]
        rows.append({"model": model, "metric": metric, "value": figures[metric],
                     "details": json.dumps(details, sort_keys=True, default=str)})
    return pd.DataFrame(rows, columns=["model", "metric", "value", "details"])
