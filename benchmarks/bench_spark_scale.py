"""Spark engine at scale (issue #22 item 5): `shopseg run --engine spark` against the DuckDB engine on one workspace.

    # a workspace: Online Retail x10 (benchmarks/bench_scale.build_scaled), ingested with the preset
    python benchmarks/bench_spark_scale.py build --data /work/shared/data --scale 10 --out /tmp/spark-x10
    # each engine's run on its own copy of that workspace, measured (wall, peak RSS of the process tree)
    python benchmarks/bench_spark_scale.py run /tmp/spark-x10/ws --engine spark --as-of 2011-12-09
    python benchmarks/bench_spark_scale.py run /tmp/spark-x10/ws --engine duckdb --as-of 2011-12-09
    # parity of the two stored runs: segment sizes, same segment per customer, value and churn tiers
    python benchmarks/bench_spark_scale.py compare /tmp/spark-x10/ws-duckdb /tmp/spark-x10/ws-spark
    # why value tiers differ: the one value_tiers rule re-run with each engine's CLV
    python benchmarks/bench_spark_scale.py tiers /tmp/spark-x10/ws-duckdb /tmp/spark-x10/ws-spark

The DuckDB run is limited to the stages the Spark engine executes (clv, segments, churn, baskets).
The peak memory is that of the whole process tree (the CLI, Spark's JVM and its Python workers), sampled
from /proc every 0.25 s: ``ru_maxrss`` would see only the largest single process.  Each `run` copies the
workspace to ``<ws>-<engine>`` first, so the two engines read the same ingested tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
SPARK_STAGES = ("clv", "segments", "churn", "baskets")  # the registered stages the Spark engine executes


def tree_rss(root: int) -> int:
    """Bytes resident in process ``root`` and all its descendants now."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_tree_measured(cmd: list[str], log: Path, every: float = 0.25) -> dict:
    """Run ``cmd`` (output to ``log``); wall seconds, exit code and the peak RSS of its process tree."""
    t0 = time.perf_counter()
    peak = 0
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        while p.poll() is None:
            peak = max(peak, tree_rss(p.pid))
            time.sleep(every)
    res = {"seconds": round(time.perf_counter() - t0, 1), "exit": p.returncode,
           "peak_tree_rss_mb": round(peak / 2**20), "load_avg_after": round(os.getloadavg()[0], 1)}
    if p.returncode != 0:
        res["error"] = (log.read_text().strip().splitlines() or ["no output"])[-1]
    return res


def shopseg(ws: Path, *args: str) -> list[str]:
    exe = Path(sys.executable).with_name("shopseg")
    return [*([str(exe)] if exe.exists() else [sys.executable, "-m", "shopseg.cli"]), "--workspace", str(ws), *args]


