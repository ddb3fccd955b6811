"""Frequent itemsets (pyfim) with a bounded output, and rules built from them in numpy.

Rules follow arules' convention (Hahsler et al.): one item on the right-hand
side, the support of a rule is the support of its whole itemset, lengths count
both sides.  They are generated from the frequent itemsets without Python
loops over rules: every itemset ``I`` with ``|I| >= 2`` gives ``|I|`` rules
``I \\ {y} => {y}``, and the antecedent's count is found by an exact lookup
(order-independent 64-bit set hash, then the rows are compared; a collision
falls back to a dictionary).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain

import fim
import numpy as np

from .._lazy import lazy
from ..errors import ConfigError
from ._baskets import Baskets, check_param, min_count
from ._count import _candidate_items, _numpy_level, _restrict, _Tracts

# at the first call: an itemset update (incremental refresh) does not load scipy.special (~0.15 s)
binom, comb = lazy("scipy.special", "binom", "comb")

_SEED = 20240613  # fixed: the hash only has to be the same within one call


@dataclass(frozen=True)
class Known:
    """Itemsets (padded code rows) with their counts, holding every set in at least ``min_count`` baskets."""

    sets: np.ndarray
    counts: np.ndarray
    min_count: int


@dataclass
class Itemsets:
    """Frequent itemsets as arrays.

    ``sets`` is an (N, W) int32 matrix of item codes, each row ascending and
    padded with ``pad`` (= n_items); ``sizes`` and ``counts`` (baskets holding
    the itemset) are length-N vectors.  Rows are sorted by size, then count
    (descending), then codes.
    """

    sets: np.ndarray
    sizes: np.ndarray
    counts: np.ndarray
    n_baskets: int
    min_count: int
    baskets: Baskets = field(repr=False)
    # every pair of frequent items' count (frequent or not) when the pairs were counted in numpy:
    # {"items": codes, "counts": f x f, upper triangle}; what an update needs (_update.py)
    pair_counts: dict | None = field(default=None, repr=False)
    # the sets and counts a later update starts from (_update.py): every set in at least known.min_count
    # baskets, with its count; set by an update (a mining's are the itemsets themselves, or those mined lower)
    known: "Known | None" = field(default=None, repr=False)

    @property
    def pad(self) -> int:
        return self.baskets.n_items

    def __len__(self) -> int:
        return len(self.sizes)

    @cached_property
    def _item_hash(self) -> np.ndarray:
        h = np.random.default_rng(_SEED).integers(1, 2**63, size=self.pad + 1, dtype=np.uint64)
        h[self.pad] = 0
        return h

    def row_hash(self, rows: np.ndarray) -> np.ndarray:
        """Order-independent set hash: sum (mod 2**64) of per-item random words."""
        return self._item_hash[rows].sum(axis=1, dtype=np.uint64)

    @cached_property
    def hashes(self) -> np.ndarray:
        return self.row_hash(self.sets)

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.hashes, kind="stable")
        return order, self.hashes[order]

    def lookup(self, rows: np.ndarray, hashes: np.ndarray | None = None) -> np.ndarray:
        """Index of each (padded, ascending) row among the itemsets; -1 if absent."""
        if hashes is None:
            hashes = self.row_hash(rows)
        if len(self) == 0:
            return np.full(len(rows), -1, np.int64)
        order, sh = self._sorted
        pos = np.minimum(np.searchsorted(sh, hashes), len(sh) - 1)
        idx = order[pos]
        same_hash = sh[pos] == hashes
        ok = same_hash & (self.sets[idx] == rows).all(axis=1)
        idx[~same_hash] = -1  # absent
        bad = np.flatnonzero(same_hash & ~ok)
        if len(bad):  # hash collision: exact dictionary lookup
            table = {tuple(r): i for i, r in enumerate(self.sets.tolist())}
            idx[bad] = [table.get(tuple(r), -1) for r in rows[bad].tolist()]
        return idx

    def at_least(self, mc: int) -> "Itemsets":
        """The itemsets in at least ``mc`` baskets, in the same order: what a mining at that count finds."""
        keep = self.counts >= mc
        width = int(self.sizes[keep].max(initial=1))
        return Itemsets(np.ascontiguousarray(self.sets[keep, :width]), self.sizes[keep], self.counts[keep],
                        self.n_baskets, mc, self.baskets, self.pair_counts)

    def item_lists(self, rows: np.ndarray, *, names: bool = False):
        """Arrow list array of item ids (or names) of padded code rows."""
        import pyarrow as pa

        mask = rows != self.pad
        flat = rows[mask]
        offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int32)
        labels = (self.baskets.item_names if names else self.baskets.item_ids)[flat]
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(labels.tolist(), pa.string()))


# How many of the largest baskets the truncated bound may set aside (any number is safe).
_TRUNCATE_AT_MOST = 10_000


def _level_bounds(k: np.ndarray, mc: int, f: int, max_len: int) -> np.ndarray:
    """Cheap upper bounds on the number of frequent itemsets of each size 1..max_len.

    ``k`` holds each basket's number of frequent items and ``f`` is their
    number.  A frequent itemset of size z lies in at least ``mc`` baskets, so
    in at least ``mc - t`` baskets outside the ``t`` largest ones: with
    ``S_t(z)`` the sum of C(k_b, z) over the other baskets there are at most
    ``min_t S_t(z) / (mc - t)`` of them (t = 0 is the plain per-basket bound;
    setting the few huge baskets aside is what keeps it finite on real
    shops), and at most C(f, z).  Size 1 is exact (``f``).  A numpy pass over
    a histogram: no mining.
    """
    z = np.arange(1, max_len + 1)
    hist = np.bincount(k)
    sizes = np.flatnonzero(hist)
    total = (hist[sizes, None] * comb(sizes[:, None], z[None, :])).sum(axis=0)
    t_max = min(mc - 1, _TRUNCATE_AT_MOST, int(hist.sum()))
    if t_max > 0:  # the t_max largest baskets, from the histogram (no sort of all baskets)
        desc = sizes[::-1]
        top = np.repeat(desc, np.minimum(hist[desc], t_max))[:t_max]
        aside = np.vstack([np.zeros((1, max_len)), np.cumsum(comb(top[:, None], z[None, :]), axis=0)])
        per_basket = ((total[None, :] - aside) / (mc - np.arange(t_max + 1))[:, None]).min(axis=0)
    else:
        per_basket = total / mc
    bounds = np.minimum(comb(f, z), per_basket)
    bounds[0] = f
    return bounds


def _kk_x(count: int, z: int) -> float:
    """The real x >= z - 1 with C(x, z) = count (Lovasz's form of Kruskal-Katona), rounded up."""
    lo, hi = float(z - 1), float(max(z, 1))
    while binom(hi, z) < count:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if binom(mid, z) < count else (lo, mid)
    return hi


# Counting by pattern spectrum costs ~1 s per 25M itemsets: never ask for more
# than this many at once by the bounds (the actual count is usually far lower).
_COUNT_AT_ONCE = 50_000_000




def _mine_bounded(baskets: Baskets, miner, freq: np.ndarray, counts: np.ndarray, mc: int,
                  max_len: int, max_itemsets: int, min_support: float, pairs: dict | None = None) -> list:
    """Mine sizes 1..max_len in ranges, never building more than ``max_itemsets`` itemsets.

    Size 1 is the frequent items themselves; the next sizes are counted in
    numpy while that is cheap (:func:`_numpy_level`), the rest by pyfim.  Frequent itemsets are closed
    under subsets, so once N(z) is known exactly every larger size j has at
    most C(x, j) sets, where C(x, z) = N(z) (Kruskal-Katona in Lovasz's form);
    before that, :func:`_level_bounds` hold.  A range of sizes whose bound
    fits under the cap is built directly; otherwise the next sizes are first
    counted with pyfim's pattern spectrum (counts only, no sets built) and
    :class:`ConfigError` is raised as soon as the exact total passes the cap.
    Each range after the first is mined over fewer transactions: only the
    items of the frequent z-itemsets just found can be in a larger one (again
    closure under subsets), and only baskets holding z + 1 of them.
    """
    n = baskets.n_baskets
    single = np.flatnonzero(freq)
    found: list = list(zip(((int(c),) for c in single), counts[single].tolist()))
    total = len(found)
    by_supp: dict[int, int] = {}
    for c in counts[single].tolist():
        by_supp[c] = by_supp.get(c, 0) + 1
    if total > max_itemsets:
        _too_many(total, by_supp, 1, mc, n, max_len, max_itemsets, min_support)
    codes, offsets, k = _restrict(baskets.codes, baskets.offsets, freq, 2)
    static = _level_bounds(k, mc, len(single), max_len)
    z0, x, top_items = 1, _kk_x(len(single), 1), freq
    n_kept = int(k.sum())  # the first level's baskets are cut already
    while z0 < max_len:  # sizes counted in numpy while that is cheaper than pyfim
        level = _numpy_level(codes, offsets, top_items, z0 + 1, mc, n_kept, every=pairs if z0 == 1 else None)
        n_kept = None
        if level is None:
            break
        sets, c, codes, offsets = level
        for v in c.tolist():
            by_supp[v] = by_supp.get(v, 0) + 1
        total += len(c)
        if total > max_itemsets:  # at most _COUNTERS sets were built: bounded
            _too_many(total, by_supp, z0 + 1, mc, n, max_len, max_itemsets, min_support)
        found += list(zip(map(tuple, sets.tolist()), c.tolist()))
        z0 += 1
        if len(c) == 0:
            return found
        x = _kk_x(len(c), z0)
        top_items = _candidate_items(sets, len(freq))
        if not top_items.any():
            return found
    while z0 < max_len:
        tracts = _Tracts(codes, offsets, top_items, z0 + 1, mc, miner)
        codes, offsets = tracts.codes, tracts.offsets
        z = np.arange(z0 + 1, max_len + 1)
        b = np.minimum(static[z0:], np.floor(binom(x, z)) + 1)
        k_fit = int((total + np.cumsum(b) <= max_itemsets).sum())
        if k_fit == 0:  # the bound cannot rule it out: count exactly first
            k_fit = max(1, int((np.cumsum(b) <= _COUNT_AT_ONCE).sum()))
            for supp, c in tracts.count(z0 + 1, z0 + k_fit).items():
                by_supp[supp] = by_supp.get(supp, 0) + c
            counted = sum(by_supp.values())
            if counted > max_itemsets:
                _too_many(counted, by_supp, z0 + k_fit, mc, n, max_len, max_itemsets, min_support)
        got = tracts.mine(z0 + 1, z0 + k_fit)
        for _, c in got:
            by_supp[c] = by_supp.get(c, 0) + 1
        found += got
        total += len(got)
        z0 += k_fit
        top = [t for t, _ in got if len(t) == z0]
        if not top:
            break
        x = _kk_x(len(top), z0)
        top_items = _candidate_items(np.sort(np.array(top, np.int64), axis=1), len(freq))
        if not top_items.any():
            break
    return found


def _too_many(counted: int, by_supp: dict, upto: int, mc: int, n: int, max_len: int,
              max_itemsets: int, min_support: float):
    supps = sorted(by_supp, reverse=True)
    cum = np.cumsum([by_supp[s] for s in supps])
    fits = [s for s, c in zip(supps, cum) if c <= max_itemsets]
    suggest = (f" Even counting only lengths <= {upto}, min_support must be at least "
               f"{fits[-1] / n:.6g} to stay under the bound." if fits else "")
    raise ConfigError(
        f"min_support={min_support:g} (at least {mc:,} of {n:,} baskets) would find more "
        f"than max_itemsets={max_itemsets:,} frequent itemsets: {counted:,} of length "
        f"<= {upto} already (max_len={max_len}).{suggest}",
        hint="Raise min_support, lower max_len, or raise max_itemsets "
        "(baskets.max_itemsets) if the memory allows (about 250 bytes per itemset).",
    )


def mine_itemsets(baskets: Baskets, *, min_support: float, max_len: int, algorithm: str,
                  max_itemsets: int) -> Itemsets:
    """All itemsets of 1..max_len items in at least ``min_support`` of the baskets (exact).

    FP-growth (Han, Pei & Yin 2000), Eclat (Zaki 2000) or Apriori (Agrawal &
    Srikant 1994), all Borgelt's C implementations in pyfim.  No more than
    ``max_itemsets`` are ever built (see :func:`_mine_bounded`), so memory
    never runs away.
    """
    check_param("min_support", min_support)
    check_param("max_len", max_len)
    check_param("algorithm", algorithm)
    check_param("max_itemsets", max_itemsets)
    n = baskets.n_baskets
    mc = min_count(min_support, n)
    miner = {"fpgrowth": fim.fpgrowth, "eclat": fim.eclat, "apriori": fim.apriori}[algorithm]
    counts = baskets.item_counts()
    freq = counts >= mc
    empty = Itemsets(np.zeros((0, 1), np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64), n, mc, baskets)
    if not freq.any():
        return empty
    # Python's cyclic GC would walk the millions of lists and tuples built here
    # (transactions, pyfim's results) again and again: 3-4x slower.  None is cyclic.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        pairs: dict = {}
        found = _mine_bounded(baskets, miner, freq, counts, mc, max_len, max_itemsets, min_support, pairs)
        its = _to_itemsets(found, baskets, n, mc)
        its.pair_counts = pairs or None
        return its
    finally:
        if gc_was_on:
            gc.enable()


def _to_itemsets(found: list, baskets: Baskets, n: int, mc: int) -> Itemsets:
    pad = baskets.n_items
    sets_t, counts_t = zip(*found)
    del found
    sizes = np.fromiter(map(len, sets_t), np.int32, len(sets_t))
    flat = np.fromiter(chain.from_iterable(sets_t), np.int32, int(sizes.sum()))
    del sets_t
    counts = np.asarray(counts_t, dtype=np.int64)
    width = int(sizes.max())
    rows = np.repeat(np.arange(len(sizes)), sizes)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    sets = np.full((len(sizes), width), pad, np.int32)
    sets[rows, cols] = flat
    return sorted_itemsets(sets, sizes, counts, baskets, n, mc)


def sorted_itemsets(sets: np.ndarray, sizes: np.ndarray, counts: np.ndarray, baskets: Baskets, n: int,
                    mc: int) -> Itemsets:
    """Itemsets from padded code rows (any order): each row ascending, rows by size, count (descending), codes."""
    sets = np.sort(sets, axis=1)
    order = np.lexsort((*sets.T[::-1], -counts, sizes))
    return Itemsets(sets[order], sizes[order], counts[order], n, mc, baskets)


@dataclass
class Rules:
    """All rules ``antecedent => consequent`` of the itemsets (before filters), as arrays.

    Rule ``r`` comes from itemset ``itemset[r]`` by moving the item at
    position ``pos[r]`` to the right-hand side; ``ante[r]`` is the index of
    the antecedent itemset.
    """

    itemsets: Itemsets
    itemset: np.ndarray
    pos: np.ndarray
    ante: np.ndarray
    consequent: np.ndarray
    count: np.ndarray
    ante_count: np.ndarray
    cons_count: np.ndarray

    def __len__(self) -> int:
        return len(self.itemset)

    @cached_property
    def metrics(self) -> dict[str, np.ndarray]:
        """support, confidence, lift, leverage, conviction (arules / mlxtend definitions)."""
        n = float(self.itemsets.n_baskets)
        c, a, y = (self.count.astype(np.float64), self.ante_count.astype(np.float64),
                   self.cons_count.astype(np.float64))
        support = c / n
        confidence = c / a
        lift = c * n / (a * y)
        leverage = support - (a / n) * (y / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            conviction = np.where(confidence < 1, (1 - y / n) / (1 - confidence), np.inf)
        return dict(support=support, confidence=confidence, lift=lift, leverage=leverage,
                    conviction=conviction)

    @property
    def length(self) -> np.ndarray:
        return self.itemsets.sizes[self.itemset]

    @cached_property
    def best_general_confidence(self) -> np.ndarray:
        """Highest confidence of a more general rule (same consequent, antecedent a proper,
        non-empty subset); -inf when the antecedent has one item."""
        its = self.itemsets
        best = np.full(len(self), -np.inf)
        conf = self.metrics["confidence"]
        roff = np.full(len(its), -1, np.int64)
        starts = np.flatnonzero(np.r_[True, self.itemset[1:] != self.itemset[:-1]]) if len(self) else []
        roff[self.itemset[starts]] = starts
        sizes = self.length
        for s in range(3, int(its.sizes.max(initial=0)) + 1):
            at = np.flatnonzero(sizes == s)
            if not len(at):
                continue
            i, p = self.itemset[at], self.pos[at]
            for q in range(s):
                m = p != q
                sub_ante = self.ante[roff[i[m]] + q]  # the itemset I \ {x_q}
                sub = roff[sub_ante] + p[m] - (q < p[m])
                r = at[m]
                best[r] = np.maximum(best[r], np.maximum(conf[sub], best[sub]))
        return best


def build_rules(its: Itemsets) -> Rules:
    """Every rule with a one-item consequent from the frequent itemsets (exact counts)."""
    multi = np.flatnonzero(its.sizes >= 2)
    sz = its.sizes[multi]
    itemset = np.repeat(multi, sz)
    pos = (np.arange(int(sz.sum())) - np.repeat(np.cumsum(sz) - sz, sz)).astype(np.int32)
    full = its.sets[itemset]
    consequent = full[np.arange(len(itemset)), pos]
    w = full.shape[1]
    keep = np.arange(w)[None, :] != pos[:, None]
    ante_rows = np.full_like(full, its.pad)
    ante_rows[:, : w - 1] = full[keep].reshape(len(itemset), w - 1)
    del full, keep
    ante_hash = its.hashes[itemset] - its._item_hash[consequent]
    ante = its.lookup(ante_rows, ante_hash)
    if (ante < 0).any():  # pragma: no cover - the miner returns every frequent subset
        raise RuntimeError("An antecedent of a frequent itemset was not found among the itemsets.")
    single = np.full(its.pad + 1, 0, np.int64)
    ones = np.flatnonzero(its.sizes == 1)
    single[its.sets[ones, 0]] = its.counts[ones]
    return Rules(its, itemset, pos, ante, consequent, its.counts[itemset], its.counts[ante],
                 single[consequent])


def select_rules(rules: Rules, *, min_confidence: float, min_lift: float, min_len: int = 2,
                 antecedent_codes: np.ndarray | None = None, consequent_codes: np.ndarray | None = None,
                 prune_redundant: bool = False) -> np.ndarray:
    """Indices of the rules that pass the filters, sorted by lift, confidence, support (descending).

    Redundancy is judged against every rule with enough support, before the
    item filters, so "what goes with X?" shows the same rules as the full list.
    """
    check_param("min_confidence", min_confidence)
    check_param("min_lift", min_lift)
    check_param("min_len", min_len)
    m = rules.metrics
    ok = (m["confidence"] >= min_confidence) & (m["lift"] >= min_lift) & (rules.length >= min_len)
    if antecedent_codes is not None:
        ok &= np.isin(rules.itemsets.sets[rules.ante], antecedent_codes).any(axis=1)
    if consequent_codes is not None:
        ok &= np.isin(rules.consequent, consequent_codes)
    if prune_redundant:
        ok &= rules.best_general_confidence < m["confidence"]
    idx = np.flatnonzero(ok)
    order = np.lexsort((rules.pos[idx], rules.itemset[idx], -m["support"][idx], -m["confidence"][idx],
                        -m["lift"][idx]))
    return idx[order]
