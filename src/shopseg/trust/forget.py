"""The right to be forgotten: remove customers from every table, export and model file of the workspace.

:func:`forget` (``shopseg forget CUSTOMER_ID...``), in one transaction:

1. every table of the workspace with a ``customer_id`` column loses the customer's rows:
   the canonical tables, ``customer_pii``, every run output (features, segments, scores,
   recommendations, actions...) and the live service's tables; tables keyed by order
   (``order_lines``) or review without a ``customer_id`` column lose the rows of the
   customer's orders and reviews;
2. ``quarantine`` loses the rows whose raw JSON holds the customer id in a column named like a customer id
   (``CustomerID``, ``customer_unique_id``, ``client_id``, ``email``...: :data:`CUSTOMER_KEYS`), or one of the
   customer's order ids in a column named like an order id (``InvoiceNo``, ``order_id``: :data:`ORDER_KEYS`);
   a value equal to the id in any other column (a quantity of 1 for customer ``1``) is not theirs;
3. ``forget_log`` gets one row per customer: the keyed pseudonym of the id (never the id),
   the rows removed per table and the files changed.

An id that no table and no quarantined row holds is no customer of the workspace: ``forget`` says so
and changes nothing (with several ids, the unknown ones are named and the known ones forgotten).

Then, outside the database: audience exports (CSV, Parquet) with a ``customer_id`` column are
rewritten without the customer's rows, and other exports that mention the id as a word are deleted. The
reports and model files (``models/run-<n>-...``, :mod:`shopseg.models`; ``reports/report-run<n>...``) of every run
whose outputs held the customer are deleted: a report lists them, and a learned model cannot unlearn them
while the next run would otherwise reuse it (``shopseg.refit``) instead of refitting without them. Files of
other runs are kept. Finally the database is rewritten into a fresh file (:meth:`Workspace.rewrite`): a DELETE
leaves the deleted values' bytes in free blocks of ``shop.duckdb`` even after ``CHECKPOINT``, a copy does not.

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

from ..errors import ShopsegError
from ..workspace import run_of_file
from .pii import pseudonym, workspace_secret


@dataclass
class ForgetResult:
    """What one :func:`forget` removed. ``rows_removed``: per table, over all the customers given."""

    forget_id: int
    n_customers: int
    n_known: int
    rows_removed: dict[str, int]
    unknown: list[str] = field(default_factory=list)
    files_rewritten: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"Forget {self.forget_id}: {self.n_customers} customer(s), {self.n_known} known to the workspace"]
        if self.unknown:
            lines.append(f"  no such customer (nothing removed): {', '.join(self.unknown)}")
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


# column names (lower case, letters and digits only) under which a quarantined row holds a customer id / order id
CUSTOMER_KEYS = r"^(customer|client|buyer|user|member|shopper|account|cust)(unique)?(id|no|number|key|code)?$|^e?mail(address)?$"
ORDER_KEYS = r"^(order|invoice|transaction|receipt)(id|no|number|key|code)?$"

# the quarantined rows' (ingest_id, row_number, value) under a customer-id or order-id column
_QUARANTINE_VALUES = f"""
    SELECT ingest_id, row_number, e.value AS v, e.key AS k FROM (
        SELECT ingest_id, row_number,
               unnest(map_entries(json_transform(raw, '"MAP(VARCHAR, VARCHAR)"'))) AS e
        FROM quarantine WHERE raw IS NOT NULL)
    WHERE regexp_matches(regexp_replace(lower(e.key), '[^a-z0-9]', '', 'g'), '{CUSTOMER_KEYS}|{ORDER_KEYS}')
