"""Incremental refresh against a full run (issue #20 item 3): one held-out day of Online Retail xN.

    python benchmarks/bench_incremental.py --data /work/shared/data --scale 10 [--lock /tmp/shopseg-heavy.lock]
        [--base DIR] [--work DIR] [--keep] [--json out.json] [--rounds N] [--before OTHER/src]

1. ``build_scaled`` (benchmarks/bench_scale.py) writes N copies of the Online Retail lines; the last day is
   held out: ``before.parquet`` (every earlier day) and ``lastday.parquet``;
2. ``shopseg ingest before.parquet --preset online-retail`` and ``shopseg run --as-of <the day before>
   --no-report`` into a fresh workspace: the base (or ``--base DIR``, such a workspace already made);
3. two copies of the base, each ``shopseg ingest lastday.parquet`` (not timed);
4. back to back, each its own process: ``shopseg run --incremental --no-report`` on one copy, and
   ``shopseg run --no-report`` (a full run: it reuses the base's cluster and churn models while their inputs'
   PSI stays under ``drift.refit_psi``; the CLV candidates are refitted, as in every full run) on the other.
   With ``--lock`` the pair runs under that lock file (``flock``), taken once for the pair, and the base's
   ingest and run under it too, one at a time (the last day's small ingests are not).  ``--rounds N``: steps
   3-4 N times on fresh copies (the median ratio is reported).  ``--before SRC`` (another tree's ``src``, e.g.
   main's): each round also runs that tree's incremental refresh on a third copy, first under the same lock
   hold, so before and after are measured against the same full run.  ``--in-process N``: then N times, on fresh
   copies too, ``run_incremental`` timed inside one Python process with its libraries imported first (warm, as
   a long-running service) and without (cold); not under the lock.

Before the first round the shopseg package is compiled to bytecode (``compileall``), as an installed package is:
with ``PYTHONDONTWRITEBYTECODE`` set (as on the project's machine) every process would otherwise compile
shopseg's modules from source, a fixed cost that weighs on the shorter run (``--no-bytecode`` keeps that).

Prints and records wall and CPU seconds and peak RSS of both runs, their ratio, the incremental run's parts
(``runs.stages``: touched and date-moved customers, seconds per part), the full run's stages and model
decisions, and checks the two runs agree where they must (``customer_features`` row for row, the itemsets and
rules, the touched customers' churn probabilities: docs/incremental.md).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import build_scaled, find_source, run_measured, shopseg_cmd, stage_seconds  # noqa: E402


@contextlib.contextmanager
def locked(path: str | None):
    """Hold ``path`` with flock(2) (what flock(1) takes): one heavy job on the machine at a time."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def split_last_day(src: Path, out: Path) -> dict:
    """``before.parquet`` (all days but the last) and ``lastday.parquet`` beside ``src``; the two days."""
    import duckdb

    con = duckdb.connect()
    last = con.execute(f"SELECT CAST(max(InvoiceDate) AS DATE) FROM read_parquet('{src}')").fetchone()[0]
    prev = con.execute(f"SELECT CAST(max(InvoiceDate) AS DATE) FROM read_parquet('{src}') "
                       f"WHERE CAST(InvoiceDate AS DATE) < DATE '{last}'").fetchone()[0]
    for name, cond in (("before", "<"), ("lastday", "=")):
        con.execute(f"COPY (SELECT * FROM read_parquet('{src}') WHERE CAST(InvoiceDate AS DATE) {cond} "
                    f"DATE '{last}') TO '{out / (name + '.parquet')}' (FORMAT parquet)")
    rows, customers = con.execute(f"SELECT count(*), count(DISTINCT CustomerID) FROM read_parquet("
                                  f"'{out / 'lastday.parquet'}')").fetchone()
    con.close()
    return {"last_day": str(last), "base_day": str(prev), "last_day_lines": rows, "last_day_customers": customers}


def shopseg(ws: Path, *args: str) -> list[str]:
    return [*shopseg_cmd(), "-q", "-w", str(ws), *args]


def checked(res: dict, what: str) -> dict:
    if res.get("exit") != 0:
        raise SystemExit(f"{what} failed: {res.get('error')}")
    return res


