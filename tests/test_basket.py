"""Baskets: frequent itemsets, association rules, per-segment rules and cross-sell.

Oracles: the published Groceries rule counts (arules), mlxtend's itemsets and
measures, brute force on small random data, and a 5-basket example computed by
hand in the comments below.
"""

from __future__ import annotations

import doctest
import itertools
import math
import os
import time
import warnings
from collections import Counter
from unittest import mock

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shopseg.basket as basket
import shopseg.basket._count as basket_count
from shopseg.basket import (
    association_rules,
    baskets_from_transactions,
    count_itemsets,
    cross_sell,
    frequent_itemsets,
    mine_baskets,
    purchase_histories,
    segment_rules,
)
from shopseg.basket._baskets import min_count
from shopseg.basket._count import _candidate_items
from shopseg.basket._mine import _level_bounds, build_rules, mine_itemsets
from shopseg.config import load_config
from shopseg.errors import ConfigError, DataContractError

DATA = os.path.join(os.path.dirname(__file__), "data")
ALL = dict(min_confidence=0.0, min_lift=0.0, prune_redundant=False)


def groceries() -> list[list[str]]:
    with open(os.path.join(DATA, "groceries.csv"), encoding="utf-8") as f:
        return [line.rstrip("\n").split(",") for line in f]


# Five baskets.  Counts: bread 4, milk 4, butter 3, beer 1; {bread, milk} 3,
# {butter, milk} 3, {bread, butter} 2, {bread, butter, milk} 2, {beer, bread} 1.
FIVE = [["bread", "milk"], ["bread", "butter", "milk"], ["beer", "bread"], ["butter", "milk"],
        ["bread", "butter", "milk"]]


def rule(df, ante, cons):
    hit = df[df.antecedent.map(lambda a: sorted(a) == sorted(ante)) & (df.consequent == cons)]
    assert len(hit) == 1, f"rule {ante} => {cons} not found once"
    return hit.iloc[0]


# -- published oracles ------------------------------------------------------------------

def test_groceries_gives_the_463_published_arules_rules():
    rules = association_rules(groceries(), min_support=0.006, min_confidence=0.25, min_len=2, max_len=10,
                              min_lift=0.0, prune_redundant=False)
    assert len(rules) == 463
    assert Counter(rules["length"]) == {2: 150, 3: 297, 4: 16}
    pot = rule(rules, ["pot plants"], "whole milk")
    assert pot.support == pytest.approx(0.006914, abs=5e-7)
    assert pot.confidence == pytest.approx(0.4, abs=1e-12)
    assert pot.lift == pytest.approx(1.5655, abs=5e-5)
    assert pot["count"] == 68


def test_groceries_support_0001_confidence_08_gives_410_rules():
    rules = association_rules(groceries(), min_support=0.001, min_confidence=0.8, min_lift=0.0,
                              max_len=10, prune_redundant=False)
    assert len(rules) == 410
    assert (rules.confidence >= 0.8).all() and (rules["count"] >= 10).all()  # 0.001 * 9835 -> 10


def test_apriori_eclat_and_fpgrowth_find_the_same_itemsets_on_groceries():
    a = frequent_itemsets(groceries(), min_support=0.005, algorithm="apriori", max_len=10)
    e = frequent_itemsets(groceries(), min_support=0.005, algorithm="eclat", max_len=10)
    f = frequent_itemsets(groceries(), min_support=0.005, algorithm="fpgrowth", max_len=10)
    pd.testing.assert_frame_equal(a, f)
    pd.testing.assert_frame_equal(e, f)
    assert len(f) == 1001  # pyfim and mlxtend agree on this count


def test_itemsets_and_rule_measures_match_mlxtend_on_a_small_dataset():
    from mlxtend.frequent_patterns import association_rules as ml_rules
    from mlxtend.frequent_patterns import fpgrowth as ml_fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    tx = groceries()[:1500]
    te = TransactionEncoder()
    onehot = pd.DataFrame(te.fit(tx).transform(tx), columns=te.columns_)
    theirs = ml_fpgrowth(onehot, min_support=0.01, use_colnames=True)
    ours = frequent_itemsets(tx, min_support=0.01)
    assert len(ours) == len(theirs) == 435
    assert {frozenset(s): round(v, 12) for s, v in zip(ours["items"], ours.support)} == \
        {frozenset(s): round(v, 12) for s, v in zip(theirs.itemsets, theirs.support)}
    with warnings.catch_warnings():  # mlxtend divides by zero for confidence 1 (conviction inf)
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"mlxtend\..*")
        mr = ml_rules(theirs, num_itemsets=len(onehot), metric="confidence", min_threshold=0.12)
    mr = mr[mr.consequents.map(len) == 1]
    # (0.12, not 0.1: yogurt => cream cheese has confidence 21/210 = 0.1 exactly, which we keep
    # and mlxtend, dividing rounded supports, puts at 0.0999...)
    rules = association_rules(tx, min_support=0.01, min_confidence=0.12, min_lift=0.0, prune_redundant=False)
    assert len(rules) == len(mr) > 100
    key = lambda a, c: (frozenset(a), c)  # noqa: E731
    theirs_m = {key(a, next(iter(c))): r for a, c, r in zip(mr.antecedents, mr.consequents,
                                                            mr.itertuples(index=False))}
    for r in rules.itertuples(index=False):
        t = theirs_m[key(r.antecedent, r.consequent)]
        assert r.support == pytest.approx(t.support, abs=1e-12)
        assert r.confidence == pytest.approx(t.confidence, abs=1e-12)
        assert r.lift == pytest.approx(t.lift, rel=1e-12)
        assert r.leverage == pytest.approx(t.leverage, abs=1e-12)
        assert r.conviction == pytest.approx(t.conviction, rel=1e-9)


