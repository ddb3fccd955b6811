"""What an ingest writes: the plan from a file's columns to canonical tables.

A plan says, for each canonical table it writes, the SQL expression that gives
each canonical column from the source columns of ``_src``.  The ``primary``
table is at the grain of the file (one input row, one row there); the others
are derived from the accepted rows (one row per key), which is how one file
is split into several tables (an invoice export into orders and lines).
Mapping files (TOML) and presets both produce plans.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import duckdb

from .. import schema
from ..errors import ConfigError, IngestError
from ._sql import ident, literal


@dataclass
class Plan:
    primary: str
    exprs: dict[str, dict[str, str]]  # table -> column -> SQL over _src (absent column: default)
    formats: dict[str, list[str]] = field(default_factory=dict)  # "table.column" -> strptime formats
    aggregates: dict[str, dict[str, str]] = field(default_factory=dict)  # derived table -> column -> SQL aggregate
    # per_key: derived table -> column -> SQL over the table's key columns (by their canonical names), for a
    # column that is a function of the key alone (online-retail's is_merchandise from the stock code): evaluated
    # once per key after the GROUP BY instead of on every line (and not in exprs, so not checked per line)
    per_key: dict[str, dict[str, str]] = field(default_factory=dict)
    # by_source: an expression of exprs -> (a column of _src, SQL over that column): the expression's text is a
    # one-to-one function of the column's value, NULL exactly where the value is, once values the SQL tells apart
    # are kept apart (a DOUBLE's 0.0 and -0.0 compare equal and print differently: signbit).  Where the checked
    # rows are not stored, the derived tables group and pick rows on the column's value and print the text once
    # per row written (Online Retail's customer id, a DOUBLE: 0.97 against 0.08 CPU s a GROUP BY at x10)
    by_source: dict[str, tuple[str, str]] = field(default_factory=dict)
    # grouped: derived table -> SQL over _accepted giving its key and its aggregates' columns (by their canonical
    # names), one row per non-NULL key: the same rows as one GROUP BY of the aggregates, in fewer costly steps
    # (online-retail's products: the names' mode and the sale prices' median from one pre-grouping by name and
    # price); the table's other columns must be constants or per_key
    grouped: dict[str, str] = field(default_factory=dict)
    # valid: expressions of exprs whose every value is already the column's canonical text (trimmed, not empty,
    # lower-case, one of its choices: a CASE whose every branch is such a literal), read as they are: no text_of()
    # and lower() on every line, and no check, which could not fail (online-retail's kind; x10: 0.64 against
    # 0.18 CPU s a pass, and the checking pass no longer computes it)
    valid: set[str] = field(default_factory=set)
    # distinct: derived table -> (columns of _accepted, by their staged names, and aggregates by canonical column)
    # giving the same rows over the DISTINCT (key, columns) of the accepted rows as the plan's aggregates over every
    # row; the table's other columns must be constants.  The GROUP BY then reads one row per distinct tuple
    # (online-retail's customers: one per invoice and country, not per line; x100: 2.2-2.9 against 3.9-4.6 s wall,
    # DuckDB's DISTINCT aggregate running on one thread)
    distinct: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    derive_customers: bool = True  # unknown customer ids referenced get a minimal customers row
    preset: str | None = None
    # Hooks for presets that read a set of files (olist, instacart).
    # enrich: a SELECT over ``_src`` (aliased ``s``) giving each row of ``_src`` exactly once plus extra
    # columns whose names start with "_" (lookups in sibling files, running totals over the whole file);
    # it replaces ``_src`` before staging, so ``exprs`` and ``checks`` may use those columns.
    enrich: str | None = None
    # checks: (column at fault, SQL over _src giving the reason text, or NULL when the row is fine);
    # evaluated before the column checks, so the more specific reason wins.
    checks: list[tuple[str, str]] = field(default_factory=list)
    # merge_primary: rows sharing the primary key describe one entity (Olist's customers file has a row
    # per order for each person): all are accepted, and written as one row per key (first values).
    merge_primary: bool = False
    # requires: table -> hint; the ingest stops with an IngestError when that table is still empty.
    requires: dict[str, str] = field(default_factory=dict)
    # after: a step run once the rows are written, in the same transaction (``_src`` and ``_fated`` still
    # exist): ``after(con, ingest_id)`` adds rows that follow from the loaded ones (a platform's refunds as
    # return orders) and returns the rows it added per table.
    after: Callable[[duckdb.DuckDBPyConnection, int], dict[str, int]] | None = None
    # key_is_pii: the plan's customer_id is personal data (a platform export's e-mail); under
    # privacy.pii = hash or separate it is stored as the e-mail's pseudonym (see apply_key_privacy)
    key_is_pii: bool = False

    @property
    def tables(self) -> list[str]:
        return [t for t in schema.LOAD_ORDER if t in self.exprs]


MAPPING_KEYS = {"table", "format", "delimiter", "encoding", "header", "columns", "formats", "constants", "tables",
                "normalise", "values"}
NORMALISE_STEPS = {"trim": "trim({})", "lower": "lower({})", "upper": "upper({})"}


@dataclass
class Mapping:
    """A parsed mapping file.

    ::

        table = "orders"              # the target, when the file holds one table
        format = "csv"                # optional; else from the file name
        delimiter = ";"               # optional CSV options (else sniffed)
        encoding = "latin-1"
        header = true

        [columns]                     # source column = canonical column
        InvoiceNo = "order_id"        # or "orders.discount_amount" when ambiguous
        InvoiceDate = "ordered_at"
        Email = ["customer_id", "email"]   # one source column, several targets
        "Financial Status" = "kind"

        [normalise]                   # canonical column = steps (trim, lower, upper), in order
        customer_id = ["trim", "lower"]

        [values.kind]                 # canonical column: source value (any case) = canonical value
        refunded = "return"
        "*" = "sale"                  # any other value ("*" absent: kept as given)

        [formats]                     # canonical column = strptime format(s)
        ordered_at = ["%d/%m/%Y %H:%M", "%Y-%m-%d"]

        [constants]                   # canonical column = fixed value
        channel = "web"

        [tables]                      # split one file into several tables
        orders = ["order_id", "customer_id", "ordered_at"]
        order_lines = ["order_id", "product_id", "quantity", "unit_price"]
    """

    table: str | None = None
    format: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)  # source column -> canonical column(s)
    formats: dict[str, list[str]] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)
    tables: dict[str, list[str]] = field(default_factory=dict)
    normalise: dict[str, list[str]] = field(default_factory=dict)  # canonical column -> steps
    values: dict[str, dict[str, object]] = field(default_factory=dict)  # canonical column -> source value -> value
    source: str = "mapping"


def load_mapping(path: str | Path) -> Mapping:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Mapping file {p} does not exist.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Mapping file {p} is not valid TOML: {e}.") from None
    return mapping_from_dict(data, source=str(p))


def mapping_from_dict(data: dict, source: str = "mapping") -> Mapping:
    unknown = set(data) - MAPPING_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(sorted(unknown))}; expected: {', '.join(sorted(MAPPING_KEYS))}."
        )
    m = Mapping(source=source)
    for key in ("table", "format", "delimiter", "encoding"):
        if key in data:
            if not isinstance(data[key], str):
                raise ConfigError(f"{source}: {key!r} must be a string. Got {data[key]!r} instead.")
            setattr(m, key, data[key])
    if "header" in data:
        if not isinstance(data["header"], bool):
            raise ConfigError(f"{source}: 'header' must be true or false. Got {data['header']!r} instead.")
        m.header = data["header"]
    for src, dst in dict(data.get("columns", {})).items():
        dsts = [dst] if isinstance(dst, str) else dst
        if not isinstance(dsts, list) or not dsts or not all(isinstance(d, str) for d in dsts):
            raise ConfigError(f"{source}: [columns] {toml_key(str(src))} must name a canonical column or a list of "
                              f"them. Got {dst!r} instead.")
        for d in dsts:
            _check_canonical(d, source)
        m.columns[str(src)] = list(dsts)
    for col, steps in dict(data.get("normalise", {})).items():
        steps = [steps] if isinstance(steps, str) else steps
        if not isinstance(steps, list) or not all(s in NORMALISE_STEPS for s in steps):
            raise ConfigError(f"{source}: [normalise] {col} must be a list of steps among "
                              f"{', '.join(NORMALISE_STEPS)}. Got {steps!r} instead.")
        _check_canonical(col, source)
        m.normalise[col] = list(steps)
    for col, table in dict(data.get("values", {})).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [values.{col}] must be a table of source value = canonical value. "
                              f"Got {table!r} instead.")
        _check_canonical(col, source)
        m.values[col] = {str(k).strip().lower(): v for k, v in table.items()}
    for col, fmts in dict(data.get("formats", {})).items():
        fmts = [fmts] if isinstance(fmts, str) else fmts
        if not isinstance(fmts, list) or not all(isinstance(f, str) for f in fmts):
            raise ConfigError(f"{source}: [formats] {col} must be a format string or a list of them.")
        _check_canonical(col, source)
        m.formats[col] = fmts
    for col, value in dict(data.get("constants", {})).items():
        _check_canonical(col, source)
        m.constants[col] = value
    for table, cols in dict(data.get("tables", {})).items():
        t = _table(table, source)
        if not isinstance(cols, list):
            raise ConfigError(f"{source}: [tables] {table} must be a list of canonical columns.")
        for c in cols:
            if c not in {x.name for x in t.columns}:
                raise ConfigError(
                    f"{source}: [tables] {table}: {c!r} is not a column of {table}; "
                    f"expected one of {', '.join(x.name for x in t.columns)}."
                )
        m.tables[table] = list(cols)
    if m.table is not None:
        _table(m.table, source)
    return m


def _table(name: str, source: str) -> schema.Table:
    if name not in schema.INPUT_TABLES:
        raise ConfigError(
            f"{source}: unknown table {name!r}; expected one of {', '.join(schema.INPUT_TABLES)}."
        )
    return schema.INPUT_TABLES[name]


def _all_canonical() -> set[str]:
    names = set()
    for t in schema.INPUT_TABLES.values():
        for c in t.columns:
            names.add(c.name)
            names.add(f"{t.name}.{c.name}")
    return names


def _check_canonical(name: str, source: str) -> None:
    if name not in _all_canonical():
        close = difflib.get_close_matches(name, sorted(_all_canonical()), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{source}: {name!r} is not a canonical column.{hint}")


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def guess_table(path: Path) -> str | None:
    stem = re.sub(r"\d+$", "", _norm(path.name.split(".")[0]))  # orders_2024_01.csv holds orders
    for t in schema.INPUT_TABLES:
        if stem in (_norm(t), _norm(t).rstrip("s")) or stem.endswith(_norm(t)):
            return t
    return None


def plan_from_mapping(mapping: Mapping, source_columns: list[str], table: str | None, path: Path) -> Plan:
    """Build the plan for a file with ``source_columns`` under ``mapping``."""
    if mapping.tables:
        targets = dict(mapping.tables)
    else:
        t = table or mapping.table or guess_table(path)
        if t is None:
            raise IngestError(
                f"{path}: which table does this file hold?",
                hint=f"Give --table (one of {', '.join(schema.INPUT_TABLES)}) or `table = ...` in a mapping file.",
            )
        tbl = schema.get_table(t)
        targets = {t: [c.name for c in tbl.columns]}
    by_lower = {}
    for c in source_columns:
        by_lower.setdefault(c.lower(), c)
    # canonical (qualified or not) -> source column
    renamed: dict[str, str] = {}
    for src, dst in ((s, d) for s, ds in mapping.columns.items() for d in ds):
        if src not in source_columns:
            raise IngestError(
                f"{path}: the mapping ({mapping.source}) names column {src!r}, which the file does not have; "
                f"found: {', '.join(source_columns)}."
            )
        other = renamed.get(dst)  # (a qualified target, orders.order_id, takes precedence over order_id: no clash)
        if other is not None:  # read as one, the last silently won
            raise IngestError(
                f"{path}: the mapping ({mapping.source}) maps two columns onto {dst!r}: {other!r} and {src!r}; "
                f"expected one source column per canonical column; nothing was loaded.",
                hint=f"Keep one of them in [columns], or map the other to a table-qualified column "
                     f"(e.g. \"orders.{dst.split('.')[-1]}\") when they belong to different tables.")
        renamed[dst] = src
    exprs: dict[str, dict[str, str]] = {}
    from_source: dict[str, set[str]] = {}  # table -> columns read from the file (not constants)
    formats: dict[str, list[str]] = {}
    for tname, cols in targets.items():
        tbl = schema.INPUT_TABLES[tname]
        exprs[tname], from_source[tname] = {}, set()
        for col in cols:
            qualified = f"{tname}.{col}"
            src = renamed.get(qualified) or renamed.get(col)
            if src is None and col not in renamed and qualified not in renamed:
                src = by_lower.get(col.lower())
            if src is not None:
                exprs[tname][col] = _mapped(ident(src), _get(mapping.normalise, tname, col),
                                            _get(mapping.values, tname, col))
                from_source[tname].add(col)
            elif qualified in mapping.constants or col in mapping.constants:
                exprs[tname][col] = literal(mapping.constants.get(qualified, mapping.constants.get(col)))
            fmts = mapping.formats.get(qualified) or mapping.formats.get(col)
            if fmts:
                formats[qualified] = fmts
        missing = [c for c in tbl.required if c not in exprs[tname]]
        if missing:
            raise IngestError(missing_column_message(path, tname, missing, source_columns),
                              hint=missing_column_hint(missing, source_columns))
    primary = [t for t in schema.LOAD_ORDER if t in targets][-1]
    for tname in exprs:
        if tname != primary:
            _fill_from_key(exprs[tname], schema.INPUT_TABLES[tname].key[0], from_source[tname])
    return Plan(primary=primary, exprs=exprs, formats=formats)


def _fill_from_key(cols: dict[str, str], key: str, from_source: set[str]) -> None:
    """A derived table's columns as the first non-empty value among the rows sharing its key, on every row.

    Exports give an order's date, status or e-mail on its first line only: each line then carries them, so a
    line is not quarantined for a value its order has (the derived row already took the first non-empty value).
    """
    if key not in cols:
        return
    win = (f"OVER (PARTITION BY {_text(cols[key])} ORDER BY _row "
           "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)")
    for c in from_source - {key}:
        cols[c] = f"first_value({_text(cols[c])} IGNORE NULLS) {win}"


def _text(sql: str) -> str:
    return f"nullif(trim(CAST({sql} AS VARCHAR)), '')"


def _get(d: dict, table: str, col: str):
    """A mapping section's entry for a canonical column: table-qualified first."""
    return d.get(f"{table}.{col}", d.get(col))


