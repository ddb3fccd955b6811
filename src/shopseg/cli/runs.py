"""Commands that run the pipeline and serve it: run, report, serve."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from .. import _cli_out as out
from .._cli_out import console
from ..errors import ShopsegError, human_bytes
from ._common import (
    _load_config,
    _open,
    _said_run,
    _warnings_in_words,
    app,
    handles_errors,
    settle,
    state,
)


@app.command()
@handles_errors
def run(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the run describes (default: the last sale order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    seed: int = typer.Option(0, help="Random seed for every stage."),
    stage: Optional[list[str]] = typer.Option(None, "--stage", help="Run only these stages (repeatable)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write the HTML report at the end."),
    refit: bool = typer.Option(False, "--refit", help="Refit every model, even when its inputs have not drifted."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (this machine) or spark (features, segments, "
                               "CLV, churn and baskets on Apache Spark; needs shopseg[spark], see docs/scale.md)."),
    master: Optional[str] = typer.Option(None, "--master", help="With --engine spark: the Spark master URL "
                                         "(default local[2])."),
    incremental: bool = typer.Option(False, "--incremental", help="Refresh the latest run for the rows added "
                                     "since: re-score only the customers they touch, with its models "
                                     "(docs/incremental.md)."),
):
    """Run every stage for one as-of date (features, segments, predictions, baskets, reviews, actions)."""
    from ..errors import ConfigError
    from ..pipeline import STAGES, run_pipeline
    from ..progress import listening

    if engine not in ("duckdb", "spark"):
        raise ConfigError(f"--engine must be duckdb or spark. Got {engine!r} instead.")
    cfg = _load_config(config)
    db = Path(state.workspace or ".") / "shop.duckdb"
    if db.is_file():
        state.disk_need = (2 * db.stat().st_size, f"a run on this {human_bytes(db.stat().st_size)} database "
                           "(about twice its size: outputs, write-ahead log, models and report; an estimate from "
                           "the demo shop, 8.9 MB -> 27 MB at the peak)")
    with _open() as ws:
        from .. import stages as _stages  # noqa: F401

        if incremental:
            _incremental(ws, as_of, cfg if config is not None else None, stage, refit, engine, report)
            return
        # the progress display of a full run (an incremental refresh shows a status line: no import of it)
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        names = list(stage) if stage else [s.name for s in STAGES]
        on = None  # the DuckDB engine: each stage's own run; Spark: its executors, through the same runner
        if engine == "spark":
            from ..spark import require_pyspark

            require_pyspark()
            from ..spark._run import SparkEngine

            on = SparkEngine(master=master)
            names = [on.name] + [n for n in names if n in on.executors or stage]
        settle()  # as for an incremental refresh: the stages' collections skip the libraries' objects
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=False,
                      disable=out.out.json or out.out.verbosity < 0) as bar:
            task = bar.add_task("run", total=len(names))

            current = [""]

            done = [0]

            def progress(name: str, status: str) -> None:
                if status == "start":
                    current[0] = name
                    bar.update(task, description=f"stage {name}")
                else:
                    bar.advance(task)
                    done[0] += 1
                _progress_file(name, done[0], len(names))

            def inside(text: str) -> None:  # a long stage's own progress: done, rate, time left
                bar.update(task, description=f"stage {current[0]}: {text}")

            with _warnings_in_words(), listening(inside):
                try:
                    result = run_pipeline(ws, as_of, config=cfg, seed=seed, stages=stage, progress=progress,
                                          refit=refit, engine=on)
                except Exception as e:  # noqa: BLE001 - a Java failure that says which resource ran out
                    if on is None:
                        raise
                    from ..spark._session import resource_error

                    if resource_error(e) is None:
                        raise
                    raise resource_error(e) from e
        _said_run(result)
        if report:
            from ..report import build_report

            with _warnings_in_words():
                path = build_report(ws, result.run_id)
            _said_report(path)


def _progress_file(stage: str, done: int, total: int) -> None:
    """With $SHOPSEG_PROGRESS_FILE (set by the service for the runs it starts): {stage, done, total} there,
    replaced atomically, for GET /runs/{id}."""
    import json
    import os

    path = os.environ.get("SHOPSEG_PROGRESS_FILE")
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"stage": stage, "done": done, "total": total}, f)
    os.replace(tmp, path)


def _incremental(ws, as_of, cfg, stage, refit, engine, report) -> None:
    """``run --incremental``: :func:`shopseg.incremental.run_incremental` (the base run's settings unless -c)."""
    from ..errors import ConfigError
    from ..incremental import run_incremental

    if stage or refit or engine != "duckdb":
        raise ConfigError("--incremental takes no --stage, --refit or --engine spark: it reuses the latest run's "
                          "models and re-scores only what changed.", hint="Run a full `shopseg run` for those.")
    settle()  # the libraries imported: the refresh's collections skip their objects
    # a status line as a full run's progress bar: not with --quiet or --json (nor rich's live display imported,
    # and its refresh thread started, for nothing)
    shown = not (out.out.json or out.out.verbosity < 0)
    with console.status("incremental refresh ...") if shown else nullcontext(), _warnings_in_words():
        result = run_incremental(ws, as_of, config=cfg)
    _said_run(result)
    if report:
        from ..report import build_report

        with _warnings_in_words():
            _said_report(build_report(ws, result.run_id))


def _said_report(path) -> None:
    out.say(f"Report: {path}")
    out.record("report", path)


@app.command("report")
@handles_errors
def report_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run to report (default: the latest)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write the HTML file."),
    shareable: bool = typer.Option(False, "--shareable",
        help="Only differentially private segment statistics, no id or exact figure (docs/security.md)."),
    epsilon: Optional[float] = typer.Option(None, "--epsilon", help="With --shareable: privacy loss of the release "
                                            "(default privacy.dp.epsilon); recorded in privacy_budget_log."),
    k_min: Optional[int] = typer.Option(None, "--k-min", help="With --shareable: suppress segments under this many "
                                        "customers (default privacy.dp.k_min)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings "
                                          "([shop] currency, else the run's; [privacy.dp] with --shareable)."),
):
    """Write the self-contained HTML report of a run (works offline) and print its path."""
    from ..report import build_report

    if not shareable and (epsilon is not None or k_min is not None):
        raise ShopsegError("--epsilon and --k-min go with --shareable.", hint="Add --shareable.")
    with _open(create=False) as ws:
        if shareable:
            from ..trust.dp import build_shareable_report

            path = build_shareable_report(ws, run_id, output, epsilon=epsilon, k_min=k_min, config=_load_config(config))
        else:
            with _warnings_in_words():
                # the currency of a config file given or found (shopseg.toml), else the run's own settings
                found = out.find_config(config, state.workspace) is not None
                path = build_report(ws, run_id, output, config=_load_config(config) if found else None)
    _said_report(path)


@app.command()
@handles_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    read_key: Optional[str] = typer.Option(None, "--read-key", envvar="SHOPSEG_READ_KEY",
                                           help="Key for GET requests and the dashboard."),
    write_key: Optional[str] = typer.Option(None, "--write-key", envvar="SHOPSEG_WRITE_KEY",
                                            help="Key for POST /events and PII in exports."),
    online_rows: int = typer.Option(5_000_000, "--online-rows", min=0,
                                    help="Copy the input tables into the in-memory online store at start when they "
                                         "hold at most this many rows (POST /events then re-scores in milliseconds); "
                                         "0: re-score in DuckDB."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="Start a run at a daily time \"HH:MM\" or at "
                                           "a cron expression's moments (\"0 2 * * *\"; local time), as of the day "
                                           "before; see docs/service.md."),
):
    """Serve the REST API (docs at /docs) and the live dashboard over the workspace."""
    from ..serve import serve as run_server
    from ..workspace import default_path

    run_server(state.workspace or default_path(), host=host, port=port, read_key=read_key, write_key=write_key,
               online_rows=online_rows, schedule=schedule)
