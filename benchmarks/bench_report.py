"""The HTML report on Online Retail: its size and how fast it opens in Chromium (issue #21 item 6: <= 2 MB, <= 2 s).

Usage: python benchmarks/bench_report.py --workspace WS [--report FILE ...] [--repeat 5]

``--workspace`` is a workspace that has run (a copy of the Online Retail one after ``shopseg run``); the report
of its latest run is built here (timed) unless ``--report`` names existing files to measure (e.g. one built by an
older checkout, as the baseline). Each file is opened ``--repeat`` times in a fresh headless Chromium page
(Debian's chromium through Playwright, the flags of tests/conftest.py); the figures are the medians of:

- ``fcp_ms``: first contentful paint (the browser's paint timing),
- ``load_ms``: the load event (navigation timing's loadEventEnd),
- ``first_chart_ms``: the first chart drawn (a ``.main-svg`` in the page),
- ``all_charts_ms``: every chart drawn (as many ``.plot-container`` as chart placeholders, or as
  ``<div class="plotly-graph-div"`` in a page that draws them all at once).

As ``main(quick)`` (benchmarks/run.py) it builds a synthetic shop instead when no workspace is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _util import machine  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

_CHARTS_JS = """() => {
  const want = document.querySelectorAll('[data-chart], .plotly-graph-div').length;
  const drawn = document.querySelectorAll('.plot-container .main-svg').length ? document.querySelectorAll('.plot-container').length : 0;
  return [want, drawn];
}"""


def open_times(path: str, repeat: int = 5) -> dict:
    """Median open figures of ``path`` over ``repeat`` fresh pages (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium not found: `apt-get install -y chromium` (see ../shared/ENVIRONMENT.md)")
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto("file://" + os.path.abspath(path), wait_until="load", timeout=120_000)
            first = None
            while True:
                want, drawn = page.evaluate(_CHARTS_JS)
                now = (time.perf_counter() - t0) * 1000
                if first is None and drawn:
                    first = now
                if drawn >= want or now > 120_000:
                    break
                time.sleep(0.01)
            timing = page.evaluate("""() => {
              const n = performance.getEntriesByType('navigation')[0];
              const f = performance.getEntriesByName('first-contentful-paint')[0];
              return [n.loadEventEnd, f ? f.startTime : null];
            }""")
            slowest = page.evaluate("""() => Array.from(document.querySelectorAll('[data-draw-ms]'))
                .map(e => [e.closest('section').id, +e.dataset.drawMs]).sort((a, b) => b[1] - a[1])[0] || null""")
            runs.append({"load_ms": timing[0], "fcp_ms": timing[1], "first_chart_ms": first, "all_charts_ms": now,
                         "charts": drawn, "errors": len(errors), "slowest": slowest})
            page.close()
        browser.close()
    med = {k: round(statistics.median(r[k] for r in runs if r[k] is not None))
           for k in ("load_ms", "fcp_ms", "first_chart_ms", "all_charts_ms") if any(r[k] is not None for r in runs)}
    med.update(charts=runs[-1]["charts"], errors=max(r["errors"] for r in runs), repeat=repeat,
               size_mb=round(os.path.getsize(path) / 1e6, 2), slowest=runs[-1]["slowest"],
               load_average=round(os.getloadavg()[0], 1))
    return med


def build(workspace: str) -> tuple[str, float]:
    from shopseg.report import build_report
    from shopseg.workspace import open_workspace

    ws = open_workspace(workspace)
    try:
        t0 = time.perf_counter()
        out = build_report(ws, path=os.path.join("/tmp", f"bench-report-{os.getpid()}.html"))
        return str(out), time.perf_counter() - t0
    finally:
        ws.close()


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| report | size (MB) | first contentful paint (ms) | load event (ms) | first chart (ms) | "
             "every chart drawn (ms) | slowest chart (ms) | charts | page errors | load average |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        slow = f"{r['slowest'][0]} {r['slowest'][1]}" if r.get("slowest") else "n/a"
        lines.append(f"| {name} | {r['size_mb']} | {r.get('fcp_ms', '')} | {r.get('load_ms', '')} | "
                     f"{r.get('first_chart_ms', '')} | {r.get('all_charts_ms', '')} | {slow} | {r['charts']} | "
                     f"{r['errors']} | {r['load_average']} |")
    return "\n".join(lines)


def main(quick: bool = False) -> str:
    """For benchmarks/run.py: a synthetic shop (the Online Retail figures need its workspace, see the usage)."""
    import tempfile

    from shopseg.pipeline import run_pipeline
    from shopseg.synth import synthesize
    from shopseg.workspace import open_workspace

    d = tempfile.mkdtemp(prefix="bench-report-")
    ws = open_workspace(os.path.join(d, "ws"))
    synthesize(ws, customers=2000 if quick else 20000, seed=1, as_of="2024-12-31")
    run_pipeline(ws, "2024-12-31", seed=1)
    ws.close()
    path, secs = build(os.path.join(d, "ws"))
    r = open_times(path, repeat=3)
    return (f"### report\n\nSynthetic shop ({2000 if quick else 20000:,} customers), report built in {secs:.1f} s; "
            f"opened in headless Chromium (median of 3):\n\n" + table([("this build", r)]))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace")
    ap.add_argument("--report", nargs="*", default=[])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    rows = []
    for f in a.report:
        rows.append((os.path.basename(f), open_times(f, a.repeat)))
    if a.workspace:
        path, secs = build(a.workspace)
        print(f"built {path} in {secs:.1f} s", flush=True)
        rows.append(("this build", open_times(path, a.repeat)))
    print(machine())
    print(table(rows))
