"""The BigCommerce orders preset: one row per order, its products packed in ``Product Details``
(:mod:`shopseg.ingest._platforms` states the conventions)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ._plan import Plan
from ._read import SourceInfo
from ._sql import first_mode, ident, literal
from ._sql import text_or_null as _t
from ._preset_base import _pick
from ._platform_common import (PLATFORM_DATE_FORMATS, _money, _orders_with_status, _refunds_after,
                               _status_counts, email_key)


BIGCOMMERCE_ORDERS_SIGNATURE = ("Order ID", "Customer Email", "Order Date", "Order Status", "Product Details")
# statuses of orders that never became a sale
BIGCOMMERCE_NOT_SOLD = ("cancelled", "declined", "incomplete", "pending", "awaiting payment")
BIGCOMMERCE_DATE_FORMATS = ["%b %d %Y", *PLATFORM_DATE_FORMATS]


def _bc_key(key: str, last: bool = False) -> str:
    """SQL over one "Product Details" entry ``e``: the text after "Product <key>:" up to the next ", Product ...:"."""
    if last:  # a name may hold commas: up to the next key, else to the end of the entry
        return (f"trim(coalesce(nullif(regexp_extract(e, 'Product {key}:\\s*(.*?)\\s*,\\s*Product [A-Za-z ]+:', 1), ''), "
                f"regexp_extract(e, 'Product {key}:\\s*(.*)$', 1)))")
    return f"trim(regexp_extract(e, 'Product {key}:\\s*([^,]*)', 1))"


def _bigcommerce_items(col: str) -> str:
    """``Product Details`` as a list of {id, qty, sku, name, unit}: entries split on "|"."""
    unit = f"TRY_CAST(nullif(regexp_replace({_bc_key('Unit Price')}, '[^0-9.-]', '', 'g'), '') AS DOUBLE)"
    return (f"list_transform(list_filter(string_split(coalesce({_t(col)}, ''), '|'), lambda e: trim(e) <> ''), "
            f"lambda e: {{'id': nullif({_bc_key('ID')}, ''), 'qty': TRY_CAST({_bc_key('Qty')} AS DOUBLE), "
            f"'sku': nullif({_bc_key('SKU')}, ''), 'name': nullif({_bc_key('Name', last=True)}, ''), "
            f"'unit': {unit}}})")


def _bigcommerce_orders(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "orders", {
        "id": ("Order ID",), "email": ("Customer Email",), "date": ("Order Date",), "status": ("Order Status",),
        "subtotal": ("Subtotal (ex tax)",), "total": ("Order Total (inc tax)",), "products": ("Product Details",),
    })
    low = {x.lower(): ident(x) for x in info.columns}

    def opt(name: str) -> str:
        return _t("s." + low[name]) if name in low else "CAST(NULL AS VARCHAR)"

    def money(name: str) -> str:
        return _money("s." + low[name]) if name in low else "CAST(NULL AS DOUBLE)"

    date = f"regexp_replace({_t('s.' + c['date'])}, '(\\d)(st|nd|rd|th)\\b', '\\1')"
    if "order time" in low:
        date = f"concat_ws(' ', {date}, {opt('order time')})"
    status = f"lower({_t('s.' + c['status'])})"
    total = _money("s." + c["total"])
    refunded = (f"CASE WHEN {status} = 'refunded' THEN coalesce({money('refund amount')}, {total}) "
                f"ELSE {money('refund amount')} END")
    # discounts (coupons) have no amount column: the part of goods, shipping, handling and tax the total does not cover
    discount = ("greatest(round(coalesce(_subtotal, 0) + coalesce(_shipping, 0) + coalesce(_handling, 0) "
                "+ coalesce(_taxes, 0) - coalesce(_total, 0), 2), 0)")
    enrich = (
        f"SELECT *, CASE WHEN _refunded > 0 AND _total > 0 THEN _refunded * least(greatest(coalesce(_subtotal, "
        f"_total) - {discount}, 0) / _total, 1) END AS _refund_value, {discount} AS _discount, "
        f"len(list_filter(_items, lambda i: coalesce(i.qty <= 0 OR i.unit < 0, TRUE) "
        f"OR (i.sku IS NULL AND i.name IS NULL AND i.id IS NULL))) AS _bad_items, "
        f"list_sum(list_transform(_items, lambda i: i.qty * i.unit)) AS _line_sum FROM ("
        f"SELECT s.*, {_t('s.' + c['id'])} AS _order, "
        f"coalesce({email_key('s.' + c['email'])}, {email_key('s.' + low['billing email']) if 'billing email' in low else 'NULL'}) AS _email, "
        f"{status} AS _status, {date} AS _created, {total} AS _total, "
        f"{_money('s.' + c['subtotal'])} AS _subtotal, {money('shipping cost (ex tax)')} AS _shipping, "
        f"{money('handling cost (ex tax)')} AS _handling, {money('tax total')} AS _taxes, "
        f"{refunded} AS _refunded, CAST(NULL AS VARCHAR) AS _refund_at, "
        f"{_bigcommerce_items('s.' + c['products'])} AS _items FROM _src s)")
    name = (f"coalesce({_t(low['customer name'])}, " if "customer name" in low else "coalesce(") + \
        f"nullif(concat_ws(' ', {_t(low['billing first name']) if 'billing first name' in low else 'NULL'}, " \
        f"{_t(low['billing last name']) if 'billing last name' in low else 'NULL'}), ''))"
    after_refunds = _refunds_after(BIGCOMMERCE_DATE_FORMATS)

    def after(con: duckdb.DuckDBPyConnection, ingest_id: int) -> dict[str, int]:
        # the lines of the orders written by this ingest, one per "Product Details" entry
        con.execute(
            "CREATE TEMP TABLE _bc_lines AS SELECT s._order AS order_id, CAST(generate_subscripts(s._items, 1) AS BIGINT) "
            "AS line_no, unnest(s._items) AS i FROM _src s JOIN _fated f USING (_row) WHERE f._fate = 'accepted'")
        con.execute("CREATE TEMP TABLE _bc_items AS SELECT order_id, line_no, "
                    "coalesce(i.sku, 'bigcommerce:' || i.id, i.name) AS product_id, i.name, i.qty, i.unit FROM _bc_lines")
        before = con.execute("SELECT count(*) FROM products").fetchone()[0]
        con.execute(
            f"INSERT INTO products BY NAME SELECT product_id, {first_mode('name')} AS name, median(unit) AS price, "
            f"true AS is_merchandise, true AS is_available, {int(ingest_id)} AS ingest_id FROM _bc_items "
            f"WHERE product_id NOT IN (SELECT product_id FROM products) GROUP BY product_id")
        n_products = con.execute("SELECT count(*) FROM products").fetchone()[0] - before
        con.execute(
            f"INSERT INTO order_lines BY NAME SELECT order_id, line_no, product_id, qty AS quantity, unit AS unit_price, "
            f"0.0 AS discount_amount, {int(ingest_id)} AS ingest_id FROM _bc_items")
        n_lines = con.execute("SELECT count(*) FROM _bc_items").fetchone()[0]
        con.execute("DROP TABLE _bc_items")
        con.execute("DROP TABLE _bc_lines")
        added = {"products": n_products, "order_lines": n_lines}
        for t, n in after_refunds(con, ingest_id).items():
            added[t] = added.get(t, 0) + n
        return {t: n for t, n in added.items() if n}

    return Plan(
        primary="orders", preset="bigcommerce-orders", enrich=enrich, key_is_pii=True,
        exprs={
            "customers": {"customer_id": "_email", "email": "_email", "name": name,
                          **({"phone": _t(low["customer phone"])} if "customer phone" in low else {}),
                          **({"country": _t(low["billing country"])} if "billing country" in low else {})},
            "orders": {"order_id": "_order", "customer_id": "_email", "ordered_at": "_created",
                       "kind": f"CASE WHEN _status IN ({', '.join(literal(s) for s in BIGCOMMERCE_NOT_SOLD)}) "
                               f"THEN 'adjustment' ELSE 'sale' END",
                       "channel": _t(low["channel name"]) if "channel name" in low else "'web'",
                       "country": _t(low["shipping country"]) if "shipping country" in low else "NULL",
                       "discount_amount": "_discount", "shipping_amount": "coalesce(_shipping, 0) + coalesce(_handling, 0)"},
        },
        formats={"orders.ordered_at": BIGCOMMERCE_DATE_FORMATS},
        checks=[("Product Details",
                 "CASE WHEN len(_items) = 0 THEN 'missing value, expected at least one product' "
                 "WHEN _bad_items > 0 THEN 'expected entries \"Product Qty: n, Product SKU: ..., Product Unit Price: "
                 "p\" separated by |, with n > 0 and p >= 0, got ' || _bad_items || ' unreadable of ' || len(_items) END")],
        after=after,
    )


def _bigcommerce_orders_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    n, n_ref, refunded, n_ok, n_total = con.execute(
        "SELECT count(DISTINCT _order), count(DISTINCT _order) FILTER (WHERE _refunded > 0), "
        "coalesce(sum(_refunded), 0), count(*) FILTER (WHERE abs(_line_sum - _subtotal) < 0.005), "
        "count(_subtotal) FROM _src").fetchone()
    return {
        "orders_in_file": n,
        "order_statuses_in_file": _status_counts(con, "_status"),
        "not_sold_loaded_as_adjustment": _orders_with_status(con, "_status", BIGCOMMERCE_NOT_SOLD),
        "orders_with_refunds": n_ref,
        "refunded_amount_in_file": f"{refunded:,.2f} (loaded as return orders, goods share only)",
        "order_lines_reconciled": f"{n_ok:,} of {n_total:,} orders: Product Details qty x unit price = Subtotal (ex tax)",
        "customers_in_file": con.execute("SELECT count(DISTINCT _email) FROM _src").fetchone()[0],
    }
