"""Hardening: an ingest or a run killed with SIGKILL loses nothing that was committed and half-writes nothing:
the workspace opens, canonical tables hold exactly the state before the ingest or after it, and a killed run is
never taken for a finished one.

The kills that the assertions depend on land at chosen moments (the workspace's ``pause_point`` seam: just before
and just after a commit), so a loaded machine cannot move them; kills after random delays come on top and are
only held to "all or nothing"."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings

import pytest

from shopseg import ingest, schema
from shopseg.pipeline import run_pipeline
from shopseg.synth import synthesize
from shopseg.workspace import PAUSE_ENV, Workspace, open_workspace

N_ROWS = 20_000  # orders in the file being ingested when the kill comes (about a second to load here)
N_CUSTOMERS = 2_000
# kills after random delays per test, on top of the chosen ones; SHOPSEG_FUZZ_SCALE multiplies
RANDOM_KILLS = {"ingest": 2 * int(os.environ.get("SHOPSEG_FUZZ_SCALE", "1")),
                "run": 1 * int(os.environ.get("SHOPSEG_FUZZ_SCALE", "1"))}

INGEST_CHILD = """
import sys
from shopseg import ingest
from shopseg.workspace import open_workspace
ws = open_workspace(sys.argv[1])
print("start", flush=True)
r = ingest(ws, sys.argv[2])
ws.close()
print("done", r.n_accepted, flush=True)
"""
RUN_CHILD = """
import sys, warnings
warnings.simplefilter("ignore")
from shopseg.pipeline import run_pipeline
from shopseg.workspace import open_workspace
ws = open_workspace(sys.argv[1])
print("start", flush=True)
r = run_pipeline(ws, stages=["clv", "segments", "baskets", "recommend"])
ws.close()
print("done", r.run_id, r.status, flush=True)
"""


def kill_after(code: str, args: list[str], delay: float = 0.0, at: str | None = None) -> tuple[bool, bool]:
    """Start ``code`` in a child python and SIGKILL it: when it reaches pause point ``at``
    (:func:`shopseg.workspace.pause_point`), else ``delay`` s after it says "start". Returns (started, finished);
    with ``at``, started means the child was paused there."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop(PAUSE_ENV, None)
    if at:
        env[PAUSE_ENV] = at
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env=env)
    started = p.stdout.readline().startswith("start")
    if at:
        started = False
        for line in p.stdout:  # blocks until the child is paused (or ends without reaching the point)
            if line.startswith(f"paused {at}"):
                started = True
                break
    else:
        time.sleep(delay)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    out = p.communicate()[0]
    return started, "done" in out


def canonical(ws) -> dict:
    return {t: ws.count(t) for t in (*schema.LOAD_ORDER, "quarantine", "ingest_log")}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    with open_workspace(d / "base") as ws:
        (d / "orders.csv").write_text("order_id,customer_id,ordered_at\n" +
                                     "".join(f"a{i},c{i % 50},2024-01-{1 + i % 28:02d}\n" for i in range(500)))
        ingest(ws, d / "orders.csv")  # committed before any kill: must survive every one
    lines = ["order_id,customer_id,ordered_at,discount_amount"]
    lines += [f"b{i},k{i % N_CUSTOMERS},2024-02-{1 + i % 28:02d} 10:{i % 60:02d}:00,{i % 7}" for i in range(N_ROWS)]
    (d / "more").mkdir()
    (d / "more/orders.csv").write_text("\n".join(lines) + "\n")
    return d


