"""Product groups derived from names for shops without categories, used as interests (Online Retail)."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.segment.interest import NO_INTEREST, interests
from shopseg.segment.product_groups import derive_groups, derived_categories

from .test_act_playbook import write_table

AS_OF = "2024-07-01"
NAMES = {"c1": "RED CANDLE", "c2": "SCENTED CANDLE WHITE", "c3": "CANDLE POT",
         "b1": "LUNCH BAG RED", "b2": "JUMBO BAG", "b3": "SHOPPING BAG PINK", "x": "PINK SET 3", "post": "POSTAGE"}


def cfg(**interest):
    return load_config(overrides={"segments": {"interest": {"derived_groups": 2, "derived_min_products": 1,
                                                            **interest}}})


def shop(ws, lines: dict[str, list[str]], category=None) -> None:
    rows = [(c, p) for c, ps in lines.items() for p in ps]
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(len(rows))], "customer_id": [c for c, _ in rows],
                           "kind": "sale", "ordered_at": pd.Timestamp("2024-03-01")})
    write_table(ws, "products", pd.DataFrame({"product_id": list(NAMES), "name": list(NAMES.values()),
                                              "category": category, "is_merchandise": [True] * 7 + [False]}))
    write_table(ws, "orders", orders)
    write_table(ws, "order_lines", pd.DataFrame({"order_id": orders["order_id"], "line_no": 1,
                                                 "product_id": [p for _, p in rows], "quantity": 1.0,
                                                 "unit_price": 2.0}))


def test_names_split_into_groups_named_from_their_heaviest_words():
    g = derive_groups(pd.Series(NAMES), n_groups=2, min_products=1)
    # colours, sizes and packs ("red", "jumbo", "set") are no group words; "x" (PINK SET 3) keeps no word
    assert g[["c1", "c2", "c3"]].str.startswith("candle / ").all()
    assert g[["b1", "b2", "b3"]].str.startswith("bag / ").all()
    assert pd.isna(g["x"])
    # a word must be in min_products names: only candle and bag are in two or more
    assert derive_groups(pd.Series(NAMES), n_groups=5, min_products=2).dropna().to_dict() == {
        **{c: "candle" for c in ("c1", "c2", "c3")}, **{b: "bag" for b in ("b1", "b2", "b3")}}


def test_a_shop_without_categories_gets_interests_from_its_product_names(ws):
    # a: 6 candles, b: 6 bags, c: one of each (postage is not merchandise)
    shop(ws, {"a": ["c1", "c2", "c3"] * 2, "b": ["b1", "b2", "b3"] * 2, "c": ["c1", "b1", "post"]})
    got = interests(ws, AS_OF, ["a", "b", "c"], cfg())
    # candle 7, bag 7 (shop share 1/2 each): a, candle (6 + 2) / (6 x 1/2 + 2) = 1.6; c: (1 + 2) / (1 + 2) = 1
    assert got.note is None
    assert got.segment.str.split(" / ").str[0].tolist() == ["candle", "bag", NO_INTEREST]
    assert got.rows["lift"].tolist() == [pytest.approx(1.6)] * 2
    assert got.extras[NO_INTEREST]["categories"] == "derived from product names: 2 groups (docs/segments.md)"
    # 0 groups: nothing to go on, as before
    assert interests(ws, AS_OF, ["a"], cfg(derived_groups=0)).note == \
        "no product of the shop has a category or a brand"


def test_the_shops_own_categories_or_brands_win(ws):
    shop(ws, {"a": ["c1"]}, category="home")
    assert len(derived_categories(ws, n_groups=2, min_products=1)) == 0
    assert interests(ws, AS_OF, ["a"], cfg()).rows.empty  # one purchase of home: lift 1
    write_table(ws, "products", pd.DataFrame({"product_id": list(NAMES), "name": list(NAMES.values()),
                                              "brand": "Wickley"}))
    assert len(derived_categories(ws, n_groups=2, min_products=1)) == 0  # a brand-only shop keeps its brands
