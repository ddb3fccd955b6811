"""Run the benchmarks and record them in docs/benchmarks.md (`make bench`; `make bench QUICK=1` for small sizes).

Each `benchmarks/bench_<area>.py` has `main(quick) -> str`, returning a Markdown section that holds its own
baseline measured in the same run.  This script adds the date and the machine and writes each area's section
between the markers ``<!-- make bench: AREA -->`` and ``<!-- /make bench: AREA -->`` of docs/benchmarks.md,
in place: the sections measured by hand on real data (recommend, scale, real shops, report on Online Retail:
their commands are written beside them) stay as they are, and a run of a few areas replaces only theirs.
Usage: python benchmarks/run.py [--quick] [area ...]
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _util import ROOT, machine  # noqa: E402

ORDER = ["ingest", "synth", "segments", "clv", "churn", "basket", "text", "serve", "report"]
DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def place(doc: str, area: str, section: str) -> str:
    r"""``doc`` with ``area``'s marked section replaced by ``section`` (appended when it has none yet).

    >>> place("# B\n<!-- make bench: a -->\nold\n<!-- /make bench: a -->\nkept\n", "a", "new")
    '# B\n<!-- make bench: a -->\nnew\n<!-- /make bench: a -->\nkept\n'
    >>> place("# B\n", "b", "new")
    '# B\n\n<!-- make bench: b -->\nnew\n<!-- /make bench: b -->\n'
    """
    block = f"<!-- make bench: {area} -->\n{section.strip()}\n<!-- /make bench: {area} -->\n"
    pattern = re.compile(rf"<!-- make bench: {re.escape(area)} -->\n.*?<!-- /make bench: {re.escape(area)} -->\n",
                         re.S)
    if pattern.search(doc):
        return pattern.sub(lambda _m: block, doc, count=1)
    return doc.rstrip("\n") + "\n\n" + block


def load(area: str):
    spec = importlib.util.spec_from_file_location(f"bench_{area}", os.path.join(HERE, f"bench_{area}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    quick = "--quick" in sys.argv
    areas = [a for a in sys.argv[1:] if not a.startswith("--")] or ORDER
    stamp = (f"_Measured {datetime.date.today():%Y-%m-%d} with "
             f"`{'make bench QUICK=1' if quick else 'make bench'}`{' (quick sizes)' if quick else ''} on: "
             f"{machine()}._")
    doc = open(DOC, encoding="utf-8").read() if os.path.exists(DOC) else "# Benchmarks\n"
    for area in areas:
        t0 = time.perf_counter()
        print(f"== {area} ...", flush=True)
        try:
            section = load(area).main(quick=quick).strip()
        except Exception:  # a failed benchmark is recorded as failed, and the others still run
            section = f"### {area}\n\nFailed:\n\n```\n{traceback.format_exc()}\n```"
        print(f"   {time.perf_counter() - t0:.0f} s", flush=True)
        doc = place(doc, area, f"{section}\n\n{stamp}")
        with open(DOC, "w", encoding="utf-8") as f:  # after each area: a benchmark that dies keeps the others'
            f.write(doc)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
