"""Presets: well-known public export formats loaded with no code and no mapping.

Each preset turns the columns of one file into a :class:`~shopseg.ingest._plan.Plan`
(SQL over the file's columns) and may add figures to the ingest summary.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import duckdb

from ..errors import IngestError
from ._plan import Plan
from ._preset_base import Preset, _has_any, _pick  # noqa: F401  (re-exported)
from ._read import ReadOptions, SourceInfo
from ._sql import first_mode, ident, literal


# -- UCI Online Retail I and II -------------------------------------------------

# Stock codes that are not goods: postage, carriage, fees, manual entries,
# discounts, samples, bad-debt adjustments, commissions and gift vouchers.
ONLINE_RETAIL_NON_PRODUCT = r"^(POST|DOT|M|C2|D|S|B|BANK CHARGES|AMAZONFEE|CRUK|ADJUST\d*|TEST\d*|GIFT_\d+_\d+)$"
ONLINE_RETAIL_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M"]


# online-retail's products from one GROUP BY of (product, name, price) with the lines and sale lines of each: the
# same rows as the plan's aggregates (first_mode of the names, the median of the sale prices), without the names'
# histogram that DuckDB turns into a stored copy of its input nor the median's list of every price (x10: 1.73
# against 2.41 CPU s).  The name: the most lines, ties to the first by sort order, as first_mode's.  The median: the
# sale prices at positions (n - 1) // 2 and n // 2 of the n sorted (the first price whose running count passes
# each), interpolated by DuckDB's own median of the two, as median() interpolates them over every price.
ONLINE_RETAIL_PRODUCTS = (
    "SELECT k AS product_id, arg_min(name, {'n': -name_n, 'v': name}) FILTER (WHERE name IS NOT NULL) AS name, "
    "list_aggregate([arg_min(price, cum) FILTER (WHERE s > 0 AND cum > (total - 1) // 2), "
    "arg_min(price, cum) FILTER (WHERE s > 0 AND cum > total // 2)], 'median') AS price "
    "FROM (SELECT *, sum(n) OVER (PARTITION BY k, name) AS name_n, sum(s) OVER (PARTITION BY k ORDER BY price) AS cum, "
    "sum(s) OVER (PARTITION BY k) AS total FROM (SELECT products__product_id AS k, products__name AS name, "
    "products__price AS price, count(*) AS n, count(*) FILTER (WHERE orders__kind = 'sale') AS s FROM _accepted "
    "WHERE products__product_id IS NOT NULL GROUP BY ALL)) GROUP BY k")


def _online_retail(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "order_lines", {
        "invoice": ("InvoiceNo", "Invoice"),
        "stock": ("StockCode",),
        "description": ("Description",),
        "quantity": ("Quantity",),
        "date": ("InvoiceDate",),
        "price": ("UnitPrice", "Price"),
        "customer": ("CustomerID", "Customer ID"),
        "country": ("Country",),
    })
    qty = f"CAST({c['quantity']} AS VARCHAR)"
    customer = f"regexp_replace(trim(CAST({c['customer']} AS VARCHAR)), '\\.0+$', '')"
    by_source = {}
    if _source_type(info, c["customer"]) == "DOUBLE":  # 17850.0
        # the same text without printing every id and matching it (an integral id from 1 to 1e15 prints as
        # digits and ".0"; anything else takes the text path)
        x = c["customer"]
        customer = (f"CASE WHEN {x} >= 1 AND {x} < 1e15 AND {x} = trunc({x}) THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) "
                    f"ELSE {customer} END")
        by_source = {customer: (x, f"signbit({x})")}
    date = c["date"]  # as the file types it: a Parquet timestamp is read as one, CSV text as text
    negative = f"TRY_CAST({qty} AS DOUBLE) < 0"
    # returns and adjustments carry negative quantities in the file; canonical quantities are positive
    quantity = f"regexp_replace({qty}, '^\\s*-', '')"
    qtype = _source_type(info, c["quantity"])
    if qtype in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "DOUBLE"):  # a Parquet number: the same values
        # without printing each and reading it back (the text of abs(x) is x's without its '-'; HUGEINT: no
        # overflow at the smallest BIGINT)
        x = c["quantity"] if qtype == "DOUBLE" else f"CAST({c['quantity']} AS HUGEINT)"
        negative, quantity = f"{c['quantity']} < 0", f"abs({x})"
    # the invoice's first letter (C: a cancellation, A: an adjustment), read where it is a printable ASCII
    # character other than a space (which ltrim() leaves and upper() maps to C or A from c or a only), else from
    # the trimmed text upper-cased: the same kinds (x10: 0.18 against 0.40 CPU s a pass).  The first character is
    # told by comparing the text with the one-character bounds around it ('C' <= x < 'D': x starts with C; text
    # compares byte by byte, and a first byte below 0x80 is the whole character), which costs less than its code
    # point (ascii(), twice a line: x100 1.1-1.2 against 1.7 CPU s a pass; docs/scale.md "Session 15: ingest")
    inv = f"CAST({c['invoice']} AS VARCHAR)"
    by_kind = f"CASE WHEN {negative} THEN 'adjustment' ELSE 'sale' END"

    def starts(lo: str, hi: str) -> str:
        return f"({inv} >= {lo} AND {inv} < {hi})"
    kind = (f"CASE WHEN {starts(literal('!'), 'chr(127)')} THEN CASE WHEN {starts(literal('C'), literal('D'))} OR "
            f"{starts(literal('c'), literal('d'))} THEN 'return' WHEN {starts(literal('A'), literal('B'))} OR "
            f"{starts(literal('a'), literal('b'))} THEN 'adjustment' ELSE {by_kind} END ELSE "
            f"CASE upper(left(ltrim({inv}), 1)) WHEN 'C' THEN 'return' WHEN 'A' THEN 'adjustment' ELSE {by_kind} END END")
    # the description 'Unknown' is no name: as '' its text is NULL, the same as nullif()'s; a Parquet file's text
    # comes as a dictionary, and DuckDB runs a unary function once per entry of it, not per line as it does
    # nullif(x, 'Unknown') (x10: 0.15 against 0.43 CPU s a pass; CSV text, no dictionary: the regexp costs more)
    name = (f"regexp_replace({c['description']}, '^Unknown$', '')" if info.format == "parquet" else
            f"nullif({c['description']}, 'Unknown')")
    # one product per code whatever its case: 85123a is 85123A sold on guest lines (docs/presets.md)
    stock = f"upper(trim(CAST({c['stock']} AS VARCHAR)))"
    return Plan(
        primary="order_lines",
        preset="online-retail",
        exprs={
            "customers": {"customer_id": customer, "country": c["country"]},
            "products": {
                "product_id": stock,
                "name": name,
                "price": c["price"],
            },
            "orders": {"order_id": c["invoice"], "customer_id": customer, "ordered_at": date, "kind": kind,
                       "country": c["country"]},  # (ids are read trimmed: the invoice needs no trim of its own)
            "order_lines": {"order_id": c["invoice"], "product_id": stock, "quantity": quantity,
                            "unit_price": c["price"]},
        },
        formats={"orders.ordered_at": ONLINE_RETAIL_DATE_FORMATS},
        # a function of the stock code: one regular expression per product, not per line (product_id is the
        # stock code upper-cased and trimmed)
        per_key={"products": {"is_merchandise": f"NOT regexp_matches(product_id, {literal(ONLINE_RETAIL_NON_PRODUCT)})"}},
        by_source=by_source,
        valid={kind},  # every branch a kind's name
        grouped={"products": ONLINE_RETAIL_PRODUCTS},
        # the customers' countries from one row per (customer, invoice, country): the same list as the DISTINCT
        # pairs of the aggregate below, sorted
        distinct={"customers": (["orders__order_id", "customers__country"], {
            "country": "list_mode(list_sort(list(customers__country) FILTER (WHERE customers__country IS NOT NULL)))"})},
        aggregates={
            "products": {
                "name": first_mode("products__name"),  # ties: the first name (mode alone: any)
                "price": "median(products__price) FILTER (WHERE orders__kind = 'sale')",
            },
            "orders": {"ordered_at": "min(orders__ordered_at)"},
            # the country of most of the customer's invoices (not lines: one big order abroad is one order);
            # ties go to the first country by name
            "customers": {"country": "list_mode(list_sort(list_transform(list(DISTINCT {'i': orders__order_id, "
                                     "'c': customers__country}) FILTER (WHERE customers__country IS NOT NULL), "
                                     "lambda x: x.c)))"},
        },
    )


def _source_type(info: SourceInfo, col: str) -> str | None:
    """The DuckDB type of the file's column ``col`` (quoted, as :func:`_pick` gives it)."""
    return next((info.types.get(n) for n in info.columns if ident(n) == col), None)