# -- by hand -----------------------------------------------------------------------------

def test_five_baskets_measures_match_the_hand_computation():
    its = frequent_itemsets(FIVE, min_support=0.4)
    assert dict(zip(map(tuple, its["items"]), its["count"])) == {
        ("bread",): 4, ("milk",): 4, ("butter",): 3, ("bread", "milk"): 3, ("butter", "milk"): 3,
        ("bread", "butter"): 2, ("bread", "butter", "milk"): 2}
    rules = association_rules(FIVE, min_support=0.4, **ALL)
    assert len(rules) == 9
    # {butter} => milk: 3 of 5 baskets; 3/3 butter baskets hold milk; lift 1 / 0.8;
    # leverage 0.6 - 0.6 * 0.8; conviction (1 - 0.8) / (1 - 1) = inf.
    r = rule(rules, ["butter"], "milk")
    assert (r.support, r.confidence, r.lift, r.leverage, r.conviction) == pytest.approx(
        (0.6, 1.0, 1.25, 0.12, math.inf))
    # {milk} => butter: conf 3/4, lift 0.75 / 0.6, conviction (1 - 0.6) / (1 - 0.75).
    r = rule(rules, ["milk"], "butter")
    assert (r.support, r.confidence, r.lift, r.leverage, r.conviction) == pytest.approx(
        (0.6, 0.75, 1.25, 0.12, 1.6))
    # {bread} => milk: conf 3/4, lift 0.75 / 0.8, leverage 0.6 - 0.64, conviction 0.2 / 0.25.
    r = rule(rules, ["bread"], "milk")
    assert (r.support, r.confidence, r.lift, r.leverage, r.conviction) == pytest.approx(
        (0.6, 0.75, 0.9375, -0.04, 0.8))
    # {bread, milk} => butter: 2 of 5; conf 2/3; lift (2/3) / 0.6; leverage 0.4 - 0.6 * 0.6;
    # conviction 0.4 / (1/3).
    r = rule(rules, ["bread", "milk"], "butter")
    assert (r.support, r.confidence, r.lift, r.leverage, r.conviction, r.length) == pytest.approx(
        (0.4, 2 / 3, 10 / 9, 0.04, 1.2, 3))
    assert r.antecedent_names == ["bread", "milk"] and r.consequent_name == "butter"


def test_redundant_rules_are_pruned_as_computed_by_hand():
    # {a,b} in baskets 1,2, both with c: {a,b} => c has conf 1 > {a} => c (3/4), {b} => c (2/4):
    # kept.  {a,c} => b has conf 2/3 <= {c} => b (2/3): redundant.  {b,c} => a has conf 1 <=
    # {c} => a (3/3): redundant.
    tx = [["a", "b", "c"], ["a", "b", "c"], ["a"], ["b"], ["a", "c"]]
    full = association_rules(tx, min_support=0.4, **ALL)
    pruned = association_rules(tx, min_support=0.4, **{**ALL, "prune_redundant": True})
    three = pruned[pruned.length == 3]
    assert [(sorted(a), c) for a, c in zip(three.antecedent, three.consequent)] == [(["a", "b"], "c")]
    assert rule(full, ["a", "b"], "c").confidence == 1.0
    assert rule(full, ["a"], "c").confidence == 0.75
    # Two-item rules have no non-empty more general rule, so none is pruned.
    assert (full.length == 2).sum() == (pruned.length == 2).sum() == 6


def test_the_docstring_example_runs():
    result = doctest.testmod(basket, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# -- brute force on random baskets ------------------------------------------------------

def _brute(tx, min_support):
    n = len(tx)
    sets = [frozenset(t) for t in tx]
    items = sorted(set().union(*sets))
    counts = {}
    for k in range(1, len(items) + 1):
        for c in itertools.combinations(items, k):
            cnt = sum(1 for s in sets if s.issuperset(c))
            if cnt / n >= min_support:
                counts[frozenset(c)] = cnt
    return counts


baskets_st = st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6), min_size=1, max_size=14)


@settings(max_examples=40, deadline=None)
@given(tx=baskets_st, min_support=st.sampled_from([0.1, 0.2, 0.3, 0.5]))
def test_itemsets_rules_and_redundancy_equal_brute_force(tx, min_support):
    counts = _brute(tx, min_support)
    its = frequent_itemsets(tx, min_support=min_support)
    assert {frozenset(s): c for s, c in zip(its["items"], its["count"])} == counts
    rules = association_rules(tx, min_support=min_support, **ALL)
    expect = {}
    for s, c in counts.items():
        for y in s if len(s) > 1 else ():
            expect[(s - {y}, y)] = c / counts[s - {y}]
    got = {(frozenset(a), c): conf for a, c, conf in zip(rules.antecedent, rules.consequent, rules.confidence)}
    assert got == pytest.approx(expect)
    pruned = association_rules(tx, min_support=min_support, **{**ALL, "prune_redundant": True})
    keep = {
        k for k, conf in expect.items()
        if not any(expect[(frozenset(sub), k[1])] >= conf
                   for r in range(1, len(k[0])) for sub in itertools.combinations(k[0], r))
    }
    assert {(frozenset(a), c) for a, c in zip(pruned.antecedent, pruned.consequent)} == keep


