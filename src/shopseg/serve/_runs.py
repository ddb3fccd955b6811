"""Runs started by the service: ``POST /runs``, ``shopseg serve --schedule``, ``GET /runs/{id}``; and the lending
endpoints a command uses to borrow the workspace (``/_local/lend``, ``/_local/return``).

A run is the one path, ``shopseg run``, in a child process (``python -m shopseg --json -w WS run --as-of D``):
like any command it borrows the workspace from the service (cli/_borrow.py), writes its progress to a file
the service reads for ``GET /runs/{id}`` (stage, done/total), and gives the file back when it ends. The
service then reads the new run (snapshot, live cache, online store, swapped in one assignment) and applies
the batches posted meanwhile (docs/service.md, "Sharing the workspace"). One run at a time.
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from fastapi import Body, Depends, FastAPI, Header
from pydantic import BaseModel

from ..errors import ConfigError
from . import models as M
from ._errors import ApiError
from ._gate import Lease, Lent
from ._state import _State

PROGRESS_ENV = "SHOPSEG_PROGRESS_FILE"  # `shopseg run` writes {stage, done, total} there after every stage


@dataclass
class _Job:
    id: int
    trigger: str
    as_of: str | None
    report: bool
    stages: list[str] | None = None
    status: str = "starting"
    run_id: int | None = None
    served: bool = False
    message: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))
    finished_at: str | None = None
    progress_file: str = ""
    last: dict = field(default_factory=dict)  # the progress read when the child ended (its file removed)

    def progress(self) -> dict:
        try:
            return json.loads(Path(self.progress_file).read_text())
        except (OSError, ValueError):
            return self.last

    def view(self) -> dict:
        got = self.progress()
        return {"id": self.id, "trigger": self.trigger, "as_of": self.as_of, "status": self.status,
                "stage": got.get("stage"), "done": got.get("done", 0), "total": got.get("total", 0),
                "run_id": self.run_id, "served": self.served, "started_at": self.started_at,
                "finished_at": self.finished_at, "message": self.message}


class RunJobs:
    """The service's runs: one `shopseg run` child process at a time."""

    def __init__(self, state: _State, served_timeout: float = 600.0):
        self.state = state
        self.jobs: dict[int, _Job] = {}
        self.lock = threading.Lock()
        self.served_timeout = served_timeout

    def running(self) -> _Job | None:
        return next((j for j in self.jobs.values() if j.status in ("starting", "running")), None)

    def start(self, as_of: str | None, report: bool = True, trigger: str = "api",
              stages: list[str] | None = None) -> _Job:
        """Start a run; raises :class:`ApiError` 409 while another one runs."""
        with self.lock:
            busy = self.running()
            if busy is not None:
                raise ApiError(409, "run_in_progress", f"Run {busy.id} ({busy.trigger}) is still going.",
                               hint=f"Follow it at GET /runs/{busy.id}.")
            job = _Job(id=max(self.jobs, default=0) + 1, trigger=trigger, as_of=as_of, report=report, stages=stages)
            fd, job.progress_file = tempfile.mkstemp(prefix="shopseg-run-progress-", suffix=".json")
            os.close(fd)
            self.jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"shopseg-run-{job.id}").start()
        return job

    def _run(self, job: _Job) -> None:
        state = self.state
        cmd = [sys.executable, "-m", "shopseg", "--json", "-w", str(state.ws.path), "run"]
        if job.as_of:
            cmd += ["--as-of", job.as_of]
        if not job.report:
            cmd.append("--no-report")
        for name in job.stages or ():
            cmd += ["--stage", name]
        # the child imports the same shopseg as this service (a source checkout on PYTHONPATH included)
        here = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, PROGRESS_ENV: job.progress_file,
               "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
        try:
            job.status = "running"
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            job.last = job.progress()
            Path(job.progress_file).unlink(missing_ok=True)
            doc = _last_json(proc.stdout)
            run = doc.get("run") or {}
            job.run_id = run.get("run_id")
            ok = proc.returncode == 0 and run.get("status") in (None, "done")
            if not ok:
                job.message = _last_lines(proc.stderr) or f"`shopseg run` ended with exit code {proc.returncode}."
            # the child gave the file back (or ended); wait until the service holds it again and serves the run
            with state.gate.cond:
                state.gate.cond.wait_for(lambda: state.gate.lease is None, timeout=self.served_timeout)
            cached = state._runs_cache
            job.served = job.run_id is not None and cached is not None and cached[1].get("run_id") == job.run_id
            job.status = "done" if ok else "failed"
        except Exception as e:  # noqa: BLE001 - a job that could not start says why at GET /runs/{id}
            job.status = "failed"
            job.message = f"{type(e).__name__}: {e}"
        finally:
            job.finished_at = datetime.now().isoformat(timespec="seconds")


