"""Ingest throughput and peak memory for N generated order lines, beside pandas in the same run.

Contenders, each in a fresh process on the same CSV file:
- shopseg: `shopseg.ingest(ws, file, mapping=...)` splitting the file into orders, customers, products and order
  lines, with every row validated, de-duplicated and reconciled, in one transaction;
- pandas baseline: `pandas.read_csv` then the DataFrame copied into a DuckDB table (`CREATE TABLE AS SELECT * FROM
  df`, the fastest way from pandas into DuckDB; `to_sql` through SQLAlchemy would be slower). No validation at all.

Then, when UCI Online Retail is at hand (``$SHOPSEG_DATA`` or ``../shared/data`` beside the repository), the
issue #22 comparison: Online Retail cloned x10 (x1 with ``--quick``; ``benchmarks/bench_scale.py`` builds the
copies), ``shopseg ingest FILE --preset online-retail`` against DuckDB reading the same Parquet file into a table
with no checks, same memory budget and threads, each in its own process, twice each, alternating.
"""

from __future__ import annotations

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _util import ROOT, WORK, measure  # noqa: E402

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
    return "\n".join(lines) + "\n\n" + online_retail_section(quick)


def online_retail_section(quick: bool) -> str:
    """Ingest against DuckDB's plain read of the same Online Retail copy (issue #22: within 3x)."""
    import tempfile
    from pathlib import Path

    import bench_scale as bs

    data = os.environ.get("SHOPSEG_DATA") or os.path.join(ROOT, "..", "shared", "data")
    src = Path(data) / "online_retail" / "online_retail.parquet"
    scale = 1 if quick else 10
    head = f"### Ingest against DuckDB's plain read: Online Retail x{scale} (issue #22)"
    if not src.exists():
        return f"{head}\n\nSkipped: no {src} (set SHOPSEG_DATA to the folder holding online_retail/).\n"
    with tempfile.TemporaryDirectory(prefix="shopseg-bench-ingest-") as d:
        tmp = Path(d)
        f = tmp / f"online-retail-x{scale}.parquet"
        info = bs.build_in_child(src, scale, f)
        rows = []
        for attempt in (1, 2):  # alternating, so that a busy minute hits both
            raw = bs.raw_read(f, tmp)
            ws = tmp / f"ws{attempt}"
            ing = bs.run_measured(bs.shopseg_cmd() + ["--workspace", str(ws), "ingest", str(f), "--preset",
                                                      "online-retail"])
            shutil.rmtree(ws, ignore_errors=True)
            rows.append((raw, ing, bs.ingest_ratio(ing, raw)))
    lines = [head, "", f"{info['rows']:,} lines, {info['customers']:,} customers; memory budget "
             f"{rows[0][0].get('memory_limit')}, DuckDB's default threads, each command in its own process.", "",
             "| attempt | DuckDB plain read: wall s / CPU s / peak MB | shopseg ingest: wall s / CPU s / peak MB "
             "| ratio wall / CPU |", "|---|---|---|---|"]
    for i, (raw, ing, ratio) in enumerate(rows, 1):
        def cell(r):
            return r["error"] if "error" in r else f"{r['seconds']} / {r['cpu_s']} / {r['peak_rss_mb']:,}"
        lines.append(f"| {i} | {cell(raw)} | {cell(ing)} | {ratio.get('wall', '-')} / {ratio.get('cpu', '-')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
