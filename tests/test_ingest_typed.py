"""Typed source values (a Parquet file's timestamps, numbers and flags) are read as they are, and give exactly
what reading their text gives; line numbers in file order, however an order's lines lie in the file."""

import duckdb
import pytest

from shopseg import ingest
from shopseg.config import load_config
from shopseg.workspace import open_workspace

# order_id, customer_id, ordered_at, product_id, is_merchandise, quantity, unit_price, discount_amount
ROWS = """
    ('O1', 'C1', TIMESTAMP '2024-01-05 10:00:00', 'P1', true, 2, 9.5, 0),
    ('O1', 'C1', TIMESTAMP '2024-01-05 10:00:00', 'P2', false, 1, 3.0, 1),
    ('O2', 'C2', TIMESTAMP '2024-01-07 11:30:00.25', 'P1', true, 1, 9.5, 0),
    ('O3', 'C2', TIMESTAMP '1899-12-31 00:00:00', 'P1', true, 1, 9.5, 0),
    ('O4', 'C3', NULL, 'P1', true, 1, 9.5, 0),
    ('O5', 'C3', TIMESTAMP '2024-02-01 00:00:00', 'P3', NULL, 0, 2.0, 0),
    ('O6', 'C3', TIMESTAMP '2024-02-02 00:00:00', 'P3', true, 3, 'inf'::DOUBLE, 0),
    ('O7', 'C4', TIMESTAMP '2024-02-03 00:00:00', 'P4', true, 7::BIGINT, -1.5, 0),
    ('O1', 'C1', TIMESTAMP '2024-01-05 10:00:00', 'P1', true, 2, 9.5, 0)
"""
ALL_RECORDED = load_config(overrides={"ingest": {"max_quarantine_share": 1.0}})  # most rows fail on purpose
COLUMNS = "order_id, customer_id, ordered_at, product_id, is_merchandise, quantity, unit_price, discount_amount"
TABLES = {"orders": ["order_id", "customer_id", "ordered_at"], "products": ["product_id", "is_merchandise"],
          "order_lines": ["order_id", "product_id", "quantity", "unit_price", "discount_amount"]}


def write_both(tmp_path):
    """The same rows as a typed Parquet file and as the CSV text DuckDB writes for them."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {ROWS}) v({COLUMNS})")
    assert con.execute("SELECT typeof(ordered_at), typeof(quantity), typeof(is_merchandise) FROM t LIMIT 1"
                       ).fetchone() == ("TIMESTAMP", "BIGINT", "BOOLEAN")
    paths = {}
    for fmt in ("parquet", "csv"):
        paths[fmt] = tmp_path / f"lines.{fmt}"
        con.execute(f"COPY t TO '{paths[fmt]}' (FORMAT {fmt})")
    con.close()
    return paths


def ingest_both(tmp_path, con, stem: str, read=None, **how) -> dict:
    """Table ``t`` of ``con`` written as Parquet and as CSV, each ingested (``how``: preset or mapping) into its own
    workspace with every check recorded: {"parquet": read(ws), "csv": read(ws)} (``read``: :func:`contents`)."""
    got = {}
    for fmt in ("parquet", "csv"):
        path = tmp_path / f"{stem}.{fmt}"
        con.execute(f"COPY t TO '{path}' (FORMAT {fmt})")
        ws = open_workspace(tmp_path / f"ws-{fmt}")
        ingest(ws, path, config=ALL_RECORDED, **how)
        got[fmt] = (read or contents)(ws)
        ws.close()
    return got


@pytest.fixture(params=[True, False], ids=["stored", "recomputed"])
def stored(request, monkeypatch):
    """Each test twice: the checked rows stored for the writers (a file within the memory budget), and not stored,
    each writer computing the accepted rows' columns from the file again (a file past it, Online Retail x100)."""
    from shopseg.ingest import _load
    monkeypatch.setattr(_load, "materialise_checked", lambda con, n_rows, n_columns: request.param)
    return request.param


def contents(ws):
    """Every canonical table and the quarantine, row by row, without the ingest id and the file's name."""
    out = {t: ws.sql(f"SELECT * EXCLUDE (ingest_id) FROM {t} ORDER BY ALL")
           for t in ("customers", "products", "orders", "order_lines")}
    out["quarantine"] = ws.sql("SELECT row_number, column_name, reason FROM quarantine ORDER BY row_number")
    return out


