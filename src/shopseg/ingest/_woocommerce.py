"""The WooCommerce orders preset: one row per line item (:mod:`shopseg.ingest._platforms` states the
conventions)."""

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

WOOCOMMERCE_NOT_SOLD = ("cancelled", "failed", "pending", "checkout-draft", "trash")  # status -> 'adjustment'

WOOCOMMERCE_ORDERS_SIGNATURE = ("order_id", "order_date", "status", "order_total", "item_quantity")


def _woocommerce_orders(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "order_lines", {
        "order": ("order_id",), "number": ("order_number",), "date": ("order_date",), "status": ("status",),
        "total": ("order_total",), "shipping": ("shipping_total",), "tax": ("tax_total",),
        "email": ("billing_email", "customer_email"),
        "item": ("item_name",), "qty": ("item_quantity",), "subtotal": ("item_subtotal",), "item_total": ("item_total",),
    })
    low = {x.lower(): ident(x) for x in info.columns}

    def opt(name: str) -> str:
        return _t(low[name]) if name in low else "CAST(NULL AS VARCHAR)"

    def money(name: str) -> str:
        return _num(low[name]) if name in low else "CAST(NULL AS DOUBLE)"

    per_order = {
        "_number": f"coalesce({_t(c['number'])}, {_t(c['order'])})",
        "_email": email_key(c["email"]), "_status": f"lower({_t(c['status'])})",
        "_created": _t(c["date"]),
        "_total": _num(c["total"]), "_shipping": _num(c["shipping"]), "_taxes": _num(c["tax"]),
        "_shipping_tax": money("shipping_tax_total"), "_fees": money("fee_total"), "_fee_tax": money("fee_tax_total"),
        "_refunded": money("refunded_total"),
        "_bill_name": f"nullif(concat_ws(' ', {opt('billing_first_name')}, {opt('billing_last_name')}), '')",
        "_phone": opt("billing_phone"), "_bill_city": opt("billing_city"),
        "_bill_country": opt("billing_country"), "_ship_country": opt("shipping_country"),
        "_refund_at": "CAST(NULL AS VARCHAR)",
    }
    enrich = _per_order(c["order"], "_order_key", per_order)
    qty = f"TRY_CAST({_t(c['qty'])} AS DOUBLE)"
    subtotal, item_total = _num(c["subtotal"]), _num(c["item_total"])
    enrich = (
        f"SELECT *, _number AS _order, "
        f"CASE WHEN _status = 'refunded' THEN coalesce(_refunded, _total) ELSE _refunded END AS _refunded_all, "
        f"{qty} AS _qty, coalesce({subtotal}, {item_total}) AS _gross, "
        f"greatest(coalesce({subtotal}, {item_total}) - {item_total}, 0) AS _line_discount, "
        f"{item_total} AS _line_value, "
        f"coalesce(_shipping, 0) + coalesce(_taxes, 0) + coalesce(_shipping_tax, 0) + coalesce(_fees, 0) "
        f"+ coalesce(_fee_tax, 0) AS _extras, "
        f"sum({item_total}) OVER (PARTITION BY _order_key) AS _goods FROM ({enrich})")
    enrich = (f"SELECT * EXCLUDE (_refunded, _refunded_all), _refunded_all AS _refunded, "
              f"CASE WHEN _refunded_all > 0 AND _total > 0 THEN _refunded_all * least(greatest(_goods, 0) / _total, 1) "
              f"END AS _refund_value FROM ({enrich})")
    sku = f"coalesce({opt('item_sku')}, {_t(c['item'])})"
    return Plan(
        primary="order_lines", preset="woocommerce-orders", enrich=enrich, key_is_pii=True,
        exprs={
            "customers": {"customer_id": "_email", "email": "_email", "name": "_bill_name", "phone": "_phone",
                          "city": "_bill_city", "country": "_bill_country"},
            "products": {"product_id": sku, "name": c["item"], "price": "_gross / nullif(_qty, 0)"},
            "orders": {"order_id": "_order", "customer_id": "_email", "ordered_at": "_created",
                       "kind": f"CASE WHEN _status IN ({', '.join(literal(s) for s in WOOCOMMERCE_NOT_SOLD)}) "
                               f"THEN 'adjustment' ELSE 'sale' END",
                       "channel": "'web'", "country": "coalesce(_ship_country, _bill_country)",
                       "shipping_amount": "coalesce(_shipping, 0)"},
            # unit price before the line's discount (item_subtotal / quantity); the discount is item_subtotal - item_total
            "order_lines": {"order_id": "_order", "product_id": sku, "quantity": c["qty"],
                            "unit_price": "_gross / nullif(_qty, 0)", "discount_amount": "_line_discount"},
        },
        formats={"orders.ordered_at": PLATFORM_DATE_FORMATS},
        # a tie between two names goes to the first by sort order (mode alone: either, from run to run)
        aggregates={"products": {"name": first_mode("products__name"),
                                 "price": "median(products__price)"}},
        after=_refunds_after(PLATFORM_DATE_FORMATS),
    )


def _woocommerce_orders_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    out = {("order_statuses_in_file" if k == "financial_statuses_in_file" else k): v
           for k, v in _platform_summary(con, "_status", WOOCOMMERCE_NOT_SOLD).items()}
    out["customers_in_file"] = con.execute("SELECT count(DISTINCT _email) FROM _src").fetchone()[0]
    return out


# -- Magento / Adobe Commerce: the Sales > Orders grid exported as CSV (one row per order, no line items) ----------