"""


def _mentions(text: str, ids: list[str]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text) for i in ids)


def forget(ws, customer_ids, *, config=None) -> ForgetResult:
    """Remove the customers ``customer_ids`` from the workspace ``ws`` (see the module docstring)."""
    ids = sorted({str(c).strip() for c in customer_ids if c is not None and str(c).strip()})
    if not ids:
        raise ShopsegError("No customer id given: expected one or more ids, e.g. `shopseg forget c01 c02`.")
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
        # quarantine: rows holding the id under a customer-id column, or one of their order ids under an order-id one
        con.execute(f"CREATE OR REPLACE TEMP TABLE _forget_quarantine AS SELECT DISTINCT f.customer_id, q.ingest_id, "
                    f"q.row_number FROM ({_QUARANTINE_VALUES}) q JOIN "
                    f"(SELECT customer_id, customer_id AS v, '{CUSTOMER_KEYS}' AS keys FROM _forget_ids UNION ALL "
                    f" SELECT customer_id, order_id, '{ORDER_KEYS}' FROM _forget_orders) f ON q.v = f.v "
                    f"AND regexp_matches(regexp_replace(lower(q.k), '[^a-z0-9]', '', 'g'), f.keys)")
        counted = con.execute("SELECT customer_id, count(DISTINCT (ingest_id, row_number)) FROM _forget_quarantine "
                              "GROUP BY 1").fetchall()
        con.execute("DELETE FROM quarantine q WHERE EXISTS (SELECT 1 FROM _forget_quarantine f "
                    "WHERE f.ingest_id = q.ingest_id AND f.row_number = q.row_number)")
        for cid, n in counted:
            removed[cid]["quarantine"] = int(n)
            totals["quarantine"] = totals.get("quarantine", 0) + int(n)
        unknown = [i for i in ids if not removed[i]]
        if len(unknown) == len(ids):
            raise ShopsegError(f"No such customer: {', '.join(unknown)}. No table and no quarantined row holds "
                               f"{'this id' if len(ids) == 1 else 'these ids'}; nothing was changed.",
                               hint="Check the id with `shopseg customer ID` or `shopseg sql`.")
        rewritten, deleted = _scrub_files(ws, ids, seen_runs)
        key = workspace_secret(ws)  # after the check above: an unknown id creates nothing, not even the secret
        forget_id = ws.next_id("forget_log", "forget_id")
        files = json.dumps(rewritten + deleted)
        con.executemany(
            "INSERT INTO forget_log VALUES (?, ?, ?, ?, current_timestamp)",
            [[forget_id, pseudonym(i, key), json.dumps(dict(sorted(removed[i].items()))), files]
             for i in ids if i not in unknown])
        for t in ("_forget_ids", "_forget_orders", "_forget_reviews", "_forget_quarantine"):
            con.execute(f"DROP TABLE IF EXISTS temp.{t}")
    ws.rewrite()
    return ForgetResult(forget_id=forget_id, n_customers=len(ids), n_known=n_known,
                        rows_removed=dict(sorted(totals.items())), unknown=unknown, files_rewritten=rewritten,
                        files_deleted=deleted)


def _scrub_files(ws, ids: list[str], runs: list[int]) -> tuple[list[str], list[str]]:
    """Rewrite exports without the customers' rows (delete other exports that mention them); delete the report and
    model files of ``runs`` (built from data that held them: a stored model may be reused by the next run)."""
    rewritten, deleted = [], []
    root = Path(ws.path)
    for p in sorted(ws.exports_dir.rglob("*")) if ws.exports_dir.exists() else []:
        if p.suffix.lower() not in (".csv", ".parquet"):
            if p.is_file() and _mentions(p.read_bytes().decode("utf-8", "replace"), ids):
                p.unlink()
                deleted.append(str(p.relative_to(root)))
            continue
        import pandas as pd  # here, not at the top: `import shopseg` (ingest -> trust) stays light

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
    from .. import models

    for p in sorted(ws.reports_dir.rglob("*")) if ws.reports_dir.exists() else []:
        if p.is_file() and run_of_file(p.name) in runs:
            p.unlink()
            deleted.append(str(p.relative_to(root)))
    deleted += [str(p.relative_to(root)) for p in models.discard(ws, runs)]
    return rewritten, deleted
