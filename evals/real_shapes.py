"""Every surface on real shops of unusual shapes: no crash, a reason for every skipped stage (issue #16, item 6).

For each shop, a fresh workspace: ingest, ``shopseg run`` (as a user would, through the CLI), then
``report``, ``customer`` for five random customers, ``segments`` for every scheme, ``plan``, ``export`` of the
first campaign, and the service's main GETs (API and dashboard, logged in). Prints one line per shop: the run's
exit code, the notes it printed (warnings in words), stages skipped, surfaces that failed, and the reviews
stage's sentiment line (Olist: the Portuguese shop-trained model's held-out accuracy).

Shops (data from ../shared/data; missing ones are skipped with a message):

* ``olist``           the Olist folder, preset olist (Portuguese reviews, under 1% repeat buyers)
* ``olist-excel``     the same folder with the order and review dates as Excel's US export writes them
                      (``7/24/2018 20:41``), to check the month-first dates are read
* ``online-retail``   UCI Online Retail, as of 2011-09-09 and then 2011-12-09 (two runs)
* ``cdnow``           CDNOW_master.txt, preset cdnow (raw purchases: no products file, events or reviews)
* ``synth-50``, ``synth-200``  ``shopseg synth --customers N``

    python evals/real_shapes.py [DATA_DIR] [--only olist,cdnow]    # DATA_DIR defaults to ../shared/data

Measured (2 shared cores): every shop's run exits 0 and every surface completes; the only note printed is
Olist's RFM frequency ties (one of 55 RuntimeWarnings + 55 ConvergenceWarnings before); stages skipped: drift
on a first run, reviews where there are none, churn on synth-50 (38 labelled customers, with the reason);
Olist (and its Excel-dated copy, every order loaded): "pt: shop-trained model, 100% of 4,209 reviews scored,
held-out accuracy 0.918 on 777 rated reviews".
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from typer.testing import CliRunner

from shopseg.cli import app
from shopseg.workspace import open_workspace


def cli(ws: Path, *args: str):
    res = CliRunner().invoke(app, ["-w", str(ws), *args])
    crashed = "Traceback" in (res.output or "") or (res.exception is not None and not isinstance(res.exception,
                                                                                                SystemExit))
    return res, crashed


def _login(client) -> None:
    """Log the test client into the dashboard with the read key (the login form posts it)."""
    r = client.post("/dashboard/login", content="key=r", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (200, 303), r.status_code


def surfaces(ws: Path) -> list[str]:
    """The surfaces that failed (non-zero exit other than a clean 'nothing planned', traceback, 5xx)."""
    failed = []
    res, crashed = cli(ws, "report")
    if res.exit_code or crashed:
        failed.append("report")
    with open_workspace(ws, create=False, read_only=True) as w:
        ids = [c for (c,) in w.sql("SELECT customer_id FROM customers ORDER BY customer_id")]
        schemes = [s for (s,) in w.sql("SELECT DISTINCT scheme FROM segments ORDER BY 1")]
        campaigns = [c for (c,) in w.sql("SELECT DISTINCT campaign FROM actions WHERE run_id = "
                                         "(SELECT max(run_id) FROM actions) ORDER BY 1")] \
            if w.has_table("actions") else []
        report = sorted(w.reports_dir.glob("report-run*.html"))[-1].read_text(encoding="utf-8")
    if "This section could not be drawn" in report:
        failed.append("report section")
    for c in random.Random(0).sample(ids, min(5, len(ids))):
        res, crashed = cli(ws, "customer", c)
        if res.exit_code or crashed:
            failed.append(f"customer {c}")
    for s in schemes:
        res, crashed = cli(ws, "segments", "--scheme", s)
        if res.exit_code or crashed:
            failed.append(f"segments {s}")
    res, crashed = cli(ws, "plan")
    if res.exit_code not in (0, 2) or crashed:
        failed.append("plan")
    if campaigns:
        res, crashed = cli(ws, "export", campaigns[0])
        if res.exit_code or crashed:
            failed.append("export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient warns about plain httpx
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        client = TestClient(create_app(ws, "r", "w"))
        api = ["/health", "/segments", "/changes", "/churn/threshold-curve", "/campaign"] + \
            [f"/customers/{c}" for c in (ids[0], ids[-1])]
        for path in api:
            if client.get(path, headers={"X-API-Key": "r"}).status_code >= 500:
                failed.append(path)
        _login(client)
        for path in ["/dashboard", "/dashboard/campaign", "/dashboard/churn"] + \
                [f"/dashboard/customer?id={c}" for c in (ids[0], ids[-1])]:
            try:
                r = client.get(path)
                ok = r.status_code == 200 and "/dashboard/login" not in str(r.url)
            except Exception:  # noqa: BLE001  (the page crashed: that is the finding)
                ok = False
            if not ok:
                failed.append(path)
    return failed


def excel_copy(src: Path, dst: Path) -> Path:
    """``src`` (an Olist folder) with its order and review dates in Excel's US format (m/d/Y H:M)."""
    shutil.copytree(src, dst)
    iso = re.compile(r"\b(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):\d{2}\b")
    for name in ("olist_orders_dataset.csv", "olist_order_reviews_dataset.csv"):
        p = dst / name
        p.write_text(iso.sub(lambda m: f"{int(m[2])}/{int(m[3])}/{m[1]} {m[4]}:{m[5]}",
                             p.read_text(encoding="utf-8")), encoding="utf-8")
    return dst