def _online_retail_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    cols = {c.lower().replace(" ", ""): ident(c) for c in info.columns}
    inv = cols.get("invoiceno") or cols["invoice"]
    cust = cols.get("customerid")
    # each count over one GROUP BY per column (the NULL group not counted): the same figures as count(DISTINCT),
    # which DuckDB ran on one thread (x100: 2.8 against 4.5 CPU s, docs/history/scale.md "Session 14: ingest")
    n_inv, n_cancel, n_cust, n_guest = con.execute(
        f"SELECT * FROM (SELECT count(i), count(i) FILTER (WHERE starts_with(upper(CAST(i AS VARCHAR)), 'C')) "
        f"FROM (SELECT {inv} AS i FROM _src GROUP BY 1)), (SELECT count(c), CAST(coalesce(sum(n) FILTER "
        f"(WHERE c IS NULL), 0) AS BIGINT) FROM (SELECT {cust} AS c, count(*) AS n FROM _src GROUP BY 1))"
    ).fetchone()
    return {"invoices_in_file": n_inv, "cancellation_invoices_in_file": n_cancel,
            "customers_in_file": n_cust, "guest_lines_in_file": n_guest}


# -- CDNOW (Fader & Hardie) ------------------------------------------------------

def _cdnow_read(path: Path) -> ReadOptions:
    return ReadOptions(format="csv", delimiter="\x1f", header=_first_line_is_text(path))


