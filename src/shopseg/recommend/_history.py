"""The purchase history the next-basket model reads (see :mod:`._nextbasket`): per customer and
product the purchase days, the last purchase, the own and the product's cycle, the TIFU vectors
(Hu et al., SIGIR 2020) and the nearest-neighbour search over them; built with integer keys and
sorts, no per-row Python."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse


def purchases_from_workspace(ws, as_of, start=None, *, categorical: bool = False) -> pd.DataFrame:
    """(customer_id, product_id, day): merchandise bought in sale orders in (start, as_of], one row
    per customer, product and purchase day (a customer's orders of one day are one basket), sorted.
    ``categorical``: the ids as pandas categoricals (int32 codes and one string per distinct id) in no
    particular order: a fraction of the memory and time at tens of millions of rows."""
    extra = "AND o.ordered_at > CAST(? AS TIMESTAMP)" if start is not None else ""
    params = [as_of] + ([start] if start is not None else [])
    if categorical:
        return _coded_purchases(ws.con, extra, params)
    # fetched through Arrow: the string columns stay Arrow buffers (DuckDB's pandas conversion makes
    # a Python str per row and cell first: at 40M rows, 6 GB more at the peak, and twice the time)
    table = ws.con.sql(f"""
        SELECT CAST(o.customer_id AS VARCHAR) AS customer_id, CAST(ol.product_id AS VARCHAR) AS product_id,
               CAST(CAST(o.ordered_at AS DATE) AS TIMESTAMP) AS day
        FROM orders o JOIN order_lines ol ON ol.order_id = o.order_id
        LEFT JOIN products p ON p.product_id = ol.product_id
        WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL AND coalesce(p.is_merchandise, TRUE)
          AND o.ordered_at <= CAST(? AS TIMESTAMP) {extra}
        GROUP BY ALL ORDER BY 1, 3, 2""", params=params).to_arrow_table()
    return table.to_pandas()


def _coded_purchases(con, extra: str, params: list) -> pd.DataFrame:
    """The purchases with the ids as categoricals whose codes DuckDB computes: each distinct customer and
    product id numbered once in a temporary table, the purchases grouped and returned as int32 codes (no
    string column crosses to Python but the dictionaries; at x100 Online Retail the string fetch and its
    dictionary encoding were a third of the stage's fetch)."""
    where = f"o.kind = 'sale' AND o.customer_id IS NOT NULL AND o.ordered_at <= CAST(? AS TIMESTAMP) {extra}"
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _rec_customers AS
            SELECT customer_id, CAST(row_number() OVER () - 1 AS INTEGER) AS code
            FROM (SELECT DISTINCT CAST(o.customer_id AS VARCHAR) AS customer_id FROM orders o WHERE {where})""",
                    params)
        con.execute("""CREATE OR REPLACE TEMP TABLE _rec_products AS
            SELECT product_id, CAST(row_number() OVER () - 1 AS INTEGER) AS code
            FROM (SELECT DISTINCT CAST(product_id AS VARCHAR) AS product_id FROM order_lines)""")
        t = con.execute(f"""
            SELECT c.code AS customer_id, pc.code AS product_id, CAST(CAST(o.ordered_at AS DATE) AS TIMESTAMP) AS day
            FROM orders o JOIN order_lines ol ON ol.order_id = o.order_id
            JOIN _rec_customers c ON c.customer_id = CAST(o.customer_id AS VARCHAR)
            JOIN _rec_products pc ON pc.product_id = CAST(ol.product_id AS VARCHAR)
            LEFT JOIN products p ON p.product_id = ol.product_id
            WHERE {where} AND coalesce(p.is_merchandise, TRUE)
            GROUP BY ALL""", params).fetchnumpy()
        names = {k: np.asarray(con.execute(f"SELECT {k}_id FROM _rec_{k}s ORDER BY code").fetchnumpy()[f"{k}_id"],
                               dtype=object) for k in ("customer", "product")}
    finally:
        con.execute("DROP TABLE IF EXISTS _rec_customers; DROP TABLE IF EXISTS _rec_products")
    return pd.DataFrame({k: pd.Categorical.from_codes(np.asarray(t[k], np.int32), pd.Index(names[k[:-3]]))
                         for k in ("customer_id", "product_id")} | {"day": np.asarray(t["day"])})


def release_arrow_memory() -> None:
    """Hand Arrow's freed buffers back to the system: its allocator (mimalloc) keeps them for reuse,
    and the purchases' Arrow string columns filtered by rows leave hundreds of MB there at scale."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _day(as_of) -> np.datetime64:
    return np.datetime64(pd.Timestamp(as_of).floor("D").date(), "D")


@dataclass
class History:
    """Per-customer purchase history on the item axis ``items`` (see :func:`build_history`)."""

    users: np.ndarray            # customer ids (object), sorted
    user_pos: pd.Series          # customer id -> row
    n_days: sparse.csr_matrix    # purchase days of the product
    last_age: sparse.csr_matrix  # 1 + days from the last purchase to as_of
    own_cycle: sparse.csr_matrix  # mean days between purchase days (bought on 2+ days), else absent
    ratio: sparse.csr_matrix     # days since the last purchase / cycle (own, else the product's), where bought
    tifu: sparse.csr_matrix      # TIFU vectors
    repeat_share: np.ndarray     # per customer, shrunk towards the shop's share
    shop_repeat_share: float
    n_buyers: np.ndarray         # per product
    rebuy_share: np.ndarray      # per product, shrunk
    cycle: np.ndarray            # per product, days
    nb_index: dict = field(default_factory=dict, repr=False)  # neighbour_index per pool, built on first use

    def rows(self, customer_ids) -> np.ndarray:
        return self.user_pos.reindex(pd.Index(customer_ids, dtype=object)).fillna(-1).astype(np.int64).to_numpy()


def _select(m: sparse.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Dense rows of ``m`` (zeros where ``rows`` is -1)."""
    out = m[np.where(rows >= 0, rows, 0)].toarray()
    out[rows < 0] = 0
    return out


def build_history(purchases: pd.DataFrame, items: np.ndarray, as_of, *, group_size: int = 7,
                  within_decay: float = 0.9, group_decay: float = 0.7, prior_weight: float = 5.0) -> History:
    """Every per-customer and per-product statistic the next-basket model uses, vectorised.

    ``purchases``: customer_id, product_id, day (one row per customer, product and day; rows after
    ``as_of`` or of products outside ``items`` are ignored).

    >>> p = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "product_id": ["x", "x", "y", "x"],
    ...                   "day": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-11", "2024-01-05"])})
    >>> h = build_history(p, np.array(["x", "y"], dtype=object), "2024-01-21", group_size=1, group_decay=0.5)
    >>> h.tifu.toarray().round(3).tolist()   # a: (0.5 x [1, 0] + 1 x [1, 1]) / 2 groups; b: one basket
    [[0.75, 0.5], [1.0, 0.0]]
    >>> h.own_cycle.toarray().tolist(), h.last_age.toarray().tolist()   # a: x every 10 days; 1 + days since
    ([[10.0, 0.0], [0.0, 0.0]], [[11.0, 11.0], [17.0, 0.0]])
    """
    day0 = _day(as_of)
    p = purchases[["customer_id", "product_id", "day"]]
    # hash-based look-ups (no Python iteration over the string columns): the product column is
    # factorised (a dictionary encoding for Arrow strings), only its distinct values looked up.
    # Per-row work arrays are int32 and freed as soon as they are folded into one int64 sort key
    # (a big shop's history is tens of millions of rows: the stage's memory is these arrays)
    codes, uniq = pd.factorize(p["product_id"])
    at = pd.Index(items, dtype=object).get_indexer(np.asarray(uniq, dtype=object).astype(str))
    i = np.r_[at, -1].astype(np.int32)[codes]  # code -1 (missing) takes the appended -1
    del codes, uniq, at
    age = (day0 - pd.to_datetime(p["day"]).to_numpy().astype("datetime64[D]")).astype(np.int32)
    # customers: factorised whole, then the ones kept sorted by id (no copy of the string column)
    cc, cuniq = pd.factorize(p["customer_id"])
    keep = (age >= 0) & (i >= 0) & (cc >= 0)
    cc = cc[keep]
    used = np.flatnonzero(np.bincount(cc, minlength=len(cuniq)))  # np.unique's sorted answer, without its sort
    names = np.asarray(cuniq, dtype=object)[used].astype(str)
    del cuniq
    order = np.argsort(names, kind="stable")
    users = names[order].astype(object)
    remap = np.zeros(len(used) and int(used[-1]) + 1, np.int64)
    remap[used[order]] = np.arange(len(used))
    n_u, n_i = len(users), len(items)
    shape = (n_u, n_i)
    i, age = i[keep], age[keep]
    del keep, names, order, used
    span = int(age.max()) + 1 if len(age) else 1
    # distinct (customer, day, product) as one sorted int64 key: baskets (customer, day) are runs,
    # sorted by customer then age (position 0 = the latest basket); u, age, i read back from it
    # integer arithmetic in place and int32 wherever the values fit (a few arrays of tens of millions
    # of rows are the stage's peak at x100): the same values as the plain expressions
    key = remap[cc]
    del cc, remap
    key *= span
    key += age
    key *= n_i
    key += i
    del i, age
    key.sort()
    key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
    ua = key // n_i
    i = (key % n_i).astype(np.int32)
    del key
    u = (ua // span).astype(np.int32)
    age = (ua % span).astype(np.int32)
    new_b = np.r_[True, ua[1:] != ua[:-1]] if len(ua) else np.zeros(0, bool)
    del ua
    b_of = np.cumsum(new_b, dtype=np.int64)
    n_b = np.bincount(u[new_b], minlength=n_u)
    del new_b
    # position of each purchase's basket among its customer's, 0 = the latest (fits int32: baskets per customer)
    b_of -= 1
    b_of -= (np.cumsum(n_b) - n_b)[u]
    pos = b_of.astype(np.int32)
    del b_of
    g = pos // np.int32(group_size)
    q = pos - g * np.int32(group_size)
    nb_u = n_b.astype(np.int32)[u]
    n_groups = -(-nb_u // np.int32(group_size))
    in_group = np.minimum(np.int32(group_size), nb_u - g * np.int32(group_size))
    # within_decay ** q x group_decay ** g / in_group / n_groups, in that order, in one float64 buffer
    w = np.power(within_decay, q, dtype=np.float64)
    del q
    w *= np.power(group_decay, g, dtype=np.float64)
    del g
    w /= in_group
    del in_group
    w /= n_groups
    del n_groups
    tifu = sparse.csr_matrix((w, (u, i)), shape=shape)
    del w
    tifu.sum_duplicates()
    # repeat share per customer: purchases after the first basket that were bought on an earlier
    # day; a purchase before the customer's first day of the product is after their first basket,
    # so the repeats are each (customer, product)'s purchase days but its first (counted below)
    n_later = np.bincount(u, weights=pos < nb_u - 1, minlength=n_u)
    del pos, nb_u
    # per (customer, product), sorted: purchase days, first (largest) and last (smallest) age
    key = u.astype(np.int64)
    key *= n_i
    key += i
    key *= span
    key += age
    del u, i, age
    key.sort()
    ui = key // span
    ages = (key % span).astype(np.int32)
    del key
    starts = np.flatnonzero(np.r_[True, ui[1:] != ui[:-1]]) if len(ui) else np.zeros(0, np.int64)
    pkeys = ui[starts]
    del ui
    n = np.diff(np.r_[starts, len(ages)])
    last, first = ages[starts], ages[starts + n - 1]
    del ages, starts
    pu, pi = (pkeys // n_i).astype(np.int32), (pkeys % n_i).astype(np.int32)
    del pkeys
    interval = np.where(n >= 2, (first - last) / np.maximum(n - 1, 1), 0.0)
    # the (customer, product) pairs are sorted and distinct: the CSR arrays directly, shared by the matrices'
    # structure (no COO copies and conversion; the same matrices: sorted indices, no duplicates)
    idx_type = np.int32 if len(pu) < 2**31 and max(shape) < 2**31 else np.int64
    indptr = np.r_[0, np.cumsum(np.bincount(pu, minlength=n_u))].astype(idx_type)
    indices = pi.astype(idx_type)

    def mat(v):
        m = sparse.csr_matrix((v.astype(float), indices.copy(), indptr.copy()), shape=shape)
        m.has_sorted_indices = True
        return m

    n_days = mat(n)
    last_age = mat(last + 1)
    own_cycle = mat(interval)
    own_cycle.eliminate_zeros()
    n_rep = np.bincount(pu, weights=n - 1, minlength=n_u)
    shop_share = float(n_rep.sum() / n_later.sum()) if n_later.sum() else 0.0
    repeat_share = (n_rep + prior_weight * shop_share) / (n_later + prior_weight)
    # per product: buyers, repeat buyers, cycle
    n_buyers = np.bincount(pi, minlength=n_i).astype(float)
    n_rebuy = np.bincount(pi, weights=n >= 2, minlength=n_i)
    prior = float(n_rebuy.sum() / n_buyers.sum()) if n_buyers.sum() else 0.0
    rebuy_share = (n_rebuy + prior_weight * prior) / (n_buyers + prior_weight)
    rep_int = pd.Series(interval[n >= 2]).groupby(pi[n >= 2]).median()
    shop_cycle = float(np.median(interval[n >= 2])) if (n >= 2).any() else 30.0
    cycle = np.full(n_i, shop_cycle)
    ok = rep_int.index[n_rebuy[rep_int.index] >= 3]
    cycle[ok] = rep_int.loc[ok].to_numpy()
    cycle = np.maximum(cycle, 1.0)
    ratio = mat(last / np.where(n >= 2, interval, cycle[pi]))  # own cycles are >= 1 day (distinct days)
    return History(users=users, user_pos=pd.Series(np.arange(n_u), index=pd.Index(users, dtype=object)),
                   n_days=n_days, last_age=last_age, own_cycle=own_cycle, ratio=ratio, tifu=tifu,
                   repeat_share=repeat_share,
                   shop_repeat_share=shop_share, n_buyers=n_buyers, rebuy_share=rebuy_share, cycle=cycle)


def neighbour_index(tifu: sparse.csr_matrix, pool: np.ndarray | None = None) -> tuple:
    """What :func:`neighbour_vectors` needs of the candidates, computed once per model rather than per
    chunk, in float32: (the candidates' vectors transposed, dense items x candidates, for the dot
    products; transposed as CSR, for the neighbours' mean; the candidates' squared norms; all rows as
    float32 CSR)."""
    t32 = tifu.astype(np.float32)
    cand = t32 if pool is None else t32[pool]
    ct = cand.T.tocsr()
    sq_c = np.asarray(cand.multiply(cand).sum(axis=1), dtype=np.float32).ravel()
    return np.ascontiguousarray(ct.toarray()), ct, sq_c, t32


def neighbour_vectors(tifu: sparse.csr_matrix, rows: np.ndarray, k: int, pool: np.ndarray | None = None,
                      index: tuple | None = None) -> np.ndarray:
    """Mean TIFU vector of each row's ``k`` nearest customers (Euclidean, itself excluded) among the
    rows ``pool`` (sorted; default all); zeros for -1.  ``index``: :func:`neighbour_index` of the
    same ``tifu`` and ``pool`` (computed here when not given).

    In blocks of rows, float32: the dot products with every candidate (sparse rows x dense
    candidates), ``|c|^2 - 2 r.c`` (the distance squared less ``|r|^2``, which does not change a
    row's ranking), the ``k`` smallest by ``argpartition``, and their mean as one sparse product."""
    n_c = tifu.shape[0] if pool is None else len(pool)
    out = np.zeros((len(rows), tifu.shape[1]), np.float32)
    ok = np.flatnonzero(rows >= 0)
    kk = min(k, n_c - 1)
    if kk < 1 or not len(ok):
        return out
    dense_ct, ct, sq_c, t32 = index if index is not None else neighbour_index(tifu, pool)
    block = max(1, min(len(ok), 4_000_000 // max(n_c, 1)))  # bounds the dense distance block (~16 MB)
    for lo in range(0, len(ok), block):
        sel = ok[lo:lo + block]
        r = rows[sel]
        d2 = t32[r] @ dense_ct
        d2 *= np.float32(-2.0)
        d2 += sq_c
        if pool is None:
            d2[np.arange(len(r)), r] = np.inf
        else:
            at = np.minimum(np.searchsorted(pool, r), n_c - 1)
            own = pool[at] == r
            d2[np.flatnonzero(own), at[own]] = np.inf
        nb = np.sort(np.argpartition(d2, kk - 1, axis=1)[:, :kk], axis=1)
        del d2
        # candidates x rows, kk ones per column: ct @ w is the rows' neighbour sums (transposed)
        w = sparse.csr_matrix((np.ones(nb.size, np.float32), nb.ravel(), np.arange(0, nb.size + 1, kk)),
                              shape=(len(r), n_c)).T.tocsr()
        out[sel] = (ct @ w).T.toarray()
        out[sel] /= np.float32(kk)
    return out
