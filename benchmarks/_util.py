"""Shared helpers for benchmarks: run a snippet in a fresh process, measure wall time and peak RSS."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORK = os.path.join(ROOT, "benchmarks", "_work")


def measure(code: str, timeout: float = 1800) -> dict:
    """Run ``code`` in a fresh Python; it must set ``result`` (a dict). Adds seconds and peak_rss_mb."""
    wrapper = textwrap.dedent("""
        import json, resource, time
        t0 = time.perf_counter()
        result = {}
        exec(compile(CODE, "<bench>", "exec"))
        result["seconds"] = round(time.perf_counter() - t0, 2)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print("@@RESULT@@" + json.dumps(result, default=str))
    """)
    prog = f"CODE = {code!r}\n" + wrapper
    try:
        out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=timeout,
                             cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in out.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    import duckdb
    import numpy
    return (f"{cpu}, {os.cpu_count()} cores, {mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, numpy {numpy.__version__}")