@settings(max_examples=30, deadline=None)
@given(tx=baskets_st)
def test_bitmap_counts_equal_brute_force(tx):
    b = baskets_from_transactions(tx)
    its = mine_itemsets(b, min_support=1 / len(tx), max_len=6, algorithm="fpgrowth", max_itemsets=10**6)
    counts = count_itemsets(b, its.sets, its.pad)
    assert counts.tolist() == its.counts.tolist()


def test_rule_lookup_stays_exact_when_every_hash_collides():
    b = baskets_from_transactions(groceries()[:800])
    its = mine_itemsets(b, min_support=0.01, max_len=10, algorithm="fpgrowth", max_itemsets=10**6)
    good = build_rules(its)
    its2 = mine_itemsets(b, min_support=0.01, max_len=10, algorithm="fpgrowth", max_itemsets=10**6)
    its2.__dict__["_item_hash"] = np.zeros(its2.pad + 1, np.uint64)  # every set hashes to 0
    bad = build_rules(its2)
    assert np.array_equal(good.ante, bad.ante) and np.array_equal(good.ante_count, bad.ante_count)


# -- inputs, filters and bounds -------------------------------------------------------------

def test_a_duckdb_relation_gives_the_same_rules_as_lists():
    con = duckdb.connect()
    rows = [(i, x) for i, t in enumerate(FIVE) for x in t]
    rel = con.sql("SELECT * FROM (VALUES " + ",".join(f"({i}, '{x}')" for i, x in rows)
                  + ") t(basket_id, item)")
    a = association_rules(rel, min_support=0.4, **ALL)
    pd.testing.assert_frame_equal(a, association_rules(FIVE, min_support=0.4, **ALL))
    with pytest.raises(DataContractError, match="missing required column"):
        association_rules(con.sql("SELECT 1 AS basket, 'x' AS item"), min_support=0.5)


def test_what_goes_with_x_keeps_rules_with_x_in_the_antecedent():
    rules = association_rules(FIVE, min_support=0.4, antecedent_items=["butter"], **ALL)
    assert len(rules) == 4 and all("butter" in a for a in rules.antecedent)
    to_milk = association_rules(FIVE, min_support=0.4, consequent_items="milk", **ALL)
    assert set(to_milk.consequent) == {"milk"} and len(to_milk) == 3
    with pytest.raises(DataContractError, match="'buter' are in no basket"):
        association_rules(FIVE, min_support=0.4, antecedent_items=["buter"])


def test_lift_and_length_filters():
    rules = association_rules(FIVE, min_support=0.4, min_confidence=0.0, min_lift=1.0,
                              prune_redundant=False)
    assert (rules.lift >= 1.0).all() and len(rules) == 4
    only3 = association_rules(FIVE, min_support=0.4, min_len=3, **ALL)
    assert (only3.length == 3).all() and len(only3) == 3
    only2 = association_rules(FIVE, min_support=0.4, max_len=2, **ALL)
    assert len(only2) == 6


def test_empty_baskets_are_ignored_and_no_basket_is_a_clear_error():
    its = frequent_itemsets([["a", "b"], [], ["a"]], min_support=0.5)
    assert dict(zip(map(tuple, its["items"]), its.support)) == {("a",): 1.0, ("b",): 0.5, ("a", "b"): 0.5}
    with pytest.raises(DataContractError, match="No basket to mine"):
        frequent_itemsets([[], []], min_support=0.5)


def test_one_enormous_basket_does_not_explode():
    rng = np.random.default_rng(7)
    small = [list(rng.choice([f"i{k}" for k in range(20)], size=4, replace=False)) for _ in range(300)]
    big = [f"i{k}" for k in range(20)] + [f"x{k}" for k in range(10_000)]
    t0 = time.perf_counter()
    with_big = frequent_itemsets(small + [big], min_support=0.02)
    assert time.perf_counter() - t0 < 10
    # The 10,000 items only in the big basket are infrequent, so they change nothing.
    same = frequent_itemsets(small + [big[:20]], min_support=0.02)
    pd.testing.assert_frame_equal(with_big, same)


def test_an_item_in_every_basket_doubles_the_itemsets_exactly():
    tx = groceries()[:2000]
    plain = frequent_itemsets(tx, min_support=0.01)
    bagged = frequent_itemsets([t + ["bag"] for t in tx], min_support=0.01)
    assert len(bagged) == 2 * len(plain) + 1
    rules = association_rules([t + ["bag"] for t in tx], min_support=0.01, consequent_items="bag", **ALL)
    assert (rules.confidence == 1.0).all() and len(rules) == len(plain)


def test_a_support_too_low_raises_config_error_before_building_itemsets():
    one_huge = [[f"x{k}" for k in range(10_000)]]  # min_support 1.0 of one basket: every subset
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        frequent_itemsets(one_huge, min_support=1.0, max_len=4)
    assert time.perf_counter() - t0 < 20
    msg = str(e.value)
    assert "max_itemsets=2,000,000" in msg and "Raise min_support" in msg
    with pytest.raises(ConfigError, match=r"more than max_itemsets=1,000 .* 10,000 of length <= 1"):
        frequent_itemsets(one_huge, min_support=1.0, max_itemsets=1000)


