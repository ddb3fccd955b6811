"""Benchmark: the recommend stage on Online Retail x10, today's build against this one, same machine, same run.

Builds ``benchmarks/_work/recommend_x10`` once: UCI Online Retail ingested with the
``online-retail`` preset, then every customer and their orders copied ten times (ids suffixed
``-0`` .. ``-9``; products shared), about 43,000 customers.  Each build then runs the ``recommend``
stage alone (as_of 2011-12-09, no segments or rules, so both builds do the same work besides
the model) in a fresh Python process on its own copy of the workspace; wall time, CPU time (all
threads; steadier than wall time on a shared machine) and peak RSS of the process are reported.
With ``--rounds N`` the two builds alternate N times (before, after, before, ...), so a change of
load on the machine falls on both.  "before" imports shopseg from ``--before`` (default the main
checkout, ``../main/src``), "after" from this tree's ``src``.  ``--workspace WS`` runs on a copy of an
already ingested workspace instead (e.g. ``benchmarks/bench_scale.py``'s x10 or x100 clone of Online Retail).
When both builds ran, their recommendations tables are compared row by row (by customer and rank): the
rows whose product differs, split by kind (repeat / new), and the largest score difference elsewhere.

    .venv/bin/python benchmarks/bench_recommend.py [--data DIR] [--before PATH_TO_SRC] [--copies 10] [--only after] [--rounds 1] [--workspace WS]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import ROOT, WORK, machine  # noqa: E402

DATA = Path(ROOT).parent / "shared" / "data"
AS_OF = "2011-12-09 23:59:59"

STAGE = """
import json, resource, sys, time
from shopseg.config import load_config
from shopseg.pipeline import RunContext
from shopseg.recommend import recommend_stage
from shopseg.workspace import Workspace
ws = Workspace.open(sys.argv[1])
ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (1, ?, 0, 'done')", [sys.argv[2]])
t0, c0 = time.perf_counter(), time.process_time()
notes = recommend_stage(RunContext(ws, 1, sys.argv[2], load_config(), 0, None))
secs, cpu = time.perf_counter() - t0, time.process_time() - c0
n = ws.scalar("SELECT count(DISTINCT customer_id) FROM recommendations")
print("@@" + json.dumps({"seconds": round(secs, 1), "cpu_seconds": round(cpu, 1), "customers_with_recs": n, "rows": notes["rows"],
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                          "mix": notes.get("mix"), "kinds": notes.get("kinds")}, default=str))
ws.con.execute("COPY (SELECT customer_id, rank, product_id, score, kind FROM recommendations) TO '" + sys.argv[3]
               + "' (FORMAT parquet)")
