"""Presets for two public multi-file shop datasets: ``olist`` and ``instacart``.

Both ship as a folder of CSV files, one per entity, that refer to each other by
id.  Each file is ingested on its own (one ``ingest_log`` row per file); a file
that needs a value kept in a sibling file (Olist's person behind a per-order
customer id, Instacart's department names) reads that sibling through DuckDB's
``read_csv`` in the plan's ``enrich`` step.  ``shopseg ingest FOLDER --preset
olist`` loads the files in dependency order in one transaction.

The conventions (what becomes a sale, how Instacart's relative days become
dates) are documented in ``docs/presets.md``; the constants below are the ones
that page cites.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from ..errors import IngestError
from ._plan import Plan
from ._read import SourceInfo
from ._sql import ident, literal
from ._sql import text_or_null as _t
from ._preset_base import Preset, _has_any, _pick

# -- shared helpers ----------------------------------------------------------------------------------------


def _header(path: Path) -> list[str]:
    """The column names of a CSV file's first line (a UTF-8 byte-order mark is dropped, as DuckDB does)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        return [c.strip() for c in next(csv.reader(f), [])]


def _sibling(path: Path, name: str, needed: tuple[str, ...], preset: str, why: str,
             required: bool) -> Path | None:
    """The file ``name`` next to ``path`` (checked to have the ``needed`` columns), or None if optional and absent."""
    p = path.parent / name
    if not p.is_file():
        if not required:
            return None
        raise IngestError(
            f"{path}: the {preset} preset needs {name} in the same folder ({why}); "
            f"it is not in {path.parent}.",
            hint=f"Keep the dataset's files together and ingest the folder: `shopseg ingest {path.parent} "
                 f"--preset {preset}`.",
        )
    found = _header(p)
    missing = [c for c in needed if c not in found]
    if missing:
        raise IngestError(
            f"{p}: expected column(s) {', '.join(missing)} (read by the {preset} preset {why}); "
            f"columns found: {', '.join(found) or 'none'}."
        )
    return p


def _csv(path: Path) -> str:
    return f"read_csv({literal(str(path))}, header = true, all_varchar = true, encoding = 'utf-8')"


def _got(col: str) -> str:
    """', got 'value'' in the engine's reason style (top reasons group on the text before ', got')."""
    return f"', got ''' || left(trim(CAST({col} AS VARCHAR)), 60) || ''''"


def _kind(info: SourceInfo, path: Path, preset: str, signatures: list[tuple[str, set[str]]],
          ignored: dict[str, str], reads: str) -> str:
    cols = {c.lower().lstrip("\ufeff").strip() for c in info.columns}
    for kind, sig in signatures:
        if sig <= cols:
            return kind
    for col, what in ignored.items():
        if col in cols:
            raise IngestError(f"{path}: {what}; the {preset} preset does not load it.",
                              hint=f"The {preset} preset reads {reads}.")
    raise IngestError(
        f"{path}: not one of the files the {preset} preset reads (columns found: {', '.join(info.columns)}).",
        hint=f"The {preset} preset reads {reads}.",
    )


# -- Olist (Brazilian E-Commerce Public Dataset by Olist, Kaggle, CC BY-NC-SA 4.0) -----------------------------

OLIST_CUSTOMERS = "olist_customers_dataset.csv"
OLIST_PRODUCTS = "olist_products_dataset.csv"
OLIST_ORDERS = "olist_orders_dataset.csv"
OLIST_ITEMS = "olist_order_items_dataset.csv"
OLIST_REVIEWS = "olist_order_reviews_dataset.csv"
OLIST_TRANSLATION = "product_category_name_translation.csv"
OLIST_LOAD_ORDER = (OLIST_CUSTOMERS, OLIST_PRODUCTS, OLIST_ORDERS, OLIST_ITEMS, OLIST_REVIEWS)
# statuses of orders that never became a sale: loaded as kind 'adjustment' (see docs/presets.md)
OLIST_NOT_SOLD = ("canceled", "unavailable")
OLIST_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]

