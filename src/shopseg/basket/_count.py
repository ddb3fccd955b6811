"""Counting itemsets in numpy: the cuts handed to the miners, one level counted by enumeration, Apriori's
candidate join (``apriori_gen``) and exact counts of given itemsets by per-item bitmaps (``count_itemsets``).

What mining (:mod:`._mine`) and updating the counts with new baskets (:mod:`._update`) share.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from .._lazy import lazy
from ._baskets import Baskets

comb, = lazy("scipy.special", "comb")  # at the first call (_mine)


def _restrict(codes: np.ndarray, offsets: np.ndarray, keep: np.ndarray,
              min_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, offsets) of only the ``keep`` items of only the baskets holding at least
    ``min_items`` of them, and the number of kept items of every basket given.

    One gather, one cumulative sum and one compaction over the item array: no
    per-basket work (a ``reduceat`` per call was the slower part at 1M baskets).
    """
    sel = keep[codes]
    cs = np.zeros(len(sel) + 1, np.int64)
    np.cumsum(sel, dtype=np.int64, out=cs[1:])
    k = cs[offsets[1:]] - cs[offsets[:-1]]
    ok = k >= min_items
    if not ok.all():
        sel &= np.repeat(ok, np.diff(offsets))
    kept = k[ok]
    offs = np.zeros(len(kept) + 1, np.int64)
    np.cumsum(kept, out=offs[1:])
    return codes[sel], offs, k


class _Tracts:
    """The transactions handed to pyfim: only items that can still be in a frequent
    itemset of the sizes asked, only baskets holding at least ``min_items`` of them.

    Counts of itemsets of ``min_items`` or more items are unchanged by both
    cuts, so they stay exact.  pyfim leaves out the itemsets made only of
    items found in every transaction it is given (perfect extensions of the
    empty set): they are added back here, with that count.
    """

    def __init__(self, codes: np.ndarray, offsets: np.ndarray, keep: np.ndarray, min_items: int, mc: int,
                 miner):
        flat, self.offsets, _ = _restrict(codes, offsets, keep, min_items)
        self.codes = flat
        self.n = len(self.offsets) - 1
        self.miner, self.mc = miner, mc
        counts = np.bincount(flat, minlength=len(keep))
        self.everywhere = (np.flatnonzero(counts == self.n).tolist()
                           if self.n >= mc and self.n > 0 else [])
        # one int object per item, shared by every basket that holds it (flat.tolist() would make one per
        # line: 28 of the ~48 bytes a line these lists cost, ~1 GB at Online Retail x100)
        shared = np.arange(len(keep)).astype(object)[flat]
        flat_l = shared.tolist()
        del shared
        off = self.offsets.tolist()
        self.tx = [flat_l[a:b] for a, b in zip(off[:-1], off[1:])]

    def _extra(self, zmin: int, zmax: int):
        return [(c, self.n) for z in range(zmin, min(len(self.everywhere), zmax) + 1)
                for c in combinations(self.everywhere, z)]

    def mine(self, zmin: int, zmax: int) -> list:
        """(itemset tuple, count) of every frequent itemset of zmin..zmax items."""
        if self.n < self.mc:
            return []
        got = self.miner(self.tx, target="s", supp=-self.mc, zmin=zmin, zmax=zmax, report="a")
        return got + self._extra(zmin, zmax)

    def count(self, zmin: int, zmax: int) -> dict[int, int]:
        """Number of frequent itemsets of zmin..zmax items by count (pattern spectrum: none built)."""
        if self.n < self.mc:
            return {}
        spec = self.miner(self.tx, target="s", supp=-self.mc, zmin=zmin, zmax=zmax, report="#")
        out: dict[int, int] = {}
        for (_, supp), c in (spec or {}).items():  # pyfim answers [] rather than {} when nothing is frequent
            out[int(supp)] = out.get(int(supp), 0) + int(c)
        extra = sum(math.comb(len(self.everywhere), j) for j in range(zmin, zmax + 1))
        if extra:
            out[self.n] = out.get(self.n, 0) + extra
        return out


# Itemsets of one size are counted in numpy, not by pyfim, while the baskets are
# many and short: at most this many z-subsets per item occurrence, and at most
# this many counters (one per possible z-itemset of the items still in play).
_SUBSETS_PER_ITEM = 3
_COUNTERS = 1 << 22


