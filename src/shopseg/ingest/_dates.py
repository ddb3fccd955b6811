"""Dates in ingest: one time-zone rule for every route, and the reading (ISO, m/d/Y or d/m/Y) the data decide."""

from __future__ import annotations

import duckdb

from .. import schema
from ..errors import IngestError
from ._plan import Plan, toml_key
from ._read import SourceInfo
from ._sql import literal

# A time followed by a UTC offset ("10:20-08:00", "10:20:00+0530", "10:20Z", "18:20:00+00" as DuckDB writes
# a Parquet TIMESTAMPTZ): group 1 the time, group 2 the offset.
_OFFSET_RE = r"(\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?)\s*(Z|z|UTC|GMT|[+-]\d\d(?::?\d\d)?)$"


def without_offset(raw: str) -> str:
    """``raw`` (SQL text) with a trailing UTC offset removed: the wall-clock time as written."""
    return f"regexp_replace({raw}, {literal(_OFFSET_RE)}, '\\1')"


def offset_minutes(raw: str) -> str:
    """Minutes east of UTC of a trailing offset in ``raw`` (SQL integer; 0 when there is none)."""
    off = f"regexp_extract({raw}, {literal(_OFFSET_RE)}, 2)"
    digits = f"replace(substr({off}, 2), ':', '')"
    return (f"CASE WHEN left({off}, 1) IN ('+', '-') THEN (CASE WHEN left({off}, 1) = '-' THEN -1 ELSE 1 END) * "
            f"(CAST(left({digits}, 2) AS INTEGER) * 60 + CASE WHEN length({digits}) = 4 "
            f"THEN CAST(right({digits}, 2) AS INTEGER) ELSE 0 END) ELSE 0 END")


def timestamp_sql(raw: str, formats: list[str] | None) -> str:
    """One rule for every route (CSV, JSON, Parquet, platform exports): a time with a UTC offset is stored in
    UTC (``10:20-08:00`` -> ``18:20``); a time without one is stored as written. Plain arithmetic on the
    offset, so the result does not depend on the session's or the machine's time zone."""
    def parse(v: str) -> str:
        return f"try_strptime({v}, {_fl(formats)})" if formats else f"TRY_CAST({v} AS TIMESTAMP)"
    # the offset path (two more regular expressions) only for values that have an offset; LIKE first (a sign
    # after a time, or a zone letter at the end) spares most values without one even the regular expression
    maybe = " OR ".join(f"{raw} LIKE '{pat}'" for pat in ("%:%+%", "%:%-%", "%Z", "%z", "%UTC", "%GMT"))
    return (f"CASE WHEN ({maybe}) AND regexp_matches({raw}, {literal(_OFFSET_RE)}) THEN "
            f"{parse(without_offset(raw))} - to_minutes({offset_minutes(raw)}) ELSE {parse(raw)} END")


# Day-first and month-first spellings a shop's export may use (Excel, regional settings); ISO needs none.
_TIMES = [" %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", ""]
# two-digit years first: "%Y" would read "7/9/17" as the year 17
MONTH_FIRST = [f"%m/%d/{y}{t}" for y in ("%y", "%Y") for t in _TIMES]
DAY_FIRST = [f"%d{sep}%m{sep}{y}{t}" for sep in "/.-" for y in ("%y", "%Y") for t in _TIMES]
ISO_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _fl(formats: list[str]) -> str:
    return "[" + ", ".join(literal(f) for f in formats) + "]"