def latest_run(ws: Path) -> dict:
    """The latest run's id, stages and model decisions."""
    import duckdb

    con = duckdb.connect(str(ws / "shop.duckdb"), read_only=True)
    try:
        rid, stages = con.execute("SELECT run_id, stages FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
        dec = con.execute("SELECT model, action, max_psi FROM model_decisions WHERE run_id = ? ORDER BY model",
                          [rid]).fetchall()
    finally:
        con.close()
    return {"run_id": rid, "stages": json.loads(stages), "decisions": [list(d) for d in dec]}


def agree(incr: Path, full: Path, run_id: int) -> dict:
    """Where the incremental run must equal the full run (docs/incremental.md), and by how much it does:
    ``customer_features`` to 1e-9 relative (DuckDB's parallel sums differ in the last bits from run to run),
    the itemsets and rules exactly, the touched customers' churn probability (1e-9) and tier where neither run
    pooled it with P(alive), and the incremental run's pairs that still contradict (0 expected)."""
    import duckdb
    import numpy as np

    con = duckdb.connect()
    con.execute(f"ATTACH '{incr / 'shop.duckdb'}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{full / 'shop.duckdb'}' AS b (READ_ONLY)")
    out = {}
    q = "SELECT * EXCLUDE (run_id) FROM {}.customer_features WHERE run_id = %d ORDER BY customer_id" % run_id
    x, y = con.execute(q.format("a")).df(), con.execute(q.format("b")).df()
    differ = np.zeros(len(x), dtype=bool) if x["customer_id"].equals(y["customer_id"]) else np.ones(len(x), bool)
    for c in x.columns:
        if x[c].dtype.kind in "fiub" and y[c].dtype.kind in "fiub":
            differ |= ~np.isclose(x[c].astype(float), y[c].astype(float), rtol=1e-9, atol=0, equal_nan=True)
        else:
            differ |= ~((x[c] == y[c]) | (x[c].isna() & y[c].isna())).to_numpy()
    out["customer_features"] = {"rows": len(x), "rows_differing": int(differ.sum())}
    for table in ("frequent_itemsets", "association_rules"):
        q = f"SELECT * EXCLUDE (run_id) FROM {{}}.{table} WHERE run_id = {run_id}"
        n = con.execute(f"SELECT count(*) FROM ({q.format('a')})").fetchone()[0]
        diff = con.execute(f"SELECT count(*) FROM (({q.format('a')} EXCEPT ALL {q.format('b')}) UNION ALL "
                           f"({q.format('b')} EXCEPT ALL {q.format('a')}))").fetchone()[0]
        out[table] = {"rows": n, "rows_differing": diff}
    base = con.execute("SELECT as_of FROM a.runs WHERE run_id = ?", [run_id - 1]).fetchone()[0]
    touched = f"(SELECT DISTINCT customer_id FROM a.orders WHERE ordered_at > TIMESTAMP '{base}')"
    # churn is pooled with P(alive) where the two contradict (docs/churn.md); the full run refits the CLV models
    # the incremental run reuses, so a pooled pair carries each run's own P(alive): compared where neither pooled
    pooled = ("(SELECT customer_id FROM {0}.churn_scores s JOIN {0}.clv c USING (run_id, customer_id) "
              f"WHERE s.run_id = {run_id} AND abs(c.p_alive - (1 - s.probability)) <= 1e-12)")
    n, same, n_pooled, bad = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE abs(x.probability - y.probability) <= 1e-9 AND x.tier = y.tier "
        f"AND customer_id NOT IN {pooled.format('a')} AND customer_id NOT IN {pooled.format('b')}), "
        f"count(*) FILTER (WHERE customer_id IN {pooled.format('a')} OR customer_id IN {pooled.format('b')}), "
        f"(SELECT count(*) FROM a.churn_scores s JOIN a.clv c USING (run_id, customer_id) WHERE s.run_id = {run_id} "
        f"AND c.p_alive > 1 - s.probability + 1e-9 AND c.model LIKE 'p_alive=repeat%') "
        f"FROM a.churn_scores x JOIN b.churn_scores y USING (customer_id) WHERE x.run_id = {run_id} "
        f"AND y.run_id = {run_id} AND customer_id IN {touched}").fetchone()
    out["churn_scores_touched"] = {"customers": n, "pooled_in_either_run": n_pooled,
                                   "same_probability_and_tier_where_neither_pooled": same,
                                   "incremental_p_alive_above_one_minus_churn": bad}
    con.close()
    return out


# run_incremental timed inside a process whose libraries are loaded already (warm: what a long-running service
# pays) or not (cold); prints one JSON line
IN_PROCESS = """
import importlib, json, sys, time, warnings
warnings.simplefilter("ignore")
import shopseg
from shopseg.incremental import run_incremental
if sys.argv[2] == "warm":
    for m in ("lightgbm", "shopseg.predict._score", "shopseg.segment._score", "shopseg.basket", "shopseg.refit",
              "shopseg.predict.churn", "shopseg.predict.clv", "shopseg.segment", "shopseg.segment.cluster",
              "shopseg.features", "shopseg.drift"):
        importlib.import_module(m)
t, c = time.perf_counter(), time.process_time()
ws = shopseg.open_workspace(sys.argv[1])
res = run_incremental(ws)
ws.close()
print(json.dumps({"mode": sys.argv[2], "seconds": round(time.perf_counter() - t, 2),
                  "cpu_s": round(time.process_time() - c, 2), "parts": res.stages["incremental"]["seconds_by_part"],
                  "state_seconds": res.stages["incremental"]["state_seconds"],
                  "baskets_seconds": res.stages["baskets"]["seconds"]}))
"""


def in_process(base: Path, work: Path, mode: str) -> dict:
    """A fresh copy of ``base`` with the last day ingested, then ``run_incremental`` timed in one process (not
    under the lock: a supplement to the pair, said so where it is quoted)."""
    import subprocess

    ws = work / f"ws-{mode}"
    shutil.rmtree(ws, ignore_errors=True)
    shutil.copytree(base, ws)
    checked(run_measured(shopseg(ws, "ingest", str(work / "lastday.parquet"), "--preset", "online-retail")),
            f"ingest of the last day ({mode})")
    got = subprocess.run([sys.executable, "-c", IN_PROCESS, str(ws), mode], capture_output=True, text=True,
                         check=True)
    return json.loads(got.stdout.strip().splitlines()[-1])


