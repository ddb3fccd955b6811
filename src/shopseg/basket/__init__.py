"""Baskets: frequent itemsets and association rules, overall and per segment, for cross-sell.

Computed by rule over the workspace (one basket per sale order up to
``as_of``, or per customer), or over plain transactions::

    >>> from shopseg.basket import association_rules, cross_sell
    >>> tx = [["bread", "milk"], ["bread", "butter", "milk"], ["beer", "bread"],
    ...       ["butter", "milk"], ["bread", "butter", "milk"]]
    >>> rules = association_rules(tx, min_support=0.4, min_confidence=0.7, min_lift=0,
    ...                           prune_redundant=False)
    >>> rules[["antecedent", "consequent", "support", "confidence"]].head(2)
            antecedent consequent  support  confidence
    0         [butter]       milk      0.6         1.0
    1  [bread, butter]       milk      0.4         1.0
    >>> cross_sell(rules, ["butter"])[["rank", "item", "confidence"]]
       rank  item  confidence
    0     1  milk         1.0

Itemsets are mined by Eclat (Zaki 2000; default), FP-growth (Han, Pei & Yin
2000) or Apriori (Agrawal & Srikant 1994) in Borgelt's C implementation
(pyfim), single items and short-basket pairs counted in numpy; rules, measures and
redundancy pruning are vectorised numpy over the itemsets.  Rules follow
arules' convention (Hahsler, Gruen & Hornik 2005).  See docs/baskets.md.
"""

from ._baskets import Baskets, baskets_from_workspace
from ._transactions import baskets_from_transactions
from ._cross_sell import cross_sell, purchase_histories
from ._update import STORE_NAME, CannotUpdate, update_baskets, update_itemsets
from ._tables import (ITEMSET_COLUMNS, RULE_COLUMNS, association_rules, count_itemsets,
                      frequent_itemsets, mine_baskets, segment_rules)

__all__ = [
    "Baskets",
    "baskets_from_transactions",
    "baskets_from_workspace",
    "frequent_itemsets",
    "association_rules",
    "segment_rules",
    "mine_baskets",
    "cross_sell",
    "purchase_histories",
    "count_itemsets",
    "update_baskets",
    "update_itemsets",
    "CannotUpdate",
    "STORE_NAME",
    "ITEMSET_COLUMNS",
    "RULE_COLUMNS",
]
