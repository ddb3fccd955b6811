"""DuckDB SQL on Spark: SQLGlot transpiles the one SQL text, and a workspace-shaped view of Spark tables.

:class:`SparkTables` answers the few workspace calls the SQL builders make
(``has_table``, ``columns``, ``sql``, ``scalar``, ``df``, ``con.execute(...)``)
from Spark temp views, transpiling each DuckDB query first.  So
:func:`shopseg.features.features_sql`, :func:`shopseg.features.top_categories`
and :func:`shopseg.segment.lifecycle.lifecycle_windows` run unchanged on Spark:
no second copy of any feature or rule.
"""

from __future__ import annotations

import functools
from datetime import date, datetime

import sqlglot
from sqlglot import exp

from ..errors import ShopsegError


def _literal(v) -> exp.Expression:
    if v is None:
        return exp.Null()
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, datetime):
        return exp.cast(exp.Literal.string(v.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(v, date):
        return exp.cast(exp.Literal.string(v.isoformat()), "DATE")
    if isinstance(v, float):  # a Python float is a DuckDB DOUBLE; a bare 60.0 would be a Spark DECIMAL
        return exp.cast(exp.Literal.number(repr(v)), "DOUBLE")
    if isinstance(v, int):
        return exp.Literal.number(str(v))
    if isinstance(v, (list, tuple)):
        return exp.Array(expressions=[_literal(x) for x in v])
    return exp.Literal.string(str(v))


def _number_placeholders(sql: str) -> str:
    from sqlglot.tokens import TokenType

    toks = [t for t in sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql) if t.token_type == TokenType.PLACEHOLDER
            and t.text == "?"]
    out, last = [], 0
    for i, t in enumerate(toks):
        out.append(sql[last:t.start])
        out.append(f"$p{i}")
        last = t.end + 1
    out.append(sql[last:])
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def to_spark_sql(sql: str, params: list | tuple | dict | None = None) -> str:
    """Spark SQL for the DuckDB query ``sql``, with ``params`` (``$name`` dict or ``?`` list) put in as literals.

    >>> to_spark_sql("SELECT quantile_cont(x, 0.75) FROM t WHERE d < $as_of", {"as_of": date(2024, 1, 2)})
    "SELECT PERCENTILE(x, 0.75) FROM t WHERE d < CAST('2024-01-02' AS DATE)"
    """
    named = dict(params) if isinstance(params, dict) else {}
    if isinstance(params, (list, tuple)):  # ``?`` -> ``$p0, $p1...`` in source order, then named
        sql = _number_placeholders(sql)
        named = {f"p{i}": v for i, v in enumerate(params)}
    tree = _parse(sql).copy()
    pos = iter(())

    def put(node):
        if isinstance(node, exp.Placeholder):
            name = node.name
            if name and name != "?":
                if name not in named:
                    raise ShopsegError(f"SQL parameter ${name} has no value: expected one of {sorted(named)}.")
                return _literal(named[name])
            try:
                return _literal(next(pos))
            except StopIteration:
                raise ShopsegError("SQL has more ? parameters than values given.") from None
        if isinstance(node, exp.Parameter):  # DuckDB's $name in some positions
            key = node.name
            if key in named:
                return _literal(named[key])
        return node

    def percentile(node):
        if isinstance(node, exp.PercentileCont) and node.expression is not None \
                and not isinstance(node.parent, exp.WithinGroup):
            # DuckDB's quantile_cont(x, q) is the exact, linearly interpolated quantile: Spark's percentile(x, q)
            return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.expression])
        return node

    # parameters first: a $q inside quantile_cont(x, $q) becomes a literal before the rewrite
    return tree.transform(put).transform(percentile).sql(dialect="spark")


SAMPLE_VIEW = "_shopseg_sample"  # the customer ids of a sample (churn.max_customers), a temp view


def only_sample(sql: str) -> str:
    """DuckDB SQL restricted by ``$customers`` (``shopseg.workspace.CUSTOMER_FILTER``, also on ``o.``) made to
    read the customers of the temp view :data:`SAMPLE_VIEW` instead of a list of literals.

    >>> only_sample("SELECT 1 FROM t WHERE x AND o.customer_id IN (SELECT unnest($customers))")
    'SELECT 1 FROM t WHERE x AND o.customer_id IN (SELECT customer_id FROM _shopseg_sample)'
    """
    return sql.replace("IN (SELECT unnest($customers))", f"IN (SELECT customer_id FROM {SAMPLE_VIEW})")


class _Result:
    def __init__(self, sdf):
        self._sdf = sdf

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._sdf.collect()]

    def fetchone(self) -> tuple | None:
        rows = self._sdf.take(1)
        return tuple(rows[0]) if rows else None

    def df(self):
        return self._sdf.toPandas()


class SparkTables:
    """The workspace calls the SQL builders make, answered by Spark temp views (DuckDB SQL transpiled).

    ``views``: table name -> Spark DataFrame; each is registered as a temp view of that name.
    """

    def __init__(self, spark, views: dict | None = None):
        self.spark = spark
        self.con = self  # builders call ws.con.execute(sql, params)
        for name, sdf in (views or {}).items():
            self.register(name, sdf)

    def register(self, name: str, sdf) -> None:
        sdf.createOrReplaceTempView(name)

    def frame(self, sql: str, params=None):
        """The Spark DataFrame (lazy) of DuckDB query ``sql``."""
        return self.spark.sql(to_spark_sql(sql, params))

    def execute(self, sql: str, params=None) -> _Result:
        return _Result(self.frame(sql, params))

    def sql(self, query: str, params=None) -> list[tuple]:
        return self.execute(query, params).fetchall()

    def scalar(self, query: str, params=None):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    def df(self, query: str, params=None):
        return self.execute(query, params).df()

    def has_table(self, name: str) -> bool:
        return self.spark.catalog.tableExists(name)

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)

    def count(self, name: str) -> int:
        return self.spark.table(name).count() if self.has_table(name) else 0
