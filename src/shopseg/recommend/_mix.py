"""The mix of the next-basket model (see :mod:`._nextbasket`): the dense per-chunk evidence
(:class:`Components`), its scoring, and the search of the mix on an inner time split (NDCG@10)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._history import History, _select, neighbour_index, neighbour_vectors

LEARN_CHUNK = 500  # customers per chunk of the inner split's components
# the mix's parameters and the values coordinate ascent tries for each
MIX_GRID = {
    "lam": (0.0, 0.25, 0.5, 1.0),
    "beta": (0.0, 0.5, 1.0),
    "gamma": (0.0, 0.5, 1.0),
    "w_new": (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0),
    "phi": (0.0, 0.5, 1.0),
}
# share of the neighbours in the ranking of new products (the rest: explore), learned first, on the new part
NU_GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
NU_Z = 2.0  # nu > 0 only when its gain on the new part is this many standard errors above 0 (paired)
DEFAULT_MIX = {"lam": 0.5, "beta": 1.0, "gamma": 0.0, "w_new": 0.1, "nu": 0.25, "phi": 0.0}
# "buy it again" as a mix: the personal top-frequency ranking alone (phi 1: purchase days, the latest first on
# ties; no due factor, re-buy share or repeat-share weight; new products only after every bought one)
BUY_AGAIN_MIX = {"lam": 1.0, "beta": 0.0, "gamma": 0.0, "w_new": 0.0, "phi": 1.0}
TIFU_ALPHAS = (0.3, 0.5, 0.7, 0.9, 1.0)


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
    freq: np.ndarray         # "buy it again": purchase days + 1 / (1 + days since the last), 0 where not bought
    rows: np.ndarray = None  # the chunk's history rows (-1: unknown customer)
    hist: History = None     # the history the chunk was read from

    def __post_init__(self):
        # float32: the mix is searched over these arrays dozens of times
        self.own_s, self.explore_s = _scale(self.own, np.float32), _scale(self.explore, np.float32)
        self.set_neighbours(self.neighbours)
        self.due = self.due.astype(np.float32, copy=False)
        self.freq_s, self.freq = _scale(self.freq, np.float32), None

    def set_neighbours(self, nbv: np.ndarray) -> None:
        """The neighbours' mean vectors (raw, TIFU-KNN's) and their term of the mix: on the products the
        customer never bought only (as the explore term; bought ones are ranked by the repeat term)."""
        self.neighbours = nbv
        if nbv.any():
            self.neighbours_s = _scale(np.where(self.bought, np.float32(0), nbv), np.float32)
        else:  # not searched (zeros): what _scale gives, without its passes
            self.neighbours_s = np.zeros(nbv.shape, np.float32)

    def set_explore(self, rows: np.ndarray, total: np.ndarray, src) -> None:
        """The explore blend's scores ``total`` and source function ``src`` (of :meth:`Recommender.iter_scores`)
        for the chunk's ``rows`` (bool) only; the other rows keep theirs (zeros)."""
        ex = np.maximum(total, 0.0)
        ex[self.bought[rows]] = 0.0
        self.explore[rows] = ex
        self.explore_s[rows] = _scale(ex, np.float32)
        pos, others = np.cumsum(rows) - 1, self.explore_src

        def source_at(rr: np.ndarray, tt: np.ndarray) -> np.ndarray:
            out = np.asarray(others(rr, tt), np.int8).copy()
            m = rows[rr]
            if m.any():
                out[m] = src(pos[rr[m]], tt[m])
            return out

        self.explore_src = source_at

    # the fields learn_mix and learn_tifu_alpha read
    LEARN_FIELDS = ("own", "neighbours", "bought", "weight", "due", "own_s", "neighbours_s", "explore_s", "freq_s")

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

    def _repeat(self, rebuy_share: np.ndarray, p: dict, rr=None, tt=None) -> np.ndarray:
        """The repeat term, float32, on every entry or at entries (``rr``, ``tt``) only."""
        f32 = np.float32
        if rr is None:
            w, own, freq, reb, due = self.weight[:, None], self.own_s, self.freq_s, rebuy_share[None, :], self.due
        else:
            w, own, freq, reb, due = (self.weight[rr], self.own_s[rr, tt], self.freq_s[rr, tt], rebuy_share[tt],
                                      self.due[rr, tt])
        phi = p.get("phi", 0.0)  # the share of "buy it again" in the customer's own evidence
        if phi:
            own = freq if phi == 1 else f32(1 - phi) * own + f32(phi) * freq
        return (w ** p["gamma"]).astype(f32) * own * (reb ** p["beta"]).astype(f32) \
            * (f32(p["lam"]) + f32(1 - p["lam"]) * due)

    def mix(self, rebuy_share: np.ndarray, p: dict, cache: bool = False) -> np.ndarray:
        """The score (float32).  ``cache``: keep the repeat term for the next call with the same
        ``gamma``, ``beta``, ``lam`` and ``phi`` (the mix search varies one parameter at a time)."""
        f32 = np.float32
        key = (p["gamma"], p["beta"], p["lam"], p.get("phi", 0.0))
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
    nbv = components_neighbours(hist, rows, neighbours, pool) if neighbours else np.zeros(own.shape, np.float32)
    # last_age is 1 + days since the last purchase where bought, absent elsewhere
    last_age = _select(hist.last_age, rows)
    bought = last_age > 0
    # "buy it again" (evaluate_time_split's buy_again): purchase days, the latest first on ties
    freq = _select(hist.n_days, rows)
    np.add(freq, np.reciprocal(last_age + 1.0, out=last_age), out=freq, where=bought)
    del last_age
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
                      weight=weight, freq=freq, rows=rows, hist=hist)


