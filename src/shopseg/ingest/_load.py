"""Validate the rows of ``_src`` against the plan, then load them in one transaction.

Every input row ends in exactly one of three places, and the counts add up to
the input exactly:

- **duplicate**: the same as an earlier row of the file (every source column
  equal), or already in the workspace with the same values;
- **quarantined**: a check failed; ``quarantine`` keeps the file, the row, the
  column and the reason, and the row as read;
- **accepted**: loaded into the primary table; rows of derived tables (orders
  of an invoice export, customers seen for the first time...) come from
  accepted rows only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from .. import schema
from ..errors import IngestError
from ._plan import Plan
from ._read import SourceInfo, drop_src
from ._sql import ident, literal
from ._dates import settle_date_formats, timestamp_sql  # noqa: F401  (timestamp_sql: re-exported for tests)
from ._typed import _domain_violation, _quoted, _typed_sql, constant, expression_types, text_of, typed_direct
from ..progress import sql_progress
from ..trust.pii import PII_COLUMNS

FATES = ("accepted", "quarantined", "duplicate")
# each row's fate as stored in the checked rows: one byte a row, compared with the fates' names as text
FATE_TYPE = "ENUM(" + ", ".join(f"'{f}'" for f in FATES) + ")"


@dataclass
class IngestResult:
    """What one ingest did. ``n_input == n_accepted + n_quarantined + n_duplicate``."""

    ingest_id: int
    source: str
    tables: list[str]
    n_input: int
    n_accepted: int
    n_quarantined: int
    n_duplicate: int
    rows_added: dict[str, int]
    summary: dict = field(default_factory=dict)
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    preset: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def reconciled(self) -> bool:
        return self.n_input == self.n_accepted + self.n_quarantined + self.n_duplicate

    def _repr_html_(self) -> str:
        """The ingest in a notebook: the row counts, rows added per table, the preset's figures and the most
        common quarantine reasons."""
        from .._html import html_table

        rows = [("input rows", self.n_input), ("accepted", self.n_accepted), ("quarantined", self.n_quarantined),
                ("exact duplicates", self.n_duplicate),
                *((f"{t} added", n) for t, n in self.rows_added.items()),
                *((k.replace("_", " "), v) for k, v in self.summary.items()),
                *((f"quarantined: {r}", n) for r, n in self.top_reasons)]
        return html_table(["", "rows"], rows, caption=f"Ingest {self.ingest_id}: {self.source}"
                          + (f" (preset {self.preset})" if self.preset else ""))

    def describe(self) -> str:
        """A plain-text summary, as the CLI prints it."""
        lines = [
            f"Ingest {self.ingest_id}: {self.source}" + (f" (preset {self.preset})" if self.preset else ""),
            f"  {self.n_input:,} input rows = {self.n_accepted:,} accepted + {self.n_quarantined:,} quarantined"
            f" + {self.n_duplicate:,} exact duplicates",
        ]
        added = ", ".join(f"{t} +{n:,}" for t, n in self.rows_added.items())
        lines.append(f"  rows added: {added}")
        for key, value in self.summary.items():
            lines.append(f"  {key.replace('_', ' ')}: {value:,}" if isinstance(value, int) else
                         f"  {key.replace('_', ' ')}: {value}")
        if self.top_reasons:
            lines.append("  quarantine reasons:")
            lines += [f"    {n:,} x {r}" for r, n in self.top_reasons]
        if self.n_quarantined and not self.n_accepted:  # never a quiet 100% quarantine
            lines.append("  Warning: every row was quarantined, nothing was loaded from this file. Check the "
                         "mapping's column names, or give the dates' format with --date-format "
                         "(e.g. \"%d/%m/%Y %H:%M\") when the reasons are dates.")
        return "\n".join(lines)


FORGOTTEN = "forgotten customer"


def stage_and_check(con: duckdb.DuckDBPyConnection, plan: Plan, info: SourceInfo, privacy=None,
                    date_format: str | None = None, dates: tuple[str, str] = ("1900-01-01", "2199-12-31")
                    ) -> dict[str, tuple[str, str, str, str]]:
    """Build ``_stage`` (typed canonical columns), then ``_fated`` (each row's fate and reason).

    Date columns read as :func:`settle_date_formats` decides (``date_format``: one explicit format).
    ``privacy`` (:class:`shopseg.trust.pii.IngestPrivacy`) pseudonymises the PII columns of customers in
    ``_stage`` itself, so raw values never reach a canonical table, and quarantines rows of forgotten
    customers (reason ``forgotten customer``, checked before anything else).

    Returns the typed text columns of ``_accepted`` that writers may group or pick rows by on a source value
    (:attr:`Plan.by_source`; only where the checked rows are not stored): column (quoted) -> (its text as SQL over
    the source column, the source column's name in that SQL, ``_accepted``'s column holding the value, and the
    one holding what keeps apart values that compare equal).
    """
    for tname, hint in plan.requires.items():
        if con.execute(f"SELECT count(*) FROM {ident(tname)}").fetchone()[0] == 0:
            raise IngestError(f"{info.path}: table {tname!r} is still empty, and this file's rows refer to it.",
                              hint=hint)
    if plan.enrich:
        con.execute(f"CREATE TEMP TABLE _src_enriched AS {plan.enrich}")
        n = con.execute("SELECT count(*) FROM _src_enriched").fetchone()[0]
        if n != info.n_rows:  # a lookup that is not one row per key would multiply rows
            raise IngestError(f"{info.path}: internal error: preset {plan.preset!r} turned {info.n_rows} rows "
                              f"into {n} while looking up sibling files; nothing was loaded.")
        drop_src(con)
        con.execute("ALTER TABLE _src_enriched RENAME TO _src")
    types = expression_types(con, [e for cols in plan.exprs.values() for e in cols.values()])
    settle_date_formats(con, plan, info, date_format, types)
    raws, typeds, checks = [], [], []  # checks: (condition, column label, message SQL)
    raw_of: dict[str, str] = {}  # source text expression -> its raw column
    helpers: list[str] = []  # typed values before defaults / pseudonyms, for the checks only
    # columns the readers' views take from an earlier one: constants (a column the file does not give) and
    # copies of an earlier column (a key or a price that feeds two tables), computed once a row
    virtual: dict[str, str] = {}
    first_of: dict[str, str] = {}

    # the file's text columns that no value needs trimming in, when every writer will type the rows again (the
    # checked rows not stored): one pass over them here instead of trim() in every pass (docs/history/scale.md
    # "Session 12: ingest")
    recompute = not materialise_checked(con, info.n_rows, sum(map(len, plan.exprs.values())) + 4)
    trimmed = set() if not recompute else \
        already_trimmed(con, [e for e in dict.fromkeys(e for cols in plan.exprs.values() for e in cols.values())
                              if e in {ident(c) for c in info.columns} and types.get(e) == "VARCHAR"])

    def raw_column(expr: str, name: str, typed: bool = False) -> str:
        """The trimmed text of ``expr`` (``typed``: its value as DuckDB holds it): one column per distinct source
        expression (a key feeds several tables)."""
        value = expr if typed else f"nullif({expr}, '')" if expr in trimmed else text_of(expr)
        if value not in raw_of:
            raw_of[value] = ident(("s__" if typed else "r__") + name)
            raws.append(f"{value} AS {raw_of[value]}")
        return raw_of[value]
    referenced: set[str] = set()  # tables whose keys rows must find already loaded
    late: dict[str, tuple[str, str, str, str]] = {}  # see the docstring
    sources: dict[str, str] = {}  # source value columns of _cols for late: SQL -> column (quoted)
    if info.parse_error_column:
        checks.append(("_parse_error IS NOT NULL", "(row)", "_parse_error"))
    for i, (label, sql) in enumerate(plan.checks):  # preset checks first: the more specific reason wins
        name = ident(f"r___check{i}")
        raws.append(f"({sql}) AS {name}")
        checks.append((f"{name} IS NOT NULL", label, name))
    for tname in [plan.primary] + [t for t in plan.tables if t != plan.primary]:
        tbl = schema.INPUT_TABLES[tname]
        derived = tname != plan.primary
        # a derived table's row exists only where its key is given (a guest line has no customer)
        key_raw = raw_column(plan.exprs[tname][tbl.key[0]], f"{tname}__{tbl.key[0]}") \
            if derived and tbl.key[0] in plan.exprs[tname] else None
        for col in tbl.columns:
            name = f"{tname}__{col.name}"
            expr = plan.exprs[tname].get(col.name)
            if expr is None:
                typeds.append(f"{constant(col)} AS {ident(name)}")
                virtual[ident(name)] = constant(col)
                continue
            formats = plan.formats.get(f"{tname}.{col.name}")
            src_type = types.get(expr, "VARCHAR")
            if expr in plan.valid:  # the canonical text itself (Plan.valid): read as it is, nothing to check
                raw = shown = typed_expr = raw_column(expr, name, typed=True)
            elif typed_direct(col, expr, src_type, formats) is not None:  # a typed value: no text printed, parsed back
                raw = raw_column(expr, name, typed=True)
                shown = text_of(raw)  # NULL exactly when the value is: the same checks read either
                typed_expr = typed_direct(col, raw, src_type, formats)
            else:
                raw = shown = raw_column(expr, name)
                typed_expr = _typed_sql(col, raw, formats)
            if col.default is not None:
                final = f"coalesce({typed_expr}, {literal(col.default)})"
            elif privacy is not None:
                final = privacy.typed_pii(tname, col.name, typed_expr)
                if privacy.policy == "separate" and tname == "customers" and col.name in PII_COLUMNS:
                    typeds.append(f"{typed_expr} AS {ident('_pii__' + col.name)}")  # for customer_pii
            else:
                final = typed_expr
            typeds.append(f"{final} AS {ident(name)}")
            by = plan.by_source.get(expr)
            if recompute and by is not None and final == raw:  # a text column grouped on its source's value
                for sql in by:
                    sources.setdefault(sql, ident(f"k__{len(sources)}"))
                late[ident(name)] = (next(v for v, r in raw_of.items() if r == raw), by[0], *(sources[b] for b in by))
            if final in first_of:  # the same value as an earlier column (a key or a price that feeds two tables)
                virtual[ident(name)] = first_of[final]
                if first_of[final] in late:
                    late[ident(name)] = late[first_of[final]]
            else:
                first_of[final] = ident(name)
            # the checks read the typed value as a column, computed once (not the expression again per check)
            typed = ident(name)
            if final != typed_expr:
                typed = ident("_t__" + name)
                typeds.append(f"{typed_expr} AS {typed}")
                helpers.append(typed)
            if col.name == "customer_id" and privacy is not None:
                forgotten = privacy.forgotten_check(ident(name))
                if forgotten:  # first: the row is not loaded whatever else is wrong with it
                    checks.insert(0, (forgotten, col.name, literal(FORGOTTEN)))
            exp = literal(col.expectation())
            if col.required and not (derived and col.name in tbl.key):
                when = f"{raw} IS NULL" + (f" AND {key_raw} IS NOT NULL" if key_raw else "")
                checks.append((when, col.name, f"'missing value, expected ' || {exp}"))
            if typed_expr != raw:  # (text read as text cannot fail to type: no check, and no pass prints it)
                checks.append((f"{raw} IS NOT NULL AND ({typed}) IS NULL", col.name,
                               f"'expected ' || {exp} || ', got ' || {_quoted(shown)}"))
            if col.type == "DOUBLE":  # 'inf', 'nan', 1e999 parse as numbers; no figure can be made of them
                checks.append((f"{raw} IS NOT NULL AND NOT isfinite({typed})", col.name,
                               f"'expected a finite number, got ' || {_quoted(shown)}"))
            if col.type == "TIMESTAMP":  # 'infinity', 'epoch', year 0 or 10000 parse; a run cannot stand on them
                lo, hi = (literal(d) for d in (col.min_date or dates[0], dates[1]))
                which = "ingest.max_date" if col.min_date else "ingest.min_date, ingest.max_date"
                checks.append((f"{raw} IS NOT NULL AND NOT (({typed}) BETWEEN CAST({lo} AS TIMESTAMP) AND "
                               f"CAST({hi} AS TIMESTAMP) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND)", col.name,
                               f"'expected a date from ' || {lo} || ' to ' || {hi} || ' ({which}), got ' || "
                               f"{_quoted(shown)}"))
            bad = _domain_violation(col, f"({typed})") if expr not in plan.valid else None
            if bad:
                checks.append((f"{raw} IS NOT NULL AND ({bad})", col.name,
                               f"'expected ' || {exp} || ', got ' || {_quoted(shown)}"))
            if col.references:
                rtable, rcol = col.references.split(".")
                if rtable == "customers" and plan.derive_customers:
                    continue
                if rtable in plan.exprs:
                    continue  # the same row brings the referenced row: an accepted row always has it
                referenced.add(rtable)
                checks.append((
                    f"{ident(name)} IS NOT NULL AND {ident(name)} NOT IN (SELECT k FROM {ident('_ref_' + rtable)})",
                    col.name,
                    f"'unknown ' || {literal(rtable.rstrip('s'))} || ' ' || {_quoted(shown)} || "
                    f"', not in {rtable} nor in this file'",
                ))

    # a broken JSON row's columns are all NULL: its text tells two broken rows apart (not exact duplicates)
    src_cols = ", ".join([ident(c) for c in info.columns] + (["_line"] if info.parse_error_column else []))
    extra = ", _parse_error" if info.parse_error_column else ""
    # exact duplicates of an earlier row: only rows whose hash is shared can be one, and the exact (costlier)
    # comparison of all columns is made on those rows alone.  The shared hashes are found by sorting the hashes
    # and comparing each with the next: the same set as GROUP BY h HAVING count(*) > 1, without a hash table of
    # one entry per row (Online Retail x10: 0.9 against 1.8 CPU s; docs/history/scale.md "Session 12: ingest").
    # The hash's upper 32 bits only: a sort of 4-byte keys (x100: 4.3-4.5 against 6.2-6.3 CPU s for this statement);
    # the rows that share one by chance (x100: 1.7M rows with a shared key against 1.0M with a shared 64-bit hash)
    # are told apart by the exact comparison, which costs ~1 CPU s more (docs/scale.md "Session 17: ingest")
    hashed = f"CAST(hash({src_cols}) >> 32 AS UINTEGER)"
    con.execute(f"CREATE TEMP TABLE _shared AS SELECT DISTINCT h FROM (SELECT h, lead(h) OVER (ORDER BY h) AS h_next "
                f"FROM (SELECT {hashed} AS h FROM _src)) WHERE h = h_next")
    if con.execute("SELECT count(*) FROM _shared").fetchone()[0] == 0:
        dup = "FALSE"
    else:
        con.execute(f"CREATE TEMP TABLE _later AS SELECT _row FROM (SELECT _row, row_number() OVER "
                    f"(PARTITION BY {src_cols} ORDER BY _row) AS k FROM _src "
                    f"WHERE {hashed} IN (SELECT h FROM _shared)) WHERE k > 1")
        dup = "_row IN (SELECT _row FROM _later)"
    con.execute(f"CREATE TEMP VIEW _cols AS SELECT _row{extra}" + "".join(", " + r for r in raws)
                + "".join(f", {sql} AS {k}" for sql, k in sources.items()) + " FROM _src")
    ptable = schema.INPUT_TABLES[plan.primary]
    key_cols = [k for k in ptable.key if k in plan.exprs[plan.primary]]
    keyed = len(key_cols) == len(ptable.key)
    loaded = con.execute(f"SELECT count(*) FROM {ident(plan.primary)}").fetchone()[0]
    stored = len(typeds) - len(virtual) - len(helpers) + 4  # with _row, _fate, _reason2, _column2
    store = materialise_checked(con, info.n_rows, stored)
    # past the budget, into a table with no key and nothing loaded, a row is not accepted when a check fails or it
    # repeats an earlier row: the pass keeps the rows failing a check and a join with the later copies gives the
    # fates (below), instead of the pass looking every line up among the later copies (x100: 200 and 526,800
    # rows; docs/scale.md "Session 17: ingest")
    fates_after = not store and not keyed and not loaded and dup != "FALSE"
    # views: DuckDB pipelines them into the checking pass (the table _bad, or _fated_t while it fits the budget)
    con.execute(f"CREATE TEMP VIEW _raw AS SELECT *, {'FALSE' if fates_after else dup} AS _dup_file FROM _cols")
    con.execute("CREATE TEMP VIEW _stage AS SELECT *, " + ", ".join(typeds) + " FROM _raw")

    for tname in sorted(referenced):  # keys already loaded
        key = schema.INPUT_TABLES[tname].key[0]
        con.execute(f"CREATE TEMP TABLE {ident('_ref_' + tname)} AS SELECT DISTINCT {ident(key)} AS k "
                    f"FROM {ident(tname)} WHERE {ident(key)} IS NOT NULL")

    # each row's first failing check, evaluated once (one CASE), then its reason and column from that number
    first = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (c, _, _) in enumerate(checks)) + " END" if checks else "NULL"
    reason = "CASE _check " + " ".join(f"WHEN {i} THEN {m}" for i, (_, _, m) in enumerate(checks)) + " END" if checks else "NULL"
    column = "CASE _check " + " ".join(f"WHEN {i} THEN {literal(l)}" for i, (_, l, _) in enumerate(checks)) + " END" if checks else "NULL"
    con.execute(f"CREATE TEMP VIEW _checks AS SELECT *, {first} AS _check FROM _stage")
    # the raw text columns are needed only for the reasons: leave them behind before anything is materialised
    drop = [r.rsplit(" AS ", 1)[1] for r in raws] + helpers + ["_check"] + list(sources.values())
    con.execute(f"CREATE TEMP VIEW _checked AS SELECT * EXCLUDE ({', '.join(drop)}), {reason} AS _reason, "
                f"{column} AS _column FROM _checks")

    # key conflicts inside the file, then against what is already loaded
    not_accepted = None  # a condition every row that is not accepted meets, when one is cheaper than the fate
    content_cols = [c.name for c in ptable.columns if c.name not in ("line_no",)]
    pk = [ident(f"{plan.primary}__{k}") for k in (key_cols if keyed else [])]
    if keyed:
        # a merged primary (one entity over several rows) has no key clash inside the file
        key_clash = "FALSE" if plan.merge_primary else "c._key_rank > 1"
        part = ", ".join(pk)
        con.execute(
            f"CREATE TEMP VIEW _keyed AS SELECT *, "
            f"CASE WHEN NOT _dup_file AND _reason IS NULL THEN row_number() OVER (PARTITION BY _dup_file OR _reason IS NOT NULL, {part} ORDER BY _row) END AS _key_rank, "
            f"first_value(_row) OVER (PARTITION BY _dup_file OR _reason IS NOT NULL, {part} ORDER BY _row) AS _key_first "
            f"FROM _checked"
        )
        on = " AND ".join(f"e.{ident(k)} = c.{ident(plan.primary + '__' + k)}" for k in key_cols)
        same = " AND ".join(
            f"e.{ident(c)} IS NOT DISTINCT FROM c.{ident(plan.primary + '__' + c)}" for c in content_cols
        )
        fated = (
            f"SELECT c._row, CAST(CASE WHEN c._dup_file THEN 'duplicate' WHEN c._reason IS NOT NULL THEN 'quarantined' "
            f"WHEN e.ingest_id IS NOT NULL AND ({same}) THEN 'duplicate' WHEN {key_clash} THEN 'quarantined' "
            f"WHEN e.ingest_id IS NOT NULL OR e.{ident(key_cols[0])} IS NOT NULL THEN 'quarantined' ELSE 'accepted' "
            f"END AS {FATE_TYPE}) AS _fate, "
            f"CASE WHEN c._dup_file OR c._reason IS NOT NULL THEN c._reason "
            f"WHEN e.ingest_id IS NOT NULL AND ({same}) THEN NULL "
            f"WHEN {key_clash} THEN 'duplicate key ' || {literal(', '.join(key_cols))} || ', first at row ' || c._key_first || ' with other values' "
            f"WHEN (e.ingest_id IS NOT NULL OR e.{ident(key_cols[0])} IS NOT NULL) AND NOT ({same}) THEN "
            f"'already loaded (ingest ' || coalesce(CAST(e.ingest_id AS VARCHAR), '?') || ') with other values' "
            f"END AS _reason2, "
            f"CASE WHEN NOT c._dup_file AND c._reason IS NULL AND ({key_clash} OR e.{ident(key_cols[0])} IS NOT NULL) "
            f"THEN {literal(key_cols[0])} ELSE c._column END AS _column2 "
            f"FROM _keyed c LEFT JOIN {ident(plan.primary)} e ON {on}"
        )
    else:
        same = " AND ".join(
            f"e.{ident(c)} IS NOT DISTINCT FROM c.{ident(plan.primary + '__' + c)}" for c in content_cols
        )
        fated = (
            "SELECT c._row, CAST(CASE WHEN c._dup_file THEN 'duplicate' WHEN c._reason IS NOT NULL THEN 'quarantined' "
            + (f"WHEN EXISTS (SELECT 1 FROM {ident(plan.primary)} e WHERE {same}) THEN 'duplicate' " if loaded else "") +
            f"ELSE 'accepted' END AS {FATE_TYPE}) AS _fate, c._reason AS _reason2, c._column AS _column2 FROM _checked c"
        )
        if not loaded:  # a row is accepted exactly when it is neither: the fate's text made for the others only
            not_accepted = "c._dup_file OR c._reason IS NOT NULL"
    # (the duplicate test is the checking pass's alone: the writers' rows do not join it again)
    drop = [r.rsplit(" AS ", 1)[1] for r in raws] + helpers + list(virtual)
    typed = ("SELECT s.*" + (f" EXCLUDE ({', '.join(drop)})" if drop else "") + "".join(f", {v} AS {k}" for k, v in virtual.items())
             + " FROM (SELECT *, " + ", ".join(typeds) + " FROM _cols) s")
    if store:
        # every checked row stored once (_fated_t) and read by each writer: the cheapest while it fits the budget
        keep = ", ".join([*virtual, "_dup_file", "_reason", "_column"] + (["_key_rank", "_key_first"] if keyed else []))
        with sql_progress(con, "checking", info.n_rows, "rows"):
            con.execute("CREATE TEMP TABLE _fated_t AS " + fated.replace("SELECT c._row, ", f"SELECT c.* EXCLUDE ({keep}), ", 1))
        con.execute("CREATE TEMP TABLE _bad AS SELECT _row, _fate, _reason2, _column2 FROM _fated_t WHERE _fate <> 'accepted'")
        con.execute("CREATE TEMP VIEW _fated AS SELECT *" + "".join(f", {v} AS {k}" for k, v in virtual.items())
                    + " FROM _fated_t")
        con.execute("CREATE TEMP VIEW _accepted AS SELECT * EXCLUDE (_fate, _reason2, _column2) FROM _fated "
                    "WHERE _fate = 'accepted'")
        con.execute("CREATE OR REPLACE TEMP MACRO _accepted_in(lo, hi) AS TABLE SELECT * FROM _accepted "
                    "WHERE _row BETWEEN lo AND hi")
        return {}  # (no source values stored: the writers read the stored text)
    # past the budget (Online Retail x100: 54M lines x 14 columns, ~9 GB against 3 GiB) the stored rows spilled and
    # five writers read them back from disk (docs/history/scale.md "Session 10: ingest"): the pass keeps only the rows
    # that are not accepted (~0.6M there), with their fate and reason, and each writer computes the accepted rows'
    # typed columns it reads from the file again (_accepted; a Parquet file is read through a view, so only those
    # columns)
    with sql_progress(con, "checking", info.n_rows, "rows"):
        # (the fate's CASE and its cast for every line cost x100 ~1.9 thread-s; the cheaper test first)
        if fates_after:  # (a copy of a failing row keeps its reason; DuckDB keeps an unread IN's join in a plan)
            con.execute(f"CREATE TEMP TABLE _bad AS SELECT _row, CAST(CASE WHEN l._row_l IS NOT NULL THEN 'duplicate' "
                        f"ELSE 'quarantined' END AS {FATE_TYPE}) AS _fate, q._reason AS _reason2, q._column AS _column2 "
                        "FROM (SELECT _row, _reason, _column FROM _checked WHERE _reason IS NOT NULL) q "
                        "FULL JOIN (SELECT _row, _row AS _row_l FROM _later) l USING (_row) ORDER BY _row")
        else:
            pre = f" WHERE {not_accepted}" if not_accepted else ""
            con.execute(f"CREATE TEMP TABLE _bad AS SELECT * FROM ({fated}{pre}) WHERE _fate <> 'accepted'")
    con.execute(f"CREATE TEMP VIEW _accepted AS {typed} WHERE NOT EXISTS (SELECT 1 FROM _bad b WHERE b._row = s._row)")
    # the accepted rows of file rows lo to hi (the primary table's chunks): the rows not accepted looked up among
    # those of the same rows only, not all of _bad for every chunk (x100: 21 chunks, 0.53M rows in _bad; the chunks'
    # insert 24.1 / 27.3 against 27.0 / 30.1 CPU s, docs/history/scale.md "Session 14: the primary table's chunks")
    con.execute(f"CREATE OR REPLACE TEMP MACRO _accepted_in(lo, hi) AS TABLE {typed} WHERE s._row BETWEEN lo AND hi "
                "AND NOT EXISTS (SELECT 1 FROM _bad b WHERE b._row BETWEEN lo AND hi AND b._row = s._row)")
    # every row with its fate (the platforms' after-steps read accepted and duplicate rows)
    con.execute(f"CREATE TEMP VIEW _fated AS SELECT t.*, coalesce(b._fate, 'accepted') AS _fate, b._reason2, "
                f"b._column2 FROM ({typed}) t LEFT JOIN _bad b USING (_row)")
    return late


# Bytes of the memory budget one stored column of a checked row takes (Online Retail x10: 164 bytes a line over
# 14 columns, measured with duckdb_memory())
CHECKED_BYTES_PER_COLUMN = 12


def materialise_checked(con: duckdb.DuckDBPyConnection, n_rows: int, n_columns: int) -> bool:
    """Whether the checked rows (``n_rows`` of ``n_columns``) fit half of DuckDB's memory budget on ``con``, so that
    storing them once for the writers costs less than each writer computing its columns again.

    >>> import duckdb; c = duckdb.connect(); _ = c.execute("SET memory_limit = '1GiB'")
    >>> materialise_checked(c, 1_000_000, 14), materialise_checked(c, 10_000_000, 14)
    (True, False)
    """
    from ._write import budget_bytes  # (_write imports this module)

    return n_rows * n_columns * CHECKED_BYTES_PER_COLUMN <= budget_bytes(con) // 2


def already_trimmed(con: duckdb.DuckDBPyConnection, columns: list[str]) -> set[str]:
    """Those of ``columns`` (text columns of ``_src``, quoted) in which no value changes when trimmed: their text
    is the value itself (``nullif(c, '')``, the same as :func:`text_of`'s ``nullif(trim(c), '')`` there).

    >>> import duckdb; c = duckdb.connect()
    >>> _ = c.execute("CREATE TEMP TABLE _src AS SELECT * FROM (VALUES ('a', ' b'), (NULL, 'c'), ('', 'd')) t(x, y)")
    >>> sorted(already_trimmed(c, ['"x"', '"y"']))
    ['"x"']
    >>> _ = c.execute("CREATE OR REPLACE TEMP TABLE _src AS SELECT * FROM (VALUES ('a' || chr(160), 'b')) t(x, y)")
    >>> sorted(already_trimmed(c, ['"x"', '"y"']))  # (a no-break space is trimmed too)
    ['"y"']
    """
    if not columns:
        return set()
    # one filter per column, not bool_and(c = trim(c)) over every row: the Parquet reader evaluates a filter once
    # per distinct value of a dictionary-encoded row group (Online Retail x100, InvoiceNo and Country: 0.2 against
    # 3.3 CPU s; docs/scale.md "Session 15: ingest")
    changed = con.execute("SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM _src WHERE {c} <> trim({c}))"
                                                for c in columns)).fetchone()
    return {c for c, some in zip(columns, changed) if not some}


def fate_counts(con: duckdb.DuckDBPyConnection, n_rows: int) -> dict[str, int]:
    """Rows per fate: those not accepted as counted in ``_bad``, the rest of the file's ``n_rows`` accepted."""
    counts = {f: int(n) for f, n in con.execute("SELECT _fate, count(*) FROM _bad GROUP BY 1").fetchall()}
    return {"accepted": n_rows - sum(counts.values()), **{f: counts.get(f, 0) for f in FATES[1:]}}


# the kind of a quarantine reason: the value got and the row of the first key holder dropped
_REASON_KIND = ("coalesce(_column2 || ': ', '') || regexp_replace(regexp_replace(_reason2, ', got .*$', ''), "
                "', first at row [0-9]+', '')")


def top_reasons(con: duckdb.DuckDBPyConnection, n: int = 5) -> list[tuple[str, int]]:
    return [(r, int(k)) for r, k in con.execute(
        f"SELECT {_REASON_KIND} AS r, count(*) "
        "FROM _bad WHERE _fate = 'quarantined' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?", [n]).fetchall()]


def example_of(con: duckdb.DuckDBPyConnection, kind: str) -> str | None:
    """The first quarantined row of reason ``kind`` (a :func:`top_reasons` entry) in words: its data row number
    (from 1, header excluded: the quarantine table's ``row_number``), column, and the reason with what was expected
    and the value that came (None when there is none)."""
    got = con.execute(f"SELECT _row, _column2, _reason2 FROM _bad WHERE _fate = 'quarantined' AND {_REASON_KIND} = ? "
                      "ORDER BY _row LIMIT 1", [kind]).fetchall()
    if not got:
        return None
    row, column, reason = got[0]
    reason = str(reason) if len(str(reason)) <= 200 else str(reason)[:197] + "..."
    return f"row {int(row):,} (header not counted)" + (f", column {column!r}" if column else "") + f": {reason}"


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the ingest's temporary views, tables and table macro (views first: they read the tables)."""
    for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE temporary AND starts_with(view_name, '_')"
    ).fetchall():
        con.execute(f"DROP VIEW IF EXISTS temp.{ident(name)}")
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '_')"
    ).fetchall():
        con.execute(f"DROP TABLE IF EXISTS temp.{ident(name)}")
    con.execute("DROP MACRO TABLE IF EXISTS temp._accepted_in")


