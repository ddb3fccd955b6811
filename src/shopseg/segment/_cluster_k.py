"""Choosing K for :class:`~shopseg.segment.cluster.BehaviourClusters`: the elbow of the inertia curve, the mean
silhouette in one matrix product, and the two-level split test against null references (``k_selection``
"elbow", "silhouette" and "two_level"; docs/segments.md)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances
from threadpoolctl import threadpool_limits

# k_selection = "two_level" (docs/segments.md, "Persona recovery"): the first (macro) level is the best
# silhouette over k_min..k_max with at least MACRO_N_INIT k-means restarts per K (with 4, k-means
# stuck in a worse local optimum at one K turns the curve into a false tie; the second level can
# split a macro cluster but never merge two, so the first level must not under-split).  Inside each
# macro cluster, sub-K 2..SUB_K_MAX is tried on the cluster's own standardised rows (SUB_N_INIT
# restarts) and kept only if its silhouette beats two null references of the same shape (NULL_DRAWS
# draws each) by more than SPLIT_Z reference standard deviations; no part may hold fewer than
# MIN_LEAF_SHARE of the sample (and never fewer than 10 rows).
MACRO_N_INIT = 10
SUB_K_MAX = 6
SUB_N_INIT = 2
NULL_DRAWS = 5
SPLIT_Z = 6.0
MIN_LEAF_SHARE = 0.02


def elbow_k(ks, inertia) -> int:
    """The knee of the inertia curve: the K farthest below the chord from first to last point."""
    ks = np.asarray(ks, dtype=float)
    y = np.asarray(inertia, dtype=float)
    if len(ks) < 3 or y[0] == y[-1]:
        return int(ks[0])
    xn = (ks - ks[0]) / (ks[-1] - ks[0])
    yn = (y - y[-1]) / (y[0] - y[-1])
    return int(ks[int(np.argmax((1 - xn) - yn))])


def silhouette_from_distances(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw 1987) from a square distance matrix, in one matrix product.

    ``S = D @ onehot(labels)`` holds every point's summed distance to each
    cluster; a(i) = S[i, own] / (n_own - 1), b(i) = min over other clusters of
    S[i, c] / n_c; s(i) = (b - a) / max(a, b), and 0 for a point alone in its
    cluster, as in :func:`sklearn.metrics.silhouette_score` (which the tests use as the oracle).
    """
    _, lab = np.unique(labels, return_inverse=True)
    k = lab.max() + 1
    onehot = np.zeros((len(lab), k))
    onehot[np.arange(len(lab)), lab] = 1.0
    S = D @ onehot
    n_c = onehot.sum(axis=0)
    own = S[np.arange(len(lab)), lab]
    n_own = n_c[lab]
    a = np.where(n_own > 1, own / np.maximum(n_own - 1, 1), 0.0)
    other = S / n_c
    other[np.arange(len(lab)), lab] = np.inf
    b = other.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where((n_own > 1) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(s.mean())


def _silhouette_curve(X: np.ndarray, ks, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    D = pairwise_distances(X)
    sil, labels = [], []
    for k in ks:
        lab = KMeans(n_clusters=k, random_state=seed, n_init=SUB_N_INIT).fit(X).labels_
        sil.append(silhouette_from_distances(D, lab))
        labels.append(lab)
    return np.array(sil), labels


def _observed_and_null_curves(X: np.ndarray, ks, seed: int, draws: int | None = None):
    """The rows standardised on their own; their silhouette curve over ``ks`` (and the k-means labels), and
    the curves of the two null references, ``draws`` (NULL_DRAWS) each: (obs, labels, perm, box)."""
    sd = X.std(axis=0)
    Xl = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(seed)
    draws = NULL_DRAWS if draws is None else draws
    with threadpool_limits(1):
        obs, labels = _silhouette_curve(Xl, ks, seed)
        _, _, Vt = np.linalg.svd(Xl, full_matrices=False)  # Xl is centred
        P = Xl @ Vt.T
        perm = [_silhouette_curve(np.column_stack([rng.permutation(c) for c in P.T]) @ Vt, ks, seed)[0]
                for _ in range(draws)]
        box = [_silhouette_curve(rng.uniform(P.min(axis=0), P.max(axis=0), size=P.shape) @ Vt, ks, seed)[0]
               for _ in range(draws)]
    return obs, labels, perm, box


def _split_test(X: np.ndarray, min_size: int, seed: int) -> tuple[int, np.ndarray | None, dict]:
    """Should this cluster be split, and into how many parts?  (``k_selection="two_level"``)

    The rows are standardised on their own (local mean and sd) and k-means with k = 2..SUB_K_MAX
    gives the observed silhouette curve s(k).  Two null references of the same rows, NULL_DRAWS
    draws each, give the silhouette one would see without structure: the principal-component scores
    permuted independently per component (keeps every component's distribution, discrete piles
    included, and destroys the joint structure) and a uniform draw in the box of the principal
    components (Tibshirani, Walther & Hastie 2001, reference b; the permutation alone is beaten by
    uniform noise in a convex cell).  The reference r(k) is the higher of the two means, its spread
    sd(k) the larger standard deviation.  A partition counts if all its parts hold >= ``min_size`` rows
    and its silhouette beats the reference by more than SPLIT_Z sd(k); if none does, the cluster stays
    whole.  Otherwise sub-K is chosen as the first level chooses K, by the silhouette, with the
    one-standard-error rule for parsimony: the smallest counting k whose s(k) is within
    sd(k*) sqrt(1 + 1/NULL_DRAWS) of the best counting s(k*) (the standard error of Tibshirani et
    al.'s gap statistic; choosing the largest gap s(k) - r(k) instead over-splits, because r(k) falls
    with k while s(k) stays flat past the planted k).
    Returns (k, labels or None, the figures for ``split_table_``).
    """
    n = len(X)
    row = {"n": n, "k": 1, "sub_k": np.nan, "silhouette": np.nan, "null_silhouette": np.nan, "null_sd": np.nan,
           "z": np.nan}
    ks = list(range(2, min(SUB_K_MAX, n // min_size) + 1))
    if not ks:
        return 1, None, row
    obs, labels, perm, box = _observed_and_null_curves(X, ks, seed)
    ref = np.maximum(np.mean(perm, axis=0), np.mean(box, axis=0))
    spread = np.maximum(np.maximum(np.std(perm, axis=0, ddof=1), np.std(box, axis=0, ddof=1)), 1e-3)
    fits = np.array([np.bincount(lab, minlength=k).min() >= min_size for lab, k in zip(labels, ks)])
    if not fits.any():
        return 1, None, row
    ok = fits & (obs - ref > SPLIT_Z * spread)
    if ok.any():
        top = int(np.argmax(np.where(ok, obs, -np.inf)))
        j = int(np.flatnonzero(ok & (obs >= obs[top] - spread[top] * np.sqrt(1 + 1 / NULL_DRAWS)))[0])
    else:  # report the best-looking candidate
        j = int(np.argmax(np.where(fits, obs, -np.inf)))
    z = float((obs[j] - ref[j]) / spread[j])
    row.update(sub_k=ks[j], silhouette=float(obs[j]), null_silhouette=float(ref[j]), null_sd=float(spread[j]), z=z)
    if not ok.any():
        return 1, None, row
    row["k"] = ks[j]
    return ks[j], labels[j], row