@pytest.mark.parametrize("formats", [None, {"ordered_at": "%Y-%m-%d %H:%M:%S"}])
def test_typed_parquet_gives_the_tables_and_reasons_its_text_gives(tmp_path, formats, stored):
    paths = write_both(tmp_path)
    got = {}
    for fmt, path in paths.items():
        ws = open_workspace(tmp_path / f"ws-{fmt}")
        mapping = {"tables": TABLES, **({"formats": formats} if formats else {})}
        r = ingest(ws, path, mapping=mapping, config=ALL_RECORDED)
        got[fmt] = (r.n_accepted, r.n_quarantined, r.n_duplicate), contents(ws)
        ws.close()
    assert got["parquet"] == got["csv"]
    (counts, tables) = got["parquet"]
    reasons = dict((row, reason) for row, _, reason in tables["quarantine"])
    # rows 4-8 fail one check each; row 9 repeats row 1; row 3's fraction of a second reads without a format,
    # and under a seconds-only format is quarantined, shown as written
    assert reasons[4] == "ordered_at: expected a date from 1990-01-01 to 2199-12-31 (ingest.min_date, " \
                         "ingest.max_date), got '1899-12-31 00:00:00'"
    assert reasons[5] == "ordered_at: missing value, expected a date or timestamp"
    assert reasons[6] == "quantity: expected a number greater than 0 and at most 1,000,000,000, got '0'"
    assert reasons[7] == "unit_price: expected a finite number, got 'inf'"
    assert reasons[8] == "unit_price: expected a number from 0 to 1,000,000,000,000, got '-1.5'"
    if formats is None:
        assert counts == (3, 5, 1) and 3 not in reasons
        assert ("O2", "C2", __import__("datetime").datetime(2024, 1, 7, 11, 30, 0, 250000), "sale", None, None,
                0.0, 0.0) == tuple(tables["orders"][1])
    else:
        assert counts == (2, 6, 1)
        assert reasons[3] == "ordered_at: expected a date or timestamp, got '2024-01-07 11:30:00.25'"
    assert tables["products"][:2] == [("P1", None, None, None, None, None, True, True),
                                      ("P2", None, None, None, None, None, False, True)]


@pytest.mark.parametrize("chunk_rows", [None, 2, 1])
def test_line_numbers_follow_the_file_whatever_lies_between_an_orders_lines(ws, tmp_path, monkeypatch, chunk_rows,
                                                                            stored):
    """Also when the lines are written in chunks of file rows (as a file past the memory budget is): with 2 rows a
    chunk, O1 (rows 1 and 3), O3 (4 and 6) and O4 (8 and 9) each cross a chunk's end."""
    if chunk_rows:
        from shopseg.ingest import _write
        monkeypatch.setattr(_write, "MIN_CHUNK_ROWS", chunk_rows)
        monkeypatch.setattr(_write, "SORT_BYTES_PER_ROW", 2**62)
    lines = tmp_path / "lines.csv"
    lines.write_text("order_id,customer_id,ordered_at,product_id,quantity,unit_price\n"
                     "O1,C1,2024-01-01,P1,1,2\n"   # row 1
                     "O2,C1,2024-01-01,P1,1,2\n"   # row 2
                     "O1,C1,2024-01-01,P2,1,2\n"   # row 3: O1's lines are rows 1 and 3
                     "O3,C2,2024-01-02,P1,1,2\n"   # row 4
                     "O3,C2,2024-01-02,P1,1,2\n"   # row 5: a duplicate of row 4
                     "O3,C2,2024-01-02,P2,1,2\n"   # row 6
                     "O4,C2,2024-01-03,P1,0,2\n"   # row 7: quarantined (quantity 0)
                     "O4,C2,2024-01-03,P2,1,2\n"   # row 8
                     "O4,C2,2024-01-03,P3,1,2\n"   # row 9
                     "O5,C3,2024-01-04,P1,1,2\n")  # row 10
    mapping = {"tables": {"orders": ["order_id", "customer_id", "ordered_at"], "products": ["product_id"],
                          "order_lines": ["order_id", "product_id", "quantity", "unit_price"]}}
    r = ingest(ws, lines, mapping=mapping)
    assert (r.n_accepted, r.n_quarantined, r.n_duplicate) == (8, 1, 1)
    # stored in file order, numbered within each order in file order
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines") == [
        ("O1", 1, "P1"), ("O2", 1, "P1"), ("O1", 2, "P2"), ("O3", 1, "P1"), ("O3", 2, "P2"), ("O4", 1, "P2"),
        ("O4", 2, "P3"), ("O5", 1, "P1")]
    more = tmp_path / "more.csv"
    more.write_text("order_id,customer_id,ordered_at,product_id,quantity,unit_price\n"
                    "O5,C3,2024-01-04,P2,1,2\nO6,C3,2024-01-05,P1,1,2\nO5,C3,2024-01-04,P3,1,2\n")
    ingest(ws, more, mapping=mapping)  # lines of a loaded order are numbered after the ones it has
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines WHERE order_id IN ('O5', 'O6') "
                  "ORDER BY 1, 2") == [("O5", 1, "P1"), ("O5", 2, "P2"), ("O5", 3, "P3"), ("O6", 1, "P1")]


