"""Segments over runs: migration between two runs and segment sizes over time.

Both read the ``segments`` and ``segment_profiles`` tables that
:func:`shopseg.segment.segment_all` writes; ``runs`` (when present) adds each
run's ``as_of``.
"""

from __future__ import annotations

import pandas as pd

from ..errors import WorkspaceError

NOT_PRESENT = "(absent)"


def _check(ws, scheme: str, runs: tuple[int, ...] = ()) -> None:
    if not ws.has_table("segments"):
        raise WorkspaceError("The workspace has no segments yet.", hint="Run `shopseg segment` first.")
    known = {r[0] for r in ws.sql("SELECT DISTINCT scheme FROM segments")}
    if scheme not in known:
        raise WorkspaceError(f"No segments of scheme {scheme!r}; the workspace has: "
                             f"{', '.join(sorted(known)) or '(none)'}.")
    for r in runs:
        if not ws.scalar("SELECT count(*) FROM segments WHERE run_id = ? AND scheme = ?", [r, scheme]):
            have = [x[0] for x in ws.sql("SELECT DISTINCT run_id FROM segments ORDER BY 1")]
            raise WorkspaceError(f"Run {r} has no {scheme!r} segments; runs with segments: "
                                 f"{', '.join(map(str, have)) or '(none)'}.")


def migration_long(ws, run_a: int, run_b: int, scheme: str) -> pd.DataFrame:
    """Customers moving from each segment of ``run_a`` to each of ``run_b``: from_segment, to_segment, n_customers.

    Customers present in one run only appear as ``(absent)`` on the other side.
    """
    _check(ws, scheme, (run_a, run_b))
    return ws.df(
        f"""
        WITH a AS (SELECT customer_id, segment FROM segments WHERE run_id = $a AND scheme = $s),
             b AS (SELECT customer_id, segment FROM segments WHERE run_id = $b AND scheme = $s)
        SELECT coalesce(a.segment, '{NOT_PRESENT}') AS from_segment,
               coalesce(b.segment, '{NOT_PRESENT}') AS to_segment,
               count(*) AS n_customers
        FROM a FULL OUTER JOIN b USING (customer_id)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        {"a": run_a, "b": run_b, "s": scheme},
    )


def migration(ws, run_a: int, run_b: int, scheme: str) -> pd.DataFrame:
    """Migration matrix: rows = segment in ``run_a``, columns = segment in ``run_b``, cells = customers.

    Row sums are the segment sizes in run_a (plus ``(absent)`` for newcomers),
    column sums those in run_b.
    """
    long = migration_long(ws, run_a, run_b, scheme)
    m = long.pivot_table(index="from_segment", columns="to_segment", values="n_customers",
                         aggfunc="sum", fill_value=0)
    m.index.name, m.columns.name = f"run {run_a}", f"run {run_b}"
    return m.astype("int64")


def segment_history(ws, scheme: str) -> pd.DataFrame:
    """Size of every segment of ``scheme`` in every run: run_id, as_of, segment, name, n_customers, share."""
    _check(ws, scheme)
    has_runs, has_prof = ws.has_table("runs"), ws.has_table("segment_profiles")
    as_of = "(SELECT max(r.as_of) FROM runs r WHERE r.run_id = c.run_id)" if has_runs else "CAST(NULL AS TIMESTAMP)"
    name = ("(SELECT max(p.name) FROM segment_profiles p WHERE p.run_id = c.run_id AND p.scheme = $s "
            "AND p.segment = c.segment)") if has_prof else "c.segment"
    return ws.df(
        f"""
        WITH c AS (SELECT run_id, segment, count(*) AS n_customers FROM segments WHERE scheme = $s GROUP BY 1, 2)
        SELECT c.run_id, {as_of} AS as_of, c.segment, {name} AS name, c.n_customers,
               c.n_customers / sum(c.n_customers) OVER (PARTITION BY c.run_id) AS share
        FROM c ORDER BY c.run_id, c.segment
        """,
        {"s": scheme},
    )
