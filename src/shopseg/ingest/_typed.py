"""Typed values of source columns and the checks' wording: how a canonical column reads its source expression."""

from __future__ import annotations

from .. import schema
from ._dates import timestamp_sql
from ._sql import literal


def constant(col: schema.Column) -> str:
    """The value of a canonical column the file does not give (its default, NULL when it has none), as SQL."""
    return f"CAST({literal(col.default)} AS {col.type})"


def _typed_sql(col: schema.Column, raw: str, formats: list[str] | None) -> str:
    if col.type == "VARCHAR":
        return f"lower({raw})" if col.choices else raw
    if col.type == "TIMESTAMP":
        return timestamp_sql(raw, formats)
    if col.type == "BIGINT":
        # accept 5 and 5.0, not 5.5
        return (f"CASE WHEN TRY_CAST({raw} AS DOUBLE) = round(TRY_CAST({raw} AS DOUBLE)) "
                f"THEN TRY_CAST(TRY_CAST({raw} AS DOUBLE) AS BIGINT) END")
    return f"TRY_CAST({raw} AS {col.type})"


def _quoted(raw: str) -> str:
    return f"'''' || left({raw}, 60) || CASE WHEN length({raw}) > 60 THEN '...' ELSE '' END || ''''"


def _domain_violation(col: schema.Column, typed: str) -> str | None:
    conds = []
    if col.choices:
        conds.append(f"{typed} NOT IN ({', '.join(literal(c) for c in col.choices)})")
    if col.positive:
        conds.append(f"{typed} <= 0")
    if col.min is not None:
        conds.append(f"{typed} < {col.min!r}")
    if col.max is not None:
        conds.append(f"{typed} > {col.max!r}")
    return " OR ".join(conds) if conds else None


def text_of(src: str) -> str:
    """The trimmed text of a source expression, NULL when empty: what every check reads, and what a reason shows."""
    return f"nullif(trim(CAST({src} AS VARCHAR)), '')"


_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_TS_RANGE = "BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999'"
_EXACT_IN_DOUBLE = "BETWEEN -9007199254740992 AND 9007199254740992"  # 2^53: integers a DOUBLE holds exactly


def typed_direct(col: schema.Column, src: str, src_type: str, formats: list[str] | None) -> str | None:
    """``col``'s typed value read straight from ``src``, a source value DuckDB already holds as ``src_type``
    (a typed Parquet column, a preset's computed flag), or None when only its text gives the exact value.

    The text path (:func:`_typed_sql` over :func:`text_of`) prints every value and parses it back: a
    timestamp through four strptime formats and an offset test, a number through its digits.  Where the
    type already says what the text would parse to, the value is used as it is; a value outside what that
    shortcut covers (a timestamp with microseconds under a seconds-only format, a year past 9999, an integer
    past 2^53 that the text path reads through a DOUBLE) goes through the text path as before, so the
    result, the checks and the reasons are the same as reading the text.
    """
    t = src_type.upper()
    if col.type == "DOUBLE" and t in _INTEGERS + ("HUGEINT", "DOUBLE"):
        return f"CAST({src} AS DOUBLE)"  # the shortest text that reads back as the same double (DuckDB's cast)
    if col.type == "BIGINT" and t in _INTEGERS:
        return f"CASE WHEN {src} {_EXACT_IN_DOUBLE} THEN CAST({src} AS BIGINT) ELSE {_typed_sql(col, text_of(src), None)} END"
    if col.type == "BOOLEAN" and t == "BOOLEAN":
        return src
    if col.type == "TIMESTAMP" and t in ("TIMESTAMP", "DATE"):
        if not formats:  # the text path: TRY_CAST of ISO text, the same instant
            same = f"{src} {_TS_RANGE}"
        elif t == "TIMESTAMP" and formats[0] == "%Y-%m-%d %H:%M:%S":  # whole seconds print in that format
            same = f"{src} {_TS_RANGE} AND epoch_us({src}) % 1000000 = 0"
        else:
            return None
        return f"CASE WHEN {same} THEN CAST({src} AS TIMESTAMP) ELSE {timestamp_sql(text_of(src), formats)} END"
    return None


def expression_types(con, exprs) -> dict[str, str]:
    """DuckDB's type of each SQL expression over ``_src`` (no row is read)."""
    exprs = list(dict.fromkeys(exprs))
    if not exprs:
        return {}
    rows = con.execute("DESCRIBE SELECT " + ", ".join(f"{e} AS e{i}" for i, e in enumerate(exprs)) + " FROM _src"
                       ).fetchall()
    return {e: r[1] for e, r in zip(exprs, rows)}