def _mapped(src_sql: str, steps: list[str] | None, values: dict[str, object] | None) -> str:
    """The SQL of a source column after its value map (matched trimmed, any case) and normalisation steps.

    >>> print(_mapped('"Email"', ["trim", "lower"], None))
    lower(trim(CAST("Email" AS VARCHAR)))
    >>> print(_mapped('"Status"', None, {"refunded": "return", "*": "sale"}))
    CASE lower(trim(CAST("Status" AS VARCHAR))) WHEN 'refunded' THEN 'return' ELSE 'sale' END
    """
    if not steps and not values:
        return src_sql
    sql = f"CAST({src_sql} AS VARCHAR)"
    if values:
        other = values.get("*")
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in values.items() if k != "*")
        sql = (f"CASE lower(trim({sql})) {whens} ELSE "
               f"{sql if other is None else literal(other)} END")
    for step in steps or []:
        sql = NORMALISE_STEPS[step].format(sql)
    return sql


def toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when it may be, else a quoted string (``Created at`` -> ``"Created at"``).

    >>> print(toml_key("Email"), toml_key("Created at"), toml_key('a"b'))
    Email "Created at" "a\\"b"
    """
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_str(name)


def toml_str(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes are TOML's)."""
    import json

    return json.dumps(value, ensure_ascii=False)


