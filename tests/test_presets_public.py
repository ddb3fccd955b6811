"""The olist and instacart presets on hand-written folders in the public column layouts.

Every expected number below was worked out by hand from the files in
tests/data/olist_tiny and tests/data/instacart_tiny (see the comments).
"""

import datetime as dt
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopseg import IngestError, ingest
from shopseg.ingest import PRESETS, Preset
from shopseg.ingest._plan import Plan
from shopseg.ingest._public_formats import INSTACART_LAST_DAY
from shopseg.workspace import open_workspace

from .conftest import DATA

OLIST = f"{DATA}/olist_tiny"
INSTACART = f"{DATA}/instacart_tiny"
TABLES = ("customers", "products", "orders", "order_lines", "reviews", "quarantine", "ingest_log")


def counts(ws):
    return {t: ws.count(t) for t in TABLES}


def fates(results):
    return [(r.source.rsplit("/", 1)[-1], r.n_input, r.n_accepted, r.n_quarantined, r.n_duplicate) for r in results]


def copy(tmp_path, folder, *names):
    d = tmp_path / "part"
    d.mkdir(exist_ok=True)
    for n in names:
        shutil.copy(f"{folder}/{n}", d / n)
    return d


@pytest.fixture(scope="module")
def olist(tmp_path_factory):
    """One workspace with the tiny Olist folder loaded, shared by the tests that only read it."""
    with open_workspace(tmp_path_factory.mktemp("olist") / "ws") as w:
        yield w, ingest(w, OLIST, preset="olist")


@pytest.fixture(scope="module")
def instacart(tmp_path_factory):
    with open_workspace(tmp_path_factory.mktemp("instacart") / "ws") as w:
        yield w, ingest(w, INSTACART, preset="instacart")


# -- olist ---------------------------------------------------------------------------------------------------

def test_olist_folder_loads_every_file_in_order_and_each_reconciles(olist):
    ws, results = olist
    assert fates(results) == [
        # customers: row 7 repeats row 6; row 8 has no customer_unique_id
        ("olist_customers_dataset.csv", 9, 7, 1, 1),
        ("olist_products_dataset.csv", 4, 4, 0, 0),
        # orders: o7 has 30 February, o8's per-order customer c9 is not in the customers file
        ("olist_orders_dataset.csv", 8, 6, 2, 0),
        # items: row 10 repeats row 2; row 7 price -5.00, row 9 order o7 not loaded, row 11 freight -1.00
        ("olist_order_items_dataset.csv", 11, 7, 3, 1),
        # reviews: row 5 reuses review id r4 for another order, row 6 has score 7
        ("olist_order_reviews_dataset.csv", 7, 5, 2, 0),
    ]
    assert all(r.reconciled and r.preset == "olist" for r in results)
    # 8 rows of 5 persons; one order row per accepted order; the orders bring no new person
    assert [r.rows_added for r in results] == [
        {"customers": 5}, {"products": 4}, {"customers": 0, "orders": 6}, {"order_lines": 7}, {"reviews": 5}]
    assert counts(ws) == {"customers": 5, "products": 4, "orders": 6, "order_lines": 7, "reviews": 5,
                          "quarantine": 8, "ingest_log": 5}


def test_olist_customers_are_persons_not_per_order_ids(olist):
    ws, results = olist
    assert ws.sql("SELECT customer_id, city, country FROM customers ORDER BY 1") == [
        ("u1", "franca", "BR"), ("u2", "sao bernardo do campo", "BR"),  # u2 moved: first city kept
        ("u3", "sao paulo", "BR"), ("u4", "rio de janeiro", "BR"), ("u5", "curitiba", "BR")]
    # c1 and c4 are two orders of the same person u1
    assert ws.sql("SELECT order_id, customer_id FROM orders ORDER BY 1") == [
        ("o1", "u1"), ("o2", "u2"), ("o3", "u3"), ("o4", "u1"), ("o5", "u2"), ("o6", "u4")]
    assert results[0].summary == {"per_order_customer_ids_in_file": 8, "persons_in_file": 5}


def test_olist_canceled_and_unavailable_orders_are_adjustments_not_returns(olist):
    ws, results = olist
    assert ws.sql("SELECT order_id, kind FROM orders WHERE kind <> 'sale' ORDER BY 1") == [
        ("o3", "adjustment"), ("o6", "adjustment")]
    assert ws.scalar("SELECT count(*) FROM orders WHERE kind = 'return'") == 0
    assert ws.sql("SELECT DISTINCT channel, country FROM orders") == [("marketplace", "BR")]
    assert results[2].summary["not_sold_loaded_as_adjustment"] == 2
    assert results[2].summary["order_statuses_in_file"] == "delivered 5, canceled 1, shipped 1, unavailable 1"
    # the timestamp is order_purchase_timestamp
    assert ws.scalar("SELECT ordered_at FROM orders WHERE order_id = 'o1'") == dt.datetime(2017, 10, 2, 10, 56, 33)


