"""Frames and workspace tables of itemsets and rules, overall and per segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..config import load_config
from ..errors import ConfigError
from ..progress import track
from ._baskets import Baskets, baskets_from_workspace, check_param, min_count, segment_baskets, setting
from ._count import count_itemsets
from ._transactions import baskets_from_transactions
from ._update import mine_for_store, store_baskets
from ._mine import Itemsets, Known, Rules, build_rules, mine_itemsets, select_rules

ITEMSET_COLUMNS = ("scope", "items", "item_names", "length", "support", "count")
RULE_COLUMNS = ("scope", "antecedent", "consequent", "antecedent_names", "consequent_name", "length",
                "support", "confidence", "lift", "leverage", "conviction", "count",
                "shop_support", "shop_confidence", "lift_vs_shop")


def _is_workspace(obj: Any) -> bool:
    return hasattr(obj, "con") and hasattr(obj, "write_output")


def as_baskets(source, *, as_of=None, unit=None, config=None) -> Baskets:
    """Baskets from a Baskets, a Workspace (needs ``as_of``), a list of lists or a DuckDB relation."""
    if isinstance(source, Baskets):
        return source
    if _is_workspace(source):
        if as_of is None:
            raise ConfigError(
                "Mining a workspace needs an explicit as_of (orders after it are left out). Got None.",
                hint="Pass as_of='2011-12-09' (or the run's as_of).",
            )
        return baskets_from_workspace(source, as_of=as_of, unit=unit, config=config)
    return baskets_from_transactions(source)


class _Params:
    """The mining parameters, each from the argument or the [baskets] config."""

    NAMES = ("min_support", "min_confidence", "min_lift", "max_len", "max_itemsets", "algorithm",
             "prune_redundant", "unit")

    def __init__(self, config=None, **given):
        if config is None and any(given.get(n) is None for n in self.NAMES):
            config = load_config()
        for name in self.NAMES:
            setattr(self, name, setting(name, given.get(name), config))
        for name in self.NAMES[:-2] + ("unit",):
            check_param(name, getattr(self, name))

    def itemsets(self, baskets: Baskets) -> Itemsets:
        return mine_itemsets(baskets, min_support=self.min_support, max_len=self.max_len,
                             algorithm=self.algorithm, max_itemsets=self.max_itemsets)


def _frame(tbl: pa.Table) -> pd.DataFrame:
    """A pandas frame with list columns as Python lists."""
    return pd.DataFrame({
        c: (tbl[c].to_pylist() if pa.types.is_list(tbl[c].type) else tbl[c].to_numpy())
        for c in tbl.column_names
    })


def itemsets_table(its: Itemsets, scope: str) -> pa.Table:
    return pa.table({
        "scope": pa.array([scope] * len(its), pa.string()),
        "items": its.item_lists(its.sets),
        "item_names": its.item_lists(its.sets, names=True),
        "length": pa.array(its.sizes.astype(np.int64)),
        "support": pa.array(its.counts / its.n_baskets),
        "count": pa.array(its.counts),
    })


def rules_table(rules: Rules, idx: np.ndarray, scope: str, shop: dict | None = None) -> pa.Table:
    its = rules.itemsets
    m = {k: v[idx] for k, v in rules.metrics.items()}
    ante_rows = its.sets[rules.ante[idx]]
    cons = rules.consequent[idx]
    null = pa.nulls(len(idx), pa.float64())
    return pa.table({
        "scope": pa.array([scope] * len(idx), pa.string()),
        "antecedent": its.item_lists(ante_rows),
        "consequent": pa.array(its.baskets.item_ids[cons].tolist(), pa.string()),
        "antecedent_names": its.item_lists(ante_rows, names=True),
        "consequent_name": pa.array(its.baskets.item_names[cons].tolist(), pa.string()),
        "length": pa.array(rules.length[idx].astype(np.int64)),
        **{k: pa.array(m[k]) for k in ("support", "confidence", "lift", "leverage", "conviction")},
        "count": pa.array(rules.count[idx]),
        "shop_support": null if shop is None else pa.array(shop["shop_support"]),
        "shop_confidence": null if shop is None else pa.array(shop["shop_confidence"]),
        "lift_vs_shop": null if shop is None else pa.array(shop["lift_vs_shop"]),
    })


def frequent_itemsets(source, *, as_of=None, unit=None, min_support=None, max_len=None, algorithm=None,
                      max_itemsets=None, config=None) -> pd.DataFrame:
    """Frequent itemsets of ``source`` (see :func:`association_rules` for what it may be).

    Columns: items (ids), item_names, length, support (share of baskets),
    count (baskets).  Exact: the same sets and counts as Apriori or
    mlxtend's fpgrowth.
    """
    p = _Params(config, min_support=min_support, max_len=max_len, algorithm=algorithm,
                max_itemsets=max_itemsets, unit=unit)
    its = p.itemsets(as_baskets(source, as_of=as_of, unit=p.unit, config=config))
    return _frame(itemsets_table(its, "all")).drop(columns="scope")


def _item_filters(baskets: Baskets, antecedent_items, consequent_items):
    a = None if antecedent_items is None else baskets.item_codes(antecedent_items, what="antecedent_items")
    c = None if consequent_items is None else baskets.item_codes(consequent_items, what="consequent_items")
    return a, c


def association_rules(source, *, as_of=None, unit=None, min_support=None, min_confidence=None,
                      min_lift=None, max_len=None, min_len: int = 2, antecedent_items=None,
                      consequent_items=None, prune_redundant=None, algorithm=None, max_itemsets=None,
                      config=None) -> pd.DataFrame:
    """Association rules ``antecedent => consequent`` in arules' convention.

    ``source`` is a :class:`~shopseg.Workspace` (one basket per sale order up
    to ``as_of``, or per customer with ``unit='customer'``), a list of lists
    of items, or a DuckDB relation ``(basket_id, item)``.  One item on the
    right-hand side; ``support`` is the share of baskets holding both sides;
    ``confidence = support / support(antecedent)``; ``lift = confidence /
    support(consequent)``; ``leverage = support - support(antecedent) *
    support(consequent)``; ``conviction = (1 - support(consequent)) / (1 -
    confidence)`` (inf when confidence is 1).  ``min_len``/``max_len`` count
    both sides.  ``antecedent_items`` keeps rules whose antecedent holds any
    of them ("what goes with X?"), ``consequent_items`` rules whose
    consequent is one of them.  ``prune_redundant`` drops a rule when a more
    general one (same consequent, antecedent a proper non-empty subset) has
    at least its confidence.  Unset parameters come from ``[baskets]`` in the
    config.  Sorted by lift, confidence, support (descending).
    """
    p = _Params(config, min_support=min_support, min_confidence=min_confidence, min_lift=min_lift,
                max_len=max_len, max_itemsets=max_itemsets, algorithm=algorithm,
                prune_redundant=prune_redundant, unit=unit)
    baskets = as_baskets(source, as_of=as_of, unit=p.unit, config=config)
    a, c = _item_filters(baskets, antecedent_items, consequent_items)
    rules = build_rules(p.itemsets(baskets))
    idx = select_rules(rules, min_confidence=p.min_confidence, min_lift=p.min_lift, min_len=min_len,
                       antecedent_codes=a, consequent_codes=c, prune_redundant=p.prune_redundant)
    return _frame(rules_table(rules, idx, "all")).drop(
        columns=["scope", "shop_support", "shop_confidence", "lift_vs_shop"])


# -- per segment -------------------------------------------------------------------

def _shop_comparison(rules: Rules, idx: np.ndarray, shop: Baskets) -> dict[str, np.ndarray]:
    """The whole shop's support and confidence for the same rules, and lift_vs_shop."""
    its = rules.itemsets
    to_shop = np.searchsorted(shop.item_ids, its.baskets.item_ids).astype(np.int32)
    to_shop = np.append(to_shop, shop.n_items)  # pad -> shop pad

    def shop_rows(rows):
        r = to_shop[rows]
        r.sort(axis=1)
        return r

    full = count_itemsets(shop, shop_rows(its.sets[rules.itemset[idx]]), shop.n_items)
    ante = count_itemsets(shop, shop_rows(its.sets[rules.ante[idx]]), shop.n_items)
    shop_conf = full / ante
    return dict(shop_support=full / shop.n_baskets, shop_confidence=shop_conf,
                lift_vs_shop=rules.metrics["confidence"][idx] / shop_conf)