_OLIST_SIGNATURES = [
    ("translation", {"product_category_name_english"}),
    ("items", {"order_id", "order_item_id"}),
    ("reviews", {"review_id", "review_score"}),
    ("orders", {"order_id", "order_status"}),
    ("customers", {"customer_unique_id"}),
    ("products", {"product_id", "product_category_name"}),
]
# headers told apart from other exports (recognition without --preset): stricter than the signatures above
_OLIST_HEADERS = [
    ("customer_id", "customer_unique_id"),
    ("product_id", "product_category_name"),
    ("order_id", "order_status", "order_purchase_timestamp"),
    ("order_id", "order_item_id", "shipping_limit_date"),
    ("review_id", "review_score", "review_answer_timestamp"),
    # files the preset refuses by name (no canonical table, or a lookup): recognised to say so
    ("product_category_name", "product_category_name_english"),
    ("order_id", "payment_sequential", "payment_type"),
    ("seller_id", "seller_zip_code_prefix"),
]
_OLIST_IGNORED = {
    "payment_type": "the Olist payments file holds no canonical table (order values come from the items)",
    "seller_id": "the Olist sellers file holds no canonical table",
    "geolocation_lat": "the Olist geolocation file holds no canonical table",
}
_OLIST_READS = ", ".join(OLIST_LOAD_ORDER) + f" (and {OLIST_TRANSLATION} as a lookup for the products)"


def _files_in(folder: Path, load_order, dataset: str, kaggle_folder: str) -> list[Path]:
    """The files of ``load_order`` present in ``folder``, in that order (referenced tables first)."""
    found = [folder / n for n in load_order if (folder / n).is_file()]
    if not found:
        raise IngestError(f"{folder}: holds none of the {dataset} files ({', '.join(load_order)}).",
                          hint=f"Point at the unzipped Kaggle folder `{kaggle_folder}`.")
    return found


def _olist_files(folder: Path) -> list[Path]:
    return _files_in(folder, OLIST_LOAD_ORDER, "Olist", "brazilian-ecommerce")


def _olist(info: SourceInfo, path: Path) -> Plan:
    kind = _kind(info, path, "olist", _OLIST_SIGNATURES, _OLIST_IGNORED, _OLIST_READS)
    if kind == "translation":
        raise IngestError(
            f"{path}: the category translation is a lookup, not a table; it is read with {OLIST_PRODUCTS}.",
            hint=f"Keep it next to {OLIST_PRODUCTS} and ingest that file (or the folder).")
    return {"customers": _olist_customers, "products": _olist_products, "orders": _olist_orders,
            "items": _olist_items, "reviews": _olist_reviews}[kind](info, path)


def _olist_customers(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "customers", {"per_order": ("customer_id",), "unique": ("customer_unique_id",),
                                         "city": ("customer_city",)})
    region = "NULL"
    if _has_any(info.columns, ("customer_state",)):
        region = f"nullif(upper(trim({_pick(info, path, 'customers', {'state': ('customer_state',)})['state']})), '')"
    # one row per (order, person): the rows of one person merge into one customer, first city and state kept
    return Plan(
        primary="customers", preset="olist", merge_primary=True,
        exprs={"customers": {"customer_id": c["unique"], "city": c["city"], "region": region, "country": "'BR'"}},
        checks=[("customer_unique_id",
                 f"CASE WHEN {_t(c['unique'])} IS NULL THEN 'missing value, expected the person behind the "
                 f"per-order customer_id, got only customer_id ' || coalesce('''' || trim({c['per_order']}) || '''', "
                 f"'NULL') END")],
    )


