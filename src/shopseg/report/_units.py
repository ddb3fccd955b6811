"""Real units in the report: the shop's currency, money written with it, segments in customers, orders and
money, and whether the last calendar month is complete.

>>> money(1234.6, "GBP"), money(-80, "BRL"), money(1234.5, "CHF", 2), money(7, "")
('£1,235', '-R$80', '1,234.50 CHF', '7')
>>> from datetime import datetime
>>> partial_month(datetime(2011, 12, 9)), partial_month(datetime(2011, 11, 30, 23, 59)), partial_month(datetime(2024, 2, 29))
(True, False, False)
"""

from __future__ import annotations

import calendar
import json
import math
from datetime import datetime

# symbols written before the amount; any other ISO 4217 code is written after it ("1,234 CHF")
SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "BRL": "R$", "JPY": "¥", "CNY": "¥", "INR": "₹", "AUD": "A$",
           "CAD": "C$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$", "KRW": "₩", "ILS": "₪", "NGN": "₦"}


def money(value, currency: str, decimals: int = 0) -> str:
    """``value`` with thousands separators and the currency: its symbol before, or its code after."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    num = f"{abs(value):,.{decimals}f}"
    sign = "-" if value < 0 and num.strip("0.,") else ""
    if not currency:
        return f"{sign}{num}"
    sym = SYMBOLS.get(currency)
    return f"{sign}{sym}{num}" if sym else f"{sign}{num} {currency}"


def shop_currency(ws, setting: str | None) -> str:
    """The currency of the report: ``setting`` (``shop.currency``) when it names one; with "auto" (or no
    setting, a run made before the setting existed) the currency of the presets the data came in with when they
    agree on one (docs/presets.md), else "" (amounts without a currency)."""
    if setting and setting != "auto":
        return setting
    if not ws.has_table("ingest_log"):
        return ""
    from ..ingest.presets import PRESETS

    used = ws.sql("SELECT DISTINCT preset, json_extract_string(summary, '$.currency') FROM ingest_log "
                  "WHERE preset IS NOT NULL")
    # the export's own Currency column (Shopify) first, else the preset's fixed one; a file holding two
    # currencies ("EUR, USD") names none: amounts are then written without one
    found = {stated or PRESETS[p].currency for p, stated in used if stated or (p in PRESETS and PRESETS[p].currency)}
    return found.pop() if len(found) == 1 and "," not in next(iter(found)) else ""


def run_currency_setting(run: dict, config=None) -> str | None:
    """``shop.currency`` from ``config`` when given (``shopseg report --config``), else from the run's stored
    config; None when neither has it."""
    if config is not None:
        return config["shop.currency"]
    try:
        return (json.loads(run.get("config") or "{}").get("shop") or {}).get("currency")
    except (TypeError, ValueError):
        return None


def partial_month(as_of: datetime) -> bool:
    """True when ``as_of`` falls before the last day of its month: that month holds only part of its days."""
    return as_of.day < calendar.monthrange(as_of.year, as_of.month)[1]


def segment_units(ctx, sales_sql: str):
    """One row per scheme and segment of the report's run, in real units, from the orders up to as_of (the line
    value the rest of the report uses): customers, sale orders, net spend (sales minus returns), net spend per
    customer, share of the scheme's members' net spend, and returns as a share of sales value."""
    return ctx.df(f"""
        WITH s AS ({sales_sql}),
        c AS (SELECT customer_id, count(*) FILTER (WHERE kind = 'sale') AS n_orders,
                     coalesce(sum(value) FILTER (WHERE kind = 'sale'), 0) AS sales,
                     coalesce(sum(value) FILTER (WHERE kind = 'return'), 0) AS returns
              FROM s WHERE customer_id IS NOT NULL GROUP BY 1),
        m AS (SELECT seg.scheme, seg.segment, count(*) AS customers, coalesce(sum(c.n_orders), 0)::BIGINT AS orders,
                     coalesce(sum(c.sales), 0) AS sales, coalesce(sum(c.returns), 0) AS returns
              FROM segments seg LEFT JOIN c USING (customer_id)
              WHERE seg.run_id = ? GROUP BY 1, 2)
        SELECT scheme, segment, customers, orders, sales - returns AS net_spend,
               (sales - returns) / customers AS net_spend_per_customer,
               (sales - returns) / nullif(sum(sales - returns) OVER (PARTITION BY scheme), 0) AS revenue_share,
               returns / nullif(sales, 0) AS return_rate
        FROM m ORDER BY scheme, customers DESC, segment""", [ctx.run_id])


def in_money(ctx, df, cols, decimals: int = 2):
    """``df`` with its columns ``cols`` written as money in the shop's currency."""
    return df.assign(**{c: df[c].map(lambda v: ctx.money(v, decimals)) for c in cols if c in df.columns})


def units_table(ctx, units, names: dict | None = None) -> str:
    """The real-unit profile of segments (``segment_units``) as an HTML table, money in the shop's currency."""
    from ._build import table_html

    t = units.assign(
        net_spend=units.net_spend.map(ctx.money), net_spend_per_customer=units.net_spend_per_customer.map(ctx.money),
        orders_per_customer=(units.orders / units.customers).map("{:,.1f}".format),
        revenue_share=units.revenue_share.map(lambda v: "" if v != v else f"{v:.1%}"),
        return_rate=units.return_rate.map(lambda v: "" if v != v else f"{v:.1%}"))
    names = {k: v for k, v in (names or {}).items() if v and v != k}  # a name column only where names say more
    if names:
        t.insert(1, "name", t.segment.map(lambda s: names.get(s, "")))
    cols = ["segment", *(["name"] if names else []), "customers", "orders", "orders_per_customer", "net_spend",
            "net_spend_per_customer", "revenue_share", "return_rate"]
    return f"<div class='units{' named' if names else ''}'>" + table_html(t[cols].rename(columns={
        "orders_per_customer": "orders per customer", "net_spend": "net spend",
        "net_spend_per_customer": "net spend per customer", "revenue_share": "share of net spend",
        "return_rate": "returns / sales"}), max_rows=60) + "</div>"
