"""Frequent itemsets and one-consequent rules on Spark: the DuckDB engine's miner per partition (SON).

Savasere, Omiecinski & Navathe (1995): an itemset in at least ``mc`` of ``n`` baskets is, in some partition
``p`` of the baskets, in at least ``mc * n_p / n`` of its ``n_p`` (the partitions' counts add up to at least
``mc`` and their sizes to at most ``n``; ``n_p`` may count only the partition's baskets of two frequent items
or more, the only ones that hold an itemset of two). So two passes over the baskets find every frequent itemset exactly:

1. each partition mines its own baskets at that local least count with :func:`shopseg.basket._mine.mine_itemsets`
   (pyfim, the DuckDB engine's miner): the union of the partitions' itemsets holds every frequent one;
2. each partition counts every candidate in its baskets (:func:`shopseg.basket._count.count_itemsets`, the
   DuckDB engine's exact counter); Spark adds the counts, and the candidates with ``count >= mc`` are the result.

Baskets travel to Python as Arrow lists of item ids; each partition codes its frequent items by one Arrow
hash lookup (``index_in``) and keeps the baskets of two or more: no Python object per basket or line (a
Spark map literal as the lookup scans its keys for every line: 109 s of the first pass at x10).  Single
items come from Spark's own count.

Why not MLlib's FP-growth (the engine's miner until session 11): its parallel FP-growth builds the FP-trees
inside ``aggregateByKey``, whose map-side combine re-measures the map's whole object graph
(``SizeEstimator``, by reflection) every ~10 % more records: ~75 % of the executors' samples in jstack on
Online Retail, 134 s of mining for 20,494 baskets (x1), most of the 264 s stage at x10, growing with the partitions (one
conditional tree per partition and key). The rules are MLlib's: ``I \\ {y} => {y}`` for every frequent
``I`` of two items or more, confidence ``count(I) / count(I \\ {y})``, lift that over ``count(y) / n``,
support ``count(I) / n``, kept at ``confidence >= baskets.min_confidence``.
"""

from __future__ import annotations

import numpy as np

RULE_COLUMNS = ("antecedent", "consequent", "confidence", "lift", "support")


