"""Two-level automatic K against a permutation null, on noise, on blobs and on the demo shop (issue #3).

The demo shop's personas are two-level: five far-apart groups, one of them holding four personas
that differ in one or two features, and the silhouette over K = 2..8 picks the coarse level (K = 5,
ARI 0.43).  This script measures two-level rules outside the estimator (docs/segments.md,
"Persona recovery"); ``--macro-n-init 10 --choice sil-se`` is the rule the estimator implements
as ``k_selection = "two_level"`` (the default since 2026-11-28; the defaults of the options here
reproduce the first version):

1. macro level: the best silhouette over ``k_min..k_max`` on the 4,000-row sample with
   ``--macro-n-init`` k-means restarts per K (4: the single-level default; 10: the estimator's
   two-level rule); on the sample, the k-means labels of that K (same seed);
2. inside each macro cluster, on its sample rows re-standardised with their own mean and sd:
   k-means (``--sub-n-init`` restarts) for k = 2..6 gives the observed silhouette s(k); two null
   references of the same rows, ``DRAWS`` draws each, give the silhouette without structure:
   (a) the principal-component scores permuted independently per component (keeps each component's
   distribution, discrete piles included, destroys the joint structure), (b) a uniform draw in the
   box of the principal components (Tibshirani, Walther & Hastie 2001, reference b).  r(k) is the
   higher of the two means, sd(k) the larger standard deviation.  Partitions count when all parts
   hold >= 2% of the sample.  Sub-K (``--choice``): ``gap`` the largest gap s(k) - r(k); ``gap-se``
   the smallest k whose gap is within one standard error sd(k*) sqrt(1 + 1/DRAWS) of the largest;
   ``sil-se`` among the k with s(k) - r(k) > Z sd(k), the smallest whose s(k) is within one
   standard error of their best; ``best`` the best s(k).  The cluster is split if the chosen k's
   gap exceeds ``Z`` sd(k) (``--depth 2``: the parts are tested again);
3. every leaf becomes a centroid in the global scaled space (mean of its sample rows) and every row
   goes to the nearest one (vectorised; ``--refit``: a k-means on all rows started from those centroids).

Reported: K and sub-splits on uniform / Gaussian noise (600 points, 2 / 5 / 10 dimensions, 5 seeds);
the leaf count on blobs with a planted two-level structure (three far groups, one of them holding
three close blobs: 5 leaves); ARI against ``ground_truth.persona`` on demo shops of 20,000 and 5,000
customers for several clustering-sample seeds (``random_state``), with CPU seconds of the whole fit
(including the single-level model).  ``--cache DIR`` keeps the shops' feature frames between runs.

    python evals/two_level_k.py [--macro-n-init 4|10] [--choice gap|gap-se|sil-se|best] [--sub-n-init 2]
        [--nulls both|perm|box] [--depth 1|2] [--z 6] [--refit] [--cache DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    pairwise_distances_argmin,
)
from threadpoolctl import threadpool_limits

from shopseg.config import load_config
from shopseg.features import customer_features
from shopseg.segment import BehaviourClusters
from shopseg.segment import _cluster_k as _cluster  # the two-level split test and its settings
from shopseg.synth import synthesize
from shopseg.workspace import Workspace

AS_OF = "2024-12-31"
SUB_K_MAX = 6
DRAWS = 5
MIN_LEAF_SHARE = 0.02
BLOB_COLS = ["click_rate", "discount_share", "return_rate", "cart_abandonment_rate", "browse_minutes"]




def split_test(X, min_size, seed, opt):
    """(k, labels, figures) for one cluster: split into k parts if the silhouette beats the nulls."""
    n = len(X)
    row = {"n": n, "k": 1, "best_k": None, "s": np.nan, "ref": np.nan, "sd": np.nan, "z": np.nan}
    ks = list(range(2, min(SUB_K_MAX, n // min_size) + 1))
    if not ks:
        return 1, None, row
    obs, labels, perm, box = _cluster._observed_and_null_curves(X, ks, seed, DRAWS)  # the estimator's own
    refs = {"perm": [perm], "box": [box], "both": [perm, box]}[opt.nulls]
    ref = np.max([np.mean(r, axis=0) for r in refs], axis=0)
    spread = np.maximum(np.max([np.std(r, axis=0, ddof=1) for r in refs], axis=0), 1e-3)
    fits = np.array([np.bincount(lab, minlength=k).min() >= min_size for lab, k in zip(labels, ks)])
    if not fits.any():
        return 1, None, row
    score = obs - ref if opt.choice in ("gap", "gap-se") else obs
    j = int(np.argmax(np.where(fits, score, -np.inf)))
    if opt.choice == "gap-se":  # smallest k whose gap is within one standard error of the largest
        se = spread[j] * np.sqrt(1 + 1 / DRAWS)
        j = int(np.flatnonzero(fits & (score >= score[j] - se))[0])
    elif opt.choice == "sil-se":  # among the k beating the null by > Z sd: the smallest whose silhouette
        ok = fits & (obs - ref > opt.z * spread)  # is within one standard error of their best
        if ok.any():
            b = int(np.argmax(np.where(ok, obs, -np.inf)))
            j = int(np.flatnonzero(ok & (obs >= obs[b] - spread[b] * np.sqrt(1 + 1 / DRAWS)))[0])
    z = float((obs[j] - ref[j]) / spread[j])
    row.update(best_k=ks[j], s=float(obs[j]), ref=float(ref[j]), sd=float(spread[j]), z=z)
    if z <= opt.z:
        return 1, None, row
    row["k"] = ks[j]
    return ks[j], labels[j], row


def two_level(X: pd.DataFrame, opt, features=None, random_state=0, winsorize_quantile=0.99):
    """Fit the default model (macro level), split its clusters, assign all rows to the nearest leaf."""
    t = time.process_time()
    bc = BehaviourClusters.from_config(load_config()).set_params(
        features=features, random_state=random_state, winsorize_quantile=winsorize_quantile,
        n_init=opt.macro_n_init, k_selection="silhouette").fit(X)
    Z = bc.transform(X)
    rng = np.random.default_rng(random_state)  # the sample and seed BehaviourClusters.fit draws
    idx = np.sort(rng.choice(len(Z), size=min(len(Z), bc.sample_size), replace=False))
    seed = int(rng.integers(2**31 - 1))
    Zs = Z[idx]
    macro = KMeans(n_clusters=bc.n_clusters_, random_state=seed, n_init=bc.n_init).fit(Zs).labels_
    min_size = max(int(np.ceil(MIN_LEAF_SHARE * len(Zs))), 10)
    leaves, table = [], []
    for c in np.unique(macro):
        queue = [(np.flatnonzero(macro == c), 1)]
        while queue:
            part, depth = queue.pop(0)
            k, lab, row = split_test(Zs[part], min_size, seed, opt) if depth <= opt.depth else (1, None, {})
            if depth == 1:
                table.append(row)
            if k > 1:
                queue += [(part[lab == j], depth + 1) for j in range(k)]
            else:
                leaves.append(part)
    centers = np.vstack([Zs[p].mean(axis=0) for p in leaves])
    if opt.refit and len(leaves) > 1:
        labels = KMeans(n_clusters=len(leaves), init=centers, n_init=1, random_state=seed).fit(Z).labels_
    else:
        labels = pairwise_distances_argmin(Z, centers)
    return labels, bc.n_clusters_, len(leaves), pd.DataFrame(table), time.process_time() - t


def noise_rows(opt) -> list[str]:
    md = ["| noise | dims | macro K (silhouette), seeds 100-104 | leaves | largest z of any macro cluster |",
          "|---|---|---|---|---|"]
    for kind in ("uniform", "Gaussian"):
        for d in (2, 5, 10):
            macro, leaves, zs = [], [], []
            for s in range(5):
                r = np.random.default_rng(100 + s)
                X = r.uniform(size=(600, d)) if kind == "uniform" else r.normal(size=(600, d))
                cols = [f"x{i}" for i in range(d)]
                _, k, n_leaves, tab, _ = two_level(pd.DataFrame(X, columns=cols), opt, cols, 0, 1.0)
                macro.append(k)
                leaves.append(n_leaves)
                zs.append(tab["z"].max())
            md.append(f"| {kind} | {d} | {' '.join(map(str, macro))} | {' '.join(map(str, leaves))} | "
                      f"{np.nanmax(zs):.1f} |")
    return md


def two_level_blobs(seed, orthogonal=True, n=1200):
    """Three far groups (12 apart), the first holding three close blobs (2.5 apart), sd 0.5: 5 leaves."""
    g = np.random.default_rng(seed)
    if orthogonal:
        far = 12.0 * np.eye(5)[:3]
        near = far[0] + 2.5 * np.array([[0, 1, 0, 0, 0], [0, -0.5, 0.866, 0, 0], [0, -0.5, -0.866, 0, 0]])
    else:
        far = g.normal(size=(3, 5))
        far = 12.0 * far / np.linalg.norm(far, axis=1, keepdims=True)
        near = g.normal(size=(3, 5))
        near = far[0] + 2.5 * near / np.linalg.norm(near, axis=1, keepdims=True)
    centers = np.vstack([near, far[1:]])
    y = g.integers(0, 5, size=n)
    return pd.DataFrame(centers[y] + 0.5 * g.normal(size=(n, 5)), columns=BLOB_COLS), y


def blob_rows(opt) -> list[str]:
    md = ["| blobs | seeds | macro K -> leaves / ARI |", "|---|---|---|"]
    for orthogonal, seeds in ((True, range(10)), (False, range(6))):
        cells = []
        for s in seeds:
            X, y = two_level_blobs(s, orthogonal)
            lab, k, n_leaves, _, _ = two_level(X, opt, BLOB_COLS, 0, 1.0)
            cells.append(f"{k} -> {n_leaves} / {adjusted_rand_score(y, lab):.2f}")
        md.append(f"| far groups {'on orthogonal axes' if orthogonal else 'in random directions'} | "
                  f"{seeds.start}-{seeds.stop - 1} | {', '.join(cells)} |")
    return md


def shop(customers: int, seed: int, cache: str | None = None) -> pd.DataFrame:
    path = Path(cache) / f"f{customers}_{seed}.parquet" if cache else None
    if path is not None and path.exists():
        return pd.read_parquet(path)
    f = _shop(customers, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        f.to_parquet(path)
    return f


def _shop(customers: int, seed: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        synthesize(ws, customers=customers, seed=seed, as_of=AS_OF)
        return customer_features(ws, AS_OF).merge(ws.df("SELECT customer_id, persona FROM ground_truth"),
                                                  on="customer_id")


def shop_rows(opt, shops) -> list[str]:
    md = ["| shop | random_state | macro K | leaves | ARI | ARI single level | sub-K per macro cluster (z) | CPU s |",
          "|---|---|---|---|---|---|---|---|"]
    for customers, seed, states in shops:
        f = shop(customers, seed, opt.cache)
        y = f["persona"].to_numpy()
        for rs in states:
            lab, k, n_leaves, tab, cpu = two_level(f, opt, random_state=rs)
            macro = BehaviourClusters.from_config(load_config()).set_params(
                random_state=rs, k_selection="silhouette").fit(f).labels_  # the single-level rule
            subs = ", ".join(f"{int(r.k)} ({r.z:.1f})" if np.isfinite(r.z) else "1 (-)" for r in tab.itertuples())
            md.append(f"| {customers:,} / {seed} | {rs} | {k} | {n_leaves} | {adjusted_rand_score(y, lab):.3f} | "
                      f"{adjusted_rand_score(y, macro):.3f} | {subs} | {cpu:.1f} |")
    return md


def assignment_seconds(n=1_000_000, d=10, leaves=10) -> float:
    r = np.random.default_rng(0)
    Z, C = r.normal(size=(n, d)), r.normal(size=(leaves, d))
    t = time.process_time()
    pairwise_distances_argmin(Z, C)
    return time.process_time() - t


SHOPS = ((20_000, 42, (0, 1, 2, 3)), (20_000, 1, (0, 1, 2, 3)), (20_000, 2, (0, 1, 2, 3)),
         (5_000, 42, (0, 1, 2, 3)), (5_000, 7, (0, 1, 2, 3)), (5_000, 123, (0, 1, 2, 3)))


def main(opt) -> str:
    warnings.simplefilter("ignore")
    with threadpool_limits(1):
        md = [(f"Rule: macro K by silhouette, k-means n_init {opt.macro_n_init}; "
               f"sub-K by {opt.choice} (k-means n_init {_cluster.SUB_N_INIT}), nulls {opt.nulls}, z > {opt.z}, "
               f"depth {opt.depth}, "
               f"{'k-means refit' if opt.refit else 'nearest leaf centroid'}."), ""]
        md += noise_rows(opt) + [""] + blob_rows(opt) + [""]
        md += shop_rows(opt, SHOPS)
        md += ["", (f"Nearest-centroid assignment of 1,000,000 rows x 10 features to 10 leaves: "
                    f"{assignment_seconds():.1f} CPU s.")]
    return "\n".join(md)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--choice", choices=("gap", "gap-se", "sil-se", "best"), default="gap")
    p.add_argument("--macro-n-init", type=int, default=4)
    p.add_argument("--sub-n-init", type=int, default=2)
    p.add_argument("--cache", help="directory for the demo shops' feature frames (f<customers>_<seed>.parquet)")
    p.add_argument("--nulls", choices=("both", "perm", "box"), default="both")
    p.add_argument("--depth", type=int, default=1)
    p.add_argument("--z", type=float, default=6.0)
    p.add_argument("--refit", action="store_true")
    opt = p.parse_args()
    _cluster.SUB_N_INIT = opt.sub_n_init
    print(main(opt))