def missing_column_message(path: Path, table: str, missing: list[str], found: list[str]) -> str:
    return (
        f"{path}: table {table!r} needs column(s) {', '.join(missing)}, which the file does not have; "
        f"columns found: {', '.join(found)}."
    )


_ALIASES = {
    "order_id": ["order", "invoice", "invoiceno", "invoice_no", "ordernumber", "order_no"],
    "customer_id": ["customer", "client", "user", "userid", "buyer"],
    "product_id": ["product", "sku", "stockcode", "item", "itemid", "article"],
    "ordered_at": ["date", "orderdate", "invoicedate", "timestamp", "created", "purchased"],
    "quantity": ["qty", "units", "count", "amount"],
    "unit_price": ["price", "unitprice", "itemprice"],
    "event_type": ["type", "event", "action"],
    "occurred_at": ["time", "timestamp", "date", "eventtime"],
    "session_id": ["session", "visit"],
    "reviewed_at": ["date", "time", "created"],
    "rating": ["stars", "score"],
}


def missing_column_hint(missing: list[str], found: list[str]) -> str:
    lines = []
    normfound = {_norm(f): f for f in found}
    for col in missing:
        cands = [_norm(col)] + [_norm(a) for a in _ALIASES.get(col, [])]
        best = None
        for cand in cands:
            close = difflib.get_close_matches(cand, list(normfound), n=1, cutoff=0.75)
            if close:
                best = normfound[close[0]]
                break
        src = best or "<your column>"
        lines.append(f"{toml_key(src)} = {toml_str(col)}")
    # one TOML line each, so the hint can be pasted into the file as it is
    return "Add to the [columns] section of a mapping file (--mapping FILE):\n" + "\n".join(lines)

