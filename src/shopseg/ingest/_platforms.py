"""Presets for shop-platform exports: Shopify (orders, customers), WooCommerce, Magento and BigCommerce (orders).

Shopify and WooCommerce export one row per line item; the order's own fields
(status, totals, e-mail) sit on the order's first row, or on every row.  The
presets read the order-level fields once per order (a window over the order
number in the plan's ``enrich`` step), so rows of one order always agree.
Magento's orders grid and BigCommerce's export have one row per order: Magento
gives no line items (one ``(order subtotal)`` line per order), BigCommerce packs
them into ``Product Details``, unpacked into lines in the plan's ``after`` step.

Conventions (``docs/presets.md`` documents them and cites the column lists):

- **Who is the customer**: the normalised e-mail (trimmed, lower-case).  The
  Shopify orders export has no customer id; WooCommerce's ``customer_id`` is 0
  for guests, and a guest checkout and an account with the same e-mail are one
  person.  An order without an e-mail is a guest order (NULL customer).
- **Kinds**: voided, cancelled, failed and unpaid-and-abandoned orders never
  became a sale: ``kind = 'adjustment'`` (as Olist's canceled orders).  Every
  other order is a ``sale``, refunded ones included: the sale happened.
- **Refunds** become a ``return`` order ``<order>/refund`` (on the cancellation
  date when there is one, else the order date) with one line of the product
  ``(refund)`` (``is_merchandise = false``) whose value is the goods' share of
  the refunded amount: ``refunded x goods / total`` (tax and shipping refunded
  in proportion are left out, as they are out of the sale's value).  A full
  refund thus returns exactly the sale's value.
- **Totals reconcile**: sale value (lines - discounts) + shipping + taxes =
  the file's order total; the summary counts the orders that do.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..errors import IngestError
from ._plan import Plan
from ._read import SourceInfo
from ._sql import ident, literal
from ._sql import text_or_null as _t
from ._preset_base import Preset, _pick

# The product of the one line of a refund's return order (not goods: out of baskets and recommendations).
REFUND_PRODUCT = "(refund)"
REFUND_SUFFIX = "/refund"
# A timestamp with a trailing UTC offset (" -0500", "+01:00", "Z") is stored in UTC, as on every route
# (ingest/_load.py _timestamp_sql); one without is stored as written.
PLATFORM_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                         "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"]
SHOPIFY_NOT_SOLD = ("voided",)  # Financial Status of orders loaded as kind 'adjustment'
WOOCOMMERCE_NOT_SOLD = ("cancelled", "failed", "pending", "checkout-draft", "trash")  # status -> 'adjustment'


def _num(col: str) -> str:
    """A money column as a number (thousands separators and currency signs are not expected in exports)."""
    return f"TRY_CAST({_t(col)} AS DOUBLE)"


def email_key(col: str) -> str:
    """The customer key of an e-mail: trimmed and lower-case, NULL when empty."""
    return f"nullif(lower(trim(CAST({col} AS VARCHAR))), '')"


def _per_order(order: str, key: str, cols: dict[str, str]) -> str:
    """``enrich``: each row, its order number as ``key``, and the order's first non-empty value of each column
    (order-level fields filled on the order's first row only, or on every row)."""
    win = f"OVER (PARTITION BY {_t('s.' + order)} ORDER BY s._row ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    extra = ", ".join(f"first_value({expr} IGNORE NULLS) {win} AS {name}" for name, expr in cols.items())
    return f"SELECT s.*, {_t('s.' + order)} AS {key}, {extra} FROM _src s"


def _refunds_after(date_formats: list[str]):
    """The ``after`` step of a platform plan: a return order per refunded order loaded or already present.

    Reads ``_order``, ``_refund_value`` and ``_refund_at`` of the rows that were accepted or were duplicates
    (so a later export of an order loaded earlier adds its refund once), and the order's loaded row.
    """
    from ._dates import timestamp_sql  # the one time-zone rule (docs/ingest.md, Time zones)

    def after(con: duckdb.DuckDBPyConnection, ingest_id: int) -> dict[str, int]:
        con.execute(
            f"CREATE TEMP TABLE _refunds AS SELECT o.order_id || {literal(REFUND_SUFFIX)} AS order_id, "
            f"o.customer_id, coalesce({timestamp_sql('r._refund_at', date_formats)}, o.ordered_at) AS ordered_at, "
            f"o.channel, o.country, round(r._refund_value, 2) AS value FROM ("
            f"  SELECT s._order, max(s._refund_value) AS _refund_value, max(s._refund_at) AS _refund_at "
            f"  FROM _src s JOIN _fated f USING (_row) WHERE f._fate IN ('accepted', 'duplicate') GROUP BY 1) r "
            f"JOIN orders o ON o.order_id = r._order "
            f"WHERE o.kind = 'sale' AND round(r._refund_value, 2) > 0 "
            f"AND o.order_id || {literal(REFUND_SUFFIX)} NOT IN (SELECT order_id FROM orders)")
        n = con.execute("SELECT count(*) FROM _refunds").fetchone()[0]
        if not n:
            return {}
        added = {}
        if not con.execute("SELECT count(*) FROM products WHERE product_id = ?", [REFUND_PRODUCT]).fetchone()[0]:
            con.execute(
                "INSERT INTO products (product_id, name, is_merchandise, is_available, ingest_id) "
                "VALUES (?, 'Refund (goods share of the refunded amount)', false, false, ?)",
                [REFUND_PRODUCT, ingest_id])
            added["products"] = 1
        con.execute(
            f"INSERT INTO orders BY NAME SELECT order_id, customer_id, ordered_at, 'return' AS kind, channel, country, "
            f"0.0 AS discount_amount, 0.0 AS shipping_amount, {int(ingest_id)} AS ingest_id FROM _refunds")
        con.execute(
            f"INSERT INTO order_lines BY NAME SELECT order_id, 1 AS line_no, {literal(REFUND_PRODUCT)} AS product_id, "
            f"1.0 AS quantity, value AS unit_price, 0.0 AS discount_amount, {int(ingest_id)} AS ingest_id "
            f"FROM _refunds")
        con.execute("DROP TABLE _refunds")
        return {**added, "orders": n, "order_lines": n}

    return after


def apply_key_privacy(plan: Plan, privacy) -> Plan:
    """Under ``privacy.pii`` = hash or separate, a plan whose customer key is the e-mail stores the e-mail's
    pseudonym as ``customer_id`` in every table (equal to ``customers.email``'s), so no raw address is left in
    the canonical tables; ``separate`` keeps the raw e-mail in ``customer_pii`` under that id."""
    if not plan.key_is_pii or privacy.policy == "keep":
        return plan
    from ..trust.pii import hmac_sql

    for cols in plan.exprs.values():
        if "customer_id" in cols:
            cols["customer_id"] = hmac_sql(cols["customer_id"], privacy.key, column="email")
    return plan


def _status_counts(con: duckdb.DuckDBPyConnection, expr: str) -> str:
    rows = con.execute(f"SELECT coalesce({expr}, '(empty)') AS s, count(DISTINCT _order) FROM _src "
                       f"GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    return ", ".join(f"{s} {n:,}" for s, n in rows)


def _orders_with_status(con: duckdb.DuckDBPyConnection, status: str, statuses: tuple[str, ...]) -> int:
    """Orders of the file whose ``status`` expression is one of ``statuses`` (those loaded as adjustments)."""
    return con.execute(f"SELECT count(DISTINCT _order) FROM _src WHERE {status} IN "
                       f"({', '.join(literal(s) for s in statuses)})").fetchone()[0]


def _platform_summary(con: duckdb.DuckDBPyConnection, status: str, not_sold: tuple[str, ...]) -> dict:
    """Orders, statuses, refunds and how many order totals reconcile (checked on the file's rows)."""
    n_orders, n_refunded, refunded, n_total, n_ok = con.execute(
        "WITH o AS (SELECT _order, max(_refunded) AS refunded, max(_total) AS total, "
        "sum(_line_value) AS lines, max(_extras) AS extras FROM _src WHERE _order IS NOT NULL GROUP BY 1) "
        "SELECT count(*), count(*) FILTER (WHERE refunded > 0), coalesce(sum(refunded), 0), "
        "count(total), count(*) FILTER (WHERE abs(lines + extras - total) < 0.005) FROM o").fetchone()
    return {
        "orders_in_file": n_orders,
        "financial_statuses_in_file": _status_counts(con, status),
        "not_sold_loaded_as_adjustment": _orders_with_status(con, status, not_sold),
        "orders_with_refunds": n_refunded,
        "refunded_amount_in_file": f"{refunded:,.2f} (loaded as return orders, goods share only)",
        "order_totals_reconciled": f"{n_ok:,} of {n_total:,} orders: lines - discounts + shipping + taxes = total",
    }


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
        aggregates={"products": {"name": "mode(products__name)", "price": "median(products__price)"}},
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
        aggregates={"products": {"name": "mode(products__name)", "price": "median(products__price)"}},
        after=_refunds_after(PLATFORM_DATE_FORMATS),
    )


def _woocommerce_orders_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    out = {("order_statuses_in_file" if k == "financial_statuses_in_file" else k): v
           for k, v in _platform_summary(con, "_status", WOOCOMMERCE_NOT_SOLD).items()}
    out["customers_in_file"] = con.execute("SELECT count(DISTINCT _email) FROM _src").fetchone()[0]
    return out


# -- Magento / Adobe Commerce: the Sales > Orders grid exported as CSV (one row per order, no line items) ----------

MAGENTO_ORDERS_SIGNATURE = ("ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Grand Total (Base)")
# status labels of orders that never became a sale (the grid exports labels, not codes)
MAGENTO_NOT_SOLD = ("canceled", "cancelled", "pending payment", "suspected fraud")
MAGENTO_ORDER_PRODUCT = "(order subtotal)"
# the grid exports dates as the admin shows them ("Mar 5, 2024 2:22:10 PM" in en_US), or ISO
MAGENTO_DATE_FORMATS = ["%b %d, %Y %I:%M:%S %p", "%b %d, %Y %I:%M %p", "%b %d, %Y", *PLATFORM_DATE_FORMATS]


def _money(col: str) -> str:
    """A money column as the grid exports it ("$1,234.50"): currency signs and thousands separators dropped."""
    return f"TRY_CAST(nullif(regexp_replace({_t(col)}, '[^0-9.-]', '', 'g'), '') AS DOUBLE)"


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
            f"INSERT INTO products BY NAME SELECT product_id, mode(name) AS name, median(unit) AS price, "
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


def _has_all(wanted: tuple[str, ...]):
    def recognise(columns: list[str]) -> bool:
        have = {c.strip().lower() for c in columns}
        return all(w.lower() in have for w in wanted)
    return recognise


PLATFORM_PRESETS = (
    Preset(
        "shopify-orders",
        "Shopify orders export (Admin > Orders > Export, CSV): one row per line item, grouped into orders by "
        "Name; customers by normalised e-mail; voided orders are kind 'adjustment'; refunds (Refunded Amount) "
        "become return orders '<Name>/refund'; shipping and discounts on the order.",
        _shopify_orders, None, _shopify_orders_summary, recognise=_has_all(SHOPIFY_ORDERS_SIGNATURE),
    ),
    Preset(
        "shopify-customers",
        "Shopify customers export (Admin > Customers > Export, CSV): customer_id is the normalised e-mail, the "
        "key the shopify-orders preset uses; name, phone, default address.",
        _shopify_customers, None, None, recognise=_has_all(SHOPIFY_CUSTOMERS_SIGNATURE),
    ),
    Preset(
        "woocommerce-orders",
        "WooCommerce order export, one row per line item (order_id, order_date, status, order_total, item_*): "
        "customers by normalised billing e-mail; cancelled, failed and pending orders are kind 'adjustment'; "
        "refunds (refunded_total, status refunded) become return orders '<order_number>/refund'.",
        _woocommerce_orders, None, _woocommerce_orders_summary, recognise=_has_all(WOOCOMMERCE_ORDERS_SIGNATURE),
    ),
    Preset(
        "magento-orders",
        "Magento / Adobe Commerce orders grid (Sales > Orders > Export, CSV) with the Customer Email column: one "
        "row per order, no line items, so each order gets one line '(order subtotal)' of its Subtotal; canceled, "
        "pending payment and suspected fraud are kind 'adjustment'; Total Refunded and Closed orders become "
        "return orders '<ID>/refund'.",
        _magento_orders, None, _magento_orders_summary, recognise=_has_all(MAGENTO_ORDERS_SIGNATURE),
    ),
    Preset(
        "bigcommerce-orders",
        "BigCommerce orders export (Orders > Export, default template): one row per order, its products in "
        "Product Details (entries split on |) become the lines; customers by normalised Customer Email; "
        "cancelled, declined, incomplete, pending and awaiting payment are kind 'adjustment'; Refund Amount and "
        "Refunded orders become return orders '<Order ID>/refund'.",
        _bigcommerce_orders, None, _bigcommerce_orders_summary, recognise=_has_all(BIGCOMMERCE_ORDERS_SIGNATURE),
    ),
)
