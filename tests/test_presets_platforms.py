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
            row.update({"Name": name, "Email": _messy(email, rng) if email else "", "Created at": created,
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
    print(r.describe())