def shops(data: Path) -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    """name -> (setup commands, run commands)."""
    out = {}
    if (data / "olist").is_dir():
        out["olist"] = ([["ingest", str(data / "olist"), "--preset", "olist"]], [["run"]])
        out["olist-excel"] = ([["ingest", "EXCEL", "--preset", "olist"]], [["run"]])
    if (data / "online_retail" / "online_retail.parquet").is_file():
        out["online-retail"] = ([["ingest", str(data / "online_retail" / "online_retail.parquet"), "--preset",
                                  "online-retail"]], [["run", "--as-of", "2011-09-09"], ["run", "--as-of", "2011-12-09"]])
    if (data / "cdnow" / "CDNOW_master.txt").is_file():
        out["cdnow"] = ([["ingest", str(data / "cdnow" / "CDNOW_master.txt"), "--preset", "cdnow"]], [["run"]])
    for n in (50, 200):
        out[f"synth-{n}"] = ([["synth", "--customers", str(n)]], [["run"]])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", default="../shared/data")
    ap.add_argument("--only", default="", help="comma-separated shop names")
    ap.add_argument("--surfaces", default="", help=argparse.SUPPRESS)  # one workspace's surfaces, as JSON
    args = ap.parse_args()
    if args.surfaces:  # in a process of its own: the service keeps its connection to the workspace open
        print(json.dumps(surfaces(Path(args.surfaces))))
        return 0
    data = Path(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="shopseg-real-shapes-"))
    todo = shops(data)
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only.split(",")}
    if not todo:
        print(f"No data found under {data}; nothing to do.")
        return 0
    bad = 0
    for name, (setup, runs) in todo.items():
        ws = tmp / name
        t0 = time.perf_counter()
        for cmd in setup:
            if cmd[1] == "EXCEL":
                cmd = [cmd[0], str(excel_copy(data / "olist", tmp / "olist-excel-files")), *cmd[2:]]
            res, crashed = cli(ws, *cmd)
            if res.exit_code or crashed:
                print(f"{name}: setup `{' '.join(cmd)}` failed:\n{res.output[-800:]}")
                bad += 1
                break
        else:
            for cmd in runs:
                res, crashed = cli(ws, *cmd)
                notes = [ln for ln in res.output.splitlines() if ln.startswith("Note:")]
                with open_workspace(ws, create=False, read_only=True) as w:
                    stages = json.loads(w.scalar("SELECT stages FROM runs ORDER BY run_id DESC LIMIT 1") or "{}")
                skipped = [f"{k} ({v.get('note', '')[9:70]})" for k, v in stages.items() if v["status"] != "done"]
                sentiment = (stages.get("reviews") or {}).get("sentiment", "")
                fails = ["run"] if res.exit_code or crashed else json.loads(subprocess.run(
                    [sys.executable, __file__, "--surfaces", str(ws)], capture_output=True, text=True,
                    check=True).stdout.strip().splitlines()[-1])
                bad += bool(fails)
                print(f"{name} `shopseg {' '.join(cmd)}`: exit {res.exit_code}{' TRACEBACK' if crashed else ''}, "
                      f"{len(notes)} note(s) printed, surfaces failed: {fails or 'none'}"
                      f"{', reviews: ' + sentiment if sentiment else ''}")
                print(f"    skipped: {'; '.join(skipped) or 'none'}")
                for n in notes:
                    print(f"    {n[:160]}")
        print(f"    ({time.perf_counter() - t0:.0f} s)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