def test_online_retail_parquet_reads_like_its_csv_text(tmp_path, stored):
    """The preset on typed columns (a DOUBLE customer id, a timestamp, an integer quantity, its sign and size at
    the edges): the same rows as on the text of the same values."""
    con = duckdb.connect()
    con.execute("""CREATE TABLE t AS SELECT * FROM (VALUES
        ('536365', '85123A', 'HEART', 6, TIMESTAMP '2010-12-01 08:26:00', 2.55, 17850.0, 'United Kingdom'),
        ('536366', '22633', 'HAND WARMER', 6, TIMESTAMP '2010-12-01 08:28:00', 1.85, 12346.0, 'France'),
        ('536367', '22633', 'HAND WARMER', 3, TIMESTAMP '2010-12-01 08:34:00', 1.85, 1e16, 'France'),
        ('536368', 'POST', 'POSTAGE', 1, TIMESTAMP '2010-12-01 08:35:00', 18.0, 2.5, 'Norway'),
        ('C536369', '22633', 'HAND WARMER', -1, TIMESTAMP '2010-12-01 09:00:00', 1.85, NULL, 'France'),
        ('536370', '22633', 'HAND WARMER', 1, TIMESTAMP '2010-12-01 09:01:00.5', 1.85, 17850.0, 'France'),
        ('536371', '22633', 'HAND WARMER', 0, TIMESTAMP '2010-12-01 09:02:00', 1.85, 17850.0, 'France'),
        ('536372', '22634', 'HAND WARMER', CAST(-9223372036854775808 AS BIGINT), TIMESTAMP '2010-12-01 09:03:00',
         1.85, 17850.0, 'France'),
        ('536373', '22635', 'HAND WARMER', 9223372036854775807, TIMESTAMP '2010-12-01 09:04:00', 1.85, 17850.0,
         'France')
        ) v(InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)""")
    got = ingest_both(tmp_path, con, "retail", preset="online-retail")
    assert got["parquet"] == got["csv"]
    assert [c[0] for c in got["parquet"]["customers"]] == ["12346", "17850", "1e+16", "2.5"]
    # the preset reads dates to the second: a fraction is quarantined, shown as written
    assert got["parquet"]["quarantine"] == [
        (6, "ordered_at", "ordered_at: expected a date or timestamp, got '2010-12-01 09:01:00.5'"),
        (7, "quantity", "quantity: expected a number greater than 0 and at most 1,000,000,000, got '0'"),
        # int64's ends: a negative quantity is read as its size, past schema.MAX_QUANTITY, shown as written
        (8, "quantity", "quantity: expected a number greater than 0 and at most 1,000,000,000, "
                        "got '9223372036854775808'"),
        (9, "quantity", "quantity: expected a number greater than 0 and at most 1,000,000,000, "
                        "got '9223372036854775807'")]
    # a negative quantity on an invoice with a C is a return, read as its size
    assert [(o[0], o[3]) for o in got["parquet"]["orders"]] == [
        ("536365", "sale"), ("536366", "sale"), ("536367", "sale"), ("536368", "sale"), ("C536369", "return")]
    assert [(o[0], o[3]) for o in got["parquet"]["order_lines"] if o[0] == "C536369"] == [("C536369", 1.0)]