def _last_json(text: str) -> dict:
    """The JSON document `shopseg --json` printed (the last line that parses), or {}."""
    for line in reversed(text.strip().splitlines()):
        try:
            got = json.loads(line)
        except ValueError:
            continue
        if isinstance(got, dict):
            return got
    try:
        got = json.loads(text)
        return got if isinstance(got, dict) else {}
    except ValueError:
        return {}


def _last_lines(text: str, n: int = 3) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[-n:])


# -- the schedule ------------------------------------------------------------------------------------------
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


class Schedule:
    """When scheduled runs start: a daily ``HH:MM`` or a 5-field cron expression (local time of the service).

    The cron subset: each field ``*``, ``N``, ``A-B``, ``*/S`` or ``A-B/S``, or a comma list of those; day of
    week 0-7 (0 and 7 are Sunday). As in cron, when both day of month and day of week are restricted, a day
    matching either is due. A scheduled run's as_of is the day before the moment it starts (the last whole
    day), e.g. ``02:00`` on 2026-12-07 runs as of 2026-12-06.

    >>> s = Schedule("02:30"); s.next_after(datetime(2026, 12, 6, 22, 0))
    datetime.datetime(2026, 12, 7, 2, 30)
    >>> Schedule("0 */6 * * 1-5").next_after(datetime(2026, 12, 5, 13, 0))  # a Saturday: Monday 00:00
    datetime.datetime(2026, 12, 7, 0, 0)
    """

    def __init__(self, text: str):
        self.text = text.strip()
        parts = self.text.split()
        if len(parts) == 1 and ":" in parts[0]:
            hh, _, mm = parts[0].partition(":")
            if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
                raise ConfigError(f"--schedule: expected a daily time HH:MM (00:00-23:59) or a cron expression of "
                                  f"5 fields. Got {text!r} instead.")
            parts = [str(int(mm)), str(int(hh)), "*", "*", "*"]
        if len(parts) != 5:
            raise ConfigError(f"--schedule: expected a daily time HH:MM or a cron expression of 5 fields (minute "
                              f"hour day-of-month month day-of-week). Got {text!r} ({len(parts)} fields) instead.")
        self.sets = [_field(p, *f) for p, f in zip(parts, _FIELDS)]
        if 7 in self.sets[4]:
            self.sets[4] = (self.sets[4] - {7}) | {0}
        self.dom_star, self.dow_star = parts[2] == "*", parts[4] == "*"

    def _day_due(self, d: date) -> bool:
        if d.month not in self.sets[3]:
            return False
        dom, dow = d.day in self.sets[2], (d.isoweekday() % 7) in self.sets[4]
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_after(self, t: datetime) -> datetime:
        """The first due minute strictly after ``t``."""
        start = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        d = start.date()
        for _ in range(366 * 8):  # every date pattern recurs within 8 years (29 February)
            if self._day_due(d):
                for h in sorted(self.sets[1]):
                    for m in sorted(self.sets[0]):
                        due = datetime(d.year, d.month, d.day, h, m)
                        if due >= start:
                            return due
            d += timedelta(days=1)
        raise ConfigError(f"--schedule {self.text!r} is never due (e.g. 31 February).")

    @staticmethod
    def as_of(due: datetime) -> date:
        return due.date() - timedelta(days=1)