def test_the_cap_names_the_least_support_that_could_fit():
    with pytest.raises(ConfigError) as e:
        frequent_itemsets(groceries(), min_support=0.001, max_itemsets=1000, max_len=10)
    msg = str(e.value)
    z = int(msg.split("counting only lengths <= ")[1].split(",")[0])
    least = float(msg.split("must be at least ")[1].split(" to stay")[0])
    count = round(least * 9835)
    # At that support the itemsets of length <= z fit under the cap; one basket less, they do not.
    assert len(frequent_itemsets(groceries(), min_support=count / 9835, max_len=z)) <= 1000
    assert len(frequent_itemsets(groceries(), min_support=(count - 1) / 9835, max_len=z)) > 1000


def test_the_level_bound_sets_the_largest_baskets_aside_as_computed_by_hand():
    # Baskets with 10, 2, 2 and 2 frequent items, an itemset must be in 2 of them.
    # Pairs: the plain bound is (C(10,2) + 3 C(2,2)) / 2 = 24; with the largest basket set
    # aside a frequent pair is still in at least 1 of the other three, so at most 3.
    b = _level_bounds(np.array([10, 2, 2, 2]), mc=2, f=10, max_len=3)
    assert b.tolist() == [10, 3, 0]  # triples: only the big basket holds any, so none is frequent


def test_only_the_items_of_apriori_candidates_go_on_to_the_larger_sizes():
    # Frequent pairs 01 02 12 34 35: joining 01+02 gives 012 (its pair 12 is frequent: kept),
    # 34+35 gives 345 (45 is not frequent: pruned); item 6 is in no pair.
    pairs = np.array([[0, 1], [0, 2], [1, 2], [3, 4], [3, 5]])
    assert np.flatnonzero(_candidate_items(pairs, 7)).tolist() == [0, 1, 2]
    assert not _candidate_items(np.array([[0, 1], [2, 3]]), 4).any()  # no join at all: mining is over
    with mock.patch.object(basket_count, "_JOIN_AT_MOST", -1):  # join too big to list: every item kept
        assert np.flatnonzero(_candidate_items(pairs, 7)).tolist() == [0, 1, 2, 3, 4, 5]


@settings(max_examples=40, deadline=None)
@given(tx=baskets_st, min_support=st.sampled_from([0.1, 0.2, 0.3]),
       algorithm=st.sampled_from(["eclat", "fpgrowth", "apriori"]), pairs_in_numpy=st.booleans(),
       join=st.booleans())
def test_the_cap_is_exact_and_the_level_bounds_are_upper_bounds(tx, min_support, algorithm, pairs_in_numpy,
                                                                 join):
    with (mock.patch.object(basket_count, "_SUBSETS_PER_ITEM", 10**9 if pairs_in_numpy else -1),
          mock.patch.object(basket_count, "_JOIN_AT_MOST", 2_000_000 if join else -1)):
        _check_cap_and_bounds(tx, min_support, algorithm)


def _check_cap_and_bounds(tx, min_support, algorithm):
    counts = _brute(tx, min_support)
    b = baskets_from_transactions(tx)
    mc = min_count(min_support, b.n_baskets)
    freq = b.item_counts() >= mc
    k = np.add.reduceat(freq[b.codes].astype(np.int64), b.offsets[:-1])  # by hand, not _restrict
    per_size = Counter(len(s) for s in counts)
    bounds = _level_bounds(k, mc, int(freq.sum()), 6)
    assert all(per_size.get(z, 0) <= bounds[z - 1] + 1e-9 for z in range(1, 7))
    # A cap of exactly the number of frequent itemsets mines them all (in several ranges
    # over ever fewer transactions); one less is a ConfigError.
    cap = max(1, len(counts))
    its = mine_itemsets(b, min_support=min_support, max_len=6, algorithm=algorithm, max_itemsets=cap)
    got = {frozenset(b.item_ids[r[r != its.pad]].tolist()): int(c) for r, c in zip(its.sets, its.counts)}
    assert got == counts
    if len(counts) > 1:
        with pytest.raises(ConfigError, match="would find more than max_itemsets"):
            mine_itemsets(b, min_support=min_support, max_len=6, algorithm=algorithm, max_itemsets=cap - 1)


def test_levels_counted_in_numpy_equal_pyfim_on_groceries():
    numpy_default = frequent_itemsets(groceries(), min_support=0.002, max_len=10)
    with mock.patch.object(basket_count, "_SUBSETS_PER_ITEM", -1):  # every level by pyfim
        by_pyfim = frequent_itemsets(groceries(), min_support=0.002, max_len=10)
    with mock.patch.object(basket_count, "_SUBSETS_PER_ITEM", 10**9):  # as many in numpy as fit
        by_numpy = frequent_itemsets(groceries(), min_support=0.002, max_len=10)
    pd.testing.assert_frame_equal(numpy_default, by_pyfim)
    pd.testing.assert_frame_equal(by_numpy, by_pyfim)


def test_an_exploding_core_of_items_is_counted_not_built_and_named_in_the_error():
    # 30 of 40 baskets hold the same 25 items: at min_support 0.75 every subset of them is
    # frequent (2^25 - 1 of them), the 10 other baskets hold nothing frequent.
    core = [f"c{k:02d}" for k in range(25)]
    tx = [core + [f"x{i}"] for i in range(30)] + [[f"y{i}"] for i in range(10)]
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        frequent_itemsets(tx, min_support=0.75, max_len=25, max_itemsets=100_000)
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    z = int(msg.split("of length <= ")[1].split(" ")[0])
    counted = int(msg.split("frequent itemsets: ")[1].split(" of length")[0].replace(",", ""))
    assert counted == sum(math.comb(25, j) for j in range(1, z + 1)) > 100_000
    assert "at least 30 of 40 baskets" in msg and "Raise min_support" in msg
    # Under the cap, the same core is mined exactly: C(25, 1) + C(25, 2) + C(25, 3) itemsets.
    assert len(frequent_itemsets(tx, min_support=0.75, max_len=3)) == 25 + 300 + 2300


