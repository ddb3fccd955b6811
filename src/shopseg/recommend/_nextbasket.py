"""Next-basket recommendation: what each customer buys next, repeats included.

Three kinds of evidence, scored for every (customer, product) pair on dense chunks of customers:

* **personal repurchase** — the customer's time-decayed item frequency vector (the TIFU vector
  below), times the product's *repurchase share* (share of its buyers who bought it on two or
  more days, shrunk towards the shop's share with 5 pseudo-buyers: durable goods bought once by
  almost everyone are not pushed again), times a *due* factor ``lam + (1 - lam) x min(t / c, 1)``
  where ``t`` is the days since the customer last bought it and ``c`` the cycle: the customer's
  own mean interval between purchase days of the product when they bought it twice or more,
  else the product's median cycle over the shop's repeat buyers (the shop's median cycle when
  fewer than 3 customers re-bought it);
* **neighbours** — TIFU-KNN (Hu, He, Wang, Zhang, Liu & Lee, SIGIR 2020, "Modeling Personalized
  Item Frequency Information for Next-basket Recommendation"): each customer's baskets (purchase
  days) are split, from the most recent backwards, into groups of ``group_size`` baskets (the
  oldest group may hold fewer); a group's vector is the mean of its basket vectors weighted by
  ``within_decay ** (position from the group's end)``; the customer's vector is the mean of the
  group vectors weighted by ``group_decay ** (groups from the last)``.  The neighbour vector is
  the mean vector of the ``neighbours`` customers nearest in Euclidean distance (the customer
  excluded), searched among all customers up to ``neighbour_pool`` of them, else among a seeded
  sample of that many (the search is quadratic in the pool); TIFU-KNN predicts
  ``alpha x own + (1 - alpha) x neighbours``;
* **explore** — the blended explore recommender (:class:`Recommender`: ALS or item-item, content,
  cross-sell rules, segment popularity) for products the customer never bought.

Mix: ``score = (rho_u / mean rho) ** gamma x repeat + w_new x (nu x neighbours + (1 - nu) x explore)``
(each term scaled to [0, 1] per customer), with ``rho_u`` the customer's repeat share (share of
their purchases after their first basket that were products bought before, shrunk to the shop's
share).  The mix is learned per shop on an inner time split (fit on purchases up to
``as_of - horizon_days``, target = every product each returning customer bought in the
``horizon_days`` up to ``as_of``): first ``nu``, the ranking of new products, on NDCG@10 of the new
part of the target alone (``nu = 0`` is the explore blend, so new products are ranked no worse
than by the blend on that split); then ``lam``, ``beta`` (exponent of the repurchase share),
``gamma`` and ``w_new`` by coordinate ascent on NDCG@10 of the whole target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError, NotFittedError
from ._blend import catalogue
from ._history import (History, _select, build_history, neighbour_index,  # noqa: F401 (re-exported)
                       neighbour_vectors, purchases_from_workspace)

REC_KINDS = ("repeat", "new")
LEARN_CHUNK = 500  # customers per chunk of the inner split's components
# the mix's parameters and the values coordinate ascent tries for each
MIX_GRID = {
    "lam": (0.0, 0.25, 0.5, 1.0),
    "beta": (0.0, 0.5, 1.0),
    "gamma": (0.0, 0.5, 1.0),
    "w_new": (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0),
}
# share of the neighbours in the ranking of new products (the rest: explore), learned first, on the new part
NU_GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
DEFAULT_MIX = {"lam": 0.5, "beta": 1.0, "gamma": 0.0, "w_new": 0.1, "nu": 0.25}
TIFU_ALPHAS = (0.3, 0.5, 0.7, 0.9, 1.0)
NEW_REASONS = {
    "tifu_knn": "customers with baskets like yours buy this",
    "als": "customers who buy what you buy also buy this",
    "item_item": "customers who buy what you buy also buy this",
    "content": "similar to products you bought",
    "cross_sell": "often bought together with what you bought",
    "popularity": "popular with customers like you",
}


def _scale(m: np.ndarray, dtype=None) -> np.ndarray:
    """Each row divided by its max (0 on rows whose max is not positive), as ``dtype`` (default m's):
    one pass, the division done in m's precision then cast."""
    mx = m.max(axis=1, keepdims=True) if m.shape[1] else np.zeros((m.shape[0], 1))
    pos = mx > 0
    out = np.divide(m, np.where(pos, mx, 1.0), out=np.empty(m.shape, dtype or m.dtype), casting="same_kind")
    if not pos.all():
        out[~pos[:, 0]] = 0
    return out


@dataclass
class Components:
    """Dense per-chunk evidence for customers x products (see the module docstring)."""

    own: np.ndarray          # TIFU vector (raw)
    neighbours: np.ndarray   # neighbours' mean TIFU vector (raw)
    explore: np.ndarray      # explore blend, 0 on bought products
    explore_src: object      # (rr, tt) -> index into SOURCE_NAMES at those entries (see Recommender.iter_scores)
    bought: np.ndarray       # bool
    due: np.ndarray          # min(days since last / cycle, 1), 0 where not bought
    weight: np.ndarray       # customer's repeat share / shop's
    rows: np.ndarray = None  # the chunk's history rows (-1: unknown customer)
    hist: History = None     # for :meth:`at`: what is read at the recommended entries only

    def __post_init__(self):
        # float32: the mix is searched over these arrays dozens of times
        self.own_s, self.neighbours_s, self.explore_s = (_scale(m, np.float32) for m in
                                                         (self.own, self.neighbours, self.explore))
        self.due = self.due.astype(np.float32, copy=False)

    # the fields learn_mix and learn_tifu_alpha read
    LEARN_FIELDS = ("own", "neighbours", "bought", "weight", "due", "own_s", "neighbours_s", "explore_s")

    def for_learning(self) -> "Components":
        """This chunk with only :attr:`LEARN_FIELDS` (the others set to None)."""
        for f in ("explore", "explore_src", "hist"):
            setattr(self, f, None)
        return self

    @classmethod
    def stack(cls, parts: list) -> "Components":
        """The chunks ``parts`` (of :meth:`for_learning`) one above the other, fields of LEARN_FIELDS only."""
        if len(parts) == 1:
            return parts[0]
        out = cls.__new__(cls)
        for f in cls.__dataclass_fields__:
            setattr(out, f, None)
        for f in cls.LEARN_FIELDS:
            setattr(out, f, np.concatenate([getattr(p, f) for p in parts]))
            for p in parts:
                setattr(p, f, None)  # frees each chunk's copy as soon as it is stacked
        return out

    def at(self, name: str, rr: np.ndarray, tt: np.ndarray) -> np.ndarray:
        """The history's ``name`` (``last_age``, ``own_cycle``, ``ratio``) at entries (``rr``, ``tt``) of the
        chunk, 0 where absent or the customer unknown: read from the sparse rows, never made dense."""
        r = self.rows[rr]
        v = np.asarray(getattr(self.hist, name)[np.maximum(r, 0), tt], dtype=float).ravel()
        return np.where(r >= 0, v, 0.0)

    def _repeat(self, rebuy_share: np.ndarray, p: dict, rr=None, tt=None) -> np.ndarray:
        """The repeat term, float32, on every entry or at entries (``rr``, ``tt``) only."""
        f32 = np.float32
        if rr is None:
            w, own, reb, due = self.weight[:, None], self.own_s, rebuy_share[None, :], self.due
        else:
            w, own, reb, due = self.weight[rr], self.own_s[rr, tt], rebuy_share[tt], self.due[rr, tt]
        return (w ** p["gamma"]).astype(f32) * own * (reb ** p["beta"]).astype(f32) \
            * (f32(p["lam"]) + f32(1 - p["lam"]) * due)

    def mix(self, rebuy_share: np.ndarray, p: dict, cache: bool = False) -> np.ndarray:
        """The score (float32).  ``cache``: keep the repeat term for the next call with the same
        ``gamma``, ``beta`` and ``lam`` (the mix search varies one parameter at a time)."""
        f32 = np.float32
        key = (p["gamma"], p["beta"], p["lam"])
        cached = getattr(self, "_rep", None)
        if cache and cached is not None and cached[0] is rebuy_share and cached[1] == key:
            rep = cached[2]
        else:
            rep = self._repeat(rebuy_share, p)
            self._rep = (rebuy_share, key, rep) if cache else None
        total = np.multiply(f32(p["w_new"] * p["nu"]), self.neighbours_s)
        total += rep
        total += np.multiply(f32(p["w_new"] * (1 - p["nu"])), self.explore_s, out=rep if not cache else None)
        return total

    def largest_term(self, rebuy_share: np.ndarray, p: dict, rr: np.ndarray, tt: np.ndarray) -> np.ndarray:
        """Which term of the mix is largest at entries (``rr``, ``tt``): 0 repeat, 1 neighbours, 2 explore."""
        f32 = np.float32
        rep = self._repeat(rebuy_share, p, rr, tt)
        nb = f32(p["w_new"] * p["nu"]) * self.neighbours_s[rr, tt]
        ex = f32(p["w_new"] * (1 - p["nu"])) * self.explore_s[rr, tt]
        w = np.where(nb > ex, 1, 2).astype(np.int8)
        w[rep >= np.maximum(nb, ex)] = 0
        return w


def components(hist: History, explore, customer_ids, rows: np.ndarray, *, neighbours: int,
               explore_scores=None, pool: np.ndarray | None = None) -> Components:
    """Components for ``customer_ids`` (history rows ``rows``, -1 = unknown); ``neighbours=0``: no
    neighbour search (the neighbours' vectors are zeros: for a mix that gives them no weight)."""
    own = _select(hist.tifu, rows)
    if neighbours:
        key = None if pool is None else pool.tobytes()
        if key not in hist.nb_index:
            hist.nb_index.clear()
            hist.nb_index[key] = neighbour_index(hist.tifu, pool)
        nbv = neighbour_vectors(hist.tifu, rows, neighbours, pool, index=hist.nb_index[key])
    else:
        nbv = np.zeros(own.shape, np.float32)
    # last_age is 1 + days since the last purchase where bought, absent elsewhere
    bought = _select(hist.last_age, rows) > 0
    due = np.minimum(_select(hist.ratio, rows), 1.0, dtype=np.float32)
    share = np.where(rows >= 0, hist.repeat_share[np.maximum(rows, 0)], hist.shop_repeat_share)
    weight = share / hist.shop_repeat_share if hist.shop_repeat_share > 0 else np.ones(len(rows))
    if explore_scores is None:
        if explore is not None:
            (_, _, total, src), = list(explore.iter_scores(pd.Series(list(customer_ids), dtype=object),
                                                          chunk_size=max(len(rows), 1)))
        else:
            total, src = np.zeros_like(own), (lambda rr, tt: np.zeros(len(rr), np.int8))
    else:
        total, src = explore_scores
    ex = np.maximum(total, 0.0, out=total if total.dtype == np.float64 and total.flags.writeable else None)  # -inf -> 0
    np.copyto(ex, 0.0, where=bought)
    return Components(own=own, neighbours=nbv, explore=ex, explore_src=src, bought=bought, due=due,
                      weight=weight, rows=rows, hist=hist)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(column indices, values) of each row's ``k`` best scores, best first (ties: lower index)."""
    kk = min(k, scores.shape[1])
    top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    vals = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)


