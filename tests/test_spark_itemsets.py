"""The Spark engine's itemsets (SON over the DuckDB engine's miner) and rules (MLlib's), on 8 hand-written baskets.

Items a, b, c, d are codes 0..3; 8 baskets in 3 partitions (placed by an RDD's partitionBy):

    P0: ab, abc        P1: ab, cd, bc        P2: ac, bcd, abc

At least 3 of 8 baskets (min_count 3): a 5, b 6, c 6 (d 2 is not); pairs ab 4, ac 3, bc 4; abc 2 is not.
A partition keeps its baskets of two frequent items or more (n_p: P0 2, P1 2 since cd holds one, P2 3); local
least counts ceil(3 * n_p / 8): P0 1, P1 1, P2 2. Candidates: ab, ac, bc, abc (P0), ab, bc (P1), ac, bc (P2).
ab is in 1 of P2's baskets (under its 2) and still counted there: 2 + 1 + 1 = 4; abc (2) is dropped.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

HAVE_SPARK = importlib.util.find_spec("pyspark") is not None and importlib.util.find_spec("sqlglot") is not None
pytestmark = [pytest.mark.skipif(not HAVE_SPARK, reason="pyspark / sqlglot not importable"),
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
              pytest.mark.filterwarnings("ignore:toPandas attempted Arrow optimization")]

BASKETS = [[0, 1], [0, 1, 2], [0, 1], [2, 3], [1, 2], [0, 2], [1, 2, 3], [0, 1, 2]]
NAMES = "abcd"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from shopseg.spark import spark_session

    s = spark_session("local[2]", tmp_dir=tmp_path_factory.mktemp("spark"), shuffle_partitions=1, rows=100)
    yield s
    s.stop()


def test_local_min_count_is_the_ceiling_of_the_partitions_share():
    from shopseg.spark._itemsets import local_min_count

    assert [local_min_count(3, n_p, 8) for n_p in (2, 2, 3)] == [1, 1, 2]
    assert local_min_count(205, 20_494, 20_494) == 205  # one partition: the global count


def test_son_finds_an_itemset_frequent_in_one_partition_only_with_its_count_over_all(spark):
    from shopseg.spark._itemsets import spark_son_itemsets

    rows = [([NAMES[i] for i in b],) for b in BASKETS]
    part = [0, 0, 1, 1, 1, 2, 2, 2]
    rdd = spark.sparkContext.parallelize(list(enumerate(rows)), 3).partitionBy(3, lambda i: part[i]).values()
    baskets = spark.createDataFrame(rdd, "items array<string>")
    assert [len(p) for p in baskets.rdd.glom().collect()] == [2, 3, 3]
    sets, sizes, counts, candidates = spark_son_itemsets(baskets, ["a", "b", "c"], 8, 3, max_len=5,
                                                         algorithm="eclat", max_itemsets=1000)
    got = {tuple(r[:z].tolist()): int(c) for r, z, c in zip(sets, sizes, counts)}
    assert got == {(0, 1): 4, (0, 2): 3, (1, 2): 4}  # codes: positions in the frequent items
    assert candidates == 4
    assert (sets[:, 2:] == 3).all()  # padded with the number of frequent items


def _itemsets(spark):
    rows = [(["a"], 5), (["b"], 6), (["c"], 6), (["a", "b"], 4), (["a", "c"], 3), (["b", "c"], 4)]
    return spark.createDataFrame(rows, "items array<string>, count long")


def test_rules_are_one_consequent_with_confidence_lift_and_support_by_hand(spark):
    from shopseg.spark._itemsets import rules_from_itemsets

    r = rules_from_itemsets(_itemsets(spark), 8, 0.55).toPandas()
    got = {(tuple(a), c[0]): (conf, lift, sup) for a, c, conf, lift, sup in
           zip(r["antecedent"], r["consequent"], r["confidence"], r["lift"], r["support"])}
    expected = {(("a",), "b"): (4 / 5, 4 / 5 / (6 / 8), 4 / 8), (("b",), "a"): (4 / 6, 4 / 6 / (5 / 8), 4 / 8),
                (("a",), "c"): (3 / 5, 3 / 5 / (6 / 8), 3 / 8),  # c => a: confidence 3 / 6 < 0.55, left out
                (("b",), "c"): (4 / 6, 4 / 6 / (6 / 8), 4 / 8), (("c",), "b"): (4 / 6, 4 / 6 / (6 / 8), 4 / 8)}
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-15)


def test_rules_equal_mllibs_association_rules_bit_for_bit(spark):
    from pyspark.ml.fpm import FPGrowth

    from shopseg.spark._itemsets import rules_from_itemsets

    baskets = spark.createDataFrame([([NAMES[i] for i in b],) for b in BASKETS], "items array<string>")
    m = FPGrowth(itemsCol="items", minSupport=2.5 / 8, minConfidence=0.5).fit(baskets).associationRules.toPandas()
    r = rules_from_itemsets(_itemsets(spark), 8, 0.5).toPandas()
    key = lambda df: {(tuple(sorted(a)), c[0]): (cf, lf, sp) for a, c, cf, lf, sp in  # noqa: E731
                      zip(df["antecedent"], df["consequent"], df["confidence"], df["lift"], df["support"])}
    assert len(m) == 6 and key(r) == key(m)  # c => a at confidence exactly 0.5 kept by both
