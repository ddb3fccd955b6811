"""The stage contract and the one runner that drives it, for a batch run and for the live service.

A stage (:class:`Stage`) declares

* ``name`` and ``after``: the stages whose outputs it uses (the runner orders stages from ``after``,
  topologically, keeping the registration order among stages that do not depend on each other);
* ``needs``: input tables that must hold rows (else the stage is skipped with a note);
* the tables it reads and writes: data in :data:`shopseg.schema.STAGE_TABLES`;
* ``fn`` (its ``run``): ``run(ctx)`` fits, or reuses a stored model, and writes the run's outputs;
* optionally ``state(ws, runs)``: what a stored run left for scoring (models, cut points, reference
  population), loaded once per served run, and ``score(state, reader, customers, as_of, earlier)``:
  a few customers scored with that state, no fit (what the live service needs).  ``earlier`` holds
  the scores of the stages before it (the segments' value tiers rank by the CLV stage's value).

The runner is the only place stages run: :func:`run_stages` for a batch run
(:func:`shopseg.pipeline.run_pipeline`, on DuckDB or on another :class:`Engine`: Spark) and
:func:`load_states` + :func:`score` for the live path (:mod:`shopseg.serve.live`).  The runner hands a stage the run of each input table (:meth:`Runs.of`,
:meth:`Runs.before`) so it need not look up "the newest run of table X" itself (the features, segments,
drift, churn and the live states take it from there; baskets, recommend and act still look up a previous
run's rows themselves).

>>> a = Stage("a", lambda ctx: None)
>>> b = Stage("b", lambda ctx: None, after=("c",))
>>> c = Stage("c", lambda ctx: None, after=("a",))
>>> [s.name for s in ordered([a, b, c])]
['a', 'c', 'b']
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence

from .errors import ConfigError, ModelFitError


@dataclass(frozen=True)
class Stage:
    """One stage: ``fn`` is its ``run(ctx)``; ``state`` and ``score`` are for stages the live path re-scores."""

    name: str
    fn: Callable[..., dict | None]
    needs: tuple[str, ...] = ()  # input tables that must hold rows
    doc: str = ""
    after: tuple[str, ...] = ()  # stages whose outputs it uses (ordering)
    state: Callable[..., Any] | None = None  # state(ws, runs) -> what a stored run left for scoring
    score: Callable[..., dict] | None = None  # score(state, reader, customers, as_of, earlier) -> {cid: answer}

    @property
    def run(self) -> Callable[..., dict | None]:
        return self.fn

    @property
    def tables(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(reads, writes): the stage's tables, from :data:`shopseg.schema.STAGE_TABLES`."""
        from .schema import STAGE_TABLES

        return STAGE_TABLES.get(self.name, ((), ()))


def ordered(stages: Sequence[Stage]) -> list[Stage]:
    """The stages in an order where each comes after every stage of its ``after`` that is present.

    Stable: among stages free to go, the earliest registered goes first.  A cycle is a ConfigError.
    """
    names = [s.name for s in stages]
    left = list(stages)
    out: list[Stage] = []
    while left:
        done = {s.name for s in out}
        for i, s in enumerate(left):
            if all(a in done or a not in names for a in s.after):
                out.append(left.pop(i))
                break
        else:
            raise ConfigError("The stages' `after` form a cycle; expected each stage to need only earlier ones. "
                              f"Got {', '.join(f'{s.name} after {list(s.after)}' for s in left)} instead.")
    return out


class Runs:
    """Which run holds each table for a stage: this run when a stage of it wrote the table; none when a stage of
    it that writes the table was skipped (the data as of this run cannot support it: an earlier run's rows would
    be another date's, e.g. churn risk as of 2011-12-09 in a run as of 2013-06-30); else the newest done run up to
    ``run_id`` that has rows of it (None when none has)."""

    def __init__(self, ws, run_id: int, as_of: datetime, config, *, written: set[str] | None = None,
                 given: Sequence[str] = ()):
        self.ws, self.run_id, self.as_of, self.config = ws, int(run_id), as_of, config
        self.written = written if written is not None else set()
        self.skipped: set[str] = set()  # tables of this run's skipped stages that none of its stages wrote
        self.given = frozenset(given)  # inputs the scorer will be handed (score's given): no state need prepare them
        self._seen: dict[str, int | None] = {}

    def of(self, table: str) -> int | None:
        if table in self.written:
            return self.run_id
        if table in self.skipped:
            return None
        if table not in self._seen:
            self._seen[table] = table_run(self.ws, table, self.run_id)
        return self._seen[table]

    def before(self, table: str, where: str = "") -> int | None:
        """The newest done run before this one with rows in ``table`` (what a comparison with the past needs);
        ``where``: only rows matching this SQL condition count (e.g. ``scheme = 'cluster'``)."""
        return table_run(self.ws, table, self.run_id - 1, where)


def table_run(ws, table: str, at_most: int | None = None, where: str = "") -> int | None:
    """The newest done run (at most ``at_most``) with rows in ``table`` (matching ``where``, an SQL condition,
    when given), or None (also when the table is absent)."""
    if not ws.has_table(table):
        return None
    q = f'SELECT max(run_id) FROM "{table}" WHERE run_id IN (SELECT run_id FROM runs WHERE status = \'done\')'
    if where:
        q += f" AND ({where})"
    params: list = []
    if at_most is not None:
        q += " AND run_id <= ?"
        params.append(int(at_most))
    v = ws.scalar(q, params)
    return None if v is None else int(v)