def _numpy_level(codes: np.ndarray, offsets: np.ndarray, keep: np.ndarray, z: int, mc: int,
                 n_kept: int | None = None, every: dict | None = None):
    """(sets, counts, codes, offsets) of every frequent itemset of ``z`` items, as an (N, z)
    array of item codes (ascending) and counts, counted in numpy by enumerating each
    basket's z-subsets of the kept items (and the baskets restricted to those items);
    None when that would cost more than pyfim.  ``n_kept`` (the number of kept
    item occurrences in all baskets) says that ``codes``/``offsets`` are already
    cut to ``keep`` and to baskets of ``z`` or more items.  ``every`` (pairs only) receives every pair's count:
    ``items`` (the kept codes) and ``counts`` (an f x f matrix, upper triangle).

    Baskets of one size form a matrix; each z-combination of its columns gives
    the codes ``sum_j a_j F^(z-1-j)`` (F kept items) of one subset per basket,
    and one ``bincount`` counts them all.  Exact.
    """
    f = int(keep.sum())
    if f == 0 or f ** z > _COUNTERS:
        return None
    if n_kept is None:
        codes, offsets, k_all = _restrict(codes, offsets, keep, z)
        n_kept = int(k_all.sum())
    k = np.diff(offsets)
    hist = np.bincount(k, minlength=z + 1)
    if float(hist @ comb(np.arange(len(hist)), z)) > _SUBSETS_PER_ITEM * float(n_kept):
        return None
    local = (np.cumsum(keep) - 1).astype(np.int32)  # f ** z <= _COUNTERS: int32 keys suffice
    # the items of baskets of one size made contiguous: a stable (radix) sort by basket size
    size_of = np.repeat(k.astype(np.int16 if len(hist) <= 2**15 else np.int64), k)
    flat = local[codes][np.argsort(size_of, kind="stable")]  # still ascending within each basket
    ends = np.cumsum(hist * np.arange(len(hist)))
    weights = f ** np.arange(z - 1, -1, -1, dtype=np.int32)
    keys = []
    for size in np.flatnonzero(hist[z:]) + z:
        m = flat[ends[size - 1]:ends[size]].reshape(-1, size)
        cols = np.array(list(combinations(range(size), z)))
        key = m[:, cols[:, 0]]
        for j in range(1, z):  # Horner's rule, in place: key = key * f + next column
            key *= f
            key += m[:, cols[:, j]]
        keys.append(key.ravel())
    counts = np.bincount(np.concatenate(keys) if keys else np.zeros(0, np.int32), minlength=f ** z)
    if every is not None and z == 2:  # every pair's count, frequent or not (kept for an update: _update.py)
        every["items"], every["counts"] = np.flatnonzero(keep).astype(np.int32), counts.reshape(f, f)
    hit = np.flatnonzero(counts >= mc)
    digits = (hit[:, None] // weights[None, :]) % f
    return np.flatnonzero(keep)[digits], counts[hit], codes, offsets


# Apriori's candidate join is skipped (all items of the sets kept) beyond this many pairs.
_JOIN_AT_MOST = 2_000_000


def apriori_gen(sets: np.ndarray, n_codes: int, *, at_most: int | None = None) -> np.ndarray | None:
    """Apriori's candidates of z+1 items from all the frequent z-itemsets ``sets`` (rows ascending).

    Two z-sets sharing their first z-1 items, joined, whose every z-subset is frequent (Agrawal & Srikant
    1994): every frequent (z+1)-itemset is one of them.  Rows ascending, in join order.  None when the join
    would list more than ``at_most`` pairs (default :data:`_JOIN_AT_MOST`).
    """
    n, z = sets.shape
    if n < 2:
        return np.zeros((0, z + 1), sets.dtype)
    s = sets[np.lexsort(sets.T[::-1])]
    same = (s[1:, : z - 1] == s[:-1, : z - 1]).all(axis=1)
    bounds = np.r_[0, np.flatnonzero(~same) + 1, n]
    sizes = np.diff(bounds)
    if float((sizes * (sizes - 1) // 2).sum()) > (_JOIN_AT_MOST if at_most is None else at_most):
        return None
    rem = np.repeat(bounds[1:], sizes) - np.arange(n) - 1  # later rows with the same prefix
    left, right = [], []
    cand = np.flatnonzero(rem >= 1)
    d = 1
    while len(cand):
        left.append(cand)
        right.append(cand + d)
        d += 1
        cand = cand[rem[cand] >= d]
    if not left:
        return np.zeros((0, z + 1), sets.dtype)
    i, j = np.concatenate(left), np.concatenate(right)
    joined = np.column_stack([s[i], s[j, z - 1]])  # ascending: the prefix, then two last items
    if z >= 2 and float(n_codes) ** z < 2.0 ** 62:  # prune: every z-subset must be frequent
        w = n_codes ** np.arange(z - 1, -1, -1, dtype=np.int64)
        known = np.sort(s.astype(np.int64) @ w)
        ok = np.ones(len(joined), bool)
        for drop in range(z - 1):  # dropping either of the last two gives a joined set
            sub = np.delete(joined, drop, axis=1).astype(np.int64) @ w
            pos = np.minimum(np.searchsorted(known, sub), len(known) - 1)
            ok &= known[pos] == sub
        joined = joined[ok]
    return joined


def _candidate_items(sets: np.ndarray, n_codes: int) -> np.ndarray:
    """Mask of the items that can still be in a frequent itemset larger than the ``sets`` given.

    ``sets`` are all the frequent z-itemsets (rows ascending); every larger frequent itemset holds a
    frequent (z+1)-subset of its own items, one of :func:`apriori_gen`'s candidates.  So only the items of
    the candidates are kept (none: the mining is over); when the join would list too many, all the sets' items.
    """
    joined = apriori_gen(sets, n_codes)
    out = np.zeros(n_codes, bool)
    if joined is None:
        out[sets.ravel()] = True
    else:
        out[joined.ravel()] = True
    return out


# Bitmaps of items x baskets are built from a boolean matrix of at most this many cells (bytes).
_DENSE_BITS = 1 << 28
# Many pairs are counted at once by one sparse product (baskets x items), not by bitmaps.
_PAIRS_BY_PRODUCT = 256
# At most this many pairs of items in baskets are listed and counted in numpy (a day's baskets); more by a
# sparse product (cooccurrence).
_PAIRS_LISTED = 1 << 22


def cooccurrence(baskets: Baskets, items: np.ndarray) -> np.ndarray:
    """Baskets holding both items, for every pair of ``items`` (codes, ascending): X'X of the baskets x items
    incidence matrix X restricted to them (exact; a dense matrix, so a few thousand items at most).

    Few baskets (a day's, for an update: at most :data:`_PAIRS_LISTED` pairs of their items) have their pairs
    listed and counted in numpy; many by a sparse product (SciPy, imported then).  The same counts."""
    local = np.full(baskets.n_items + 1, -1, np.int64)
    local[items] = np.arange(len(items))
    loc = local[baskets.codes]
    sel = loc >= 0
    cs = np.zeros(len(sel) + 1, np.int64)
    np.cumsum(sel, out=cs[1:])
    starts = cs[baskets.offsets]  # each basket's first position among the selected codes
    k = np.diff(starts)
    if int(np.dot(k, k)) <= _PAIRS_LISTED:  # every (i, j) of a basket's selected codes, i and j in it
        f, on = len(items), loc[sel]
        kk = np.repeat(k, k)  # per selected code: its basket's count
        first = np.repeat(starts[:-1], k)  # per selected code: its basket's first position
        left = np.repeat(on, kk)
        right = on[np.repeat(first, kk) + np.arange(len(left)) - np.repeat(np.cumsum(kk) - kk, kk)]
        return np.bincount(left * f + right, minlength=f * f).reshape(f, f).astype(np.int64, copy=False)
    from scipy import sparse

    x = sparse.csr_matrix((np.ones(int(cs[-1]), np.int32), loc[sel], starts),
                          shape=(baskets.n_baskets, len(items)))  # baskets in order: no sort
    return (x.T.tocsr() @ x).toarray().astype(np.int64)


def count_pairs(baskets: Baskets, pairs: np.ndarray) -> np.ndarray:
    """Baskets holding both items of each row of ``pairs`` (codes), from :func:`cooccurrence`."""
    need, inv = np.unique(pairs, return_inverse=True)
    inv = inv.reshape(pairs.shape)
    return cooccurrence(baskets, need)[inv[:, 0], inv[:, 1]]


def count_itemsets(baskets: Baskets, rows: np.ndarray, pad: int, *, chunk_bytes: int = 1 << 26) -> np.ndarray:
    """Baskets holding every item of each padded code row, by ANDing per-item bitmaps (exact); many pairs
    at once by :func:`count_pairs`."""
    n = baskets.n_baskets
    if len(rows) == 0 or n == 0:
        return np.zeros(len(rows), np.int64)
    if rows.shape[1] == 2 and _PAIRS_BY_PRODUCT <= len(rows) and len(np.unique(rows)) <= 8192 \
            and not (rows == pad).any():
        return count_pairs(baskets, rows)
    need = np.unique(rows[rows != pad])
    local = np.full(pad + 1, -1, np.int64)
    local[need] = np.arange(len(need))
    words = (n + 63) // 64
    basket_of = np.repeat(np.arange(n, dtype=np.int64), baskets.sizes())
    sel = local[baskets.codes] >= 0
    b, item = basket_of[sel], local[baskets.codes[sel]]
    if len(need) * words * 64 <= _DENSE_BITS:  # a boolean matrix packed: faster than bitwise_or.at
        dense = np.zeros((len(need), words * 64), bool)
        dense[item, b] = True
        bits = np.packbits(dense, axis=1).view(np.uint64)  # any bit order will do: the same for every item
        del dense
    else:
        bits = np.zeros((len(need), words), np.uint64)
        np.bitwise_or.at(bits, (item, b >> 6), np.left_shift(np.uint64(1), (b & 63).astype(np.uint64)))
    out = np.empty(len(rows), np.int64)
    step = max(1, chunk_bytes // (8 * words))
    for lo in range(0, len(rows), step):
        r = rows[lo:lo + step]
        acc = bits[local[r[:, 0]]]  # a gather: a new array
        for j in range(1, r.shape[1]):
            has = r[:, j] != pad
            if has.all():
                acc &= bits[local[r[:, j]]]
            else:
                acc[has] &= bits[local[r[has, j]]]
        out[lo:lo + step] = np.bitwise_count(acc).sum(axis=1, dtype=np.int64)
    return out
