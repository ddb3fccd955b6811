"""Itemset counts updated with new baskets (FUP) equal a full mining of old + new baskets (basket/_update.py)."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from shopseg.basket import Baskets, CannotUpdate, baskets_from_transactions, update_itemsets
from shopseg.basket._mine import mine_itemsets
from shopseg.basket._count import cooccurrence
from shopseg.basket._update import align

MINE = dict(max_len=10, algorithm="eclat", max_itemsets=2_000_000)


def _update(old_tx, new_tx, min_support, **kw):
    none = np.zeros(0, object)
    new_b = baskets_from_transactions(new_tx) if new_tx else Baskets(np.zeros(0, np.int32), np.zeros(1, np.int64),
                                                                     none, none)
    old_b, new_b = align(baskets_from_transactions(old_tx), new_b)
    old_its = mine_itemsets(old_b, min_support=min_support, **MINE)
    return update_itemsets(old_its.sets, old_its.counts, old_b, new_b, min_support=min_support,
                           max_len=kw.get("max_len", 10), max_itemsets=kw.get("max_itemsets", 2_000_000),
                           old_pairs=old_its.pair_counts if kw.get("pairs", True) else None)


def _as_dict(its) -> dict[tuple, int]:
    ids = its.baskets.item_ids
    return {tuple(ids[r[r != its.pad]].tolist()): int(c) for r, c in zip(its.sets, its.counts)}


# 10 old baskets: a 6, b 5, c 5, d 2; {a,b} 3, {a,c} 2, {b,c} 2.  min_support 0.3: 3 of 10 baskets.
OLD = [["a", "b"]] * 3 + [["a", "c"]] * 2 + [["b", "c"]] * 2 + [["a"], ["c", "d"], ["d"]]
# 4 new ones: 14 baskets, so 5 are needed (0.3 * 14 = 4.2, rounded up).
NEW = [["a", "c"]] * 3 + [["b"]]


def test_the_mining_keeps_every_pair_count_of_its_frequent_items():
    """By hand: a 6, b 5, c 5 are frequent (min 3 of 10); {a,b} 3, {a,c} 2, {b,c} 2, frequent or not."""
    its = mine_itemsets(baskets_from_transactions(OLD), min_support=0.3, **MINE)
    ids = its.baskets.item_ids[its.pair_counts["items"]].tolist()
    assert ids == ["a", "b", "c"]
    assert np.triu(its.pair_counts["counts"], 1).tolist() == [[0, 3, 2], [0, 0, 2], [0, 0, 0]]


def test_a_set_crosses_the_threshold_only_with_the_new_baskets_and_another_falls_below():
    """By hand: {a,c} had 2 of 10 (under 3) and gets 3 new: 5 of 14, frequent; {a,b} had 3 of 10 (frequent)
    and gets none: 3 of 14, under 5, gone; d (2 + 0) and {b,c} (2 + 0) stay out."""
    its, counted_old = _update(OLD, NEW, 0.3)
    assert its.n_baskets == 14 and its.min_count == 5
    assert _as_dict(its) == {("a",): 9, ("c",): 8, ("b",): 6, ("a", "c"): 5}
    # {a,c} was not stored: its old count is the mining's pair count (it is in 3 new baskets, the least it
    # needs: 5 - 3 + 1); without those, counted over the old baskets
    assert counted_old == 0 and _update(OLD, NEW, 0.3, pairs=False)[1] == 1
    # and the rows are in the order a full mining writes them (size, count descending, codes)
    full = mine_itemsets(baskets_from_transactions(OLD + NEW), min_support=0.3, **MINE)
    assert _as_dict(its) == _as_dict(full)
    assert [tuple(r) for r in its.baskets.item_ids[np.minimum(its.sets, its.pad - 1)].tolist()] == \
        [tuple(r) for r in full.baskets.item_ids[np.minimum(full.sets, full.pad - 1)].tolist()]


def test_a_candidate_in_too_few_new_baskets_is_never_counted_over_the_old_ones():
    """{b,c}: 2 old + 2 new = 4 < 5; with only 2 new baskets it cannot reach 5 from at most 2 old (under 3)."""
    its, counted_old = _update(OLD, [["b", "c"]] * 2 + [["a"]] * 2, 0.3)
    assert ("b", "c") not in _as_dict(its) and counted_old == 0
    assert _as_dict(its) == _as_dict(mine_itemsets(baskets_from_transactions(OLD + [["b", "c"]] * 2 + [["a"]] * 2),
                                                    min_support=0.3, **MINE))


def test_an_item_only_in_the_new_baskets_and_no_new_basket_at_all():
    its, _ = _update(OLD, [["e", "a"]] * 5, 0.3)  # e: 5 of 15 = 1/3 >= 0.3 -> frequent, with {a,e}
    assert _as_dict(its)[("e",)] == 5 and _as_dict(its)[("a", "e")] == 5
    assert _as_dict(its) == _as_dict(mine_itemsets(baskets_from_transactions(OLD + [["e", "a"]] * 5),
                                                    min_support=0.3, **MINE))
    same, counted_old = _update(OLD, [], 0.3)
    assert _as_dict(same) == _as_dict(mine_itemsets(baskets_from_transactions(OLD), min_support=0.3, **MINE))
    assert counted_old == 0


@pytest.mark.parametrize("seed", range(8))
def test_updated_counts_equal_a_full_mining_on_random_shops(seed):
    """Random shops (skewed item popularity, baskets of 1-8 items), a random share new: every itemset and
    count equal to mining all baskets again, for several thresholds."""
    rng = np.random.default_rng(seed)
    items = [f"p{i:02d}" for i in range(int(rng.integers(8, 30)))]
    weights = rng.pareto(1.2, len(items)) + 0.05
    weights /= weights.sum()
    tx = [sorted(set(rng.choice(items, size=int(rng.integers(1, 9)), p=weights).tolist()))
          for _ in range(int(rng.integers(60, 200)))]
    cut = int(len(tx) * rng.uniform(0.6, 0.95))
    for s in (0.02, 0.05, 0.12):
        full = mine_itemsets(baskets_from_transactions(tx), min_support=s, **MINE)
        for pairs in (True, False):  # old pairs looked up in the mining's pair counts, or counted
            its, _ = _update(tx[:cut], tx[cut:], s, pairs=pairs)
            assert _as_dict(its) == _as_dict(full), (seed, s, pairs)
            assert its.n_baskets == full.n_baskets and its.min_count == full.min_count
            if pairs and its.pair_counts is not None:  # kept up to date for the next update: over all baskets
                items = its.pair_counts["items"]
                assert (np.triu(its.pair_counts["counts"], 1) == np.triu(cooccurrence(its.baskets, items), 1)).all()


def test_max_len_is_kept_and_too_many_itemsets_give_way_to_a_full_mining():
    its, _ = _update(OLD, NEW, 0.3, max_len=1)
    assert set(_as_dict(its)) == {("a",), ("b",), ("c",)}
    with pytest.raises(CannotUpdate, match="max_itemsets"):
        _update(OLD, NEW, 0.3, max_itemsets=2)


def _known_update(old_tx, new_tx, min_support, stored_support, **kw):
    """The update from the sets of ``old_tx`` mined at ``stored_support`` (<= min_support), as a full run stores
    them (pre-large itemsets)."""
    old_b, new_b = align(baskets_from_transactions(old_tx), baskets_from_transactions(new_tx))
    low = mine_itemsets(old_b, min_support=stored_support, **MINE)
    return update_itemsets(low.sets, low.counts, old_b, new_b, min_support=min_support, max_len=10,
                           max_itemsets=2_000_000, complete_from=low.min_count)


def test_sets_stored_under_min_support_spare_the_old_baskets_and_the_next_update_gets_what_is_complete():
    """By hand: stored down to 2 of 10 baskets (a 6, b 5, c 5, d 2, {a,b} 3, {a,c} 2, {b,c} 2), so {a,c}'s old
    count is read, not counted, even without the pair counts.  The next update may start from 5: a set not
    stored had at most 1 old basket and gets at most 3 new ones (a's 3, the most of any item), and 5 is the
    least count now; the sets of at least 5 of the 14 baskets are a 9, c 8, b 6, {a,c} 5."""
    its, counted_old = _known_update(OLD, NEW, 0.3, 0.2)
    assert counted_old == 0 and _as_dict(its) == {("a",): 9, ("c",): 8, ("b",): 6, ("a", "c"): 5}
    ids = its.baskets.item_ids
    known = {tuple(ids[r[r != its.pad]].tolist()): int(c) for r, c in zip(its.known.sets, its.known.counts)}
    assert its.known.min_count == 5 and known == {("a",): 9, ("c",): 8, ("b",): 6, ("a", "c"): 5}
    # from the frequent sets only (stored at min_support), {a,c} is counted over the old baskets
    assert _known_update(OLD, NEW, 0.3, 0.3)[1] == 1


@pytest.mark.parametrize("seed", range(6))
def test_updates_from_sets_stored_under_min_support_equal_a_full_mining_twice_in_a_row(seed):
    """Random shops, the sets stored 5-40% under min_support, two updates in a row (the second from what the
    first carried): each equal to mining all baskets again, and what each carries holds every set of at least
    its least count, with that count."""
    rng = np.random.default_rng(100 + seed)
    items = [f"p{i:02d}" for i in range(int(rng.integers(8, 25)))]
    weights = rng.pareto(1.2, len(items)) + 0.05
    weights /= weights.sum()
    tx = [sorted(set(rng.choice(items, size=int(rng.integers(1, 8)), p=weights).tolist()))
          for _ in range(int(rng.integers(80, 200)))]
    a, b = int(len(tx) * 0.8), int(len(tx) * 0.9)
    for s in (0.03, 0.08):
        its, _ = _known_update(tx[:a], tx[a:b], s, s * rng.uniform(0.6, 0.95))
        full = mine_itemsets(baskets_from_transactions(tx[:b]), min_support=s, **MINE)
        assert _as_dict(its) == _as_dict(full), (seed, s)
        n = its.n_baskets
        carried = Baskets(its.baskets.codes, its.baskets.offsets, its.baskets.item_ids, its.baskets.item_ids)
        every = mine_itemsets(carried, min_support=its.known.min_count / n, **MINE)
        ids = its.baskets.item_ids
        known = {tuple(ids[r[r != its.pad]].tolist()): int(c) for r, c in zip(its.known.sets, its.known.counts)}
        assert every.min_count == its.known.min_count and known == _as_dict(every), (seed, s)
        old, new = align(carried, baskets_from_transactions(tx[b:]))
        to = np.append(np.searchsorted(old.item_ids, carried.item_ids), old.n_items)  # the union's codes
        again, _ = update_itemsets(to[its.known.sets], its.known.counts, old, new, min_support=s, max_len=10,
                                   max_itemsets=2_000_000, complete_from=its.known.min_count)
        assert _as_dict(again) == _as_dict(mine_itemsets(baskets_from_transactions(tx), min_support=s, **MINE))


def _orders_shop(ws):
    """Eight January sale orders and two in February; P9 is postage."""
    ws.con.execute("""
        INSERT INTO products (product_id, name, is_merchandise) VALUES
          ('P1', 'Tea', TRUE), ('P2', 'Cake', TRUE), ('P3', 'Jam', TRUE), ('P9', 'Postage', FALSE);
        INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES
          ('O1', 'c1', '2024-01-02', 'sale'), ('O2', 'c1', '2024-01-05', 'sale'), ('O3', 'c2', '2024-01-06', 'sale'),
          ('O4', 'c2', '2024-01-07', 'sale'), ('O5', 'c3', '2024-01-08', 'sale'), ('O6', 'c3', '2024-01-09', 'sale'),
          ('O9', 'c3', '2024-01-10', 'sale'), ('O10', 'c3', '2024-01-11', 'sale'),
          ('O7', 'c1', '2024-02-02', 'sale'), ('O8', 'c2', '2024-02-03', 'sale');
        INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) VALUES
          ('O1', 1, 'P1', 1, 3), ('O1', 2, 'P2', 1, 2), ('O2', 1, 'P1', 1, 3), ('O2', 2, 'P9', 1, 5),
          ('O3', 1, 'P2', 1, 2), ('O3', 2, 'P3', 1, 4), ('O4', 1, 'P1', 1, 3), ('O5', 1, 'P3', 1, 4),
          ('O6', 1, 'P1', 1, 3), ('O6', 2, 'P3', 1, 4), ('O9', 1, 'P1', 1, 3), ('O9', 2, 'P2', 1, 2),
          ('O10', 1, 'P3', 1, 4), ('O7', 1, 'P2', 1, 2), ('O7', 2, 'P3', 1, 4), ('O8', 1, 'P2', 1, 2),
          ('O8', 2, 'P3', 1, 4);
    """)


def test_the_stage_stores_sets_under_min_support_and_an_update_from_it_or_an_older_store_equals_a_mining(
        ws, monkeypatch):
    """January: 8 baskets, P1 5, P3 4, P2 3, {P1,P2} 2, {P2,P3} 1, {P1,P3} 1; min_support 0.3 -> 3 baskets,
    stored down to 0.3 x 0.4 -> 1 (a margin of 60% here).  February adds {P2,P3} twice: 10 baskets, least count
    3; {P2,P3} (1 + 2) becomes frequent, its old count read from the store."""
    import io

    from shopseg import models
    from shopseg.basket import STORE_NAME, _update, mine_baskets, update_baskets
    from shopseg.config import load_config

    monkeypatch.setattr(_update, "STORE_MARGIN", 0.6)
    _orders_shop(ws)
    cfg = load_config(overrides={"baskets": {"min_support": 0.3, "min_lift": 0.0, "min_confidence": 0.0,
                                             "prune_redundant": False}})
    mine_baskets(ws, 1, as_of="2024-01-31", config=cfg)
    assert models.require(ws, STORE_NAME, 1)["sets_from"] == 1
    out = update_baskets(ws, 2, as_of="2024-02-29", config=cfg, base=1)
    assert "0 new candidates counted over the old baskets" in out["note"], out["note"]
    mine_baskets(ws, 3, as_of="2024-02-29", config=cfg)

    def rows(table, run):
        return ws.sql(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = ? ORDER BY rowid", [run])

    assert [r[1:] for r in rows("frequent_itemsets", 3)] == [
        (["P3"], ["Jam"], 1, 6 / 10, 6), (["P1"], ["Tea"], 1, 5 / 10, 5), (["P2"], ["Cake"], 1, 5 / 10, 5),
        (["P2", "P3"], ["Cake", "Jam"], 2, 3 / 10, 3)]
    for table in ("frequent_itemsets", "association_rules"):
        assert rows(table, 2) == rows(table, 3), table
    # a store written before the sets were kept: the run's frequent itemsets, complete from its least count
    mine_baskets(ws, 4, as_of="2024-01-31", config=cfg)
    meta = models.require(ws, STORE_NAME, 4)
    with np.load(io.BytesIO(models.read_bytes(ws, STORE_NAME, 4, ".npz"))) as f:
        kept = {k: f[k] for k in ("codes", "offsets")}
    with np.load(io.BytesIO(models.read_bytes(ws, STORE_NAME, 4, _update.SETS))) as f:
        kept["item_ids"] = f["item_ids"]
    models.path(ws, STORE_NAME, 4, _update.SETS).unlink()  # one file, as before session 14
    buf = io.BytesIO()
    np.savez(buf, **kept)
    models.save(ws, STORE_NAME, 4, {".npz": buf.getvalue()},
                {k: meta[k] for k in ("as_of", "n_baskets", "last_ingest_id", "forgotten")}, config_hash=cfg.hash)
    out = update_baskets(ws, 5, as_of="2024-02-29", config=cfg, base=4)
    assert "1 new candidates counted over the old baskets" in out["note"], out["note"]  # {P2,P3}
    for table in ("frequent_itemsets", "association_rules"):
        assert rows(table, 5) == rows(table, 3), table


@pytest.mark.parametrize("seed", range(4))
def test_pair_counts_listed_in_numpy_equal_the_sparse_product(seed):
    """cooccurrence: a few baskets' pairs listed and counted in numpy (a day's, without SciPy) give the counts of
    the sparse product (many baskets), repeated items and empty baskets included."""
    import shopseg.basket._count as count

    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 9, 80)
    codes = np.concatenate([rng.choice(30, s, replace=bool(seed % 2)) for s in sizes]).astype(np.int32)
    ids = np.array([f"p{i:02d}" for i in range(30)], object)
    b = Baskets(codes, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), ids, ids)
    items = np.sort(rng.choice(30, 12, replace=False))
    listed = cooccurrence(b, items)
    with mock.patch.object(count, "_PAIRS_LISTED", -1):
        product = cooccurrence(b, items)
    assert listed.dtype == product.dtype == np.int64 and (listed == product).all()
    assert listed.sum() > 0


@pytest.mark.parametrize("max_chain", [30, 2])
def test_an_update_stores_only_its_baskets_after_the_older_stores_and_reads_them_all_when_it_must(
        ws, monkeypatch, max_chain):
    """Stored sets only from min_support (no margin, no pair counts): February's {P2,P3} is counted over
    January's baskets (read from run 1's store); run 2 stores only February's baskets after run 1's, run 3 March's (a new item, P4) after
    run 2's; the chain read back holds every basket in a mining's coding, and the updates equal minings.  At
    MAX_CHAIN stores the update stores every basket in one store again; a store of the chain gone: mined in full."""
    from shopseg import models
    from shopseg.basket import STORE_NAME, _update, baskets_from_workspace, mine_baskets, update_baskets
    from shopseg.config import load_config

    monkeypatch.setattr(_update, "STORE_MARGIN", 0.0)
    monkeypatch.setattr(_update, "MAX_CHAIN", max_chain)
    monkeypatch.setattr(_update, "MAX_NEW_SHARE", 0.5)  # March adds 3 to 10
    monkeypatch.setattr(_update, "_pairs_known", lambda *a: (None, None))  # pairs counted, not looked up
    _orders_shop(ws)
    cfg = load_config(overrides={"baskets": {"min_support": 0.3, "min_lift": 0.0, "min_confidence": 0.0,
                                             "prune_redundant": False}})

    def rows(table, run):
        return ws.sql(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = ? ORDER BY rowid", [run])

    def stores():
        return sorted({int(p.name.split("-")[1]) for p in ws.models_dir.glob("run-*-baskets*")})

    mine_baskets(ws, 1, as_of="2024-01-31", config=cfg)
    out = update_baskets(ws, 2, as_of="2024-02-29", config=cfg, base=1)
    assert "1 new candidates counted over the old baskets" in out["note"], out["note"]  # {P2,P3}: run 1's read
    assert models.require(ws, STORE_NAME, 2)["older"] == 1 and stores() == [1, 2]
    ws.con.execute("""
        INSERT INTO products (product_id, name, is_merchandise) VALUES ('P4', 'Scone', TRUE);
        INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES
          ('O11', 'c1', '2024-03-02', 'sale'), ('O12', 'c2', '2024-03-03', 'sale'), ('O13', 'c3', '2024-03-04', 'sale');
        INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) VALUES
          ('O11', 1, 'P1', 1, 3), ('O11', 2, 'P3', 1, 4), ('O12', 1, 'P1', 1, 3), ('O12', 2, 'P3', 1, 4),
          ('O13', 1, 'P4', 1, 1), ('O13', 2, 'P1', 1, 3);
    """)
    update_baskets(ws, 3, as_of="2024-03-31", config=cfg, base=2)
    meta = models.require(ws, STORE_NAME, 3)
    assert meta["n_baskets"] == 13
    if max_chain == 2:  # run 2's chain is as long as allowed: every basket in run 3's store, the older ones gone
        assert meta["older"] is None and meta["n_own"] == 13 and stores() == [3]
    else:
        assert meta["older"] == 2 and meta["n_own"] == 3 and stores() == [1, 2, 3]
    every = baskets_from_workspace(ws, as_of="2024-03-31", unit="order")
    back = _update.stored_baskets(ws, 3)[0]
    got = back.full() if isinstance(back, _update.StoredBaskets) else back
    assert list(got.item_ids) == list(every.item_ids) == ["P1", "P2", "P3", "P4"]
    assert got.to_lists() == every.to_lists()
    mine_baskets(ws, 4, as_of="2024-03-31", config=cfg)
    for table in ("frequent_itemsets", "association_rules"):
        assert rows(table, 3) == rows(table, 4), table
    assert stores() == [4]  # a mining stores every basket: the chain goes
    update_baskets(ws, 5, as_of="2024-03-31", config=cfg, base=4)
    update_baskets(ws, 6, as_of="2024-03-31", config=cfg, base=5)
    if max_chain == 30:
        models.path(ws, STORE_NAME, 4, models.META).unlink()
        with pytest.raises(_update.CannotUpdate, match="stored no baskets"):
            update_baskets(ws, 7, as_of="2024-03-31", config=cfg, base=6)
