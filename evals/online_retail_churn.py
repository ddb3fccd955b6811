"""Evaluation: churn prediction on UCI Online Retail (and on the generated demo shop).

Online Retail, ingested with ``shopseg.ingest(ws, path, preset="online-retail")``:
cutoff 2011-09-10 (end of day), H = 90 days; a customer with a sale order
before the cutoff churned when they place no sale order in (cutoff, cutoff +
90 days], i.e. up to 2011-12-09, the end of the data.  Time-based hold-out:
the churn stage run as of 2011-12-09 trains on features as of 2011-06-12
(and two earlier stacked cutoffs, 30 and 60 days before, all with labels ending
by 2011-09-10) and measures everything on the cutoff 2011-09-10.  Beside it:
the logistic-regression baseline on log recency, log frequency, log monetary,
tenure and average order value (same training rows), every other model family,
the BG/NBD view, a paired bootstrap of the AUC difference, and the same
comparison as a seeded, stratified 5-fold customer hold-out at the cutoff.

    .venv/bin/python evals/online_retail_churn.py [DATA_DIR] [--demo-customers 20000] [--no-demo]

DATA_DIR defaults to ../shared/data relative to the repository; without the
file the Online Retail part is skipped with a message (the demo shop part
needs no data).  Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _fmt(v, nd=3):
    return "n/a" if v is None else f"{v:.{nd}f}"


def _bootstrap_auc_diff(y, a, b, n=1000, seed=0):
    """Paired bootstrap (customers resampled) of AUC(a) - AUC(b): mean and 95% interval."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    d = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            d.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    d = np.array(d)
    return float(d.mean()), float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975)), float((d > 0).mean())


def online_retail(path: Path) -> str:
    import shopseg
    from shopseg.config import load_config
    from shopseg.pipeline import parse_as_of
    from shopseg.predict import churn
    from shopseg.predict._churn_report import roc_auc
    from shopseg.workspace import open_workspace

    out = ["## UCI Online Retail", ""]
    tmp = tempfile.mkdtemp(prefix="churn_eval_")
    ws = open_workspace(Path(tmp) / "ws")
    t0 = time.perf_counter()
    shopseg.ingest(ws, path, preset="online-retail")
    t_ingest = time.perf_counter() - t0
    cfg = load_config(overrides={"churn": {"horizon_days": 90}})
    as_of = parse_as_of("2011-12-09")
    t0 = time.perf_counter()
    notes = churn.churn_stage(ws, 1, as_of, cfg)
    t_stage = time.perf_counter() - t0
    rep = ws.df("SELECT model, metric, value, details FROM model_reports WHERE run_id = 1")
    val = {(m, k): v for m, k, v in zip(rep.model, rep.metric, rep.value)}
    used = notes["model"]  # lightgbm, or logistic when LightGBM did not beat its baseline (docs/churn.md)
    out += [f"Ingest {t_ingest:.1f} s; churn stage (3 training cutoffs, validation, BG/NBD, scoring "
            f"{notes['n_scored']:,} customers with reasons) {t_stage:.1f} s.", "",
            f"Training rows {notes['n_train']:,} (cutoffs 2011-06-12, 2011-05-13, 2011-04-13), validation "
            f"customers {notes['n_valid']:,} at cutoff 2011-09-10 (churn rate "
            f"{val[(used, 'base_rate')]:.3f}).", "",
            f"Decision: {notes['decision']}.", "",
            "| model (validation window 2011-09-10 + 90 d) | ROC-AUC | PR-AUC | Brier | lift top 10% | top 20% reach |",
            "|---|---|---|---|---|---|"]
    for m, label in ((used, f"{used} (used), isotonic-calibrated"),
                     ("rfm_logit", "baseline: logistic on log R, log F, log M, tenure, AOV")):
        out.append(f"| {label} | {_fmt(val[(m, 'roc_auc')])} | {_fmt(val[(m, 'pr_auc')])} | "
                   f"{_fmt(val[(m, 'brier')])} | {_fmt(val[(m, 'lift_top_decile')], 2)} | "
                   f"{100 * val[(m, 'gains_top_20')]:.0f}% |")
    out.append(f"| BG/NBD 1 - P(alive) | {_fmt(val.get(('bgnbd', 'roc_auc')))} | {_fmt(val.get(('bgnbd', 'pr_auc')))} "
               f"| | | |")
    out.append(f"| BG/NBD P(no purchase in 90 d) | {_fmt(val.get(('bgnbd', 'roc_auc_no_purchase_in_horizon')))} | | "
               f"{_fmt(val.get(('bgnbd', 'brier_no_purchase_in_horizon')))} | | |")

    # the same split again, in memory, for the bootstrap, the other families and the hold-out
    fit = churn.fit_churn(ws, as_of, cfg)
    y = fit.valid["churned"].to_numpy()
    base = churn._fit_baseline(fit.train)
    s_model = fit.model.decision_function(fit.valid[fit.features])
    s_base = base.decision_function(churn.rfm_baseline_matrix(fit.valid))
    mean, lo, hi, share = _bootstrap_auc_diff(y, s_model, s_base)
    out += ["", f"Paired bootstrap (1,000 resamples of the validation customers) of ROC-AUC({used}, the model used) - "
            f"ROC-AUC(baseline): {mean:+.4f}, 95% interval [{lo:+.4f}, {hi:+.4f}]; {used} ahead in "
            f"{100 * share:.0f}% of resamples.", "",
            "Other model families on the same time-based split (`churn.model`):", "",
            "| model | ROC-AUC | fit seconds |", "|---|---|---|"]
    for name in churn.MODELS:
        t0 = time.perf_counter()
        m = churn.ChurnModel(name, params=cfg[f"churn.{name}"]).fit(fit.train[fit.features], fit.train["churned"])
        secs = time.perf_counter() - t0
        out.append(f"| {name} | {_fmt(roc_auc(y, m.decision_function(fit.valid[fit.features])))} | {secs:.1f} |")

    from sklearn.model_selection import StratifiedKFold

    aucs_m, aucs_b = [], []
    v = fit.valid.reset_index(drop=True)
    for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(v, v["churned"]):
        A, B = v.iloc[a], v.iloc[b]
        m = churn.ChurnModel(params=cfg["churn.lightgbm"]).fit(A[fit.features], A["churned"])
        aucs_m.append(roc_auc(B["churned"].to_numpy(), m.decision_function(B[fit.features])))
        bl = churn._fit_baseline(A)
        aucs_b.append(roc_auc(B["churned"].to_numpy(), bl.decision_function(churn.rfm_baseline_matrix(B))))
    out += ["", "Seeded (random_state 0) stratified 5-fold customer hold-out at the one cutoff 2011-09-10 "
            "(not what the stage does; shown because the issue allows it): ROC-AUC LightGBM "
            f"{np.mean(aucs_m):.3f} (folds {', '.join(f'{x:.3f}' for x in aucs_m)}), baseline "
            f"{np.mean(aucs_b):.3f} (folds {', '.join(f'{x:.3f}' for x in aucs_b)}).", ""]
    imp = fit.importance.head(8)
    out += ["Global importance (mean |TreeSHAP|, log-odds, validation customers): " +
            ", ".join(f"{k} {v:.3f}" for k, v in imp.items()) + ".", ""]
    ex = ws.df("SELECT customer_id, probability, tier, reason_1, reason_2, reason_3 FROM churn_scores "
               "WHERE run_id = 1 AND tier = 'high' ORDER BY customer_id LIMIT 3")
    out += ["Example high-risk customers as of 2011-12-09:", ""]
    for r in ex.itertuples():
        out.append(f"- {r.customer_id} (p = {r.probability:.2f}): {r.reason_1}; {r.reason_2}; {r.reason_3}")
    ws.close()
    return "\n".join(out)