def test_online_retail_customer_ids_grouped_on_the_double_print_as_their_text(tmp_path, stored):
    """Recomputed, the customers and the orders' customer read Online Retail's DOUBLE customer id as the number
    and print it once per row written: ids that compare equal but print differently (0.0 and -0.0, NaN and -NaN)
    stay apart, as their text keeps them, and an order's customer is its first line's.  A product named
    'Unknown' has no name, from a Parquet file's dictionary as from CSV text."""
    ids = ["'-0.0'::DOUBLE", "0.0", "'nan'::DOUBLE", "17850.0", "-('nan'::DOUBLE)", "2.5", "NULL", "17850.0"]
    # 'Unknown' is no name (an 'Unknown' padded is one); the most common name wins
    names = ["'Unknown'", "'Unknown'", "'Unknown'", "'HAND WARMER'", "'HAND WARMER'", "' Unknown '", "'Unknown'", "NULL"]
    rows = ", ".join(f"('I{i // 2}', '22633', {d}, {i + 1}, TIMESTAMP '2010-12-01 08:26:00', 1.85, "
                     f"CAST({c} AS DOUBLE), 'France')" for i, (c, d) in enumerate(zip(ids, names)))
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {rows}) "
                "v(InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)")
    got = ingest_both(tmp_path, con, "retail", preset="online-retail")
    assert got["parquet"] == got["csv"]
    assert sorted(c[0] for c in got["parquet"]["customers"]) == ["-0", "-nan", "0", "17850", "2.5", "nan"]
    assert [(o[0], o[1]) for o in got["parquet"]["orders"]] == [
        ("I0", "-0"), ("I1", "nan"), ("I2", "-nan"), ("I3", "17850")]
    assert [p[:2] for p in got["parquet"]["products"]] == [("22633", "HAND WARMER")]


def test_online_retail_products_name_and_median_price(tmp_path, stored):
    """online-retail's products from its pre-grouping: the name most lines give (a tie to the first by sort order,
    'Unknown' no name) and the median of the sale lines' prices (two middle prices averaged; returns left out)."""
    lines = [("1", "P1", "Y", 1, 3.0), ("2", "P1", "X", 1, 1.0), ("3", "P1", "Y", 1, 10.0), ("4", "P1", "X", 1, 2.0),
             ("C5", "P1", "W", -1, 100.0), ("6", "P2", "Z", 1, 5.0), ("C7", "P2", "Z", -1, 7.0),
             ("C8", "P2", "Z", -1, 7.0), ("C9", "P3", "Unknown", -1, 4.0), ("10", "P4", "V", 2, 1.5),
             ("11", "P4", "V", 2, 1.5), ("12", "P4", "V", 1, 0.5)]
    rows = ", ".join(f"('{i}', '{p}', '{d}', {q}, TIMESTAMP '2010-12-01 08:26:00', {u}, 1.0, 'France')"
                     for i, p, d, q, u in lines)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {rows}) "
                "v(InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)")
    got = ingest_both(tmp_path, con, "retail", lambda ws: ws.sql("SELECT product_id, name, price FROM products "
                                                                 "ORDER BY 1"), preset="online-retail")
    assert got["parquet"] == got["csv"] == [("P1", "X", 2.5), ("P2", "Z", 5.0), ("P3", None, None), ("P4", "V", 1.5)]