def test_olist_items_are_single_units_and_freight_is_the_orders_shipping(olist):
    ws, results = olist
    assert ws.sql("SELECT line_no, product_id, quantity, unit_price FROM order_lines WHERE order_id = 'o4' "
                  "ORDER BY 1") == [(1, "p1", 1.0, 29.99), (2, "p1", 1.0, 29.99), (3, "p4", 1.0, 1299.0)]
    # o4: 8.72 + 8.72 + 45.10; o2: 22.76 once although its row is repeated, the -1.00 freight left out;
    # o5: 10.00 + 15.10 (the line with price -5.00 is quarantined, its freight is still charged); o6: no items
    assert ws.sql("SELECT order_id, shipping_amount FROM orders ORDER BY 1") == [
        ("o1", 8.72), ("o2", 22.76), ("o3", 7.78), ("o4", 62.54), ("o5", 25.1), ("o6", 0.0)]


def test_olist_categories_are_english_when_translated_else_portuguese(olist):
    ws, results = olist
    assert ws.sql("SELECT product_id, category, name, price FROM products ORDER BY 1") == [
        ("p1", "bed_bath_table", "bed_bath_table p1", None),
        ("p2", "health_beauty", "health_beauty p2", None),
        ("p3", None, "uncategorised p3", None),
        ("p4", "pc_gamer", "pc_gamer p4", None),  # pc_gamer has no translation (as in the real file)
    ]
    assert results[1].summary == {"categories_in_english": 2, "categories_left_in_portuguese": 1}


def test_olist_reviews_take_the_person_through_the_order(olist):
    ws, results = olist
    assert ws.sql("SELECT review_id, order_id, customer_id, product_id, rating, language FROM reviews ORDER BY 1") == [
        ("r1", "o1", "u1", "p1", 4, "pt"),
        ("r2", "o2", "u2", None, 5, "pt"),   # o2's item rows name p2 and p3: no single product
        ("r3", "o3", "u3", "p1", 1, "pt"),
        ("r4", "o4", "u1", None, 5, "pt"),   # o4 holds p1 and p4
        ("r6", "o6", "u4", None, 3, "pt"),   # o6 has no items
    ]
    assert ws.scalar("SELECT text FROM reviews WHERE review_id = 'r2'") == \
        "recomendo\nProduto ótimo, chegou antes do prazo"
    assert ws.scalar("SELECT text FROM reviews WHERE review_id = 'r3'") == \
        "Pedido cancelado sem aviso.\nQuero meu dinheiro de volta"
    assert ws.scalar("SELECT text FROM reviews WHERE review_id = 'r1'") is None
    assert ws.scalar("SELECT reviewed_at FROM reviews WHERE review_id = 'r4'") == dt.datetime(2017, 12, 3)
    assert results[4].summary == {"review_ids_in_file": 6, "reviews_with_text": 5}
    # reasons group by kind: the row of the first holder of a key is left out of the grouping text
    assert results[4].top_reasons == [("rating: expected a whole number from 1 to 5", 1),
                                      ("review_id: duplicate key review_id with other values", 1)]


def test_olist_bad_rows_are_quarantined_naming_file_row_and_column(olist):
    ws, results = olist
    rows = ws.sql("SELECT regexp_extract(source, '[^/]+$'), row_number, column_name, reason FROM quarantine "
                  "ORDER BY ingest_id, row_number")
    assert rows == [
        ("olist_customers_dataset.csv", 8, "customer_unique_id",
         "customer_unique_id: missing value, expected the person behind the per-order customer_id, "
         "got only customer_id 'c7'"),
        ("olist_orders_dataset.csv", 7, "ordered_at",
         "ordered_at: expected a date or timestamp, got '2018-02-30 10:00:00'"),
        ("olist_orders_dataset.csv", 8, "customer_id",
         "customer_id: expected a customer_id listed in olist_customers_dataset.csv (to find the person), got 'c9'"),
        ("olist_order_items_dataset.csv", 7, "unit_price", "unit_price: expected a number from 0 to 1,000,000,000,000, got '-5.00'"),
        ("olist_order_items_dataset.csv", 9, "order_id",
         "order_id: unknown order 'o7', not in orders nor in this file"),
        ("olist_order_items_dataset.csv", 11, "freight_value",
         "freight_value: expected a number of at least 0, got '-1.00'"),
        ("olist_order_reviews_dataset.csv", 5, "review_id",
         "review_id: duplicate key review_id, first at row 4 with other values"),
        ("olist_order_reviews_dataset.csv", 6, "rating", "rating: expected a whole number from 1 to 5, got '7'"),
    ]


