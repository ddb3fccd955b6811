"""The rules' out-of-time backtest against popularity (shopseg.basket._backtest).

Oracles: a brute force of the all-but-one protocol (each held-out item, the rules and popularity ranked
by hand in Python) on random baskets; two hand-checkable shops (a planted pair that holds after the
cutoff, and one whose pair disappears after it) with the decision written in the test; a property that
the backtest reads no basket after as_of.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopseg.basket import baskets_from_transactions, mine_baskets
from shopseg.basket._backtest import backtest_split, backtest_workspace, hits_all_but_one
from shopseg.basket._baskets import baskets_from_workspace
from shopseg.basket._mine import build_rules, select_rules
from shopseg.basket._tables import _Params
from shopseg.config import load_config
from shopseg.refit import decisions

PARAMS = dict(min_support=0.05, min_confidence=0.2, min_lift=0.0, prune_redundant=False, max_len=4)


# -- the all-but-one figures against a brute force -------------------------------------------------

def _brute(train, test, params, k):
    """Per test basket (cases, covered, rule hits, popularity hits on covered, popularity hits) by hand."""
    b = baskets_from_transactions(train + test)
    ids = list(b.item_ids)
    tr = b.__class__(b.codes[:b.offsets[len(train)]], b.offsets[:len(train) + 1], b.item_ids, b.item_names)
    its = params.itemsets(tr)
    rules = build_rules(its)
    idx = select_rules(rules, min_confidence=params.min_confidence, min_lift=params.min_lift,
                       prune_redundant=params.prune_redundant)
    m = rules.metrics
    rl = [(frozenset(ids[c] for c in its.sets[rules.ante[r]] if c != its.pad), ids[rules.consequent[r]],
           (-m["confidence"][r], -m["lift"][r], -m["support"][r])) for r in idx]
    count = {x: sum(x in set(t) for t in train) for x in ids}
    popular = sorted((x for x in ids if count[x]), key=lambda x: (-count[x], x))
    out = []
    for basket in test:
        basket = set(basket)
        row = [len(basket), 0, 0, 0, 0]
        for held in sorted(basket):
            rest = basket - {held}
            best = {}
            for ante, cons, score in rl:
                if ante <= rest and cons not in rest:
                    best[cons] = min(best.get(cons, score), score)
            ranked = [c for c, _ in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))][:k]
            pop = [x for x in popular if x not in rest][:k]
            covered = bool(best)
            row[1] += covered
            row[2] += covered and held in ranked
            row[3] += covered and held in pop
            row[4] += held in pop
        out.append(row)
    return np.array(out, np.int64).reshape(-1, 5), len(idx)


def _fast(train, test, params, k):
    b = baskets_from_transactions(train + test)
    tr = b.__class__(b.codes[:b.offsets[len(train)]], b.offsets[:len(train) + 1], b.item_ids, b.item_names)
    te = b.__class__(b.codes[b.offsets[len(train)]:] , b.offsets[len(train):] - b.offsets[len(train)],
                     b.item_ids, b.item_names)
    its = params.itemsets(tr)
    rules = build_rules(its)
    idx = select_rules(rules, min_confidence=params.min_confidence, min_lift=params.min_lift,
                       prune_redundant=params.prune_redundant)
    m = {key: v[idx] for key, v in rules.metrics.items()}
    per = hits_all_but_one(te, its.sets[rules.ante[idx]], rules.consequent[idx].astype(np.int64), m["confidence"],
                           m["lift"], m["support"], np.bincount(tr.codes, minlength=its.pad), pad=its.pad, top_k=k)
    return np.column_stack([per[c] for c in ("cases", "covered", "rule_hits", "pop_hits", "pop_hits_all")])


_basket = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(train=st.lists(_basket, min_size=5, max_size=30), test=st.lists(_basket, min_size=1, max_size=12),
       k=st.integers(1, 4))
def test_all_but_one_hits_equal_a_brute_force(train, test, k):
    p = _Params(load_config(), **PARAMS)
    want, _ = _brute(train, test, p, k)
    assert _fast(train, test, p, k).tolist() == want.tolist()


def test_all_but_one_by_hand_on_four_items():
    # Before the cutoff: {a,b} x3, {a,c} x1, {d} x2 -> at support 0.05, confidence 0.2, lift 0: rules
    # a->b (conf 3/4), b->a (1), a->c (1/4), c->a (1); popularity a(4) b(3) d(2) c(1).
    train = [["a", "b"]] * 3 + [["a", "c"], ["d"], ["d"]]
    # After: {a,b}: held a -> rest {b}: rules say a (b->a): hit; popularity top-1 of not {b}: a: hit.
    #        held b -> rest {a}: rules say b (3/4) before c (1/4): hit; popularity: b (a is in the rest): hit.
    # {c,d}: held c -> rest {d}: no rule applies (not covered); popularity: a: miss.
    #        held d -> rest {c}: c->a suggests a: miss; popularity a: miss (covered).
    test = [["a", "b"], ["c", "d"]]
    p = _Params(load_config(), **PARAMS)
    got = _fast(train, test, p, 1)
    assert got.tolist() == [[2, 2, 2, 2, 2], [2, 1, 0, 0, 0]]
    assert _brute(train, test, p, 1)[0].tolist() == got.tolist()


# -- hand-checkable shops: a pair that holds, a pair that disappears -----------------------------------

AS_OF = datetime(2024, 6, 30, 23, 0)


def _insert(ws, orders, lines):
    for name, df in (("orders", orders), ("order_lines", lines)):
        ws.con.register("_in", df)
        ws.con.execute(f"INSERT INTO {name} ({', '.join(df.columns)}) SELECT * FROM _in")
        ws.con.unregister("_in")


def _orders(ws, baskets_by_day):
    """Sale orders from (day, [items]) pairs; products P0..P9 named after their ids."""
    ws.con.execute("INSERT INTO products (product_id, name, is_merchandise) SELECT 'P' || i, 'item ' || i, TRUE "
                   "FROM range(10) t(i)")
    rows, lines = [], []
    for n, (day, items) in enumerate(baskets_by_day):
        rows.append((f"O{n}", f"c{n % 40}", day, "sale"))
        lines += [(f"O{n}", j + 1, it, 1, 1.0) for j, it in enumerate(items)]
    ws.con.execute("INSERT INTO customers (customer_id) SELECT 'c' || i FROM range(40) t(i)")
    o = pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "kind"])
    ln = pd.DataFrame(lines, columns=["order_id", "line_no", "product_id", "quantity", "unit_price"])
    _insert(ws, o, ln)


def _shop(pair_after: bool):
    """A year of orders, 5 a day: the pair P1+P2 with one filler (P3..P6 in turn), and three baskets of three
    fillers ({P3,P4,P5}, {P4,P5,P6}, {P3,P5,P6}, {P3,P4,P6} in turn, two a day...).  Each filler is in about 3 of
    the 5 baskets a day, P1 and P2 in 1: popularity's top 3 are fillers.  Fillers bought together have lift
    under 1, so the only rules (support 0.1, confidence 0.3, lift 1) are P1 -> P2 and P2 -> P1 (confidence 1,
    lift 5).  With ``pair_after`` False, after the cutoff (the last 90 days) P1 and P2 are never bought together:
    P1 (even days) or P2 (odd days) with two fillers instead."""
    start = AS_OF - timedelta(days=365)
    cut = AS_OF - timedelta(days=90)
    trios = [["P3", "P4", "P5"], ["P4", "P5", "P6"], ["P3", "P5", "P6"], ["P3", "P4", "P6"]]
    out = []
    for d in range(365):
        day = start + timedelta(days=d, hours=10)
        f = f"P{3 + d % 4}"
        g = f"P{3 + (d + 1) % 4}"
        first = ["P1", "P2", f] if (day < cut or pair_after) else [["P1"], ["P2"]][d % 2] + [f, g]
        out.append((day, first))
        out += [(day + timedelta(minutes=j + 1), trios[(d + j) % 4]) for j in range(4)]
    return out


def _cfg(**over):
    return load_config(overrides={"baskets": {"min_support": 0.1, "min_confidence": 0.3, "min_lift": 1.0,
                                              "backtest_resamples": 100, **over}})


def test_a_planted_pair_that_holds_after_the_cutoff_wins_over_popularity(ws):
    _orders(ws, _shop(pair_after=True))
    cfg = _cfg()
    mine_baskets(ws, 1, as_of=AS_OF, config=cfg, seed=3)
    d = decisions(ws, 1).set_index("model").loc["rules"]
    # Held out P2 of {P1, P2, filler}, the rest {P1, filler} makes P1 -> P2 suggest P2: a hit; popularity suggests the
    # three other fillers (each more popular than P2): a miss.  Likewise P1.  Held out the filler, the rest {P1, P2}
    # fires no rule (both consequents are in it), and the fillers' baskets fire none (no rule among fillers): the
    # rules cover exactly the pair's two items in each pair basket, hit both, popularity neither.
    assert d.candidate == "rules" and d.metric == "hit_rate@3"
    assert (d.model_value, d.baseline_value) == (1.0, 0.0)
    assert d.decision.startswith("rules used for cross-sell")
    assert "on the 180 held-out items the rules suggest for" in d.decision  # 90 days x 1 pair basket x 2 items
    assert "confidence 100% before the cutoff, 100% after" in d.decision


def test_a_pair_that_disappears_after_the_cutoff_loses_to_popularity(ws):
    _orders(ws, _shop(pair_after=False))
    cfg = _cfg()
    mine_baskets(ws, 1, as_of=AS_OF, config=cfg, seed=3)
    d = decisions(ws, 1).set_index("model").loc["rules"]
    # After the cutoff P1 and P2 never meet: held out a filler of {P1, f, g}, the rest {P1, g} makes P1 -> P2 suggest
    # P2, never bought then (a miss), where popularity's top 3 (the fillers not in the rest) hold it (a hit).  Held
    # out P1, the rest (two fillers) fires no rule: not a case.  The rules' confidence falls from 100% to 0%.
    assert d.candidate == "baseline"
    assert (d.model_value, d.baseline_value) == (0.0, 1.0)
    assert d.decision.startswith("popularity used for cross-sell, not the rules")
    assert "100% before the cutoff, 0% after" in d.decision
    bt = backtest_workspace(ws, baskets_from_workspace(ws, as_of=AS_OF, unit="order"), as_of=AS_OF,
                            params=_Params(cfg), config=cfg, seed=3)
    # each rule of the cutoff: confidence 1 and lift 5 before it; after it P1 and P2 are each in 45 baskets, never both
    assert [(r["if_bought"], r["then_buys"], r["confidence_in"], r["lift_in"], r["confidence_out"],
             r["antecedent_baskets_out"]) for r in bt.held_out_rules] == [
        ("item 2", "item 1", 1.0, 5.0, 0.0, 45), ("item 1", "item 2", 1.0, 5.0, 0.0, 45)]  # tie: select_rules' order


def test_too_short_a_history_is_not_tested_and_says_so(ws):
    _orders(ws, [(AS_OF - timedelta(days=d % 10, hours=1), ["P1", "P2"]) for d in range(40)])
    mine_baskets(ws, 1, as_of=AS_OF, config=_cfg(), seed=0)
    d = decisions(ws, 1).set_index("model").loc["rules"]
    assert d.candidate == "rules" and d.metric is None and np.isnan(d.model_value)
    assert "untested" in d.decision and "too short" in d.decision


def test_the_backtest_reads_no_basket_after_as_of(ws):
    shop = _shop(pair_after=True)
    _orders(ws, shop + [(AS_OF + timedelta(days=1 + d), ["P1", "P5"]) for d in range(200)])
    cfg = _cfg()
    p = _Params(cfg)
    seen = {}

    def keep(b, train_idx, test_idx, **kw):
        seen["n"] = b.n_baskets
        seen["sizes"] = (len(train_idx), len(test_idx))
        return backtest_split(b, train_idx, test_idx, **kw)

    b = baskets_from_workspace(ws, as_of=AS_OF, unit="order")
    import shopseg.basket._backtest as bt
    orig = bt.backtest_split
    bt.backtest_split = keep
    try:
        res = backtest_workspace(ws, b, as_of=AS_OF, params=p, config=cfg, seed=1)
    finally:
        bt.backtest_split = orig
    assert seen["n"] == len(shop) and sum(seen["sizes"]) == len(shop)
    assert seen["sizes"][1] == sum(1 for day, _ in shop if day >= AS_OF - timedelta(days=90))
    # the later orders (P1 with P5, after as_of) change nothing: the same figures as without them
    res_without = _backtest_of(shop, cfg)
    assert res.notes() == res_without.notes()


def _backtest_of(shop, cfg):
    from shopseg.workspace import open_workspace
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        w = open_workspace(d + "/ws")
        try:
            _orders(w, shop)
            b = baskets_from_workspace(w, as_of=AS_OF, unit="order")
            return backtest_workspace(w, b, as_of=AS_OF, params=_Params(cfg), config=cfg, seed=1)
        finally:
            w.close()


# -- where the decision goes: an update, the recommendations, the report -------------------------------

def _more_orders(ws, day, n=3):
    o = pd.DataFrame({"order_id": [f"N{i}" for i in range(n)], "customer_id": "c1", "ordered_at": day, "kind": "sale"})
    ln = pd.DataFrame({"order_id": [f"N{i}" for i in range(n)], "line_no": 1, "product_id": "P3", "quantity": 1,
                       "unit_price": 1.0})
    _insert(ws, o, ln)


def test_an_update_of_the_counts_carries_the_backtest_of_the_run_that_ran_it(ws):
    from shopseg.basket import update_baskets

    _orders(ws, _shop(pair_after=False))
    cfg = _cfg()
    mine_baskets(ws, 1, as_of=AS_OF, config=cfg, seed=3)
    _more_orders(ws, AS_OF + timedelta(hours=12))
    update_baskets(ws, 2, as_of=AS_OF + timedelta(days=1), config=cfg, base=1)
    _more_orders(ws, AS_OF + timedelta(days=1, hours=12))
    out = update_baskets(ws, 3, as_of=AS_OF + timedelta(days=2), config=cfg, base=2)
    d1 = decisions(ws, 1).set_index("model").loc["rules"]
    for run in (2, 3):
        d = decisions(ws, run).set_index("model").loc["rules"]
        assert (d.candidate, d.metric, d.model_value, d.baseline_value, d.decision) == (
            d1.candidate, d1.metric, d1.model_value, d1.baseline_value, d1.decision)
        assert d.source_run_id == 1 and "run 1's backtest stands" in d.reason
    assert pd.isna(d1.source_run_id)
    assert out["cross_sell"].endswith("(backtest of run 1)")


@pytest.mark.parametrize("pair_after", [True, False])
def test_recommendations_take_the_rules_only_when_they_beat_popularity(ws, pair_after):
    from shopseg.recommend._workspace import _rules

    _orders(ws, _shop(pair_after=pair_after))
    mine_baskets(ws, 1, as_of=AS_OF, config=_cfg(), seed=3)
    rules, how = _rules(ws, 1)
    if pair_after:
        assert sorted(map(tuple, rules[["consequent"]].to_numpy())) == [("P1",), ("P2",)]
        assert how.startswith("rules used for cross-sell")
    else:  # the rules step aside: the blend has no cross-sell source, its popularity stands in
        assert rules is None and how.startswith("rules not used: popularity used for cross-sell")


def test_rules_of_a_run_without_a_backtest_are_used_and_said_to_be_untested(ws):
    from shopseg.recommend._workspace import _rules

    _orders(ws, _shop(pair_after=False))
    mine_baskets(ws, 1, as_of=AS_OF, config=_cfg(), seed=3, backtest=False)
    rules, how = _rules(ws, 1)
    assert len(rules) == 2 and how == "rules of run 1 used, not backtested (that run recorded no backtest)"