def one_round(base: Path, work: Path, lock: str | None, before: str | None = None) -> dict:
    """Two fresh copies of ``base``, the last day ingested into each (not timed), then the pair back to back;
    with ``before`` (another tree's ``src``) a third copy, whose incremental run by that tree goes first."""
    out: dict = {}
    copies = {}
    for name in ("incremental", "full") + (("incremental_before",) if before else ()):
        ws = copies[name] = work / f"ws-{name}"
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(base, ws)
        # one day of lines (16k at x10): small, so not under the lock
        out[f"ingest_last_day_{name}"] = checked(run_measured(shopseg(
            ws, "ingest", str(work / "lastday.parquet"), "--preset", "online-retail")),
            f"ingest of the last day ({name})")
    with locked(lock):  # the pair (and the before tree's incremental run), back to back
        if before:
            env = {**os.environ, "PYTHONPATH": before}
            out["incremental_before"] = checked(run_measured(shopseg(copies["incremental_before"], "run",
                                                                     "--incremental", "--no-report"), env=env),
                                                "incremental run (before)")
        out["incremental"] = checked(run_measured(shopseg(copies["incremental"], "run", "--incremental",
                                                          "--no-report")), "incremental run")
        out["full"] = checked(run_measured(shopseg(copies["full"], "run", "--no-report")), "full run")
    if before:
        out["incremental_before_run"] = latest_run(copies["incremental_before"])
        out["ratio_before"] = round(out["incremental_before"]["seconds"] / out["full"]["seconds"], 4)
    out["incremental_run"] = latest_run(copies["incremental"])
    out["full_run"] = latest_run(copies["full"])
    out["full"]["stages"] = stage_seconds(copies["full"])
    out["ratio"] = round(out["incremental"]["seconds"] / out["full"]["seconds"], 4)
    out["agree"] = agree(copies["incremental"], copies["full"], out["incremental_run"]["run_id"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data", help="the Online Retail Parquet file or its folder")
    ap.add_argument("--scale", type=int, default=10, help="copies of the shop (default 10)")
    ap.add_argument("--work", help="folder for the files and workspaces (default: a temporary one)")
    ap.add_argument("--base", help="a workspace already ingested with all but the last day and run (skips step 2)")
    ap.add_argument("--lock", help="a lock file (flock) held for each heavy command and for the measured pair")
    ap.add_argument("--keep", action="store_true", help="keep the files and workspaces")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--rounds", type=int, default=1, help="pairs measured, each on fresh copies (default 1)")
    ap.add_argument("--no-bytecode", action="store_true", help="do not compile the package to bytecode first")
    ap.add_argument("--before", metavar="SRC",
                    help="another tree's src folder: each round also times its incremental run (first, same lock)")
    ap.add_argument("--in-process", type=int, default=0, metavar="N",
                    help="also time run_incremental N times in a warm and a cold Python process (not locked)")
    args = ap.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="shopseg-incr-"))
    work.mkdir(parents=True, exist_ok=True)
    out: dict = {"scale": args.scale}
    try:
        scaled = work / f"x{args.scale}.parquet"
        out["file"] = build_scaled(find_source(args.data), args.scale, scaled)
        out.update(split_last_day(scaled, work))
        if args.base:
            base = Path(args.base)
        else:
            base = work / "base"
            shutil.rmtree(base, ignore_errors=True)
            with locked(args.lock):
                out["ingest_base"] = checked(run_measured(shopseg(base, "ingest", str(work / "before.parquet"),
                                                                  "--preset", "online-retail")), "ingest")
            with locked(args.lock):
                out["base_run"] = checked(run_measured(shopseg(base, "run", "--as-of", out["base_day"],
                                                               "--no-report")), "base run")
        import compileall

        if not args.no_bytecode:
            from importlib.util import find_spec

            package = Path(find_spec("shopseg").origin).parent  # the tree the runs import (PYTHONPATH)
            out["bytecode"] = bool(compileall.compile_dir(str(package), quiet=1))
        if args.before and not args.no_bytecode:
            out["bytecode_before"] = bool(compileall.compile_dir(args.before, quiet=1))
        out["rounds"] = [one_round(base, work, args.lock, args.before) for _ in range(args.rounds)]
        last = out["rounds"][-1]
        out.update({k: last[k] for k in ("incremental", "full", "incremental_run", "full_run", "agree")})
        ratios = sorted(r["ratio"] for r in out["rounds"])
        out["ratio"] = ratios[len(ratios) // 2]
        out["ratios"] = ratios
        if args.before:
            out["ratios_before"] = sorted(r["ratio_before"] for r in out["rounds"])
        out["in_process"] = [in_process(base, work, mode) for _ in range(args.in_process) for mode in ("warm", "cold")]
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