def test_reingesting_the_olist_folder_adds_nothing(ws):
    ingest(ws, OLIST, preset="olist")
    before = counts(ws)
    again = ingest(ws, OLIST, preset="olist")
    assert [(r.n_accepted, r.n_quarantined, r.n_duplicate) for r in again] == [
        (0, 0, 9), (0, 0, 4), (0, 0, 8), (0, 0, 11), (0, 0, 7)]
    after = counts(ws)
    assert after["ingest_log"] == before["ingest_log"] + 5
    assert {k: v for k, v in after.items() if k != "ingest_log"} == \
        {k: v for k, v in before.items() if k != "ingest_log"}


def test_olist_orders_file_alone_says_it_needs_the_customers_file(ws, tmp_path):
    d = copy(tmp_path, OLIST, "olist_orders_dataset.csv")
    with pytest.raises(IngestError) as e:
        ingest(ws, d / "olist_orders_dataset.csv", preset="olist")
    assert "needs olist_customers_dataset.csv in the same folder" in e.value.message
    assert "customer_unique_id" in e.value.message and "--preset olist" in e.value.hint
    assert counts(ws)["ingest_log"] == 0


def test_olist_orders_without_the_items_file_load_with_no_shipping(ws, tmp_path):
    d = copy(tmp_path, OLIST, "olist_customers_dataset.csv", "olist_orders_dataset.csv")
    r = ingest(ws, d / "olist_orders_dataset.csv", preset="olist")
    # the customers come from the sibling file with their city, so a later customers ingest agrees
    assert (r.n_accepted, r.rows_added) == (6, {"customers": 4, "orders": 6})
    assert r.summary["shipping_amount"] == "0: olist_order_items_dataset.csv is not next to the orders file"
    assert ws.sql("SELECT DISTINCT shipping_amount FROM orders") == [(0.0,)]
    c = ingest(ws, d / "olist_customers_dataset.csv", preset="olist")
    # u1..u4 already loaded with the same values: duplicates; u2's second city (row 5) conflicts; u5 is new
    assert (c.n_accepted, c.n_quarantined, c.n_duplicate, c.rows_added) == (1, 2, 6, {"customers": 1})
    assert ws.sql("SELECT row_number, reason FROM quarantine WHERE ingest_id = 2 ORDER BY 1") == [
        (5, "customer_id: already loaded (ingest 1) with other values"),
        (8, "customer_unique_id: missing value, expected the person behind the per-order customer_id, "
            "got only customer_id 'c7'")]


def test_olist_items_alone_in_an_empty_workspace_is_a_clear_error(ws):
    with pytest.raises(IngestError) as e:
        ingest(ws, f"{OLIST}/olist_order_items_dataset.csv", preset="olist")
    assert "table 'orders' is still empty" in e.value.message
    assert "olist_orders_dataset.csv before the items" in e.value.hint
    assert counts(ws)["ingest_log"] == 0


def test_olist_single_files_in_load_order_give_what_the_folder_gives(ws):
    for name in ("olist_customers_dataset.csv", "olist_products_dataset.csv", "olist_orders_dataset.csv",
                 "olist_order_items_dataset.csv", "olist_order_reviews_dataset.csv"):
        ingest(ws, f"{OLIST}/{name}", preset="olist")
    assert counts(ws) == {"customers": 5, "products": 4, "orders": 6, "order_lines": 7, "reviews": 5,
                          "quarantine": 8, "ingest_log": 5}


def test_olist_lookup_and_unused_files_are_refused_by_name(ws, tmp_path):
    with pytest.raises(IngestError, match="the category translation is a lookup, not a table"):
        ingest(ws, f"{OLIST}/product_category_name_translation.csv", preset="olist")
    p = tmp_path / "olist_order_payments_dataset.csv"
    p.write_text("order_id,payment_sequential,payment_type,payment_installments,payment_value\no1,1,boleto,1,38.71\n")
    with pytest.raises(IngestError, match="payments file holds no canonical table"):
        ingest(ws, p, preset="olist")
    with pytest.raises(IngestError, match="holds none of the Olist files"):
        ingest(ws, tmp_path, preset="olist")


