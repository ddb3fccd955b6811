"""Benchmark: time and peak memory of `synthesize` at demo size and at scale.

Each size runs in a fresh Python process so its peak RSS is its own (the
kernel's ru_maxrss, and the largest of psutil samples taken every 0.2 s).
The 20k-customer demo is the baseline measured in the same run; then 250k,
500k and 1M customers show whether peak memory stays flat as the shop grows
(100k only with ``quick``).  CPU seconds (user + system, all threads) are
reported beside wall time because the machine may be shared.

``--compare-src DIR`` also runs every size with the ``shopseg`` package found
in ``DIR`` (e.g. an older checkout's ``src``), in the same run, to compare
two versions of the writer on equal terms.

    .venv/bin/python benchmarks/bench_synth.py           # 20k, 250k, 500k, 1M
    .venv/bin/python benchmarks/bench_synth.py --quick   # 20k and 100k
    .venv/bin/python benchmarks/bench_synth.py --compare-src /tmp/old/src
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, threading, time
import psutil
from shopseg.workspace import Workspace
from shopseg.synth import synthesize
n = int(sys.argv[1])
path = sys.argv[2]
proc, peak, done = psutil.Process(), [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        done.wait(0.2)
threading.Thread(target=sample, daemon=True).start()
ws = Workspace.open(path)
t0, c0 = time.perf_counter(), time.process_time()
s = synthesize(ws, customers=n, seed=42)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
done.set()
ws.close()
size = os.path.getsize(os.path.join(path, "shop.duckdb"))
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "db_mb": size / 1e6,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sampled_peak_mb": peak[0] / 1e6, "load": os.getloadavg()[0],
                  "leftover": sorted(p for p in os.listdir(path) if p.startswith(".synth-staging")),
                  "rows": {k: s[k] for k in ("customers", "orders", "order_lines", "events", "reviews")}}))
"""


def run(n: int, src: str | None = None) -> dict:
    """Synthesize ``n`` customers (seed 42) in a fresh process; ``src`` puts another shopseg first on the path."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), os.path.join(d, "ws")],
                             check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, n: int, r: dict) -> str:
    rows = r["rows"]
    return (f"| {label} | {n:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} | {r['db_mb']:,.0f} | "
            f"{r['load']:.1f} | {rows['orders']:,} | {rows['order_lines']:,} | {rows['events']:,} | "
            f"{rows['reviews']:,} |")


def main(quick: bool = False, compare_src: str | None = None) -> str:
    sizes = [20_000, 100_000] if quick else [20_000, 250_000, 500_000, 1_000_000]
    lines = [
        "## synth: generated demo shop",
        "",
        f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
        "(other processes share the cores; CPU seconds are less sensitive to that than wall time).",
        "",
        "| writer | customers | wall s | CPU s | peak RSS MB | DB MB | load at end | orders | order lines | events "
        "| reviews |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        lines.append(row("this tree", n, run(n)))
        if compare_src:
            lines.append(row(f"`{compare_src}`", n, run(n, compare_src)))
    lines.append("")
    lines.append(f"Baseline: the {sizes[0]:,}-customer demo (first row), measured in the same run.")
    return "\n".join(lines)


if __name__ == "__main__":
    args = sys.argv[1:]
    cmp = args[args.index("--compare-src") + 1] if "--compare-src" in args else None
    print(main(quick="--quick" in args, compare_src=cmp))
