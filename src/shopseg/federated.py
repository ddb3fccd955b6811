"""Federated segmentation: several shops fit one clustering without pooling rows.

Each shop (a :class:`Site`) keeps its customers; a :class:`Coordinator` sends
*requests* and combines the sites' *replies*.  Every message is a JSON object
holding aggregates only (counts, sums, sums of squares, histogram counts over a
public grid, per-cluster sums); no customer id and no row's value leaves a site.

The result is the same model :class:`~shopseg.segment.cluster.BehaviourClusters`
fits on pooled data (same features, buyer-only imputation, winsorising,
log1p / sqrt transform, standard scaling, K-means), built from four rounds:

1. ``histograms``: per feature, counts of buyers' and non-buyers' raw values on
   a fixed grid of ``sign(x) * log1p(|x|)`` (bin width :data:`BIN_WIDTH`); the
   coordinator reads the buyers' median (imputation) and the
   ``winsorize_quantile`` caps off the summed histograms (to within half a bin:
   0.5 % relative);
2. ``moments``: with imputation and caps fixed, each site's count, sum and sum
   of squares of the transformed features; the coordinator combines them into
   the pooled mean and (population) standard deviation, exactly;
3. ``seeds``: each site runs K-means locally (``local_clusters`` centres) and
   shares each local cluster's count and sum; the coordinator runs weighted
   k-means++ (Arthur & Vassilvitskii 2007) and Lloyd on these summaries
   (a coreset in the sense of Feldman & Langberg 2011) to pick the K
   starting centroids;
4. ``step`` (repeated): federated Lloyd (the "distributed K-means" of
   Dhillon & Modha 2000): each site assigns its customers to the shared
   centroids and returns per-cluster counts, sums and inertia; the coordinator
   sets each centroid to the summed sums over the summed counts, until the
   centroids move less than ``tol`` or after ``max_iter`` rounds.

A local cluster or step cluster with fewer than ``min_count`` customers at a
site is suppressed (reported as count 0, sum 0): a sum over one customer is
that customer's row.

**Noise** (optional, per site: :class:`Privacy`): the Laplace mechanism
(Dwork et al. 2006) or the Gaussian mechanism (Dwork & Roth 2014, thm 3.22)
on every shared number, calibrated to the add/remove-one-customer sensitivity
of each round, with the site's total ``epsilon`` split by sequential
composition: 10 % histograms, 10 % moments, 20 % seeds, 60 % over the
``max_iter`` steps (the site refuses steps past its budget).  Sensitivities:
a customer adds 1 to one bin of each of the d feature histograms
(L1 = d); to the count (1), to each sum at most ``max |L_j|`` and to each sum of
squares ``max L_j^2`` (L clipped to public bounds from round 1); to one cluster's
count (1) and sum (at most ``clip`` per scaled feature: L1 = d * clip, values
clipped to ``[-clip, clip]``).  Calibration: Laplace scale = L1 / eps;
Gaussian sigma = L2 * sqrt(2 ln(1.25 / delta)) / eps.

The protocol is a pair of pure functions over JSON: ``Site.answer(request)``
and :func:`next_request` (the coordinator's state is its last request), so the
same exchange runs in one process (:meth:`Coordinator.fit`) or between
machines as files (``shopseg federated share`` / ``combine``).

>>> from sklearn.datasets import make_blobs
>>> X, _ = make_blobs(900, n_features=3, centers=3, cluster_std=0.4, random_state=0)
>>> df = pd.DataFrame(np.abs(X) * 10, columns=["click_rate", "discount_share", "return_rate"])
>>> sites = [Site(df.iloc[i::3], name=f"shop{i}") for i in range(3)]
>>> fed = Coordinator(n_clusters=3, features=list(df.columns)).fit(sites)
>>> fed.model_.n_clusters_, int(sum(fed.sizes_))
(3, 900)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin
from threadpoolctl import threadpool_limits

from ._federated_grid import (  # noqa: F401  (imported from here too)
    BIN_WIDTH, T_MAX, Privacy, _from_grid, _rank_bin, _to_grid, hist_quantile, n_bins,
)
from .errors import ConfigError
from .segment.cluster import (
    BUYER_ONLY,
    LOG_FEATURES,
    SQRT_FEATURES,
    BehaviourClusters,
    _buyers,
    feature_frame,
)

PROTOCOL = "shopseg-federated/1"
# Share of a site's epsilon spent on each round (sequential composition).
BUDGET = {"histograms": 0.1, "moments": 0.1, "seeds": 0.2, "steps": 0.6}
# Public domain bounds of the default cluster features (raw units): what a site's values are clipped to
# when noise is on, so the histogram reads few bins and the moments' sensitivity is small.
DEFAULT_BOUNDS = {
    "recency_days": (0.0, 3650.0), "tenure_days": (0.0, 3650.0), "frequency": (0.0, 1000.0),
    "orders_per_year": (0.0, 365.25), "avg_order_value": (0.0, 100000.0), "units_per_order": (0.0, 1000.0),
    "discount_share": (0.0, 1.0), "return_rate": (0.0, 1.0), "browse_minutes": (0.0, 100000.0),
    "cart_abandonment_rate": (0.0, 1.0),
}
ROUNDS = ("histograms", "moments", "seeds", "step", "done")


def _estimator(spec: dict, stage: str) -> BehaviourClusters:
    """A BehaviourClusters carrying the transform learned so far (the one the pooled fit uses)."""
    feats = spec["features"]
    m = BehaviourClusters(features=feats, winsorize_quantile=spec["winsorize_quantile"])
    m.features_ = list(feats)
    m.log_mask_ = np.array([c in LOG_FEATURES for c in feats], dtype=bool)
    m.sqrt_mask_ = np.array([c in SQRT_FEATURES for c in feats], dtype=bool)
    m.impute_mask_ = np.array([c in BUYER_ONLY for c in feats], dtype=bool)
    if stage in ("moments", "scaled"):
        m.impute_ = np.asarray(spec["impute"], dtype=float)
        m.caps_ = np.asarray(spec["caps"], dtype=float)
    if stage == "scaled":
        m.center_ = np.asarray(spec["center"], dtype=float)
        m.scale_ = np.asarray(spec["scale"], dtype=float)
    return m


def _transform_bounds(spec: dict, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = _estimator(spec, "moments")
    A = np.vstack([lo, hi]).astype(float)
    A[:, m.log_mask_] = np.log1p(np.clip(A[:, m.log_mask_], 0, None))
    A[:, m.sqrt_mask_] = np.sqrt(np.clip(A[:, m.sqrt_mask_], 0, None))
    return A[0], A[1]


class Site:
    """One shop's side: answers the coordinator's requests from its own customer features.

    ``features`` is the output of :func:`shopseg.customer_features` (any frame
    with the cluster feature columns); ``privacy`` adds noise to every reply.
    """

    def __init__(self, features: pd.DataFrame, name: str = "site", privacy: Privacy | None = None,
                 min_count: int = 5, random_state=None):
        self.features = features
        self.name = name
        self.privacy = privacy
        self.min_count = min_count
        self.random_state = random_state

    @classmethod
    def from_workspace(cls, ws, as_of, *, config=None, **kw) -> Site:
        from .features import customer_features
        return cls(customer_features(ws, as_of, config=config), **kw)

    def answer(self, request: dict | str) -> dict:
        """The reply (aggregates only) to one coordinator request."""
        req = json.loads(request) if isinstance(request, str) else request
        if req.get("protocol") != PROTOCOL:
            raise ConfigError(f"Not a {PROTOCOL} request (protocol {req.get('protocol')!r}).")
        rnd = req["round"]
        if not hasattr(self, "_rng"):
            self._rng = np.random.default_rng(self.random_state)
            self.epsilon_spent_ = 0.0
        handler = {"histograms": self._histograms, "moments": self._moments, "seeds": self._seeds,
                   "step": self._step}.get(rnd)
        if handler is None:
            raise ConfigError(f"A site answers rounds {', '.join(ROUNDS[:-1])}. Got {rnd!r} instead.")
        if self.privacy is not None:
            share = BUDGET["steps"] / req["max_iter"] if rnd == "step" else BUDGET[rnd]
            eps = self.privacy.epsilon * share
            if self.epsilon_spent_ + eps > self.privacy.epsilon * (1 + 1e-9):
                raise ConfigError(f"Site {self.name}: answering this {rnd} round would spend more than "
                                  f"epsilon = {self.privacy.epsilon:g}; it is refused.")
            self.epsilon_spent_ += eps
        else:
            eps = None
        body = handler(req["spec"], eps, req)
        reply = {"protocol": PROTOCOL, "round": rnd, "iteration": req.get("iteration", 0), "site": self.name,
                 "noise": None if self.privacy is None else
                 {"mechanism": self.privacy.mechanism, "epsilon": eps}, **body}
        return json.loads(json.dumps(reply))  # what crosses the wire is JSON, nothing more

    def _noisy(self, a: np.ndarray, eps, l1: float, l2: float) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        if eps is None:
            return a
        return a + self.privacy.noise(self._rng, a.shape, eps, l1, l2)

    def _histograms(self, spec, eps, req) -> dict:
        A = feature_frame(self.features, spec["features"])
        if spec.get("bounds"):  # public domain bounds: every value lands in the bins the coordinator reads
            A = np.clip(A, *np.asarray(spec["bounds"], dtype=float).T)
        buyers = _buyers(self.features)
        buyers = np.ones(len(A), dtype=bool) if buyers is None else buyers
        d = A.shape[1]
        out = {}
        for name, rows in (("buyers", buyers), ("non_buyers", ~buyers)):
            w = spec["bin_width"]
            H = np.zeros((d, n_bins(w)))
            for j in range(d):  # one bincount per feature column
                H[j] = np.bincount(_to_grid(A[rows, j], w), minlength=n_bins(w))
            # a customer is in one set only (parallel composition): each set gets the round's whole epsilon
            out[name] = _sparse(self._noisy(H, eps, float(d), math.sqrt(d)))
        return {"histograms": out}

    def _moments(self, spec, eps, req) -> dict:
        L = _estimator(spec, "moments")._log_space(self.features)
        if eps is not None:
            lo, hi = np.asarray(spec["bounds_lo"]), np.asarray(spec["bounds_hi"])
            L = np.clip(L, lo, hi)
            b1 = float(np.maximum(np.abs(lo), np.abs(hi)).sum())
            b2 = float(np.maximum(lo ** 2, hi ** 2).sum())
            e = eps / 3
            n = self._noisy(len(L), e, 1.0, 1.0)
            s = self._noisy(L.sum(axis=0), e, b1, math.sqrt(float((np.maximum(lo ** 2, hi ** 2)).sum())))
            ss = self._noisy((L ** 2).sum(axis=0), e, b2, math.sqrt(float((np.maximum(lo ** 2, hi ** 2) ** 2).sum())))
        else:
            n, s, ss = len(L), L.sum(axis=0), (L ** 2).sum(axis=0)
        return {"n": float(n), "sum": np.asarray(s).tolist(), "sum_sq": np.asarray(ss).tolist()}

    def _scaled(self, spec) -> np.ndarray:
        m = _estimator(spec, "scaled")
        Z = m._scale(m._log_space(self.features))
        if self.privacy is not None:
            Z = np.clip(Z, -self.privacy.clip, self.privacy.clip)
        return Z

    def _cluster_sums(self, Z, lab, k, eps) -> dict:
        counts = np.bincount(lab, minlength=k).astype(float)
        sums = np.zeros((k, Z.shape[1]))
        np.add.at(sums, lab, Z)
        small = counts < self.min_count
        suppressed = int(counts[small].sum())
        counts[small], sums[small] = 0.0, 0.0
        out = {}
        if eps is not None:
            d, c = Z.shape[1], self.privacy.clip
            counts = self._noisy(counts, eps / 2, 1.0, 1.0)
            sums = self._noisy(sums, eps / 2, d * c, math.sqrt(d) * c)
            # what the coordinator needs to weigh noisy counts: their noise's standard deviation, and the clip
            b = self.privacy.scale(eps / 2, 1.0, 1.0)
            out = {"count_sd": b * math.sqrt(2) if self.privacy.mechanism == "laplace" else b, "clip": c}
        return {"counts": counts.tolist(), "sums": sums.tolist(), "suppressed": suppressed, **out}

    def _seeds(self, spec, eps, req) -> dict:
        Z = self._scaled(spec)
        k = int(min(spec["local_clusters"], len(np.unique(np.round(Z, 9), axis=0))))
        if k < 1:
            return {"counts": [], "sums": [], "suppressed": 0}
        with threadpool_limits(1):
            lab = KMeans(n_clusters=k, random_state=spec["random_state"], n_init=2).fit(Z).labels_
        return self._cluster_sums(Z, lab, k, eps)

    def _step(self, spec, eps, req) -> dict:
        Z = self._scaled(spec)
        C = np.asarray(spec["centroids"], dtype=float)
        lab = pairwise_distances_argmin(Z, C) if len(Z) else np.zeros(0, dtype=np.int64)
        out = self._cluster_sums(Z, lab, len(C), eps)
        if eps is None:  # inertia: for the coordinator's report; not shared under noise (it has no bound)
            out["inertia"] = float(((Z - C[lab]) ** 2).sum())
        return out


def _sparse(H: np.ndarray) -> list[dict]:
    """Per feature: the non-zero bins (index -> count), so an exact histogram stays small."""
    return [{str(int(b)): float(row[b]) for b in np.flatnonzero(row)} for row in H]


def _dense(rows: list[dict], width: float) -> np.ndarray:
    H = np.zeros((len(rows), n_bins(width)))
    for j, row in enumerate(rows):
        if row:
            idx = np.fromiter((int(b) for b in row), dtype=np.int64, count=len(row))
            H[j, idx] = np.fromiter(row.values(), dtype=float, count=len(row))
    return H


def first_request(features, n_clusters: int, *, winsorize_quantile: float = 0.99, local_clusters: int | None = None,
                  max_iter: int = 100, tol: float = 1e-6, bin_width: float = BIN_WIDTH, bounds: dict | None = None,
                  random_state: int = 0) -> dict:
    """The coordinator's opening request (round ``histograms``)."""
    if not features:
        raise ConfigError("Federated clustering needs the feature list spelled out (features=[...]).",
                          hint="Use shopseg.segment.cluster.DEFAULT_FEATURES, the pooled fit's default.")
    if not (isinstance(n_clusters, int) and n_clusters >= 1):
        raise ConfigError(f"The 'n_clusters' parameter must be an int >= 1. Got {n_clusters!r} instead.")
    if not 0.5 < winsorize_quantile <= 1:
        raise ConfigError(f"The 'winsorize_quantile' parameter must be in (0.5, 1]. Got {winsorize_quantile!r} instead.")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ConfigError(f"The 'max_iter' parameter must be an int >= 1. Got {max_iter!r} instead.")
    spec = {"features": list(features), "n_clusters": n_clusters, "winsorize_quantile": winsorize_quantile,
            "local_clusters": int(local_clusters or 4 * n_clusters), "tol": tol, "bin_width": float(bin_width),
            "bounds": _bounds_list(features, bounds),
            "random_state": int(random_state)}
    return {"protocol": PROTOCOL, "round": "histograms", "iteration": 0, "max_iter": max_iter, "spec": spec}


