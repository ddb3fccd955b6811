"""The Magento / Adobe Commerce orders-grid preset: one row per order, no line items
(:mod:`shopseg.ingest._platforms` states the conventions)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..errors import IngestError
from ._plan import Plan
from ._read import SourceInfo
from ._sql import ident, literal
from ._sql import text_or_null as _t
from ._preset_base import _pick
from ._platform_common import (PLATFORM_DATE_FORMATS, _money, _orders_with_status, _refunds_after,
                               _status_counts, email_key)


MAGENTO_ORDERS_SIGNATURE = ("ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Grand Total (Base)")
# status labels of orders that never became a sale (the grid exports labels, not codes)
MAGENTO_NOT_SOLD = ("canceled", "cancelled", "pending payment", "suspected fraud")
MAGENTO_ORDER_PRODUCT = "(order subtotal)"
# the grid exports dates as the admin shows them ("Mar 5, 2024 2:22:10 PM" in en_US), or ISO
MAGENTO_DATE_FORMATS = ["%b %d, %Y %I:%M:%S %p", "%b %d, %Y %I:%M %p", "%b %d, %Y", *PLATFORM_DATE_FORMATS]


def _magento_orders(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "orders", {"id": ("ID",), "date": ("Purchase Date",), "status": ("Status",),
                                      "total": ("Grand Total (Base)",), "subtotal": ("Subtotal",)})
    low = {x.lower(): ident(x) for x in info.columns}
    if "customer email" not in low:
        raise IngestError(
            f"{path}: the magento-orders preset needs the column Customer Email (the customer key); "
            f"columns found: {', '.join(info.columns)}.",
            hint="In Sales > Orders, add Customer Email with the Columns control, then export again.")

    def opt(name: str) -> str:
        return _t(low[name]) if name in low else "CAST(NULL AS VARCHAR)"

    def money(name: str) -> str:
        return _money("s." + low[name]) if name in low else "CAST(NULL AS DOUBLE)"

    total, status = _money("s." + c["total"]), f"lower({_t('s.' + c['status'])})"
    # a Closed order was refunded in full (credit memo): its Total Refunded, else its Grand Total
    refunded = (f"CASE WHEN {status} = 'closed' THEN coalesce({money('total refunded')}, {total}) "
                f"ELSE {money('total refunded')} END")
    enrich = (
        f"SELECT *, CASE WHEN _refunded > 0 AND _total > 0 THEN _refunded * least(greatest(coalesce(_subtotal, "
        f"_total), 0) / _total, 1) END AS _refund_value FROM ("
        f"SELECT s.*, {_t('s.' + c['id'])} AS _order, {email_key('s.' + low['customer email'])} AS _email, "
        f"{status} AS _status, {_t('s.' + c['date'])} AS _created, {total} AS _total, "
        f"{_money('s.' + c['subtotal'])} AS _subtotal, {money('shipping and handling')} AS _shipping, "
        f"{refunded} AS _refunded, CAST(NULL AS VARCHAR) AS _refund_at FROM _src s)")
    return Plan(
        primary="order_lines", preset="magento-orders", enrich=enrich, key_is_pii=True,
        exprs={
            "customers": {"customer_id": "_email", "email": "_email",
                          "name": f"coalesce({opt('customer name')}, {opt('bill-to name')})"},
            "products": {"product_id": literal(MAGENTO_ORDER_PRODUCT), "name": "'Order subtotal (no line items in the export)'",
                         "is_merchandise": "'false'"},
            "orders": {"order_id": "_order", "customer_id": "_email", "ordered_at": "_created",
                       "kind": f"CASE WHEN _status IN ({', '.join(literal(s) for s in MAGENTO_NOT_SOLD)}) "
                               f"THEN 'adjustment' ELSE 'sale' END",
                       "channel": opt("purchase point"), "shipping_amount": "coalesce(_shipping, 0)"},
            # one line per order: the subtotal (goods before discounts and tax; the grid has no line items)
            "order_lines": {"order_id": "_order", "line_no": "'1'", "product_id": literal(MAGENTO_ORDER_PRODUCT),
                            "quantity": "'1'", "unit_price": "_subtotal"},
        },
        formats={"orders.ordered_at": MAGENTO_DATE_FORMATS},
        after=_refunds_after(MAGENTO_DATE_FORMATS),
    )


def _magento_orders_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    n, n_ref, refunded, rest = con.execute(
        "SELECT count(DISTINCT _order), count(DISTINCT _order) FILTER (WHERE _refunded > 0), "
        "coalesce(sum(_refunded), 0), coalesce(sum(_total - _subtotal - coalesce(_shipping, 0)), 0) FROM _src"
    ).fetchone()
    return {
        "orders_in_file": n,
        "order_statuses_in_file": _status_counts(con, "_status"),
        "not_sold_loaded_as_adjustment": _orders_with_status(con, "_status", MAGENTO_NOT_SOLD),
        "orders_with_refunds": n_ref,
        "refunded_amount_in_file": f"{refunded:,.2f} (loaded as return orders, goods share only)",
        "order_totals": f"Grand Total = Subtotal + Shipping and Handling + {rest:,.2f} of tax minus discounts "
                        f"(not in the grid export, not loaded)",
        "customers_in_file": con.execute("SELECT count(DISTINCT _email) FROM _src").fetchone()[0],
    }


# -- BigCommerce: Orders > Export, default template (one row per order; products in "Product Details") -----------
