"""One run: every stage for one ``as_of`` date and one config, with progress and timings.

A run is recorded in ``runs`` (as_of, seed, config and its hash, version, per-stage
timings and notes, status).  Each stage is a :class:`shopseg.runner.Stage` (the
contract: ``name``, ``after``, ``run(ctx) -> dict`` of notes, optionally ``state``
and ``score``); a stage whose input tables are empty is skipped with a note, not a
crash.  Stages are registered in :data:`STAGES`; capabilities add theirs by
:func:`register`, and :func:`shopseg.runner.run_stages` orders them from ``after``.
Another engine (Spark) runs through the same function: it supplies executors for some
stages (:class:`shopseg.runner.Engine`), not a stage list of its own.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .config import Config, load_config
from .errors import ConfigError, ShopsegError
from .runner import Engine, Runs, Stage, bind, run_stages
from .workspace import Workspace, run_of_file


@dataclass
class RunContext:
    """What a stage gets: the workspace, the run's id, date, config and seed, and earlier stages' notes."""

    ws: Workspace
    run_id: int
    as_of: datetime
    config: Config
    seed: int
    previous_run_id: int | None
    notes: dict[str, dict] = field(default_factory=dict)
    refit: bool = False  # refit every learned model, whatever the drift (docs/drift.md)
    runs: Runs | None = None  # the run of each input table (``ctx.runs.of("clv")``); made from the rest when None
    frames: dict = field(default_factory=dict)  # what a stage hands the later ones in memory (the run's features)

    def __post_init__(self):
        if self.runs is None:
            self.runs = Runs(self.ws, self.run_id, self.as_of, self.config)


@dataclass
class RunResult:
    run_id: int
    as_of: datetime
    stages: dict[str, dict]
    status: str
    note: str | None = None  # on the date: later non-sale orders left out (:func:`as_of_note`), or a given date
    # before the first sale or long after the last (:func:`given_as_of_note`)

    def describe(self) -> str:
        lines = [f"Run {self.run_id} as of {self.as_of:%Y-%m-%d}: {self.status}"]
        if self.note:
            lines.append(f"  ({self.note})")
        for name, s in self.stages.items():
            note = s.get("note") or ", ".join(f"{k}={v}" for k, v in s.items()
                                              if k not in ("seconds", "status") and not isinstance(v, (dict, list)))
            lines.append(f"  {name:<12} {s['status']:<8} {s.get('seconds', 0):7.2f} s  {note}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The run in a notebook: one row per stage (status, seconds, note)."""
        from ._html import html_table

        rows = [(name, s.get("status"), s.get("seconds"), s.get("note") or ", ".join(
            f"{k}={v}" for k, v in s.items() if k not in ("seconds", "status", "note")
            and not isinstance(v, (dict, list)))) for name, s in self.stages.items()]
        return html_table(["stage", "status", "seconds", "note"], rows,
                          caption=f"Run {self.run_id} as of {self.as_of:%Y-%m-%d}: {self.status}")


STAGES: list[Stage] = []


def register(stage: Stage) -> Stage:
    """Add ``stage`` to the pipeline (once, by name)."""
    for i, s in enumerate(STAGES):
        if s.name == stage.name:
            STAGES[i] = stage
            return stage
    STAGES.append(stage)
    return stage


def registered_stages() -> list[Stage]:
    """Every registered stage (the capabilities' own, from :mod:`shopseg.stages`, plus any added since)."""
    from . import stages as _stages  # noqa: F401  (registers the capabilities' stages)

    return STAGES


