"""Platform presets (Shopify orders and customers, WooCommerce orders) and recognition by header.

The exports are built here from the platforms' documented column lists (docs/presets.md cites them):
a generated Shopify orders export of 1,000 orders and a WooCommerce one of 120, plus hand-written tiny
files whose expected values are written in the tests.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from shopseg import Workspace
from shopseg.errors import IngestError
from shopseg.ingest import ingest

# Shopify's orders export header, in the export's order
SHOPIFY_ORDER_COLUMNS = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name",
    "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
]
# order-level columns: filled on an order's first row only, as in Shopify's export
SHOPIFY_ORDER_LEVEL = {
    "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing", "Currency",
    "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Billing Name", "Billing City", "Billing Country", "Shipping Country", "Cancelled at", "Payment Method",
    "Refunded Amount", "Outstanding Balance", "Id", "Source",
}
STATUSES = ["paid"] * 15 + ["partially_refunded"] * 2 + ["refunded"] * 2 + ["voided", "pending"]


def _messy(email: str, rng: random.Random) -> str:
    """The same address as a shop export may hold it: mixed case, stray spaces."""
    chars = [ch.upper() if rng.random() < 0.3 else ch for ch in email]
    return " " * rng.randint(0, 2) + "".join(chars) + " " * rng.randint(0, 2)


def make_shopify_orders(path: Path, n_orders: int = 1000, n_people: int = 400, seed: int = 7) -> list[dict]:
    """Write a Shopify orders export; returns one dict per order with what the file says about it."""
    rng = random.Random(seed)
    catalog = [(f"SKU-{i:03d}" if i % 7 else "", f"Product {i}", round(3 + 2.5 * i, 2)) for i in range(1, 41)]
    people = [f"person{i}@example.com" for i in range(n_people)]
    orders, rows = [], []
    for k in range(n_orders):
        name = f"#{1001 + k}"
        email = "" if k % 97 == 0 else rng.choice(people)  # a few guest checkouts
        status = rng.choice(STATUSES)
        items = rng.sample(catalog, rng.randint(1, 4))
        qtys = [rng.randint(1, 3) for _ in items]
        lines = round(sum(q * p for q, (_, _, p) in zip(qtys, items)), 2)
        discount = round(lines * 0.1, 2) if k % 5 == 0 else 0.0
        subtotal = round(lines - discount, 2)
        shipping = 0.0 if subtotal >= 50 else 4.9
        taxes = round(subtotal * 0.2, 2)
        total = round(subtotal + shipping + taxes, 2)
        refunded = total if status == "refunded" else (
            round(total * rng.choice([0.1, 0.25, 0.5]), 2) if status == "partially_refunded" else 0.0)
        day, minute = 1 + k * 360 // n_orders, rng.randint(0, 1439)
        created = f"2024-{1 + (day - 1) // 30:02d}-{1 + (day - 1) % 30:02d} {minute // 60:02d}:{minute % 60:02d}:00 -0500"
        created = created.replace("-02-30", "-02-28").replace("-02-29", "-02-28")
        cancelled = created if status == "voided" else ""
        orders.append({"name": name, "email": email, "status": status, "lines": lines, "discount": discount,
                       "subtotal": subtotal, "shipping": shipping, "taxes": taxes, "total": total,
                       "refunded": refunded, "n_items": len(items)})
        for j, ((sku, item, price), q) in enumerate(zip(items, qtys)):
            row = dict.fromkeys(SHOPIFY_ORDER_COLUMNS, "")
            # some exports repeat the e-mail and date on every row of an order, some on the first row only
            repeat = j == 0 or k % 2 == 0
            row.update({"Name": name, "Email": _messy(email, rng) if email and repeat else "",
                        "Created at": created if repeat else "",
                        "Lineitem quantity": q, "Lineitem name": item, "Lineitem price": f"{price:.2f}",
                        "Lineitem sku": sku, "Lineitem requires shipping": "true", "Lineitem taxable": "true",
                        "Lineitem fulfillment status": "fulfilled", "Vendor": "Acme", "Lineitem discount": "0.00"})
            if j == 0:
                row.update({"Financial Status": status, "Currency": "USD", "Subtotal": f"{subtotal:.2f}",
                            "Shipping": f"{shipping:.2f}", "Taxes": f"{taxes:.2f}", "Total": f"{total:.2f}",
                            "Discount Amount": f"{discount:.2f}", "Billing Name": f"Person {email[:8]}",
                            "Billing City": "Springfield", "Billing Country": "US", "Shipping Country": "US",
                            "Cancelled at": cancelled, "Refunded Amount": f"{refunded:.2f}",
                            "Outstanding Balance": "0.00", "Id": str(5000000 + k), "Source": "web"})
            rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, SHOPIFY_ORDER_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return orders


@pytest.fixture
def ws(tmp_path):
    with Workspace.open(tmp_path / "ws") as w:
        yield w


def test_shopify_orders_export_ingests_with_no_flag(ws, tmp_path):
    path = tmp_path / "orders_export.csv"
    orders = make_shopify_orders(path)
    r = ingest(ws, path)
    assert r.preset == "shopify-orders"
    assert r.summary["preset_recognised_from"].startswith("the header (columns Name, Email, Financial Status")
    n_lines = sum(o["n_items"] for o in orders)
    assert (r.n_input, r.n_accepted, r.n_quarantined, r.n_duplicate) == (n_lines, n_lines, 0, 0)

    # customers: one per distinct normalised e-mail (the file writes them with mixed case and spaces)
    emails = {o["email"].strip().lower() for o in orders if o["email"]}
    assert len(emails) < sum(1 for o in orders if o["email"])  # people order more than once
    assert ws.scalar("SELECT count(*) FROM customers") == len(emails)
    assert {x for (x,) in ws.sql("SELECT customer_id FROM customers")} == emails
    guests = [o["name"] for o in orders if not o["email"]]
    assert ws.scalar("SELECT count(*) FROM orders WHERE customer_id IS NULL AND kind = 'sale'") == sum(
        1 for o in orders if not o["email"] and o["status"] != "voided")
    assert guests  # the generator made some

    # kinds: voided -> adjustment, every other order a sale; refunds -> one return order each
    by_name = {o["name"]: o for o in orders}
    kinds = dict(ws.sql("SELECT order_id, kind FROM orders"))
    for o in orders:
        assert kinds[o["name"]] == ("adjustment" if o["status"] == "voided" else "sale")
    refunded = {o["name"]: o for o in orders if o["refunded"] > 0 and o["status"] != "voided"}
    assert {o["status"] for o in refunded.values()} == {"refunded", "partially_refunded"}
    returns = dict(ws.sql("SELECT o.order_id, sum(l.quantity * l.unit_price) FROM orders o JOIN order_lines l "
                          "USING (order_id) WHERE o.kind = 'return' GROUP BY 1"))
    assert set(returns) == {n + "/refund" for n in refunded}
    for name, o in refunded.items():  # the goods' share of the refund, to the cent: refunded x subtotal / total
        assert returns[name + "/refund"] == pytest.approx(o["refunded"] * o["subtotal"] / o["total"], abs=0.0051)
        if o["status"] == "refunded":  # a full refund returns exactly the sale's value
            assert returns[name + "/refund"] == pytest.approx(o["subtotal"], abs=0.006)
    same_customer = ws.scalar("SELECT count(*) FROM orders r JOIN orders s ON r.order_id = s.order_id || '/refund' "
                              "WHERE r.customer_id IS NOT DISTINCT FROM s.customer_id")
    assert same_customer == len(refunded)

    # order totals reconcile with the file's Total: lines - discount + shipping (+ the file's taxes)
    loaded = ws.sql("SELECT o.order_id, sum(l.quantity * l.unit_price) - o.discount_amount + o.shipping_amount, "
                    "count(*) FROM orders o JOIN order_lines l USING (order_id) WHERE o.kind <> 'return' "
                    "GROUP BY o.order_id, o.discount_amount, o.shipping_amount")
    assert len(loaded) == len(orders)
    for name, value, n_items in loaded:
        o = by_name[name]
        assert n_items == o["n_items"]
        assert value + o["taxes"] == pytest.approx(o["total"], abs=0.005)
    assert r.summary["order_totals_reconciled"].startswith("1,000 of 1,000 orders")

    # loading the same export again adds nothing (same bytes), refunds included
    again = ingest(ws, path)
    assert again.n_duplicate == n_lines and ws.scalar("SELECT count(*) FROM orders WHERE kind = 'return'") == len(refunded)


TINY_SHOPIFY = """Name,Email,Financial Status,Subtotal,Shipping,Taxes,Total,Discount Amount,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at,Refunded Amount,Vendor
#1,  Ann@Shop.COM ,paid,18.00,5.00,3.60,26.60,2.00,2024-03-01 10:00:00 +0100,2,Mug,5.00,MUG,,0.00,Acme
#1,ann@shop.com,,,,,,,2024-03-01 10:00:00 +0100,1,Tea,10.00,TEA,,,Acme
#2,ann@shop.com ,partially_refunded,40.00,0.00,10.00,50.00,0.00,2024-03-05 09:30:00 +0100,4,Tea,10.00,TEA,,25.00,Acme
#3,BOB@shop.com,refunded,10.00,0.00,0.00,10.00,0.00,2024-03-06 12:00:00 +0100,1,Tea,10.00,TEA,2024-03-08 08:00:00 +0100,10.00,Acme
#4,bob@shop.com,voided,5.00,0.00,0.00,5.00,0.00,2024-03-07 12:00:00 +0100,1,Mug,5.00,MUG,2024-03-07 12:05:00 +0100,0.00,Acme
"""


def test_tiny_shopify_export_gives_the_orders_written_by_hand(ws, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(TINY_SHOPIFY, encoding="utf-8")
    r = ingest(ws, path)
    assert r.preset == "shopify-orders" and r.n_accepted == 5
    assert ws.sql("SELECT customer_id FROM customers ORDER BY 1") == [("ann@shop.com",), ("bob@shop.com",)]
    got = ws.sql("SELECT o.order_id, o.customer_id, strftime(o.ordered_at, '%Y-%m-%d %H:%M'), o.kind, "
                 "o.discount_amount, o.shipping_amount, sum(l.quantity * l.unit_price) FROM orders o "
                 "JOIN order_lines l USING (order_id) GROUP BY ALL ORDER BY 1")
    assert got == [
        # 2 x 5 + 1 x 10 = 20 of goods, 2 of discount: 18 = Subtotal; 18 + 5 + 3.60 = 26.60 = Total
        # times are stored in UTC (docs/ingest.md, Time zones): 10:00 +0100 is 09:00
        ("#1", "ann@shop.com", "2024-03-01 09:00", "sale", 2.0, 5.0, 20.0),
        ("#2", "ann@shop.com", "2024-03-05 08:30", "sale", 0.0, 0.0, 40.0),
        # 25 refunded of a 50 total holding 40 of goods (10 of tax): 25 x 40 / 50 = 20 of goods returned
        ("#2/refund", "ann@shop.com", "2024-03-05 08:30", "return", 0.0, 0.0, 20.0),
        ("#3", "bob@shop.com", "2024-03-06 11:00", "sale", 0.0, 0.0, 10.0),
        # a full refund returns the sale's value, on the cancellation date
        ("#3/refund", "bob@shop.com", "2024-03-08 07:00", "return", 0.0, 0.0, 10.0),
        ("#4", "bob@shop.com", "2024-03-07 11:00", "adjustment", 0.0, 0.0, 5.0),
    ]
    assert ws.sql("SELECT product_id, is_merchandise FROM products ORDER BY 1") == [
        ("(refund)", False), ("MUG", True), ("TEA", True)]
    assert r.summary["orders_with_refunds"] == 2
    assert r.summary["order_totals_reconciled"].startswith("4 of 4 orders")


SHOPIFY_CUSTOMERS = """First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags
Ann,Lee, Ann@Shop.COM ,yes,,1 High St,,Leeds,,GB,LS1,,+44 111,no,76.60,2,,no,
Bob,Ray,bob@shop.com,no,,,,Paris,,FR,,,,no,15.00,2,,no,vip
Cy,,,no,,,,,,,,,,no,0.00,0,,no,
"""


def test_shopify_customers_export_shares_the_orders_customer_key(ws, tmp_path):
    (tmp_path / "customers_export.csv").write_text(SHOPIFY_CUSTOMERS, encoding="utf-8")
    (tmp_path / "orders_export.csv").write_text(TINY_SHOPIFY, encoding="utf-8")
    r = ingest(ws, tmp_path / "customers_export.csv")
    assert r.preset == "shopify-customers"
    assert (r.n_accepted, r.n_quarantined) == (2, 1)  # Cy has no e-mail: no key to join the orders on
    assert "Email: missing value, expected the customer's e-mail" in r.top_reasons[0][0]
    assert ws.sql("SELECT customer_id, name, city, country, phone FROM customers ORDER BY 1") == [
        ("ann@shop.com", "Ann Lee", "Leeds", "GB", "+44 111"), ("bob@shop.com", "Bob Ray", "Paris", "FR", None)]
    o = ingest(ws, tmp_path / "orders_export.csv")
    assert o.rows_added.get("customers", 0) == 0  # the orders' customers are the ones already loaded
    assert ws.scalar("SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT customer_id FROM customers)") == 0


# WooCommerce Customer/Order/Coupon Export, "one row per item" (order fields repeated on each item's row)
WOO_COLUMNS = [  # the extension's order data sources, in its order
    "order_id", "order_number", "order_number_formatted", "order_date", "status", "shipping_total",
    "shipping_tax_total", "fee_total", "fee_tax_total", "tax_total", "discount_total", "order_total",
    "refunded_total", "order_currency", "payment_method", "shipping_method", "customer_id", "billing_first_name",
    "billing_last_name", "billing_full_name", "billing_company", "vat_number", "billing_email", "billing_phone",
    "billing_address_1", "billing_address_2", "billing_postcode", "billing_city", "billing_state",
    "billing_state_code", "billing_country", "shipping_first_name", "shipping_last_name", "shipping_full_name",
    "shipping_address_1", "shipping_address_2", "shipping_postcode", "shipping_city", "shipping_state",
    "shipping_state_code", "shipping_country", "shipping_company", "customer_note", "item_id", "item_product_id",
    "item_name", "item_sku", "item_quantity", "item_subtotal", "item_subtotal_tax", "item_total", "item_total_tax",
    "item_refunded", "item_refunded_qty", "item_meta", "item_price", "line_items", "shipping_items", "fee_items",
    "tax_items", "coupon_items", "refunds", "order_notes", "download_permissions",
]
WOO_STATUSES = ["completed"] * 10 + ["processing"] * 3 + ["refunded", "cancelled", "failed", "on-hold"]


def make_woocommerce_orders(path: Path, n_orders: int = 120, n_people: int = 50, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    catalog = [(f"W{i:02d}", f"Woo product {i}", round(4 + 3.25 * i, 2)) for i in range(1, 16)]
    people = [f"buyer{i}@shop.example" for i in range(n_people)]
    orders, rows = [], []
    for k in range(n_orders):
        email, status = rng.choice(people), rng.choice(WOO_STATUSES)
        items = rng.sample(catalog, rng.randint(1, 3))
        qtys = [rng.randint(1, 2) for _ in items]
        coupon = 0.15 if k % 4 == 0 else 0.0
        subs = [round(q * p, 2) for q, (_, _, p) in zip(qtys, items)]
        totals = [round(s * (1 - coupon), 2) for s in subs]
        goods, shipping = round(sum(totals), 2), 5.0
        tax = round(goods * 0.1, 2)
        total = round(goods + shipping + tax, 2)
        refunded = total if status == "refunded" else (round(totals[0] * 1.1, 2) if k % 9 == 0 and status == "completed" else 0.0)
        orders.append({"number": str(9000 + k), "email": email, "status": status, "goods": goods, "tax": tax,
                       "total": total, "refunded": refunded, "n_items": len(items)})
        for (sku, name, _), q, sub, tot in zip(items, qtys, subs, totals):
            row = dict.fromkeys(WOO_COLUMNS, "")
            row.update({"order_id": str(300 + k), "order_number": str(9000 + k),
                        "order_date": f"2024-05-{1 + k % 28:02d} 1{k % 10}:15:00", "status": status,
                        "shipping_total": "5.00", "shipping_tax_total": "0.00", "fee_total": "0.00",
                        "fee_tax_total": "0.00", "tax_total": f"{tax:.2f}", "discount_total": f"{sum(subs) - goods:.2f}",
                        "order_total": f"{total:.2f}", "refunded_total": f"{refunded:.2f}", "order_currency": "EUR",
                        "customer_id": "0" if k % 3 == 0 else str(1 + people.index(email)),
                        "billing_first_name": "B", "billing_last_name": email[:7],
                        "billing_email": _messy(email, rng), "billing_country": "DE", "shipping_country": "DE",
                        "item_name": name, "item_sku": sku, "item_quantity": q, "item_subtotal": f"{sub:.2f}",
                        "item_total": f"{tot:.2f}"})
            rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, WOO_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return orders


def test_woocommerce_export_ingests_with_no_flag(ws, tmp_path):
    path = tmp_path / "woo-orders-export.csv"
    orders = make_woocommerce_orders(path)
    r = ingest(ws, path)
    assert r.preset == "woocommerce-orders" and r.n_quarantined == 0
    assert r.n_accepted == sum(o["n_items"] for o in orders)
    emails = {o["email"] for o in orders}
    assert {x for (x,) in ws.sql("SELECT customer_id FROM customers")} == emails  # guests and accounts alike
    kinds = dict(ws.sql("SELECT order_id, kind FROM orders"))
    for o in orders:
        assert kinds[o["number"]] == ("adjustment" if o["status"] in ("cancelled", "failed") else "sale")
    refunded = {o["number"]: o for o in orders if o["refunded"] > 0}
    assert {o["status"] for o in refunded.values()} == {"refunded", "completed"}  # full and partial refunds
    returns = dict(ws.sql("SELECT o.order_id, sum(l.quantity * l.unit_price) FROM orders o JOIN order_lines l "
                          "USING (order_id) WHERE o.kind = 'return' GROUP BY 1"))
    assert set(returns) == {n + "/refund" for n in refunded}
    for n, o in refunded.items():
        assert returns[n + "/refund"] == pytest.approx(o["refunded"] * o["goods"] / o["total"], abs=0.0051)
    # lines (before discount) - line discounts + shipping + tax = order_total
    loaded = ws.sql("SELECT o.order_id, sum(l.quantity * l.unit_price - l.discount_amount) + o.shipping_amount "
                    "FROM orders o JOIN order_lines l USING (order_id) WHERE o.kind <> 'return' "
                    "GROUP BY o.order_id, o.shipping_amount")
    by_number = {o["number"]: o for o in orders}
    assert len(loaded) == len(orders)
    for n, value in loaded:
        assert value + by_number[n]["tax"] == pytest.approx(by_number[n]["total"], abs=0.005)
    assert r.summary["order_totals_reconciled"].startswith(f"{len(orders)} of {len(orders)} orders")


DATA = Path(__file__).parent / "data"


def test_known_public_exports_are_recognised_by_their_header(ws, tmp_path):
    r = ingest(ws, DATA / "online_retail_tiny.csv")
    assert r.preset == "online-retail" and "preset_recognised_from" in r.summary
    # a multi-file dataset's folder too
    results = ingest(ws, DATA / "olist_tiny")
    assert {x.preset for x in results} == {"olist"}
    # a file of the set that holds no table is recognised, to say so
    with pytest.raises(IngestError, match="the category translation is a lookup, not a table"):
        ingest(ws, DATA / "olist_tiny" / "product_category_name_translation.csv")


def test_an_unknown_file_keeps_the_table_from_its_name_and_flags_still_win(ws, tmp_path):
    (tmp_path / "orders.csv").write_text("order_id,customer_id,ordered_at\no1,c1,2024-01-02\n", encoding="utf-8")
    r = ingest(ws, tmp_path / "orders.csv")
    assert r.preset is None and r.tables == ["orders"] and "preset_recognised_from" not in r.summary
    (tmp_path / "stuff.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(IngestError, match="which table does this file hold"):
        ingest(ws, tmp_path / "stuff.csv")
    # an explicit --table reads a Shopify export as a plain table: recognition only when nothing is said
    path = tmp_path / "export.csv"
    path.write_text(TINY_SHOPIFY, encoding="utf-8")
    with pytest.raises(IngestError, match="table 'orders' needs column"):
        ingest(ws, path, table="orders")


def test_cli_ingest_names_the_recognised_preset(tmp_path):
    from typer.testing import CliRunner

    from shopseg.cli import app

    path = tmp_path / "orders_export.csv"
    path.write_text(TINY_SHOPIFY, encoding="utf-8")
    out = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "ingest", str(path)])
    assert out.exit_code == 0, out.output
    assert "(preset shopify-orders)" in out.output
    assert "preset recognised from: the header (columns Name, Email, Financial Status, Subtotal, ...)" in out.output
    assert "orders with refunds: 2" in out.output


# Magento / Adobe Commerce: Sales > Orders grid exported as CSV, with the optional columns switched on
MAGENTO_COLUMNS = [
    "ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Ship-to Name", "Grand Total (Base)",
    "Grand Total (Purchased)", "Status", "Billing Address", "Shipping Address", "Shipping Information",
    "Customer Email", "Customer Group", "Subtotal", "Shipping and Handling", "Customer Name", "Payment Method",
    "Total Refunded", "Allocated sources", "Braintree Transaction Source",
]
MAGENTO_STATUSES = ["Complete"] * 8 + ["Processing", "Pending", "Closed", "Canceled"]


def make_magento_orders(path: Path, n_orders: int = 80, n_people: int = 30, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    people = [f"client{i}@mage.example" for i in range(n_people)]
    orders, rows = [], []
    for k in range(n_orders):
        email, status = rng.choice(people), rng.choice(MAGENTO_STATUSES)
        subtotal = round(rng.uniform(10, 900), 2)
        shipping = 0.0 if subtotal > 100 else 7.5
        total = round(subtotal + shipping + round(subtotal * 0.08, 2), 2)
        refunded = total if status == "Closed" else (round(subtotal / 4, 2) if k % 10 == 0 and status == "Complete" else 0)
        hour = 1 + k % 12
        orders.append({"id": f"{100000001 + k:09d}", "email": email, "status": status, "subtotal": subtotal,
                       "shipping": shipping, "total": total, "refunded": refunded})
        rows.append({**dict.fromkeys(MAGENTO_COLUMNS, ""), "ID": f"{100000001 + k:09d}",
                     "Purchase Point": "Main Website\nMain Website Store\nDefault Store View",
                     "Purchase Date": f"Jun {1 + k % 28}, 2024 {hour}:05:00 {'AM' if k % 2 else 'PM'}",
                     "Bill-to Name": "Client " + email[6:8], "Grand Total (Base)": f"${total:,.2f}",
                     "Grand Total (Purchased)": f"${total:,.2f}", "Status": status,
                     "Customer Email": _messy(email, rng), "Customer Group": "General",
                     "Subtotal": f"${subtotal:,.2f}", "Shipping and Handling": f"${shipping:,.2f}",
                     "Payment Method": "checkmo", "Total Refunded": f"${refunded:,.2f}" if refunded else ""})
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, MAGENTO_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return orders


def test_magento_orders_grid_ingests_with_no_flag(ws, tmp_path):
    path = tmp_path / "export.csv"
    orders = make_magento_orders(path)
    r = ingest(ws, path)
    assert r.preset == "magento-orders" and (r.n_accepted, r.n_quarantined) == (len(orders), 0)
    assert {x for (x,) in ws.sql("SELECT customer_id FROM customers")} == {o["email"] for o in orders}
    got = {oid: (kind, value, ship, when) for oid, kind, value, ship, when in ws.sql(
        "SELECT o.order_id, o.kind, sum(l.quantity * l.unit_price), o.shipping_amount, "
        "strftime(o.ordered_at, '%H:%M') FROM orders o JOIN order_lines l USING (order_id) GROUP BY ALL")}
    for k, o in enumerate(orders):
        kind, value, ship, when = got[o["id"]]
        assert kind == ("adjustment" if o["status"] == "Canceled" else "sale")
        assert (value, ship) == (pytest.approx(o["subtotal"]), o["shipping"])  # "$1,234.50" read as 1234.5
        hour = 1 + k % 12
        assert when == f"{hour % 12 + (0 if k % 2 else 12):02d}:05"  # 12-hour clock with AM/PM
        if o["refunded"]:  # Closed = refunded in full: the return is the whole subtotal
            assert got[o["id"] + "/refund"][:2] == ("return", pytest.approx(
                o["refunded"] * o["subtotal"] / o["total"], abs=0.0051))
    assert sum(1 for o in orders if o["refunded"]) == sum(1 for v in got.values() if v[0] == "return") > 0
    assert ws.scalar("SELECT is_merchandise FROM products WHERE product_id = '(order subtotal)'") is False


def test_magento_grid_without_customer_email_says_which_column_to_add(ws, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("ID,Purchase Point,Purchase Date,Bill-to Name,Ship-to Name,Grand Total (Base),"
                    "Grand Total (Purchased),Status,Subtotal\n1,Main,\"Jun 1, 2024 1:05:00 PM\",A,A,$10.00,$10.00,"
                    "Complete,$10.00\n", encoding="utf-8")
    with pytest.raises(IngestError, match="needs the column Customer Email") as e:
        ingest(ws, path)
    assert "add Customer Email with the Columns control" in e.value.hint


# BigCommerce: Orders > Export, default template (one row per order; products in "Product Details")
BIGCOMMERCE_COLUMNS = [
    "Order ID", "Customer ID", "Customer Name", "Customer Email", "Customer Phone", "Order Date", "Order Status",
    "Subtotal (inc tax)", "Subtotal (ex tax)", "Tax Total", "Shipping Cost (inc tax)", "Shipping Cost (ex tax)",
    "Ship Method", "Handling Cost (inc tax)", "Handling Cost (ex tax)", "Store Credit Redeemed",
    "Gift Certificate Amount Redeemed", "Gift Certificate Code", "Gift Certificate Expiration Date",
    "Coupon Details", "Order Total (inc tax)", "Order Total (ex tax)", "Payment Method", "Total Quantity",
    "Total Shipped", "Date Shipped", "Order Currency Code", "Exchange Rate", "Order Notes", "Customer Message",
    "Billing First Name", "Billing Last Name", "Billing Company", "Billing Street 1", "Billing Street 2",
    "Billing Suburb", "Billing State", "Billing Zip", "Billing Country", "Billing Phone", "Billing Email",
    "Shipping First Name", "Shipping Last Name", "Shipping Company", "Shipping Street 1", "Shipping Street 2",
    "Shipping Suburb", "Shipping State", "Shipping Zip", "Shipping Country", "Shipping Phone", "Shipping Email",
    "Product Details", "Refund Amount", "Channel ID", "Channel Name",
]
BIGCOMMERCE_STATUSES = ["Completed"] * 6 + ["Shipped"] * 3 + ["Awaiting Fulfillment", "Refunded",
                                                               "Partially Refunded", "Cancelled", "Declined"]


def make_bigcommerce_orders(path: Path, n_orders: int = 100, n_people: int = 40, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    catalog = [(str(70 + i), f"BC-{i:02d}" if i % 5 else "", f"Item {i}, size {i % 3}", round(2 + 1.75 * i, 2))
               for i in range(1, 21)]
    people = [f"shopper{i}@bc.example" for i in range(n_people)]
    orders, rows = [], []
    for k in range(n_orders):
        email, status = rng.choice(people), rng.choice(BIGCOMMERCE_STATUSES)
        items = rng.sample(catalog, rng.randint(1, 4))
        qtys = [rng.randint(1, 3) for _ in items]
        lines = round(sum(q * p for q, (_, _, _, p) in zip(qtys, items)), 2)
        discount = round(lines * 0.1, 2) if k % 5 == 0 else 0.0
        tax = round((lines - discount) * 0.1, 2)
        total = round(lines - discount + 6.0 + tax, 2)
        refunded = total if status == "Refunded" else (round(total / 3, 2) if status == "Partially Refunded" else 0.0)
        details = " | ".join(
            f"Product ID: {pid}, Product Qty: {q}, Product SKU: {sku}, Product Name: {name}, Product Weight: 1.0000, "
            f"Product Variation Details: , Product Unit Price: ${p:.2f}, Product Total Price: ${q * p:.2f}"
            for q, (pid, sku, name, p) in zip(qtys, items))
        orders.append({"id": str(100 + k), "email": email, "status": status, "lines": lines, "discount": discount,
                       "tax": tax, "total": total, "refunded": refunded, "items": list(zip(qtys, items))})
        rows.append({**dict.fromkeys(BIGCOMMERCE_COLUMNS, ""), "Order ID": str(100 + k), "Customer ID": "0",
                     "Customer Name": "Shopper " + email[7:9], "Customer Email": _messy(email, rng),
                     "Order Date": f"{1 + k % 12:02d}/{1 + k % 28:02d}/2024", "Order Status": status,
                     "Subtotal (inc tax)": f"${lines * 1.1:.2f}", "Subtotal (ex tax)": f"${lines:.2f}",
                     "Tax Total": f"${tax:.2f}", "Shipping Cost (inc tax)": "$6.00", "Shipping Cost (ex tax)": "$6.00",
                     "Handling Cost (inc tax)": "$0.00", "Handling Cost (ex tax)": "$0.00",
                     "Coupon Details": "Coupon Code: TEN" if discount else "",
                     "Order Total (inc tax)": f"${total:,.2f}", "Order Total (ex tax)": f"${total - tax:,.2f}",
                     "Billing Email": email, "Billing Country": "United States", "Shipping Country": "United States",
                     "Product Details": details, "Refund Amount": f"${refunded:.2f}", "Channel ID": "1",
                     "Channel Name": "Storefront"})
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, BIGCOMMERCE_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return orders


def test_bigcommerce_orders_export_ingests_with_no_flag(ws, tmp_path):
    path = tmp_path / "orders-2024.csv"
    orders = make_bigcommerce_orders(path)
    r = ingest(ws, path)
    assert r.preset == "bigcommerce-orders" and (r.n_accepted, r.n_quarantined) == (len(orders), 0)
    assert {x for (x,) in ws.sql("SELECT customer_id FROM customers")} == {o["email"] for o in orders}
    n_items = sum(len(o["items"]) for o in orders)
    refunded = {o["id"]: o for o in orders if o["refunded"] > 0}
    assert r.rows_added["order_lines"] == n_items + len(refunded)
    kinds = dict(ws.sql("SELECT order_id, kind FROM orders"))
    lines = {(oid, n): (p, q, u) for oid, n, p, q, u in ws.sql(
        "SELECT order_id, line_no, product_id, quantity, unit_price FROM order_lines")}
    for o in orders:
        assert kinds[o["id"]] == ("adjustment" if o["status"] in ("Cancelled", "Declined") else "sale")
        for n, (q, (pid, sku, _, price)) in enumerate(o["items"], start=1):  # "Product Details", entry by entry
            assert lines[(o["id"], n)] == (sku or f"bigcommerce:{pid}", q, price)
    assert ws.scalar("SELECT name FROM products WHERE product_id = 'BC-01'") == "Item 1, size 1"  # commas kept
    value = dict(ws.sql("SELECT o.order_id, sum(l.quantity * l.unit_price) - o.discount_amount + o.shipping_amount "
                        "FROM orders o JOIN order_lines l USING (order_id) GROUP BY o.order_id, o.discount_amount, "
                        "o.shipping_amount"))
    for o in orders:  # goods - coupon + shipping + tax = Order Total (inc tax)
        assert value[o["id"]] + o["tax"] == pytest.approx(o["total"], abs=0.005)
        if o["id"] in refunded:
            share = o["refunded"] * (o["lines"] - o["discount"]) / o["total"]
            assert kinds[o["id"] + "/refund"] == "return"
            assert value[o["id"] + "/refund"] == pytest.approx(share, abs=0.0051)
    assert r.summary["order_lines_reconciled"].startswith(f"{len(orders)} of {len(orders)} orders")


def test_bigcommerce_unreadable_product_details_quarantine_the_order(ws, tmp_path):
    path = tmp_path / "orders.csv"
    header = ",".join(f'"{c}"' for c in BIGCOMMERCE_COLUMNS)
    good = dict.fromkeys(BIGCOMMERCE_COLUMNS, "")
    good.update({"Order ID": "1", "Customer Email": "a@b.c", "Order Date": "03/05/2024", "Order Status": "Completed",
                 "Subtotal (ex tax)": "10.00", "Order Total (inc tax)": "10.00",
                 "Product Details": "Product ID: 1, Product Qty: 2, Product SKU: X, Product Name: X, Product Unit Price: 5.00"})
    bad = {**good, "Order ID": "2", "Product Details": "Product ID: 1, Product Qty: 0, Product SKU: X, Product Unit Price: 5"}
    empty = {**good, "Order ID": "3", "Product Details": ""}
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(header + "\n")
        csv.DictWriter(f, BIGCOMMERCE_COLUMNS).writerows([good, bad, empty])
    from shopseg.config import load_config

    r = ingest(ws, path, config=load_config(overrides={"ingest": {"max_quarantine_share": 1.0}}))  # 2 of 3 bad
    assert (r.n_accepted, r.n_quarantined) == (1, 2)
    reasons = dict(ws.sql("SELECT row_number, reason FROM quarantine"))
    assert reasons[2].startswith("Product Details: expected entries \"Product Qty: n, Product SKU: ..., Product Unit "
                                 "Price: p\" separated by |, with n > 0 and p >= 0, got 1 unreadable of 1")
    assert reasons[3] == "Product Details: missing value, expected at least one product"
    assert ws.sql("SELECT order_id, line_no, quantity, unit_price FROM order_lines") == [("1", 1, 2.0, 5.0)]


@pytest.mark.parametrize("pii", ["hash", "separate"])
def test_the_email_key_is_pseudonymised_like_the_email(ws, tmp_path, pii):
    from shopseg.config import load_config

    path = tmp_path / "export.csv"
    path.write_text(TINY_SHOPIFY, encoding="utf-8")
    ingest(ws, path, config=load_config(overrides={"privacy": {"pii": pii}}))
    ids = ws.sql("SELECT customer_id, email FROM customers ORDER BY 1")
    assert len(ids) == 2 and all(i.startswith("hmac:") and i == e for i, e in ids)  # the id is the e-mail's pseudonym
    for table in ("orders", "customers"):  # no raw address left in the canonical tables
        assert ws.scalar(f"SELECT count(*) FROM {table} WHERE customer_id LIKE '%@%'") == 0
    assert ws.scalar("SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT customer_id FROM customers)") == 0
    assert ws.scalar("SELECT count(*) FROM orders WHERE kind = 'return' AND customer_id LIKE 'hmac:%'") == 2
    raw = ws.sql("SELECT email FROM customer_pii ORDER BY 1")
    assert raw == ([("ann@shop.com",), ("bob@shop.com",)] if pii == "separate" else [])


def test_the_shopify_currency_column_names_the_shops_currency(ws, tmp_path):
    from shopseg.report._units import shop_currency

    path = tmp_path / "orders_export.csv"
    make_shopify_orders(path, n_orders=20, n_people=10)
    r = ingest(ws, path)
    assert r.summary["currency"] == "USD"  # every order row of the export says USD
    assert shop_currency(ws, "auto") == "USD" and shop_currency(ws, "EUR") == "EUR"


def test_an_export_in_two_currencies_names_none(ws, tmp_path):
    from shopseg.report._units import shop_currency

    path = tmp_path / "orders_export.csv"
    make_shopify_orders(path, n_orders=20, n_people=10)
    text = path.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",").index("Currency")
    rows = [line.split(",") for line in text[1:]]
    for row in rows[len(rows) // 2:]:
        if row[header] == "USD":
            row[header] = "EUR"
    path.write_text("\n".join([text[0], *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    r = ingest(ws, path)
    assert r.summary["currency"] == "EUR, USD"
    assert shop_currency(ws, "auto") == ""  # amounts without a currency rather than the wrong one


# One product sold four times under two names, twice each, the later-sorting name first in the file: the name
# kept is the first by sort order ("Mug"), every time (DuckDB's mode() alone returns either of two tied values:
# "Mug blue" for this file on all three presets).
TIED_NAMES = ["Mug blue", "Mug", "Mug blue", "Mug"]


def _tied_shopify(path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, SHOPIFY_ORDER_COLUMNS)
        w.writeheader()
        for k, name in enumerate(TIED_NAMES):
            w.writerow({**dict.fromkeys(SHOPIFY_ORDER_COLUMNS, ""), "Name": f"#{k + 1}", "Email": "ann@shop.com",
                        "Financial Status": "paid", "Subtotal": "10.00", "Shipping": "0.00", "Taxes": "0.00",
                        "Total": "10.00", "Discount Amount": "0.00", "Created at": f"2024-03-0{k + 1} 10:00:00",
                        "Lineitem quantity": "1", "Lineitem name": name, "Lineitem price": "10.00",
                        "Lineitem sku": "TEA", "Refunded Amount": "0.00"})


def _tied_woocommerce(path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, WOO_COLUMNS)
        w.writeheader()
        for k, name in enumerate(TIED_NAMES):
            w.writerow({**dict.fromkeys(WOO_COLUMNS, ""), "order_id": str(300 + k), "order_number": str(9000 + k),
                        "order_date": f"2024-05-0{k + 1} 10:15:00", "status": "completed", "shipping_total": "0.00",
                        "shipping_tax_total": "0.00", "fee_total": "0.00", "fee_tax_total": "0.00",
                        "tax_total": "0.00", "discount_total": "0.00", "order_total": "10.00",
                        "refunded_total": "0.00", "customer_id": "1", "billing_email": "ann@shop.com",
                        "item_name": name, "item_sku": "TEA", "item_quantity": "1", "item_subtotal": "10.00",
                        "item_total": "10.00"})


def _tied_bigcommerce(path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, BIGCOMMERCE_COLUMNS)
        w.writeheader()
        for k, name in enumerate(TIED_NAMES):
            w.writerow({**dict.fromkeys(BIGCOMMERCE_COLUMNS, ""), "Order ID": str(100 + k), "Customer ID": "0",
                        "Customer Email": "ann@shop.com", "Order Date": f"0{k + 1}/02/2024",
                        "Order Status": "Completed", "Subtotal (ex tax)": "$10.00", "Tax Total": "$0.00",
                        "Shipping Cost (ex tax)": "$0.00", "Handling Cost (ex tax)": "$0.00",
                        "Order Total (inc tax)": "$10.00", "Order Total (ex tax)": "$10.00",
                        "Product Details": f"Product ID: 70, Product Qty: 1, Product SKU: TEA, Product Name: {name}, "
                                           "Product Weight: 1.0000, Product Variation Details: , Product Unit Price: "
                                           "$10.00, Product Total Price: $10.00",
                        "Refund Amount": "$0.00"})


@pytest.mark.parametrize("write, preset", [(_tied_shopify, "shopify-orders"),
                                           (_tied_woocommerce, "woocommerce-orders"),
                                           (_tied_bigcommerce, "bigcommerce-orders")])
def test_a_product_name_tie_goes_to_the_first_name(ws, tmp_path, write, preset):
    path = tmp_path / "export.csv"
    write(path)
    r = ingest(ws, path)
    assert r.preset == preset and r.n_accepted == 4
    assert ws.sql("SELECT product_id, name FROM products ORDER BY 1") == [("TEA", "Mug")]
