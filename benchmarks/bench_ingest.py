"""Ingest throughput and peak memory for N generated order lines, beside pandas in the same run.

Contenders, each in a fresh process on the same CSV file:
- shopseg: `shopseg.ingest(ws, file, mapping=...)` splitting the file into orders, customers, products and order
  lines, with every row validated, de-duplicated and reconciled, in one transaction;
- pandas baseline: `pandas.read_csv` then the DataFrame copied into a DuckDB table (`CREATE TABLE AS SELECT * FROM
  df`, the fastest way from pandas into DuckDB; `to_sql` through SQLAlchemy would be slower). No validation at all.
"""

from __future__ import annotations

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _util import WORK, measure  # noqa: E402

MAPPING = """
[tables]
orders = ["order_id", "customer_id", "ordered_at"]
customers = ["customer_id"]
products = ["product_id"]
order_lines = ["order_id", "product_id", "quantity", "unit_price"]
"""


def make_file(n_lines: int) -> str:
    import duckdb

    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"lines_{n_lines}.csv")
    if not os.path.exists(path):
        duckdb.connect().execute(
            f"COPY (SELECT 'o' || (i // 4) AS order_id, 'c' || ((i // 4) % {max(n_lines // 40, 1)}) AS customer_id, "
            f"TIMESTAMP '2023-01-01' + to_seconds((i // 4) * 3) AS ordered_at, 'p' || (hash(i) % 5000) AS product_id, "
            f"1 + i % 3 AS quantity, round(1 + (hash(i * 7) % 10000) / 100.0, 2) AS unit_price "
            f"FROM range({n_lines}) t(i)) TO '{path}' (HEADER)"
        )
    return path


def main(quick: bool = False) -> str:
    n = 1_000_000 if quick else 10_000_000
    path = make_file(n)
    size_mb = os.path.getsize(path) / 1e6
    mapping = os.path.join(WORK, "lines_mapping.toml")
    with open(mapping, "w") as f:
        f.write(MAPPING)
    ws = os.path.join(WORK, "ws_ingest")
    shutil.rmtree(ws, ignore_errors=True)
    ours = measure(
        "import shopseg\n"
        f"w = shopseg.open_workspace({ws!r})\n"
        f"r = shopseg.ingest(w, {path!r}, mapping={mapping!r})\n"
        "result.update(accepted=r.n_accepted, rows=r.n_input, reconciled=r.reconciled, added=r.rows_added)\n"
    )
    shutil.rmtree(ws, ignore_errors=True)
    # the same ingest with DuckDB's memory capped (SHOPSEG_MEMORY_LIMIT): bounded memory, spilling to disk
    capped = measure(
        "import os, shopseg\n"
        "os.environ['SHOPSEG_MEMORY_LIMIT'] = '2GB'\n"
        f"w = shopseg.open_workspace({ws!r})\n"
        f"r = shopseg.ingest(w, {path!r}, mapping={mapping!r})\n"
        "result.update(accepted=r.n_accepted, rows=r.n_input, reconciled=r.reconciled)\n"
    )
    shutil.rmtree(ws, ignore_errors=True)
    base = measure(
        "import duckdb, pandas as pd\n"
        f"df = pd.read_csv({path!r})\n"
        "con = duckdb.connect()\n"
        "con.execute('SET enable_progress_bar = false')\n"
        "con.register('df', df)\n"
        "con.execute('CREATE TABLE order_lines AS SELECT * FROM df')\n"
        "result.update(rows=len(df))\n"
    )
    lines = [
        f"### Ingest: {n:,} order lines ({size_mb:,.0f} MB CSV)",
        "",
        "| contender | seconds | lines/s | peak RSS (MB) | notes |",
        "|---|---|---|---|---|",
    ]
    for name, r, note in (
        ("shopseg ingest (validate, dedupe, split into 4 tables, 1 transaction)", ours,
         f"reconciled={ours.get('reconciled')}, added={ours.get('added')}"),
        ("the same, SHOPSEG_MEMORY_LIMIT=2GB", capped, f"reconciled={capped.get('reconciled')}"),
        ("pandas.read_csv + copy into DuckDB (no validation)", base, ""),
    ):
        if "error" in r:
            lines.append(f"| {name} | - | - | - | {r['error']} |")
        else:
            lines.append(f"| {name} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} | {note} |")
    if "error" not in ours and "error" not in base:
        lines += ["", f"Time ratio shopseg / pandas: {ours['seconds'] / base['seconds']:.2f}; "
                      f"memory ratio: {ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