def local_min_count(mc: int, n_part: int, n: int) -> int:
    """The least count in a partition of ``n_part`` baskets (of ``n``) that a globally frequent itemset
    (in ``mc`` or more) reaches in at least one partition: ``ceil(mc * n_part / n)``, at least 1.

    >>> local_min_count(205, 10_247, 20_494), local_min_count(205, 10_248, 20_494), local_min_count(3, 1, 1000)
    (103, 103, 1)
    """
    return max(1, -(-int(mc) * int(n_part) // int(n)))


def _partition_baskets(batches, ids):
    """The partition's baskets (Arrow batches of one ``items`` list<string> column) as a
    :class:`~shopseg.basket._baskets.Baskets` of the codes of ``ids`` (the frequent items, sorted: code = position),
    baskets of fewer than two of them left out; None when none is left.  Vectorised in Arrow and numpy (a hash
    lookup per line; no Python object per basket or line)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..basket._baskets import Baskets

    arrays = [b.column(0) for b in batches if b.num_rows]
    if not arrays:
        return None
    col = pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]
    values = col.flatten()  # respects a sliced array's offsets
    sizes = np.asarray(pc.list_value_length(col).fill_null(0), dtype=np.int64)
    idx = pc.index_in(values, value_set=pa.array(list(ids), type=values.type))
    hit = np.asarray(idx.is_valid(), dtype=bool)
    basket = np.repeat(np.arange(len(sizes)), sizes)[hit]
    per = np.bincount(basket, minlength=len(sizes))
    keep = (per >= 2)[basket]
    codes = np.asarray(idx.fill_null(0), dtype=np.int32)[hit][keep]
    per = per[per >= 2]
    if not len(per):
        return None
    offsets = np.zeros(len(per) + 1, np.int64)
    np.cumsum(per, out=offsets[1:])
    names = np.asarray(ids, dtype=str)
    return Baskets(codes, offsets, names, names)


def _list_batch(sets: np.ndarray, sizes: np.ndarray, counts: np.ndarray):
    import pyarrow as pa

    keep = np.arange(sets.shape[1])[None, :] < sizes[:, None]
    offsets = np.zeros(len(sizes) + 1, np.int32)
    np.cumsum(sizes, out=offsets[1:])
    items = pa.ListArray.from_arrays(pa.array(offsets), pa.array(sets[keep].astype(np.int32)))
    return pa.RecordBatch.from_arrays([items, pa.array(counts.astype(np.int64))], names=["codes", "count"])


def spark_son_itemsets(baskets, ids, n: int, mc: int, *, max_len: int, algorithm: str,
                       max_itemsets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(sets, sizes, counts, candidates) of the itemsets of 2..``max_len`` items in ``mc`` or more of ``n`` baskets.

    ``baskets``: a Spark DataFrame of one column ``items`` (array<string>, distinct items of a basket);
    ``ids``: the frequent items (in ``mc`` baskets or more), sorted: ``sets`` holds their positions (codes),
    ascending, padded with ``len(ids)``; rows in no particular order.
    """
    import pyarrow as pa

    from ..basket._count import count_itemsets
    from ..basket._mine import mine_itemsets
    from ._session import carry_errors

    empty = np.zeros((0, 2), np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64), 0
    n_items = pad = len(ids)
    if max_len < 2 or n_items < 2:
        return empty

    @carry_errors  # baskets.max_itemsets' ConfigError reaches the user as such (SparkEngine's executors)
    def mine(batches):  # pass 1: each partition's itemsets at its local least count
        b = _partition_baskets(batches, ids)
        if b is None:
            return
        lmc = local_min_count(mc, b.n_baskets, n)
        its = mine_itemsets(b, min_support=(lmc - 0.5) / b.n_baskets, max_len=max_len, algorithm=algorithm,
                            max_itemsets=max_itemsets)
        two = its.sizes >= 2
        if two.any():
            yield _list_batch(its.sets[two], its.sizes[two], its.counts[two])

    schema = "codes array<int>, count long"
    found = baskets.mapInArrow(mine, schema).select("codes").distinct().toArrow()
    if found.num_rows == 0:
        return empty
    col = found.column("codes").combine_chunks()
    offs = np.asarray(col.offsets, dtype=np.int64)
    vals = np.asarray(col.values, dtype=np.int32)
    sizes = np.diff(offs).astype(np.int32)
    width = int(sizes.max())
    cand = np.full((len(sizes), width), pad, np.int32)
    cand[np.repeat(np.arange(len(sizes)), sizes), np.arange(len(vals)) - np.repeat(offs[:-1], sizes)] = vals

    @carry_errors
    def count(batches):  # pass 2: every candidate counted in each partition
        b = _partition_baskets(batches, ids)
        if b is None:
            return
        out = np.zeros(len(cand), np.int64)
        for z in np.unique(sizes):  # one size at a time: pairs by one sparse product
            rows = np.flatnonzero(sizes == z)
            out[rows] = count_itemsets(b, cand[rows, :z], pad)
        hit = np.flatnonzero(out)
        yield pa.RecordBatch.from_arrays([pa.array(hit.astype(np.int64)), pa.array(out[hit])], names=["i", "c"])

    from pyspark.sql import functions as F

    totals = baskets.mapInArrow(count, "i long, c long").groupBy("i").agg(F.sum("c").alias("c")).toArrow()
    total = np.zeros(len(cand), np.int64)
    total[np.asarray(totals.column("i"), dtype=np.int64)] = np.asarray(totals.column("c"), dtype=np.int64)
    ok = total >= mc
    return cand[ok], sizes[ok], total[ok], len(cand)


def rules_from_itemsets(itemsets, n: int, min_confidence: float):
    """MLlib's association rules (columns :data:`RULE_COLUMNS`) from a Spark frame of frequent itemsets
    (``items`` array<string> ascending, ``count`` long, every frequent itemset of the lengths mined)."""
    from pyspark.sql import functions as F

    its = itemsets.select("items", "count")
    big = its.where(F.size("items") >= 2).select(F.col("items").alias("_all"), F.col("count").alias("_n"),
                                                 F.explode("items").alias("_y"))
    big = big.select("_all", "_n", "_y", F.filter("_all", lambda x: x != F.col("_y")).alias("_ante"))
    ante = its.select(F.col("items").alias("_ante"), F.col("count").alias("_na"))
    single = its.where(F.size("items") == 1).select(F.col("items")[0].alias("_y"), F.col("count").alias("_ny"))
    r = big.join(ante, "_ante").join(single, "_y")
    conf = F.col("_n") / F.col("_na")
    return r.select(F.col("_ante").alias("antecedent"), F.array("_y").alias("consequent"), conf.alias("confidence"),
                    (conf / (F.col("_ny") / F.lit(n))).alias("lift"), (F.col("_n") / F.lit(n)).alias("support")) \
        .where(F.col("confidence") >= F.lit(float(min_confidence)))
