"""Benchmark: churn model training time on 1M customers (quick mode 100k).

The feature table is generated directly with numpy (the 31 columns the churn
stage uses, with a planted logistic churn signal), so the figure is the
model's own cost, not the feature SQL's.  Measured in the same run:
LightGBM (default settings: 500 rounds, 7 leaves, one thread, deterministic)
fit, calibrated scoring, TreeSHAP contributions and plain-word reasons, and
the logistic-regression RFM baseline fit as the reference.

    .venv/bin/python benchmarks/bench_churn.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

FEATURES = [
    "frequency", "recency_days", "tenure_days", "monetary_total", "monetary_net", "avg_order_value", "n_units",
    "mean_days_between_orders", "std_days_between_orders", "n_sessions", "browse_minutes", "click_rate",
    "cart_abandonment_rate", "brand_diversity", "discount_share", "return_rate", "n_reviews", "avg_rating",
    "is_outlier", "purchase_days", "purchase_days_recent", "purchase_days_prior", "spend_recent", "spend_prior",
    "spend_trend", "activity_decayed", "active_months_365d", "n_complaints", "usual_gap_days",
    "recency_gap_ratio",
]


def make_features(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A plausible feature table for ``n`` customers and churn labels from a planted logistic model."""
    rng = np.random.default_rng(seed)
    freq = rng.geometric(0.3, n).astype(float)
    gap = rng.gamma(2.0, 30.0, n) + 1
    tenure = freq * gap + rng.uniform(0, 200, n)
    recency = np.minimum(rng.exponential(gap * 1.5), tenure)
    aov = rng.lognormal(4, 0.8, n)
    f = {c: rng.normal(0, 1, n) for c in FEATURES}
    f.update(frequency=freq, recency_days=recency, tenure_days=tenure, avg_order_value=aov,
             monetary_total=freq * aov, monetary_net=freq * aov * rng.uniform(0.7, 1, n), n_units=freq * 3,
             mean_days_between_orders=gap, usual_gap_days=gap, recency_gap_ratio=recency / gap,
             purchase_days=freq, purchase_days_recent=rng.poisson(90 / gap * (recency < 90)),
             activity_decayed=freq * np.exp(-recency / 90), n_complaints=rng.poisson(0.1, n).astype(float),
             is_outlier=(rng.uniform(size=n) < 0.01).astype(float))
    X = pd.DataFrame(f)[FEATURES]
    logit = 1.5 * np.log1p(X.recency_gap_ratio) - 0.4 * np.log1p(freq) - 0.8 * X.activity_decayed.clip(0, 3) \
        + 0.5 * X.n_complaints - 0.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _t(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main(quick: bool = False) -> str:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shopseg.predict.churn import ChurnModel, rfm_baseline_matrix
    from shopseg.predict._churn_report import roc_auc

    n = 100_000 if quick else 1_000_000
    n_explain = min(n, 100_000)
    (X, y), c_gen, _ = _t(lambda: make_features(n))
    (Xv, yv) = make_features(min(n, 200_000), seed=1)  # a later "validation window"
    model, c_fit, w_fit = _t(lambda: ChurnModel().fit(X, y))
    _, c_cal, w_cal = _t(lambda: model.calibrate(Xv, yv))
    p, c_pred, w_pred = _t(lambda: model.predict_proba(X)[:, 1])
    sub = X.iloc[:n_explain]
    _, c_shap, w_shap = _t(lambda: model.contributions(sub))
    why, c_why, w_why = _t(lambda: model.reasons(sub, 3, 90))
    base, c_base, w_base = _t(lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
        rfm_baseline_matrix(X), y))
    auc_m = roc_auc(yv, model.decision_function(Xv))
    auc_b = roc_auc(yv, base.decision_function(rfm_baseline_matrix(Xv)))
    rows = [
        ("LightGBM fit (500 rounds, 1 thread)", n, c_fit, w_fit),
        ("isotonic calibration (validation window)", len(Xv), c_cal, w_cal),
        ("calibrated probabilities", n, c_pred, w_pred),
        ("TreeSHAP contributions (pred_contrib)", n_explain, c_shap, w_shap),
        ("top-3 reasons in words (TreeSHAP + templates)", n_explain, c_why, w_why),
        ("baseline: logistic regression on 5 RFM inputs, fit", n, c_base, w_base),
    ]
    lines = [
        "## Churn", "",
        f"{n:,} customers x {len(FEATURES)} features generated with numpy (planted logistic churn, rate "
        f"{y.mean():.2f}); validation window {len(Xv):,} customers from another seed. CPU seconds of this "
        "process (wall-clock in brackets; the machine is shared, so wall time varies with load).", "",
        "| step | rows | CPU s | wall s | rows / CPU s |", "|---|---|---|---|---|",
    ]
    for name, rows_, c, w in rows:
        lines.append(f"| {name} | {rows_:,} | {c:.1f} | ({w:.1f}) | {rows_ / max(c, 1e-9):,.0f} |")
    lines += ["", f"ROC-AUC on the validation window: LightGBM {auc_m:.3f}, baseline {auc_b:.3f}.",
              f"Example reason: \"{why['reason_1'].iloc[0]}\"."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
