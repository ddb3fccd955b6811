"""Write the checked rows to the canonical tables: quarantine (from ``_bad``), derived tables and the primary table
(from ``_accepted``, the accepted rows' typed columns computed again from the file by each statement)."""

from __future__ import annotations


import duckdb

from .. import schema
from ..progress import sql_progress
from ..trust.pii import DEMOGRAPHIC_COLUMNS, PII_COLUMNS
from ..workspace import size_bytes
from ._load import FORGOTTEN
from ._plan import Plan
from ._read import SourceInfo
from ._sql import ident, literal
from ._typed import constant


# each accepted line's number within its order, in file order (the join number_lines' expression reads), for the
# lines of file rows {lo} to {hi}: only the orders that reach into those rows are joined, each with its accepted
# rows in file order when they are not consecutive rows
LINE_JOINS = ("JOIN (SELECT * FROM _line_span WHERE first_row <= {hi} AND last_row >= {lo}) s "
              "ON s.order_id = f.order_lines__order_id")

# Bytes of the memory budget one row of the primary table's insert takes: the insert sorts its rows by file row
# (with the joins' build sides and the rows themselves beside it).  The insert runs in chunks of file rows that fit
# the budget, so the sort never spills (x100 Online Retail: 54M lines past a 3 GiB budget); measured at x10 under
# a 300 MB budget, docs/history/scale.md "Session 10: ingest".
SORT_BYTES_PER_ROW = 600
MIN_CHUNK_ROWS = 100_000