def _olist_products(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "products", {"product": ("product_id",), "category": ("product_category_name",)})
    trans = _sibling(path, OLIST_TRANSLATION, ("product_category_name", "product_category_name_english"),
                     "olist", "to name categories in English", required=False)
    category = _t(c["category"])
    enrich = None
    if trans is not None:
        enrich = (
            f"SELECT s.*, t._category_english FROM _src s LEFT JOIN ("
            f"SELECT trim(product_category_name) AS _pt, min(nullif(trim(product_category_name_english), '')) "
            f"AS _category_english FROM {_csv(trans)} GROUP BY 1) t ON t._pt = trim(s.{c['category']})"
        )
        category = f"coalesce(_category_english, {category})"  # the two untranslated categories stay Portuguese
    return Plan(
        primary="products", preset="olist", enrich=enrich,
        exprs={"products": {
            "product_id": c["product"],
            "category": category,
            # Olist publishes no product names: a readable label, category and the id's first 8 characters
            "name": f"coalesce({category}, 'uncategorised') || ' ' || left(trim({c['product']}), 8)",
        }},
    )


def _olist_orders(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "orders", {"order": ("order_id",), "customer": ("customer_id",),
                                      "status": ("order_status",), "purchased": ("order_purchase_timestamp",)})
    cust = _sibling(path, OLIST_CUSTOMERS, ("customer_id", "customer_unique_id", "customer_city"), "olist",
                    "to map the per-order customer_id to the person, customer_unique_id", required=True)
    items = _sibling(path, OLIST_ITEMS, ("order_id", "order_item_id", "freight_value"), "olist",
                     "to sum freight_value into orders.shipping_amount", required=False)
    state = "min(nullif(upper(trim(customer_state)), ''))" if "customer_state" in _header(cust) else "NULL"
    enrich = (
        "SELECT s.*, k._unique_id, k._city, k._state, k._found"
        + (", f._freight" if items else "") +
        f" FROM _src s LEFT JOIN (SELECT trim(customer_id) AS _cid, min(nullif(trim(customer_unique_id), '')) "
        f"AS _unique_id, min(nullif(trim(customer_city), '')) AS _city, {state} AS _state, TRUE AS _found "
        f"FROM {_csv(cust)} "
        f"GROUP BY 1) k ON k._cid = trim(s.{c['customer']})"
    )
    if items:
        # one freight per (order, item) even when an item row is repeated; unreadable or negative freight left out
        enrich += (
            f" LEFT JOIN (SELECT _oid, round(sum(_f) FILTER (WHERE _f >= 0), 2) AS _freight FROM ("
            f"SELECT trim(order_id) AS _oid, trim(order_item_id) AS _item, "
            f"min(TRY_CAST(trim(freight_value) AS DOUBLE)) AS _f FROM {_csv(items)} GROUP BY 1, 2) GROUP BY 1) f "
            f"ON f._oid = trim(s.{c['order']})"
        )
    status = f"lower(trim({c['status']}))"
    order = {
        "order_id": c["order"], "customer_id": "_unique_id", "ordered_at": c["purchased"],
        "kind": f"CASE WHEN {status} IN ({', '.join(literal(s) for s in OLIST_NOT_SOLD)}) THEN 'adjustment' "
                f"ELSE 'sale' END",
        "channel": "'marketplace'", "country": "'BR'",
    }
    if items:
        order["shipping_amount"] = "_freight"
    per_order = c["customer"]
    return Plan(
        primary="orders", preset="olist", enrich=enrich,
        exprs={"orders": order, "customers": {"customer_id": "_unique_id", "city": "_city", "region": "_state",
                                               "country": "'BR'"}},
        formats={"orders.ordered_at": OLIST_DATE_FORMATS},
        checks=[("customer_id",
                 f"CASE WHEN {_t(per_order)} IS NOT NULL AND _found IS NULL THEN "
                 f"'expected a customer_id listed in {OLIST_CUSTOMERS} (to find the person)' || {_got(per_order)} "
                 f"WHEN _found AND _unique_id IS NULL THEN "
                 f"'expected a customer_id with a customer_unique_id in {OLIST_CUSTOMERS}' || {_got(per_order)} "
                 f"END")],
    )


