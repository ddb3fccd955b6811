"""A fitted cluster model applied: :class:`~shopseg.segment.cluster.BehaviourClusters`' preprocessing and nearest
centroid, without scikit-learn.

:class:`ClusterSpace` holds what ``predict`` needs (the features, the imputed medians, caps, log / sqrt masks,
centre and scale, the centroids and their ids, the metric); ``BehaviourClusters`` is a ClusterSpace that also
fits. A stored model loaded only to be applied (the live service, an incremental run:
:func:`shopseg.refit.load_cluster_model` with ``light=True``) is a plain ClusterSpace, so scoring a few customers
does not import scikit-learn and SciPy (about a CPU second).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, NotFittedError
from ..params import Interval, Options

# Features derived here from customer_features columns: name -> (numerator, denominator, scale, floor).
# orders_per_year = 365.25 * frequency / max(tenure_days, 30): a rate, so a
# two-month-old customer with 3 orders is not "infrequent" next to a two-year
# one with 12; units_per_order = n_units / frequency: basket size, what sets a
# wholesale buyer apart from a big retail spender.
DERIVED = {
    "orders_per_year": ("frequency", "tenure_days", 365.25, 30.0),
    "units_per_order": ("n_units", "frequency", 1.0, 1.0),
}
# Skewed non-negative features that are log1p-transformed before scaling.
LOG_FEATURES = frozenset({
    "tenure_days", "frequency", "monetary_total", "monetary_net", "avg_order_value",
    "n_units", "mean_days_between_orders", "std_days_between_orders", "n_sessions", "browse_minutes",
    "brand_diversity", "n_reviews", "orders_per_year", "units_per_order",
})
# Bounded day counts that get a square root instead: recency cannot exceed the
# shop's age, and log would crush the gap between 200 and 600 days without a
# purchase (dormant versus long gone) while stretching 2 versus 20 days.
SQRT_FEATURES = frozenset({"recency_days"})
# Features that only mean something for buyers.  Customers without orders get
# the buyers' median instead of the 0 customer_features stores for them:
# "no orders" is already said by frequency, and a 0 order value would say it
# again in every one of these columns, so that one fact outweighs all others.
BUYER_ONLY = frozenset({
    "avg_order_value", "units_per_order", "discount_share", "return_rate", "mean_days_between_orders",
    "std_days_between_orders", "avg_rating",
})
_METRIC = {"euclidean": "euclidean", "manhattan": "cityblock", "cosine": "cosine"}

# The settings of [segments.cluster] (the config checks them through the cluster scheme) and this estimator's
# parameters of the same names: one table.
PARAMETER_CONSTRAINTS = {
    "method": Options("kmeans", "hierarchical"),
    "n_clusters": Interval(int, 0, 100),
    "k_min": Interval(int, 2, 100),
    "k_max": Interval(int, 2, 100),
    "scaler": Options("standard", "robust"),
    "k_selection": Options("silhouette", "elbow", "two_level"),
    "winsorize_quantile": Interval(float, 0.5, 1, closed="right"),
    "sample_size": Interval(int, 100, None),
    "minibatch_above": Interval(int, 1, None),
    "max_customers": Interval(int, 0, None),
    "linkage": Options("ward", "average", "complete"),
    "metric": Options(*_METRIC),
    "random_state": Interval(int, 0, None),
}


def feature_frame(X: pd.DataFrame, features) -> np.ndarray:
    """The raw values of ``features`` (derived ones computed, see :data:`DERIVED`), NaN as 0.

    >>> X = pd.DataFrame({"frequency": [0, 4], "tenure_days": [10, 730], "n_units": [0, 8]})
    >>> feature_frame(X, ["orders_per_year", "units_per_order"]).round(2).tolist()
    [[0.0, 0.0], [2.0, 2.0]]
    """
    cols = []
    for c in features:
        if c in X.columns:
            cols.append(X[c].to_numpy(dtype=float))
        elif c in DERIVED and DERIVED[c][0] in X.columns and DERIVED[c][1] in X.columns:
            num, den, mult, floor = DERIVED[c]
            cols.append(mult * X[num].to_numpy(dtype=float) / np.maximum(X[den].to_numpy(dtype=float), floor))
        else:
            missing = ", ".join(c for c in features if c not in X.columns and c not in DERIVED)
            raise ConfigError(f"Cluster features missing from the data: {missing or c}.",
                              hint="Check [segments.cluster] features against the customer_features columns.")
    A = np.column_stack(cols) if cols else np.empty((len(X), 0))
    return np.nan_to_num(A, nan=0.0)


def _buyers(X: pd.DataFrame) -> np.ndarray | None:
    if "has_orders" in X.columns:
        return X["has_orders"].to_numpy(dtype=bool)
    if "frequency" in X.columns:
        return X["frequency"].to_numpy(dtype=float) > 0
    return None


def cluster_params(cfg) -> dict:
    """The cluster estimator's keyword parameters from the ``[segments.cluster]`` settings of ``cfg``."""
    c = cfg["segments.cluster"]
    return dict(features=c["features"] or None, n_clusters=c["n_clusters"] or None, k_min=c["k_min"],
                k_max=c["k_max"], method=c["method"], scaler=c["scaler"],
                winsorize_quantile=c["winsorize_quantile"], sample_size=c["sample_size"],
                minibatch_above=c["minibatch_above"], linkage=c["linkage"], metric=c["metric"],
                random_state=c["random_state"], k_selection=c["k_selection"])


