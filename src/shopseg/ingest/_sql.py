"""Tiny helpers to compose SQL safely from user-given names and values."""

from __future__ import annotations


def ident(name: str) -> str:
    """Quote an identifier (a column name from a user's file or mapping)."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value) -> str:
    """Quote a value as a SQL literal (strings, numbers, booleans, None)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def text_or_null(col: str) -> str:
    """A source column as trimmed text, NULL when empty (the presets' reading of an export's cell)."""
    return f"nullif(trim(CAST({col} AS VARCHAR)), '')"


def first_mode(col: str) -> str:
    """The most frequent non-NULL value of ``col`` in its group, a tie going to the first in sort order: the value
    of ``mode(col ORDER BY col)``, counted in a hash table per group (``histogram``) instead of sorting every row
    (Online Retail x100: 54M product names sorted for 4,070 products).  NULL when every value is.

    >>> import duckdb
    >>> duckdb.sql(f"SELECT g, {first_mode('x')} AS m, mode(x ORDER BY x) AS same FROM (VALUES (1, 'b'), (1, 'a'), "
    ...            "(1, 'b'), (1, 'a'), (1, NULL), (2, NULL), (3, 'z'), (3, NULL)) t(g, x) GROUP BY g ORDER BY g").fetchall()
    [(1, 'a', 'a'), (2, None, None), (3, 'z', 'z')]
    """
    return (f"(list_sort(list_transform(map_entries(histogram({col})), "
            f"lambda e: {{'n': -CAST(e.value AS BIGINT), 'v': e.key}}))[1]).v")