def settle_date_formats(con: duckdb.DuckDBPyConnection, plan: Plan, info: SourceInfo,
                        date_format: str | None = None, types: dict[str, str] | None = None) -> None:
    """Decide how each date column of ``plan`` reads, from the data, and record it in ``plan.formats``.

    An explicit format (``date_format``, or a mapping's ``[formats]``) is used as given.  Otherwise,
    when some values do not read as ISO (or as the preset's formats) but read as ``m/d/Y`` or ``d/m/Y``:
    a value with a first number above 12 (``13/02/2017``) can only be day-first, one with a second
    number above 12 (``02/13/2017``) only month-first, and the column takes the reading its values
    decide.  A column where every such value reads both ways (no day above 12) is ambiguous and stops
    the ingest with an error naming the column and both readings; one whose values contradict each
    other (some only day-first, some only month-first) too.  A column DuckDB already holds as a date or
    timestamp (``types``: each expression's type; a typed Parquet column) prints as ISO text, which never
    reads as m/d/Y or d/m/Y: nothing to decide, and no pass over the file.
    """
    for tname, cols in plan.exprs.items():
        tbl = schema.INPUT_TABLES[tname]
        for col in tbl.columns:
            expr = cols.get(col.name)
            if col.type != "TIMESTAMP" or expr is None:
                continue
            key = f"{tname}.{col.name}"
            if (types or {}).get(expr, "VARCHAR").upper().startswith(("DATE", "TIMESTAMP")) and not date_format:
                continue
            if date_format:
                plan.formats[key] = [date_format]
                continue
            if key in plan.formats and plan.preset is None:
                continue  # a mapping's explicit format
            given = plan.formats.get(key)
            raw = without_offset("nullif(trim(v0), '')")  # the offset reads either way
            base = f"try_strptime(v, {_fl(given)})" if given else "TRY_CAST(v AS TIMESTAMP)"
            m, d = f"try_strptime(v, {_fl(MONTH_FIRST)})", f"try_strptime(v, {_fl(DAY_FIRST)})"
            n_bad, only_m, only_d, both, ex_m, ex_d, ex_both = con.execute(f"""
                WITH x0 AS (SELECT DISTINCT CAST({expr} AS VARCHAR) AS v0 FROM _src),
                x AS (SELECT DISTINCT {raw} AS v FROM x0),
                y AS (SELECT v, {m} AS m, {d} AS d FROM x WHERE v IS NOT NULL AND {base} IS NULL)
                SELECT count(*), count(*) FILTER (WHERE m IS NOT NULL AND d IS NULL),
                       count(*) FILTER (WHERE d IS NOT NULL AND m IS NULL),
                       count(*) FILTER (WHERE m IS NOT NULL AND d IS NOT NULL AND m <> d),
                       min(v) FILTER (WHERE m IS NOT NULL AND d IS NULL),
                       min(v) FILTER (WHERE d IS NOT NULL AND m IS NULL),
                       min(v) FILTER (WHERE m IS NOT NULL AND d IS NOT NULL AND m <> d)
                FROM y""").fetchone()
            if n_bad == 0 or (only_m + only_d + both) == 0:
                continue  # every value reads already, or no value reads either way (quarantined with reasons)
            label = f"{info.path}: column {col.name!r} of {tname}"
            fix = ("Give the format explicitly: `--date-format \"%d/%m/%Y %H:%M\"` (or \"%m/%d/%Y %H:%M\"), "
                   f"or add to the [formats] section of a mapping file:\n{toml_key(col.name)} = \"%d/%m/%Y %H:%M\"")
            if only_m and only_d:
                raise IngestError(f"{label} mixes month-first dates ({ex_m!r}: the second number is above 12) "
                                  f"and day-first dates ({ex_d!r}: the first number is above 12); "
                                  "no single reading fits; nothing was loaded.", hint=fix)
            if not only_m and not only_d:
                dm = con.execute(f"SELECT strftime(try_strptime($1, {_fl(MONTH_FIRST)}), '%Y-%m-%d'), "
                                 f"strftime(try_strptime($1, {_fl(DAY_FIRST)}), '%Y-%m-%d')", [ex_both]).fetchone()
                raise IngestError(f"{label} is ambiguous: no day is above 12, so {ex_both!r} reads as "
                                  f"{dm[0]} (month first, m/d/Y) or as {dm[1]} (day first, d/m/Y); "
                                  f"nothing was loaded.", hint=fix)
            plan.formats[key] = (given or ISO_FORMATS) + (MONTH_FIRST if only_m else DAY_FIRST)