def components_neighbours(hist: History, rows: np.ndarray, neighbours: int, pool: np.ndarray | None) -> np.ndarray:
    """:func:`neighbour_vectors` of history rows ``rows`` (-1: zeros), the candidates' index built once per pool."""
    key = None if pool is None else pool.tobytes()
    if key not in hist.nb_index:
        hist.nb_index.clear()
        hist.nb_index[key] = neighbour_index(hist.tifu, pool)
    return neighbour_vectors(hist.tifu, rows, neighbours, pool, index=hist.nb_index[key])


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(column indices, values) of each row's ``k`` best scores, best first (ties: lower index, also at
    the ``k``-th place: ``argpartition`` alone picks among equal scores in no stated order)."""
    kk = min(k, scores.shape[1])
    if kk < 1:
        return np.zeros((len(scores), 0), np.int64), np.zeros((len(scores), 0), scores.dtype)
    top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    vals = np.take_along_axis(scores, top, axis=1)
    kth = vals.min(axis=1)
    # rows with another score equal to the k-th outside the partition: ranked whole (rare, stable)
    tied = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > kk)
    if len(tied):
        top[tied] = np.argsort(-scores[tied], axis=1, kind="stable")[:, :kk]
        vals[tied] = np.take_along_axis(scores[tied], top[tied], axis=1)
    by_index = np.argsort(top, axis=1)  # lower index first among equal scores, then best first
    top, vals = np.take_along_axis(top, by_index, axis=1), np.take_along_axis(vals, by_index, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)


def ndcg_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k (binary relevance) over the rows with a relevant product."""
    has = relevant.any(axis=1)
    if not has.any():
        return 0.0
    return _ndcg_negated(np.negative(scores[has]), relevant[has], k)


def _ndcg_negated(neg: np.ndarray, relevant: np.ndarray, k: int, per_row: bool = False):
    """:func:`ndcg_at_k` of the scores ``-neg`` (``neg`` is overwritten) on rows that all have a relevant
    product: the same top ``k`` as :func:`top_k` (lower index first on ties), no copy of the scores;
    ``per_row``: each row's NDCG@k instead of their mean."""
    kk = min(k, neg.shape[1])
    top = np.argpartition(neg, kk - 1, axis=1)[:, :kk]
    vals = np.take_along_axis(neg, top, axis=1)
    order = np.argsort(vals, axis=1, kind="stable")
    top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
    rel = np.take_along_axis(relevant, top, axis=1) & np.isfinite(vals)
    disc = 1 / np.log2(np.arange(2, kk + 2))
    idcg = np.cumsum(disc)[np.minimum(relevant.sum(axis=1), kk) - 1]
    rows = (rel * disc).sum(axis=1) / idcg
    return rows if per_row else float(rows.mean())


def _clearly_better(a: np.ndarray, b: np.ndarray) -> bool:
    """Per-customer NDCG ``a`` beats ``b`` on the same customers by more than :data:`NU_Z` standard errors
    of the mean paired difference: the neighbours must earn their search (a pass over the pool per
    customer) by a gain that is not noise of the inner split's sample."""
    d = a - b
    if len(d) < 2:
        return False
    return bool(d.mean() > NU_Z * d.std(ddof=1) / np.sqrt(len(d)))


def learn_mix(comp: Components, rebuy_share: np.ndarray, relevant: np.ndarray, mask: np.ndarray, k: int = 10,
              sweeps: int = 2) -> tuple[dict, float, float]:
    """The mix maximising NDCG@k, its NDCG@k and "buy it again"'s: first ``nu`` on the new part alone
    (the ranking of products the customer never bought, against the new part of the target), then
    coordinate ascent over :data:`MIX_GRID` on the whole target, from :data:`DEFAULT_MIX` or from
    :data:`BUY_AGAIN_MIX` (the personal top-frequency ranking), whichever scores higher: the learned
    mix is never below "buy it again" on the split; ``mask``: recommendable products."""
    best = dict(DEFAULT_MIX)
    # the rows with a target, and the target on them, computed once for the dozens of mixes scored
    rel_new = relevant & ~comp.bought
    rows_all, rows_new = relevant.any(axis=1), rel_new.any(axis=1)
    rel_all, rel_new = relevant[rows_all], rel_new[rows_new]

    def score(p, new_only=False, per_row=False):
        s = comp.mix(rebuy_share, p, cache=True)  # a new array: negated in place below
        s[:, ~mask] = -np.inf
        if new_only:
            s[comp.bought] = -np.inf
        rows, rel = (rows_new, rel_new) if new_only else (rows_all, rel_all)
        if not rows.any():
            return np.zeros(0) if per_row else 0.0
        s = s if rows.all() else s[rows]
        return _ndcg_negated(np.negative(s, out=s), rel, k, per_row)

    new_part = {v: score({**best, "w_new": 1.0, "nu": v}, new_only=True, per_row=True) for v in NU_GRID}
    nu = max(NU_GRID, key=lambda v: (new_part[v].mean() if len(new_part[v]) else 0.0, -v))
    best["nu"] = nu if _clearly_better(new_part[nu], new_part[0.0]) else 0.0

    best_v = score(best)
    buy_again = {**best, **BUY_AGAIN_MIX}
    buy_again_v = score(buy_again)
    if buy_again_v > best_v + 1e-9:
        best, best_v = buy_again, buy_again_v
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
    return best, best_v, buy_again_v


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
