"""Choosing K for :class:`~shopseg.segment.cluster.BehaviourClusters`: the elbow of the inertia curve, the mean
silhouette in one matrix product, and the two-level split test against null references (``k_selection``
"elbow", "silhouette" and "two_level"; docs/segments.md)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, pairwise_distances
from threadpoolctl import threadpool_limits

# k_selection = "two_level" (docs/segments.md, "Persona recovery"): the first (macro) level is the best
# silhouette over k_min..k_max with at least MACRO_N_INIT k-means restarts per K (with 4, k-means
# stuck in a worse local optimum at one K turns the curve into a false tie; the second level can
# split a macro cluster but never merge two, so the first level must not under-split).  Inside each
# macro cluster, sub-K 2..SUB_K_MAX is tried on the cluster's own standardised rows (SUB_N_INIT
# restarts; NULL_N_INIT for the null references) and kept only if (1) its silhouette beats two null
# references of the same shape (NULL_DRAWS draws each) by more than SPLIT_Z reference standard
# deviations and by at least SPLIT_GAIN, and (2) the partition recurs: k-means fitted on a random half of
# the rows assigns the other half as the partition does, adjusted Rand index >= SPLIT_STABILITY (the
# median over STABILITY_DRAWS halves); no part may hold fewer than MIN_LEAF_SHARE of the sample (and
# never fewer than 10 rows).
MACRO_N_INIT = 10
SUB_K_MAX = 6
SUB_N_INIT = 4
NULL_N_INIT = 2
NULL_DRAWS = 5
SPLIT_Z = 6.0
SPLIT_GAIN = 0.03
STABILITY_DRAWS = 20
SPLIT_STABILITY = 0.95
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


def _silhouette_curve(X: np.ndarray, ks, seed: int, n_init: int) -> tuple[np.ndarray, list[np.ndarray]]:
    D = pairwise_distances(X)
    sil, labels = [], []
    for k in ks:
        lab = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(X).labels_
        sil.append(silhouette_from_distances(D, lab))
        labels.append(lab)
    return np.array(sil), labels


def _standardise(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _observed_and_null_curves(X: np.ndarray, ks, seed: int, draws: int | None = None):
    """The rows standardised on their own; their silhouette curve over ``ks`` (and the k-means labels), and
    the curves of the two null references, ``draws`` (NULL_DRAWS) each: (obs, labels, perm, box)."""
    Xl = _standardise(X)
    rng = np.random.default_rng(seed)
    draws = NULL_DRAWS if draws is None else draws
    with threadpool_limits(1):
        obs, labels = _silhouette_curve(Xl, ks, seed, SUB_N_INIT)
        _, _, Vt = np.linalg.svd(Xl, full_matrices=False)  # Xl is centred
        P = Xl @ Vt.T
        perm = [_silhouette_curve(np.column_stack([rng.permutation(c) for c in P.T]) @ Vt, ks, seed, NULL_N_INIT)[0]
                for _ in range(draws)]
        box = [_silhouette_curve(rng.uniform(P.min(axis=0), P.max(axis=0), size=P.shape) @ Vt, ks, seed,
                                 NULL_N_INIT)[0] for _ in range(draws)]
    return obs, labels, perm, box


def half_sample_stability(X: np.ndarray, labels: np.ndarray, seed: int, draws: int | None = None) -> float:
    """Does the partition ``labels`` of the rows ``X`` recur?  The median, over ``draws`` (STABILITY_DRAWS)
    random halves, of the adjusted Rand index between ``labels`` and the assignment of the other half by
    k-means (same k, SUB_N_INIT restarts) fitted on that half: "stability-based validation" (Lange, Roth,
    Braun & Buhmann 2004, with the partition as the labeller; Ben-Hur, Elisseeff & Guyon 2002).  1: every half
    finds the same cut; a cut through a continuum moves with the half and scores well below (docs/segments.md,
    "Stability across seeds").  The rows are standardised on their own first, as in :func:`_split_test`.

    >>> g = np.random.default_rng(0)
    >>> X = np.vstack([g.normal(0, 1, (100, 2)), g.normal(8, 1, (100, 2))])
    >>> half_sample_stability(X, np.repeat([0, 1], 100), seed=0, draws=5)
    1.0
    """
    Xl = _standardise(X)
    k = int(labels.max()) + 1
    rng = np.random.default_rng([seed, k])
    n = len(Xl)
    draws = STABILITY_DRAWS if draws is None else draws
    out = np.empty(draws)
    with threadpool_limits(1):
        for b in range(draws):
            p = rng.permutation(n)
            fit, other = p[: n // 2], p[n // 2:]
            km = KMeans(n_clusters=k, random_state=int(rng.integers(2**31 - 1)), n_init=SUB_N_INIT).fit(Xl[fit])
            out[b] = adjusted_rand_score(labels[other], km.predict(Xl[other]))
    return float(np.median(out))  # not the mean: a half on which k-means stops in a poor optimum is k-means' failure


def _split_test(X: np.ndarray, min_size: int, seed: int) -> tuple[int, np.ndarray | None, dict]:
    """Should this cluster be split, and into how many parts?  (``k_selection="two_level"``)

    The rows are standardised on their own (local mean and sd) and k-means with k = 2..SUB_K_MAX
    (SUB_N_INIT restarts) gives the observed silhouette curve s(k).  Two null references of the same rows,
    NULL_DRAWS draws each, give the silhouette one would see without structure: the principal-component
    scores permuted independently per component (keeps every component's distribution, discrete piles
    included, and destroys the joint structure) and a uniform draw in the box of the principal
    components (Tibshirani, Walther & Hastie 2001, reference b; the permutation alone is beaten by
    uniform noise in a convex cell).  The reference r(k) is the higher of the two means, its spread
    sd(k) the larger standard deviation.  A partition counts if

    1. all its parts hold >= ``min_size`` rows;
    2. it is not noise: s(k) - r(k) > SPLIT_Z sd(k) (significance) and s(k) - r(k) >= SPLIT_GAIN (effect
       size: a gain of a hundredth of silhouette over the null is "significant" on a few thousand rows and
       means nothing; the null sd from 5 draws swings by a factor of 10 from seed to seed, so z alone
       decided splits by lot on real shops);
    3. it recurs: :func:`half_sample_stability` >= SPLIT_STABILITY (k-means on random halves finds the
       same cut; a cut through a continuum, which beats the null just as well, does not).

    If none counts, the cluster stays whole.  Otherwise sub-K is chosen as the first level chooses K, by the
    silhouette, with the one-standard-error rule for parsimony: the smallest counting k whose s(k) is within
    sd(k*) sqrt(1 + 1/NULL_DRAWS) of the best counting s(k*) (the standard error of Tibshirani et al.'s gap
    statistic).  On the demo shop the four inner personas recur at 0.98 and so do some of their 5-way
    refinements (0.96-0.98), which the silhouette prefers by a hair: the best silhouette alone gave K = 8-11
    on the 5,000-customer shop, the most stable k split the inner cluster in 3 once (0.99 against 0.98).
    Returns (k, labels or None, the figures for ``split_table_``: those of the chosen partition, or of
    the best-looking candidate when none counts).
    """
    n = len(X)
    row = {"n": n, "k": 1, "sub_k": np.nan, "silhouette": np.nan, "null_silhouette": np.nan, "null_sd": np.nan,
           "z": np.nan, "stability": np.nan}
    ks = list(range(2, min(SUB_K_MAX, n // min_size) + 1))
    if not ks:
        return 1, None, row
    obs, labels, perm, box = _observed_and_null_curves(X, ks, seed)
    ref = np.maximum(np.mean(perm, axis=0), np.mean(box, axis=0))
    spread = np.maximum(np.maximum(np.std(perm, axis=0, ddof=1), np.std(box, axis=0, ddof=1)), 1e-3)
    fits = np.array([np.bincount(lab, minlength=k).min() >= min_size for lab, k in zip(labels, ks)])
    if not fits.any():
        return 1, None, row
    beats = fits & (obs - ref > SPLIT_Z * spread) & (obs - ref >= SPLIT_GAIN)
    stab = np.full(len(ks), np.nan)
    for j in np.flatnonzero(beats):  # the costly check only where the null test passed
        stab[j] = half_sample_stability(X, labels[j], seed)
    ok = beats & (stab >= SPLIT_STABILITY)
    if ok.any():  # the smallest counting k whose silhouette is within one standard error of the best counting one
        top = int(np.argmax(np.where(ok, obs, -np.inf)))
        j = int(np.flatnonzero(ok & (obs >= obs[top] - spread[top] * np.sqrt(1 + 1 / NULL_DRAWS)))[0])
    else:  # the best-looking candidate: the best silhouette beating the null, else the best fitting
        j = int(np.argmax(np.where(beats if beats.any() else fits, obs, -np.inf)))
    if np.isnan(stab[j]):
        stab[j] = half_sample_stability(X, labels[j], seed)
    row.update(sub_k=ks[j], silhouette=float(obs[j]), null_silhouette=float(ref[j]), null_sd=float(spread[j]),
               z=float((obs[j] - ref[j]) / spread[j]), stability=float(stab[j]))
    if not ok.any():
        return 1, None, row
    row["k"] = ks[j]
    return ks[j], labels[j], row
