"""Product groups derived from product names, for shops whose products have no category nor brand (Online Retail).

The names of merchandise products are turned into TF-IDF vectors of their words (lower-cased, three letters
or more, no digits; scikit-learn's English stop words and :data:`MODIFIERS`, the colours, sizes and pack words
that describe a product but do not say what it is, removed; a word must occur in at least ``min_products``
names, sublinear term frequency), split by non-negative matrix factorisation (Lee & Seung 1999) into
``n_groups`` parts (``init="nndsvd"``: deterministic, no random start) and each product is put in the part
holding most of its weight. A group is named from its two heaviest words ("candle / holder"); groups of the
same name are one. Products whose name keeps no word (too rare, or only modifiers) have no group.

Limits: the stop list is English; a group is a bag of words, so "hand warmer bird design" may join the birds
rather than the warmers, and a word shared by unrelated products ("heart": cushions, lights, wreaths) can be a
group of its own. It describes what the catalogue's names say, not how the shop arranges its range.

>>> names = pd.Series(["RED CANDLE", "SCENTED CANDLE WHITE", "CANDLE POT", "LUNCH BAG RED", "JUMBO BAG",
...                    "SHOPPING BAG PINK"], index=["c1", "c2", "c3", "b1", "b2", "b3"])
>>> g = derive_groups(names, n_groups=2, min_products=1)
>>> sorted(set(g.str.split(" / ").str[0]))
['bag', 'candle']
>>> g.str.startswith("candle").tolist()
[True, True, True, False, False, False]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

# Words that say how a product looks or comes, not what it is (colours, sizes, packs, styles).
MODIFIERS = frozenset("""
    red pink blue green white black cream ivory gold silver yellow purple orange brown grey gray turquoise lilac
    multicolour colour colours coloured assorted small large mini jumbo big medium tiny giant set sets pack
    vintage retro antique new design designs style
""".split())
GROUP_WORDS = 2  # a group is named from this many of its heaviest words


def derive_groups(names: pd.Series, *, n_groups: int = 30, min_products: int = 5) -> pd.Series:
    """Each product's derived group (index: the product ids of ``names``; NaN where none), see the module doc."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    names = names.dropna()
    out = pd.Series(np.nan, index=names.index, dtype=object)
    if len(names) < 2 or n_groups < 1:
        return out
    vec = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b[^\W\d_]{3,}\b", sublinear_tf=True,
                          stop_words=sorted(ENGLISH_STOP_WORDS | MODIFIERS), min_df=min(int(min_products),
                                                                                         len(names)))
    try:
        X = vec.fit_transform(names.astype(str).to_numpy())
    except ValueError:  # no word left in any name
        return out
    k = int(min(n_groups, X.shape[1], X.shape[0] - 1))
    if k < 1:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # ConvergenceWarning at max_iter: the split still stands
        nmf = NMF(n_components=k, init="nndsvd", max_iter=300, tol=1e-3, random_state=0)
        W = nmf.fit_transform(X)
    terms = np.asarray(vec.get_feature_names_out(), dtype=object)
    H = nmf.components_
    top = np.argsort(-H, axis=1, kind="stable")[:, :GROUP_WORDS]
    words = np.where(np.take_along_axis(H, top, axis=1) > 0, terms[top], None)  # a word of no weight is no name
    label = np.array([" / ".join(w for w in row if w) for row in words], dtype=object)  # k groups, not rows
    has = W.max(axis=1) > 0
    out.loc[has] = label[W[has].argmax(axis=1)]
    return out


def derived_categories(ws, *, n_groups: int, min_products: int) -> pd.DataFrame:
    """(product_id, category) of the shop's merchandise from their names, when no product has a category or a
    brand (the interests had nothing to go on).

    Empty when some product has a category or a brand (the shop's own wins: interests are then its categories,
    or its brands), when no product has a name, or when ``n_groups`` is 0.
    """
    empty = pd.DataFrame({"product_id": pd.Series(dtype=object), "category": pd.Series(dtype=object)})
    if n_groups < 1 or ws.scalar("SELECT count(category) + count(brand) FROM products"):
        return empty
    p = ws.df("SELECT CAST(product_id AS VARCHAR) AS product_id, name FROM products "
              "WHERE coalesce(is_merchandise, TRUE) AND name IS NOT NULL ORDER BY product_id")
    if not len(p):
        return empty
    g = derive_groups(p.set_index("product_id")["name"], n_groups=n_groups, min_products=min_products)
    return g.dropna().rename("category").rename_axis("product_id").reset_index()