def test_an_ingest_killed_at_any_moment_commits_all_of_it_or_none(base, tmp_path):
    rng = random.Random(7)
    with Workspace.open(base / "base", create=False) as ws:
        before = canonical(ws)
    after = {**before, "orders": before["orders"] + N_ROWS, "customers": before["customers"] + N_CUSTOMERS,
             "ingest_log": before["ingest_log"] + 1}
    # (pause point, delay, the state the kill must leave): just before the commit nothing is in, just after it
    # everything is; after a random delay either, never a part
    kills = [("before_commit", 0.0, before), ("after_commit", 0.0, after),
             *((None, rng.uniform(0.0, 1.0), None) for _ in range(RANDOM_KILLS["ingest"]))]
    outcomes = []
    for k, (at, delay, expected) in enumerate(kills):
        ws_path = tmp_path / f"ws{k}"
        shutil.copytree(base / "base", ws_path)
        started, finished = kill_after(INGEST_CHILD, [str(ws_path), str(base / "more/orders.csv")], delay, at)
        with Workspace.open(ws_path, create=False) as ws:  # opens: the WAL is replayed or dropped
            got = canonical(ws)
            assert got in (before, after), got
            if at:
                assert started and not finished, (at, started, finished)
                assert got == expected, (at, got)
            if finished:
                assert got == after
            if got == after:  # committed: the whole file, logged once, reconciled
                assert ws.scalar("SELECT n_accepted FROM ingest_log ORDER BY ingest_id DESC LIMIT 1") == N_ROWS
            assert ws.scalar("SELECT count(*) FROM orders WHERE order_id LIKE 'a%'") == 500  # committed earlier
            if k in (0, len(kills) - 1):  # the workspace still takes the file: an ingest after the crash completes it
                r = ingest(ws, base / "more/orders.csv")
                assert r.reconciled and r.n_accepted == (0 if got == after else N_ROWS)
                # a load of the same bytes again is logged too (as "already ingested"), and adds no row
                assert canonical(ws) == {**after, "ingest_log": after["ingest_log"] + (got == after)}
        outcomes.append((at, started, finished, got == after))
    print("ingest kills (point, started, finished, committed):", outcomes)


def test_a_run_killed_midway_is_never_taken_for_a_finished_one(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        synthesize(ws, customers=300, seed=3, history_days=365)
        before = canonical(ws)
    rng = random.Random(11)
    # inside the first stage's transaction, inside the third's, and after the last stage committed but before the
    # run records itself done; then random delays
    kills = [("before_commit:1", 0.0), ("before_commit:3", 0.0), ("after_commit:4", 0.0),
             *((None, rng.uniform(0.3, 2.0)) for _ in range(RANDOM_KILLS["run"]))]
    for at, delay in kills:
        with Workspace.open(tmp_path / "ws", create=False) as ws:
            n_runs = len(ws.sql("SELECT run_id FROM runs"))
        started, finished = kill_after(RUN_CHILD, [str(tmp_path / "ws")], delay, at)
        with Workspace.open(tmp_path / "ws", create=False) as ws:
            assert canonical(ws) == before  # a run never touches the canonical tables
            runs = ws.sql("SELECT run_id, status FROM runs ORDER BY run_id")
            if at:
                assert started and not finished, (at, started, finished)
                assert len(runs) == n_runs + 1 and runs[-1][1] == "running", runs  # recorded, and not done
            if not finished:
                # the killed run, if it got as far as recording itself, is not done
                assert len(runs) == n_runs or runs[-1][1] != "done", runs
    with open_workspace(tmp_path / "ws") as ws:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_pipeline(ws, stages=["baskets"])
        assert res.status == "done"
        assert ws.latest_run_id() == res.run_id
        statuses = dict(ws.sql("SELECT run_id, status FROM runs"))
        # every earlier run is now done (finished before its kill) or failed (killed): none left 'running'
        assert set(statuses.values()) <= {"done", "failed"}
        assert list(statuses.values()).count("failed") >= 3
        # a killed run's outputs were discarded: only finished runs have rows
        done = {r for r, s in statuses.items() if s == "done"}
        for table in ("clv", "segments", "recommendations"):
            if ws.has_table(table):
                assert {r for (r,) in ws.sql(f"SELECT DISTINCT run_id FROM {table}")} <= done, table
        assert canonical(ws) == before