class ClusterSpace:
    """Apply a fitted cluster model: :meth:`transform` (the space clusters live in) and :meth:`predict`."""

    def __init__(self, metric: str = "euclidean"):
        self.metric = metric

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        """Feature values with the buyers' median put in for non-buyers (BUYER_ONLY features)."""
        A = feature_frame(X, self.features_)
        buyers = _buyers(X)
        if buyers is not None and self.impute_mask_.any() and not buyers.all():
            cols = np.flatnonzero(self.impute_mask_)
            A[np.ix_(~buyers, cols)] = self.impute_[cols]
        return A

    def _log_space(self, X: pd.DataFrame) -> np.ndarray:
        A = self._raw(X)
        if hasattr(self, "caps_"):
            A = np.minimum(A, self.caps_)
        A[:, self.log_mask_] = np.log1p(np.clip(A[:, self.log_mask_], 0, None))
        A[:, self.sqrt_mask_] = np.sqrt(np.clip(A[:, self.sqrt_mask_], 0, None))
        return A

    def _scale(self, L: np.ndarray) -> np.ndarray:
        return (L - self.center_) / self.scale_

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Imputed, winsorised, log1p / sqrt-transformed and scaled features (the space clusters live in)."""
        self._check_fitted()
        return self._scale(self._log_space(X))

    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("This BehaviourClusters instance is not fitted yet; call fit(features) first.")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Cluster id of each row of ``X``: its nearest centroid."""
        self._check_fitted()
        return self.cluster_ids_[self._assign(self.transform(X), self.cluster_centers_)]

    def _assign(self, Z: np.ndarray, centers: np.ndarray, rows: int = 4096) -> np.ndarray:
        """Index of the nearest of ``centers`` for each row of ``Z`` (numpy; ``rows`` rows at a time)."""
        if len(centers) == 1:
            return np.zeros(len(Z), dtype=np.int64)
        out = np.empty(len(Z), dtype=np.int64)
        for lo in range(0, len(Z), rows):
            z = Z[lo:lo + rows]
            if self.metric == "cosine":
                zn = z / np.where((n := np.linalg.norm(z, axis=1, keepdims=True)) > 0, n, 1.0)
                cn = centers / np.where((m := np.linalg.norm(centers, axis=1, keepdims=True)) > 0, m, 1.0)
                d = 1.0 - zn @ cn.T
            else:
                diff = z[:, None, :] - centers[None, :, :]
                d = np.abs(diff).sum(axis=2) if self.metric == "manhattan" else np.sqrt((diff * diff).sum(axis=2))
            out[lo:lo + rows] = d.argmin(axis=1)
        return out


__all__ = ["BUYER_ONLY", "ClusterSpace", "DERIVED", "LOG_FEATURES", "PARAMETER_CONSTRAINTS", "SQRT_FEATURES", "cluster_params",
           "feature_frame"]