"""


def build(copies: int, data: Path) -> Path:
    """The replicated workspace (built once per number of copies)."""
    sys.path.insert(0, os.path.join(ROOT, "src"))
    import shopseg
    from shopseg.workspace import Workspace

    path = Path(WORK) / f"recommend_x{copies}"
    if (path / ".built").exists():
        return path
    retail = data / "online_retail" / "online_retail.parquet"
    if not retail.exists():
        sys.exit(f"UCI Online Retail not found at {retail}: pass --data DIR.")
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Workspace.open(path) as ws:
        shopseg.ingest(ws, str(retail), preset="online-retail")
        con = ws.con
        con.execute(f"CREATE TEMP TABLE k AS SELECT range AS k FROM range({copies})")
        con.execute("CREATE TEMP TABLE c0 AS SELECT * FROM customers")
        con.execute("CREATE TEMP TABLE o0 AS SELECT * FROM orders WHERE customer_id IS NOT NULL")
        con.execute("CREATE TEMP TABLE l0 AS SELECT l.* FROM order_lines l JOIN o0 USING (order_id)")
        con.execute("DELETE FROM order_lines")
        con.execute("DELETE FROM orders")
        con.execute("DELETE FROM customers")
        con.execute("INSERT INTO customers SELECT c0.* REPLACE (customer_id || '-' || k AS customer_id) FROM c0, k")
        con.execute("INSERT INTO orders SELECT o0.* REPLACE (order_id || '-' || k AS order_id, "
                    "customer_id || '-' || k AS customer_id) FROM o0, k")
        con.execute("INSERT INTO order_lines SELECT l0.* REPLACE (order_id || '-' || k AS order_id) FROM l0, k")
    (path / ".built").write_text("ok")
    return path


def run(src: str, ws: Path, table: Path) -> dict:
    copy = Path(WORK) / (ws.name + "-run")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ws, copy)
    env = {**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", STAGE, str(copy), AS_OF, str(table)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=7200)
    shutil.rmtree(copy, ignore_errors=True)
    for line in out.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def compare(before: Path, after: Path) -> str:
    """The two builds' recommendations row by row (customer, rank): products that differ, by kind."""
    import duckdb

    with duckdb.connect() as con:
        (n_a, n_b, both, diff, diff_rep, diff_new, cust, score), = con.execute(f"""
            WITH a AS (SELECT * FROM read_parquet('{before}')), b AS (SELECT * FROM read_parquet('{after}'))
            SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), count(*),
                   count(*) FILTER (a.product_id <> b.product_id),
                   count(*) FILTER (a.product_id <> b.product_id AND a.kind = 'repeat'),
                   count(*) FILTER (a.product_id <> b.product_id AND a.kind = 'new'),
                   count(DISTINCT a.customer_id) FILTER (a.product_id <> b.product_id),
                   max(abs(a.score - b.score)) FILTER (a.product_id = b.product_id)
            FROM a JOIN b USING (customer_id, rank)""").fetchall()
    return (f"Row by row (customer, rank), before {n_a:,} rows, after {n_b:,}, {both:,} in both: the product differs "
            f"in {diff:,} ({diff_rep:,} where before recommended a repeat, {diff_new:,} a new product; {cust:,} "
            f"customers); largest score difference on the other rows {score:.2g}.")


def main(argv: list[str]) -> str:
    before = argv[argv.index("--before") + 1] if "--before" in argv else str(Path(ROOT).parent / "main" / "src")
    copies = int(argv[argv.index("--copies") + 1]) if "--copies" in argv else 10
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 1
    data = Path(argv[argv.index("--data") + 1]) if "--data" in argv else DATA
    t0 = time.perf_counter()
    ws = Path(argv[argv.index("--workspace") + 1]) if "--workspace" in argv else build(copies, data)
    Path(WORK).mkdir(parents=True, exist_ok=True)
    import duckdb

    with duckdb.connect(str(ws / "shop.duckdb"), read_only=True) as con:
        n_c, n_l = con.execute("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM order_lines)").fetchone()
    size = f"`{ws}`" if "--workspace" in argv else f"Online Retail x{copies}"
    lines = [f"### Recommend stage, {size} ({n_c:,} customers, {n_l:,} order lines)", "",
             f"Machine: {machine()}. Workspace built in {time.perf_counter() - t0:.0f} s (not timed below).", "",
             "| build | seconds | CPU seconds | peak RSS MB | customers with recommendations | rows |",
             "|---|---:|---:|---:|---:|---:|"]
    builds = (("before (" + before + ")", before), ("after (this tree)", os.path.join(ROOT, "src")))
    tables = {}
    for name, src in [b for _ in range(rounds) for b in builds]:
        if only and not name.startswith(only):
            continue
        tables[name.split()[0]] = table = Path(WORK) / f"recommend-{name.split()[0]}.parquet"
        table.unlink(missing_ok=True)
        r = run(src, ws, table)
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | | |")
            continue
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:,} | "
                     f"{r['customers_with_recs']:,} | {r['rows']:,} |")
        if r.get("mix"):
            lines.append(f"|  learned mix | {r['mix']} | | | kinds | {r.get('kinds')} |")
    if {"before", "after"} <= tables.keys() and all(t.exists() for t in tables.values()):
        lines += ["", compare(tables["before"], tables["after"])]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(sys.argv[1:]))