def ndcg_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k (binary relevance) over the rows with a relevant product."""
    has = relevant.any(axis=1)
    if not has.any():
        return 0.0
    return _ndcg_negated(np.negative(scores[has]), relevant[has], k)


def _ndcg_negated(neg: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """:func:`ndcg_at_k` of the scores ``-neg`` (``neg`` is overwritten) on rows that all have a relevant
    product: the same top ``k`` as :func:`top_k` (lower index first on ties), no copy of the scores."""
    kk = min(k, neg.shape[1])
    top = np.argpartition(neg, kk - 1, axis=1)[:, :kk]
    vals = np.take_along_axis(neg, top, axis=1)
    order = np.argsort(vals, axis=1, kind="stable")
    top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
    rel = np.take_along_axis(relevant, top, axis=1) & np.isfinite(vals)
    disc = 1 / np.log2(np.arange(2, kk + 2))
    idcg = np.cumsum(disc)[np.minimum(relevant.sum(axis=1), kk) - 1]
    return float(((rel * disc).sum(axis=1) / idcg).mean())


def learn_mix(comp: Components, rebuy_share: np.ndarray, relevant: np.ndarray, mask: np.ndarray, k: int = 10,
              sweeps: int = 2) -> tuple[dict, float]:
    """The mix maximising NDCG@k: first ``nu`` on the new part alone (the ranking of products the
    customer never bought, against the new part of the target), then coordinate ascent over
    :data:`MIX_GRID` on the whole target; ``mask``: recommendable products."""
    best = dict(DEFAULT_MIX)
    # the rows with a target, and the target on them, computed once for the dozens of mixes scored
    rel_new = relevant & ~comp.bought
    rows_all, rows_new = relevant.any(axis=1), rel_new.any(axis=1)
    rel_all, rel_new = relevant[rows_all], rel_new[rows_new]

    def score(p, new_only=False):
        s = comp.mix(rebuy_share, p, cache=True)  # a new array: negated in place below
        s[:, ~mask] = -np.inf
        if new_only:
            s[comp.bought] = -np.inf
        rows, rel = (rows_new, rel_new) if new_only else (rows_all, rel_all)
        if not rows.any():
            return 0.0
        s = s if rows.all() else s[rows]
        return _ndcg_negated(np.negative(s, out=s), rel, k)

    best["nu"] = max(NU_GRID, key=lambda v: (score({**best, "w_new": 1.0, "nu": v}, new_only=True), -v))

    best_v = score(best)
    for _ in range(sweeps):
        changed = False
        for name, values in MIX_GRID.items():
            for v in values:
                if v == best[name]:
                    continue
                cand = {**best, name: v}
                val = score(cand)
                if val > best_v + 1e-9:
                    best, best_v, changed = cand, val, True
        if not changed:
            break
    return best, best_v


def learn_tifu_alpha(comp: Components, relevant: np.ndarray, mask: np.ndarray, k: int = 10) -> tuple[float, float]:
    """TIFU-KNN's alpha (``alpha x own + (1 - alpha) x neighbours``) maximising NDCG@k."""
    best, best_v = 0.7, -1.0
    for a in TIFU_ALPHAS:
        s = a * comp.own + (1 - a) * comp.neighbours
        s[:, ~mask] = -np.inf
        v = ndcg_at_k(s, relevant, k)
        if v > best_v + 1e-12:
            best, best_v = a, v
    return best, best_v