def test_olist_products_without_translation_keep_portuguese_categories(ws, tmp_path):
    d = copy(tmp_path, OLIST, "olist_products_dataset.csv")
    r = ingest(ws, d / "olist_products_dataset.csv", preset="olist")
    assert ws.sql("SELECT category FROM products ORDER BY product_id") == [
        ("cama_mesa_banho",), ("beleza_saude",), (None,), ("pc_gamer",)]
    assert "Portuguese" in r.summary["category_names"]


# -- instacart -----------------------------------------------------------------------------------------------

def test_instacart_folder_loads_every_file_in_order_and_each_reconciles(instacart):
    ws, results = instacart
    assert fates(results) == [
        ("products.csv", 9, 8, 1, 0),                # row 9 has no product_id
        # orders: row 13 repeats row 6; 302 has gap 'abc', 303 comes after it, 401 has hour 25
        ("orders.csv", 13, 9, 3, 1),
        # prior: row 13 repeats row 7; row 11 is for order 302 (quarantined), row 12 has add_to_cart_order 0
        ("order_products__prior.csv", 13, 10, 2, 1),
        ("order_products__train.csv", 4, 4, 0, 0),
    ]
    assert all(r.reconciled for r in results)
    assert results[1].rows_added == {"customers": 4, "orders": 9}
    assert counts(ws) == {"customers": 4, "products": 8, "orders": 9, "order_lines": 14, "reviews": 0,
                          "quarantine": 6, "ingest_log": 4}
    assert results[1].summary == {
        "users_in_file": 4, "eval_sets_in_file": "prior 10, train 2, test 1",
        "first_orders_dated": f"2017-03-11 (anchor); the latest order falls on {INSTACART_LAST_DAY}"}
    assert results[2].summary == {"reordered_lines_in_file": 5, "lines_in_file": 13}


def test_instacart_dates_are_anchor_plus_running_days_plus_hour(instacart):
    ws, results = instacart
    # user 1 has the longest history, 15 + 21 + 14 = 50 days, so the anchor is 2017-04-30 - 50 days = 2017-03-11
    got = dict(ws.sql("SELECT order_id, ordered_at FROM orders"))
    assert got["101"] == dt.datetime(2017, 3, 11, 8)    # first order: anchor, 08h
    assert got["102"] == dt.datetime(2017, 3, 26, 7)    # +15 days
    assert got["103"] == dt.datetime(2017, 4, 16, 12)   # +15+21 = 36 days
    assert got["104"] == dt.datetime(2017, 4, 30, 7)    # +50 days: the last day
    assert got["203"] == dt.datetime(2017, 4, 18, 11)   # user 2: 8 + 30 = 38 days (the repeated row not counted twice)
    assert got["402"] == dt.datetime(2017, 3, 14, 10)   # user 4: 3 days, although order 401 is quarantined
    assert max(got.values()).date() == dt.date.fromisoformat(INSTACART_LAST_DAY)


def test_instacart_bad_rows_are_quarantined_naming_file_row_and_column(instacart):
    ws, results = instacart
    assert ws.sql("SELECT regexp_extract(source, '[^/]+$'), row_number, column_name, reason FROM quarantine "
                  "ORDER BY ingest_id, row_number") == [
        ("products.csv", 9, "product_id", "product_id: missing value, expected text"),
        ("orders.csv", 9, "days_since_prior_order", "days_since_prior_order: expected a whole number of at least 0 "
                                                   "(empty only on a user's first order), got 'abc'"),
        ("orders.csv", 10, "days_since_prior_order", "days_since_prior_order: expected readable gaps before this "
                                                    "order, got an unreadable one at the user's order number 2"),
        ("orders.csv", 11, "order_hour_of_day", "order_hour_of_day: expected a whole number from 0 to 23, got '25'"),
        ("order_products__prior.csv", 11, "order_id", "order_id: unknown order '302', not in orders nor in this file"),
        ("order_products__prior.csv", 12, "line_no", "line_no: expected a whole number of at least 1, got '0'"),
    ]


def test_instacart_products_lines_and_customers(instacart):
    ws, results = instacart
    assert ws.sql("SELECT product_id, name, category, brand, price FROM products ORDER BY 1") == [
        ("12", "Chocolate Fudge Layer Cake", "frozen", None, None),
        ("13176", "Bag of Organic Bananas", "produce", None, None),
        ("196", "Soda", "beverages", None, None),
        ("24852", "Banana", "produce", None, None),
        ("27845", "Organic Whole Milk", "dairy eggs", None, None),
        ("46149", "Zero Calorie Cola", "beverages", None, None),
        ("49999", "Mystery Item", None, None, None),          # department 21 is called "missing"
        ("5", "Pure Irish Butter, Unsalted", "dairy eggs", None, None),
    ]
    assert ws.sql("SELECT line_no, product_id, quantity, unit_price FROM order_lines WHERE order_id = '102' "
                  "ORDER BY 1") == [(1, "24852", 1.0, 0.0), (2, "196", 1.0, 0.0), (3, "13176", 1.0, 0.0)]
    # the test order 203 is an order with no lines
    assert ws.scalar("SELECT count(*) FROM order_lines WHERE order_id = '203'") == 0
    assert ws.sql("SELECT customer_id, count(*) FROM orders GROUP BY 1 ORDER BY 1") == [
        ("1", 4), ("2", 3), ("3", 1), ("4", 1)]