def test_typed_extremes_read_like_their_text(tmp_path):
    """Values at the edges of the shortcut (infinite and far timestamps, int64's ends, NaN, -0.0) take the text
    path inside the same expression: the same rows and reasons as the CSV text of the same values."""
    good = "TIMESTAMP '2024-01-05 10:00:00'"
    edges = [("'infinity'::TIMESTAMP", "1", "2.0"), ("TIMESTAMP '0001-01-01 00:00:00'", "1", "2.0"),
             ("TIMESTAMP '9999-12-31 23:59:59.999999'", "1", "2.0"), (good, "-9223372036854775808", "2.0"),
             (good, "9223372036854775807", "2.0"), (good, "1", "'nan'::DOUBLE"), (good, "1", "-0.0"),
             (good, "9007199254740993", "1e300")]
    rows = ", ".join(f"('O{i}', 'C1', {t}, 'P1', true, CAST({q} AS BIGINT), CAST({p} AS DOUBLE), 0)"
                     for i, (t, q, p) in enumerate(edges))
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {rows}) v({COLUMNS})")
    got = ingest_both(tmp_path, con, "edges", mapping={"tables": TABLES})
    assert got["parquet"] == got["csv"]
    reasons = {row: reason for row, _, reason in got["parquet"]["quarantine"]}
    assert reasons[1].endswith("got 'infinity'") and reasons[2].endswith("got '0001-01-01 00:00:00'")
    assert reasons[4] == "quantity: expected a number greater than 0 and at most 1,000,000,000, got '-9223372036854775808'"
    # int64's top and 2**53 + 1 units, a price of 1e300: past schema.MAX_QUANTITY, shown as written
    assert reasons[5] == ("quantity: expected a number greater than 0 and at most 1,000,000,000, "
                          "got '9223372036854775807'")
    assert reasons[6] == "unit_price: expected a finite number, got 'nan'"
    assert reasons[8] == ("quantity: expected a number greater than 0 and at most 1,000,000,000, "
                          "got '9007199254740993'")
    assert [r[:2] for r in got["parquet"]["order_lines"]] == [("O6", 1)]