@pytest.mark.parametrize("param, value, words", [
    ("min_support", 0, "a number in (0, 1]"),
    ("min_support", -0.1, "a number in (0, 1]"),
    ("min_support", 1.5, "a number in (0, 1]"),
    ("min_support", True, "a number in (0, 1]"),
    ("min_confidence", -0.1, "a number in [0, 1]"),
    ("min_confidence", 1.01, "a number in [0, 1]"),
    ("min_lift", -1, "a number in [0, inf)"),
    ("max_len", 0, "an int in [1, inf)"),
    ("max_itemsets", 2.5, "an int in [1, inf)"),
    ("algorithm", "lcm", "one of 'fpgrowth', 'eclat', 'apriori'"),
])
def test_bad_parameters_raise_config_error_naming_range_and_value(param, value, words):
    with pytest.raises(ConfigError) as e:
        association_rules(FIVE, **{param: value})
    assert str(e.value).startswith(f"The {param!r} parameter must be {words}. Got {value!r} instead.")


def test_config_rejects_out_of_range_basket_settings():
    with pytest.raises(ConfigError, match=r"'baskets.min_support' setting must be a number in \(0, 1\]"):
        load_config(overrides={"baskets": {"min_support": 0}})
    with pytest.raises(ConfigError, match="'baskets.unit' setting must be one of"):
        load_config(overrides={"baskets": {"unit": "session"}})
    cfg = load_config(overrides={"baskets": {"min_support": 0.4, "min_lift": 0.0, "min_confidence": 0.0,
                                             "prune_redundant": False}})
    assert len(association_rules(FIVE, config=cfg)) == 9


# -- workspace --------------------------------------------------------------------------------

def _shop(ws):
    ws.con.execute("""
        INSERT INTO products (product_id, name, is_merchandise) VALUES
          ('P1', 'Tea', TRUE), ('P2', 'Cake', TRUE), ('P3', 'Jam', TRUE),
          ('POST', 'Postage', FALSE), ('P4', NULL, NULL);
        INSERT INTO customers (customer_id) VALUES ('c1'), ('c2'), ('c3');
        INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES
          ('O1', 'c1', '2024-01-02', 'sale'), ('O2', 'c1', '2024-01-05', 'sale'),
          ('O3', 'c2', '2024-01-06', 'sale'), ('O4', NULL, '2024-01-07', 'sale'),
          ('O5', 'c2', '2024-01-08', 'return'), ('O6', 'c3', '2024-02-10', 'sale'),
          ('O7', 'c3', '2024-01-09', 'sale'), ('O8', 'c3', '2024-01-10', 'sale');
        INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) VALUES
          ('O1', 1, 'P1', 1, 3), ('O1', 2, 'P2', 1, 2), ('O1', 3, 'POST', 1, 5),
          ('O2', 1, 'P1', 1, 3), ('O2', 2, 'P2', 2, 2), ('O2', 3, 'P3', 1, 4),
          ('O3', 1, 'P1', 1, 3), ('O3', 2, 'P3', 1, 4),
          ('O4', 1, 'P1', 1, 3), ('O4', 2, 'P2', 1, 2),
          ('O5', 1, 'P1', 1, 3), ('O5', 2, 'P2', 1, 2),
          ('O6', 1, 'P1', 1, 3), ('O6', 2, 'P2', 1, 2),
          ('O7', 1, 'POST', 1, 5),
          ('O8', 1, 'P4', 1, 1), ('O8', 2, 'P2', 1, 2);
    """)
    # Sale baskets up to 2024-01-31: O1 {P1,P2}, O2 {P1,P2,P3}, O3 {P1,P3}, O4 (guest) {P1,P2},
    # O8 {P2,P4}.  O5 is a return, O6 is after as_of, O7 holds only postage.


AS_OF = "2024-01-31"


def test_workspace_baskets_are_sale_orders_of_merchandise_up_to_as_of(ws):
    _shop(ws)
    rules = association_rules(ws, as_of=AS_OF, min_support=0.3, **ALL)
    # Tea in 4 of 5 baskets, Cake in 4, Jam in 2; {Tea, Cake} 3, {Tea, Jam} 2.
    cake_tea = rule(rules, ["P2"], "P1")
    assert (cake_tea.support, cake_tea.confidence, cake_tea.lift) == pytest.approx((0.6, 0.75, 0.9375))
    assert cake_tea.antecedent_names == ["Cake"] and cake_tea.consequent_name == "Tea"
    jam_tea = rule(rules, ["P3"], "P1")
    assert (jam_tea.support, jam_tea.confidence, jam_tea.lift) == pytest.approx((0.4, 1.0, 1.25))
    its = frequent_itemsets(ws, as_of=AS_OF, min_support=0.2)
    assert "POST" not in {x for s in its["items"] for x in s}
    p4 = its[its["items"].map(lambda s: s == ["P4"])].iloc[0]
    assert p4.item_names == ["P4"] and p4.support == pytest.approx(0.2)  # unnamed: shown by id
    with pytest.raises(ConfigError, match="explicit as_of"):
        association_rules(ws, min_support=0.3)