def _bounds_list(features, bounds: dict | None) -> list | None:
    if not bounds:
        return None
    out = []
    for f in features:
        lo, hi = bounds.get(f, (-math.inf, math.inf))
        if not lo < hi:
            raise ConfigError(f"The bounds of {f!r} must satisfy lo < hi. Got ({lo!r}, {hi!r}) instead.")
        out.append([float(max(lo, -1e300)), float(min(hi, 1e300))])
    return out


def next_request(request: dict, replies: list[dict]) -> dict:
    """Combine the sites' replies to ``request`` into the next request (``round == "done"`` at the end)."""
    rnd = request["round"]
    for r in replies:
        if r.get("protocol") != PROTOCOL or r.get("round") != rnd or r.get("iteration", 0) != request["iteration"]:
            raise ConfigError(f"A reply does not answer this {rnd} request (it says round {r.get('round')!r}, "
                              f"iteration {r.get('iteration')!r}).")
    if not replies:
        raise ConfigError("No site replies to combine.")
    spec = dict(request["spec"])
    nxt = {**request, "spec": spec}
    if rnd == "histograms":
        feats = spec["features"]
        imp_mask = np.array([c in BUYER_ONLY for c in feats])
        w = spec["bin_width"]
        hb = sum(_dense(r["histograms"]["buyers"], w) for r in replies)
        hn = sum(_dense(r["histograms"]["non_buyers"], w) for r in replies)
        impute = np.array([hist_quantile(hb[j], 0.5, w) if imp_mask[j] else 0.0 for j in range(len(feats))])
        q = spec["winsorize_quantile"]
        caps, lo = [], []
        rng_bins = [(0, n_bins(w) - 1)] * len(feats)
        if spec.get("bounds"):  # read only the bins inside the public bounds: fewer bins, less noise summed
            B = np.asarray(spec["bounds"], dtype=float)
            rng_bins = list(zip(_to_grid(B[:, 0], w).tolist(), _to_grid(B[:, 1], w).tolist()))
            impute = np.array([hist_quantile(hb[j, a:b + 1], 0.5, w, a) if imp_mask[j] else 0.0
                               for j, (a, b) in enumerate(rng_bins)])
        for j, (a, b) in enumerate(rng_bins):
            h = hb[j].copy()
            if imp_mask[j] and hb[j].sum() > 0:
                h[_to_grid(np.array([impute[j]]), w)[0]] += max(hn[j].sum(), 0.0)
            else:
                h += hn[j]
            h = h[a:b + 1]
            caps.append(hist_quantile(h, q, w, a) if q < 1 else 1e300)  # strict JSON has no Infinity
            lo.append(hist_quantile(h, 1 - q, w, a) if q < 1 else hist_quantile(h, 0.0, w, a))
        if spec.get("bounds"):
            caps = np.minimum(caps, B[:, 1]).tolist()
            lo = np.maximum(lo, B[:, 0]).tolist()
        spec.update(impute=impute.tolist(), caps=caps)
        blo, bhi = _transform_bounds(spec, np.array(lo), np.minimum(np.array(caps), np.finfo(float).max))
        spec.update(bounds_lo=blo.tolist(), bounds_hi=bhi.tolist())
        nxt["round"] = "moments"
    elif rnd == "moments":
        n = max(sum(r["n"] for r in replies), 1.0)
        s = sum(np.asarray(r["sum"]) for r in replies)
        ss = sum(np.asarray(r["sum_sq"]) for r in replies)
        mean = s / n
        std = np.sqrt(np.clip(ss / n - mean ** 2, 0, None))
        spec.update(center=mean.tolist(), scale=np.where(std > 1e-12, std, 1.0).tolist(), n_customers=n)
        nxt["round"] = "seeds"
    elif rnd == "seeds":
        counts = np.concatenate([np.asarray(r["counts"], dtype=float) for r in replies])
        sums = np.vstack([np.asarray(r["sums"], dtype=float).reshape(-1, len(spec["features"])) for r in replies])
        keep = counts >= _min_count(replies, per_cluster=True)
        if not keep.any():
            raise ConfigError("No site shared a local cluster large enough to seed from.",
                              hint="Lower min_count or local_clusters, or add noise with a larger epsilon.")
        C, w = sums[keep] / counts[keep, None], counts[keep]
        k = min(spec["n_clusters"], len(C))
        with threadpool_limits(1):
            km = KMeans(n_clusters=k, random_state=spec["random_state"], n_init=10).fit(C, sample_weight=w)
        spec.update(centroids=km.cluster_centers_.tolist())
        nxt.update(round="step", iteration=1)
    elif rnd == "step":
        C = np.asarray(spec["centroids"], dtype=float)
        counts = sum(np.asarray(r["counts"], dtype=float) for r in replies)
        sums = sum(np.asarray(r["sums"], dtype=float).reshape(C.shape) for r in replies)
        ok = counts >= _min_count(replies)
        new = C.copy()
        new[ok] = sums[ok] / counts[ok, None]
        clip = [r["clip"] for r in replies if "clip" in r]
        if clip:  # sites clipped their scaled values: a centroid outside is noise
            new = np.clip(new, -max(clip), max(clip))
        shift = float(((new - C) ** 2).sum())
        inertia = [r.get("inertia") for r in replies]
        spec.update(centroids=new.tolist(), counts=counts.tolist(), shift=shift,
                    inertia=None if None in inertia else float(sum(inertia)))
        done = shift <= spec["tol"] * len(spec["features"]) or request["iteration"] >= request["max_iter"]
        nxt.update(round="done" if done else "step", iteration=request["iteration"] + (0 if done else 1))
    else:
        raise ConfigError(f"Nothing follows round {rnd!r}.")
    return json.loads(json.dumps(nxt))


