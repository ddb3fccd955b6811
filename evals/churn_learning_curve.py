"""Learning curve of the churn model: validation ROC-AUC and fit time against training rows (#22).

Justifies ``churn.max_train_rows``: the stacked training windows of a large shop are sampled
down to that many rows when the curve is flat past it.  Same frames, features, model settings
and validation window as ``shopseg.predict.churn.fit_churn``; only the training rows change
(seeded random samples, three seeds per size below the full frame).

    .venv/bin/python evals/churn_learning_curve.py --synth 200000          # a generated shop
    .venv/bin/python evals/churn_learning_curve.py --workspace WS --as-of 2011-12-09
    .venv/bin/python evals/churn_learning_curve.py --workspace WS --as-of 2011-12-09 --by customers

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from shopseg.config import load_config
from shopseg.predict import _churn_report as R
from shopseg.predict.churn import ChurnModel, churn_settings, fit_churn
from shopseg.workspace import open_workspace

SIZES = (5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000)


CUSTOMER_SIZES = (500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000)


def curve(ws, as_of, seeds=(0, 1, 2), by: str = "rows") -> list[dict]:
    """``by`` "rows": seeded samples of the stacked training rows (``churn.max_train_rows``); "customers":
    seeded samples of customers, all their training rows (``churn.max_customers``). Always scored on the
    whole validation window."""
    cfg = load_config(overrides={"churn": {"max_train_rows": 0, "max_customers": 0, "compare_bgnbd": False,
                                           "backtest_resamples": 10}})
    c = churn_settings(cfg)
    fit = fit_churn(ws, as_of, cfg)
    train, valid, feats = fit.train, fit.valid, fit.features
    y_val = valid["churned"].to_numpy()
    rows = []
    people = np.unique(train["customer_id"].to_numpy(dtype=str))
    total = len(train) if by == "rows" else len(people)
    sizes = [n for n in (SIZES if by == "rows" else CUSTOMER_SIZES) if n < total] + [total]
    for n in sizes:
        aucs, secs = [], []
        for seed in (seeds if n < total else seeds[:1]):
            rng = np.random.default_rng(seed)
            if n == total:
                sub = train
            elif by == "rows":
                sub = train.iloc[np.sort(rng.choice(len(train), n, replace=False))]
            else:
                sub = train[train["customer_id"].isin(set(people[np.sort(rng.choice(total, n, replace=False))]))]
            t0 = time.perf_counter()
            m = ChurnModel(c["model"], calibration="none", random_state=c["random_state"], params=c[c["model"]],
                           min_class_count=c["min_class_count"]).fit(sub[feats], sub["churned"])
            secs.append(time.perf_counter() - t0)
            aucs.append(R.roc_auc(y_val, m.decision_function(valid[feats])))
        rows.append({"rows": n, "train_rows": len(sub), "auc_mean": float(np.mean(aucs)), "auc_min": float(np.min(aucs)),
                     "auc_max": float(np.max(aucs)), "seeds": len(aucs), "fit_s": float(np.mean(secs))})
    return rows, len(train), len(valid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace")
    ap.add_argument("--as-of")
    ap.add_argument("--synth", type=int, help="generate a shop of this many customers in a temp folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--by", choices=("rows", "customers"), default="rows",
                    help="sample training rows (churn.max_train_rows) or customers (churn.max_customers)")
    args = ap.parse_args()
    if args.synth:
        from shopseg.synth import synthesize

        as_of = "2024-12-31"
        ws = open_workspace(Path(tempfile.mkdtemp(prefix="shopseg-lc-")) / "ws")
        synthesize(ws, customers=args.synth, seed=args.seed, as_of=as_of)
        what = f"generated shop, {args.synth:,} customers (seed {args.seed}), as of {as_of}"
    else:
        if not (args.workspace and args.as_of):
            raise SystemExit("Give --synth N, or --workspace WS and --as-of DATE.")
        ws = open_workspace(args.workspace, create=False)
        as_of = args.as_of
        what = f"workspace {args.workspace}, as of {as_of}"
    rows, n_train, n_valid = curve(ws, datetime.fromisoformat(as_of), by=args.by)
    print(f"Churn learning curve: {what}; {n_train:,} stacked training rows, {n_valid:,} validation customers\n")
    print(f"| training {args.by} | training rows | validation ROC-AUC (mean, min-max over seeds) | seeds | fit s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rows']:,} | {r['train_rows']:,} | {r['auc_mean']:.4f} ({r['auc_min']:.4f}-{r['auc_max']:.4f}) | "
              f"{r['seeds']} | {r['fit_s']:.1f} |")


if __name__ == "__main__":
    main()
