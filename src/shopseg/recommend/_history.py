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
    ``categorical``: the ids and the day as pandas categoricals (int32 codes and one string per distinct id;
    int16 codes over the days) in no particular order: a fraction of the memory and time at tens of millions
    of rows."""
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
            SELECT c.code AS customer_id, pc.code AS product_id,
                   CAST(CAST(o.ordered_at AS DATE) - DATE '1970-01-01' AS INTEGER) AS day
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
    # the day too: a categorical over the days from the first to the last (int16 codes: 2 bytes a row, not 8)
    d = np.asarray(t.pop("day"), np.int32)
    first = int(d.min()) if len(d) else 0
    days = pd.DatetimeIndex(np.datetime64("1970-01-01", "D") + first + np.arange(int(d.max()) - first + 1 if len(d) else 0))
    d -= first
    return pd.DataFrame({k: pd.Categorical.from_codes(np.asarray(t[k], np.int32), pd.Index(names[k[:-3]]))
                         for k in ("customer_id", "product_id")} | {"day": pd.Categorical.from_codes(d, days)})


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
    """Dense rows of ``m`` (zeros where ``rows`` is -1), float64 whatever ``m`` stores (the history keeps its
    whole-number matrices as float32: the same values, the same arithmetic downstream)."""
    out = m[np.where(rows >= 0, rows, 0)].toarray().astype(np.float64, copy=False)
    out[rows < 0] = 0
    return out


BLOCK_ROWS = 4_000_000  # purchase rows per block of customers: bounds build_history's work arrays (~60 bytes a row)


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(a code per row, -1 where missing; the distinct values as text): a categorical's own codes (no hash
    pass over the rows, no int64 copy), else the column factorised; either way the same history."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return np.asarray(col.cat.codes), np.asarray(col.cat.categories, dtype=object).astype(str)
    codes, uniq = pd.factorize(col)
    return codes, np.asarray(uniq, dtype=object).astype(str)


def _days(col: pd.Series) -> tuple[np.ndarray | None, np.ndarray]:
    """(a categorical's codes, its categories as datetime64), or (None, the column as datetime64)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return np.asarray(col.cat.codes), pd.to_datetime(col.cat.categories).to_numpy()
    return None, pd.to_datetime(col).to_numpy()


def build_history(purchases: pd.DataFrame, items: np.ndarray, as_of, *, group_size: int = 7,
                  within_decay: float = 0.9, group_decay: float = 0.7, prior_weight: float = 5.0,
                  block_rows: int = BLOCK_ROWS) -> History:
    """Every per-customer and per-product statistic the next-basket model uses, vectorised.

    ``purchases``: customer_id, product_id, day (one row per customer, product and day; rows after
    ``as_of`` or of products outside ``items`` are ignored).  Built per block of customers (customers in
    id order, about ``block_rows`` purchases a block): every per-customer value is its block's, the
    per-product ones (buyers, re-buyers, cycles) are sums and medians over the blocks, so the result does
    not depend on the blocks and the work arrays are a block's.  Whole-number matrices (``n_days``,
    ``last_age``) and ``ratio`` (compared with 1 and 3, and used in float32) are stored as float32 with one
    shared index array: a big shop's history is tens of millions of stored entries.

    >>> p = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "product_id": ["x", "x", "y", "x"],
    ...                   "day": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-11", "2024-01-05"])})
    >>> h = build_history(p, np.array(["x", "y"], dtype=object), "2024-01-21", group_size=1, group_decay=0.5)
    >>> h.tifu.toarray().round(3).tolist()   # a: (0.5 x [1, 0] + 1 x [1, 1]) / 2 groups; b: one basket
    [[0.75, 0.5], [1.0, 0.0]]
    >>> h.own_cycle.toarray().tolist(), h.last_age.toarray().tolist()   # a: x every 10 days; 1 + days since
    ([[10.0, 0.0], [0.0, 0.0]], [[11.0, 11.0], [17.0, 0.0]])
    """
    day0 = _day(as_of)
    # hash-based look-ups on the distinct ids only (no Python iteration over the rows)
    pc, puniq = _codes(purchases["product_id"])
    item_of = np.r_[pd.Index(items, dtype=object).get_indexer(puniq), -1].astype(np.int32)  # code -1 takes the -1
    cc, cuniq = _codes(purchases["customer_id"])
    dc, day = _days(purchases["day"])
    if dc is not None:  # the age of each distinct day, then per row by its code (-1: missing, dropped)
        day_age = np.r_[(day0 - day.astype("datetime64[D]")).astype(np.int32), -1]
    n_i, n_rows = len(items), len(purchases)

    def rows_of(sel):  # (customer code, item, age) of the rows ``sel``, the kept ones only (a bought item, age >= 0)
        age = day_age[dc[sel]] if dc is not None else (day0 - day[sel].astype("datetime64[D]")).astype(np.int32)
        i, c = item_of[pc[sel]], cc[sel]
        keep = (age >= 0) & (i >= 0) & (c >= 0)
        return c[keep], i[keep], age[keep]

    # the customers with a kept purchase, and the oldest age, in slices of rows
    n_rows_of = np.zeros(len(cuniq), np.int64)
    span = 1
    for lo in range(0, n_rows, block_rows):
        c, _, age = rows_of(slice(lo, lo + block_rows))
        n_rows_of += np.bincount(c, minlength=len(cuniq))
        if len(age):
            span = max(span, int(age.max()) + 1)
    used = np.flatnonzero(n_rows_of)
    names = cuniq[used]
    order = np.argsort(names, kind="stable")
    users = names[order].astype(object)
    del names, cuniq
    n_u = len(users)
    rank = np.full(len(n_rows_of) + 1, -1, np.int64)  # customer code -> row of the history (-1: none; code -1 too)
    rank[used[order]] = np.arange(n_u)
    # blocks: consecutive history rows, about block_rows purchases each
    per_row = n_rows_of[used[order]]
    blk = (np.cumsum(per_row) - per_row) // max(block_rows, 1)
    starts = np.flatnonzero(np.r_[True, blk[1:] != blk[:-1]]) if n_u else np.zeros(1, np.int64)
    bounds = np.r_[starts, n_u]
    del per_row, blk, n_rows_of, used, order
    if len(starts) > 1:  # a block number per row (int16/int32), each block's rows found by one comparison
        b_of_rank = np.repeat(np.arange(len(starts)), np.diff(bounds))
        code_block = np.full(len(rank), -1, np.int16 if len(starts) < 2**15 else np.int32)
        code_block[rank >= 0] = b_of_rank[rank[rank >= 0]]
        row_block = code_block[cc]
        del b_of_rank, code_block
    parts = []
    for b in range(len(starts)):
        sel = np.flatnonzero(row_block == b) if len(starts) > 1 else slice(None)
        c, i, age = rows_of(sel)
        u = rank[c] - bounds[b]
        del c
        parts.append(_block(u, i, age, int(bounds[b + 1] - bounds[b]), n_i, span, group_size, within_decay,
                            group_decay))
        del u, i, age
    if len(starts) > 1:
        del row_block
    del rank
    cat = {k: np.concatenate([p.pop(k) if k != "rep_interval" else p[k] for p in parts])
           for k in ("n_later", "n_rep", "rep_pi", "rep_interval")}
    n_later, n_rep = cat["n_later"], cat["n_rep"]
    shop_share = float(n_rep.sum() / n_later.sum()) if n_later.sum() else 0.0
    repeat_share = (n_rep + prior_weight * shop_share) / (n_later + prior_weight)
    # per product: buyers, repeat buyers (sums over the blocks), cycle (the median over every repeat pair)
    n_buyers = np.sum([p["n_buyers"] for p in parts], axis=0)
    n_rebuy = np.sum([p["n_rebuy"] for p in parts], axis=0)
    prior = float(n_rebuy.sum() / n_buyers.sum()) if n_buyers.sum() else 0.0
    rebuy_share = (n_rebuy + prior_weight * prior) / (n_buyers + prior_weight)
    rep_pi, rep_interval = cat["rep_pi"], cat["rep_interval"]
    rep_int = pd.Series(rep_interval).groupby(rep_pi).median()
    shop_cycle = float(np.median(rep_interval)) if len(rep_interval) else 30.0
    del cat, rep_pi, rep_interval
    cycle = np.full(n_i, shop_cycle)
    ok = rep_int.index[n_rebuy[rep_int.index] >= 3]
    cycle[ok] = rep_int.loc[ok].to_numpy()
    cycle = np.maximum(cycle, 1.0)
    for p in parts:  # days since the last purchase / the cycle (own where bought on 2+ days, else the product's)
        denom = cycle[p["pi"]]
        denom[p.pop("repeat")] = p.pop("rep_interval")
        p["ratio"] = ((p["last_age"].astype(np.float64) - 1.0) / denom).astype(np.float32)
    shape = (n_u, n_i)

    def joined(key, idx=None):
        out = np.concatenate([p.pop(key) for p in parts])
        return out if idx is None else out.astype(idx, copy=False)

    def csr(data, indices, counts):
        m = sparse.csr_matrix((data, indices, np.r_[0, np.cumsum(counts)].astype(indices.dtype)), shape=shape)
        m.has_sorted_indices = True
        return m

    idx = np.int32 if max(sum(len(p["pi"]) for p in parts), *shape) < 2**31 else np.int64
    counts = joined("counts")
    indices = joined("pi", idx)
    # one index array for the four matrices with the pairs' pattern (none of them is changed in place)
    n_days, last_age, ratio, tifu = (csr(joined(k), indices, counts) for k in ("n_days", "last_age", "ratio", "tifu"))
    own_cycle = csr(joined("oc_data"), joined("oc_pi", idx), joined("oc_counts"))
    return History(users=users, user_pos=pd.Series(np.arange(n_u), index=pd.Index(users, dtype=object)),
                   n_days=n_days, last_age=last_age, own_cycle=own_cycle, ratio=ratio, tifu=tifu,
                   repeat_share=repeat_share,
                   shop_repeat_share=shop_share, n_buyers=n_buyers, rebuy_share=rebuy_share, cycle=cycle)


def _block(u: np.ndarray, i: np.ndarray, age: np.ndarray, n_u: int, n_i: int, span: int, group_size: int,
           within_decay: float, group_decay: float) -> dict:
    """One block of customers of :func:`build_history`: purchases (customer row within the block, item, age in
    days), one per distinct (customer, day, item) or repeated; returns the block's per-customer arrays, its
    (customer, item) pairs in CSR order with their values, and its per-product sums."""
    shape = (n_u, n_i)
    # distinct (customer, day, product) as one sorted int64 key: baskets (customer, day) are runs,
    # sorted by customer then age (position 0 = the latest basket); u, age, i read back from it
    # integer arithmetic in place and int32 wherever the values fit: the same values as the plain expressions
    key = u.astype(np.int64)
    key *= span
    key += age
    key *= n_i
    key += i
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
    # the TIFU matrix's entries are the pairs (sorted, distinct): its values share the pairs' index array
    if not (np.array_equal(tifu.indices, pi) and np.array_equal(np.diff(tifu.indptr), np.bincount(pu, minlength=n_u))):
        raise AssertionError("build_history: the TIFU entries are not the (customer, product) pairs")
    repeat = n >= 2
    own = interval != 0  # own_cycle's stored entries (bought on two days or more)
    return {"counts": np.bincount(pu, minlength=n_u), "pi": pi, "n_days": n.astype(np.float32),
            "last_age": (last + 1).astype(np.float32), "tifu": tifu.data, "repeat": repeat,
            "oc_data": interval[own], "oc_pi": pi[own], "oc_counts": np.bincount(pu[own], minlength=n_u),
            "n_later": n_later, "n_rep": np.bincount(pu, weights=n - 1, minlength=n_u),
            "n_buyers": np.bincount(pi, minlength=n_i).astype(float),
            "n_rebuy": np.bincount(pi, weights=repeat, minlength=n_i),
            "rep_pi": pi[repeat], "rep_interval": interval[repeat]}


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
