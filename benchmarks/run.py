"""Run every benchmark and write docs/benchmarks.md (`make bench`; `make bench QUICK=1` for small sizes).

Each `benchmarks/bench_<area>.py` has `main(quick) -> str`, returning a Markdown section that holds its own
baseline measured in the same run. This script adds the machine and the date, and keeps the order stable.
Usage: python benchmarks/run.py [--quick] [area ...]
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _util import ROOT, machine  # noqa: E402

ORDER = ["ingest", "synth", "segments", "clv", "churn", "basket", "text", "serve"]


def load(area: str):
    spec = importlib.util.spec_from_file_location(f"bench_{area}", os.path.join(HERE, f"bench_{area}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    quick = "--quick" in sys.argv
    areas = [a for a in sys.argv[1:] if not a.startswith("--")] or ORDER
    parts = []
    for area in areas:
        t0 = time.perf_counter()
        print(f"== {area} ...", flush=True)
        try:
            parts.append(load(area).main(quick=quick).strip())
        except Exception:  # a failed benchmark is reported in the document, and the others still run
            parts.append(f"### {area}\n\nFailed:\n\n```\n{traceback.format_exc()}\n```")
        print(f"   {time.perf_counter() - t0:.0f} s", flush=True)
    doc = "\n".join([
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today():%Y-%m-%d} with `{'make bench QUICK=1' if quick else 'make bench'}`"
        f"{' (quick sizes)' if quick else ''} on: {machine()}.",
        "Each section runs its baseline in the same run, on the same input; every contender runs in a fresh",
        "process, and peak memory is that process's maximum resident set size.",
        "",
        *[p + "\n" for p in parts],
    ])
    if areas != ORDER:  # a subset is printed, never written over the whole record
        print(doc)
        return
    out = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(out, "w", encoding="utf-8") as f:
        f.write(doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