def test_customer_baskets_leave_out_guest_orders(ws):
    _shop(ws)
    # c1 {P1,P2,P3}, c2 {P1,P3}, c3 {P2,P4}: 3 baskets.
    its = frequent_itemsets(ws, as_of=AS_OF, unit="customer", min_support=0.3)
    got = dict(zip(map(tuple, its["items"]), its["count"]))
    assert got == {("P1",): 2, ("P2",): 2, ("P3",): 2, ("P1", "P3"): 2, ("P4",): 1, ("P1", "P2"): 1,
                   ("P2", "P3"): 1, ("P2", "P4"): 1, ("P1", "P2", "P3"): 1}


def test_the_stages_count_of_products_sold_looks_past_the_first_orders(ws):
    from types import SimpleNamespace

    from shopseg.stages import _products_sold

    ctx = SimpleNamespace(ws=ws, as_of=AS_OF)
    assert _products_sold(ctx) == 0
    # 1,500 sale orders of Tea alone (more than the first look's 1,000 orders), one of Cake after as_of,
    # one return of Jam: one product sold by as_of
    ws.con.execute("""
        INSERT INTO orders SELECT 'O' || i, NULL, TIMESTAMP '2024-01-02', 'sale', NULL, NULL, 0, 0, 1
          FROM range(1500) t(i);
        INSERT INTO order_lines SELECT 'O' || i, 1, 'P1', 1, 3, 0, 1 FROM range(1500) t(i);
        INSERT INTO orders VALUES ('LATE', NULL, TIMESTAMP '2024-02-10', 'sale', NULL, NULL, 0, 0, 1),
                                  ('RET', NULL, TIMESTAMP '2024-01-03', 'return', NULL, NULL, 0, 0, 1);
        INSERT INTO order_lines VALUES ('LATE', 1, 'P2', 1, 2, 0, 1), ('RET', 1, 'P3', 1, 4, 0, 1);
    """)
    assert _products_sold(ctx) == 1
    # one sale order of Cake among them (wherever the first look falls): two or more
    ws.con.execute("INSERT INTO orders VALUES ('CAKE', NULL, TIMESTAMP '2024-01-20', 'sale', NULL, NULL, 0, 0, 1);"
                   "INSERT INTO order_lines VALUES ('CAKE', 1, 'P2', 1, 2, 0, 1)")
    assert _products_sold(ctx) == 2


def test_an_empty_workspace_is_a_clear_error(ws):
    with pytest.raises(DataContractError, match="No basket to mine"):
        association_rules(ws, as_of=AS_OF)


def _segments(ws):
    ws.con.execute("""
        CREATE TABLE segments (run_id BIGINT, customer_id VARCHAR, scheme VARCHAR, segment VARCHAR);
        INSERT INTO segments VALUES (1, 'c1', 'rfm', 'loyal'), (1, 'c2', 'rfm', 'loyal'),
                                    (1, 'c3', 'rfm', 'new'), (1, 'c3', 'other', 'x');
    """)


def test_segment_rules_need_a_segments_table(ws):
    _shop(ws)
    with pytest.raises(DataContractError, match="no `segments` table"):
        segment_rules(ws, scheme="rfm", as_of=AS_OF)
    _segments(ws)
    with pytest.raises(DataContractError, match="schemes found: other, rfm"):
        segment_rules(ws, scheme="value", as_of=AS_OF)


def test_segment_rules_compare_with_the_whole_shop_by_hand(ws):
    _shop(ws)
    _segments(ws)
    seg = segment_rules(ws, scheme="rfm", as_of=AS_OF, min_support=0.3, **ALL)
    loyal = seg[seg.scope == "segment:rfm:loyal"]
    # loyal baskets O1 {P1,P2}, O2 {P1,P2,P3}, O3 {P1,P3}: Cake => Tea 2/2 = 1; in the shop 3/4.
    r = rule(loyal, ["P2"], "P1")
    assert (r.support, r.confidence, r.shop_support, r.shop_confidence, r.lift_vs_shop) == pytest.approx(
        (2 / 3, 1.0, 0.6, 0.75, 4 / 3))
    new = seg[seg.scope == "segment:rfm:new"]
    # new: one basket O8 {P2,P4}: Cake => P4 conf 1; in the shop 1 of 4 Cake baskets.
    r = rule(new, ["P2"], "P4")
    assert (r.confidence, r.shop_confidence, r.lift_vs_shop) == pytest.approx((1.0, 0.25, 4.0))
    assert new.lift_vs_shop.tolist() == sorted(new.lift_vs_shop, reverse=True)


def test_mine_baskets_writes_both_tables_with_scopes(ws):
    _shop(ws)
    _segments(ws)
    cfg = load_config(overrides={"baskets": {"min_support": 0.3, "min_lift": 0.0, "min_confidence": 0.0,
                                             "prune_redundant": False, "segment_schemes": ["rfm"]}})
    n = mine_baskets(ws, 7, as_of=AS_OF, config=cfg)
    assert n["association_rules"] == ws.scalar("SELECT count(*) FROM association_rules WHERE run_id = 7")
    scopes = {r[0] for r in ws.sql("SELECT DISTINCT scope FROM frequent_itemsets")}
    assert scopes == {"all", "segment:rfm:loyal", "segment:rfm:new"}
    assert ws.columns("frequent_itemsets") == ["run_id", "scope", "items", "item_names", "length",
                                               "support", "count"]
    assert ws.columns("association_rules")[:2] == ["run_id", "scope"]
    row = ws.sql("""SELECT antecedent_names, consequent_name, support, confidence, shop_confidence
                    FROM association_rules WHERE scope = 'all' AND antecedent = ['P3'] AND consequent = 'P1'""")
    assert row == [(["Jam"], "Tea", pytest.approx(0.4), 1.0, None)]
    again = mine_baskets(ws, 7, as_of=AS_OF, config=cfg)  # re-running a run replaces its rows
    assert again == n and ws.scalar("SELECT count(*) FROM association_rules") == n["association_rules"]


