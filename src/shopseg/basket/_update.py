"""Frequent itemsets updated with new baskets instead of mined again: FUP (Cheung, Han, Ng & Wong 1996).

A run that mines the whole shop (unit ``order``) stores its baskets (:func:`store_baskets`: item codes,
offsets and item ids, in the model store as ``baskets``, with the as_of and the last ingest they saw) and every
itemset in at least ``sets_from`` of them with its count: the stage mines 5 % under min_support
(:func:`mine_for_store`; pre-large itemsets, Hong, Wang & Tao 2001).  A later run that only adds baskets
(``shopseg run --incremental``) then updates the stored counts:

- a stored itemset keeps its count, plus its count in the new baskets;
- an itemset not stored (count <= ``sets_from - 1``) can only reach the new threshold ``mc`` (min_support of all
  baskets, arules' rounding) with at least ``mc - sets_from + 1`` new baskets, so only such candidates are
  counted over the old baskets (none or a few for a day of orders; with only the frequent sets stored,
  ``sets_from = mc_old``, they are many);
- candidates are generated level by level from the new frequent sets (Apriori's join, every subset
  frequent), so a set whose subsets are not all frequent is never counted.

An update stores only the baskets it added, with a pointer to the store holding the older ones (``older`` in
its metadata: a chain back to the last full mining, at most :data:`MAX_CHAIN` long), and the sets and item ids
in a file of their own (``.sets.npz``): the next update reads the small files, and the old baskets' codes only
when a candidate must be counted over them (:class:`StoredBaskets`).

Exactly the itemsets and counts a full mining of old + new baskets gives (``tests/test_basket_update.py``
checks it against :func:`mine_itemsets`, with sets crossing the threshold both ways).  What makes a full
mining run instead is decided by :func:`update_baskets` (:data:`FALLBACK`).
"""

from __future__ import annotations

import io

import numpy as np

from ._baskets import _PRODUCT_NAMES_SQL, _WS_ORDERS, Baskets, _item_names, _ws_build, min_count
from ._count import apriori_gen, cooccurrence, count_itemsets
from ._mine import Itemsets, Known, sorted_itemsets

STORE_NAME = "baskets"
# An increment of more than this share of the stored baskets is mined in full (the update's work grows with
# the increment while a full mining's does not).
MAX_NEW_SHARE = 0.25
# At most this many candidates of one size (Apriori's join of the frequent sets) are counted.
MAX_CANDIDATES = 5_000_000
FALLBACK = ("the base run stored no baskets (mined per customer, by an older shopseg, or forgotten since)",
            "itemsets per segment (baskets.segment_schemes): a re-scored customer moves baskets between segments",
            "old baskets changed: lines, orders or products dated up to the stored as_of ingested since, "
            "or customers forgotten",
            f"more new baskets than {MAX_NEW_SHARE:.0%} of the stored ones",
            f"more than {MAX_CANDIDATES:,} candidates of one size, or more than max_itemsets itemsets")


# An update stores its own baskets beside the older stores' (a chain back to a full mining) while the chain is
# shorter than this; then all of them in one file again.
MAX_CHAIN = 30
SETS = ".sets.npz"  # the store's item ids, sets, counts and pair counts (the baskets: ".npz")


class CannotUpdate(Exception):
    """The stored counts cannot be updated (the reason, one of :data:`FALLBACK`): mine in full."""


class StoredBaskets:
    """Baskets whose codes are read (``load``) at their first use: an update needs their number and items, and
    their codes only to count a candidate over them or to store them all again.  Reads as :class:`Baskets`
    (``codes``, ``offsets``, ``item_counts()``, ... load them once)."""

    def __init__(self, item_ids: np.ndarray, item_names: np.ndarray, n_baskets: int, load):
        self.item_ids, self.item_names, self._n, self._load, self._full = item_ids, item_names, int(n_baskets), \
            load, None

    @property
    def n_baskets(self) -> int:
        return self._n

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def full(self) -> Baskets:
        if self._full is None:
            self._full = self._load()
            if self._full.n_baskets != self._n or self._full.n_items != self.n_items:
                raise CannotUpdate(FALLBACK[0])
        return self._full

    def __getattr__(self, name):  # codes, offsets, sizes(), item_counts(), ...: of the baskets, read
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full(), name)


# -- counts ------------------------------------------------------------------------------