def parse_as_of(value: str | date | datetime) -> datetime:
    """``2024-12-31`` (the whole day: up to 23:59:59.999999) or a full timestamp."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, 23, 59, 59, 999999)
    try:
        if len(value.strip()) == 10:
            d = date.fromisoformat(value.strip())
            return datetime(d.year, d.month, d.day, 23, 59, 59, 999999)
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"as_of must be a date like 2024-12-31 or a timestamp. Got {value!r} instead.") from None


def default_as_of(ws: Workspace) -> datetime:
    """The end of the day of the latest sale order: the data's own date, never the wall clock.

    Every prediction reads sale orders only, so a later return or adjustment (Olist's export ends with 44 days of
    cancelled orders after its last sale) would leave the last days of every validation window without sales and
    bias churn upwards; :func:`as_of_note` says when such rows are left out.  A workspace with orders but no sale
    falls back to the latest order of any kind.
    """
    last = ws.scalar("SELECT coalesce(max(ordered_at) FILTER (WHERE kind = 'sale'), max(ordered_at)) FROM orders")
    if last is None:
        raise ShopsegError("The workspace holds no orders, so there is no date to run as of.",
                           hint="Ingest orders first, or give --as-of.")
    return parse_as_of(last.date())


def as_of_note(ws: Workspace, when: datetime) -> str | None:
    """A sentence when orders of other kinds are dated after the default ``when`` (the last sale's day), else None.

    The run reads none of them; the note names how many, their kinds and the last date, so a user who wants them
    in can give ``--as-of``.
    """
    rows = ws.con.execute("SELECT kind, count(*), max(ordered_at) FROM orders WHERE ordered_at > ? GROUP BY kind "
                          "ORDER BY kind", [when]).fetchall()
    if not rows:
        return None
    n = sum(int(r[1]) for r in rows)
    kinds = ", ".join(f"{int(r[1]):,} {r[0]}" for r in rows)
    last = max(r[2] for r in rows)
    return (f"as of the last sale order's day; {n:,} later order(s) ({kinds}; the last on {last:%Y-%m-%d}) "
            "are not read (give --as-of to move the date)")


def given_as_of_note(ws: Workspace, when: datetime, quiet_days: int = 90) -> str | None:
    """A sentence when a given as_of is before the shop's first sale order, or more than ``quiet_days`` after its
    last one (the run then describes a dormant shop: nobody bought in the windows its models learn from), else
    None.  An Online Retail slice run as of 2013-06-30, 569 days after its last sale, said nothing of it."""
    first, last = ws.con.execute("SELECT min(ordered_at), max(ordered_at) FROM orders WHERE kind = 'sale' "
                                 "AND customer_id IS NOT NULL").fetchone()
    if first is None:
        return None
    if when < first:
        return f"as_of is before the first sale order ({first:%Y-%m-%d}): nobody has bought yet"
    gap = (when.date() - last.date()).days
    if gap > quiet_days:
        return (f"as_of is {gap:,} days after the last sale order ({last:%Y-%m-%d}): every customer has been silent "
                "at least that long")
    return None


def discard_outputs(ws: Workspace, run_ids: Sequence[int]) -> int:
    """Delete what unfinished runs wrote: their rows in every output table and their model files.

    A stage commits its own writes, so a run that raised or was killed half-way leaves some outputs
    behind.  Readers take "the newest run of a table" (``shopseg export``, ``shopseg customer``, the
    next run's stages), and must never get a half-run's rows: the run keeps only its ``runs`` row,
    marked failed, with the stages it got through.  Returns the number of rows deleted.
    """
    from . import models
    from .schema import OUTPUT_TABLES

    ids = [int(r) for r in run_ids]
    if not ids:
        return 0
    # files first: removing them needs no space, and on a full disk it is what frees some for the deletes below
    models.discard(ws, ids)  # run-3-* (and an older shopseg's churn_run3.*, review_sentiment_run3.pkl)
    for path in Path(ws.reports_dir).glob("*") if Path(ws.reports_dir).exists() else []:
        if run_of_file(path.name) in ids:  # report-run3.html, ...
            path.unlink(missing_ok=True)
    marks = ", ".join("?" * len(ids))
    deleted = 0
    for table, *_ in OUTPUT_TABLES:
        if ws.has_table(table):
            deleted += ws.scalar(f'SELECT count(*) FROM "{table}" WHERE run_id IN ({marks})', ids) or 0
            ws.con.execute(f'DELETE FROM "{table}" WHERE run_id IN ({marks})', ids)
    return deleted


def start_run(ws: Workspace, as_of: datetime, config: Config, seed: int) -> int:
    # a run still 'running' here was killed (a run records its end even when it raises, and only one process
    # writes a workspace): say so, and drop what it wrote, rather than leave it looking like it may yet finish
    # (failed runs too: their own clean-up may not have got through)
    unfinished = [r for (r,) in ws.sql("SELECT run_id FROM runs WHERE status <> 'done'")]
    discard_outputs(ws, unfinished)
    ws.con.execute("UPDATE runs SET status = 'failed' WHERE status = 'running'")
    run_id = ws.next_id("runs", "run_id")
    ws.con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, '{}', current_timestamp, 'running')",
        [run_id, as_of, seed, config.hash, config.to_json(), __version__],
    )
    return run_id


def run_pipeline(
    ws: Workspace,
    as_of: str | date | datetime | None = None,
    *,
    config: Config | None = None,
    seed: int = 0,
    stages: Sequence[str] | None = None,
    progress: Callable[[str, str], None] | None = None,
    refit: bool = False,
    engine: Engine | None = None,
) -> RunResult:
    """Run the registered stages (or only ``stages``) as of ``as_of``; record the run in ``runs``.

    ``refit``: fit every learned model anew instead of reusing a stored one whose inputs
    have not drifted (:mod:`shopseg.refit`).  ``engine``: do the stages' work on another engine
    (:class:`shopseg.runner.Engine`; :func:`shopseg.spark.run_spark` passes Spark's): the registered
    stages it has an executor for run, in the same order and the same transactions; the record's first
    entry (named after the engine) holds its reader's time and the stages it does not run.
    """
    from . import stages as _stages  # noqa: F401  (registers the capabilities' stages)

    cfg = config or load_config()
    when = parse_as_of(as_of) if as_of is not None else default_as_of(ws)
    note = as_of_note(ws, when) if as_of is None else given_as_of_note(ws, when)
    wanted = list(stages) if stages else [s.name for s in STAGES]
    unknown = [s for s in wanted if s not in {x.name for x in STAGES}]
    if unknown:
        raise ConfigError(f"Unknown stage(s) {', '.join(unknown)}; expected some of {', '.join(s.name for s in STAGES)}.")
    not_run: list[str] = []
    if engine is not None:
        not_run = [s for s in wanted if s not in engine.executors]
        if stages and not_run:
            raise ConfigError(f"The {engine.name} engine runs the stages {', '.join(engine.executors)}. "
                              f"Got {', '.join(not_run)} instead.", hint="Run those with the DuckDB engine.")
        wanted = [s for s in wanted if s in engine.executors]
    previous = ws.latest_run_id()
    run_id = start_run(ws, when, cfg, seed)
    ctx = RunContext(ws=ws, run_id=run_id, as_of=when, config=cfg, seed=seed, previous_run_id=previous,
                     refit=refit)
    record: dict[str, dict] = {}
    status = "done"
    try:
        if engine is not None:
            _open_engine(engine, ctx, record, not_run, progress)
        run_stages(ctx, bind(STAGES, engine), wanted, progress, record)
    except BaseException:
        status = "failed"
        try:
            discard_outputs(ws, [run_id])
        except Exception:  # noqa: BLE001  (the original error matters; the next run's start discards again)
            pass
        raise
    finally:
        try:
            if engine is not None:
                engine.close()
        finally:
            ws.con.execute("UPDATE runs SET stages = ?, status = ? WHERE run_id = ?",
                           [json.dumps(record, default=str), status, run_id])
    return RunResult(run_id=run_id, as_of=when, stages=record, status=status, note=note)


def _open_engine(engine: Engine, ctx: RunContext, record: dict, not_run: list[str],
                 progress: Callable[[str, str], None] | None) -> None:
    """The engine's reader, timed as the record's first entry, which also names the stages it does not run."""
    if progress:
        progress(engine.name, "start")
    t0 = time.perf_counter()
    notes = engine.open(ctx) or {}
    entry = {"status": "done", "seconds": round(time.perf_counter() - t0, 3), "engine": engine.name, **notes}
    if not_run:
        entry.update(not_run=not_run, note=f"not run on {engine.name} (no executor there; the DuckDB engine "
                                           f"runs them): {', '.join(not_run)}")
    record[engine.name] = entry
    if progress:
        progress(engine.name, "done")