# -- cross-sell ----------------------------------------------------------------------------------

def test_cross_sell_ranks_consequents_with_the_rule_that_suggests_them():
    rules = association_rules(FIVE, min_support=0.4, **ALL)
    out = cross_sell(rules, ["bread"])
    # {bread} => milk (conf 3/4) beats {bread} => butter (conf 2/4).
    assert out[["rank", "item", "confidence"]].values.tolist() == [[1, "milk", 0.75], [2, "butter", 0.5]]
    # With butter too: butter is not suggested again; milk comes from {butter} => milk (conf 1,
    # lift 1.25, support 0.6), which beats {bread, butter} => milk (same conf and lift, support 0.4).
    out = cross_sell(rules, ["bread", "butter"])
    assert out.item.tolist() == ["milk"] and out.antecedent.tolist() == [["butter"]]
    assert cross_sell(rules, ["beer"]).empty
    assert len(cross_sell(rules, ["bread"], top_n=1)) == 1


def test_cross_sell_handles_many_baskets_at_once():
    rules = association_rules(FIVE, min_support=0.4, **ALL)
    out = cross_sell(rules, {"c1": ["bread"], "c2": ["butter", "milk"], "c3": ["unknown"]})
    assert out.basket_id.tolist() == ["c1", "c1", "c2"]
    c2 = out[out.basket_id == "c2"].iloc[0]
    assert (c2["item"], c2.confidence, c2.antecedent) == ("bread", 0.75, ["milk"])  # {milk} => bread
    frame = pd.DataFrame({"customer_id": ["c1", "c2", "c2"], "item": ["bread", "butter", "milk"]})
    pd.testing.assert_frame_equal(cross_sell(rules, frame).drop(columns="customer_id"),
                                  out.drop(columns="basket_id"))


def test_cross_sell_from_purchase_histories_in_the_workspace(ws):
    _shop(ws)
    rules = association_rules(ws, as_of=AS_OF, min_support=0.3, **ALL)
    hist = purchase_histories(ws, as_of=AS_OF, customers=["c2"])
    assert hist.values.tolist() == [["c2", "P1"], ["c2", "P3"]]
    out = cross_sell(rules, hist)
    # c2 holds Tea and Jam: Tea => Cake (3/4) is the only rule with a new consequent.
    assert out[["customer_id", "item", "item_name", "confidence"]].values.tolist() == [
        ["c2", "P2", "Cake", 0.75]]


def test_cross_sell_refuses_rules_of_several_scopes():
    rules = association_rules(FIVE, min_support=0.4, **ALL)
    two = pd.concat([rules.assign(scope="all"), rules.assign(scope="segment:a:b")])
    with pytest.raises(DataContractError, match="one scope"):
        cross_sell(two, ["bread"])


def test_integer_items_from_a_relation_are_coded_in_text_order_like_text_items():
    # Items 10, 2, 9 (and 2 twice in basket 5): as text "10" < "2" < "9", codes 0, 1, 2.
    con = duckdb.connect()
    rel = con.sql("SELECT * FROM (VALUES (5, 2), (5, 10), (5, 2), (7, 9), (7, -3)) t(basket_id, item)")
    b = baskets_from_transactions(rel)
    assert b.item_ids.tolist() == ["-3", "10", "2", "9"]
    assert [b.codes[b.offsets[i]:b.offsets[i + 1]].tolist() for i in range(b.n_baskets)] == [[1, 2], [0, 3]]
    as_text = baskets_from_transactions([["2", "10", "2"], ["9", "-3"]])
    assert as_text.item_ids.tolist() == b.item_ids.tolist() and (as_text.codes == b.codes).all()


def test_counting_levels_where_nothing_is_frequent_is_an_empty_spectrum():
    """pyfim answers [] (not {}) when no item is frequent at all; counting took it for a dict (found by the cap
    property test above, intermittently)."""
    import fim

    keep = np.array([True, True, True])
    for miner in (fim.eclat, fim.fpgrowth, fim.apriori):
        # baskets {0}, {1}: two baskets, min count 2, no item in both
        t = basket_count._Tracts(np.array([0, 1]), np.array([0, 1, 2]), keep, 1, 2, miner)
        assert t.count(1, 2) == {}
        # baskets {0, 1}, {0, 1}, {0, 2}: {1} and {0, 1} twice, {0} (in every basket, added back) three times
        t = basket_count._Tracts(np.array([0, 1, 0, 1, 0, 2]), np.array([0, 2, 4, 6]), keep, 1, 2, miner)
        assert t.count(1, 2) == {2: 2, 3: 1}