def test_text_columns_read_trimmed_whichever_needs_it(tmp_path, stored):
    """The recomputed path reads a text column without trim() when no value of it needs trimming: a padded column
    beside a clean one still loads trimmed, and the clean one as it is."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('O1', 'C1', DATE '2024-01-05', ' P1 ', 2, 1.5), "
                "('O1', 'C1', DATE '2024-01-05', 'P2', 1, 2.0), ('O2', 'C1', DATE '2024-01-06', 'P1' || chr(12288), 1, "
                "1.5)) v(order_id, customer_id, ordered_at, product_id, quantity, unit_price)")
    path = tmp_path / "lines.parquet"
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    ws = open_workspace(tmp_path / "ws")
    r = ingest(ws, path, mapping={"tables": {"orders": ["order_id", "customer_id", "ordered_at"],
                                             "products": ["product_id"],
                                             "order_lines": ["order_id", "product_id", "quantity", "unit_price"]}})
    assert (r.n_accepted, r.n_quarantined) == (3, 0)
    assert ws.sql("SELECT product_id FROM products ORDER BY 1") == [("P1",), ("P2",)]
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines") == [("O1", 1, "P1"), ("O1", 2, "P2"),
                                                                                ("O2", 1, "P1")]
    ws.close()


def test_lines_numbered_when_the_orders_come_from_another_file(ws, tmp_path, stored):
    """Order lines alone (their orders loaded before, so no orders' GROUP BY gives the spans): an order whose lines
    are not consecutive rows is numbered in file order all the same."""
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,ordered_at\nO1,C1,2024-01-01\nO2,C1,2024-01-02\n")
    ingest(ws, orders, table="orders")
    products = tmp_path / "products.csv"
    products.write_text("product_id\nP1\nP2\nP3\n")
    ingest(ws, products, table="products")
    lines = tmp_path / "order_lines.csv"
    lines.write_text("order_id,product_id,quantity,unit_price\nO1,P1,1,2\nO2,P1,1,2\nO1,P2,1,2\nO1,P3,1,2\n"
                     "O2,P2,1,2\n")
    r = ingest(ws, lines, table="order_lines")
    assert r.n_accepted == 5
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines") == [
        ("O1", 1, "P1"), ("O2", 1, "P1"), ("O1", 2, "P2"), ("O1", 3, "P3"), ("O2", 2, "P2")]


def test_online_retail_kinds_and_customers_countries(tmp_path, stored):
    """The order's kind from the invoice's first character told by comparisons with one-character bounds (a printable
    ASCII one), else from the trimmed text upper-cased: the same kinds as the text path gives, for every sort of
    first character (the letters next to C and A too); and a
    customer's country is the one of most of its invoices (not lines), ties to the first by name, from one row per
    (customer, invoice, country)."""
    old_kind = ("CASE upper(left(ltrim(CAST(InvoiceNo AS VARCHAR)), 1)) WHEN 'C' THEN 'return' WHEN 'A' THEN "
                "'adjustment' ELSE CASE WHEN Quantity < 0 THEN 'adjustment' ELSE 'sale' END END")
    invoices = [("C1", 1), ("c2", 1), ("A3", 1), ("a4", 1), ("5", 1), ("D6", -1), (" C7", 1), ("\u00a0C8", 1),
                ("\u3000a9", 1), ("\u00e410", 1), ("\u00c911", -1), ("~12", 1), ("!13", -1), ("B14", 1), ("b15", -1),
                ("d16", 1), ("C", 1), ("@17", 1)]
    rows = [(inv, "P1", q, 1.0, "France") for inv, q in invoices]
    # customer 2.0: France on three lines of one invoice, Spain on two invoices; customer 3.0: a tie, Germany first
    # by name; customer 4.0: no country; customer 5.0: one invoice with two countries, each counted once
    rows += [(f"I{i}", p, 1, c, country) for i, p, c, country in [
        (1, "P1", 2.0, "France"), (1, "P2", 2.0, "France"), (1, "P3", 2.0, "France"), (2, "P1", 2.0, "Spain"),
        (3, "P1", 2.0, "Spain"), (4, "P1", 3.0, "Norway"), (5, "P1", 3.0, "Germany"), (6, "P1", 4.0, None),
        (7, "P1", 5.0, "Spain"), (7, "P2", 5.0, "France"), (7, "P3", 5.0, "France"), (8, "P1", 5.0, "Spain")]]
    values = ", ".join(f"('{inv}', '{p}', 'NAME', {q}, TIMESTAMP '2010-12-01 08:26:00', 1.5, {c}, "
                       + (f"'{country}')" if country else "NULL)") for inv, p, q, c, country in rows)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {values}) "
                "v(InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)")
    expected = dict(con.execute(f"SELECT nullif(trim(InvoiceNo), ''), {old_kind} FROM t").fetchall())
    got = ingest_both(tmp_path, con, "retail", lambda ws: (ws.sql("SELECT order_id, kind FROM orders ORDER BY 1"),
                                                           ws.sql("SELECT customer_id, country FROM customers ORDER BY 1")),
                      preset="online-retail")
    assert got["parquet"] == got["csv"]
    kinds, countries = got["parquet"]
    assert kinds == sorted(expected.items())
    assert dict(kinds)["C8"] == "return" and dict(kinds)["\u00e410"] == "sale" and dict(kinds)["!13"] == "adjustment"
    assert countries == [("1", "France"), ("2", "Spain"), ("3", "Germany"), ("4", None), ("5", "Spain")]


def test_duplicates_of_quarantined_rows_keep_their_fate_and_reason(tmp_path, stored):
    """An exact duplicate is a duplicate whatever its checks say, and the row it repeats keeps its own fate: a
    quarantined row's copies are duplicates, not quarantined again, on both paths (the recomputed one finds the
    rows with a failed check and the duplicates apart)."""
    head = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    ok = "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
    price = "536366,22633,WARMER,6,12/1/2010 8:28,-1.85,17850,United Kingdom\n"
    code = "536367,,NO CODE,6,12/1/2010 8:34,1.0,13047,United Kingdom\n"
    date = "536368,22960,JAM,6,not a date,4.25,13047,United Kingdom\n"
    path = tmp_path / "retail.csv"
    path.write_text(head + ok + ok + price + price + code + code + date + date + date
                    + "536369,21756,BATH,3,12/1/2010 8:35,5.95,13047,United Kingdom\n" + ok)
    ws = open_workspace(tmp_path / "ws")
    r = ingest(ws, path, preset="online-retail", config=ALL_RECORDED)
    assert (r.n_accepted, r.n_quarantined, r.n_duplicate) == (2, 3, 6)
    assert ws.sql("SELECT row_number, column_name, reason FROM quarantine ORDER BY row_number") == [
        (3, "unit_price", "unit_price: expected a number from 0 to 1,000,000,000,000, got '-1.85'"),
        (5, "product_id", "product_id: missing value, expected text"),
        (7, "ordered_at", "ordered_at: expected a date or timestamp, got 'not a date'")]
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines") == [("536365", 1, "85123A"),
                                                                                ("536369", 1, "21756")]
    ws.close()