def _segment_tables(ws, scheme, as_of, p: _Params, *, segment_run_id=None, min_len=2,
                    antecedent_items=None, consequent_items=None, shop: Baskets | None = None):
    segs, _ = segment_baskets(ws, scheme=scheme, as_of=as_of, unit=p.unit, segment_run_id=segment_run_id)
    if shop is None:
        shop = baskets_from_workspace(ws, as_of=as_of, unit=p.unit)
    a, c = _item_filters(shop, antecedent_items, consequent_items)
    a = None if a is None else np.searchsorted(segs.item_ids, shop.item_ids[a])
    c = None if c is None else np.searchsorted(segs.item_ids, shop.item_ids[c])
    out_its, out_rules = [], []
    done = track(f"rules per {scheme} segment", len(segs.groups), "segments")
    for name in segs.groups:
        scope = f"segment:{scheme}:{name}"
        its = p.itemsets(segs.group(name))
        rules = build_rules(its)
        idx = select_rules(rules, min_confidence=p.min_confidence, min_lift=p.min_lift, min_len=min_len,
                           antecedent_codes=a, consequent_codes=c, prune_redundant=p.prune_redundant)
        out_its.append(itemsets_table(its, scope))
        out_rules.append(rules_table(rules, idx, scope, _shop_comparison(rules, idx, shop)))
        done.advance(1)
    return out_its, out_rules