def budget_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's ``memory_limit`` on ``con`` in bytes (it shows it as text such as ``'2.9 GiB'``, one decimal:
    close enough to size chunks by).

    >>> import duckdb; c = duckdb.connect(); _ = c.execute("SET memory_limit = '512MiB'"); budget_bytes(c)
    536870912
    """
    size = size_bytes(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    return 2**62 if size == float("inf") else int(size)  # no limit, or an unknown form: chunks not bounded


def row_chunks(con: duckdb.DuckDBPyConnection, lo: int, hi: int) -> list[tuple[int, int]]:
    """File rows ``lo`` to ``hi`` in consecutive ranges whose sort fits half the memory budget (one range when
    all fit).

    >>> import duckdb; c = duckdb.connect(); _ = c.execute("SET memory_limit = '1GiB'")
    >>> row_chunks(c, 1, 2_000_000)  # 2**30 / 2 / 600 rows a chunk
    [(1, 894784), (894785, 1789568), (1789569, 2000000)]
    """
    size = max(MIN_CHUNK_ROWS, budget_bytes(con) // 2 // SORT_BYTES_PER_ROW)
    return [(a, min(a + size - 1, hi)) for a in range(lo, hi + 1, size)] or [(lo, hi)]


# each order's first and last accepted row, and whether its accepted lines are consecutive rows (an aggregate)
SPAN = "min(_row) AS first_row, max(_row) AS last_row, max(_row) - min(_row) + 1 = count(*) AS consecutive"


def spans_with_orders(plan: Plan) -> bool:
    """Whether the orders' writer can give the line numbers' ``_order_span`` in its own pass: the order lines are
    numbered here and an order's key is read as its lines' order (so one GROUP BY over the accepted rows serves
    both, instead of each recomputing the accepted rows' typed order ids)."""
    return (plan.primary == "order_lines" and not plan.merge_primary and "orders" in plan.exprs
            and "line_no" not in plan.exprs["order_lines"]
            and plan.exprs["order_lines"].get("order_id") is not None
            and plan.exprs["orders"].get("order_id") == plan.exprs["order_lines"]["order_id"]
            and plan.formats.get("orders.order_id") == plan.formats.get("order_lines.order_id"))


def number_lines(con: duckdb.DuckDBPyConnection, have_span: bool = False) -> str:
    """SQL for each accepted line's number within its order (1, 2, ... in file order), over ``LINE_JOINS``.

    An order whose accepted lines are consecutive rows of the file (most: an export lists an order's lines
    together) numbers them by their distance from its first row; the other orders' lines (a duplicate or a
    quarantined row between them, lines spread over the file) by their position in the list of the order's
    accepted rows, sorted (Online Retail x100: 12.5M lines of 206,200 orders; before, a window over those lines
    joined back to every chunk's rows).  The same numbers as ``row_number() OVER (PARTITION BY order ORDER BY
    row)`` over every line, which sorted every line with all its columns.  ``have_span``: the orders' writer
    made ``_order_span`` in its own pass.
    """
    if not have_span:
        con.execute(f"CREATE TEMP TABLE _order_span AS SELECT order_lines__order_id AS order_id, {SPAN} FROM _accepted "
                    "GROUP BY 1")
    con.execute("CREATE TEMP TABLE _line_rows AS SELECT order_lines__order_id AS order_id, list_sort(list(_row)) AS "
                "line_rows FROM _accepted WHERE order_lines__order_id IN "
                "(SELECT order_id FROM _order_span WHERE NOT consecutive) GROUP BY 1")
    con.execute("CREATE TEMP TABLE _line_span AS SELECT s.*, r.line_rows FROM _order_span s "
                "LEFT JOIN _line_rows r USING (order_id)")
    con.execute("DROP TABLE _line_rows")
    con.execute("DROP TABLE _order_span")
    return "CASE WHEN s.consecutive THEN f._row - s.first_row + 1 ELSE list_position(s.line_rows, f._row) END"


def first_given(col: str) -> str:
    """SQL for the first non-NULL value of ``col`` in its group, by file row: ``arg_min`` skips the rows whose
    value is NULL (``arg_min_null`` is DuckDB's form that keeps them), so no ``FILTER (WHERE col IS NOT NULL)``,
    which cost Online Retail x100's orders ~1 CPU s for its three columns (docs/history/scale.md "Session 14: ingest").

    >>> import duckdb
    >>> duckdb.sql(f"SELECT g, {first_given('x')} FROM (VALUES (1, NULL, 1), (1, 'b', 2), (1, 'a', 3), (2, NULL, 1)) "
    ...            "t(g, x, _row) GROUP BY g ORDER BY g").fetchall()
    [(1, 'b'), (2, None)]
    """
    return f"arg_min({col}, _row)"


def write_rows(con: duckdb.DuckDBPyConnection, plan: Plan, info: SourceInfo, ingest_id: int,
               privacy=None, late: dict[str, tuple[str, str, str, str]] | None = None) -> dict[str, int]:
    """Insert quarantined rows, accepted primary rows and derived rows. Returns rows added per table.

    With ``privacy`` pseudonymising, ``quarantine.raw`` shows ``[redacted]`` for the source columns that
    feed a PII column, and nothing at all (NULL) for a row of a forgotten customer; with ``separate``,
    the raw PII of accepted rows goes to ``customer_pii``.  ``late``: text columns a derived table groups or picks
    rows by on their source's value, printed once per row written (what :func:`stage_and_check` returns).
    """
    added: dict[str, int] = {}
    hidden = set()
    if privacy is not None and privacy.policy != "keep":
        pii_exprs = [e for c, e in plan.exprs.get("customers", {}).items()
                     if c in PII_COLUMNS or c in DEMOGRAPHIC_COLUMNS]
        hidden = {c for c in info.columns if any(ident(c) in e for e in pii_exprs)}
    raw_json = "to_json({" + ", ".join(
        f"{literal(c)}: " + ("'[redacted]'" if c in hidden else f"s.{ident(c)}") for c in info.columns) + "})"
    raw_json = f"CASE WHEN f._reason2 = {literal(FORGOTTEN)} THEN NULL ELSE {raw_json} END"
    con.execute(
        f"INSERT INTO quarantine SELECT {ingest_id}, {literal(str(info.path))}, f._row, {literal(plan.primary)}, "
        f"f._column2, coalesce(f._column2 || ': ', '') || f._reason2, {raw_json} "
        f"FROM _bad f JOIN _src s USING (_row) WHERE f._fate = 'quarantined' ORDER BY f._row"
    )
    # derived tables first (referenced tables before referencing ones)
    for tname in plan.tables:
        if tname == plan.primary:
            continue
        tbl = schema.INPUT_TABLES[tname]
        key = tbl.key
        keyexpr = [ident(f"{tname}__{k}") for k in key]
        aggs = plan.aggregates.get(tname, {})
        distinct = plan.distinct.get(tname)
        if distinct:  # the aggregates' form over the distinct tuples (Plan.distinct)
            aggs = {**aggs, **distinct[1]}
        per_key = plan.per_key.get(tname, {})
        cols = []
        # text columns read on their source's value: the key grouped on it, a column's first value picked by it
        by = {c.name: late[ident(f"{tname}__{c.name}")] for c in tbl.columns if ident(f"{tname}__{c.name}") in (late or {})
              and (c.name in key or (c.name not in per_key and c.name not in aggs))}
        if len(key) != 1:
            by = {}
        for c in tbl.columns:
            src = ident(f"{tname}__{c.name}")
            if c.name in by:
                value = by[c.name][2]
                # (arg_min gives the first row's value itself: a -0.0 stays -0.0)
                cols.append(f"{value} AS {ident('_late__' + c.name)}" if c.name in key else
                            f"{first_given(value)} AS {ident('_late__' + c.name)}")
            elif c.name in key:
                cols.append(f"{src} AS {ident(c.name)}")
            elif c.name in per_key:  # filled in from the key below, once per row of the table
                cols.append(f"CAST(NULL AS {c.type}) AS {ident(c.name)}")
            elif c.name in aggs:
                cols.append(f"{aggs[c.name]} AS {ident(c.name)}")
            elif c.name not in plan.exprs[tname]:  # a column the file does not give: its default on every row,
                cols.append(f"{constant(c)} AS {ident(c.name)}")  # so no aggregate over the rows
            else:
                cols.append(f"{first_given(src)} AS {ident(c.name)}")
        anti = " AND ".join(f"e.{ident(k)} = d.{ident(k)}" for k in key)
        before = con.execute(f"SELECT count(*) FROM {ident(tname)}").fetchone()[0]
        group = keyexpr
        if key[0] in by:  # NULL exactly where its source value is; grouped on the value and what tells equal ones apart
            keyexpr, group = [by[key[0]][2]], list(by[key[0]][2:])
        present = " AND ".join(k + " IS NOT NULL" for k in keyexpr)
        source = "_accepted"
        if distinct:  # one row per distinct (key, columns): the aggregates read nothing else
            assert all(c.name in key or c.name in distinct[1] or c.name not in plan.exprs[tname] for c in tbl.columns), tname
            source = f"(SELECT DISTINCT {', '.join(dict.fromkeys(group + keyexpr + distinct[0]))} FROM _accepted WHERE {present})"
        rows = f"SELECT {', '.join(cols)} FROM {source} WHERE {present} GROUP BY {', '.join(group)}"
        if tname in plan.grouped and not by:  # the preset's equivalent form: its rows, and the constant columns
            given = set(key) | set(aggs)
            assert all(c.name in given | set(per_key) or c.name not in plan.exprs[tname] for c in tbl.columns), tname
            rows = ("SELECT g.*, " + ", ".join(e for c, e in zip(tbl.columns, cols) if c.name not in given)
                    + f" FROM ({plan.grouped[tname]}) g")
        if by:  # each text printed from its source value, once a row written
            rows = (f"SELECT * EXCLUDE ({', '.join(ident('_late__' + c) for c in by)}), "
                    + ", ".join(f"{sql.replace(name, ident('_late__' + c))} AS {ident(c)}" for c, (sql, name, _, _) in by.items())
                    + f" FROM ({rows})")
        if tname == "orders" and spans_with_orders(plan):  # the line numbers' spans from the same GROUP BY
            con.execute(f"CREATE TEMP TABLE _orders_d AS {rows.replace(' FROM _accepted ', f', {SPAN} FROM _accepted ', 1)}")
            con.execute("CREATE TEMP TABLE _order_span AS SELECT order_id, first_row, last_row, consecutive FROM _orders_d")
            rows = "SELECT * EXCLUDE (first_row, last_row, consecutive) FROM _orders_d"
        con.execute(
            f"INSERT INTO {ident(tname)} BY NAME SELECT d.*"
            + (" REPLACE (" + ", ".join(f"{e} AS {ident(c)}" for c, e in per_key.items()) + ")" if per_key else "")
            + f", {ingest_id} AS ingest_id FROM ({rows}) d WHERE NOT EXISTS (SELECT 1 FROM {ident(tname)} e WHERE {anti})"
        )
        con.execute("DROP TABLE IF EXISTS _orders_d")
        added[tname] = con.execute(f"SELECT count(*) FROM {ident(tname)}").fetchone()[0] - before
    # customers referenced for the first time get a minimal row
    if plan.derive_customers and "customers" not in plan.exprs:
        refs = [f"SELECT {ident(t + '__customer_id')} AS customer_id FROM _accepted"
                for t in plan.tables if "customer_id" in {c.name for c in schema.INPUT_TABLES[t].columns}]
        if refs:
            before = con.execute("SELECT count(*) FROM customers").fetchone()[0]
            con.execute(
                f"INSERT INTO customers (customer_id, ingest_id) SELECT DISTINCT customer_id, {ingest_id} "
                f"FROM ({' UNION ALL '.join(refs)}) r WHERE customer_id IS NOT NULL "
                f"AND customer_id NOT IN (SELECT customer_id FROM customers)"
            )
            n = con.execute("SELECT count(*) FROM customers").fetchone()[0] - before
            if n:
                added["customers"] = added.get("customers", 0) + n
    # the primary table
    ptable = schema.INPUT_TABLES[plan.primary]
    cols, numbered = [], False
    for c in ptable.columns:
        src = ident(f"{plan.primary}__{c.name}")
        if c.name == "line_no" and "line_no" not in plan.exprs[plan.primary]:
            # numbered after the lines the order already has (none, when the table is empty)
            # (not this ingest's own lines, which the chunks before have written)
            base = ("coalesce((SELECT max(line_no) FROM order_lines e WHERE e.order_id = f.order_lines__order_id "
                    f"AND e.ingest_id <> {ingest_id}), 0) + "
                    if con.execute("SELECT count(*) FROM order_lines").fetchone()[0] else "")
            cols.append(f"{base}{number_lines(con, spans_with_orders(plan))} AS line_no")
            numbered = True
        else:
            cols.append(f"{src} AS {ident(c.name)}")
    before = con.execute(f"SELECT count(*) FROM {ident(plan.primary)}").fetchone()[0]
    if plan.merge_primary:  # one row per key: the key's first non-empty values (or the plan's aggregates)
        aggs = plan.aggregates.get(plan.primary, {})
        cols = [f"{ident(plan.primary + '__' + c.name)} AS {ident(c.name)}" if c.name in ptable.key else
                f"{aggs[c.name]} AS {ident(c.name)}" if c.name in aggs else
                f"{constant(c)} AS {ident(c.name)}" if c.name not in plan.exprs[plan.primary] else
                f"{first_given(ident(plan.primary + '__' + c.name))} AS {ident(c.name)}"
                for c in ptable.columns]
        con.execute(
            f"INSERT INTO {ident(plan.primary)} BY NAME SELECT {', '.join(cols)}, {ingest_id} AS ingest_id "
            f"FROM _accepted "
            f"GROUP BY {', '.join(ident(plan.primary + '__' + k) for k in ptable.key)} ORDER BY min(_row)"
        )
    else:
        lo, hi = con.execute("SELECT min(_row), max(_row) FROM _src").fetchone()
        chunks = row_chunks(con, lo, hi) if lo is not None else []
        with sql_progress(con, "loading", info.n_rows, "rows") as cover:
            for a, b in chunks:  # in file order: each chunk's rows follow the last chunk's, as one sort would put them
                cover(a - lo, b - lo + 1)
                con.execute(
                    f"INSERT INTO {ident(plan.primary)} BY NAME SELECT {', '.join(cols)}, {ingest_id} AS ingest_id "
                    f"FROM _accepted_in({a}, {b}) f {LINE_JOINS.format(lo=a, hi=b) if numbered else ''} "
                    f"WHERE f._row BETWEEN {a} AND {b} ORDER BY f._row"
                )
    added = {plan.primary: con.execute(f"SELECT count(*) FROM {ident(plan.primary)}").fetchone()[0] - before,
             **added}
    if privacy is not None and privacy.policy == "separate" and "customers" in plan.exprs:
        given = [c for c in PII_COLUMNS if c in plan.exprs["customers"]]
        if given:
            sel = ", ".join(f"{first_given(ident('_pii__' + c))} AS {ident(c)}" for c in given)
            con.execute(
                f"INSERT INTO customer_pii BY NAME SELECT customers__customer_id AS customer_id, {sel}, "
                f"{ingest_id} AS ingest_id FROM _accepted WHERE customers__customer_id IS NOT NULL "
                f"AND customers__customer_id NOT IN (SELECT customer_id FROM customer_pii) GROUP BY 1")
    return {t: added[t] for t in schema.LOAD_ORDER if t in added}