def log_ingest(con, ingest_id: int, info: SourceInfo, plan: Plan, counts: dict[str, int],
               added: dict[str, int], summary: dict) -> None:
    con.execute(
        "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [ingest_id, str(info.path), info.sha256, plan.preset, ",".join(plan.tables), info.n_rows,
         counts["accepted"], counts["quarantined"], counts["duplicate"],
         json.dumps(added), json.dumps(summary, default=str)],
    )


def check_share(info: SourceInfo, counts: dict[str, int], max_share: float, reasons, con=None) -> None:
    """Refuse the file when more than ``max_share`` of its rows would be quarantined, naming the file, the most
    common reasons and (with ``con``, the ingest's connection) the first row of the most common one: its row,
    column, what was expected and the value that came."""
    share = counts["quarantined"] / max(info.n_rows, 1)
    if share > max_share:
        top = "; ".join(f"{n:,} x {r}" for r, n in reasons[:3])
        example = example_of(con, reasons[0][0]) if con is not None and reasons else None
        raise IngestError(
            f"{info.path}: {counts['quarantined']:,} of {info.n_rows:,} rows ({share:.0%}) would be quarantined, "
            f"more than ingest.max_quarantine_share = {max_share:g}; nothing was loaded. Most common: {top}."
            + (f" First of them: {example}." if example else ""),
            hint="Check the mapping (column names, date formats) or raise ingest.max_quarantine_share.",
        )
