"""Typed values of source columns and the checks' wording: how a canonical column reads its source expression."""

from __future__ import annotations

from .. import schema
from ._dates import timestamp_sql
from ._sql import literal


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