def _olist_items(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "order_lines", {"order": ("order_id",), "item": ("order_item_id",),
                                           "product": ("product_id",), "price": ("price",),
                                           "freight": ("freight_value",)})
    f = c["freight"]
    first = f"Ingest the folder (`shopseg ingest {path.parent} --preset olist`), or {OLIST_PRODUCTS} and " \
            f"{OLIST_ORDERS} before the items."
    return Plan(
        primary="order_lines", preset="olist", derive_customers=False,
        # each item row is one unit: two units of a product are two rows (order_item_id 1 and 2)
        exprs={"order_lines": {"order_id": c["order"], "line_no": c["item"], "product_id": c["product"],
                               "quantity": "'1'", "unit_price": c["price"]}},
        checks=[("freight_value",
                 f"CASE WHEN {_t(f)} IS NOT NULL AND coalesce(TRY_CAST(trim({f}) AS DOUBLE) < 0, TRUE) THEN "
                 f"'expected a number of at least 0' || {_got(f)} END")],
        requires={"orders": first, "products": first},
    )


def _olist_reviews(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "reviews", {"review": ("review_id",), "order": ("order_id",), "score": ("review_score",),
                                       "title": ("review_comment_title",), "message": ("review_comment_message",),
                                       "created": ("review_creation_date",)})
    orders = _sibling(path, OLIST_ORDERS, ("order_id", "customer_id"), "olist",
                      "to find who wrote each review, through the order", required=True)
    cust = _sibling(path, OLIST_CUSTOMERS, ("customer_id", "customer_unique_id"), "olist",
                    "to map the order's customer_id to the person, customer_unique_id", required=True)
    items = _sibling(path, OLIST_ITEMS, ("order_id", "product_id"), "olist",
                     "to name the product of single-product orders", required=False)
    enrich = (
        "SELECT s.*, o._unique_id" + (", p._product_id" if items else "") +
        f" FROM _src s LEFT JOIN (SELECT trim(o.order_id) AS _oid, min(nullif(trim(k.customer_unique_id), '')) "
        f"AS _unique_id FROM {_csv(orders)} o LEFT JOIN {_csv(cust)} k ON trim(k.customer_id) = trim(o.customer_id) "
        f"GROUP BY 1) o ON o._oid = trim(s.{c['order']})"
    )
    review = {
        "review_id": c["review"], "customer_id": "_unique_id", "order_id": c["order"], "rating": c["score"],
        "text": f"concat_ws(chr(10), {_t(c['title'])}, {_t(c['message'])})",
        "language": "'pt'", "reviewed_at": c["created"],
    }
    first = f"Ingest the folder (`shopseg ingest {path.parent} --preset olist`), or the customers, products " \
            f"and orders files before the reviews."
    requires = {"customers": first}
    if items:
        # a review is about an order; it names a product only when the order holds exactly one
        enrich += (
            f" LEFT JOIN (SELECT trim(order_id) AS _oid, CASE WHEN count(DISTINCT trim(product_id)) = 1 "
            f"THEN min(trim(product_id)) END AS _product_id FROM {_csv(items)} GROUP BY 1) p "
            f"ON p._oid = trim(s.{c['order']})"
        )
        review["product_id"] = "_product_id"
        requires["products"] = first
    return Plan(
        primary="reviews", preset="olist", enrich=enrich, derive_customers=False,
        exprs={"reviews": review}, formats={"reviews.reviewed_at": OLIST_DATE_FORMATS}, requires=requires,
    )


def _has(con: duckdb.DuckDBPyConnection, column: str) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = '_src' "
                       "AND column_name = ?", [column]).fetchone()[0] > 0


