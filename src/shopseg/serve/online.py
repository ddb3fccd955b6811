"""The online store: the live service's row copy of the shop, to re-score one customer in milliseconds.

DuckDB is a column store built for scans.  Re-computing one customer's features
there costs 80-140 ms however few rows they have: the customer's orders, lines
and events are found by scanning the tables (order_lines alone ~30 ms at 800k
lines), and the 23-CTE feature query has a fixed cost per call (~25 ms even on
a table of ten rows).  The churn extras, the CLV summary and the lifecycle gap
query add their own scans.  See docs/serve.md, "Live re-scoring".

The online store keeps the canonical input tables (customers, products, orders,
order_lines, events, reviews) in an in-memory SQLite database indexed by
customer (lines by order) and by key, loaded from the workspace when the service starts
and appended to by every ``POST /events`` inside the same request (committed or
rolled back with the workspace).  The live re-score runs **the same SQL texts as
the batch**, transpiled from DuckDB to SQLite by SQLGlot, as the Spark engine
does (``shopseg.spark._sql``): one definition of every feature.  On the demo
shop the feature query takes ~3 ms there instead of ~100 ms, with identical
values (``tests/test_serve_online.py``).

What SQLite lacks is supplied: ``stddev_samp`` and ``arg_max`` as Python
aggregates, ``date_trunc('month', d)`` as ``strftime``, ``IN (SELECT
unnest($list))`` as ``json_each``, ``any_value`` (of a value repeated within
its group) as ``max``.  Timestamps are stored as fixed-width text
(``YYYY-MM-DD HH:MM:SS.ffffff``), so comparing them as strings orders them as
times.  Result columns get the types the DuckDB query gives (read once per SQL
text from DuckDB), so callers see the frames they see in the batch.  A query
SQLite cannot run goes to DuckDB instead: the median over the rows computed, which
the features SQL holds only in a workspace without a stored run to take the
outlier reference from.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sqlite3
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlglot
import sqlglot.errors
from sqlglot import exp

from .. import schema

TABLES = ("customers", "products", "orders", "order_lines", "events", "reviews")
# the column each table is looked up by when one customer is re-scored
LOOKUP = {"customers": "customer_id", "products": "product_id", "orders": "customer_id",
          "order_lines": "order_id", "events": "customer_id", "reviews": "customer_id"}
TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_TYPE = {"VARCHAR": "TEXT", "TIMESTAMP": "TEXT", "DATE": "TEXT", "DOUBLE": "REAL", "BIGINT": "INTEGER",
                "INTEGER": "INTEGER", "BOOLEAN": "INTEGER"}
_LIST_IN = re.compile(r"IN \(SELECT (?:EXPLODE|UNNEST)\((:\w+|\?)\)\)")


class _StdDevSamp:
    def __init__(self):
        self.values: list[float] = []

    def step(self, x):
        if x is not None:
            self.values.append(float(x))

    def finalize(self):
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else None


class _ArgMax:
    def __init__(self):
        self.best, self.key = None, None

    def step(self, value, key):
        if key is not None and (self.key is None or key > self.key):
            self.best, self.key = value, key

    def finalize(self):
        return self.best


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        # DuckDB's any_value skips NULLs, as max does; the batch SQL takes it of a value repeated in its group
        return exp.Max(this=node.this.this)
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
        unit = node.args.get("unit")
        fmt = {"MONTH": "%Y-%m-01", "YEAR": "%Y-01-01", "DAY": "%Y-%m-%d"}.get(
            (unit.name if unit is not None else "").upper())
        if fmt is not None:
            return exp.Anonymous(this="strftime", expressions=[exp.Literal.string(fmt), node.this])
    return node


@functools.lru_cache(maxsize=128)
def to_sqlite(sql: str) -> str:
    """The SQLite text of the DuckDB query ``sql`` (``$name`` parameters become ``:name``)."""
    tree = sqlglot.parse_one(sql, read="duckdb").transform(_rewrite)
    return _LIST_IN.sub(r"IN (SELECT value FROM json_each(\1))", tree.sql(dialect="sqlite"))


def sqlite_value(v):
    """A Python value as the online store holds it (timestamps as fixed-width text, lists as JSON)."""
    if isinstance(v, datetime):
        return v.strftime(TS_FORMAT)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return json.dumps([sqlite_value(x) for x in v])
    if isinstance(v, np.generic):
        return v.item()
    return v


def _params(params):
    if params is None:
        return []
    if isinstance(params, dict):
        return {k: sqlite_value(v) for k, v in params.items()}
    return [sqlite_value(v) for v in params]


class Result:
    """What ``execute`` returns: ``fetchall()`` and ``df()`` like a DuckDB result."""

    def __init__(self, names: list[str], rows: list[tuple], types: list[str] | None):
        self.names, self.rows, self.types = names, rows, types

    def fetchall(self) -> list[tuple]:
        return self.rows

    def df(self) -> pd.DataFrame:
        cols = list(zip(*self.rows)) if self.rows else [()] * len(self.names)
        kinds = self.types or [None] * len(self.names)
        return pd.DataFrame({n: _column(list(v), k) for n, v, k in zip(self.names, cols, kinds)}, columns=self.names)


def _column(values: list, kind: str | None):
    """One result column as the array DuckDB's ``df()`` gives for its type (built in numpy: one-row frames
    are the common case, and pandas' per-column fix-ups cost more than the query)."""
    has_null = None in values
    if kind == "BOOLEAN":
        return np.array(values, dtype=object if has_null else bool)
    if kind in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT"):
        return np.array(values, dtype=float if has_null else np.int64)
    if kind in ("DOUBLE", "FLOAT") or (kind or "").startswith("DECIMAL"):
        return np.array(values, dtype=float)  # None -> NaN
    if kind in ("TIMESTAMP", "DATE"):
        return pd.to_datetime(values)
    if kind == "VARCHAR":
        return pd.array(values, dtype="str")  # as DuckDB hands strings to pandas 3
    return pd.array(values)