def demo_shop(customers: int) -> str:
    from shopseg.config import load_config
    from shopseg.predict import churn
    from shopseg.predict._churn_report import roc_auc
    from shopseg.synth import synthesize
    from shopseg.workspace import open_workspace

    tmp = tempfile.mkdtemp(prefix="churn_demo_")
    ws = open_workspace(Path(tmp) / "ws")
    synthesize(ws, customers=customers, seed=42, as_of="2024-12-31", horizon_days=180)
    cfg = load_config(overrides={"churn": {"horizon_days": 180}})
    t0 = time.perf_counter()
    notes = churn.churn_stage(ws, 1, "2024-12-31", cfg)
    secs = time.perf_counter() - t0
    s = ws.df("""SELECT s.probability, s.tier, g.churned_in_horizon, g.alive_at_as_of, g.persona
                 FROM churn_scores s JOIN ground_truth g USING (customer_id) WHERE s.run_id = 1""")
    y = s["churned_in_horizon"].astype(int).to_numpy()
    dead = (~s["alive_at_as_of"].astype(bool)).astype(int).to_numpy()
    by_tier = s.groupby("tier")["churned_in_horizon"].mean()
    derived = churn.churn_horizon(ws, "2024-12-31", load_config())
    return "\n".join([
        f"## Demo shop (synthesize: {customers:,} customers, seed 42, as_of 2024-12-31, truth 180 days ahead)", "",
        f"Churn stage with horizon 180 days in {secs:.1f} s; {notes['n_scored']:,} buyers scored "
        f"(the derived horizon would be {derived['horizon_days']} days, 90th percentile of purchase gaps).", "",
        f"- validation window (cutoff 2024-07-04): ROC-AUC {notes['roc_auc']:.3f}, baseline "
        f"{notes['baseline_roc_auc']:.3f}, BG/NBD 1 - P(alive) {_fmt(notes['bgnbd_roc_auc'])}, "
        f"Brier {notes['brier']:.3f}",
        f"- scores as of 2024-12-31 against the planted future: ROC-AUC {roc_auc(y, s['probability'].to_numpy()):.3f} "
        f"for churned_in_horizon (no order in the next 180 days, rate {y.mean():.3f}); "
        f"{roc_auc(dead, s['probability'].to_numpy()):.3f} for not alive_at_as_of",
        "- planted churn rate by tier: " + ", ".join(f"{t} {by_tier.get(t, float('nan')):.2f}"
                                                    for t in ("high", "mid", "low")),
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--demo-customers", type=int, default=20000)
    ap.add_argument("--no-demo", action="store_true")
    args = ap.parse_args(argv)
    path = Path(args.data_dir) / "online_retail" / "online_retail.parquet"
    parts = ["# Churn evaluation", ""]
    if path.exists():
        parts.append(online_retail(path))
    else:
        parts.append(f"Online Retail data not found at {path}; skipped (pass the data folder as the first argument).")
    if not args.no_demo:
        parts += ["", demo_shop(args.demo_customers)]
    print("\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