def _min_count(replies: list[dict], per_cluster: bool = False) -> float:
    """The smallest (noisy) count trusted as a cluster: 1, or 3 noise standard deviations."""
    sd = [r.get("count_sd", 0.0) for r in replies]
    # seeds: each local cluster carries one site's noise; a step's count sums every site's
    return max(1.0, 3 * (max(sd) if per_cluster else math.sqrt(sum(x * x for x in sd))))


def model_from_request(request: dict) -> BehaviourClusters:
    """The fitted :class:`BehaviourClusters` a ``done`` request describes (ids 1.. by decreasing size)."""
    if request.get("round") != "done":
        raise ConfigError(f"The exchange is not finished (round {request.get('round')!r}); run more rounds.")
    spec = request["spec"]
    m = _estimator(spec, "scaled")
    C = np.asarray(spec["centroids"], dtype=float)
    sizes = np.asarray(spec["counts"], dtype=float)
    order = sorted(range(len(C)), key=lambda j: (-sizes[j], tuple(np.round(C[j], 9))))
    m.cluster_centers_ = C[order]
    m.cluster_ids_ = np.arange(1, len(C) + 1)
    m.n_clusters_ = len(C)
    m.elbow_k_ = len(C)
    m.k_curve_ = pd.DataFrame({"k": [len(C)], "inertia": [spec.get("inertia") or np.nan], "silhouette": [np.nan]})
    m.labels_ = np.zeros(0, dtype=np.int64)  # the coordinator holds no rows
    return m


