"""A proposed mapping file for an export no preset knows: each column's role guessed from its name and content.

The proposal is TOML the user edits and passes back with ``--mapping``; a comment on each line says why that
guess was made, and columns left out are listed with a few of their values.  It is a starting point, not a
decision: every guess is something a person checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from ._dates import DAY_FIRST, MONTH_FIRST, _fl
from ._plan import _norm, toml_key, toml_str
from ._sql import ident

SAMPLE_ROWS = 2000  # rows looked at per column (the first ones)
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ORDER_NUMBER = r"^#?[A-Za-z]{0,3}-?\d+$"  # #1001, SO-2024, 536365

# name patterns over the normalised column name (lower case, letters and digits only), most specific first
NAMES = {
    "order_id": r"^(order|invoice|bestell|commande|pedido)(id|no|nr|number|num|nummer)?$|^(orderid|ordernumber|invoiceno)$",
    "customer_id": r"^(customer|client|user|buyer|kunde|member)(id|no|nr|number|num|nummer)?$",
    "email": r"e?mail",
    "product_id": r"sku|^(product|item|article|artikel|stock)(id|code|no|nr|number|nummer)?$|stockcode",
    "products.name": r"(product|item|lineitem|artikel)(name|title|description)|^(description|title)$",
    "quantity": r"qty|quantity|units|menge|quantite|cantidad",
    "unit_price": r"price|preis|prix|precio",
    "orders.discount_amount": r"discount|rabatt",
    "orders.shipping_amount": r"shipping|freight|versand",
    "kind": r"status|state",
    "country": r"country|land|pays",
    "phone": r"phone|tel|mobile",
    "ordered_at": r"created|ordered|orderdate|purchase|invoicedate|^date$|datum|placed",
}
# status words -> order kind (a partial refund leaves the sale standing)
KIND_WORDS = [(r"partial", "sale"), (r"refund|return|retour|chargeback", "return"),
              (r"void|cancel|storn|annul|fail|declin|abandon|expired", "adjustment")]


LINE_KEYS = {"order_id", "product_id", "quantity", "unit_price"}  # needed on every row of a file of lines


@dataclass
class ColumnFacts:
    name: str
    n: int
    email: float  # share of non-empty sampled values that look like ...
    date: float
    number: float
    integer: float
    order_number: float
    distinct: int
    examples: list[str] = field(default_factory=list)
    rows: int = 0  # rows looked at (empty values included)


def column_facts(con: duckdb.DuckDBPyConnection, columns: list[str]) -> list[ColumnFacts]:
    """What the first ``SAMPLE_ROWS`` rows of ``_src`` hold in each column (one query per column)."""
    out = []
    for c in columns:
        v = f"nullif(trim(CAST({ident(c)} AS VARCHAR)), '')"
        date = (f"coalesce(TRY_CAST(regexp_replace(v, '\\s*[+-]\\d\\d:?\\d\\d$', '') AS TIMESTAMP), "
                f"try_strptime(v, {_fl(MONTH_FIRST)}), try_strptime(v, {_fl(DAY_FIRST)}))")
        row = con.execute(f"""
            WITH s AS (SELECT {v} AS v FROM (SELECT * FROM _src LIMIT {SAMPLE_ROWS})), x AS (SELECT v FROM s
            WHERE v IS NOT NULL)
            SELECT count(*), avg(CAST(regexp_matches(v, '{EMAIL}') AS INT)),
                   avg(CAST({date} IS NOT NULL AS INT)), avg(CAST(TRY_CAST(v AS DOUBLE) IS NOT NULL AS INT)),
                   avg(CAST(regexp_matches(v, '^-?\\d+$') AS INT)),
                   avg(CAST(regexp_matches(v, '{ORDER_NUMBER}') AS INT)), count(DISTINCT v),
                   list(DISTINCT v ORDER BY v)[1:4], (SELECT count(*) FROM s) FROM x""").fetchone()
        out.append(ColumnFacts(c, row[0], *(x or 0.0 for x in row[1:6]), row[6], list(row[7] or []), row[8]))
    return out


def propose_mapping(con: duckdb.DuckDBPyConnection, columns: list[str], source: str) -> str:
    """The proposed mapping (TOML text) for the file read into ``_src`` with these ``columns``."""
    facts = column_facts(con, columns)
    roles: dict[str, tuple[ColumnFacts, str]] = {}  # canonical target -> (column, why)

    def take(target: str, f: ColumnFacts, why: str) -> None:
        if target not in roles and f.name not in {g.name for g, _ in roles.values()}:
            roles[target] = (f, why)

    def named(target: str, f: ColumnFacts) -> bool:
        return bool(re.search(NAMES[target], _norm(f.name)))

    filled = [f for f in facts if f.n]
    # content first where content is unmistakable, then names checked against content
    for f in filled:
        if f.email >= 0.8:
            take("email", f, f"{f.email:.0%} of its values are e-mail addresses")
    for f in filled:
        if named("order_id", f) and f.date < 0.5:
            take("order_id", f, "its name says order or invoice number")
    for f in filled:  # Shopify's "Name" holds #1001: an order number by its content
        if f.order_number >= 0.9 and (f.number < 1 or f.integer >= 0.9) and f.date < 0.5:
            take("order_id", f, f"{f.order_number:.0%} of its values look like order numbers (#1001)")
    for f in filled:
        if named("customer_id", f) and f.email < 0.8:
            take("customer_id", f, "its name says customer id")
    dates = [f for f in filled if f.date >= 0.9 and f.number < 0.9]
    for f in sorted(dates, key=lambda f: (not named("ordered_at", f), -f.n)):  # named, then the fullest
        take("ordered_at", f, f"{f.date:.0%} of its values read as dates"
             + (" and its name says when the order was placed" if named("ordered_at", f) else
                " (the first date column; no name says 'created' or 'order date')"))
    numeric = {"quantity", "unit_price", "orders.discount_amount", "orders.shipping_amount"}
    for target in ("product_id", "products.name", "quantity", "unit_price", "orders.discount_amount",
                   "orders.shipping_amount", "kind", "country", "phone"):
        for f in filled:
            if not named(target, f):
                continue
            if target == "kind":
                if f.distinct <= 20 and f.number < 0.9:
                    take(target, f, f"its name says status, and it holds {f.distinct} distinct values")
                continue
            why = f"its name says {target.split('.')[-1].replace('_', ' ')}"
            if target in numeric:
                why += (f" and {f.number:.0%} of its values are numbers" if f.number >= 0.9 else
                        f", but only {f.number:.0%} of its values read as numbers (a decimal comma? values like "
                        f"{', '.join(map(repr, f.examples[:2]))}): check")
            take(target, f, why)

    email_is_id = "customer_id" not in roles and "email" in roles
    lines_file = all(t in roles for t in ("product_id", "quantity", "unit_price"))
    customer = "customer_id" in roles or email_is_id
    tables: dict[str, list[str]] = {}
    if customer:
        tables["customers"] = ["customer_id"] + [c for c in ("email", "phone", "country") if c in roles]
    if lines_file:
        tables["products"] = ["product_id"] + (["name"] if "products.name" in roles else [])
    tables["orders"] = ["order_id", "ordered_at"] + (["customer_id"] if customer else []) + [
        c for c in ("kind", "country") if c in roles] + [
        c.split(".")[1] for c in ("orders.discount_amount", "orders.shipping_amount") if c in roles]
    if lines_file:
        tables["order_lines"] = ["order_id", "product_id", "quantity", "unit_price"]

    out = [f"# Mapping proposed by shopseg for {source}.",
           "# Every line is a guess from the column's name and its first values: check each, then",
           f"#   shopseg ingest {toml_str(source)[1:-1]} --mapping THIS_FILE",
           "# Format: docs/ingest.md, 'Mapping files'.", ""]
    missing = [t for t in ("order_id", "ordered_at") if t not in roles]
    if missing:
        out += [f"# No column was recognised as {' or '.join(missing)}: add a line for it in [columns].", ""]
    out += ["[columns]"]
    for target, (f, why) in roles.items():
        dst = toml_str(target)
        if target == "email" and email_is_id:
            dst, why = '["customer_id", "email"]', why + "; no customer id column, so the e-mail identifies the customer"
        if target in LINE_KEYS and f.n < f.rows:  # a line without it is quarantined
            why += (f"; empty on {1 - f.n / f.rows:.0%} of the rows looked at: those rows will be quarantined "
                    "unless another column serves (a name as product id: [\"product_id\", \"products.name\"])")
        out.append(f"{toml_key(f.name)} = {dst}  # {why}")
    used = {f.name for f, _ in roles.values()}
    for f in facts:
        if f.name not in used:
            seen = ", ".join(toml_str(x) for x in f.examples[:3]) if f.examples else "always empty"
            out.append(f"# {toml_key(f.name)} = ?  # no role guessed; values like {seen}")
    if email_is_id or "customer_id" in roles:
        out += ["", "[normalise]",
                '# ids compared trimmed and in lower case: "Ann@Example.com " and "ann@example.com" are one person'
                if email_is_id else "# trimmed ids: ' 42' and '42' are one customer",
                'customer_id = ["trim", "lower"]' if email_is_id else 'customer_id = ["trim"]']
        if "email" in roles:
            out.append('email = ["trim", "lower"]')
    if "kind" in roles:
        f = roles["kind"][0]
        values = [r[0] for r in con.execute(
            f"SELECT DISTINCT lower(trim(CAST({ident(f.name)} AS VARCHAR))) AS v FROM _src WHERE v <> '' "
            f"ORDER BY v LIMIT 21").fetchall()]
        out += ["", "[values.kind]", f"# each value of {toml_key(f.name)}: sale, return (refunds, returns) or "
                "adjustment (voided, cancelled: not sold)"]
        for v in values:
            kind = next((k for pat, k in KIND_WORDS if re.search(pat, v)), "sale")
            out.append(f"{toml_key(v)} = {toml_str(kind)}")
    out += ["", "[tables]", "# the file's rows split into these tables (the last one is the file's grain)"]
    out += [f"{t} = [{', '.join(toml_str(c) for c in cols)}]" for t, cols in tables.items()]
    return "\n".join(out) + "\n"
