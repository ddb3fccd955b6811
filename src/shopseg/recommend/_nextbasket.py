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
share); the repeat term's own evidence is ``(1 - phi) x TIFU vector + phi x buy-again`` (the
personal top-frequency score: purchase days + 1 / (1 + days since the last), scaled per customer).  The mix is learned per shop on an inner time split (fit on purchases up to
``as_of - horizon_days``, target = every product each returning customer bought in the
``horizon_days`` up to ``as_of``): first ``nu``, the ranking of new products, on NDCG@10 of the new
part of the target alone (``nu = 0`` is the explore blend, so new products are ranked no worse
than by the blend on that split; ``nu > 0`` only when its gain over ``nu = 0`` there is above twice
its standard error, paired by customer: the neighbour search is the model's costliest part); then ``lam``, ``beta`` (exponent of the repurchase share),
``gamma``, ``w_new`` and ``phi`` by coordinate ascent on NDCG@10 of the whole target, started from
the default mix or from "buy it again" as a mix (``phi = 1``, ``lam = 1``, ``beta = gamma = w_new =
0``), whichever the split scores higher: where the shop's own backtest says buy-again wins (a shop
whose customers re-buy their most-bought product), the mix falls back to it, else it can only do
better on that split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, NotFittedError
from ..params import validate_params
from ._parameters import PARAMETER_CONSTRAINTS
from ._blend import SOURCE_NAMES, catalogue
from ._history import (History, _codes, _days, build_history, neighbour_vectors,  # noqa: F401 (re-exported)
                       purchases_from_workspace, release_arrow_memory)
from ._mix import (BUY_AGAIN_MIX, DEFAULT_MIX, LEARN_CHUNK, MIX_GRID, Components,  # noqa: F401 (re-exported)
                   components, components_neighbours, learn_mix, learn_tifu_alpha, ndcg_at_k, top_k)

from ._settled import settled_top

REC_KINDS = ("repeat", "new")
_SOURCES = np.asarray(["repeat", "tifu_knn", *SOURCE_NAMES], dtype=object)  # a recommendation's source, by index