class Coordinator:
    """Runs the exchange in one process: ``Coordinator(n_clusters=5, features=[...]).fit(sites)``.

    Learned attributes: ``model_`` (a fitted :class:`BehaviourClusters` every
    site can ``predict`` with), ``sizes_`` (customers per cluster id, summed
    over sites), ``n_rounds_``, ``messages_`` (every request and reply, as JSON
    dicts, in order: what was exchanged and nothing else).
    """

    def __init__(self, n_clusters: int, features=None, winsorize_quantile: float = 0.99,
                 local_clusters: int | None = None, max_iter: int = 100, tol: float = 1e-6,
                 bin_width: float = BIN_WIDTH, bounds: dict | None = None, random_state: int = 0):
        self.n_clusters = n_clusters
        self.features = features
        self.winsorize_quantile = winsorize_quantile
        self.local_clusters = local_clusters
        self.max_iter = max_iter
        self.tol = tol
        self.bin_width = bin_width
        self.bounds = bounds
        self.random_state = random_state

    def fit(self, sites: list[Site]) -> Coordinator:
        from .segment.cluster import DEFAULT_FEATURES
        feats = list(self.features or DEFAULT_FEATURES)
        req = first_request(feats, self.n_clusters, winsorize_quantile=self.winsorize_quantile,
                            local_clusters=self.local_clusters, max_iter=self.max_iter, tol=self.tol,
                            bin_width=self.bin_width, bounds=self.bounds, random_state=self.random_state)
        self.messages_ = [req]
        while req["round"] != "done":
            replies = [s.answer(req) for s in sites]
            self.messages_ += replies
            req = next_request(req, replies)
            self.messages_.append(req)
        self.request_ = req
        self.model_ = model_from_request(req)
        sizes = np.asarray(req["spec"]["counts"], dtype=float)
        self.sizes_ = np.sort(sizes)[::-1]
        self.n_rounds_ = sum(1 for m in self.messages_ if "site" not in m) - 1
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Cluster ids for a site's own customers (run at the site)."""
        return self.model_.predict(features)


__all__ = ["Coordinator", "Privacy", "Site", "first_request", "hist_quantile", "model_from_request", "next_request"]
