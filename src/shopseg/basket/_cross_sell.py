"""Cross-sell: the items that association rules suggest for a basket or a purchase history."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DataContractError
from ..schema import check_columns
from ._baskets import check_param

_OUT = ["rank", "item", "item_name", "confidence", "lift", "support", "antecedent", "antecedent_names"]


def _basket_pairs(basket_items):
    """(key column name or None, keys array, items array) from the accepted shapes."""
    if isinstance(basket_items, pd.DataFrame):
        if basket_items.shape[1] != 2:
            raise DataContractError(
                f"basket_items as a frame must have two columns (key, item); got "
                f"{', '.join(map(str, basket_items.columns))}."
            )
        key, item = basket_items.columns
        return str(key), basket_items[key].to_numpy(), basket_items[item].astype(str).to_numpy()
    if isinstance(basket_items, Mapping):
        keys, items = [], []
        for k, v in basket_items.items():
            v = [v] if isinstance(v, str) else list(v)
            keys += [k] * len(v)
            items += [str(x) for x in v]
        return "basket_id", np.asarray(keys, dtype=object), np.asarray(items, dtype=object)
    if isinstance(basket_items, str):
        basket_items = [basket_items]
    items = np.asarray([str(x) for x in basket_items], dtype=object)
    return None, np.zeros(len(items), np.int64), items


def cross_sell(rules: pd.DataFrame, basket_items, top_n: int = 10) -> pd.DataFrame:
    """Rank the consequents that ``rules`` suggest for a basket, best first.

    ``rules`` is a frame from :func:`association_rules` (or the
    ``association_rules`` table of one scope): columns ``antecedent`` (list of
    item ids), ``consequent``, ``confidence``, ``lift`` and optionally
    ``support`` and the ``*_names`` columns.  ``basket_items`` is one basket
    (a list of item ids), a mapping key -> items, or a two-column frame
    (key, item), e.g. each customer's purchase history.  A rule applies when
    its whole antecedent is in the basket; items already in the basket are
    never suggested.  Each suggested item is shown with the rule that suggests
    it best (highest confidence, then lift, then support); items are ranked
    the same way and the first ``top_n`` kept.  Vectorised: one sparse
    product matches every basket against every rule.
    """
    # here, not at the top: importing the package (an itemset update) does not load SciPy
    from scipy import sparse

    check_param("top_n", top_n)
    check_columns("rules", rules.columns, ["antecedent", "consequent", "confidence", "lift"])
    if "scope" in rules.columns and rules["scope"].nunique() > 1:
        raise DataContractError(
            f"rules hold {rules['scope'].nunique()} scopes ({', '.join(sorted(rules['scope'].unique())[:3])}"
            "...); cross-sell uses one set of rules.",
            hint="Filter the rules to one scope first, e.g. rules[rules.scope == 'all'].",
        )
    key_name, keys, items = _basket_pairs(basket_items)
    ante = [list(a) if a is not None else [] for a in rules["antecedent"]]
    lens = np.fromiter(map(len, ante), np.int64, len(ante))
    flat = np.asarray([str(x) for a in ante for x in a], dtype=object)
    cons = rules["consequent"].astype(str).to_numpy()
    vocab = np.unique(np.concatenate([flat, cons, items]).astype(str))
    v = len(vocab)
    ante_codes = np.searchsorted(vocab, flat.astype(str))
    cons_codes = np.searchsorted(vocab, cons.astype(str))
    item_codes = np.searchsorted(vocab, items.astype(str))
    ukeys, key_idx = (np.unique(keys.astype(str), return_inverse=True) if key_name is not None
                      else (np.array([0]), np.zeros(len(items), np.int64)))
    if key_name is not None:  # the caller's key values, in sorted order
        _, first = np.unique(keys.astype(str), return_index=True)
        ukeys = keys[first]
    n_rules, n_keys = len(rules), len(ukeys)
    a_mat = sparse.csr_matrix((np.ones(len(flat)), ante_codes, np.r_[0, np.cumsum(lens)]), shape=(n_rules, v))
    b_mat = sparse.csr_matrix((np.ones(len(items)), (key_idx, item_codes)), shape=(n_keys, v))
    b_mat.sum_duplicates()
    b_mat.data = np.minimum(b_mat.data, 1.0)  # repeated items count once
    hits = (b_mat @ a_mat.T).tocoo()
    k, r = hits.row.astype(np.int64), hits.col.astype(np.int64)
    ok = (hits.data == lens[r]) & (lens[r] > 0)
    k, r = k[ok], r[ok]
    in_basket = np.isin(k * v + cons_codes[r], key_idx.astype(np.int64) * v + item_codes)
    k, r = k[~in_basket], r[~in_basket]
    conf = rules["confidence"].to_numpy(float)
    lift = rules["lift"].to_numpy(float)
    supp = rules["support"].to_numpy(float) if "support" in rules.columns else np.zeros(n_rules)
    order = np.lexsort((r, -supp[r], -lift[r], -conf[r], cons_codes[r], k))
    k, r = k[order], r[order]
    first = np.r_[True, (k[1:] != k[:-1]) | (cons_codes[r][1:] != cons_codes[r][:-1])][: len(k)]
    k, r = k[first], r[first]
    order = np.lexsort((cons_codes[r], -supp[r], -lift[r], -conf[r], k))
    k, r = k[order], r[order]
    start = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1] if len(k) else np.zeros(0, np.int64)
    rank = np.arange(len(k)) - np.repeat(start, np.diff(np.r_[start, len(k)])) + 1
    keep = rank <= top_n
    k, r, rank = k[keep], r[keep], rank[keep]
    names = rules["consequent_name"].to_numpy() if "consequent_name" in rules.columns else cons
    ante_names = (rules["antecedent_names"] if "antecedent_names" in rules.columns else rules["antecedent"])
    out = pd.DataFrame({
        "rank": rank.astype(np.int64),
        "item": cons[r],
        "item_name": names[r],
        "confidence": conf[r],
        "lift": lift[r],
        "support": supp[r],
        "antecedent": [ante[i] for i in r],
        "antecedent_names": [list(ante_names.iloc[i]) for i in r],
    })
    if key_name is not None:
        out.insert(0, key_name, ukeys[k])
    return out


def purchase_histories(ws, *, as_of, customers=None) -> pd.DataFrame:
    """(customer_id, item): the merchandise each customer bought in sale orders up to ``as_of``.

    Feed it to :func:`cross_sell` to suggest items from a whole history.
    """
    sql = """
        SELECT DISTINCT o.customer_id, ol.product_id AS item
        FROM orders o JOIN order_lines ol ON ol.order_id = o.order_id
        LEFT JOIN products p ON p.product_id = ol.product_id
        WHERE o.kind = 'sale' AND coalesce(p.is_merchandise, TRUE) AND o.customer_id IS NOT NULL
          AND o.ordered_at <= CAST(? AS TIMESTAMP) {extra}
        ORDER BY 1, 2
    """
    params: list = [as_of]
    extra = ""
    if customers is not None:
        extra = "AND list_contains(?, o.customer_id)"
        params.append([str(c) for c in customers])
    return ws.df(sql.format(extra=extra), params)
