"""Interest affinities: lift of a customer's share over the shop's, shrunk, up to three interests."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.segment import interest as interest_module
from shopseg.segment.interest import (
    NO_INTEREST,
    _evidence_sql,
    affinities,
    customer_interests,
    interest_evidence,
    interests,
)

from .test_act_playbook import write_table

AS_OF = "2024-07-01"

# Five categories, one brand each; p9 is postage (no category, not merchandise).
PRODUCTS = pd.DataFrame({
    "product_id": ["p1", "p2", "p3", "p4", "p5", "p9"],
    "category": ["home", "toys", "books", "garden", "pets", None],
    "brand": ["Hearth", "Tinker", "Ink", "Sprout", "Paws", None],
    "is_merchandise": [True, True, True, True, True, False],
})


def shop(ws, lines: dict[str, list[str]], events: list[tuple[str, str]] = ()) -> None:
    """One sale order per (customer, product) listed; ``events``: (customer, product) views."""
    rows = [(c, p) for c, ps in lines.items() for p in ps]
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(len(rows))],
                           "customer_id": [c for c, _ in rows], "kind": "sale",
                           "ordered_at": pd.Timestamp("2024-03-01")})
    write_table(ws, "customers", pd.DataFrame({"customer_id": sorted(lines)}))
    write_table(ws, "products", PRODUCTS)
    write_table(ws, "orders", orders)
    write_table(ws, "order_lines", pd.DataFrame({"order_id": orders["order_id"], "line_no": 1,
                                                 "product_id": [p for _, p in rows], "quantity": 1.0,
                                                 "unit_price": 10.0}))
    if events:
        write_table(ws, "events", pd.DataFrame({
            "event_id": [f"e{i}" for i in range(len(events))], "customer_id": [c for c, _ in events],
            "event_type": "view", "product_id": [p for _, p in events],
            "occurred_at": pd.Timestamp("2024-03-02")}))


def test_affinity_is_the_shrunk_lift_of_the_customers_share_over_the_shops(ws):
    # a: 3 home + 1 toys; b: 4 toys; c: 2 books + a postage line (not merchandise, not counted)
    shop(ws, {"a": ["p1", "p1", "p1", "p2"], "b": ["p2"] * 4, "c": ["p3", "p3", "p9"]})
    ev = interest_evidence(ws, AS_OF)
    cat = ev.loc[ev["kind"] == "category"].set_index(["customer_id", "item"])["weight"].to_dict()
    assert cat == {("a", "home"): 3.0, ("a", "toys"): 1.0, ("b", "toys"): 4.0, ("c", "books"): 2.0}
    aff = affinities(ev, prior_weight=2.0).query("kind == 'category'").set_index(["customer_id", "item"])
    # shop: 10 lines; home 3/10, toys 5/10, books 2/10
    assert aff.loc[("a", "home"), "shop_share"] == pytest.approx(0.3)
    assert aff.loc[("a", "home"), "share"] == pytest.approx(0.75)
    # a, home: observed 3 against expected 4 x 0.3 = 1.2: (3 + 2) / (1.2 + 2) = 1.5625; unshrunk 3 / 1.2 = 2.5
    assert aff.loc[("a", "home"), "lift"] == pytest.approx(5 / 3.2)
    assert affinities(ev, prior_weight=0.0).set_index(["customer_id", "item"]).loc[("a", "home"), "lift"] == \
        pytest.approx(2.5)
    # a, toys: (1 + 2) / (2 + 2) = 0.75;  b, toys: (4 + 2) / (2 + 2) = 1.5;  c, books: (2 + 2) / (0.4 + 2) = 1.67
    assert aff.loc[("a", "toys"), "lift"] == pytest.approx(0.75)
    assert aff.loc[("b", "toys"), "lift"] == pytest.approx(1.5)
    assert aff.loc[("c", "books"), "lift"] == pytest.approx(4 / 2.4)


def test_shrinkage_keeps_a_single_purchase_from_making_an_interest(ws):
    shop(ws, {"one": ["p3"], "many": ["p3"] * 6, **{f"x{i}": ["p1", "p2"] for i in range(7)}})
    aff = affinities(interest_evidence(ws, AS_OF), prior_weight=2.0)
    ci = customer_interests(aff, min_lift=1.5)
    # books: 7 of 21 lines, shop share 1/3. one: (1 + 2) / (1/3 + 2) = 1.29 (unshrunk 3): no interest;
    # many: (6 + 2) / (2 + 2) = 2: books; x: (1 + 2) / (2/3 + 2) = 1.125 for home and for toys: none
    assert set(ci["customer_id"]) == {"many"}
    assert ci.loc[0, "interest"] == "books" and ci.loc[0, "lift"] == pytest.approx(2.0)


def test_a_customer_holds_at_most_three_interests_by_lift(ws):
    # fan buys home 4, toys 3, books 2, garden 2, pets 1; the shop is mostly toys (others' 20 lines)
    shop(ws, {"fan": ["p1"] * 4 + ["p2"] * 3 + ["p3"] * 2 + ["p4"] * 2 + ["p5"],
              **{f"t{i}": ["p2"] * 4 for i in range(5)}})
    aff = affinities(interest_evidence(ws, AS_OF), prior_weight=0.0)
    ci = customer_interests(aff, min_lift=1.5, max_interests=3)
    fan = ci.loc[ci["customer_id"] == "fan"]
    # every category but toys has lift 32/12 = 2.67 (all the shop's lines of it are fan's); ties by weight, name
    assert fan["interest"].tolist() == ["home", "books", "garden"]
    assert fan["rank"].tolist() == [1, 2, 3]
    assert (aff.loc[(aff["customer_id"] == "fan") & (aff["kind"] == "category") & (aff["lift"] >= 1.5)]
            .shape[0]) == 4  # four qualify, three kept
    assert customer_interests(aff, min_lift=1.5, max_interests=1).query("customer_id == 'fan'")[
        "interest"].tolist() == ["home"]


def test_interests_are_named_with_the_customers_lifted_brand_and_browsing_counts(ws):
    shop(ws, {"a": ["p1"] * 5, "b": ["p1"] + ["p2"] * 4, "c": ["p2"] * 12}, events=[("a", "p3")] * 15)
    got = interests(ws, AS_OF, ["a", "b", "c", "z"], load_config())  # prior 2, browse 0.2, min 1.5
    ci, seg = got.rows, got.segment
    assert got.note is None
    # shop: home 6, books 15 views x 0.2 = 3, toys 16 (of 25). a (8): home (5 + 2) / (8 x 6/25 + 2) = 1.79,
    # books (3 + 2) / (8 x 3/25 + 2) = 1.69; each category's one brand is as lifted, so it names it
    assert ci.loc[ci["customer_id"] == "a", "name"].tolist() == ["home, Hearth", "books, Ink"]
    assert ci.loc[ci["customer_id"] == "a", "lift"].round(4).tolist() == [round(7 / 3.92, 4), round(5 / 2.96, 4)]
    # b: toys (4 + 2) / (5 x 16/25 + 2) = 1.15; c: toys (12 + 2) / (12 x 16/25 + 2) = 1.45; z: no evidence
    assert seg.tolist() == ["home", NO_INTEREST, NO_INTEREST, NO_INTEREST]
    # segment names: the interest and its members' most lifted brands of that category (home: only a; Hearth's
    # share of a's brand evidence 5/8 over the shop's 6/25: lift 2.6; Ink is lifted too but a books brand)
    assert got.names["home"] == "home: Hearth" and got.names[NO_INTEREST] == NO_INTEREST
    assert got.extras["home"]["top_brands"] == [{"brand": "Hearth", "share": 0.625, "lift": 2.604}]
    assert got.extras["home"]["also_interested_in"] == [{"interest": "books", "share": 1.0}]


def test_a_shop_without_categories_or_brands_has_no_interests_and_says_why(ws):
    shop(ws, {"a": ["p9"]})
    got = interests(ws, AS_OF, ["a"], load_config())
    assert len(got.rows) == 0 and got.segment.tolist() == [NO_INTEREST]
    assert "no product of the shop has a category or a brand" in got.note


def test_nothing_on_or_after_as_of_counts(ws):
    shop(ws, {"a": ["p1"]})
    assert len(interest_evidence(ws, "2024-03-01")) == 0  # the order is at 2024-03-01 00:00: not before
    assert len(interest_evidence(ws, "2024-03-01 00:00:01")) == 2  # its category and its brand


def test_brands_mentioned_in_the_runs_reviews_count_as_evidence(ws):
    shop(ws, {"a": ["p1"], "b": ["p2"]})
    write_table(ws, "review_insights", pd.DataFrame({
        "run_id": [1, 1, 1, 2], "customer_id": ["a", "a", "b", "a"],
        "reviewed_at": pd.to_datetime(["2024-03-05", "2024-03-06", "2024-08-01", "2024-03-05"]),
        "brand_mentions": [["Ink", "Nobody"], ["Ink"], ["Tinker"], ["Paws"]]}))
    ev = interest_evidence(ws, AS_OF, review_weight=0.5, run_id=1)
    brands = ev.loc[ev["kind"] == "brand"].set_index(["customer_id", "item"])["weight"].to_dict()
    # a: Hearth bought; Ink mentioned twice (0.5 each); "Nobody" is no catalogue brand; b's review is after as_of;
    # run 2's review is another run's
    assert brands == {("a", "Hearth"): 1.0, ("a", "Ink"): 1.0, ("b", "Tinker"): 1.0}
    assert interest_evidence(ws, AS_OF).query("kind == 'brand'")["weight"].sum() == 2.0  # no run: no reviews


def test_a_product_counts_once_per_order_however_many_lines_or_units(ws):
    write_table(ws, "customers", pd.DataFrame({"customer_id": ["a"]}))
    write_table(ws, "products", PRODUCTS)
    write_table(ws, "orders", pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": "a", "kind": "sale",
                                            "ordered_at": pd.Timestamp("2024-03-01")}))
    # o1: two lines of p1 (as Olist writes two units) and 24 units of p2; o2: p1 again
    write_table(ws, "order_lines", pd.DataFrame({"order_id": ["o1", "o1", "o1", "o2"], "line_no": [1, 2, 3, 1],
                                                 "product_id": ["p1", "p1", "p2", "p1"],
                                                 "quantity": [1.0, 1.0, 24.0, 1.0], "unit_price": 10.0}))
    ev = interest_evidence(ws, AS_OF).query("kind == 'category'").set_index("item")["weight"].to_dict()
    assert ev == {"home": 2.0, "toys": 1.0}


def test_review_topics_are_interests_named_from_their_words(ws):
    # a buys home 4 times, writes two reviews on battery life; b..f buy toys once each and write about delivery
    # (f twice); g's review is after as_of, and run 2 is another run's
    shop(ws, {"a": ["p1"] * 4, **{c: ["p2"] for c in "bcdefg"}})
    who = ["a", "a", "b", "c", "d", "e", "f", "f", "g", "a"]
    write_table(ws, "review_insights", pd.DataFrame({
        "run_id": [1] * 9 + [2], "customer_id": who,
        "reviewed_at": pd.to_datetime(["2024-03-05"] * 8 + ["2024-08-01", "2024-03-05"]),
        "brand_mentions": [["Nobody"]] * 10,
        "topic": ["battery / life / short"] * 2 + ["delivery / fast / arrived"] * 7 + ["battery / life / short"]}))
    got = interests(ws, AS_OF, list("abcdefg"), load_config(), run_id=1)  # prior 2, topic weight 1, min 1.5
    ev = interest_evidence(ws, AS_OF, run_id=1).query("kind == 'topic'")
    assert ev.groupby("item")["weight"].sum().to_dict() == {"battery / life": 2.0, "delivery / fast": 6.0}
    # topics: battery 2, delivery 6 (of 8). a, battery: (2 + 2) / (2 x 2/8 + 2) = 1.6;
    # f, delivery: (2 + 2) / (2 x 6/8 + 2) = 1.14 (what most reviewers write about lifts little); b: 1.09
    # categories: home 4, toys 6 (of 10 lines). a, home: (4 + 2) / (4 x 4/10 + 2) = 1.667, named with Hearth
    a = got.rows.loc[got.rows["customer_id"] == "a"]
    assert a["name"].tolist() == ["home, Hearth", "battery / life"]
    assert a["lift"].round(4).tolist() == [round(6 / 3.6, 4), 1.6]
    assert got.segment.tolist() == ["home"] + [NO_INTEREST] * 6
    cfg = load_config(overrides={"segments": {"interest": {"topic_weight": 0.0}}})
    assert interests(ws, AS_OF, ["a"], cfg, run_id=1).rows["interest"].tolist() == ["home"]


def test_purchases_count_a_product_once_per_order_as_the_live_sql_does(ws, monkeypatch):
    # order o1 holds p1 on two lines (and p2); o2 p1 again; o3 a postage line only; c's return is not a purchase
    write_table(ws, "customers", pd.DataFrame({"customer_id": ["a", "b", "c"]}))
    write_table(ws, "products", PRODUCTS)
    write_table(ws, "orders", pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5"], "customer_id": ["a", "a", "b", "c", "b"],
        "kind": ["sale", "sale", "sale", "return", "sale"],
        "ordered_at": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-08-01"])}))
    write_table(ws, "order_lines", pd.DataFrame({
        "order_id": ["o1", "o1", "o1", "o2", "o3", "o4", "o5"], "line_no": [1, 2, 3, 1, 1, 1, 1],
        "product_id": ["p1", "p2", "p1", "p1", "p9", "p3", "p4"], "quantity": 1.0, "unit_price": 10.0}))
    write_table(ws, "events", pd.DataFrame({"event_id": ["e1", "e2"], "customer_id": ["a", "b"],
                                            "event_type": "view", "product_id": ["p2", "p5"],
                                            "occurred_at": pd.Timestamp("2024-03-02")}))
    ev = interest_evidence(ws, AS_OF, browse_weight=0.5)
    got = {(c, k, i): w for c, k, i, w in ev.itertuples(index=False)}
    # a: p1 in two orders (2), p2 once bought + once viewed (1.5); b: p5 viewed; o5 is after as_of
    assert got == {("a", "brand", "Hearth"): 2.0, ("a", "brand", "Tinker"): 1.5, ("a", "category", "home"): 2.0,
                   ("a", "category", "toys"): 1.5, ("b", "brand", "Paws"): 0.5, ("b", "category", "pets"): 0.5}
    assert list(ev.columns) == ["customer_id", "kind", "item", "weight"]
    # the one SQL text the live path runs (DISTINCT over the lines) gives the same rows in the same order
    sql = ws.df(_evidence_sql(True, False), {"as_of": pd.Timestamp(AS_OF).to_pydatetime(), "browse_weight": 0.5})
    pd.testing.assert_frame_equal(ev, sql, check_dtype=False)
    # fetched by ranges of order rows (4 here; an order is never split, so o1's repeated p1 still counts once)
    monkeypatch.setattr(interest_module, "CHUNK_LINES", 2)
    pd.testing.assert_frame_equal(interest_evidence(ws, AS_OF, browse_weight=0.5), ev)
