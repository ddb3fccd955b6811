"""Benchmark: the churn model's raw scores and TreeSHAP values in numpy (predict/_trees.py) against LightGBM.

Takes a workspace holding a run with a stored LightGBM churn model (e.g. a copy of Online Retail x10 after
`shopseg run`), computes the run's churn features as of its date and times, on those rows repeated `--repeat`
times (10 for x100's row count from an x10 workspace: the cost depends on the rows and the trees, not on which
customers they are), CPU seconds of two tries each:

* numpy: `TreeEnsemble.scores` (raw scores and TreeSHAP values in one pass), the churn stage's one path;
* LightGBM `Booster.predict(raw_score=True)`, the reference for the raw scores alone.

and checks the numpy values against LightGBM (raw scores bit for bit; `pred_contrib` on 2,000 rows).

    flock /tmp/shopseg-heavy.lock nice -n 10 .venv/bin/python benchmarks/bench_treeshap.py --workspace W [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def _timed(label: str, f, tries: int = 2):
    for k in range(tries):
        t, w = time.process_time(), time.perf_counter()
        out = f()
        print(f"{label} (try {k + 1}): {time.process_time() - t:.2f} CPU s, {time.perf_counter() - w:.2f} wall s",
              flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--repeat", type=int, default=1, help="repeat the customers' rows this many times")
    args = ap.parse_args()

    import shopseg
    from shopseg.config import load_config
    from shopseg.features import _as_ts
    from shopseg.predict._churn_data import cutoff_frame
    from shopseg.predict._trees import TreeEnsemble
    from shopseg.predict.churn import load_churn_model

    ws = shopseg.open_workspace(args.workspace)
    rid = int(ws.scalar("SELECT max(run_id) FROM runs WHERE status = 'done'"))
    as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = ?", [rid])
    model = load_churn_model(ws, rid)
    if model.model != "lightgbm":
        sys.exit(f"run {rid}'s churn model is {model.model!r}; expected a LightGBM model")
    frame = cutoff_frame(ws, _as_ts(as_of), int(model.metadata_["horizon"]["horizon_days"]), load_config())
    X = np.tile(np.ascontiguousarray(frame[model.feature_names_in_].to_numpy(dtype=float)), (args.repeat, 1))
    print(f"{len(X):,} rows x {X.shape[1]} features; run {rid}", flush=True)
    trees = TreeEnsemble.from_model_string(model.model_string_)
    booster = model.estimator_
    raw, contrib = _timed("numpy raw scores + TreeSHAP", lambda: trees.scores(X))
    want = _timed("LightGBM raw_score", lambda: booster.predict(X, raw_score=True))
    sub = X[np.linspace(0, len(X) - 1, min(len(X), 2_000)).astype(int)]
    print("raw scores equal bit for bit:", bool(np.array_equal(raw, want)))
    print(f"max |numpy - pred_contrib| on {len(sub):,} rows: "
          f"{float(np.abs(trees.contributions(sub) - booster.predict(sub, pred_contrib=True)).max()):.1e}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