def segment_rules(ws, *, scheme: str, as_of, segment_run_id: int | None = None, unit=None,
                  min_support=None, min_confidence=None, min_lift=None, max_len=None, min_len: int = 2,
                  antecedent_items=None, consequent_items=None, prune_redundant=None, algorithm=None,
                  max_itemsets=None, config=None) -> pd.DataFrame:
    """Rules mined within each segment's baskets, with what sets them apart from the whole shop.

    Reads ``segments`` (run_id, customer_id, scheme, segment; the latest run
    of ``scheme`` unless ``segment_run_id``).  Support is relative to the
    segment's baskets.  ``shop_support``/``shop_confidence`` are the same
    rule's figures over all baskets, and ``lift_vs_shop = confidence /
    shop_confidence``: above 1, the consequent follows the antecedent more
    often in this segment than in the shop.  Sorted by scope, then
    lift_vs_shop (descending).
    """
    p = _Params(config, min_support=min_support, min_confidence=min_confidence, min_lift=min_lift,
                max_len=max_len, max_itemsets=max_itemsets, algorithm=algorithm,
                prune_redundant=prune_redundant, unit=unit)
    if as_of is None:
        raise ConfigError("segment_rules needs an explicit as_of. Got None.")
    _, tables = _segment_tables(ws, scheme, as_of, p, segment_run_id=segment_run_id, min_len=min_len,
                                antecedent_items=antecedent_items, consequent_items=consequent_items)
    df = _frame(pa.concat_tables(tables)) if tables else pd.DataFrame(columns=list(RULE_COLUMNS))
    return df.sort_values(["scope", "lift_vs_shop"], ascending=[True, False], kind="stable",
                          ignore_index=True)


# -- the pipeline stage --------------------------------------------------------------