def align(old: Baskets, new: Baskets, names: np.ndarray | None = None) -> tuple[Baskets, Baskets]:
    """``old`` and ``new`` coded over the union of their items (ids sorted, as a full mining codes them)."""
    ids = np.union1d(old.item_ids.astype(object), new.item_ids.astype(object)).astype(object)
    if names is None:
        names = ids

    def recode(b: Baskets) -> Baskets:
        if isinstance(b, StoredBaskets):  # recoded when read
            return StoredBaskets(ids, names, b.n_baskets, lambda: recode(b.full()))
        if len(b.item_ids) == len(ids) and (b.item_ids == ids).all():
            return Baskets(b.codes, b.offsets, ids, names)
        to = np.searchsorted(ids, b.item_ids).astype(np.int32)
        return Baskets(to[b.codes] if len(b.codes) else b.codes, b.offsets, ids, names)

    return recode(old), recode(new)


def concat(old: Baskets, new: Baskets) -> Baskets:
    """The baskets of ``old`` then ``new`` (same item coding)."""
    if isinstance(old, StoredBaskets):  # joined when read
        return StoredBaskets(old.item_ids, old.item_names, old.n_baskets + new.n_baskets,
                             lambda: concat(old.full(), new))
    offsets = np.concatenate([old.offsets, new.offsets[1:] + old.offsets[-1]])
    return Baskets(np.concatenate([old.codes, new.codes]), offsets, old.item_ids, old.item_names)


def update_itemsets(old_sets: np.ndarray, old_counts: np.ndarray, old: Baskets, new: Baskets, *,
                    min_support: float, max_len: int, max_itemsets: int,
                    old_pairs: dict | None = None, complete_from: int | None = None) -> tuple[Itemsets, int]:
    """Every itemset of 1..max_len items in at least ``min_support`` of old + new baskets, with its count.

    ``old_sets`` / ``old_counts``: every itemset of ``old`` in at least ``complete_from`` baskets (default: the
    frequent ones at ``min_support``), padded code rows (pad = ``old.n_items``, as :class:`Itemsets` holds
    them), ``old`` and ``new`` coded alike (:func:`align`).  The lower ``complete_from``, the fewer sets need
    counting over the old baskets: a set not given was in at most ``complete_from - 1`` old baskets, so it can
    only reach the least count with ``mc - complete_from + 1`` new ones (pre-large itemsets, Hong, Wang & Tao
    2001).  ``old_pairs``: every pair's count over ``old`` among some items (``{"items": codes, "counts":
    f x f}``, as a mining keeps them in :attr:`Itemsets.pair_counts`): a pair of them is looked up, not counted;
    the result keeps them, plus the new baskets' pairs.  The result's :attr:`Itemsets.known` holds every set
    given or counted whose count over old + new is at least its ``min_count`` (the least count, or lower when
    the new baskets leave room), for the next update.  Also returns how many candidates were counted over the
    old baskets.  Raises :class:`CannotUpdate` where a full mining is the better way (:data:`FALLBACK`).
    """
    pad, n_old = old.n_items, old.n_baskets
    n = n_old + new.n_baskets
    mc_old, mc = min_count(min_support, n_old), min_count(min_support, n)
    floor = mc_old if complete_from is None else int(complete_from)  # every set in >= floor old baskets is given
    at_least_new = max(1, mc - floor + 1)  # new baskets a set not given needs
    width = old_sets.shape[1] if len(old_sets) else 1
    old_sets = np.sort(old_sets, axis=1)  # ascending rows, pad last (as the join writes them)
    known = Itemsets(old_sets.astype(np.int32), (old_sets != pad).sum(axis=1).astype(np.int32),
                     np.asarray(old_counts, np.int64), n_old, floor, old)
    counted_old = 0
    # size 1: a given item's count plus its new baskets; any other item counted over the old baskets
    new_items = new.item_counts()
    total = np.full(pad, -1, np.int64)
    ones = np.flatnonzero(known.sizes == 1)
    total[known.sets[ones, 0]] = known.counts[ones] + new_items[known.sets[ones, 0]]
    need = (total < 0) & (new_items >= at_least_new)
    if need.any():
        total[need] = old.item_counts()[need] + new_items[need]
        counted_old += int(need.sum())
    # what the next update may start from: every set in >= keep_from baskets (a set not given and not counted
    # was in at most floor - 1 old baskets and no more new ones than the most bought item's)
    keep_from = min(mc, floor + int(new_items.max(initial=0)))
    counted = np.flatnonzero(total >= keep_from).astype(np.int32)
    carry = [(counted[:, None], total[counted])]
    level = np.flatnonzero(total >= mc).astype(np.int32)[:, None]
    level_new = new_items[level[:, 0]]
    sets, counts = ([level], [total[level[:, 0]]]) if len(level) else ([], [])
    found = len(level)
    largest_given = int(known.sizes.max(initial=0))
    for z in range(2, max_len + 1):
        # the given sets of this size: their count plus the new baskets'
        of_z = known.sizes == z
        stored = known.sets[of_z][:, :z] if z <= width else np.zeros((0, z), np.int32)
        stored_counts = known.counts[of_z]
        # any other set needs >= at_least_new new baskets, and so does each of its subsets: join only those
        cand = apriori_gen(level[level_new >= at_least_new], pad, at_most=MAX_CANDIDATES)
        if cand is None or len(cand) > MAX_CANDIDATES:
            raise CannotUpdate(FALLBACK[4])
        if len(cand) and len(stored):
            rows = np.full((len(cand), width), pad, np.int32)
            rows[:, :z] = cand
            cand = cand[known.lookup(rows) < 0]
        if not len(cand) and z > largest_given:
            break
        in_new = count_itemsets(new, np.concatenate([stored, cand]), pad)
        tot = np.concatenate([stored_counts + in_new[:len(stored)], np.full(len(cand), -1, np.int64)])
        need = np.flatnonzero(in_new[len(stored):] >= at_least_new)
        if len(need):
            in_old, looked_up = _pairs_known(cand[need], old_pairs, pad) if z == 2 else (None, None)
            if in_old is None:
                in_old, looked_up = count_itemsets(old, cand[need], pad), np.zeros(len(need), bool)
            elif not looked_up.all():
                in_old[~looked_up] = count_itemsets(old, cand[need][~looked_up], pad)
            tot[len(stored) + need] = in_old + in_new[len(stored) + need]
            counted_old += int((~looked_up).sum())
        both = np.concatenate([stored, cand])
        carry.append((both[tot >= keep_from], tot[tot >= keep_from]))
        keep = tot >= mc
        level, level_new = both[keep], in_new[keep]
        if len(level):
            sets.append(level)
            counts.append(tot[keep])
            found += len(level)
        if found > max_itemsets:
            raise CannotUpdate(FALLBACK[4])
    its = sorted_itemsets(*_padded(sets, counts, pad), concat(old, new), n, mc)
    its.known = Known(*_padded([c[0] for c in carry], [c[1] for c in carry], pad)[::2], keep_from)
    if old_pairs is not None:  # the same pairs, with the new baskets
        its.pair_counts = {"items": old_pairs["items"],
                           "counts": old_pairs["counts"] + cooccurrence(new, old_pairs["items"])}
    return its, counted_old


