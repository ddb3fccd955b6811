"""Ingestion: every input row accepted, quarantined with a reason, or a duplicate; all or nothing."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from shopseg import IngestError, ingest
from shopseg.config import load_config
from shopseg.errors import ConfigError
from shopseg.ingest import load_mapping
from shopseg.workspace import open_workspace

from .conftest import DATA, shared_file

TINY = os.path.join(DATA, "online_retail_tiny.csv")


def open_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def counts(ws):
    return {t: ws.count(t) for t in ("customers", "products", "orders", "order_lines", "quarantine", "ingest_log")}


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(textwrap.dedent(text).lstrip("\n").encode(encoding))
    return p


# -- the online-retail preset on a hand-checked file --------------------------------------------------------

def test_online_retail_tiny_file_reconciles_row_by_row(ws):
    r = ingest(ws, TINY, preset="online-retail")
    # 16 rows: row 3 repeats row 2; rows 11 (qty 'abc'), 12 (month 13), 14 (negative price), 16 (qty 0) fail
    assert (r.n_input, r.n_accepted, r.n_quarantined, r.n_duplicate) == (16, 11, 4, 1)
    assert r.reconciled
    assert r.rows_added == {"customers": 4, "products": 10, "orders": 8, "order_lines": 11}
    assert dict(ws.sql("SELECT kind, count(*) FROM orders GROUP BY 1")) == {"sale": 6, "return": 1, "adjustment": 1}
    assert r.summary == {"invoices_in_file": 12, "cancellation_invoices_in_file": 1, "customers_in_file": 4,
                         "guest_lines_in_file": 4}


def test_quarantine_names_file_row_column_expected_and_got(ws):
    ingest(ws, TINY, preset="online-retail")
    rows = ws.sql("SELECT source, row_number, column_name, reason FROM quarantine ORDER BY row_number")
    assert [(r[1], r[2]) for r in rows] == [(11, "quantity"), (12, "ordered_at"), (14, "unit_price"), (16, "quantity")]
    assert all(r[0].endswith("online_retail_tiny.csv") for r in rows)
    assert rows[0][3] == "quantity: expected a number greater than 0 and at most 1,000,000,000, got 'abc'"
    assert rows[1][3] == "ordered_at: expected a date or timestamp, got '2010-13-45'"
    assert rows[2][3] == "unit_price: expected a number from 0 to 1,000,000,000,000, got '-11062.06'"
    raw = json.loads(ws.scalar("SELECT raw FROM quarantine WHERE row_number = 14"))
    assert raw["InvoiceNo"] == "A563186" and raw["UnitPrice"] == "-11062.06"


def test_online_retail_returns_guests_and_non_products(ws):
    ingest(ws, TINY, preset="online-retail")
    # a cancellation keeps positive quantities and becomes an order of kind 'return'
    assert ws.sql("SELECT o.kind, l.quantity FROM orders o JOIN order_lines l USING (order_id) "
                  "WHERE order_id = 'C536379'") == [("return", 2.0)]
    # guest lines stay usable for baskets: the order exists with no customer
    assert ws.sql("SELECT customer_id, count(*) FROM order_lines JOIN orders USING (order_id) "
                  "WHERE order_id = '536368' GROUP BY 1") == [(None, 2)]
    assert ws.sql("SELECT product_id FROM products WHERE NOT is_merchandise") == [("POST",)]
    assert ws.scalar("SELECT customer_id FROM orders WHERE order_id = '536365'") == "17850"
    assert ws.scalar("SELECT price FROM products WHERE product_id = '85123A'") == 2.55


def test_reingesting_the_same_file_adds_nothing(ws):
    ingest(ws, TINY, preset="online-retail")
    before = counts(ws)
    r = ingest(ws, TINY, preset="online-retail")
    assert (r.n_accepted, r.n_quarantined, r.n_duplicate) == (0, 0, 16)
    after = counts(ws)
    assert after["ingest_log"] == before["ingest_log"] + 1
    assert {k: v for k, v in after.items() if k != "ingest_log"} == \
        {k: v for k, v in before.items() if k != "ingest_log"}


def test_a_copy_of_a_loaded_file_is_recognised_row_by_row(ws, tmp_path):
    ingest(ws, TINY, preset="online-retail")
    copy = tmp_path / "copy.csv"
    # same rows, one extra at the end: the file hash differs, so rows are matched by content
    copy.write_text(open_text(TINY) + "536999,22139,TEA SET,1,12/2/2010 9:45,4.95,12583,France\n")
    r = ingest(ws, copy, preset="online-retail")
    assert (r.n_input, r.n_accepted, r.n_duplicate, r.n_quarantined) == (17, 1, 12, 4)
    assert ws.count("order_lines") == 12


@pytest.mark.slow
def test_uci_online_retail_oracle():
    path = shared_file("online_retail", "online_retail.parquet")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        ws = open_workspace(os.path.join(d, "ws"))
        r = ingest(ws, path, preset="online-retail")
        assert r.n_input == 541_909
        assert r.n_duplicate == 5_268
        assert r.n_input == r.n_accepted + r.n_quarantined + r.n_duplicate
        assert r.summary["invoices_in_file"] == 25_900
        assert r.summary["cancellation_invoices_in_file"] == 3_836
        assert ws.count("customers") == 4_372
        # the two "Adjust bad debt" invoices with negative prices are the only rows quarantined
        assert r.n_quarantined == 2 and ws.count("orders") == 25_898
        assert ws.scalar("SELECT count(*) FROM orders WHERE kind = 'return'") == 3_836
        ws.close()


# -- generic files ---------------------------------------------------------------------------------------

def test_orders_csv_with_guessed_table_and_sniffed_delimiter(ws, tmp_path):
    p = write(tmp_path, "orders.csv", """
        order_id;customer_id;ordered_at;channel
        o1;c1;2024-01-05 10:00:00;web
        o2;c2;2024-01-06;app
    """)
    r = ingest(ws, p)
    assert r.tables == ["orders"] and r.delimiter == ";"
    assert ws.sql("SELECT order_id, customer_id, kind, channel, discount_amount FROM orders ORDER BY 1") == [
        ("o1", "c1", "sale", "web", 0.0), ("o2", "c2", "sale", "app", 0.0)]
    # customers seen for the first time get a minimal row
    assert ws.sql("SELECT customer_id FROM customers ORDER BY 1") == [("c1",), ("c2",)]


def test_missing_required_column_names_it_lists_found_and_suggests_mapping(ws, tmp_path):
    p = write(tmp_path, "orders.csv", """
        order_id,customer_id,OrderDate
        o1,c1,2024-01-05
    """)
    with pytest.raises(IngestError) as e:
        ingest(ws, p, table="orders")
    assert "needs column(s) ordered_at" in e.value.message
    assert "columns found: order_id, customer_id, OrderDate" in e.value.message
    assert 'OrderDate = "ordered_at"' in e.value.hint
    assert counts(ws)["ingest_log"] == 0


def test_mapping_renames_formats_and_splits_one_file_into_orders_and_lines(ws, tmp_path):
    p = write(tmp_path, "export.csv", """
        Bestellung,Kunde,Datum,Artikel,Menge,Preis
        B1,K1,05.01.2024,P1,2,9.5
        B1,K1,05.01.2024,P2,1,3
        B2,K2,07.01.2024,P1,1,9.5
    """)
    ingest(ws, write(tmp_path, "products.csv", """
        product_id,name,category,price
        P1,Mug,home,9.5
        P2,Spoon,home,3
    """))
    m = write(tmp_path, "m.toml", """
        [columns]
        Bestellung = "order_id"
        Kunde = "customer_id"
        Datum = "ordered_at"
        Artikel = "product_id"
        Menge = "quantity"
        Preis = "unit_price"
        [formats]
        ordered_at = "%d.%m.%Y"
        [tables]
        orders = ["order_id", "customer_id", "ordered_at"]
        order_lines = ["order_id", "product_id", "quantity", "unit_price"]
    """)
    r = ingest(ws, p, mapping=m)
    assert r.rows_added == {"customers": 2, "orders": 2, "order_lines": 3}
    assert ws.sql("SELECT order_id, strftime(ordered_at, '%Y-%m-%d') FROM orders ORDER BY 1") == [
        ("B1", "2024-01-05"), ("B2", "2024-01-07")]
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines ORDER BY 1, 2") == [
        ("B1", 1, "P1"), ("B1", 2, "P2"), ("B2", 1, "P1")]


def test_unknown_product_is_quarantined(ws, tmp_path):
    ingest(ws, write(tmp_path, "products.csv", "product_id,name\nP1,Mug\n"))
    ingest(ws, write(tmp_path, "orders.csv", "order_id,customer_id,ordered_at\nO1,C1,2024-01-01\n"))
    r = ingest(ws, write(tmp_path, "lines.csv", "order_id,product_id,quantity,unit_price\nO1,P1,1,2\nO1,P9,1,2\n"),
               table="order_lines")
    assert (r.n_accepted, r.n_quarantined) == (1, 1)
    assert ws.scalar("SELECT reason FROM quarantine") == \
        "product_id: unknown product 'P9', not in products nor in this file"


def test_key_loaded_again_with_other_values_is_quarantined_not_overwritten(ws, tmp_path):
    ingest(ws, write(tmp_path, "orders.csv", "order_id,customer_id,ordered_at\nO1,C1,2024-01-01\n"))
    r = ingest(ws, write(tmp_path, "orders2.csv", "order_id,customer_id,ordered_at\nO1,C2,2024-01-01\nO1,C1,2024-01-01\n"),
               table="orders")
    assert (r.n_accepted, r.n_quarantined, r.n_duplicate) == (0, 1, 1)
    assert ws.scalar("SELECT reason FROM quarantine") == "order_id: already loaded (ingest 1) with other values"
    assert ws.scalar("SELECT customer_id FROM orders") == "C1"


def test_same_key_twice_in_one_file_keeps_the_first(ws, tmp_path):
    r = ingest(ws, write(tmp_path, "customers.csv", "customer_id,email\nC1,a@x.org\nC1,b@x.org\n"))
    assert (r.n_accepted, r.n_quarantined) == (1, 1)
    assert ws.scalar("SELECT reason FROM quarantine") == \
        "customer_id: duplicate key customer_id, first at row 1 with other values"


def test_events_check_type_and_duration(ws, tmp_path):
    p = write(tmp_path, "events.csv", """
        event_id,customer_id,session_id,event_type,occurred_at,duration_seconds
        e1,c1,s1,VIEW,2024-01-01 10:00:00,12
        e2,c1,s1,purchase,2024-01-01 10:01:00,3
        e3,c1,s1,click,2024-01-01 10:02:00,-1
        e4,,s2,search,2024-01-01 10:03:00,
    """)
    r = ingest(ws, p)
    assert (r.n_accepted, r.n_quarantined) == (2, 2)
    assert ws.sql("SELECT event_id, event_type, duration_seconds FROM events ORDER BY 1") == [
        ("e1", "view", 12.0), ("e4", "search", 0.0)]
    assert [r[0] for r in ws.sql("SELECT reason FROM quarantine ORDER BY row_number")] == [
        "event_type: expected one of view, click, add_to_cart, search, wishlist, got 'purchase'",
        "duration_seconds: expected a number from 0 to 1,000,000,000, got '-1'",
    ]


def test_reviews_rating_out_of_range_and_whole_numbers(ws, tmp_path):
    p = write(tmp_path, "reviews.csv", """
        review_id,rating,text,reviewed_at
        r1,5,Great,2024-02-01
        r2,6,Too good,2024-02-01
        r3,4.0,Fine,2024-02-01
        r4,3.5,Meh,2024-02-01
    """)
    r = ingest(ws, p)
    assert (r.n_accepted, r.n_quarantined) == (2, 2)
    assert ws.sql("SELECT review_id, rating FROM reviews ORDER BY 1") == [("r1", 5), ("r3", 4)]


def test_jsonl_with_a_broken_line_quarantines_that_line(ws, tmp_path):
    p = write(tmp_path, "customers.jsonl", """
        {"customer_id": "c1", "email": "a@example.org", "signed_up_at": "2023-05-01"}
        {"customer_id": "c2", "email": "b@example.org"
        {"customer_id": "c3", "country": "FR"}
    """)
    r = ingest(ws, p)
    assert (r.n_input, r.n_accepted, r.n_quarantined) == (3, 2, 1)
    assert ws.sql("SELECT row_number, reason FROM quarantine") == [
        (2, "(row): not valid JSON: Expecting ',' delimiter: line 1 column 47 (char 46)")]


def test_each_broken_json_line_is_quarantined_with_its_parser_message_never_as_a_duplicate(ws, tmp_path):
    """Six different broken lines used to count as 1 quarantined + 5 exact duplicates (their columns all NULL)."""
    broken = ['{"customer_id": "c2"', '{"customer_id": c3}', "not json", '{"customer_id": "c4"}}', "[1, 2",
              '{"customer_id": "c5" "x": 1}']
    p = write(tmp_path, "customers.jsonl", "\n".join(['{"customer_id": "c1"}', *broken, broken[0]]))
    r = ingest(ws, p, config=load_config(overrides={"ingest": {"max_quarantine_share": 1.0}}))  # 6 of 8 bad
    assert (r.n_input, r.n_accepted, r.n_quarantined, r.n_duplicate) == (8, 1, 6, 1)  # the last repeats line 2
    got = ws.sql("SELECT row_number, reason FROM quarantine ORDER BY 1")
    assert [n for n, _ in got] == [2, 3, 4, 5, 6, 7]
    assert got[1] == (3, "(row): not valid JSON: Expecting value: line 1 column 17 (char 16)")
    assert all(reason.startswith("(row): not valid JSON: ") for _, reason in got)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_nested_value_quarantines_its_row_only(ws, tmp_path, suffix):
    """A JSON array with one nested value stored every customer_id with its quotes ("C0000001")."""
    rows = [{"customer_id": f"C{i}", "country": "FR", "signed_up_at": "2024-01-0" + str(i)} for i in range(1, 6)]
    rows[2]["country"] = {"code": "FR"}
    rows[3]["signed_up_at"] = ["2024-01-04"]
    text = json.dumps(rows) if suffix == ".json" else "\n".join(json.dumps(r) for r in rows)
    r = ingest(ws, write(tmp_path, "customers" + suffix, text))
    assert (r.n_accepted, r.n_quarantined) == (3, 2)
    assert ws.sql("SELECT customer_id, country FROM customers ORDER BY 1") == [("C1", "FR"), ("C2", "FR"), ("C5", "FR")]
    assert ws.sql("SELECT row_number, reason FROM quarantine ORDER BY 1") == [
        (3, "(row): country: expected a plain value (text, number, true/false or null), got a nested object"),
        (4, "(row): signed_up_at: expected a plain value (text, number, true/false or null), got a nested array")]


def test_parquet_is_read_with_its_types(ws, tmp_path):
    p = tmp_path / "products.parquet"
    ws.con.execute(f"COPY (SELECT 'P' || i AS product_id, i * 1.5 AS price FROM range(1, 4) t(i)) TO '{p}'")
    r = ingest(ws, p)
    assert r.n_accepted == 3
    assert ws.sql("SELECT product_id, price FROM products ORDER BY 1") == [("P1", 1.5), ("P2", 3.0), ("P3", 4.5)]


def test_latin1_file_is_sniffed(ws, tmp_path):
    p = write(tmp_path, "customers.csv", "customer_id,city\nc1,Köln\nc2,Besançon\n", encoding="latin-1")
    r = ingest(ws, p)
    assert r.encoding == "latin-1"
    assert ws.sql("SELECT city FROM customers ORDER BY 1") == [("Besançon",), ("Köln",)]


# -- errors leave the workspace as it was ---------------------------------------------------------------

def test_bad_encoding_given_is_a_clear_error(ws, tmp_path):
    p = write(tmp_path, "customers.csv", "customer_id,city\nc1,K\xf6ln\n", encoding="latin-1")
    with pytest.raises(IngestError) as e:
        ingest(ws, p, encoding="utf-8")
    assert "not valid utf-8 text" in e.value.message and "customers.csv" in e.value.message
    assert "--encoding latin-1" in e.value.hint
    assert counts(ws)["ingest_log"] == 0


def test_unsupported_encoding_is_refused(ws, tmp_path):
    p = write(tmp_path, "customers.csv", "customer_id\nc1\n")
    with pytest.raises(IngestError, match="encoding 'cp1252' is not supported; expected one of utf-8, utf-16, latin-1"):
        ingest(ws, p, encoding="cp1252")


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty (0 bytes)"),
    ("customer_id,email\n", "the file has no data rows (columns found: customer_id, email)"),
])
def test_empty_files_are_clear_errors(ws, tmp_path, content, message):
    p = tmp_path / "customers.csv"
    p.write_text(content)
    with pytest.raises(IngestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ingest(ws, p)


def test_missing_file_unknown_preset_unknown_table_and_unknown_format(ws, tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        ingest(ws, tmp_path / "nope.csv")
    p = write(tmp_path, "x.csv", "a\n1\n")
    with pytest.raises(IngestError, match="Unknown preset 'shopify'; expected one of bigcommerce-orders, cdnow, instacart, "
                       "magento-orders, olist, online-retail, shopify-customers, shopify-orders, woocommerce-orders. "
                       "Did you mean shopify-customers or shopify-orders"):
        ingest(ws, p, preset="shopify")
    from shopseg.errors import DataContractError
    with pytest.raises(DataContractError, match="Unknown table 'invoices': expected one of customers, products"):
        ingest(ws, p, table="invoices")
    with pytest.raises(IngestError, match="which table does this file hold"):
        ingest(ws, p)
    q = write(tmp_path, "x.xlsx", "a\n")
    with pytest.raises(IngestError, match="cannot tell the file format"):
        ingest(ws, q, table="customers")


def test_wrong_preset_for_the_file_names_the_missing_columns(ws, tmp_path):
    p = write(tmp_path, "x.csv", "order_id,customer_id\n1,2\n")
    with pytest.raises(IngestError, match=r"needs column\(s\) invoice \(as InvoiceNo or Invoice\)"):
        ingest(ws, p, preset="online-retail")


def test_mapping_errors_are_config_errors(tmp_path):
    bad = write(tmp_path, "m.toml", '[columns]\nfoo = "orderid"\n')
    with pytest.raises(ConfigError, match="'orderid' is not a canonical column. Did you mean order_id"):
        load_mapping(bad)
    bad2 = write(tmp_path, "m2.toml", 'tabel = "orders"\n')
    with pytest.raises(ConfigError, match="unknown key\\(s\\) tabel"):
        load_mapping(bad2)
    with pytest.raises(ConfigError, match="does not exist"):
        load_mapping(tmp_path / "none.toml")


def test_mapping_naming_a_column_the_file_lacks(ws, tmp_path):
    p = write(tmp_path, "orders.csv", "id,cust,date\n1,2,2024-01-01\n")
    m = write(tmp_path, "m.toml", '[columns]\nOrderId = "order_id"\n')
    with pytest.raises(IngestError, match="names column 'OrderId', which the file does not have; found: id, cust, date"):
        ingest(ws, p, mapping=m)


def test_too_many_bad_rows_roll_back_everything(ws, tmp_path):
    """The default ingest.max_quarantine_share (0.5) stops a file with 2 bad rows of 3, naming the reasons."""
    p = write(tmp_path, "orders.csv", "order_id,ordered_at\no1,yesterday\no2,today\no3,2024-01-01\n")
    with pytest.raises(IngestError, match=r"2 of 3 rows \(67%\) would be quarantined, more than "
                       r"ingest.max_quarantine_share = 0.5; nothing was loaded. Most common: 2 x ordered_at: "
                       r"expected a date"):
        ingest(ws, p)
    assert counts(ws) == {"customers": 0, "products": 0, "orders": 0, "order_lines": 0, "quarantine": 0,
                          "ingest_log": 0}
    assert ws.sql("SELECT table_name FROM information_schema.tables WHERE table_type = 'LOCAL TEMPORARY'") == []


def test_the_quarantine_refusal_names_the_file_the_reason_and_its_first_row_column_and_value(ws, tmp_path):
    """The refusal said the file, the share and the reasons' kinds, but no row or value to look at: now the first
    row of the most common reason, its column, what was expected and what came (the quarantine table's
    row_number: data rows from 1)."""
    p = write(tmp_path, "orders.csv", "order_id,ordered_at,total\no1,2024-01-01,1\no2,31/02/2024,2\n"
                                      "o3,2024-13-01,x\no4,n/a,3\n")
    with pytest.raises(IngestError) as e:
        ingest(ws, p)
    assert e.value.message == (
        f"{p}: 3 of 4 rows (75%) would be quarantined, more than ingest.max_quarantine_share = 0.5; nothing was "
        "loaded. Most common: 3 x ordered_at: expected a date or timestamp. First of them: row 2 (header not "
        "counted), column 'ordered_at': expected a date or timestamp, got '31/02/2024'.")
    assert counts(ws)["quarantine"] == 0


def test_killed_ingest_leaves_the_workspace_unchanged(tmp_path):
    ws_path = tmp_path / "ws"
    with open_workspace(ws_path) as w:
        ingest(w, write(tmp_path, "orders.csv", "order_id,ordered_at\nkeep,2024-01-01\n"))
        before = counts(w)
        big = tmp_path / "lines_orders.csv"
        w.con.execute(
            f"COPY (SELECT 'o' || (i // 4) AS order_id, 'c' || (i % 5000) AS customer_id, "
            f"TIMESTAMP '2024-01-01' + to_seconds(i) AS ordered_at, 'p' || (i % 997) AS product_id, "
            f"1 + i % 3 AS quantity, 2.5 AS unit_price FROM range(3000000) t(i)) TO '{big}' (HEADER)"
        )
    m = tmp_path / "m.toml"
    m.write_text('[tables]\norders = ["order_id", "customer_id", "ordered_at"]\n'
                 'customers = ["customer_id"]\nproducts = ["product_id"]\n'
                 'order_lines = ["order_id", "product_id", "quantity", "unit_price"]\n')
    code = (f"import shopseg; w = shopseg.open_workspace({str(ws_path)!r}); "
            f"print('started', flush=True); shopseg.ingest(w, {str(big)!r}, mapping={str(m)!r}); print('finished')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.5)
    assert proc.poll() is None, "the ingest finished before it could be killed; make the file bigger"
    proc.kill()
    proc.wait()
    proc.stdout.close()
    with open_workspace(ws_path) as w:
        assert counts(w) == before
        assert w.scalar("SELECT order_id FROM orders") == "keep"


def test_a_dataframe_or_arrow_table_ingests_through_the_same_checks(ws):
    import pandas as pd
    import pyarrow as pa

    df = pd.DataFrame({"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c1", "c2"],
                       "ordered_at": pd.to_datetime(["2024-01-01", "2024-02-01", None])})
    r = ingest(ws, df, table="orders")
    assert (r.n_input, r.n_accepted, r.n_quarantined) == (3, 2, 1)
    assert ws.sql("SELECT reason FROM quarantine") == [("ordered_at: missing value, expected a date or timestamp",)]
    assert ingest(ws, df, table="orders").n_duplicate == 3  # the same frame again adds nothing
    r = ingest(ws, pa.table({"customer_id": ["c3"], "country": ["FR"]}), table="customers")
    assert r.n_accepted == 1 and ws.scalar("SELECT country FROM customers WHERE customer_id = 'c3'") == "FR"
    with pytest.raises(IngestError, match="give table="):
        ingest(ws, df)
    with pytest.raises(IngestError, match="a pandas DataFrame or an Arrow table. Got int instead"):
        ingest(ws, 42)