def _write(ws, name: str, run_id: int, tbl: pa.Table) -> int:
    view = f"_shopseg_{name}_in"
    ws.con.execute("SELECT 1").fetchall()  # finish any half-read result: DuckDB 2 refuses register()
    ws.con.register(view, tbl)
    try:
        return ws.write_output(name, run_id, f"SELECT * FROM {view}")
    finally:
        # write_output ends on fetchone(), which leaves DuckDB 2.0's result unfinished and
        # blocks unregister(): finish it with a fetch that returns every row.
        ws.con.execute("SELECT 1").fetchall()
        ws.con.unregister(view)


def mine_baskets(ws, run_id: int, *, as_of, config=None, schemes=None,
                 segment_run_id: int | None = None, seed: int = 0, backtest: bool = True) -> dict:
    """The pipeline stage: write ``frequent_itemsets`` and ``association_rules`` for run ``run_id``.

    Scope ``all`` covers every basket up to ``as_of``; each segment of the
    schemes in ``baskets.segment_schemes`` (or ``schemes``) gets scope
    ``segment:<scheme>:<segment>``, from the segments of run ``segment_run_id`` (the runner names it:
    ``ctx.runs.of("segments")``; None: the newest run with that scheme).  With ``backtest`` the shop-wide rules
    are backtested out of time against popularity (:mod:`shopseg.basket._backtest`, seeded by ``seed``) and the
    decision is run ``run_id``'s ``model_decisions`` row for model ``rules``.  Returns the rows written per table
    (and the backtest's figures and decision).
    """
    if as_of is None:
        raise ConfigError("mine_baskets needs an explicit as_of. Got None.")
    p = _Params(config)
    schemes = setting("segment_schemes", schemes, config)
    shop = baskets_from_workspace(ws, as_of=as_of, unit=p.unit)
    keep = p.unit == "order" and hasattr(config, "hash")  # kept for an incremental run's update (_update.py)
    known = mine_for_store(p, shop) if keep else None
    its = known.at_least(min_count(p.min_support, shop.n_baskets)) if known is not None else p.itemsets(shop)
    if keep:
        mined = known if known is not None else its
        store_baskets(ws, run_id, shop, Known(mined.sets, mined.counts, mined.min_count), as_of=as_of,
                      config_hash=config.hash, pairs=mined.pair_counts)
    rules = build_rules(its)
    idx = select_rules(rules, min_confidence=p.min_confidence, min_lift=p.min_lift,
                       prune_redundant=p.prune_redundant)
    its_t, rule_t = [itemsets_table(its, "all")], [rules_table(rules, idx, "all")]
    for scheme in schemes:
        i2, r2 = _segment_tables(ws, scheme, as_of, p, shop=shop, segment_run_id=segment_run_id)
        its_t += i2
        rule_t += r2
    out = {
        "frequent_itemsets": _write(ws, "frequent_itemsets", run_id, pa.concat_tables(its_t)),
        "association_rules": _write(ws, "association_rules", run_id, pa.concat_tables(rule_t)),
    }
    if backtest:
        out.update(record_backtest(ws, run_id, shop, as_of=as_of, params=p, config=config, seed=seed,
                                   n_rules=len(idx)))
    return out


def record_backtest(ws, run_id: int, shop: Baskets, *, as_of, params, config, seed: int = 0,
                    n_rules: int | None = None) -> dict:
    """Backtest the shop-wide rules (:func:`shopseg.basket._backtest.backtest_workspace`), store the decision as
    run ``run_id``'s ``model_decisions`` row (model ``rules``); the notes for the run's record.  ``n_rules``: the
    run's shop-wide rules (none: nothing to backtest, and cross-sell has nothing to suggest)."""
    from ..refit import Decision, record
    from ._backtest import NO_RULES, backtest_workspace

    if n_rules == 0:
        notes = record(ws, run_id, Decision("rules", "refitted", "the rules are mined anew in every run",
                                            candidate="baseline", decision=NO_RULES))
        return {"cross_sell": notes.get("decision", "")}
    res = backtest_workspace(ws, shop, as_of=as_of, params=params, config=config, seed=seed)
    notes = record(ws, run_id, res.decision())
    return {"backtest": res.notes(), "cross_sell": notes.get("decision", "")}
