"""What the platform presets share (:mod:`shopseg.ingest._platforms`): the customer key of an e-mail, the
order-level fields read once per order, refunds as return orders, the key's privacy and the summary."""

from __future__ import annotations


import duckdb

from ._plan import Plan
from ._sql import literal
from ._sql import text_or_null as _t

# The product of the one line of a refund's return order (not goods: out of baskets and recommendations).
REFUND_PRODUCT = "(refund)"
REFUND_SUFFIX = "/refund"
# A timestamp with a trailing UTC offset (" -0500", "+01:00", "Z") is stored in UTC, as on every route
# (ingest/_load.py _timestamp_sql); one without is stored as written.
PLATFORM_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                         "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"]


def _num(col: str) -> str:
    """A money column as a number (thousands separators and currency signs are not expected in exports)."""
    return f"TRY_CAST({_t(col)} AS DOUBLE)"


def _money(col: str) -> str:
    """A money column as the grid exports it ("$1,234.50"): currency signs and thousands separators dropped."""
    return f"TRY_CAST(nullif(regexp_replace({_t(col)}, '[^0-9.-]', '', 'g'), '') AS DOUBLE)"


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


def _has_all(wanted: tuple[str, ...]):
    def recognise(columns: list[str]) -> bool:
        have = {c.strip().lower() for c in columns}
        return all(w.lower() in have for w in wanted)
    return recognise
