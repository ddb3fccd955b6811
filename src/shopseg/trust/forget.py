"""The right to be forgotten: remove customers from every table, export and model file of the workspace.

:func:`forget` (``shopseg forget CUSTOMER_ID...``), in one transaction:

1. every table of the workspace with a ``customer_id`` column loses the customer's rows:
   the canonical tables, ``customer_pii``, every run output (features, segments, scores,
   recommendations, actions...) and the live service's tables; tables keyed by order
   (``order_lines``) or review without a ``customer_id`` column lose the rows of the
   customer's orders and reviews;
2. ``quarantine`` loses the rows whose raw JSON holds the customer id as a value (or, for
   rows meant for ``order_lines``, one of the customer's order ids);
3. ``forget_log`` gets one row per customer: the keyed pseudonym of the id (never the id),
   the rows removed per table and the files changed.

Then, outside the database: audience exports (CSV, Parquet) with a ``customer_id`` column are
rewritten without the customer's rows; reports and model files that mention the id as a word
are deleted, and so are the model files (``models/run-<n>-...``, ``churn_run<n>...``) of every
run whose outputs held the customer: a learned model cannot unlearn them, and the next run
would otherwise reuse it (``shopseg.refit``) instead of refitting without them.  Finally a ``CHECKPOINT`` so DuckDB
writes the deletions to the file.

Afterwards the workspace holds nothing per customer about them, so the next run (same as_of,
config and seed) gives the outputs a shop that never had them gives; past runs' aggregate
tables (segment profiles, itemsets, drift) are not per customer and keep their figures.  A
later ingest of the same rows quarantines them with reason ``forgotten customer`` (and no raw
copy), so a forgotten customer is never silently re-loaded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import ShopsegError
from .pii import pseudonym, workspace_secret


@dataclass
class ForgetResult:
    """What one :func:`forget` removed. ``rows_removed``: per table, over all the customers given."""

    forget_id: int
    n_customers: int
    n_known: int
    rows_removed: dict[str, int]
    files_rewritten: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"Forget {self.forget_id}: {self.n_customers} customer(s), {self.n_known} known to the workspace"]
        rows = ", ".join(f"{t} -{n:,}" for t, n in self.rows_removed.items() if n)
        lines.append(f"  rows removed: {rows or 'none'}")
        if self.files_rewritten:
            lines.append(f"  exports rewritten: {', '.join(self.files_rewritten)}")
        if self.files_deleted:
            lines.append(f"  files deleted (rebuilt by the next run or report): {', '.join(self.files_deleted)}")
        lines.append("  logged in forget_log by keyed pseudonym; later ingests quarantine these customers.")
        return "\n".join(lines)


def _tables(ws) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for t, c in ws.sql("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main' AND table_catalog = current_database()"):
        out.setdefault(t, set()).add(c)
    views = {r[0] for r in ws.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'")}
    return {t: cols for t, cols in out.items() if t not in views}


def _mentions(text: str, ids: list[str]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text) for i in ids)


def forget(ws, customer_ids, *, config=None) -> ForgetResult:
    """Remove the customers ``customer_ids`` from the workspace ``ws`` (see the module docstring)."""
    ids = sorted({str(c).strip() for c in customer_ids if c is not None and str(c).strip()})
    if not ids:
        raise ShopsegError("No customer id given: expected one or more ids, e.g. `shopseg forget c01 c02`.")
    key = workspace_secret(ws)
    con = ws.con
    tables = _tables(ws)
    removed: dict[str, dict[str, int]] = {i: {} for i in ids}
    totals: dict[str, int] = {}
    with ws.transaction():
        con.execute("CREATE OR REPLACE TEMP TABLE _forget_ids AS SELECT unnest(?::VARCHAR[]) AS customer_id", [ids])
        n_known = int(con.execute("SELECT count(*) FROM _forget_ids WHERE customer_id IN "
                                  "(SELECT customer_id FROM customers)").fetchall()[0][0])
        con.execute("CREATE OR REPLACE TEMP TABLE _forget_orders AS SELECT DISTINCT order_id, customer_id "
                    "FROM orders WHERE customer_id IN (SELECT customer_id FROM _forget_ids)")
        con.execute("CREATE OR REPLACE TEMP TABLE _forget_reviews AS SELECT DISTINCT review_id, customer_id "
                    "FROM reviews WHERE customer_id IN (SELECT customer_id FROM _forget_ids)")
        # order_lines and review-level tables without customer_id: through the customer's orders / reviews
        plans = []
        for t, cols in sorted(tables.items()):
            if t in ("forget_log", "quarantine") or t.startswith("_"):
                continue
            if "customer_id" in cols:
                plans.append((t, "customer_id", None))
            elif "order_id" in cols and t != "orders":
                plans.append((t, "order_id", "_forget_orders"))
            elif "review_id" in cols and t != "reviews":
                plans.append((t, "review_id", "_forget_reviews"))
        # runs whose per-customer outputs held a forgotten customer: their learned models saw them
        seen_runs = sorted({int(r[0]) for t, _, via in plans if via is None and "run_id" in tables[t]
                            for r in con.execute(f'SELECT DISTINCT run_id FROM "{t}" WHERE customer_id IN '
                                                 "(SELECT customer_id FROM _forget_ids) AND run_id IS NOT NULL"
                                                 ).fetchall()})
        for t, col, via in plans:
            if via is None:
                counted = con.execute(f'SELECT customer_id, count(*) FROM "{t}" WHERE customer_id IN '
                                      f"(SELECT customer_id FROM _forget_ids) GROUP BY 1").fetchall()
                con.execute(f'DELETE FROM "{t}" WHERE customer_id IN (SELECT customer_id FROM _forget_ids)')
            else:
                counted = con.execute(f'SELECT v.customer_id, count(*) FROM "{t}" x JOIN {via} v USING ({col}) '
                                      f"GROUP BY 1").fetchall()
                con.execute(f'DELETE FROM "{t}" WHERE {col} IN (SELECT {col} FROM {via})')
            for cid, n in counted:
                removed[cid][t] = int(n)
                totals[t] = totals.get(t, 0) + int(n)
        # quarantine: rows whose raw values hold the id (any column: its name depends on the file)
        counted = con.execute(
            "SELECT f.customer_id, count(DISTINCT (q.ingest_id, q.row_number)) FROM quarantine q, "
            "(SELECT customer_id, customer_id AS v FROM _forget_ids UNION ALL "
            " SELECT customer_id, order_id FROM _forget_orders) f "
            "WHERE q.raw IS NOT NULL AND list_contains(json_extract_string(q.raw, '$.*'), f.v) GROUP BY 1").fetchall()
        con.execute(
            "DELETE FROM quarantine q WHERE q.raw IS NOT NULL AND EXISTS (SELECT 1 FROM "
            "(SELECT customer_id AS v FROM _forget_ids UNION ALL SELECT order_id FROM _forget_orders) f "
            "WHERE list_contains(json_extract_string(q.raw, '$.*'), f.v))")
        for cid, n in counted:
            removed[cid]["quarantine"] = int(n)
            totals["quarantine"] = totals.get("quarantine", 0) + int(n)
        rewritten, deleted = _scrub_files(ws, ids, seen_runs)
        forget_id = ws.next_id("forget_log", "forget_id")
        files = json.dumps(rewritten + deleted)
        con.executemany(
            "INSERT INTO forget_log VALUES (?, ?, ?, ?, current_timestamp)",
            [[forget_id, pseudonym(i, key), json.dumps(dict(sorted(removed[i].items()))), files] for i in ids])
        for t in ("_forget_ids", "_forget_orders", "_forget_reviews"):
            con.execute(f"DROP TABLE IF EXISTS temp.{t}")
    con.execute("CHECKPOINT")
    return ForgetResult(forget_id=forget_id, n_customers=len(ids), n_known=n_known,
                        rows_removed=dict(sorted(totals.items())), files_rewritten=rewritten, files_deleted=deleted)


_RUN_IN_NAME = re.compile(r"(?:^|[^0-9a-z])run-?(\d+)(?![0-9])")


def _scrub_files(ws, ids: list[str], runs: list[int]) -> tuple[list[str], list[str]]:
    """Rewrite exports without the customers' rows; delete reports and model files that mention them, and the
    model files of ``runs`` (fitted on data that held them: a stored model may be reused by the next run)."""
    rewritten, deleted = [], []
    root = Path(ws.path)
    for p in sorted(ws.exports_dir.rglob("*")) if ws.exports_dir.exists() else []:
        if p.suffix.lower() not in (".csv", ".parquet"):
            if p.is_file() and _mentions(p.read_bytes().decode("utf-8", "replace"), ids):
                p.unlink()
                deleted.append(str(p.relative_to(root)))
            continue
        df = (pd.read_parquet(p) if p.suffix.lower() == ".parquet"
              else pd.read_csv(p, dtype=str, keep_default_na=False))
        if "customer_id" in df.columns:
            keep = ~df["customer_id"].astype(str).isin(ids)
            if keep.all():
                continue
            df = df[keep]
            if p.suffix.lower() == ".parquet":
                df.to_parquet(p, index=False)
            else:
                df.to_csv(p, index=False)
            rewritten.append(str(p.relative_to(root)))
        elif _mentions(df.to_csv(index=False), ids):
            p.unlink()
            deleted.append(str(p.relative_to(root)))
    for d in (ws.reports_dir, ws.models_dir):
        for p in sorted(d.rglob("*")) if d.exists() else []:
            m = _RUN_IN_NAME.search(p.name)
            fitted_on_them = d == ws.models_dir and m is not None and int(m.group(1)) in runs
            if p.is_file() and (fitted_on_them or _mentions(p.read_bytes().decode("utf-8", "replace"), ids)):
                p.unlink()
                deleted.append(str(p.relative_to(root)))
    return rewritten, deleted