def _field(text: str, name: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step = part.partition("/")
        try:
            s = int(step) if step else 1
            if rng == "*":
                a, b = lo, hi
            elif "-" in rng:
                a, b = (int(x) for x in rng.split("-", 1))
            else:
                a = b = int(rng)
                if step:
                    b = hi
        except ValueError:
            a, b, s = lo - 1, hi, 1
        if not (lo <= a <= b <= hi) or s < 1:
            raise ConfigError(f"--schedule: the {name} field takes numbers {lo}-{hi} as N, A-B, */S or lists of "
                              f"them. Got {part!r} instead.")
        out.update(range(a, b + 1, s))
    return out


class Scheduler:
    """Starts a run at every due moment of ``schedule``; ``clock`` is injected (tests drive :meth:`tick`)."""

    def __init__(self, schedule: Schedule, start, clock=datetime.now):
        self.schedule, self.start, self.clock = schedule, start, clock
        self.due = schedule.next_after(clock())
        self.stop = threading.Event()
        self.skipped: list[str] = []

    def tick(self) -> date | None:
        """Start the run that is due (its as_of), or None; the next due moment is after the clock's now."""
        now = self.clock()
        if now < self.due:
            return None
        as_of = Schedule.as_of(self.due)
        self.due = self.schedule.next_after(now)
        try:
            self.start(as_of.isoformat(), True, "schedule")
        except ApiError as e:  # a run still going: this one is skipped, said in the log
            self.skipped.append(f"{as_of}: {e.message}")
            print(f"shopseg serve: the scheduled run as of {as_of} was skipped: {e.message}", flush=True)
        return as_of

    def loop(self) -> None:
        while not self.stop.is_set():
            self.tick()
            wait = (self.due - self.clock()).total_seconds()
            self.stop.wait(min(max(wait, 0.5), 60.0))


# -- routes ------------------------------------------------------------------------------------------------
class RunRequest(BaseModel):
    as_of: date | None = None
    report: bool = True
    stages: list[str] | None = None  # `shopseg run --stage` (all stages when absent)


class LendRequest(BaseModel):
    pid: int
    command: str = "shopseg"


def run_routes(app: FastAPI, state: _State, jobs: RunJobs, need_read, need_write) -> None:
    @app.post("/runs", response_model=M.RunJob, status_code=202, tags=["runs"],
              responses={409: {"model": M.ErrorBody}})
    def post_run(body: RunRequest = Body(default_factory=RunRequest), level: str = Depends(need_write)):
        """Start `shopseg run` in the background (as_of: default the last sale order's day); one run at a time."""
        from ..pipeline import STAGES

        unknown = sorted(set(body.stages or ()) - {s.name for s in STAGES})
        if unknown:
            raise ApiError(422, "validation", f"stages: unknown {unknown}; expected any of "
                           f"{[s.name for s in STAGES]}.")
        return jobs.start(None if body.as_of is None else body.as_of.isoformat(), body.report,
                          stages=body.stages).view()

    @app.get("/runs/{job_id}", response_model=M.RunJob, tags=["runs"], responses={404: {"model": M.ErrorBody}})
    def get_run(job_id: int, level: str = Depends(need_read)):
        """A run started by the service: status, stage, done/total, the run id, served (the service answers from it)."""
        job = jobs.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"No run job {job_id}; jobs: {sorted(jobs.jobs) or 'none yet'}.")
        return job.view()

    def local(token: str | None) -> None:
        if token is None or not hmac.compare_digest(token.encode(), state.local_token.encode()):
            raise ApiError(403, "forbidden", "Local calls need the token of the service's discovery file.")

    @app.post("/_local/lend", include_in_schema=False)
    def lend(body: LendRequest, x_shopseg_local: str | None = Header(None)):
        local(x_shopseg_local)
        try:
            state.lend(Lease(body.pid, body.command.removeprefix("shopseg ")))
        except Lent as e:
            raise ApiError(409, "lent", f"{e}", hint="It is lent again once that command ends.") from None
        except TimeoutError as e:
            raise ApiError(503, "busy", str(e), hint="Try again.") from None
        return {"lent": True}

    @app.post("/_local/return", include_in_schema=False)
    def give_back(body: LendRequest, x_shopseg_local: str | None = Header(None)):
        local(x_shopseg_local)
        return {"returned": state.give_back(body.pid)}