class OnlineStore:
    """The input tables in an in-memory SQLite database; ``execute`` takes DuckDB SQL.

    ``duck`` is the DuckDB connection the store is loaded from and whose result
    types it copies (the service's writer connection).  Not thread-safe: the
    service uses it under the live updater's lock.
    """

    def __init__(self, duck):
        self.duck = duck
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.create_aggregate("stddev_samp", 1, _StdDevSamp)
        self.db.create_aggregate("arg_max", 2, _ArgMax)
        self.db.create_function("ln", 1, lambda x: None if x is None or x <= 0 else math.log(x), deterministic=True)
        self.db.create_function("exp", 1, lambda x: None if x is None else math.exp(x), deterministic=True)
        self._types: dict[str, list[str]] = {}
        self._duck_only: set[str] = set()
        self.rows = 0

    @staticmethod
    def count_rows(duck) -> int:
        """Rows the store would hold (for the size cap)."""
        return sum(int(duck.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]) for t in TABLES)

    def load(self, chunk_rows: int = 100_000) -> "OnlineStore":
        """Copy every input table from DuckDB, streaming ``chunk_rows`` at a time."""
        for t in TABLES:
            cols = schema.get_table(t).all_columns
            decl = ", ".join(f"{q(c.name)} {_SQLITE_TYPE.get(c.type, '')}" for c in cols)
            self.db.execute(f'CREATE TABLE "{t}" ({decl})')
            sel = ", ".join(f"strftime({q(c.name)}, '{TS_FORMAT}')" if c.type == "TIMESTAMP" else
                            f"CAST({q(c.name)} AS VARCHAR)" if c.type == "DATE" else q(c.name) for c in cols)
            insert = f'INSERT INTO "{t}" VALUES ({", ".join("?" * len(cols))})'
            cur = self.duck.cursor()  # committed rows, on a connection of its own
            (top,) = cur.execute(f'SELECT max(rowid) FROM "{t}"').fetchall()[0]
            for lo in range(0, (top if top is not None else -1) + 1, chunk_rows):  # rowid ranges: bounded memory
                arrays = cur.execute(f'SELECT {sel} FROM "{t}" WHERE rowid >= {lo} AND rowid < {lo + chunk_rows}'
                                     ).fetchnumpy()  # column arrays: ~2x faster than fetching tuples
                rows = list(zip(*(a.tolist() for a in arrays.values())))  # masked (NULL) entries become None
                self.db.executemany(insert, rows)
                self.rows += len(rows)
            self.db.execute(f'CREATE INDEX "ix_{t}" ON "{t}" ({q(LOOKUP[t])})')
            key = schema.get_table(t).key
            if len(key) == 1 and key[0] != LOOKUP[t]:  # what a POST is checked against: "already stored?"
                self.db.execute(f'CREATE INDEX "key_{t}" ON "{t}" ({q(key[0])})')
        return self

    def insert(self, table: str, names: list[str], rows: list[tuple]) -> None:
        """Append rows as DuckDB stored them (``INSERT ... RETURNING *``)."""
        if not rows:
            return
        self.db.executemany(f'INSERT INTO "{table}" ({", ".join(map(q, names))}) VALUES ({", ".join("?" * len(names))})',
                             [tuple(sqlite_value(v) for v in r) for r in rows])

    # transactions, in step with the workspace's
    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def execute(self, sql: str, params=None) -> Result:
        """Run the DuckDB query ``sql`` here; columns typed as DuckDB types them."""
        if sql in self._duck_only:
            return self.duck.execute(sql, params or [])
        try:
            cur = self.db.execute(to_sqlite(sql), _params(params))
        except (sqlite3.OperationalError, sqlglot.errors.SqlglotError):
            if sql in self._types:  # it ran here before: a real error, not a missing function
                raise
            # SQL SQLite cannot run (e.g. the median over the rows computed, which the features SQL only
            # holds when there is no stored run to take the outlier reference from): DuckDB answers it
            self._duck_only.add(sql)
            return self.duck.execute(sql, params or [])
        names = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall()
        types = self._types.get(sql)
        if types is None:  # once per SQL text: the column types DuckDB gives this query
            res = self.duck.execute(sql, params or [])
            types = self._types[sql] = [str(d[1]) for d in res.description]
            res.fetchall()  # DuckDB 2.0: no unfinished result may stay on the connection
        return Result(names, rows, types)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


__all__ = ["OnlineStore", "to_sqlite", "TABLES"]
