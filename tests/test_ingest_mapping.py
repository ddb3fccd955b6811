"""Mapping files: id normalisation, value maps, one column to several targets, date formats, hints in TOML."""

import textwrap
import tomllib

import pytest

from shopseg import IngestError, ingest
from shopseg.errors import ConfigError
from shopseg.ingest import load_mapping
from shopseg.ingest._plan import missing_column_hint

# A Shopify-like orders export, one row per line item: 4 orders from 2 people whose e-mails differ in case and
# spaces; order #1003 was refunded, #1004 voided.
ORDERS = """\
Name,Email,Financial Status,Created at,Lineitem sku,Lineitem quantity,Lineitem price
#1001,Ann@Example.com,paid,05/03/2024 10:00,SKU-A,2,5.00
#1001,Ann@Example.com,paid,05/03/2024 10:00,SKU-B,1,3.50
#1002, ann@example.COM ,PAID,06/03/2024 11:30,SKU-A,1,5.00
#1003,bob@example.com,refunded,07/03/2024 09:15,SKU-C,1,20.00
#1004,Bob@Example.com,Voided,13/03/2024 18:45,SKU-C,3,20.00
"""

MAPPING = """\
[columns]
Name = "order_id"
Email = ["customer_id", "email"]
"Financial Status" = "kind"
"Created at" = "ordered_at"
"Lineitem sku" = "product_id"
"Lineitem quantity" = "quantity"
"Lineitem price" = "unit_price"

[normalise]
customer_id = ["trim", "lower"]
email = ["lower"]

[values.kind]
paid = "sale"
refunded = "return"
voided = "adjustment"

[formats]
ordered_at = "%d/%m/%Y %H:%M"

[tables]
customers = ["customer_id", "email"]
products = ["product_id"]
orders = ["order_id", "customer_id", "ordered_at", "kind"]
order_lines = ["order_id", "product_id", "quantity", "unit_price"]
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_ids_normalised_values_mapped_and_one_column_feeding_two_targets(ws, tmp_path):
    r = ingest(ws, write(tmp_path, "orders_export.csv", ORDERS), mapping=write(tmp_path, "m.toml", MAPPING))
    assert (r.n_input, r.n_accepted, r.n_quarantined) == (5, 5, 0)
    # two people, not four spellings; the e-mail column is filled from the same source column
    assert ws.sql("SELECT customer_id, email FROM customers ORDER BY 1") == [
        ("ann@example.com", "ann@example.com"), ("bob@example.com", "bob@example.com")]
    assert ws.sql("SELECT order_id, customer_id, kind, strftime(ordered_at, '%Y-%m-%d %H:%M') FROM orders "
                  "ORDER BY 1") == [
        ("#1001", "ann@example.com", "sale", "2024-03-05 10:00"),
        ("#1002", "ann@example.com", "sale", "2024-03-06 11:30"),
        ("#1003", "bob@example.com", "return", "2024-03-07 09:15"),
        ("#1004", "bob@example.com", "adjustment", "2024-03-13 18:45")]
    assert ws.scalar("SELECT count(*) FROM order_lines") == 5


def test_a_value_the_map_does_not_name_is_kept_as_given_or_takes_the_star_value(ws, tmp_path):
    src = write(tmp_path, "orders.csv", "order_id,ordered_at,status\no1,2024-01-01,paid\no2,2024-01-02,pending\n"
                                        "o3,2024-01-03,refunded\n")
    kept = write(tmp_path, "kept.toml", '[columns]\nstatus = "kind"\n[values.kind]\npaid = "sale"\n'
                                        'refunded = "return"\n')
    # 'pending' is no order kind: quarantined with the reason (1 of 3 rows, under the 50% default)
    r = ingest(ws, src, mapping=kept)
    assert (r.n_accepted, r.n_quarantined) == (2, 1)
    assert "got 'pending'" in ws.scalar("SELECT reason FROM quarantine")
    star = write(tmp_path, "star.toml", '[columns]\nstatus = "kind"\n[values.kind]\nrefunded = "return"\n'
                                        '"*" = "sale"\n')
    src2 = write(tmp_path, "orders2.csv", "order_id,ordered_at,status\np1,2024-01-01,paid\np2,2024-01-02,pending\n"
                                          "p3,2024-01-03,Refunded\n")
    ingest(ws, src2, mapping=star)
    assert ws.sql("SELECT order_id, kind FROM orders WHERE order_id LIKE 'p%' ORDER BY 1") == [
        ("p1", "sale"), ("p2", "sale"), ("p3", "return")]


@pytest.mark.parametrize("text, expected", [
    ('[columns]\nEmail = []\n', "must name a canonical column or a list of them"),
    ('[columns]\nEmail = ["customer_id", "e_mail"]\n', "'e_mail' is not a canonical column"),
    ('[normalise]\ncustomer_id = ["trim", "casefold"]\n', "steps among trim, lower, upper. Got ['trim', 'casefold']"),
    ('[values]\nkind = "return"\n', "[values.kind] must be a table of source value = canonical value"),
])
def test_bad_mapping_sections_name_what_was_expected(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        load_mapping(write(tmp_path, "m.toml", text))


def test_missing_column_hint_is_toml_that_loads_with_quoted_keys():
    hint = missing_column_hint(["ordered_at", "order_id"], ["Created at", "Name", "Order Number"])
    head, body = hint.split("\n", 1)
    assert head == "Add to the [columns] section of a mapping file (--mapping FILE):"
    assert tomllib.loads(body) == {"Created at": "ordered_at", "Order Number": "order_id"}
    # no close name: a placeholder key the user replaces, still valid TOML
    assert tomllib.loads(missing_column_hint(["order_id"], ["zzz"]).split("\n", 1)[1]) == {
        "<your column>": "order_id"}


def test_missing_column_hint_reaches_the_terminal_with_its_brackets(tmp_path):
    """Rich markup swallowed '[columns]' ("Add to the  section")."""
    from typer.testing import CliRunner

    from shopseg.cli import app

    src = write(tmp_path, "orders.csv", "Order,Created at\no1,2024-01-01\n")
    res = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "ingest", str(src), "--table", "orders"])
    assert res.exit_code == 2
    assert "Add to the [columns] section" in res.output
    toml = res.output.split("(--mapping FILE):", 1)[1].split("A proposed mapping", 1)[0]  # (then the proposal)
    assert tomllib.loads(toml) == {"Order": "order_id", "Created at": "ordered_at"}


def test_a_file_mostly_quarantined_fails_and_leaves_the_workspace_as_it_was(ws, tmp_path):
    ingest(ws, write(tmp_path, "orders.csv", "order_id,ordered_at\nkeep,2024-01-01\n"))
    before = ws.sql("SELECT order_id FROM orders"), ws.count("ingest_log"), ws.count("quarantine")
    bad = write(tmp_path, "more_orders.csv", "order_id,ordered_at\na,soon\nb,later\nc,2024-01-02\n")
    with pytest.raises(IngestError, match=r"2 of 3 rows \(67%\).*Most common: 2 x ordered_at: expected a date"):
        ingest(ws, bad)
    assert (ws.sql("SELECT order_id FROM orders"), ws.count("ingest_log"), ws.count("quarantine")) == before


def test_ambiguous_dates_hint_ends_with_a_formats_line_that_loads(ws, tmp_path):
    src = write(tmp_path, "orders.csv", "order_id,ordered_at\no1,01/02/2024\no2,03/04/2024\n")
    with pytest.raises(IngestError, match="is ambiguous") as e:
        ingest(ws, src)
    head, toml = e.value.hint.rsplit("\n", 1)
    assert head.endswith("or add to the [formats] section of a mapping file:")
    assert tomllib.loads(toml) == {"ordered_at": "%d/%m/%Y %H:%M"}


def test_order_fields_given_on_the_first_line_only_reach_every_line(ws, tmp_path):
    """Shopify-style exports leave an order's e-mail, status and date empty after its first line."""
    src = write(tmp_path, "orders_export.csv", """\
        Name,Email,Financial Status,Created at,Lineitem sku,Lineitem quantity,Lineitem price
        #1001,Ann@Example.com,refunded,05/03/2024 10:00,SKU-A,2,5.00
        #1001,,,,SKU-B,1,3.50
        #1002,bob@example.com,paid,06/03/2024 11:30,SKU-A,1,5.00
        """)
    r = ingest(ws, src, mapping=write(tmp_path, "m.toml", MAPPING))
    assert (r.n_accepted, r.n_quarantined) == (3, 0)
    assert ws.sql("SELECT order_id, customer_id, kind FROM orders ORDER BY 1") == [
        ("#1001", "ann@example.com", "return"), ("#1002", "bob@example.com", "sale")]
    assert ws.sql("SELECT order_id, count(*) FROM order_lines GROUP BY 1 ORDER BY 1") == [("#1001", 2), ("#1002", 1)]
