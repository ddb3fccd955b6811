"""Benchmark: time and peak memory of `synthesize` at demo size and at scale.

Each size runs in a fresh Python process so its peak RSS is its own.  The
20k-customer demo is the baseline measured in the same run; the large run is
1M customers (100k with ``quick``).  CPU seconds (user + system, all threads)
are reported beside wall time because the machine may be shared.

    .venv/bin/python benchmarks/bench_synth.py           # 20k and 1M
    .venv/bin/python benchmarks/bench_synth.py --quick   # 20k and 100k
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, tempfile, time
from shopseg.workspace import Workspace
from shopseg.synth import synthesize
n = int(sys.argv[1])
path = sys.argv[2]
ws = Workspace.open(path)
t0, c0 = time.perf_counter(), time.process_time()
s = synthesize(ws, customers=n, seed=42)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
ws.close()
size = os.path.getsize(os.path.join(path, "shop.duckdb"))
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "db_mb": size / 1e6,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": {k: s[k] for k in ("customers", "orders", "order_lines", "events", "reviews")}}))
"""


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), os.path.join(d, "ws")],
                             check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> str:
    sizes = [20_000, 100_000 if quick else 1_000_000]
    lines = [
        "## synth: generated demo shop",
        "",
        f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
        "(other processes share the cores; CPU seconds are less sensitive to that than wall time).",
        "",
        "| customers | wall s | CPU s | peak RSS MB | DB MB | orders | order lines | events | reviews |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        r = run(n)
        rows = r["rows"]
        lines.append(f"| {n:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['db_mb']:.0f} | {rows['orders']:,} | {rows['order_lines']:,} | {rows['events']:,} | "
                     f"{rows['reviews']:,} |")
    lines.append("")
    lines.append(f"Baseline: the {sizes[0]:,}-customer demo (first row), measured in the same run.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