def relevance_matrix(pairs: pd.DataFrame, customer_ids, items: np.ndarray) -> np.ndarray:
    """Dense bool customers x items: (customer_id, product_id) pairs present."""
    cpos = pd.Series(np.arange(len(customer_ids)), index=pd.Index(customer_ids, dtype=object))
    ipos = pd.Series(np.arange(len(items)), index=pd.Index(items, dtype=object))
    c = cpos.reindex(pairs["customer_id"].astype(str)).to_numpy()
    i = ipos.reindex(pairs["product_id"].astype(str)).to_numpy()
    ok = ~(np.isnan(c) | np.isnan(i))
    out = np.zeros((len(customer_ids), len(items)), bool)
    out[c[ok].astype(np.int64), i[ok].astype(np.int64)] = True
    return out


class NextBasketRecommender:
    """Next-basket recommender (see the module docstring): a scikit-learn-style estimator.

    ``fit(purchases, products, as_of, explore=..., explore_factory=...)``: ``purchases`` (customer_id,
    product_id, day); ``explore`` a fitted :class:`Recommender` on the same history (or None); with
    ``learn_mix`` the mix is learned on an inner split, for which ``explore_factory(inner_purchases,
    inner_as_of, inner_history)``
    returns an explore recommender fitted on the inner history (or None).

    Learned attributes: ``items_``, ``history_``, ``explore_``, ``mix_``, ``mix_ndcg_``, ``mix_source_``
    ("inner split" or "defaults"), ``tifu_alpha_``.
    """

    def __init__(self, top_n: int = 10, group_size: int = 7, within_decay: float = 0.9, group_decay: float = 0.7,
                 neighbours: int = 300, neighbour_pool: int = 5000, horizon_days: int = 90, learn_mix: bool = True,
                 mix_customers: int = 2000, never_repeat=(), random_state: int | None = 0):
        self.top_n = top_n
        self.group_size = group_size
        self.within_decay = within_decay
        self.group_decay = group_decay
        self.neighbours = neighbours
        self.neighbour_pool = neighbour_pool
        self.horizon_days = horizon_days
        self.learn_mix = learn_mix
        self.mix_customers = mix_customers
        self.never_repeat = never_repeat
        self.random_state = random_state

    def _check(self) -> None:
        for name, lo, hi in (("within_decay", 0, 1), ("group_decay", 0, 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo < v <= hi:
                raise ConfigError(f"The '{name}' parameter of NextBasketRecommender must be a number in (0, 1]. "
                                  f"Got {v!r} instead.")
        for name in ("top_n", "group_size", "neighbours", "neighbour_pool", "horizon_days", "mix_customers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"The '{name}' parameter of NextBasketRecommender must be an int in [1, inf). "
                                  f"Got {v!r} instead.")

    def _history(self, purchases, as_of) -> History:
        return build_history(purchases, self.items_, as_of, group_size=self.group_size,
                             within_decay=self.within_decay, group_decay=self.group_decay)

    def history(self, purchases: pd.DataFrame, products: pd.DataFrame, as_of) -> History:
        """The history :meth:`fit` builds, on the catalogue of ``products`` (to build it once and pass it
        to both the explore recommender and :meth:`fit`)."""
        self._check()
        return build_history(purchases, catalogue(products)[0]["product_id"].to_numpy(object), as_of,
                             group_size=self.group_size, within_decay=self.within_decay, group_decay=self.group_decay)

    def fit(self, purchases: pd.DataFrame, products: pd.DataFrame, as_of, *, explore=None,
            explore_factory=None, history: History | None = None) -> "NextBasketRecommender":
        self._check()
        prods, self.recommendable_ = catalogue(products)
        self.items_ = prods["product_id"].to_numpy(object)
        self.no_repeat_ = np.isin(self.items_, np.asarray([str(x) for x in self.never_repeat], dtype=object))
        if explore is not None and not np.array_equal(explore.items_, self.items_):
            raise ConfigError("The explore recommender was fitted on other products than the next-basket model.")
        self.as_of_ = pd.Timestamp(as_of)
        self.history_ = history if history is not None else self._history(purchases, as_of)
        n_u = len(self.history_.users)
        self.pool_ = None if n_u <= self.neighbour_pool else np.sort(
            np.random.default_rng(self.random_state).choice(n_u, self.neighbour_pool, replace=False))
        self.explore_ = explore
        self.mix_, self.mix_ndcg_, self.mix_source_, self.tifu_alpha_ = dict(DEFAULT_MIX), None, "defaults", 0.7
        if self.learn_mix:
            self._learn(purchases, explore_factory)
        return self

    def _learn(self, purchases: pd.DataFrame, explore_factory) -> None:
        inner_at = self.as_of_.floor("D") - pd.Timedelta(days=self.horizon_days)
        day = pd.to_datetime(purchases["day"])
        before = purchases[day <= inner_at]
        after = purchases[(day > inner_at) & (day <= self.as_of_)]
        known = pd.Index(before["customer_id"].astype(str).unique())
        cust = np.sort(np.asarray(known[known.isin(after["customer_id"].astype(str).unique())], dtype=object))
        if len(cust) < 20:
            return
        rng = np.random.default_rng(self.random_state)
        if len(cust) > self.mix_customers:
            cust = np.sort(rng.choice(cust, self.mix_customers, replace=False))
        if len(known) > self.neighbour_pool:  # a big shop: the inner split on the sampled customers and others
            others = np.asarray(known[~known.isin(cust)], dtype=object)
            keep = np.r_[cust, rng.choice(np.sort(others), max(self.neighbour_pool - len(cust), 0), replace=False)]
            before = before[before["customer_id"].astype(str).isin(keep)]
        after = after[after["customer_id"].astype(str).isin(cust)]
        inner = self._history(before, inner_at)
        ex = explore_factory(before, inner_at, inner) if explore_factory is not None else None
        del before, day
        rows = inner.rows(cust)
        # in chunks, keeping only what the search needs: bounds the peak memory of a big shop
        comp = Components.stack([components(inner, ex, cust[lo:lo + LEARN_CHUNK], rows[lo:lo + LEARN_CHUNK],
                                            neighbours=self.neighbours).for_learning()
                                 for lo in range(0, len(cust), LEARN_CHUNK)])
        rel = relevance_matrix(after, cust, self.items_)
        mask = self.recommendable_
        self.mix_, self.mix_ndcg_ = learn_mix(comp, self._rebuy(inner), rel, mask)
        self.tifu_alpha_, _ = learn_tifu_alpha(comp, rel, mask)
        self.mix_source_ = "inner split"
        self.inner_split_ = {"as_of": inner_at, "customers": len(cust)}

    def _rebuy(self, hist: History) -> np.ndarray:
        return np.where(self.no_repeat_, 0.0, hist.rebuy_share)

    # -- scoring ---------------------------------------------------------------------------------
    def iter_components(self, customer_ids, chunk_size: int = 500, neighbours: bool | None = None):
        """(lo, hi, Components) over chunks of ``customer_ids``.  ``neighbours``: search the neighbours
        (default: when the learned mix gives them weight, ``w_new x nu > 0``; else they are zeros,
        which leaves the scores as they are)."""
        if not hasattr(self, "items_"):
            raise NotFittedError("NextBasketRecommender is not fitted yet: call fit(...) first.")
        cust = pd.Series(pd.unique(pd.Series(list(customer_ids), dtype=object).astype(str)))
        rows = self.history_.rows(cust)
        if neighbours is None:
            neighbours = self.mix_["w_new"] * self.mix_["nu"] > 0
        ex_iter = self.explore_.iter_scores(cust, chunk_size=chunk_size) if self.explore_ is not None else None
        for lo in range(0, len(cust), chunk_size):
            hi = min(lo + chunk_size, len(cust))
            ex = None
            if ex_iter is not None:
                _, _, total, src = next(ex_iter)
                ex = (total, src)
            yield lo, hi, components(self.history_, None, cust.iloc[lo:hi], rows[lo:hi],
                                     neighbours=self.neighbours if neighbours else 0, explore_scores=ex,
                                     pool=self.pool_)

    def scores(self, comp: Components) -> np.ndarray:
        """The mixed scores of a chunk (float64: the popularity tie-break is below float32's precision)."""
        s = comp.mix(self._rebuy(self.history_), self.mix_).astype(np.float64)
        s += 1e-9 * (self.history_.n_buyers / max(self.history_.n_buyers.max(), 1))
        s[:, ~self.recommendable_] = -np.inf
        if self.no_repeat_.any():
            s[comp.bought & self.no_repeat_[None, :]] = -np.inf  # explicit exclusions: never again once bought
        return s

    def _is_due(self, comp: Components, rr: np.ndarray, tt: np.ndarray) -> np.ndarray:
        """Due for reorder: a repeat whose cycle has elapsed but not three times over (lapsed), bought
        on two days or more by the customer, or a product most of whose buyers re-buy."""
        ratio = comp.at("ratio", rr, tt)
        habit = (comp.at("own_cycle", rr, tt) > 0) | (self._rebuy(self.history_)[tt] >= 0.5)
        return comp.bought[rr, tt] & habit & (ratio >= 1.0) & (ratio <= 3.0)

    def recommend(self, customer_ids, *, top_n: int | None = None, chunk_size: int = 500) -> pd.DataFrame:
        """Top products per customer: customer_id, rank, product_id, score, source, kind, is_due (a repeat
        whose days since the last purchase reached its cycle), reason."""
        from ._blend import SOURCE_NAMES

        k = int(top_n or self.top_n)
        cust = pd.Series(pd.unique(pd.Series(list(customer_ids), dtype=object).astype(str)))
        parts = []
        src_names = np.asarray(["repeat", "tifu_knn", *SOURCE_NAMES], dtype=object)
        for lo, hi, comp in self.iter_components(cust, chunk_size):
            top, vals = top_k(self.scores(comp), k)
            r = np.repeat(np.arange(hi - lo), top.shape[1]).reshape(top.shape)
            valid = np.isfinite(vals)
            rr, tt = r[valid], top[valid]
            w = comp.largest_term(self._rebuy(self.history_), self.mix_, rr, tt)
            src = np.where(w == 0, 0, np.where(w == 1, 1, 2 + comp.explore_src(rr, tt).astype(np.int64)))
            bought = comp.bought[rr, tt]
            parts.append(pd.DataFrame({
                "customer_id": cust.to_numpy()[lo:hi][rr], "product_id": self.items_[tt], "score": vals[valid],
                "source": src_names[src],
                "kind": np.where(bought, "repeat", "new"), "is_due": self._is_due(comp, rr, tt),
                "_since": np.maximum(comp.at("last_age", rr, tt) - 1, 0),
                "_own": comp.at("own_cycle", rr, tt), "_cycle": self.history_.cycle[tt],
                "_rebuy": self._rebuy(self.history_)[tt]}))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["customer_id", "product_id", "score", "source", "kind", "is_due", "_since", "_own", "_cycle",
                     "_rebuy"])
        out.insert(1, "rank", out.groupby("customer_id", sort=False).cumcount().astype("int64") + 1)
        out["reason"] = reasons(out)
        return out.drop(columns=["_since", "_own", "_cycle", "_rebuy"])


def reasons(out: pd.DataFrame) -> pd.Series:
    """A sentence per recommendation (vectorised string building)."""
    since = out["_since"].round().astype("int64").astype(str)
    own = out["_own"].round().astype("int64").astype(str)
    cyc = out["_cycle"].round().astype("int64").astype(str)
    rep_own = "you buy this every ~" + own + " days; last " + since + " days ago"
    rep_once = "you bought this " + since + " days ago; customers rebuy it every ~" + cyc + " days"
    rep_rare = "you bought this " + since + " days ago"  # few of its buyers re-buy it: no cycle to speak of
    new = out["source"].map(NEW_REASONS).fillna("customers with baskets like yours buy this")
    is_rep = out["kind"] == "repeat"
    once = np.where(out["_rebuy"] >= 0.25, rep_once, rep_rare)
    return pd.Series(np.where(is_rep & (out["_own"] > 0), rep_own, np.where(is_rep, once, new)),
                     index=out.index, dtype=object)
