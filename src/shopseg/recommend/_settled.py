"""The settled customers' recommendations, on the history's sparse entries (see :mod:`._nextbasket`).

A customer is *settled* when their ``k``-th best repeat term is above ``w_new``: the neighbour and
explore terms are 0 on the products they bought and at most ``w_new`` together on the others, so
their top ``k`` are bought products ranked by the repeat term alone.  That term is non-zero only
where the customer bought, so it is computed here on the history's stored entries (tens per
customer) instead of on dense customers x products chunks (thousands per customer): the same
float32 arithmetic as :meth:`Components._repeat` and :meth:`NextBasketRecommender.scores`, entry
by entry, hence the same scores; the top ``k`` by one sort per block of customers (ties: the lower
product index first, as :func:`._mix.top_k`)."""

from __future__ import annotations

import numpy as np

BLOCK = 20_000  # customers per block (< 2**16): bounds the work arrays (a block's stored entries, ~50 bytes each)


def _scale_entries(data: np.ndarray, indptr: np.ndarray, dtype) -> np.ndarray:
    """:func:`._mix._scale` of a CSR matrix's rows on its stored entries: each divided by its row's max
    (the dense row's: at least 0), in float64 then cast, 0 on rows whose max is not positive."""
    counts = np.diff(indptr)
    mx = np.zeros(len(counts))
    has = counts > 0
    if len(data):
        mx[has] = np.maximum.reduceat(data, indptr[:-1][has])
    mx = np.maximum(mx, 0.0)
    pos = mx > 0
    out = (data / np.repeat(np.where(pos, mx, 1.0), counts)).astype(dtype)
    out[np.repeat(~pos, counts)] = 0
    return out


def settled_top(model, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(settled, pos, items, scores) for the customers at history rows ``rows`` (-1: unknown, never
    settled): ``settled`` a mask over ``rows``; ``pos`` (index into ``rows``), ``items`` and
    ``scores`` the settled customers' top ``k``, by customer then rank."""
    hist, p = model.history_, model.mix_
    settled = np.zeros(len(rows), bool)
    empty = (settled, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(model.items_) < k:
        return empty
    f32 = np.float32
    valid_item = model.recommendable_ & ~model.no_repeat_
    rebuy = model._rebuy(hist)
    reb = (rebuy ** p["beta"]).astype(f32)
    pop = 1e-9 * (hist.n_buyers / max(hist.n_buyers.max(), 1))
    thr = p["w_new"] + 1e-6
    phi = p.get("phi", 0.0)
    known = np.flatnonzero(rows >= 0)
    out_pos, out_items, out_scores = [], [], []
    for lo in range(0, len(known), BLOCK):
        at = known[lo:lo + BLOCK]
        r = rows[at]
        tifu, n_days, last_age, ratio = (getattr(hist, n)[r] for n in ("tifu", "n_days", "last_age", "ratio"))
        if not all(np.array_equal(m.indptr, tifu.indptr) and np.array_equal(m.indices, tifu.indices)
                   for m in (n_days, last_age, ratio)):  # not one pattern: leave these to the dense path
            continue
        counts = np.diff(tifu.indptr)
        row = np.repeat(np.arange(len(r)), counts)
        col = tifu.indices.astype(np.int64)
        own = _scale_entries(tifu.data, tifu.indptr, f32)
        # the history stores whole days as float32: the same values, summed in float64 as the dense path does
        freq = _scale_entries(n_days.data.astype(np.float64) + np.reciprocal(last_age.data.astype(np.float64) + 1.0),
                              tifu.indptr, f32)
        due = np.minimum(ratio.data, 1.0, dtype=f32)
        share = hist.repeat_share[r]
        weight = share / hist.shop_repeat_share if hist.shop_repeat_share > 0 else np.ones(len(r))
        if phi:
            own = freq if phi == 1 else f32(1 - phi) * own + f32(phi) * freq
        rep = (weight[row] ** p["gamma"]).astype(f32) * own * reb[col] * (f32(p["lam"]) + f32(1 - p["lam"]) * due)
        ok = valid_item[col]
        above = np.bincount(row[ok], weights=rep[ok] > thr, minlength=len(r))
        done = above >= k
        keep = ok & done[row]
        row, col = row[keep], col[keep]
        score = rep[keep].astype(np.float64) + pop[col]
        # by customer, the best first, the lower index first on ties: entries are by (customer, product), so
        # a stable sort by score then a stable (radix, 16-bit) sort by customer; np.lexsort is 3x slower
        order = np.argsort(-score, kind="stable")
        order = order[np.argsort(row[order].astype(np.uint16), kind="stable")]
        row, col, score = row[order], col[order], score[order]
        starts = np.r_[0, np.cumsum(np.bincount(row, minlength=len(r)))[:-1]]
        top = np.arange(len(row)) - starts[row] < k
        settled[at[done]] = True
        out_pos.append(at[row[top]])
        out_items.append(col[top])
        out_scores.append(score[top])
    if not out_pos:
        return empty
    return settled, np.concatenate(out_pos), np.concatenate(out_items), np.concatenate(out_scores)
