"""The Shopify presets: the orders export (one row per line item) and the customers export
(:mod:`shopseg.ingest._platforms` states the conventions)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ._plan import Plan
from ._read import SourceInfo
from ._sql import first_mode, ident, literal
from ._sql import text_or_null as _t
from ._preset_base import _pick
from ._platform_common import (PLATFORM_DATE_FORMATS, _num, _per_order,
                               _platform_summary, _refunds_after, email_key)

SHOPIFY_NOT_SOLD = ("voided",)  # Financial Status of orders loaded as kind 'adjustment'

# -- Shopify: orders export ------------------------------------------------------------------------------

SHOPIFY_ORDERS_SIGNATURE = ("Name", "Financial Status", "Lineitem quantity", "Lineitem name", "Lineitem price")


def _shopify_orders(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "order_lines", {
        "name": ("Name",), "email": ("Email",), "status": ("Financial Status",), "created": ("Created at",),
        "subtotal": ("Subtotal",), "shipping": ("Shipping",), "taxes": ("Taxes",), "total": ("Total",),
        "discount": ("Discount Amount",), "refunded": ("Refunded Amount",),
        "qty": ("Lineitem quantity",), "item": ("Lineitem name",), "price": ("Lineitem price",),
        "sku": ("Lineitem sku",),
    })
    low = {x.lower(): ident(x) for x in info.columns}

    def col(name: str) -> str | None:  # an optional column, None when the export lacks it
        return low.get(name.lower())

    cancelled = col("Cancelled at")
    per_order = {
        "_email": email_key(c["email"]),
        "_status": f"lower({_t(c['status'])})",
        "_created": _t(c["created"]),
        "_subtotal": _num(c["subtotal"]), "_shipping": _num(c["shipping"]), "_taxes": _num(c["taxes"]),
        "_total": _num(c["total"]), "_discount": _num(c["discount"]), "_refunded": _num(c["refunded"]),
        "_refund_at": _t(cancelled) if cancelled else "CAST(NULL AS VARCHAR)",
    }
    for key, name in (("_bill_name", "Billing Name"), ("_bill_city", "Billing City"),
                      ("_bill_country", "Billing Country"), ("_ship_country", "Shipping Country"),
                      ("_phone", "Phone")):
        per_order[key] = _t(col(name)) if col(name) else "CAST(NULL AS VARCHAR)"
    enrich = _per_order(c["name"], "_order", per_order)
    # refund value: the goods' share of the refunded amount; reconciliation inputs per row
    enrich = (f"SELECT *, CASE WHEN coalesce(_refunded, 0) > 0 AND _total > 0 THEN _refunded * "
              f"least(greatest(coalesce(_subtotal, _total), 0) / _total, 1) END AS _refund_value, "
              f"TRY_CAST({_t(c['qty'])} AS DOUBLE) * TRY_CAST({_t(c['price'])} AS DOUBLE) AS _line_value, "
              f"coalesce(_shipping, 0) + coalesce(_taxes, 0) - coalesce(_discount, 0) AS _extras "
              f"FROM ({enrich})")
    sku = f"coalesce({_t(c['sku'])}, {_t(c['item'])})"
    vendor = col("Vendor")
    return Plan(
        primary="order_lines", preset="shopify-orders", enrich=enrich, key_is_pii=True,
        exprs={
            "customers": {"customer_id": "_email", "email": "_email", "name": "_bill_name",
                          "phone": "_phone", "city": "_bill_city", "country": "_bill_country"},
            "products": {"product_id": sku, "name": c["item"], "price": c["price"],
                         **({"brand": vendor} if vendor else {})},
            "orders": {"order_id": "_order", "customer_id": "_email", "ordered_at": "_created",
                       "kind": f"CASE WHEN _status IN ({', '.join(literal(s) for s in SHOPIFY_NOT_SOLD)}) "
                               f"THEN 'adjustment' ELSE 'sale' END",
                       "channel": "'web'", "country": "coalesce(_ship_country, _bill_country)",
                       "discount_amount": "coalesce(_discount, 0)", "shipping_amount": "coalesce(_shipping, 0)"},
            "order_lines": {"order_id": "_order", "product_id": sku, "quantity": c["qty"],
                            "unit_price": c["price"]},
        },
        formats={"orders.ordered_at": PLATFORM_DATE_FORMATS},
        # a tie between two names goes to the first by sort order (mode alone: either, from run to run)
        aggregates={"products": {"name": first_mode("products__name"),
                                 "price": "median(products__price)"}},
        after=_refunds_after(PLATFORM_DATE_FORMATS),
    )


def _shopify_orders_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    out = _platform_summary(con, "_status", SHOPIFY_NOT_SOLD)
    out["customers_in_file"] = con.execute("SELECT count(DISTINCT _email) FROM _src").fetchone()[0]
    out["guest_orders_in_file"] = con.execute(
        "SELECT count(DISTINCT _order) FROM _src WHERE _email IS NULL").fetchone()[0]
    currency = next((ident(c) for c in info.columns if c.lower() == "currency"), None)
    if currency:  # the shop's currency as the export states it (the report writes money with it, docs/presets.md)
        codes = [c for (c,) in con.execute(
            f"SELECT DISTINCT upper(trim({currency})) AS c FROM _src WHERE nullif(trim({currency}), '') IS NOT NULL "
            "ORDER BY c").fetchall()]
        if codes:
            out["currency"] = ", ".join(codes)
    return out


# -- Shopify: customers export ------------------------------------------------------------------------------

SHOPIFY_CUSTOMERS_SIGNATURE = ("First Name", "Last Name", "Email", "Total Spent", "Total Orders")


def _shopify_customers(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "customers", {"first": ("First Name",), "last": ("Last Name",), "email": ("Email",)})
    low = {x.lower(): ident(x) for x in info.columns}

    def first(*names: str) -> str:
        found = [_t(low[n.lower()]) for n in names if n.lower() in low]
        return f"coalesce({', '.join(found)})" if found else "CAST(NULL AS VARCHAR)"

    return Plan(
        primary="customers", preset="shopify-customers", key_is_pii=True,
        exprs={"customers": {
            "customer_id": email_key(c["email"]), "email": email_key(c["email"]),
            "name": f"nullif(concat_ws(' ', {_t(c['first'])}, {_t(c['last'])}), '')",
            "phone": first("Phone", "Default Address Phone"),
            "address": first("Default Address Address1", "Address1"),
            "city": first("Default Address City", "City"),
            "country": first("Default Address Country Code", "Country Code", "Country"),
        }},
        checks=[("Email", f"CASE WHEN {email_key(c['email'])} IS NULL THEN 'missing value, expected the "
                          f"customer''s e-mail (the customer key shared with the orders export)' END")],
    )


# -- WooCommerce: order export, one row per line item ---------------------------------------------------------
