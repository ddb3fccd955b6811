"""Behavioural clusters: a scikit-learn style estimator over customer features.

Preprocessing (learned in ``fit``, applied the same way by ``predict``):

1. derived rates (:data:`DERIVED`): ``orders_per_year`` and ``units_per_order``;
2. buyer-only features (:data:`BUYER_ONLY`: order value, units per order,
   discount share, return rate...) of customers without orders are set to the
   buyers' median: for them the value is undefined, not 0, and a 0 in every
   such column would count "no orders" five times over;
3. winsorise: every feature is capped at its ``winsorize_quantile`` (0.99)
   so a few extreme buyers cannot pull a centroid of their own;
4. ``log1p`` of the skewed money, count and rate features (:data:`LOG_FEATURES`,
   negatives clipped to 0 first), square root of recency (:data:`SQRT_FEATURES`),
   shares kept as they are;
5. standard scaling (or robust: median / IQR) so every feature weighs alike.

K-means (Lloyd; Arthur & Vassilvitskii's k-means++ seeding) runs for every K
in ``[k_min, k_max]`` on a random sample of ``sample_size`` rows; the K with
the best mean silhouette (Rousseeuw 1987) on that sample wins (or, with
``k_selection="elbow"``, the knee of the inertia curve: the K farthest below
the chord joining its ends), and both curves are kept in ``k_curve_``.  The final model is
fitted on all rows (MiniBatchKMeans, Sculley 2010, above ``minibatch_above``).
``k_selection="two_level"`` keeps the silhouette K as a first level and splits each of
its clusters when its own silhouette curve beats null references of the same shape
(:func:`~shopseg.segment._cluster_k._split_test`); the leaves' sample means are the centroids, every row goes to the
nearest one (``split_table_`` says which cluster was split how).
``method="hierarchical"`` builds a Ward (or average / complete linkage with
euclidean, manhattan or cosine distance) tree on the sample, cuts it at K and
assigns every row to the nearest cluster centroid (medoid-free: the mean of
the sample members, the median for manhattan).

Cluster ids run from 1 by decreasing size; :meth:`BehaviourClusters.align_to`
renumbers them to match a previous run's centroids (Hungarian matching,
Kuhn 1955, :func:`scipy.optimize.linear_sum_assignment`) so that "cluster 3"
keeps its meaning from run to run.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage as scipy_linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances, pairwise_distances_argmin, silhouette_score
from threadpoolctl import threadpool_limits

from ..errors import ConfigError
from ..params import validate_params
from ._common import SegmentWarning
from ._cluster_k import MACRO_N_INIT, MIN_LEAF_SHARE, _split_test, elbow_k, silhouette_from_distances
from ._cluster_space import (_METRIC, BUYER_ONLY, DERIVED, LOG_FEATURES, PARAMETER_CONSTRAINTS, SQRT_FEATURES,
                             ClusterSpace, _buyers, cluster_params, feature_frame)

# Behavioural features clustered by default (docs/segments.md): recency, tenure,
# frequency and purchase rate, basket (order value, units per order), price and
# return behaviour, and browsing.  monetary_net is left out: it is frequency
# times order value, both already in, and counting it again doubles the weight
# of "has bought much" against everything else.  Category shares and clicks
# are opt-in ([segments.cluster] features).
DEFAULT_FEATURES = (
    "recency_days", "tenure_days", "frequency", "orders_per_year", "avg_order_value", "units_per_order",
    "discount_share", "return_rate", "browse_minutes", "cart_abandonment_rate",
)

def default_features(columns) -> list[str]:
    cols = set(columns)
    return [c for c in DEFAULT_FEATURES if c in cols or (c in DERIVED and set(DERIVED[c][:2]) <= cols)]


class BehaviourClusters(ClusterSpace, ClusterMixin, BaseEstimator):
    """Cluster customers on behavioural features, choosing K automatically.

    Parameters mirror ``[segments.cluster]`` in the config.  ``n_clusters=None``
    (or 0) chooses K by silhouette (``k_selection="silhouette"``), by the knee of
    the inertia curve (``"elbow"``) or in two levels (``"two_level"``: the silhouette
    K, then each of those clusters split when a null reference says it holds
    structure of its own; see :func:`_split_test`).  Learned attributes: ``features_``,
    ``caps_``, ``center_``, ``scale_``, ``n_clusters_``, ``k_curve_``
    (DataFrame k, inertia, silhouette), ``elbow_k_``, ``cluster_centers_``
    (scaled space), ``centroids_`` (DataFrame, transformed space, index = cluster id),
    ``cluster_ids_``, ``labels_`` (cluster ids of the rows fitted), ``split_table_``
    (``"two_level"`` only, else None: one row per first-level cluster with its sample
    rows ``n``, the number of parts ``k`` it was split into, the candidate ``sub_k``
    with its silhouette, null silhouette, null sd and ``z``, and the final cluster ids
    it became, ``clusters``).

    >>> from sklearn.datasets import make_blobs
    >>> X, y = make_blobs(600, n_features=3, centers=4, cluster_std=0.5, random_state=1)
    >>> df = pd.DataFrame(X, columns=["click_rate", "discount_share", "return_rate"])
    >>> BehaviourClusters(features=list(df.columns), random_state=0).fit(df).n_clusters_
    4
    """

    def __init__(self, features=None, n_clusters=None, k_min=2, k_max=8, method="kmeans",
                 scaler="standard", winsorize_quantile=0.99, sample_size=4000, minibatch_above=200000,
                 linkage="ward", metric="euclidean", random_state=0, n_init=4, k_selection="silhouette"):
        self.features = features
        self.n_clusters = n_clusters
        self.k_min = k_min
        self.k_max = k_max
        self.method = method
        self.scaler = scaler
        self.winsorize_quantile = winsorize_quantile
        self.sample_size = sample_size
        self.minibatch_above = minibatch_above
        self.linkage = linkage
        self.metric = metric
        self.random_state = random_state
        self.n_init = n_init
        self.k_selection = k_selection

    @classmethod
    def from_config(cls, cfg) -> "BehaviourClusters":
        return cls(**cluster_params(cfg))

    # -- preprocessing ---------------------------------------------------------
    def _check_params(self) -> None:
        validate_params({k: getattr(self, k) for k in ("method", "k_selection", "scaler", "metric", "linkage",
                                                       "k_min", "k_max")}, PARAMETER_CONSTRAINTS)
        if self.method == "hierarchical" and self.linkage == "ward" and self.metric != "euclidean":
            raise ConfigError(f"Ward linkage needs metric='euclidean'. Got {self.metric!r} instead.")
        if not (2 <= self.k_min <= self.k_max):
            raise ConfigError(f"The 'k_min' and 'k_max' parameters must satisfy 2 <= k_min <= k_max. "
                              f"Got {self.k_min!r} and {self.k_max!r} instead.")

    # -- fitting -----------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> "BehaviourClusters":
        self._check_params()
        rng = np.random.default_rng(self.random_state)
        self.features_ = list(self.features) if self.features else default_features(X.columns)
        self.log_mask_ = np.array([c in LOG_FEATURES for c in self.features_], dtype=bool)
        self.sqrt_mask_ = np.array([c in SQRT_FEATURES for c in self.features_], dtype=bool)
        self.impute_mask_ = np.array([c in BUYER_ONLY for c in self.features_], dtype=bool)
        n = len(X)
        if n == 0:
            raise ConfigError("Cannot cluster zero customers.", hint="Load orders or events first.")
        self.impute_ = np.zeros(len(self.features_))
        buyers = _buyers(X)
        if buyers is not None and buyers.any() and self.impute_mask_.any():
            self.impute_ = np.median(feature_frame(X[buyers], self.features_), axis=0)
        raw = self._raw(X)
        self.caps_ = np.quantile(raw, self.winsorize_quantile, axis=0) if self.winsorize_quantile < 1 else \
            np.full(raw.shape[1], np.inf)
        L = self._log_space(X)
        if self.scaler == "standard":
            self.center_, scale = L.mean(axis=0), L.std(axis=0)
        else:
            self.center_ = np.median(L, axis=0)
            q75, q25 = np.percentile(L, [75, 25], axis=0)
            scale = q75 - q25
            scale = np.where(scale > 0, scale, L.std(axis=0))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = self._scale(L)
        idx = np.sort(rng.choice(n, size=min(n, self.sample_size), replace=False))
        Zs = Z[idx]
        n_distinct = len(np.unique(np.round(Zs, 9), axis=0))
        k_hi = min(self.k_max, n_distinct - 1 if n_distinct > 2 else 1, len(Zs) - 1)
        seed = int(rng.integers(2**31 - 1))
        if self.n_clusters:
            k_choice = min(int(self.n_clusters), n_distinct)
            if k_choice < int(self.n_clusters):
                warnings.warn(f"Clusters: only {n_distinct} distinct customers in the sample; "
                              f"using {k_choice} clusters instead of {self.n_clusters}.", SegmentWarning, stacklevel=2)
            self.k_curve_ = pd.DataFrame({"k": [k_choice], "inertia": [np.nan], "silhouette": [np.nan]})
            self.elbow_k_ = k_choice
        elif k_hi < self.k_min:
            warnings.warn(f"Clusters: {n} customer(s) ({n_distinct} distinct) cannot support "
                          f"{self.k_min}..{self.k_max} clusters; everyone is put in one cluster.",
                          SegmentWarning, stacklevel=2)
            k_choice = 1
            self.k_curve_ = pd.DataFrame({"k": [1], "inertia": [float(((Zs - Zs.mean(0)) ** 2).sum())],
                                          "silhouette": [np.nan]})
            self.elbow_k_ = 1
        else:
            k_choice = self._choose_k(Zs, range(self.k_min, k_hi + 1), seed)
        self.n_clusters_ = int(k_choice)
        self.split_table_ = None
        if self.k_selection == "two_level" and not self.n_clusters and k_choice > 1:
            leaves = self._two_level(Zs, self._sample_labels.pop(k_choice), seed)
            self.n_clusters_ = len(leaves)
            # every leaf becomes a centroid in the global scaled space (the mean of its sample rows) and
            # every row goes to the nearest one, as predict does; no k-means refit on all rows: Lloyd
            # iterations let the big leaves take over the tails of the small ones (demo shop, first
            # version of the rule: ARI lower in 21 of 24 runs, by up to 0.14; docs/segments.md)
            centers = np.vstack([Zs[p].mean(axis=0) for p in leaves])
            remap = self._set_centers(centers, Z)
            ids = self.cluster_ids_[remap]  # ids[j]: cluster id of leaf j
            self.split_table_["clusters"] = [[int(ids[j]) for j in js] for js in self.split_table_.pop("leaf_index")]
        elif self.method == "kmeans":
            centers = self._fit_kmeans(Z, self.n_clusters_, seed)
            self._set_centers(centers, Z)
        else:
            centers = self._fit_hierarchical(Zs, self.n_clusters_)
            self._set_centers(centers, Z)
        self.__dict__.pop("_sample_labels", None)
        return self

    def _kmeans(self, k: int, seed: int, n: int):
        if n > self.minibatch_above:
            return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        return KMeans(n_clusters=k, random_state=seed, n_init=self.n_init)

    def _choose_k(self, Zs: np.ndarray, ks, seed: int) -> int:
        rows = []
        self._sample_labels = {}
        if self.method == "hierarchical":
            tree = self._tree(Zs)
        # one distance matrix for every K (<= 6000 rows: <= 288 MB); silhouette then only reduces it
        D = pairwise_distances(Zs, metric=self.metric) if len(Zs) <= 6000 else None
        for k in ks:
            if self.method == "kmeans":
                with threadpool_limits(1):  # threads cost more than they save on a few thousand rows
                    n_init = max(self.n_init, MACRO_N_INIT) if self.k_selection == "two_level" else self.n_init
                    km = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(Zs)
                lab, inertia = km.labels_, float(km.inertia_)
            else:
                lab = fcluster(tree, t=k, criterion="maxclust") - 1
                inertia = float(sum(((Zs[lab == j] - Zs[lab == j].mean(0)) ** 2).sum() for j in np.unique(lab)))
            self._sample_labels[k] = np.asarray(lab)
            n_lab = len(np.unique(lab))
            if not 1 < n_lab < len(Zs):
                sil = np.nan
            elif D is not None:
                sil = silhouette_from_distances(D, lab)
            else:
                sil = float(silhouette_score(Zs, lab, metric=self.metric))
            rows.append((k, inertia, sil))
        self.k_curve_ = pd.DataFrame(rows, columns=["k", "inertia", "silhouette"])
        self.elbow_k_ = elbow_k(self.k_curve_["k"], self.k_curve_["inertia"])
        sil = self.k_curve_["silhouette"].to_numpy()
        if self.k_selection == "elbow":
            return self.elbow_k_  # "two_level" takes the silhouette K as its first level
        if np.all(np.isnan(sil)):
            return int(self.k_curve_["k"].iloc[0])
        return int(self.k_curve_["k"].iloc[int(np.nanargmax(sil))])

    def _two_level(self, Zs: np.ndarray, macro: np.ndarray, seed: int) -> list[np.ndarray]:
        """Leaves (sample row indices) of the two-level split; fills ``split_table_``."""
        min_size = max(int(np.ceil(MIN_LEAF_SHARE * len(Zs))), 10)
        leaves, rows = [], []
        parts = [np.flatnonzero(macro == c) for c in np.unique(macro)]
        parts.sort(key=lambda p: (-len(p), p[0]))
        for c, idx in enumerate(parts, start=1):
            k, lab, row = _split_test(Zs[idx], min_size, seed)
            first = len(leaves)
            leaves += [idx] if k == 1 else [idx[lab == j] for j in range(k)]
            rows.append({"macro_cluster": c, **row, "leaf_index": list(range(first, len(leaves)))})
        self.split_table_ = pd.DataFrame(rows)
        return leaves

    def _fit_kmeans(self, Z: np.ndarray, k: int, seed: int) -> np.ndarray:
        if k == 1:
            return Z.mean(axis=0, keepdims=True)
        return self._kmeans(k, seed, len(Z)).fit(Z).cluster_centers_

    def _tree(self, Zs: np.ndarray):
        return scipy_linkage(Zs, method=self.linkage, metric=_METRIC[self.metric])

    def _fit_hierarchical(self, Zs: np.ndarray, k: int) -> np.ndarray:
        if k == 1:
            return Zs.mean(axis=0, keepdims=True)
        lab = fcluster(self._tree(Zs), t=k, criterion="maxclust") - 1
        agg = np.median if self.metric == "manhattan" else np.mean
        return np.vstack([agg(Zs[lab == j], axis=0) for j in np.unique(lab)])

    def _assign(self, Z: np.ndarray, centers: np.ndarray) -> np.ndarray:
        if len(centers) == 1:
            return np.zeros(len(Z), dtype=np.int64)
        if len(Z) <= 64:  # a few rows (the live service's one customer): sklearn's chunked argmin costs ~20 ms
            return cdist(Z, centers, metric=_METRIC[self.metric]).argmin(axis=1)  # of set-up, this 0.02 ms
        return pairwise_distances_argmin(Z, centers, metric=self.metric)

    def _set_centers(self, centers: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """Order clusters by decreasing size (ties: centroid coordinates), ids from 1."""
        lab = self._assign(Z, centers)
        sizes = np.bincount(lab, minlength=len(centers))
        order = sorted(range(len(centers)), key=lambda j: (-sizes[j], tuple(np.round(centers[j], 9))))
        self.cluster_centers_ = centers[order]
        self.cluster_ids_ = np.arange(1, len(order) + 1)
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        self.labels_ = self.cluster_ids_[remap[lab]]
        return remap  # remap[j]: position of centre j after sorting

    # -- using -----------------------------------------------------------------------
    @property
    def centroids_(self) -> pd.DataFrame:
        """Centroids in the transformed space (log1p / sqrt, before scaling), one row per cluster id: what runs store to match later."""
        self._check_fitted()
        return pd.DataFrame(self.cluster_centers_ * self.scale_ + self.center_, columns=self.features_,
                            index=pd.Index(self.cluster_ids_, name="cluster"))

    def align_to(self, previous: pd.DataFrame) -> dict[int, int]:
        """Renumber clusters to match ``previous`` centroids (log space, index = cluster id).

        Pairs are chosen to minimise the total distance in this model's scaled
        space (Hungarian algorithm) over the features both share.  Unmatched new
        clusters get fresh ids above the previous maximum.  Returns {id from fit: id now}.
        """
        self._check_fitted()
        if previous is None or len(previous) == 0:
            return {}
        common = [c for c in self.features_ if c in previous.columns]
        if not common:
            return {}
        pos = [self.features_.index(c) for c in common]
        prev = (previous[common].to_numpy(dtype=float) - self.center_[pos]) / self.scale_[pos]
        cost = pairwise_distances(self.cluster_centers_[:, pos], prev)
        rows, cols = linear_sum_assignment(cost)
        prev_ids = previous.index.to_numpy().astype(np.int64)
        new_ids = np.zeros(len(self.cluster_ids_), dtype=np.int64)
        new_ids[rows] = prev_ids[cols]
        free = iter(range(int(prev_ids.max()) + 1, int(prev_ids.max()) + 1 + len(new_ids)))
        for j in range(len(new_ids)):
            if j not in set(rows):
                new_ids[j] = next(free)
        mapping = dict(zip(self.cluster_ids_.tolist(), new_ids.tolist()))
        lut = np.zeros(int(self.cluster_ids_.max()) + 1, dtype=np.int64)
        lut[self.cluster_ids_] = new_ids
        self.labels_ = lut[self.labels_]
        self.cluster_ids_ = new_ids
        return mapping