def test_item_names_one_per_item_smallest_given_picked_in_duckdb_not_per_line():
    from types import SimpleNamespace

    from shopseg.basket._baskets import _ws_build

    con = duckdb.connect()
    # product A is named twice ('Zed' and 'Apple'): the smallest wins; B has only a NULL name: its id;
    # C is in no basket (its only line's order is not asked for): not an item; P is not merchandise;
    # D is in no row of `products`: an item all the same, named by its id
    con.execute("CREATE TABLE products AS SELECT * FROM (VALUES ('A', 'Zed', TRUE), ('A', 'Apple', TRUE), "
                "('B', NULL, NULL), ('C', 'Cherry', TRUE), ('P', 'Postage', FALSE)) v(product_id, name, is_merchandise)")
    con.execute("CREATE TABLE order_lines AS SELECT * FROM (VALUES ('o1', 'B'), ('o2', 'A'), ('o2', 'B'), "
                "('o2', 'A'), ('o0', 'A'), ('o3', 'P'), ('o4', 'D'), ('o4', NULL), ('o9', 'C')) v(order_id, product_id)")
    orders = ("SELECT * FROM (VALUES ('s2', 'o1', 'o1'), ('s1', 'o2', 'o2'), ('s2', 'o0', 'o0'), ('s3', 'o3', 'o3'), "
              "('s1', 'o4', 'o4')) v(grp, basket_id, order_id)")
    b = _ws_build(SimpleNamespace(con=con), orders, [], "t")
    assert b.item_ids.tolist() == ["A", "B", "D"] and b.item_names.tolist() == ["Apple", "B", "D"]
    # baskets in (group, basket id) order: s1/o2 {A, B} (A twice counts once), s1/o4 {D}, s2/o0 {A}, s2/o1 {B};
    # s3/o3 holds only postage: no basket, and s3 no group
    assert b.codes.tolist() == [0, 1, 2, 0, 1] and b.offsets.tolist() == [0, 2, 3, 4, 5]
    assert b.item_counts().tolist() == [2, 2, 1] and b.group("s1").item_counts().tolist() == [1, 1, 1]
    assert b.groups == ("s1", "s2") and b.group_offsets.tolist() == [0, 2, 4]
    assert b.group("s2").offsets.tolist() == [0, 1, 2] and b.group("s2").codes.tolist() == [0, 1]
    # no group: the whole shop, one basket per basket id
    shop = _ws_build(SimpleNamespace(con=con), f"SELECT NULL AS grp, basket_id, order_id FROM ({orders})", [], "t")
    assert shop.groups == () and shop.group_offsets is None
    assert shop.codes.tolist() == [0, 1, 0, 1, 2] and shop.offsets.tolist() == [0, 1, 2, 4, 5]  # o0 o1 o2 o4
    # one basket per order by its row number (the orders' codes a subquery of the pass, with its parameter;
    # D's line makes the pass run again): the same baskets, in row order (o4 first here)
    by_row = _ws_build(SimpleNamespace(con=con), "SELECT NULL AS grp, basket_id, order_id, "
                       "CASE order_id WHEN 'o4' THEN 0 ELSE 9 END + row_number() OVER (ORDER BY order_id) AS row_id "
                       f"FROM ({orders}) WHERE order_id <> ?", ["o1"], "t", by_row=True)
    assert by_row.item_ids.tolist() == ["A", "B", "D"] and by_row.item_names.tolist() == ["Apple", "B", "D"]
    assert by_row.codes.tolist() == [2, 0, 0, 1] and by_row.offsets.tolist() == [0, 1, 2, 4]  # o4 o0 o2
    assert [t for t in con.sql("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()] == []
    # nor the items' temporary ENUM the lines' product ids are cast to
    assert con.sql("SELECT type_name FROM duckdb_types() WHERE NOT internal").fetchall() == []
    # the codes' join runs as written, and the connection gets its optimizers back
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall() == [("",)]
    none = _ws_build(SimpleNamespace(con=con), orders + " WHERE order_id = 'o3'", [], "t", allow_empty=True)
    assert none.n_baskets == 0 and none.n_items == 0
    with pytest.raises(DataContractError, match="No basket to mine in t"):
        _ws_build(SimpleNamespace(con=con), orders + " WHERE order_id = 'o3'", [], "t")
    mapped = baskets_from_transactions([["x", "y"], ["y"]], names={"y": "Yoghurt", 7: "unused"})
    assert mapped.item_names.tolist() == ["x", "Yoghurt"]


def test_keys_packed_chunk_by_chunk_drop_repeats_across_chunk_bounds():
    from shopseg.basket._baskets import _pack_keys

    # (basket, item) keys, unsorted: basket 0 {1, 3}, basket 1 {2} (three times), basket 2 none (an order without
    # merchandise), basket 3 {0, 2}; items 0..4 (4 in no basket)
    pairs = [(1, 2), (0, 3), (3, 2), (1, 2), (0, 1), (3, 0), (1, 2)]
    key = np.array([(b << 32) | i for b, i in pairs], np.int64)
    for chunk in (1, 2, 3, 100):  # sorted: 0/1 0/3 | 1/2 1/2 | 1/2 3/0 | 3/2 with chunk 2: repeats cross a bound
        codes, offsets, baskets, counts = _pack_keys(np.sort(key), 5, chunk=chunk)
        assert codes.tolist() == [1, 3, 2, 0, 2] and offsets.tolist() == [0, 2, 3, 5], chunk
        assert baskets.tolist() == [0, 1, 3] and counts.tolist() == [1, 1, 2, 1, 0], chunk
    codes, offsets, baskets, counts = _pack_keys(np.zeros(0, np.int64), 2)
    assert (codes.tolist(), offsets.tolist(), baskets.tolist(), counts.tolist()) == ([], [0], [], [0, 0])