def _olist_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    col = {c.lower().lstrip("\ufeff"): ident(c) for c in info.columns}
    if "customer_unique_id" in col:
        ids, persons = con.execute(f"SELECT count(DISTINCT {col['customer_id']}), "
                                   f"count(DISTINCT {col['customer_unique_id']}) FROM _src").fetchone()
        return {"per_order_customer_ids_in_file": ids, "persons_in_file": persons}
    if "order_status" in col:
        rows = con.execute(f"SELECT lower(trim({col['order_status']})) AS s, count(*) FROM _src "
                           f"GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        out = {"order_statuses_in_file": ", ".join(f"{s} {n}" for s, n in rows),
               "not_sold_loaded_as_adjustment": sum(n for s, n in rows if s in OLIST_NOT_SOLD)}
        if not _has(con, "_freight"):
            out["shipping_amount"] = f"0: {OLIST_ITEMS} is not next to the orders file"
        return out
    if "review_id" in col:
        ids, text = con.execute(
            f"SELECT count(DISTINCT {col['review_id']}), count(*) FILTER (WHERE "
            f"{_t(col['review_comment_title'])} IS NOT NULL OR {_t(col['review_comment_message'])} IS NOT NULL) "
            f"FROM _src").fetchone()
        return {"review_ids_in_file": ids, "reviews_with_text": text}
    if "product_category_name" in col:
        if not _has(con, "_category_english"):
            return {"category_names": f"Portuguese ({OLIST_TRANSLATION} is not next to the products file)"}
        en, pt = con.execute(f"SELECT count(*) FILTER (WHERE _category_english IS NOT NULL), count(*) FILTER "
                             f"(WHERE _category_english IS NULL AND {_t(col['product_category_name'])} IS NOT NULL) "
                             f"FROM _src").fetchone()
        return {"categories_in_english": en, "categories_left_in_portuguese": pt}
    return {}


# -- Instacart Market Basket Analysis (Kaggle; "The Instacart Online Grocery Shopping Dataset 2017") -----------

INSTACART_ORDERS = "orders.csv"
INSTACART_PRODUCTS = "products.csv"
INSTACART_DEPARTMENTS = "departments.csv"
INSTACART_LINES = ("order_products__prior.csv", "order_products__train.csv")
INSTACART_LOAD_ORDER = (INSTACART_PRODUCTS, INSTACART_ORDERS, *INSTACART_LINES)
# Instacart publishes relative days only. Each user's first order is on the anchor day, later ones
# days_since_prior_order after the previous one; the anchor is chosen per file so that the latest order
# of the file falls on this day (a stand-in date just before the data was published, in May 2017).
INSTACART_LAST_DAY = "2017-04-30"

_INSTACART_SIGNATURES = [
    ("lines", {"order_id", "add_to_cart_order"}),
    ("orders", {"order_id", "eval_set"}),
    ("products", {"product_id", "product_name"}),
]
_INSTACART_HEADERS = [
    ("order_id", "add_to_cart_order", "reordered"),
    ("order_id", "eval_set", "days_since_prior_order"),
    ("product_id", "product_name", "aisle_id", "department_id"),
]
_INSTACART_IGNORED = {
    "aisle": "aisles.csv is a lookup with no canonical table (aisles are not mapped)",
    "department": f"{INSTACART_DEPARTMENTS} is a lookup, read with {INSTACART_PRODUCTS} to name the categories",
}
_INSTACART_READS = ", ".join(INSTACART_LOAD_ORDER) + f" (and {INSTACART_DEPARTMENTS} as a lookup for the products)"


def _instacart_files(folder: Path) -> list[Path]:
    return _files_in(folder, INSTACART_LOAD_ORDER, "Instacart", "instacart-market-basket-analysis")


def _instacart(info: SourceInfo, path: Path) -> Plan:
    kind = _kind(info, path, "instacart", _INSTACART_SIGNATURES, _INSTACART_IGNORED, _INSTACART_READS)
    return {"products": _instacart_products, "orders": _instacart_orders, "lines": _instacart_lines}[kind](info, path)