NEW_REASONS = {
    "tifu_knn": "customers with baskets like yours buy this",
    "als": "customers who buy what you buy also buy this",
    "item_item": "customers who buy what you buy also buy this",
    "content": "similar to products you bought",
    "cross_sell": "often bought together with what you bought",
    "popularity": "popular with customers like you",
}


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

    Learned attributes: ``items_``, ``history_``, ``explore_``, ``mix_``, ``mix_ndcg_``, ``buy_again_ndcg_``
    (NDCG@10 of "buy it again" on the inner split), ``mix_source_`` ("inner split", "inner split: buy it
    again" when the personal top-frequency ranking won there, or "defaults (not backtested ...: why)"),
    ``tifu_alpha_``.
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
        validate_params({"within_decay": self.within_decay, "group_decay": self.group_decay},
                        PARAMETER_CONSTRAINTS, "recommend.", owner="NextBasketRecommender")
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
        self.buy_again_ndcg_ = None
        if self.learn_mix:
            self._learn(purchases, explore_factory)
        return self

    def _learn(self, purchases: pd.DataFrame, explore_factory) -> None:
        # masks and customer codes over the purchases, no copy of them: only the sampled customers'
        # rows are taken (a big shop's purchases are tens of millions of rows)
        dc, day = _days(purchases["day"])  # a categorical day: the masks per distinct day, then per row by code
        # the inner split's target window: horizon_days, at most half the history (as the CLV's window), so a
        # shop of 89 days (Online Retail's last 90) is backtested on its last 44 instead of not at all
        span = int((self.as_of_.floor("D") - pd.Timestamp(day.min())) / pd.Timedelta(days=1)) if len(day) else 0
        h = min(int(self.horizon_days), span // 2)
        if h < 7:
            self.mix_source_ = (f"defaults (not backtested against buy it again: {span} days of history, too short "
                                "for an inner split of 7 days or more)")
            return
        inner_at = self.as_of_.floor("D") - pd.Timedelta(days=h)
        pre = day <= inner_at.to_datetime64()
        post = (day > inner_at.to_datetime64()) & (day <= self.as_of_.to_datetime64())
        if dc is not None:
            pre, post = np.r_[pre, False][dc], np.r_[post, False][dc]
        del day, dc
        codes, names = _codes(purchases["customer_id"])
        names = names.astype(object)
        # customers with purchases before / after the split: counts per code, no sort of the rows' codes
        seen = [np.bincount(codes[m & (codes >= 0)], minlength=len(names)) > 0 for m in (pre, post)]
        known = names[seen[0]]
        cust = np.sort(names[seen[0] & seen[1]])
        del seen
        if len(cust) < 20:
            self.mix_source_ = (f"defaults (not backtested against buy it again: {len(cust)} customer(s) bought both "
                                f"before and in the inner split's last {h} days; needs 20)")
            return
        rng = np.random.default_rng(self.random_state)
        if len(cust) > self.mix_customers:
            cust = np.sort(rng.choice(cust, self.mix_customers, replace=False))
        def of(ids, codes=codes):  # customer code -1 (missing) takes the appended False
            return np.r_[pd.Index(names).isin(ids), False][codes]  # hashed: np.isin sorts objects

        if len(known) > self.neighbour_pool:  # a big shop: the inner split on the sampled customers and others
            others = known[~pd.Index(known).isin(cust)]
            keep = np.r_[cust, rng.choice(np.sort(others), max(self.neighbour_pool - len(cust), 0), replace=False)]
            before = purchases[pre & of(keep)]
        else:
            before = purchases[pre]
        after = purchases[post & of(cust)]
        del pre, post, codes, of
        inner = self._history(before, inner_at)
        ex = explore_factory(before, inner_at, inner) if explore_factory is not None else None
        del before
        release_arrow_memory()
        rows = inner.rows(cust)
        # in chunks, keeping only what the search needs: bounds the peak memory of a big shop
        comp = Components.stack([components(inner, ex, cust[lo:lo + LEARN_CHUNK], rows[lo:lo + LEARN_CHUNK],
                                            neighbours=self.neighbours).for_learning()
                                 for lo in range(0, len(cust), LEARN_CHUNK)])
        rel = relevance_matrix(after, cust, self.items_)
        mask = self.recommendable_
        self.mix_, self.mix_ndcg_, self.buy_again_ndcg_ = learn_mix(comp, self._rebuy(inner), rel, mask)
        self.tifu_alpha_, _ = learn_tifu_alpha(comp, rel, mask)
        won = all(self.mix_[k] == v for k, v in BUY_AGAIN_MIX.items())
        self.mix_source_ = "inner split: buy it again" if won else "inner split"
        self.inner_split_ = {"as_of": inner_at, "customers": len(cust), "days": h}

    def _rebuy(self, hist: History) -> np.ndarray:
        return np.where(self.no_repeat_, 0.0, hist.rebuy_share)

    # -- scoring ---------------------------------------------------------------------------------
    def iter_components(self, customer_ids, chunk_size: int = 500, neighbours: bool | None = None,
                        settled_at: int | None = None, unsettled: bool = False):
        """(lo, hi, Components) over chunks of ``customer_ids``.  ``neighbours``: search the neighbours
        (default: when the learned mix gives them weight, ``w_new x nu > 0``; else they are zeros,
        which leaves the scores as they are).  ``settled_at=k``: search the neighbours and score the
        explore blend only for the customers whose top ``k`` they can change (the others' stay zeros):
        both terms are 0 on bought products and at most ``w_new`` together on the others, so a customer
        whose ``k``-th best repeat term is above ``w_new`` has a top ``k`` of repeats whatever they are.
        ``unsettled``: the caller found none of ``customer_ids`` settled (:func:`._settled.settled_top`), so
        every term is computed for all of them without that test (for a settled customer it would change
        nothing anyway: the other terms cannot enter their top ``k``)."""
        if not hasattr(self, "items_"):
            raise NotFittedError("NextBasketRecommender is not fitted yet: call fit(...) first.")
        cust = pd.Series(pd.unique(pd.Series(list(customer_ids), dtype=object).astype(str)))
        rows = self.history_.rows(cust)
        if neighbours is None:
            neighbours = self.mix_["w_new"] * self.mix_["nu"] > 0
        # unsettled: every term for every customer, as without settling, but the explore blend scored chunk by
        # chunk (its cross-sell rules for all the customers at once would be one big frame)
        per_chunk = unsettled and settled_at is not None
        settle = settled_at is not None and not unsettled
        ex_iter = self.explore_.iter_scores(cust, chunk_size=chunk_size) \
            if self.explore_ is not None and settled_at is None else None
        for lo in range(0, len(cust), chunk_size):
            hi = min(lo + chunk_size, len(cust))
            ex = None
            if ex_iter is not None:
                _, _, total, src = next(ex_iter)
                ex = (total, src)
            elif per_chunk and self.explore_ is not None:
                (_, _, total, src), = self.explore_.iter_scores(cust.iloc[lo:hi], chunk_size=hi - lo)
                ex = (total, src)
            elif settle:  # filled below for the unsettled customers only
                ex = (np.zeros((hi - lo, len(self.items_))), _no_source)
            r = rows[lo:hi]
            comp = components(self.history_, None, cust.iloc[lo:hi], r,
                              neighbours=self.neighbours if neighbours and not settle else 0, explore_scores=ex,
                              pool=self.pool_)
            if settle:
                need = self._unsettled(comp, settled_at) | (r < 0)
                if need.any() and self.explore_ is not None:
                    (_, _, total, src), = self.explore_.iter_scores(cust.iloc[lo:hi][need], chunk_size=int(need.sum()))
                    comp.set_explore(need, total, src)
                if neighbours and (need & (r >= 0)).any():
                    comp.set_neighbours(components_neighbours(self.history_, np.where(need, r, -1), self.neighbours,
                                                              self.pool_))
            yield lo, hi, comp

    def _unsettled(self, comp: Components, k: int) -> np.ndarray:
        """Customers of the chunk whose top ``k`` new products can enter (see :meth:`iter_components`)."""
        rep = comp._repeat(self._rebuy(self.history_), self.mix_)
        rep[~(comp.bought & self.recommendable_[None, :] & ~self.no_repeat_[None, :])] = -np.inf
        if rep.shape[1] < k:
            return np.ones(len(rep), bool)
        kth = np.partition(rep, rep.shape[1] - k, axis=1)[:, rep.shape[1] - k]
        return ~(kth > self.mix_["w_new"] + 1e-6)  # float32 rounding and the 1e-9 popularity tie-break

    def scores(self, comp: Components) -> np.ndarray:
        """The mixed scores of a chunk (float64: the popularity tie-break is below float32's precision)."""
        s = comp.mix(self._rebuy(self.history_), self.mix_).astype(np.float64)
        s += 1e-9 * (self.history_.n_buyers / max(self.history_.n_buyers.max(), 1))
        s[:, ~self.recommendable_] = -np.inf
        if self.no_repeat_.any():
            s[comp.bought & self.no_repeat_[None, :]] = -np.inf  # explicit exclusions: never again once bought
        return s

    def _at(self, name: str, r: np.ndarray, tt: np.ndarray) -> np.ndarray:
        """The history's ``name`` at (history row ``r``, product ``tt``), 0 where absent or ``r`` is -1."""
        if not len(r):
            return np.zeros(0)
        v = np.asarray(getattr(self.history_, name)[np.maximum(r, 0), tt], dtype=float).ravel()
        return np.where(r >= 0, v, 0.0)

    def _frame(self, ids: np.ndarray, pos: np.ndarray, r: np.ndarray, tt: np.ndarray, vals: np.ndarray,
               src: np.ndarray, bought: np.ndarray, compact: bool = False) -> pd.DataFrame:
        """The recommendations at customers ``ids[pos]`` (history rows ``r``), products ``tt``: the columns
        :func:`reasons` reads besides the table's.  Due for reorder: a repeat whose cycle has elapsed
        but not three times over (lapsed), bought on two days or more by the customer, or a product
        most of whose buyers re-buy.  ``compact``: the ids, source and kind as categoricals (codes over
        ``ids``, the products, the sources and the two kinds): no string per row at millions of rows."""
        ratio, own = self._at("ratio", r, tt), self._at("own_cycle", r, tt)
        rebuy = self._rebuy(self.history_)[tt]
        due = bought & ((own > 0) | (rebuy >= 0.5)) & (ratio >= 1.0) & (ratio <= 3.0)
        if compact:
            def cat(codes, values):
                return pd.Categorical.from_codes(codes, pd.Index(values, dtype=object), validate=False)

            cols = {"customer_id": cat(pos, ids), "product_id": cat(tt, self.items_), "score": vals,
                    "source": cat(src, _SOURCES), "kind": cat(np.where(bought, 0, 1).astype(np.int8), REC_KINDS)}
        else:
            cols = {"customer_id": ids[pos], "product_id": self.items_[tt], "score": vals, "source": _SOURCES[src],
                    "kind": np.where(bought, "repeat", "new")}
        return pd.DataFrame({
            **cols, "is_due": due,
            "_since": np.maximum(self._at("last_age", r, tt) - 1, 0), "_own": own,
            "_days": self._at("n_days", r, tt), "_cycle": self.history_.cycle[tt], "_rebuy": rebuy})

    def recommend(self, customer_ids, *, top_n: int | None = None, chunk_size: int = 500,
                  settle: bool = True, with_reasons: bool = True) -> pd.DataFrame:
        """Top products per customer: customer_id, rank, product_id, score, source, kind, is_due (a repeat
        whose days since the last purchase reached its cycle), reason.  ``settle``: the customers whose
        top ``top_n`` are repeats whatever the neighbour and explore terms (see :meth:`iter_components`)
        are ranked on the history's sparse entries (:func:`._settled.settled_top`), the others on dense
        chunks with those terms computed; the same result as ``settle=False``, which computes every term
        for everyone.  ``with_reasons=False``: no reason column but the numbers it is made of
        (:data:`REASON_COLUMNS`, for :data:`REASON_SQL`), and the ids, source and kind as categoricals
        (the stage's path: millions of rows without a Python string each)."""
        if not hasattr(self, "items_"):
            raise NotFittedError("NextBasketRecommender is not fitted yet: call fit(...) first.")
        k = int(top_n or self.top_n)
        cust = pd.Series(pd.unique(pd.Series(list(customer_ids), dtype=object).astype(str)))
        ids = cust.to_numpy()
        rows = self.history_.rows(cust)
        # each part's (customer position, product, score, source, bought), by customer then rank
        parts = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool))]
        todo = np.arange(len(cust))
        if settle:
            done, pos, tt, vals = settled_top(self, rows, k)
            parts.append((pos, tt, vals, np.zeros(len(tt), np.int64), np.ones(len(tt), bool)))
            todo = np.flatnonzero(~done)
        for lo, hi, comp in self.iter_components(cust.iloc[todo], chunk_size, settled_at=k if settle else None,
                                                 unsettled=settle):
            top, vals = top_k(self.scores(comp), k)
            r = np.repeat(np.arange(hi - lo), top.shape[1]).reshape(top.shape)
            valid = np.isfinite(vals)
            rr, tt = r[valid], top[valid]
            w = comp.largest_term(self._rebuy(self.history_), self.mix_, rr, tt)
            src = np.where(w == 0, 0, np.where(w == 1, 1, 2 + comp.explore_src(rr, tt).astype(np.int64)))
            parts.append((todo[lo:hi][rr], tt, vals[valid], src, comp.bought[rr, tt]))
        at, tt, vals, src, bought = (np.concatenate(a) for a in zip(*parts))
        del parts
        # by customer in the order asked, then rank (each part is by customer then rank)
        order = np.argsort(at, kind="stable")
        at, tt, vals, src, bought = at[order], tt[order], vals[order], src[order], bought[order]
        del order
        out = self._frame(ids, at, rows[at], tt, vals, src, bought, compact=not with_reasons)
        i = np.arange(len(at))
        first = np.maximum.accumulate(np.where(np.r_[True, at[1:] != at[:-1]] if len(at) else [], i, 0))
        out.insert(1, "rank", (i - first + 1).astype("int64"))
        if not with_reasons:
            return out
        out["reason"] = reasons(out)
        return out.drop(columns=REASON_COLUMNS)