class Engine(Protocol):
    """Where a batch run's stage work runs when it is not this process's DuckDB (Spark: :mod:`shopseg.spark`).

    An engine supplies executors, not a stage list: ``executors`` maps a registered stage's name to a
    ``run(ctx)`` doing that stage's work on the engine and writing the run's outputs to the workspace (inside
    the runner's per-stage transaction); :func:`bind` puts them in the registered stages' place, so the order,
    ``needs``, tables, transactions, timing and failure handling are the runner's. A registered stage without
    an executor does not run on the engine (the run's record says which). ``open(ctx)`` is the engine's
    reader (make the workspace's inputs readable to it; returns notes for the run's record), ``close()``
    releases what ``open`` took, whatever happened.
    """

    name: str
    executors: Mapping[str, Callable[..., dict | None]]

    def open(self, ctx) -> dict: ...

    def close(self) -> None: ...


def bind(stages: Sequence[Stage], engine: Engine | None) -> list[Stage]:
    """The stages with ``run`` replaced by ``engine``'s executor where it has one (all of them as they are
    without an engine); name, ``after``, ``needs``, tables, ``state`` and ``score`` stay the registered ones.

    >>> class Toy:
    ...     name, executors = "toy", {"b": lambda ctx: {"on": "toy"}}
    >>> [s.run(None) for s in bind([Stage("a", lambda ctx: {"on": "duckdb"}), Stage("b", lambda ctx: {})], Toy())]
    [{'on': 'duckdb'}, {'on': 'toy'}]
    """
    if engine is None:
        return list(stages)
    return [replace(s, fn=engine.executors[s.name]) if s.name in engine.executors else s for s in stages]


# -- a batch run ------------------------------------------------------------------------------------------------

def run_stages(ctx, stages: Sequence[Stage], wanted: Sequence[str],
               progress: Callable[[str, str], None] | None = None, record: dict | None = None) -> dict[str, dict]:
    """Run the ``wanted`` stages in runner order, each in its own transaction; returns the run's record.

    A stage whose ``needs`` are empty is skipped with a note; a ModelFitError skips it with the reason
    (its writes rolled back).  The record (``record``, filled as it goes, so a caller sees the stages a
    failed run got through) is stored in ``runs.stages`` after each stage.
    """
    ws = ctx.ws
    record = {} if record is None else record
    for stage in ordered(stages):
        if stage.name not in wanted:
            continue
        if progress:
            progress(stage.name, "start")
        empty = [t for t in stage.needs if ws.count(t) == 0]
        if empty:
            record[stage.name] = {"status": "skipped", "seconds": 0.0,
                                  "note": f"skipped: no rows in {', '.join(empty)}"}
        else:
            t0 = time.perf_counter()
            try:
                with ws.transaction():
                    notes = stage.run(ctx) or {}
            except ModelFitError as e:
                # data that cannot support a model (a tiny shop, one class) skips that stage, with the
                # reason and the hint; the stage's writes are rolled back and the run goes on
                notes = {"note": f"skipped: {e.message}", "hint": e.hint}
            # a stage that decides itself there is nothing to do says so with a note starting "skipped"
            done = "skipped" if str(notes.get("note", "")).startswith("skipped") else "done"
            record[stage.name] = {"status": done, "seconds": round(time.perf_counter() - t0, 3), **notes}
            ctx.notes[stage.name] = notes
            if done == "done":
                ctx.runs.written.update(stage.tables[1])
        if record[stage.name]["status"] == "skipped":
            ctx.runs.skipped.update(stage.tables[1])
        # recorded as it goes: a run killed later still shows the stages it got through
        ws.con.execute("UPDATE runs SET stages = ? WHERE run_id = ?",
                       [json.dumps(record, default=str), ctx.run_id])
        if progress:
            progress(stage.name, record[stage.name]["status"])
    return record


# -- the live path ----------------------------------------------------------------------------------------------

@dataclass
class ServedRun:
    """A stored run as the live path scores against it: every scoring stage's state, loaded once."""

    run_id: int
    as_of: datetime
    config: Any
    states: dict[str, Any] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)  # the scoring stages, in runner order


def load_states(stages: Sequence[Stage], ws, run_id: int, as_of: datetime, config,
                given: Sequence[str] = ()) -> ServedRun:
    """Each scoring stage's ``state`` of run ``run_id`` (inputs of other runs found by :class:`Runs`).
    ``given``: the inputs every :func:`score` will be handed (``customer_features``: a state then prepares no
    way of computing them)."""
    runs = Runs(ws, run_id, as_of, config, given=given)
    scoring = [s for s in ordered(stages) if s.score is not None and s.state is not None]
    return ServedRun(int(run_id), as_of, config, {s.name: s.state(ws, runs) for s in scoring}, scoring)


def score(served: ServedRun, reader, customers: Sequence[str], as_of: datetime,
          timings: dict[str, float] | None = None, given: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """stage name -> {customer_id: answer} for ``customers`` as of ``as_of``, every scoring stage in runner order.

    ``reader``: where the stages read the input tables (the online store or a DuckDB connection).
    ``timings``: filled with each stage's seconds when given.  ``given``: inputs the caller computed already,
    handed to every stage with the earlier stages' answers (``customer_features``: a frame holding the
    customers' features as of ``as_of``, which the segments' score then takes instead of computing them).
    """
    earlier: dict[str, Any] = dict(given or {})
    answers: dict[str, dict] = {}
    for s in served.stages:
        t0 = time.perf_counter()
        answers[s.name] = earlier[s.name] = s.score(served.states.get(s.name), reader, list(customers), as_of,
                                                    earlier) or {}
        if timings is not None:
            timings[s.name] = timings.get(s.name, 0.0) + time.perf_counter() - t0
    return answers


__all__ = ["Engine", "Runs", "ServedRun", "Stage", "bind", "load_states", "ordered", "run_stages", "score", "table_run"]