def _padded(sets: list[np.ndarray], counts: list[np.ndarray], pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(padded rows, sizes, counts) of lists of (k, z) code arrays and their counts."""
    sets = [s for s in sets if len(s)] or [np.zeros((0, 1), np.int32)]
    w = max(s.shape[1] for s in sets)
    rows = np.full((sum(len(s) for s in sets), w), pad, np.int32)
    at = 0
    for s in sets:
        rows[at:at + len(s), :s.shape[1]] = s
        at += len(s)
    sizes = np.concatenate([np.full(len(s), s.shape[1], np.int32) for s in sets])
    counts = np.concatenate([np.asarray(c, np.int64) for c in counts] or [np.zeros(0, np.int64)])
    return rows, sizes, counts


def _pairs_known(pairs: np.ndarray, known: dict | None, pad: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The stored count of each pair (rows ascending) whose two items ``known`` covers, and which were."""
    if known is None:
        return None, None
    local = np.full(pad + 1, -1, np.int64)
    local[known["items"]] = np.arange(len(known["items"]))
    a, b = local[pairs[:, 0]], local[pairs[:, 1]]
    have = (a >= 0) & (b >= 0)
    out = np.zeros(len(pairs), np.int64)
    out[have] = known["counts"][a[have], b[have]]  # items ascending: the upper triangle
    return out, have


def code_rows(item_lists: list[list[str]], item_ids: np.ndarray) -> np.ndarray:
    """Padded code rows (pad = len(item_ids)) of lists of item ids, every id among ``item_ids`` (sorted)."""
    sizes = np.fromiter(map(len, item_lists), np.int64, len(item_lists))
    flat = np.array([x for lst in item_lists for x in lst], dtype=object)
    rows = np.full((len(item_lists), int(sizes.max(initial=1))), len(item_ids), np.int32)
    if len(flat):
        r = np.repeat(np.arange(len(item_lists)), sizes)
        c = np.arange(len(flat)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows[r, c] = np.searchsorted(item_ids, flat)
    return rows


# -- the stored baskets -------------------------------------------------------------------

def _marks(ws) -> dict:
    """What later runs compare to see whether old baskets changed: the last ingest and the forgotten count."""
    last = ws.scalar("SELECT max(ingest_id) FROM ingest_log") if ws.has_table("ingest_log") else None
    forgotten = ws.scalar("SELECT count(*) FROM forget_log") if ws.has_table("forget_log") else 0
    return {"last_ingest_id": -1 if last is None else int(last), "forgotten": int(forgotten or 0)}


def store_baskets(ws, run_id: int, baskets: Baskets, known: Known, *, as_of, config_hash: str | None,
                  pairs: dict | None = None, older: int | None = None, n_baskets: int | None = None) -> None:
    """Keep run ``run_id``'s baskets (the whole shop's, one per sale order up to ``as_of``) for a later update,
    with ``known``: every itemset in at least ``known.min_count`` of them and its count (:func:`mine_for_store`,
    or what an update carried forward), and the counts of every pair of some items when the mining had them
    (:attr:`Itemsets.pair_counts`: it counted the pairs in numpy, or an update carried them forward).  An update
    reads the sets' counts; the baskets only for a set outside them (:func:`update_itemsets`).

    ``older``: ``baskets`` are only the ones added since run ``older``'s store, which holds the rest (of
    ``n_baskets`` in all; its own chain too): kept, every other earlier store deleted."""
    from .. import models

    # codes in two bytes when the items allow (a shop's catalogue mostly does): half the file and its copies
    small = baskets.n_items <= np.iinfo(np.int16).max
    codes, sets = io.BytesIO(), io.BytesIO()
    np.savez(codes, codes=baskets.codes.astype(np.int16) if small else baskets.codes, offsets=baskets.offsets)
    extra = {} if pairs is None else {"pair_items": pairs["items"].astype(np.int32),
                                      "pair_counts": pairs["counts"].astype(np.int32)}
    np.savez(sets, item_ids=baskets.item_ids.astype(str), sets=known.sets.astype(np.int16) if small else known.sets,
             set_counts=known.counts, **extra)
    chain = [] if older is None else [int(m["run_id"]) for m in _chain(ws, older)]
    models.save(ws, STORE_NAME, run_id, {".npz": codes.getbuffer(), SETS: sets.getbuffer()},
                {"as_of": str(as_of), "n_baskets": baskets.n_baskets if n_baskets is None else int(n_baskets),
                 "n_own": baskets.n_baskets, "older": older, "sets_from": int(known.min_count), **_marks(ws)},
                config_hash=config_hash)
    for meta in models.entries(ws, STORE_NAME):  # one chain is enough: earlier runs' other stores go
        if int(meta["run_id"]) < int(run_id) and int(meta["run_id"]) not in chain:
            for suffix in (".npz", SETS, models.META):
                models.path(ws, STORE_NAME, int(meta["run_id"]), suffix).unlink(missing_ok=True)


def stored_baskets(ws, run_id: int) -> tuple[Baskets, dict, dict | None, Known | None]:
    """The baskets run ``run_id`` stored (with its chain of older stores: :class:`StoredBaskets`, read at their
    first use), their metadata, the pair counts and the known sets (:func:`store_baskets`; None for a store
    written before they were kept).  Raises :class:`CannotUpdate` when a store of the chain is gone."""
    from .. import models

    meta = models.require(ws, STORE_NAME, run_id)
    if models.path(ws, STORE_NAME, run_id, SETS).name not in meta.get("files", {}):  # one file (before session 14)
        with np.load(io.BytesIO(models.read_bytes(ws, STORE_NAME, run_id, ".npz"))) as f:
            ids = f["item_ids"].astype(object)
            pairs = {"items": f["pair_items"], "counts": f["pair_counts"]} if "pair_items" in f.files else None
            known = (Known(f["sets"].astype(np.int32), f["set_counts"], int(meta["sets_from"]))
                     if "sets" in f.files and "sets_from" in meta else None)
            return Baskets(f["codes"].astype(np.int32), f["offsets"], ids, ids), meta, pairs, known
    chain = _chain(ws, run_id)
    with np.load(io.BytesIO(models.read_bytes(ws, STORE_NAME, run_id, SETS))) as f:
        ids = f["item_ids"].astype(object)
        pairs = {"items": f["pair_items"], "counts": f["pair_counts"]} if "pair_items" in f.files else None
        known = Known(f["sets"].astype(np.int32), f["set_counts"], int(meta["sets_from"]))
    return StoredBaskets(ids, ids, int(meta["n_baskets"]), lambda: _read_chain(ws, chain)), meta, pairs, known


def _chain(ws, run_id: int) -> list[dict]:
    """The metadata of run ``run_id``'s store and of the older stores it builds on, newest first; checked to add
    up (each store's own baskets plus the older ones' are its number).  Raises :class:`CannotUpdate` when one is
    gone (forgotten, discarded) or does not add up."""
    from .. import models

    metas, rid = [], run_id
    while rid is not None:
        if not models.exists(ws, STORE_NAME, int(rid)) or len(metas) > MAX_CHAIN:
            raise CannotUpdate(FALLBACK[0])
        metas.append(models.require(ws, STORE_NAME, int(rid)))
        rid = metas[-1].get("older")
    for m, before in zip(metas, metas[1:] + [None]):
        if int(m["n_baskets"]) != int(m.get("n_own", m["n_baskets"])) + (int(before["n_baskets"]) if before else 0):
            raise CannotUpdate(FALLBACK[0])
    return metas


def _read_chain(ws, chain: list[dict]) -> Baskets:
    """Every basket of the stores of ``chain`` (:func:`_chain`), oldest first, coded over the newest's items."""
    from .. import models

    out = None
    for meta in reversed(chain):
        rid = int(meta["run_id"])
        with np.load(io.BytesIO(models.read_bytes(ws, STORE_NAME, rid, ".npz"))) as f:
            codes, offsets = f["codes"].astype(np.int32), f["offsets"]
        with np.load(io.BytesIO(models.read_bytes(ws, STORE_NAME, rid, SETS))) as f:
            ids = f["item_ids"].astype(object)
        own = Baskets(codes, offsets, ids, ids)
        out = own if out is None else concat(*align(out, own))  # the older items are among the newer store's
    return out


# A full run mines its stored sets this much under min_support (pre-large itemsets): a later update then
# counts over the old baskets only a set in more new baskets than the margin leaves (x10: ~10% more sets,
# the same mining time).
STORE_MARGIN = 0.05


def mine_for_store(p, baskets: Baskets) -> Itemsets | None:
    """The itemsets of ``baskets`` in at least (1 - STORE_MARGIN) x ``p.min_support`` of them, for the store
    (the run's own are :meth:`Itemsets.at_least` its least count); None when there would be more than
    ``p.max_itemsets`` of them (then the run's itemsets are stored)."""
    from ..errors import ConfigError
    from ._mine import mine_itemsets

    try:
        return mine_itemsets(baskets, min_support=p.min_support * (1 - STORE_MARGIN), max_len=p.max_len,
                             algorithm=p.algorithm, max_itemsets=p.max_itemsets)
    except ConfigError:
        return None


def _old_baskets_changed(ws, meta: dict, item_ids: np.ndarray) -> bool:
    now = _marks(ws)
    if now["forgotten"] != meta.get("forgotten"):
        return True
    k = int(meta.get("last_ingest_id", -1))
    dated = "o.kind = 'sale' AND o.ordered_at <= CAST(? AS TIMESTAMP)"
    late = ws.scalar(f"SELECT count(*) FROM order_lines ol JOIN orders o ON o.order_id = ol.order_id "
                     f"WHERE ol.ingest_id > ? AND {dated}", [k, meta["as_of"]])
    late = late or ws.scalar(f"SELECT count(*) FROM orders o WHERE o.ingest_id > ? AND {dated}", [k, meta["as_of"]])
    if late:
        return True
    prods = [r[0] for r in ws.sql("SELECT CAST(product_id AS VARCHAR) FROM products WHERE ingest_id > ?", [k])]
    return bool(prods) and bool(np.isin(np.array(prods, dtype=object), item_ids).any())


def update_baskets(ws, run_id: int, *, as_of, config, base: int) -> dict:
    """Run ``run_id``'s ``frequent_itemsets`` and ``association_rules`` (scope ``all``) from run ``base``'s
    itemsets and stored baskets plus the baskets of the sale orders dated after them, as the baskets stage
    (:func:`mine_baskets`) would write them; stores the run's baskets.  Raises :class:`CannotUpdate`."""
    from ..models import exists
    from ._tables import _Params, _write, itemsets_table, rules_table
    from ._mine import build_rules, select_rules

    p = _Params(config)
    if p.unit != "order" or not exists(ws, STORE_NAME, base):
        raise CannotUpdate(FALLBACK[0])
    if config["baskets.segment_schemes"]:
        raise CannotUpdate(FALLBACK[1])
    old, meta, pairs, known = stored_baskets(ws, base)
    if meta.get("config_hash") != config.hash or meta.get("n_baskets") != old.n_baskets:
        raise CannotUpdate(FALLBACK[0])
    if known is None:  # a store from before session 11: the run's frequent itemsets, complete from its least count
        rows = ws.con.execute("SELECT items, count FROM frequent_itemsets WHERE run_id = ? AND scope = 'all'",
                              [base]).fetchall()
        known = Known(code_rows([r[0] for r in rows], old.item_ids), np.array([r[1] for r in rows], np.int64),
                      min_count(p.min_support, old.n_baskets))
    if _old_baskets_changed(ws, meta, old.item_ids):
        raise CannotUpdate(FALLBACK[2])
    sql = _WS_ORDERS.format(grp="NULL", basket="o.order_id", seg_join="",
                           extra="AND o.ordered_at > CAST(? AS TIMESTAMP)")
    new = _ws_build(ws, sql, [as_of, meta["as_of"]], "new baskets", allow_empty=True, by_row=True)
    if new.n_baskets > MAX_NEW_SHARE * old.n_baskets:
        raise CannotUpdate(FALLBACK[3])
    names_tbl = ws.con.sql(_PRODUCT_NAMES_SQL).to_arrow_table()
    ids = np.union1d(old.item_ids, new.item_ids).astype(object)
    to = np.append(np.searchsorted(ids, old.item_ids), len(ids)).astype(np.int32)  # old codes (pad too) -> union's
    if pairs is not None:
        pairs["items"] = to[pairs["items"]]
    old, new = align(old, new, _item_names(ids, names_tbl))
    its, counted = update_itemsets(to[known.sets], known.counts, old, new, min_support=p.min_support,
                                   max_len=p.max_len, max_itemsets=p.max_itemsets, old_pairs=pairs,
                                   complete_from=known.min_count)
    rules = build_rules(its)
    idx = select_rules(rules, min_confidence=p.min_confidence, min_lift=p.min_lift,
                       prune_redundant=p.prune_redundant)
    out = {"frequent_itemsets": _write(ws, "frequent_itemsets", run_id, itemsets_table(its, "all")),
           "association_rules": _write(ws, "association_rules", run_id, rules_table(rules, idx, "all"))}
    if isinstance(old, StoredBaskets) and len(_chain(ws, base)) < MAX_CHAIN:  # the day's baskets; base's stay
        store_baskets(ws, run_id, new, its.known, as_of=as_of, config_hash=config.hash, pairs=its.pair_counts,
                      older=base, n_baskets=its.n_baskets)
    else:  # every basket in one store again
        every = its.baskets.full() if isinstance(its.baskets, StoredBaskets) else its.baskets
        store_baskets(ws, run_id, every, its.known, as_of=as_of, config_hash=config.hash, pairs=its.pair_counts)
    out["note"] = (f"counts of run {base}'s {len(known.counts)} itemsets updated with {new.n_baskets} new baskets "
                   f"({its.n_baskets} in all); {counted} new candidates counted over the old baskets")
    out.update(carry_backtest(ws, base, run_id))
    return out


def carry_backtest(ws, base: int, run_id: int) -> dict:
    """Run ``base``'s backtest of the rules (its ``model_decisions`` row ``rules``) as run ``run_id``'s: an update
    adds a few baskets to the counts and does not mine the window again (docs/baskets.md); the row names ``base``
    as the run whose backtest it is (``source_run_id``).  Nothing when ``base`` has none."""
    import pandas as pd

    from ..refit import Decision, backtest_fields, decisions, record

    d = decisions(ws, base, "rules")
    if d.empty:
        return {}
    r = d.iloc[0]
    # the run that ran the backtest (an update of an update: the first)
    src = base if pd.isna(r["source_run_id"]) else int(r["source_run_id"])
    note = record(ws, run_id, Decision(
        "rules", "refitted", f"rules updated from run {base}'s counts with the new baskets; run {src}'s backtest "
        "stands (an update does not mine the window again)", source_run_id=src, **backtest_fields(r)))
    return {"cross_sell": f"{note.get('decision', '')} (backtest of run {src})"}