def _instacart_products(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "products", {"product": ("product_id",), "name": ("product_name",),
                                        "department": ("department_id",)})
    deps = _sibling(path, INSTACART_DEPARTMENTS, ("department_id", "department"), "instacart",
                    "to name the categories", required=False)
    dep = _t(c["department"])
    enrich = None
    category = f"'department ' || {dep}"
    if deps is not None:
        enrich = (f"SELECT s.*, d._department FROM _src s LEFT JOIN (SELECT trim(department_id) AS _did, "
                  f"min(nullif(trim(department), '')) AS _department FROM {_csv(deps)} GROUP BY 1) d "
                  f"ON d._did = trim(s.{c['department']})")
        category = f"coalesce(_department, {category})"
    return Plan(
        primary="products", preset="instacart", enrich=enrich,
        # the real data has a department called "missing" (id 21): that is an unknown category
        exprs={"products": {"product_id": c["product"], "name": c["name"],
                            "category": f"CASE WHEN lower({category}) = 'missing' THEN NULL ELSE {category} END"}},
    )


def _instacart_orders(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "orders", {"order": ("order_id",), "user": ("user_id",), "number": ("order_number",),
                                      "hour": ("order_hour_of_day",), "days": ("days_since_prior_order",)})
    o, u, n, h, d = c["order"], c["user"], c["number"], c["hour"], c["days"]

    def whole(x: str) -> str:  # a whole number (5 or 5.0) as BIGINT, else NULL
        v = f"TRY_CAST(trim({x}) AS DOUBLE)"
        return f"CASE WHEN {v} = round({v}) THEN CAST({v} AS BIGINT) END"

    # running days per user over order_number, once per order_id (a repeated row must not count twice);
    # an unreadable gap leaves that order and the user's later ones without a date
    enrich = f"""
        SELECT s.*, d._cum_days, d._gap_bad, d._bad_before, d._max_cum FROM _src s LEFT JOIN (
          WITH o AS (
            SELECT {_t(o)} AS _oid, {_t(u)} AS _uid, {whole(n)} AS _n, {_t(d)} AS _gap_raw, _row,
                   row_number() OVER (PARTITION BY {_t(o)} ORDER BY _row) AS _k FROM _src),
          p AS (SELECT *, row_number() OVER (PARTITION BY _uid ORDER BY _n, _row) AS _pos FROM o
                WHERE _k = 1 AND _oid IS NOT NULL AND _uid IS NOT NULL AND _n >= 1),
          g AS (SELECT *, CASE WHEN _pos = 1 THEN 0 ELSE {whole('_gap_raw')} END AS _gap FROM p),
          b AS (SELECT *, coalesce(_gap < 0, TRUE) AS _gap_bad FROM g),
          w AS (SELECT _oid, _gap_bad,
                       sum(CASE WHEN _gap_bad THEN 0 ELSE _gap END) OVER (PARTITION BY _uid ORDER BY _pos) AS _cum_days,
                       min(CASE WHEN _gap_bad THEN _n END) OVER (PARTITION BY _uid ORDER BY _pos
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _bad_before FROM b)
          SELECT *, max(_cum_days) FILTER (WHERE NOT _gap_bad AND _bad_before IS NULL) OVER () AS _max_cum FROM w
        ) d ON d._oid = {_t('s.' + o)}"""
    hour = whole(h)
    ordered_at = (f"CAST(DATE {literal(INSTACART_LAST_DAY)} AS TIMESTAMP) - to_days(CAST(_max_cum AS INTEGER)) "
                  f"+ to_days(CAST(_cum_days AS INTEGER)) + to_hours(CAST({hour} AS INTEGER))")
    return Plan(
        primary="orders", preset="instacart", enrich=enrich,
        exprs={"orders": {"order_id": o, "customer_id": u, "ordered_at": ordered_at}},
        checks=[
            ("user_id", f"CASE WHEN {_t(u)} IS NULL THEN 'missing value, expected the user who ordered' END"),
            ("order_number", f"CASE WHEN coalesce({whole(n)} < 1, TRUE) THEN "
                             f"'expected a whole number of at least 1' || {_got(n)} END"),
            ("order_hour_of_day", f"CASE WHEN coalesce({hour} NOT BETWEEN 0 AND 23, TRUE) THEN "
                                  f"'expected a whole number from 0 to 23' || {_got(h)} END"),
            ("days_since_prior_order",
             f"CASE WHEN _gap_bad THEN 'expected a whole number of at least 0 (empty only on a user''s first order)' "
             f"|| {_got(d)} WHEN _bad_before IS NOT NULL THEN 'expected readable gaps before this order, "
             f"got an unreadable one at the user''s order number ' || _bad_before END"),
        ],
    )


