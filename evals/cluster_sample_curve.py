"""Learning curve of the cluster model: K, silhouette, inertia and agreement against the customers fitted (#22).

Justifies ``segments.cluster.max_customers``: above it the model (caps, scaling, K, centres) is fitted on a
seeded sample of that many customers and every customer is assigned to the nearest centre, on both engines.
For each size (and three seeds below the whole shop; the whole shop with the same three seeds gives the
noise floor of the rule itself): the first-level and final K, the adjusted Rand index of everyone's labels
against the whole-shop fit at seed 0, the mean silhouette and the mean squared distance to the assigned
centre (both in the whole-shop fit's scaled space, on one fixed 4,000-customer evaluation sample, so the
sizes compare), and the fit's seconds (fit + assigning everyone).

    .venv/bin/python evals/cluster_sample_curve.py --workspace WS            # customer_features of the newest run
    .venv/bin/python evals/cluster_sample_curve.py --workspace WS --as-of 2011-12-09   # computed for as_of
    .venv/bin/python evals/cluster_sample_curve.py --workspace WS --sizes 5000,50000,200000

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, silhouette_score

from shopseg.config import load_config
from shopseg.segment.schemes.cluster import fit_clusters
from shopseg.workspace import open_workspace

SIZES = (2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000)


def features_of(ws_path: str, as_of: str | None) -> pd.DataFrame:
    with open_workspace(ws_path) as ws:
        if as_of:
            from shopseg.features import customer_features

            return customer_features(ws, as_of).sort_values("customer_id").reset_index(drop=True)
        return ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = "
                     "(SELECT max(run_id) FROM customer_features) ORDER BY customer_id")


def fit(feats: pd.DataFrame, cap: int, seed: int):
    cfg = load_config(overrides={"segments": {"cluster": {"max_customers": cap, "random_state": seed}}})
    t0 = time.perf_counter()
    model, labels, _ = fit_clusters(feats, cfg)
    return model, np.asarray(labels), time.perf_counter() - t0


def curve(feats: pd.DataFrame, seeds=(0, 1, 2), sizes=SIZES) -> list[dict]:
    n = len(feats)
    ref, ref_labels, _ = fit(feats, 0, seeds[0])
    ev = np.sort(np.random.default_rng(99).choice(n, min(n, 4000), replace=False))
    Z = ref.transform(feats.iloc[ev])
    rows = []
    for size in [s for s in sizes if s < n] + [n]:
        for seed in seeds:
            model, labels, secs = fit(feats, 0 if size == n else size, seed)
            lab = labels[ev]
            cent = {c: Z[lab == c].mean(axis=0) for c in np.unique(lab)}
            inertia = float(np.mean([((Z[lab == c] - m) ** 2).sum(axis=1).mean() * (lab == c).mean()
                                     for c, m in cent.items()]) * len(cent))
            split = getattr(model, "split_table_", None)
            rows.append({"customers fitted": size, "seed": seed,
                         "first-level K": len(split) if split is not None else model.n_clusters_,
                         "K": int(model.n_clusters_), "ARI vs all (seed 0)": adjusted_rand_score(ref_labels, labels),
                         "silhouette": float(silhouette_score(Z, lab)) if len(cent) > 1 else float("nan"),
                         "inertia / customer": inertia, "seconds": secs})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--as-of", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="customers fitted, comma-separated")
    a = ap.parse_args()
    feats = features_of(a.workspace, a.as_of)
    rows = curve(feats, seeds=tuple(range(a.seeds)), sizes=tuple(int(x) for x in a.sizes.split(",")))
    from synth_campaigns import md_table  # evals/ is on the path when run as a script

    print(f"{len(feats):,} customers\n")
    print(md_table(pd.DataFrame(rows), "{:.4f}"))


if __name__ == "__main__":
    main()