def _no_source(rr: np.ndarray, tt: np.ndarray) -> np.ndarray:
    return np.zeros(len(rr), np.int8)


def _days_sql(col: str) -> str:
    """SQL: "1 day", "12 days" (rounded half to even, as pandas)."""
    n = f"CAST(round_even({col}, 0) AS BIGINT)"
    return f"CAST({n} AS VARCHAR) || CASE WHEN {n} = 1 THEN ' day' ELSE ' days' END"


_NEW_SQL = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in NEW_REASONS.items())
# a sentence per recommendation, in SQL over the columns of NextBasketRecommender.recommend(reasons=False): the
# stage builds the table's strings in DuckDB (a Python str per row is gigabytes at 4 million rows).  Two purchase
# days make a gap, not a habit (Online Retail's 17850 bought on 1 and 2 Dec 2010: "every ~1 days; last 372 days
# ago" told the reader nothing true): said as what happened; few of a product's buyers re-buy it: no cycle
REASON_SQL = f"""CASE
    WHEN kind = 'repeat' AND _own > 0 AND _days >= 3
        THEN 'you buy this every ~' || {_days_sql('_own')} || '; last ' || {_days_sql('_since')} || ' ago'
    WHEN kind = 'repeat' AND _own > 0
        THEN 'you bought this twice, ' || {_days_sql('_own')} || ' apart; last ' || {_days_sql('_since')} || ' ago'
    WHEN kind = 'repeat' AND _rebuy >= 0.25
        THEN 'you bought this ' || {_days_sql('_since')} || ' ago; customers rebuy it every ~' || {_days_sql('_cycle')}
    WHEN kind = 'repeat' THEN 'you bought this ' || {_days_sql('_since')} || ' ago'
    ELSE CASE source {_NEW_SQL} ELSE 'customers with baskets like yours buy this' END END"""
REASON_COLUMNS = ["_since", "_own", "_days", "_cycle", "_rebuy"]
# REASON_SQL's input with kind and source as text (a categorical is an ENUM in DuckDB, which compares only
# with its own values)
AS_TEXT = "SELECT * REPLACE (CAST(kind AS VARCHAR) AS kind, CAST(source AS VARCHAR) AS source)"


def reasons(out: pd.DataFrame) -> pd.Series:
    """A sentence per recommendation: :data:`REASON_SQL` on ``out`` (in an in-memory DuckDB)."""
    import duckdb

    with duckdb.connect() as con:
        con.register("o", out[["kind", "source", *REASON_COLUMNS]].assign(_row=np.arange(len(out))))
        r = con.sql(f"SELECT {REASON_SQL} AS reason FROM ({AS_TEXT} FROM o) ORDER BY _row").fetchnumpy()["reason"]
    return pd.Series(np.asarray(r, dtype=object), index=out.index, dtype=object)