def _first_line_is_text(path: Path) -> bool:
    with open(path, "rb") as f:
        first = f.readline().decode("latin-1").strip()
    return bool(first) and not first.split()[0].isdigit()


def _cdnow(info: SourceInfo, path: Path) -> Plan:
    if len(info.columns) != 1:
        raise IngestError(f"{path}: expected the whitespace-separated CDNOW layout (one record a line).")
    line = ident(info.columns[0])
    f = f"string_split_regex(trim({line}), '\\s+')"
    # CDNOW_master: customer date cds dollars; CDNOW_sample: master_id sample_id date cds dollars
    n = f"len({f})"
    cust = f"ltrim({f}[1], '0')"
    date = f"CASE WHEN {n} = 5 THEN {f}[3] ELSE {f}[2] END"
    cds = f"CASE WHEN {n} = 5 THEN {f}[4] ELSE {f}[3] END"
    dollars = f"CASE WHEN {n} = 5 THEN {f}[5] ELSE {f}[4] END"
    unit = f"CAST(TRY_CAST({dollars} AS DOUBLE) / nullif(TRY_CAST({cds} AS DOUBLE), 0) AS VARCHAR)"
    order = f"{cust} || '-' || {date}"
    return Plan(
        primary="order_lines",
        preset="cdnow",
        exprs={
            "customers": {"customer_id": cust},
            "products": {"product_id": "'CD'", "name": "'CD (any title)'", "category": "'music'"},
            "orders": {"order_id": order, "customer_id": cust, "ordered_at": date},
            "order_lines": {"order_id": order, "product_id": "'CD'", "quantity": cds, "unit_price": unit},
        },
        formats={"orders.ordered_at": ["%Y%m%d"]},
    )


PRESETS: dict[str, Preset] = {
    p.name: p for p in (
        Preset(
            "online-retail",
            "UCI Online Retail I and II (Chen, Sain & Guo 2012): invoices become orders and lines; customers and "
            "products are derived; invoices starting with C are returns, with A adjustments; non-product codes "
            "(POST, DOT, M, BANK CHARGES...) are flagged is_merchandise = false; guest lines keep a NULL customer; "
            "product codes are upper-cased (85123a is 85123A).",
            _online_retail, None, _online_retail_summary,
            recognise=lambda cols: _has_any(cols, ("StockCode",), ("InvoiceDate",), ("InvoiceNo", "Invoice")),
            currency="GBP",
        ),
        Preset(
            "cdnow",
            "CDNOW purchase logs (Fader & Hardie): `customer yyyymmdd cds dollars` (master) or with a sample id "
            "(sample), whitespace-separated; each line becomes an order of the product 'CD'.",
            _cdnow, _cdnow_read, currency="USD",
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        close = [p for p in sorted(PRESETS) if p.startswith(f"{name}-")] or difflib.get_close_matches(name, PRESETS, n=2)
        raise IngestError(
            f"Unknown preset {name!r}; expected one of {', '.join(sorted(PRESETS))}."
            + (f" Did you mean {' or '.join(close)}?" if close else ""),
            hint="`shopseg presets` lists them with what each reads; without --preset a known export is "
                 "recognised by its header.",
        ) from None


def recognise(columns: list[str]) -> Preset | None:
    """The preset whose export has these column names, or None (the first that matches, in PRESETS order)."""
    for p in PRESETS.values():
        if p.recognise is not None and p.recognise(columns):
            return p
    return None


def recognise_folder(folder: Path) -> Preset | None:
    """The multi-file preset whose files are in ``folder``, told by the header of the first of them."""
    from ._public_formats import _header

    for pre in PRESETS.values():
        if pre.files is None or pre.recognise is None:
            continue
        try:
            files = pre.files(folder)
        except IngestError:
            continue
        if pre.recognise(_header(files[0])):
            return pre
    return None


# multi-file public datasets (olist, instacart) and shop platforms (Shopify, WooCommerce) live in their own modules
from ._public_formats import PUBLIC_PRESETS  # noqa: E402
from ._platforms import PLATFORM_PRESETS  # noqa: E402

PRESETS.update({p.name: p for p in PUBLIC_PRESETS})
PRESETS.update({p.name: p for p in PLATFORM_PRESETS})