def _instacart_lines(info: SourceInfo, path: Path) -> Plan:
    c = _pick(info, path, "order_lines", {"order": ("order_id",), "product": ("product_id",),
                                           "position": ("add_to_cart_order",)})
    first = f"Ingest the folder (`shopseg ingest {path.parent} --preset instacart`), or {INSTACART_PRODUCTS} " \
            f"and {INSTACART_ORDERS} before the order lines."
    return Plan(
        primary="order_lines", preset="instacart", derive_customers=False,
        # Instacart publishes neither quantities nor prices: one unit per line, unit_price 0
        exprs={"order_lines": {"order_id": c["order"], "line_no": c["position"], "product_id": c["product"],
                               "quantity": "'1'", "unit_price": "'0'"}},
        requires={"orders": first, "products": first},
    )


def _instacart_summary(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> dict:
    col = {c.lower().lstrip("\ufeff"): ident(c) for c in info.columns}
    if "eval_set" in col:
        sets = con.execute(f"SELECT lower(trim({col['eval_set']})), count(*) FROM _src GROUP BY 1 "
                           f"ORDER BY 2 DESC, 1").fetchall()
        users, max_cum = con.execute(f"SELECT count(DISTINCT {col['user_id']}), max(_max_cum) FROM _src").fetchone()
        anchor = con.execute(f"SELECT strftime(DATE {literal(INSTACART_LAST_DAY)} - to_days(CAST(? AS INTEGER)), "
                             f"'%Y-%m-%d')", [max_cum or 0]).fetchone()[0]
        return {"users_in_file": users, "eval_sets_in_file": ", ".join(f"{s} {k}" for s, k in sets),
                "first_orders_dated": f"{anchor} (anchor); the latest order falls on {INSTACART_LAST_DAY}"}
    if "add_to_cart_order" in col and "reordered" in col:
        reordered, n = con.execute(f"SELECT count(*) FILTER (WHERE trim({col['reordered']}) = '1'), count(*) "
                                   f"FROM _src").fetchone()
        return {"reordered_lines_in_file": reordered, "lines_in_file": n}
    if "product_name" in col and not _has(con, "_department"):
        return {"category_names": f"'department <id>' ({INSTACART_DEPARTMENTS} is not next to the products file)"}
    return {}


PUBLIC_PRESETS = (
    Preset(
        "olist",
        "Brazilian E-Commerce Public Dataset by Olist (Kaggle): a folder of CSV files (customers, products, "
        "orders, order items, reviews); customers are the persons (customer_unique_id, looked up in the customers "
        "file); canceled and unavailable orders are kind 'adjustment'; freight becomes shipping_amount; reviews in "
        "Portuguese; categories in English when the translation file is present.",
        _olist, None, _olist_summary, _olist_files,
        recognise=lambda cols: any(_has_any(cols, *((n,) for n in sig)) for sig in _OLIST_HEADERS),
        currency="BRL",
    ),
    Preset(
        "instacart",
        "Instacart Market Basket Analysis (Kaggle): products (category = department), orders (dates derived "
        f"from days_since_prior_order, latest order on {INSTACART_LAST_DAY}), order_products__prior/__train "
        "(one unit per line, unit_price 0: the data has no prices).",
        _instacart, None, _instacart_summary, _instacart_files,
        recognise=lambda cols: any(_has_any(cols, *((n,) for n in sig)) for sig in _INSTACART_HEADERS),
    ),
)
