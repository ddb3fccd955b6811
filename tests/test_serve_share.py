"""The service and the command line share one workspace (docs/service.md, "Sharing the workspace").

A run started by the service (a `shopseg run` child that borrows the workspace), 200 POST /events and GET
load at once: no error, every event stored once, the new run served after it; the schedule's arithmetic
with an injected clock; the journal's idempotence.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from shopseg.workspace import open_workspace

from .test_serve_synth import AS_OF, build_demo_workspace

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from shopseg.errors import ConfigError  # noqa: E402
from shopseg.serve import create_app  # noqa: E402
from shopseg.serve._gate import DISCOVERY, Lease  # noqa: E402
from shopseg.serve._journal import Journal  # noqa: E402
from shopseg.serve._runs import Schedule, Scheduler  # noqa: E402

KEYS = {"r": {"X-API-Key": "r"}, "w": {"X-API-Key": "w"}}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def poll(fn, timeout: float = 300.0, every: float = 0.2):
    """fn() until it returns something truthy (generous timeout: the machine may be loaded)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A 300-customer demo shop with one run, served by uvicorn in this process on a free port."""
    path = tmp_path_factory.mktemp("share") / "ws"
    build_demo_workspace(path, customers=300, seed=3)
    ws = open_workspace(path, create=False)
    ids = [r[0] for r in ws.sql("SELECT customer_id FROM customers ORDER BY 1")]
    ws.close()
    port = free_port()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(path, "r", "w", announce=("127.0.0.1", port))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        poll(lambda: server.started, timeout=120)
        yield path, f"http://127.0.0.1:{port}", app, ids
        server.should_exit = True
        thread.join(60)


def _event(i: int, cid: str) -> dict:
    return {"events": [{"event_id": f"share-{i}", "customer_id": cid, "session_id": f"s-{i}", "event_type": "view",
                        "occurred_at": "2024-12-31T12:00:00"}]}


def test_a_run_200_posts_and_get_load_at_once(served):
    path, base, app, ids = served
    state = app.state.shopseg
    assert (path / DISCOVERY).exists()
    with httpx.Client(base_url=base, timeout=120) as c:
        before = c.get(f"/customers/{ids[0]}", headers=KEYS["r"]).json()["run_id"]
        r = c.post("/runs", json={"as_of": AS_OF, "report": False, "stages": ["segments"]}, headers=KEYS["w"])
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        # the child holds the workspace once its first stage started (done 0 of 1)
        poll(lambda: c.get(f"/runs/{job}", headers=KEYS["r"]).json()["stage"] is not None)

        stop = threading.Event()
        gets: list[int] = []

        def get_load():
            rnd = random.Random(7)
            with httpx.Client(base_url=base, timeout=120) as g:
                while not stop.is_set():
                    gets.append(g.get(f"/customers/{rnd.choice(ids)}", headers=KEYS["r"]).status_code)
                    stop.wait(0.005)  # steady load, not a flood that starves the server of the GIL it shares

        loaders = [threading.Thread(target=get_load) for _ in range(2)]
        for t in loaders:
            t.start()

        def post(i: int):
            with httpx.Client(base_url=base, timeout=120) as p:
                res = p.post("/events", json=_event(i, ids[i % len(ids)]), headers=KEYS["w"])
                return res.status_code, res.json()

        with ThreadPoolExecutor(8) as pool:
            posted = list(pool.map(post, range(200)))
        done = poll(lambda: (j := c.get(f"/runs/{job}", headers=KEYS["r"]).json())["status"] in ("done", "failed")
                    and j)
        queued = [b["batch"] for s, b in posted if s == 202]
        for b in queued:  # every journaled batch is applied once the service holds the file again
            got = poll(lambda: (q := c.get(f"/events/queued/{b}", headers=KEYS["w"]).json())["status"] != "queued"
                       and q)
            assert got["status"] == "applied", got
        stop.set()
        for t in loaders:
            t.join()
        after = c.get(f"/customers/{ids[0]}", headers=KEYS["r"]).json()
    assert done["status"] == "done" and done["served"], done
    assert done["run_id"] == before + 1 and after["run_id"] == done["run_id"]
    assert {s for s, _ in posted} <= {200, 202} and queued, sorted({s for s, _ in posted})
    assert len(gets) > 0 and set(gets) == {200}, sorted(set(gets))
    # every event stored exactly once: borrow the file as a command would (this test process is the borrower)
    state.lend(Lease(os.getpid(), "pytest"))
    ws = open_workspace(path, create=False, read_only=True)
    try:
        counts = ws.sql("SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_id LIKE 'share-%'")[0]
        journaled = ws.scalar("SELECT count(*) FROM ingest_log WHERE source LIKE 'api:/events journal %'")
    finally:
        ws.close()
        assert state.give_back(os.getpid())
    poll(lambda: state.gate.lease is None, timeout=120)
    assert counts == (200, 200)
    assert journaled == len(queued)


def test_while_lent_sql_answers_wait_and_known_customers_answer(served):
    """A lent file: GET /segments is a 503 with Retry-After naming the borrower (a dashboard page: the same in
    HTML); a customer of the run answers."""
    path, base, app, ids = served
    state = app.state.shopseg
    state.lend(Lease(os.getpid(), "pytest"))
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            seg = c.get("/segments", headers=KEYS["r"])
            page = c.get("/dashboard/campaign")
            one = c.get(f"/customers/{ids[1]}", headers=KEYS["r"])
            dup = c.post("/events", json=_event(10_000, ids[1]), headers=KEYS["w"])
            again = c.post("/events", json=_event(10_000, ids[1]), headers=KEYS["w"])
    finally:
        assert state.give_back(os.getpid())
    poll(lambda: state.gate.lease is None, timeout=120)
    assert seg.status_code == 503 and seg.headers["retry-after"] == "5"
    assert f"pid {os.getpid()}" in seg.json()["message"] and "`shopseg pytest`" in seg.json()["message"]
    # a dashboard page says the same in HTML (not a JSON body in the browser) and reloads itself
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "5" and '<meta http-equiv="refresh" content="5">' in page.text
    assert "`shopseg pytest`" in page.text and f"pid {os.getpid()}" in page.text
    assert one.status_code == 200 and one.json()["customer_id"] == ids[1]
    # the same body twice while lent: journaled once (one batch id), applied once
    assert dup.status_code == again.status_code == 202 and dup.json()["batch"] == again.json()["batch"]
    with httpx.Client(base_url=base, timeout=60) as c:
        assert c.get(f"/events/queued/{dup.json()['batch']}", headers=KEYS["w"]).json()["status"] == "applied"
        assert c.get("/segments", headers=KEYS["r"]).status_code == 200


def test_a_batch_the_journal_applied_before_a_crash_is_not_applied_twice(tmp_path):
    j = Journal(tmp_path)
    a, new = j.add({"events": [{"event_id": "x"}]}, 1.0)
    b, new2 = j.add({"events": [{"event_id": "x"}]}, 2.0)
    assert (a, new) == (b, True) and new2 is False
    j.done(a, "applied", None, 7, 3.0)
    assert j.queued() == [] and j.status(a) == {"batch": a, "status": "applied", "message": None, "ingest_id": 7}
    c, _ = j.add({"events": [{"event_id": "x"}]}, 4.0)  # posted again after it was applied: a new batch
    assert c != a and [i for i, _ in j.queued()] == [c]
    j.close()


def test_the_schedule_daily_and_cron():
    d = Schedule("02:30")
    assert d.next_after(datetime(2026, 12, 6, 22, 0)) == datetime(2026, 12, 7, 2, 30)
    assert d.next_after(datetime(2026, 12, 7, 2, 30)) == datetime(2026, 12, 8, 2, 30)  # strictly after
    # weekdays every 6 hours: Saturday 13:00 -> Monday 00:00; Monday 00:00 -> 06:00
    c = Schedule("0 */6 * * 1-5")
    assert c.next_after(datetime(2026, 12, 5, 13, 0)) == datetime(2026, 12, 7, 0, 0)
    assert c.next_after(datetime(2026, 12, 7, 0, 0)) == datetime(2026, 12, 7, 6, 0)
    # day of month and day of week both restricted: either (cron's rule); Sunday as 7
    e = Schedule("15 4 1 * 7")
    assert e.next_after(datetime(2026, 12, 1, 5, 0)) == datetime(2026, 12, 6, 4, 15)  # Sunday 6 December
    assert e.next_after(datetime(2026, 12, 27, 5, 0)) == datetime(2027, 1, 1, 4, 15)
    assert Schedule.as_of(datetime(2026, 12, 7, 2, 30)).isoformat() == "2026-12-06"
    for bad, words in (("25:00", "HH:MM"), ("0 2 * *", "4 fields"), ("0 24 * * *", "hour field"),
                       ("0 2 30 2 *", "never due")):
        with pytest.raises(ConfigError, match=words):
            Schedule(bad).next_after(datetime(2026, 1, 1))


def test_the_scheduler_starts_the_due_run_as_of_the_day_before():
    now = [datetime(2026, 12, 6, 23, 59)]
    started = []
    s = Scheduler(Schedule("02:00"), lambda as_of, report, trigger: started.append((as_of, trigger)),
                  clock=lambda: now[0])
    assert s.tick() is None and started == []
    now[0] = datetime(2026, 12, 7, 2, 0)
    assert str(s.tick()) == "2026-12-06" and started == [("2026-12-06", "schedule")]
    assert s.tick() is None and s.due == datetime(2026, 12, 8, 2, 0)
    now[0] = datetime(2026, 12, 9, 7, 0)  # the service was down at 02:00 on the 8th and 9th: one run, not two
    assert str(s.tick()) == "2026-12-07" and s.due == datetime(2026, 12, 10, 2, 0) and len(started) == 2


def _cli(path, *args, env=None, timeout=600):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "shopseg", "-w", str(path), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_summary_sql_run_and_forget_work_while_the_service_is_up(served):
    """Each command borrows the workspace from the running service, says so, and gives it back."""
    path, base, app, ids = served
    state = app.state.shopseg
    said = "holds the workspace; it lends it to `shopseg"
    s = _cli(path, "summary")
    assert s.returncode == 0 and said + " summary`" in s.stderr and "customers" in s.stdout, s.stderr
    q = _cli(path, "--json", "sql", "SELECT count(*) AS n FROM customers")
    assert q.returncode == 0 and '"n": 300' in q.stdout, q.stdout + q.stderr
    with httpx.Client(base_url=base, timeout=60) as c:
        before = c.get(f"/customers/{ids[2]}", headers=KEYS["r"]).json()["run_id"]
        r = _cli(path, "--json", "run", "--as-of", AS_OF, "--stage", "segments", "--no-report")
        assert r.returncode == 0 and said + " run`" in r.stderr, r.stderr
        poll(lambda: state.gate.lease is None, timeout=120)
        assert c.get(f"/customers/{ids[2]}", headers=KEYS["r"]).json()["run_id"] == before + 1
        gone = ids[-1]
        f = _cli(path, "forget", gone)
        assert f.returncode == 0 and said + " forget`" in f.stderr, f.stderr
        poll(lambda: state.gate.lease is None, timeout=120)
        assert c.get(f"/customers/{gone}", headers=KEYS["r"]).status_code == 404
        assert c.get(f"/customers/{ids[2]}", headers=KEYS["r"]).status_code == 200


def test_a_command_waits_for_another_borrower_saying_so_then_gives_up_in_words(served):
    path, base, app, ids = served
    state = app.state.shopseg
    state.lend(Lease(os.getpid(), "pytest"))
    ws = open_workspace(path, create=False)  # this process borrowed the file and holds it
    try:
        q = _cli(path, "sql", "SELECT 1", env={"SHOPSEG_LEND_TIMEOUT": "1"})
    finally:
        ws.close()
        assert state.give_back(os.getpid())
    poll(lambda: state.gate.lease is None, timeout=120)
    assert q.returncode == 2 and "Traceback" not in q.stderr, q.stderr
    assert f"Waiting: The workspace is lent to `shopseg pytest` (pid {os.getpid()})" in q.stderr
    assert "did not lend the workspace" in q.stderr


def test_the_service_takes_the_file_back_when_the_borrower_dies(served):
    import subprocess
    import sys

    path, base, app, ids = served
    state = app.state.shopseg
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    state.lend(Lease(child.pid, "doomed"))
    assert state.gate.lease is not None
    child.kill()  # never gives the file back
    child.wait()
    poll(lambda: state.gate.lease is None, timeout=120)
    with httpx.Client(base_url=base, timeout=60) as c:
        assert c.get("/segments", headers=KEYS["r"]).status_code == 200