def test_reingesting_the_instacart_folder_adds_nothing(ws):
    ingest(ws, INSTACART, preset="instacart")
    before = counts(ws)
    again = ingest(ws, INSTACART, preset="instacart")
    assert [(r.n_accepted, r.n_quarantined, r.n_duplicate) for r in again] == [
        (0, 0, 9), (0, 0, 13), (0, 0, 13), (0, 0, 4)]
    after = counts(ws)
    assert {k: v for k, v in after.items() if k != "ingest_log"} == \
        {k: v for k, v in before.items() if k != "ingest_log"}


def test_instacart_products_alone_name_departments_by_id(ws, tmp_path):
    d = copy(tmp_path, INSTACART, "products.csv")
    r = ingest(ws, d / "products.csv", preset="instacart")
    assert r.n_accepted == 8
    assert ws.scalar("SELECT category FROM products WHERE product_id = '196'") == "department 7"
    assert "departments.csv is not next to the products file" in r.summary["category_names"]


def test_instacart_lines_alone_and_lookup_files_are_clear_errors(ws):
    with pytest.raises(IngestError) as e:
        ingest(ws, f"{INSTACART}/order_products__train.csv", preset="instacart")
    assert "table 'orders' is still empty" in e.value.message and "products.csv and orders.csv" in e.value.hint
    with pytest.raises(IngestError, match="aisles.csv is a lookup with no canonical table"):
        ingest(ws, f"{INSTACART}/aisles.csv", preset="instacart")
    with pytest.raises(IngestError, match="departments.csv is a lookup, read with products.csv"):
        ingest(ws, f"{INSTACART}/departments.csv", preset="instacart")
    assert counts(ws)["ingest_log"] == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=st.lists(st.lists(st.integers(0, 30), min_size=0, max_size=5), min_size=1, max_size=4),
       hours=st.lists(st.integers(0, 23), min_size=24, max_size=24))
def test_instacart_consecutive_orders_are_exactly_their_gap_apart(tmp_path_factory, gaps, hours):
    """Property: a user's orders are days_since_prior_order days apart (calendar days), at their hour,
    and the latest order of the file is on INSTACART_LAST_DAY."""
    d = tmp_path_factory.mktemp("ic")
    lines = ["order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order"]
    expected, k = {}, 0  # order id -> (day offset from the user's first order, hour)
    for user, user_gaps in enumerate(gaps, start=1):
        day = 0
        for n, gap in enumerate([None] + user_gaps, start=1):
            day += gap or 0
            k += 1
            lines.append(f"{k},{user},prior,{n},0,{hours[k % 24]},{'' if gap is None else f'{gap}.0'}")
            expected[str(k)] = (day, hours[k % 24])
    (d / "orders.csv").write_text("\n".join(lines) + "\n")
    with open_workspace(d / "ws") as w:
        ingest(w, d / "orders.csv", preset="instacart")
        got = dict(w.sql("SELECT order_id, ordered_at FROM orders"))
    last = dt.date.fromisoformat(INSTACART_LAST_DAY)
    longest = max(day for day, _ in expected.values())
    assert max(v.date() for v in got.values()) == last
    for oid, (day, hour) in expected.items():
        assert got[oid] == dt.datetime.combine(last - dt.timedelta(days=longest - day), dt.time(hour))


# -- the engine hooks the presets use --------------------------------------------------------------------------

def test_an_enrich_step_that_multiplies_rows_stops_the_ingest(ws, tmp_path, monkeypatch):
    def build(info, path):
        return Plan(primary="customers", preset="bad", exprs={"customers": {"customer_id": '"id"'}},
                    enrich="SELECT s.* FROM _src s, range(2)")
    monkeypatch.setitem(PRESETS, "bad", Preset("bad", "rows twice", build))
    p = tmp_path / "c.csv"
    p.write_text("id\na\nb\n")
    with pytest.raises(IngestError, match="turned 2 rows into 4"):
        ingest(ws, p, preset="bad")
    assert counts(ws)["customers"] == 0 and counts(ws)["ingest_log"] == 0