def build(data: str, scale: int, out: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_scale import build_scaled, find_source

    out.mkdir(parents=True, exist_ok=True)
    f = out / f"online-retail-x{scale}.parquet"
    info = build_scaled(find_source(data), scale, f)
    info["ingest"] = run_tree_measured(shopseg(out / "ws", "ingest", str(f), "--preset", "online-retail"),
                                       out / "ingest.log")
    return info


def run(ws: Path, engine: str, as_of: str) -> dict:
    dst = ws.with_name(f"{ws.name}-{engine}")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(ws, dst)
    # the DuckDB engine runs the stages the Spark engine has (the per-stage times and the parity compare alike)
    only = [] if engine == "spark" else [a for s in SPARK_STAGES for a in ("--stage", s)]
    res = run_tree_measured(shopseg(dst, "run", "--engine", engine, "--as-of", as_of, *only), dst.with_suffix(".log"))
    if res["exit"] == 0:
        import duckdb

        con = duckdb.connect(str(dst / "shop.duckdb"), read_only=True)
        try:
            stages = json.loads(con.execute("SELECT stages FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()[0])
        finally:
            con.close()
        res["stages"] = {k: v.get("seconds") for k, v in stages.items()}
        res["notes"] = {k: {n: x for n, x in v.items() if n not in ("seconds", "status", "engine")}
                        for k, v in stages.items() if k in ("segments", "churn", "baskets", "clv")}
    return res


def compare(duck: Path, spark: Path) -> dict:
    """Parity of the latest run of each workspace, per scheme: sizes side by side and the share of customers
    placed in the same segment; churn tiers the same way; the churn ROC-AUC each reports."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{duck / 'shop.duckdb'}' AS d (READ_ONLY)")
    con.execute(f"ATTACH '{spark / 'shop.duckdb'}' AS s (READ_ONLY)")
    rd, rs = (con.execute(f"SELECT max(run_id) FROM {db}.runs").fetchone()[0] for db in ("d", "s"))
    out: dict = {"schemes": {}}
    pairs = {"segments": "SELECT customer_id, scheme, segment FROM {db}.segments WHERE run_id = {rid}",
             "churn_tier": "SELECT customer_id, 'churn_tier' AS scheme, tier AS segment FROM {db}.churn_scores "
                           "WHERE run_id = {rid}"}
    for q in pairs.values():
        con.execute(f"CREATE OR REPLACE TEMP TABLE a AS {q.format(db='d', rid=rd)}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE b AS {q.format(db='s', rid=rs)}")
        same = con.execute("SELECT scheme, count(*), count(*) FILTER (WHERE a.segment = b.segment) FROM a "
                           "JOIN b USING (customer_id, scheme) GROUP BY scheme ORDER BY scheme").fetchall()
        sizes = con.execute("SELECT scheme, segment, (SELECT count(*) FROM a WHERE a.scheme = x.scheme AND "
                            "a.segment = x.segment), (SELECT count(*) FROM b WHERE b.scheme = x.scheme AND "
                            "b.segment = x.segment) FROM (SELECT scheme, segment FROM a UNION "
                            "SELECT scheme, segment FROM b) x ORDER BY ALL").fetchall()
        for scheme, n, k in same:
            out["schemes"][scheme] = {"customers_in_both": n, "same_segment_share": round(k / n, 4),
                                      "sizes_duckdb_spark": {seg: [x, y] for sc, seg, x, y in sizes if sc == scheme}}
    for db, rid, key in (("d", rd, "duckdb"), ("s", rs, "spark")):
        st = json.loads(con.execute(f"SELECT stages FROM {db}.runs WHERE run_id = {rid}").fetchone()[0])
        out[f"churn_{key}"] = {k: st.get("churn", {}).get(k) for k in ("model", "roc_auc", "n_train", "n_valid")}
    return out


def value_tier_cause(duck: Path, spark: Path) -> dict:
    """Why value tiers differ between the engines: the DuckDB engine's value_tiers rule re-run on the DuckDB
    run's features with each engine's stored CLV, against each engine's stored tiers (1.0 and 1.0: the rule is
    the same and the CLV scores are the whole difference), the CLV models each run used and the rank correlation
    of the two CLVs."""
    import warnings

    from shopseg.config import load_config
    from shopseg.segment.value import value_tiers
    from shopseg.workspace import open_workspace

    cfg, out, clv, tiers = load_config(), {}, {}, {}
    for key, path in (("duckdb", duck), ("spark", spark)):
        with open_workspace(path) as ws:
            rid = ws.scalar("SELECT max(run_id) FROM runs")
            if key == "duckdb":
                feats = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id",
                              [rid])
            clv[key] = ws.df("SELECT customer_id, clv, model FROM clv WHERE run_id = ?", [rid])
            tiers[key] = ws.df("SELECT customer_id, segment FROM segments WHERE run_id = ? AND scheme = 'value_tier'",
                               [rid]).set_index("customer_id")["segment"]
            out[f"clv_model_{key}"] = clv[key]["model"].value_counts().to_dict()
    ids = feats["customer_id"]
    both = clv["duckdb"].merge(clv["spark"], on="customer_id", suffixes=("_d", "_s"))
    out["clv_spearman"] = round(float(both["clv_d"].rank().corr(both["clv_s"].rank())), 4)
    for by in ("duckdb", "spark"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vt = value_tiers(feats, cfg, scores=clv[by].set_index("customer_id")["clv"].astype(float))
        mine = vt["tier"].to_numpy()
        out[f"rule_with_{by}_clv"] = {f"same_as_{k}": round(float((mine == tiers[k].loc[ids].to_numpy()).mean()), 4)
                                      for k in ("duckdb", "spark")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--data", required=True)
    b.add_argument("--scale", type=int, default=10)
    b.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("ws", type=Path)
    r.add_argument("--engine", choices=("duckdb", "spark"), required=True)
    r.add_argument("--as-of", required=True)
    c = sub.add_parser("compare")
    c.add_argument("duckdb_ws", type=Path)
    c.add_argument("spark_ws", type=Path)
    t = sub.add_parser("tiers", help="why value tiers differ: the same rule with each engine's CLV")
    t.add_argument("duckdb_ws", type=Path)
    t.add_argument("spark_ws", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "build":
        res = build(a.data, a.scale, a.out)
    elif a.cmd == "run":
        res = run(a.ws, a.engine, a.as_of)
    elif a.cmd == "tiers":
        res = value_tier_cause(a.duckdb_ws, a.spark_ws)
    else:
        res = compare(a.duckdb_ws, a.spark_ws)
    print(json.dumps(res, indent=1, default=str))
    return 0 if res.get("exit", 0) == 0 and res.get("ingest", {}).get("exit", 0) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
