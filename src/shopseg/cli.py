"""The ``shopseg`` command line: parse, call one library function, format the result.

No business logic here: every command is a thin wrapper over the Python API.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from . import __version__
from . import _cli_out as out
from ._cli_out import console, err_console
from .errors import ShopsegError, disk_full_error, human_bytes

app = typer.Typer(
    name="shopseg",
    help="Turn a web shop's raw data into customer segments, predictions and targeted marketing.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


class _State:
    workspace: Optional[Path] = None
    disk_need: Optional[tuple[int, str]] = None  # (bytes, what) the command needs free, for a full disk's message


state = _State()


def _fail(e: ShopsegError) -> None:
    # messages quote data and TOML ("[columns]"): printed as text, not as rich markup
    err_console.print(f"[bold red]Error:[/] {escape(e.message)}", highlight=False, soft_wrap=True)
    if e.hint:
        err_console.print(f"[yellow]Hint:[/] {escape(e.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def handles_errors(fn):
    """Translate shopseg's exception tree into a short message, a hint and exit code 2.

    Anything else is a bug: one line naming it and exit code 1, not a traceback (``SHOPSEG_DEBUG=1``
    shows the traceback).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import os

        import click

        try:
            result = fn(*args, **kwargs)
            out.flush()  # with --json: the one document the command built
            return result
        except ShopsegError as e:
            _fail(e)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as e:
            if os.environ.get("SHOPSEG_DEBUG"):
                raise
            need, why = state.disk_need or (None, "")
            full = disk_full_error(e, state.workspace or ".", need=need, need_why=why)
            if full is not None:
                _fail(full)
            err_console.print(f"[bold red]Error:[/] unexpected {type(e).__name__} in `shopseg {fn.__name__}`: {e}",
                              highlight=False, soft_wrap=True)
            err_console.print("[yellow]Hint:[/] This is a bug in shopseg, not in your data; run again with "
                              "SHOPSEG_DEBUG=1 for the traceback and report it.", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper


def _fmt(value, spec: str, missing: str = "n/a") -> str:
    """``value`` formatted with ``spec``, or ``missing`` for a NULL / NaN (a model that gave no figure)."""
    if value is None or (isinstance(value, float) and value != value):
        return missing
    return format(value, spec)


@contextlib.contextmanager
def _warnings_in_words():
    """Collect the warnings of a command; print shopseg's own (which say what to change) once each, in words.

    Numerical libraries' warnings (RuntimeWarning on an empty mean, scikit-learn's ConvergenceWarning on
    duplicate points...) are not something a shop owner can act on: shopseg handles those cases itself (a
    stage without signal is skipped with its reason), so they are not printed.
    """
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                if not _is_ours(w):
                    continue
                msg = str(w.message).strip()
                if msg not in seen:
                    seen.add(msg)
                    out.note(msg)


def _is_ours(w) -> bool:
    """A warning shopseg raised for the user (a UserWarning from shopseg's code), not a library's."""
    if not issubclass(w.category, UserWarning):
        return False
    if w.category.__module__.split(".")[0] == "shopseg":
        return True
    return w.category is UserWarning and "shopseg" in Path(str(w.filename)).parts


def _open(create: bool = True, read_only: bool = False):
    from .workspace import open_workspace

    return open_workspace(state.workspace, create=create, read_only=read_only)


def _run_stage(ws, stage: str, as_of, cfg, seed: int = 0):
    """Run one pipeline stage as a new run and print its line; the single-stage commands share this."""
    from .pipeline import run_pipeline

    with _warnings_in_words():
        result = run_pipeline(ws, as_of, config=cfg, seed=seed, stages=[stage])
    _said_run(result)
    return result


def _said_run(result) -> None:
    """A run's lines (-q: the first only; -v: and its timings), and the run in the JSON document."""
    text = result.describe()
    out.say(text.split("\n")[0] if out.out.verbosity < 0 else text)
    out.detail(out.stage_timings(result.stages))
    out.record("run", {"run_id": result.run_id, "as_of": result.as_of, "status": result.status,
                       "stages": result.stages})


def _load_config(path: Optional[Path] = None, overrides: Optional[dict] = None):
    """The settings: --config, else shopseg.toml in the workspace folder, else in the current folder."""
    return out.load(path, state.workspace, overrides)


def _version(value: bool):
    if value:
        console.print(f"shopseg {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    workspace: Optional[Path] = typer.Option(
        None, "--workspace", "-w", envvar="SHOPSEG_WORKSPACE",
        help="Workspace folder (default ./shopseg-workspace).", show_default=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    as_json: bool = typer.Option(False, "--json", help="Print the command's data as one JSON document "
                                 "(the table's values, unformatted); may also follow the command."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add details: the config file used, stage "
                                 "timings, how a file was read."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print results and errors only (no notes)."),
):
    """shopseg: customer segments and targeted marketing from a shop's exports."""
    state.workspace = workspace
    out.reset(as_json=as_json, verbose=verbose, quiet=quiet)


@app.command()
@handles_errors
def ingest(
    path: Path = typer.Argument(..., help="CSV (.csv/.tsv, optionally .gz), Parquet or JSON lines file."),
    table: Optional[str] = typer.Option(None, "--table", "-t",
        help="Canonical table the file holds: customers, products, orders, order_lines, events, reviews."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p",
        help="A known public format (see `shopseg presets`), e.g. online-retail."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", "-m",
        help="TOML mapping: column renames, date formats, one file split into several tables."),
    delimiter: Optional[str] = typer.Option(None, help="CSV delimiter (default: sniffed)."),
    encoding: Optional[str] = typer.Option(None, help="utf-8, utf-16 or latin-1 (default: sniffed)."),
    header: Optional[bool] = typer.Option(None, "--header/--no-header", help="Whether the CSV has a header row.",
                                          show_default=False),
    config: Optional[Path] = typer.Option(None, "--config", "-c",
        help="TOML file overriding default settings (e.g. [privacy] pii = \"hash\")."),
    date_format: Optional[str] = typer.Option(None, "--date-format",
        help="strptime format of every date column, e.g. \"%d/%m/%Y %H:%M\" (default: ISO, or m/d/Y or d/m/Y "
             "where the data decide)."),
    propose: bool = typer.Option(False, "--propose-mapping", help="Print a mapping file for PATH (each column's "
                                 "role guessed from its name and values, with why) and load nothing."),
):
    """Load one file into the workspace: accepted, quarantined (with reasons) or duplicate, all counted.

    A known export is recognised by its header; for a file nothing knows, the error writes a proposed mapping
    (workspace folder, mappings/) to edit and pass back with --mapping.
    """
    from .errors import IngestError
    from .ingest import ingest as do_ingest
    from .ingest import propose_mapping

    if propose:
        print(propose_mapping(path, delimiter=delimiter, encoding=encoding, header=header), end="")
        return
    if path.is_file():  # peak growth of the workspace folder, measured on Online Retail: 3.6 MB Parquet ->
        # 9.2 MB, the same rows as a 48 MB CSV -> 10 MB (DuckDB compresses columns; the write-ahead log comes first)
        size = path.stat().st_size
        factor = 3.0 if path.suffix == ".parquet" else 1.5 if path.suffix in (".gz", ".zst") else 0.5
        state.disk_need = (int(factor * size), f"an ingest of this {human_bytes(size)} file (about {factor:g}x "
                           "its size, an estimate from Online Retail)")
    with _open() as ws:
        try:
            from .progress import listening

            with console.status(f"Ingesting {path} ...") as status, \
                    listening(lambda text: status.update(f"Ingesting {path}: {text}")):
                result = do_ingest(ws, path, table=table, preset=preset, mapping=mapping,
                                   delimiter=delimiter, encoding=encoding, header=header,
                                   config=_load_config(config), date_format=date_format)
        except IngestError as e:
            if getattr(e, "proposal", None):
                dest = ws.path / "mappings" / f"{path.stem}.toml"
                dest.parent.mkdir(exist_ok=True)
                dest.write_text(e.proposal, encoding="utf-8")
                e.hint = ((e.hint + "\n") if e.hint else "") + (
                    f"A proposed mapping, each guess commented, is in {dest}: check it, then "
                    f"`shopseg ingest {path} --mapping {dest}`.")
            raise
    results = result if isinstance(result, list) else [result]
    out.record("ingests", [r.__dict__ for r in results])
    for r in results:
        out.say(r.describe())
        out.detail(f"read {r.source} as {r.encoding or 'binary'}"
                   + (f", delimiter {r.delimiter!r}" if r.delimiter else "") + f"; tables {', '.join(r.tables)}")


@app.command()
@handles_errors
def synth(
    customers: Optional[int] = typer.Option(None, "--customers", help="Customers to generate (default: synth.customers, 20000)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives identical tables (default 42)."),
    as_of: str = typer.Option("2024-12-31", "--as-of", help="Date the history ends (exclusive), YYYY-MM-DD."),
    replace: bool = typer.Option(False, "--replace", help="Empty the canonical tables first."),
    repurchase: bool = typer.Option(True, "--repurchase/--no-repurchase",
                                    help="Plant a staple consumable per customer, re-bought every cycle by "
                                         "persona (table ground_truth_repurchase; on by default, so the demo "
                                         "shop's replenishment audience and next-basket recovery can be checked)."),
):
    """Generate a demo shop with planted ground truth (personas, future orders, planted rules) into the workspace."""
    from .synth import synthesize

    cfg = _load_config()
    with _open() as ws:
        with console.status(f"Generating {customers or cfg['synth.customers']:,} customers ..."):
            s = synthesize(ws, customers=customers or cfg["synth.customers"],
                           seed=cfg["synth.seed"] if seed is None else seed, as_of=as_of,
                           history_days=cfg["synth.history_days"], horizon_days=cfg["synth.horizon_days"],
                           replace=replace, repurchase=repurchase)
    out.table("tables", ["table", "rows"], [(k, s[k]) for k in ("customers", "products", "orders", "order_lines",
                                                                 "events", "reviews", "ground_truth")],
              title=f"Demo shop in {ws.path}", formats={"rows": ","})


@app.command()
@handles_errors
def presets():
    """List the presets for well-known public export formats."""
    from .ingest import PRESETS

    out.table("presets", ["preset", "what it reads"], [(p.name, p.doc) for p in PRESETS.values()])


@app.command()
@handles_errors
def summary():
    """Row counts of the workspace's tables and the latest ingests."""
    with _open(create=False, read_only=True) as ws:
        out.table("tables", ["table", "rows"], [*ws.summary().items(), ("quarantine", ws.count("quarantine"))],
                  title=f"Workspace {ws.path}", formats={"rows": ","})
        log = ws.sql("SELECT ingest_id, source, coalesce(preset, ''), n_input, n_accepted, n_quarantined, "
                     "n_duplicate FROM ingest_log ORDER BY ingest_id DESC LIMIT 10")
        if log:
            cols = ["ingest", "source", "preset", "input", "accepted", "quarantined", "duplicate"]
            out.table("ingests", cols, log, title="Latest ingests", formats=dict.fromkeys(cols[3:], ","))


@app.command()
@handles_errors
def quarantine(
    ingest_id: Optional[int] = typer.Option(None, "--ingest", help="Only rows of this ingest."),
    limit: int = typer.Option(20, help="Rows to show."),
):
    """Show quarantined rows: file, row, column and reason."""
    with _open(create=False, read_only=True) as ws:
        where = "WHERE ingest_id = ?" if ingest_id is not None else ""
        params = [ingest_id] if ingest_id is not None else []
        rows = ws.sql(f"SELECT ingest_id, source, row_number, reason FROM quarantine {where} "
                      f"ORDER BY ingest_id, row_number LIMIT {int(limit)}", params)
        out.table("quarantine", ["ingest", "file", "row", "reason"], rows)


@app.command()
@handles_errors
def sql(
    query: str = typer.Argument(..., help="A SQL query over the workspace (read-only)."),
    limit: int = typer.Option(1000, "--limit", min=0, help="Rows to print at most (0: all); a cut is said."),
    fmt: str = typer.Option("auto", "--format", help="table, csv, json or parquet (auto: a table on a terminal, "
                            "CSV into a pipe; with --output, from its extension)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the rows to this file (csv, json or "
                                          "parquet) instead of printing them."),
    allow_files: bool = typer.Option(False, "--allow-files", help="Let the query read files (read_csv, "
                                     "read_parquet, glob, ATTACH ... READ_ONLY); still no writes."),
):
    """Run a read-only SQL query over the workspace and print the result.

    Read-only in fact: the workspace is opened read-only, only queries run (SELECT, WITH, DESCRIBE, SHOW,
    EXPLAIN, PRAGMA, CALL: no COPY, EXPORT, ATTACH, INSTALL, LOAD or SET), and unless --allow-files the query
    reaches no file outside the workspace (DuckDB's enable_external_access = false, locked for the session).
    """
    import csv

    import duckdb

    from .errors import ConfigError

    if fmt not in ("auto", "table", "csv", "json", "parquet"):
        raise ConfigError(f"--format must be auto, table, csv, json or parquet. Got {fmt!r} instead.")
    if fmt == "auto" and output is not None:
        fmt = {".json": "json", ".parquet": "parquet"}.get(output.suffix.lower(), "csv")
    if fmt == "parquet" and output is None:
        raise ConfigError("--format parquet writes a binary file: give --output FILE.parquet.")
    if fmt == "table" and output is not None:
        raise ConfigError("--output writes csv, json or parquet. Got --format table instead.")
    with _open(create=False, read_only=True) as ws:
        lock_down(ws.con, allow_files=allow_files)
        try:
            kinds = [st.type.name for st in ws.con.extract_statements(query)]
            refused = sorted(set(kinds) - QUERY_STATEMENTS)
            if refused:
                raise ConfigError(f"shopseg sql runs queries only (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN, PRAGMA, "
                                  f"CALL). Got {', '.join(refused)} instead.",
                                  hint="Write to files or other databases with DuckDB itself, on a copy of "
                                       "shop.duckdb.")
            cur = ws.con.execute(query)
            cols = [d[0] for d in cur.description or []]
            rows = cur.fetchall() if limit == 0 else cur.fetchmany(limit + 1)
            total = None
            if limit and len(rows) > limit and kinds == ["SELECT"]:  # the cut says of how many: count once more
                try:
                    total = ws.con.execute(f"SELECT count(*) FROM ({query.strip().rstrip(';')})").fetchone()[0]
                except duckdb.Error:
                    total = None
        except duckdb.Error as e:
            hint = None
            if not allow_files and "disabled by configuration" in str(e):
                hint = "shopseg sql reads the workspace only; add --allow-files to let the query read files."
            raise ShopsegError(f"SQL error: {e}", hint=hint) from None
    cut = limit and len(rows) > limit
    rows = rows[:limit] if cut else rows
    if fmt == "auto":
        fmt = "json" if out.out.json else "table" if sys.stdout.isatty() else "csv"
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([dict(zip(cols, r)) for r in rows]) if rows else
                       pa.table({c: pa.array([], pa.string()) for c in cols}), output)
    elif fmt == "csv":
        with (open(output, "w", newline="", encoding="utf-8") if output else contextlib.nullcontext(sys.stdout)) as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(cols)
            w.writerows(["" if v is None else v for v in r] for r in rows)
            f.flush()
    elif fmt == "json":
        text = json.dumps([dict(zip(cols, r)) for r in rows], default=str, ensure_ascii=False)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
    else:
        t = Table(*cols)
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        console.print(t)
    if output is not None:
        err_console.print(f"{len(rows):,} rows -> {output}", highlight=False, soft_wrap=True, markup=False)
    if cut:
        of = f"{limit:,} of {total:,} rows" if total is not None else f"the first {limit:,} rows; the query has more"
        err_console.print(f"({of}; --limit 0 prints all)", highlight=False)


QUERY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA", "CALL"}


def lock_down(con, *, allow_files: bool = False) -> None:
    """No file, extension or outside database for the rest of this connection's life (a read-only
    connection still lets ``COPY ... TO``, ``read_csv('/etc/passwd')``, ``ATTACH`` and ``INSTALL`` through)."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if not allow_files:
        con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


@app.command()
@handles_errors
def run(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the run describes (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    seed: int = typer.Option(0, help="Random seed for every stage."),
    stage: Optional[list[str]] = typer.Option(None, "--stage", help="Run only these stages (repeatable)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write the HTML report at the end."),
    refit: bool = typer.Option(False, "--refit", help="Refit every model, even when its inputs have not drifted."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (this machine) or spark (features, segments, "
                               "CLV, churn and baskets on Apache Spark; needs shopseg[spark], see docs/scale.md)."),
    master: Optional[str] = typer.Option(None, "--master", help="With --engine spark: the Spark master URL "
                                         "(default local[2])."),
):
    """Run every stage for one as-of date (features, segments, predictions, baskets, reviews, actions)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .errors import ConfigError
    from .pipeline import STAGES, run_pipeline
    from .progress import listening

    if engine not in ("duckdb", "spark"):
        raise ConfigError(f"--engine must be duckdb or spark. Got {engine!r} instead.")
    cfg = _load_config(config)
    db = Path(state.workspace or ".") / "shop.duckdb"
    if db.is_file():
        state.disk_need = (2 * db.stat().st_size, f"a run on this {human_bytes(db.stat().st_size)} database "
                           "(about twice its size: outputs, write-ahead log, models and report; an estimate from "
                           "the demo shop, 8.9 MB -> 27 MB at the peak)")
    with _open() as ws:
        from . import stages as _stages  # noqa: F401

        if engine == "spark":
            from .spark import run_spark

            if stage:
                raise ConfigError("--stage does not apply to --engine spark, which runs its own stages.",
                                  hint="See docs/scale.md for what the Spark engine runs.")
            from .spark._session import resource_error

            with console.status(f"Spark ({master or 'local[2]'}): features, segments, baskets ..."):
                try:
                    result = run_spark(ws, as_of, config=cfg, seed=seed, master=master)
                except Exception as e:  # noqa: BLE001 - a Java failure that says which resource ran out
                    if resource_error(e) is None:
                        raise
                    raise resource_error(e) from e
            _said_run(result)
            if report:
                from .report import build_report

                _said_report(build_report(ws, result.run_id))
            return
        names = list(stage) if stage else [s.name for s in STAGES]
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=False,
                      disable=out.out.json or out.out.verbosity < 0) as bar:
            task = bar.add_task("run", total=len(names))

            current = [""]

            def progress(name: str, status: str) -> None:
                if status == "start":
                    current[0] = name
                    bar.update(task, description=f"stage {name}")
                else:
                    bar.advance(task)

            def inside(text: str) -> None:  # a long stage's own progress: done, rate, time left
                bar.update(task, description=f"stage {current[0]}: {text}")

            with _warnings_in_words(), listening(inside):
                result = run_pipeline(ws, as_of, config=cfg, seed=seed, stages=stage, progress=progress,
                                      refit=refit)
        _said_run(result)
        if report:
            from .report import build_report

            with _warnings_in_words():
                path = build_report(ws, result.run_id)
            _said_report(path)


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
    from .report import build_report

    if not shareable and (epsilon is not None or k_min is not None):
        raise ShopsegError("--epsilon and --k-min go with --shareable.", hint="Add --shareable.")
    with _open(create=False) as ws:
        if shareable:
            from .trust.dp import build_shareable_report

            path = build_shareable_report(ws, run_id, output, epsilon=epsilon, k_min=k_min, config=_load_config(config))
        else:
            with _warnings_in_words():
                # the currency of a config file given or found (shopseg.toml), else the run's own settings
                found = out.find_config(config, state.workspace) is not None
                path = build_report(ws, run_id, output, config=_load_config(config) if found else None)
    _said_report(path)


@app.command()
@handles_errors
def forget(
    customer_ids: list[str] = typer.Argument(..., help="Customer ids to forget."),
):
    """Remove customers from every table, export, report and model file; later ingests quarantine them."""
    from .trust.forget import forget as do_forget

    with _open(create=False) as ws:
        result = do_forget(ws, customer_ids)
    out.say(result.describe())
    out.record("forget", result.__dict__)


@app.command()
@handles_errors
def secret(
    move_out: bool = typer.Option(False, "--move-out",
                                  help="Move a workspace's own secret.key (older workspaces) out to the key folder."),
):
    """Say where the workspace's pseudonymisation key lives (never the key itself); move an old one out."""
    import os
    from pathlib import Path

    from .errors import WorkspaceError
    from .trust.pii import KEY_ENV, move_secret_out, secret_path

    root = Path(state.workspace)
    if not root.is_dir():
        raise WorkspaceError(f"No workspace at {root}.", hint="Pass --workspace, or ingest a file first.")
    if move_out:
        console.print(f"Moved the key to {move_secret_out(root)}; back it up apart from the workspace.",
                      highlight=False, soft_wrap=True, markup=False)
        return
    where = secret_path(root)
    inside = where.parent.resolve() == root.resolve()
    note = (" (inside the workspace: a copy of it can confirm a guessed e-mail; `shopseg secret --move-out`)"
            if inside else " (outside the workspace; back it up apart from it)")
    env = f"; {KEY_ENV} is set and takes precedence" if os.environ.get(KEY_ENV) else ""
    console.print(f"Key: {where}{note}{env}.", highlight=False, soft_wrap=True, markup=False)


@app.command()
@handles_errors
def segment(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the run describes (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    seed: int = typer.Option(0, help="Random seed (sampling and K-means)."),
):
    """Compute customer features and every configured segment scheme (segments.schemes) as a new run."""
    with _open() as ws:
        _run_stage(ws, "segments", as_of, _load_config(config), seed=seed)


@app.command()
@handles_errors
def segments(
    scheme: str = typer.Option("rfm", "--scheme", "-s", help="Segment scheme (`shopseg schemes` lists them)."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run to show (default: the latest)."),
    segment: Optional[str] = typer.Option(None, "--segment", help="Export the customers of this segment."),
    export: Optional[Path] = typer.Option(None, "--export", help="CSV file for --segment's customer ids."),
):
    """Show the segments of a run (size, share, name), or export one segment's customers to CSV."""
    with _open(create=False, read_only=export is None) as ws:
        rid = run_id or (ws.scalar("SELECT max(run_id) FROM segment_profiles WHERE scheme = ?", [scheme])
                         if ws.has_table("segment_profiles") else None)
        if rid is None:
            from .segment._registry import names

            if scheme not in names():
                raise ShopsegError(f"No segment scheme {scheme!r}. Known schemes: {', '.join(names())}.",
                                   hint="`shopseg schemes` lists them with what each one does.")
            raise ShopsegError(f"No segments of scheme {scheme!r} yet: no run has made them.",
                               hint="Run `shopseg run` (or `shopseg segment`) first, with the scheme in "
                                    "[segments] schemes.")
        if segment is not None:
            dest = export or (ws.exports_dir / f"run{rid}_{scheme}_{segment.replace(' ', '_')}.csv")
            ws.con.execute(
                f"COPY (SELECT customer_id FROM segments WHERE run_id = ? AND scheme = ? AND segment = ? "
                f"ORDER BY customer_id) TO '{str(dest).replace(chr(39), chr(39) * 2)}' (HEADER)",
                [rid, scheme, segment])
            out.say(f"Exported to {dest}")
            out.record("exported", dest)
            return
        rows = ws.sql("SELECT segment, CASE WHEN name <> segment THEN name END, n_customers, share "
                      "FROM segment_profiles WHERE run_id = ? AND scheme = ? ORDER BY n_customers DESC", [rid, scheme])
        out.table("segments", ["segment", "name", "customers", "share"], rows, title=f"run {rid}: {scheme}",
                  formats={"customers": ",", "share": ".1%"})


@app.command()
@handles_errors
def schemes():
    """List the segment schemes (the registry): name, whether the default config runs it, what it does."""
    from .config import load_config
    from .segment._registry import get, names

    on = load_config()["segments.schemes"]
    out.table("schemes", ["scheme", "default", "what it does"],
              [(n, "yes" if n in on else "no", get(n).doc) for n in names()], title="segment schemes")


@app.command()
@handles_errors
def classify(
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV of customer_id,label (else [segments.classify] labels or rules)."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose features to use (default: the latest)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
):
    """Learn predefined groups from labelled customers (or rules) and place the rest (scheme 'group')."""
    from .segment.classify import classify_groups

    with _open() as ws:
        rid = run_id or ws.latest_run_id()
        if rid is None:
            raise ShopsegError("No run yet.", hint="Run `shopseg segment` (or `shopseg run`) first.")
        as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = ?", [rid])
        with ws.transaction():
            res = classify_groups(ws, rid, as_of, _load_config(config), labels=str(labels) if labels else None)
    out.record("classify", {k: v for k, v in res.items() if k != "groups"})
    if "note" in res:
        out.say(res["note"])
        return
    out.table("groups", ["group", "customers"], res["groups"].items(),
              title=f"run {rid}: groups ({res['model']}, from {res['source']})", formats={"customers": ","})
    acc = res["cv_accuracy"]
    out.say(f"labelled {res['labelled']:,}, placed {res['placed']:,}; cross-validated accuracy "
            f"{'n/a' if acc is None else f'{acc:.3f}'} ({res['cv_folds']} folds)")
    for rule in res["rules"] or []:
        out.say(f"  {rule}")


@app.command()
@handles_errors
def diff(
    run_a: int = typer.Argument(..., help="Earlier run."),
    run_b: int = typer.Argument(..., help="Later run."),
    scheme: str = typer.Option("lifecycle", "--scheme", "-s", help="Segment scheme (`shopseg schemes` lists them)."),
):
    """Migration matrix between two runs: customers per (segment in RUN_A, segment in RUN_B)."""
    from .segment import migration

    with _open(create=False, read_only=True) as ws:
        m = migration(ws, run_a, run_b, scheme)
    cols = [f"run {run_a} \\ run {run_b}", *map(str, m.columns)]
    out.table("migration", cols, [(str(seg), *row) for seg, row in m.iterrows()], title=f"{scheme} migration",
              formats=dict.fromkeys(cols[1:], ","))


@app.command()
@handles_errors
def history(scheme: str = typer.Option("rfm", "--scheme", "-s", help="Segment scheme (`shopseg schemes` lists them).")):
    """Segment sizes over runs."""
    from .segment import segment_history

    with _open(create=False, read_only=True) as ws:
        h = segment_history(ws, scheme)
    p = h.pivot_table(index="segment", columns="run_id", values="n_customers", fill_value=0)
    cols = ["segment", *(f"run {c}" for c in p.columns)]
    out.table("history", cols, [(str(seg), *(int(v) for v in row)) for seg, row in p.iterrows()],
              title=f"{scheme} sizes", formats=dict.fromkeys(cols[1:], ","))


@app.command("rules")
@handles_errors
def rules_cmd(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Use sale orders up to this date (default: the last order's day)."),
    min_support: Optional[float] = typer.Option(None, "--min-support", help="Share of baskets, in (0, 1]."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", help="In [0, 1]."),
    min_lift: Optional[float] = typer.Option(None, "--min-lift", help=">= 0 (1 keeps positive associations)."),
    max_len: Optional[int] = typer.Option(None, "--max-len", help="Items per rule, both sides."),
    with_items: Optional[list[str]] = typer.Option(None, "--with", help="Antecedent holds this product id (repeatable): what goes with X?"),
    to_items: Optional[list[str]] = typer.Option(None, "--to", help="Consequent is this product id (repeatable)."),
    unit: Optional[str] = typer.Option(None, "--unit", help="order or customer."),
    segments: Optional[str] = typer.Option(None, "--segments", help="Mine within each segment of this scheme."),
    keep_redundant: bool = typer.Option(False, "--keep-redundant", help="Keep rules a more general rule covers."),
    algorithm: Optional[str] = typer.Option(None, "--algorithm", help="eclat, fpgrowth or apriori (same result)."),
    top: int = typer.Option(20, "--top", help="Rules to print."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write every rule to this CSV."),
):
    """Association rules (arules' convention), overall or per segment, sorted by lift."""
    from .basket import association_rules, segment_rules
    from .pipeline import default_as_of, parse_as_of

    with _open(create=False) as ws:
        when = parse_as_of(as_of) if as_of else default_as_of(ws)
        kw = dict(as_of=when, min_support=min_support, min_confidence=min_confidence, min_lift=min_lift,
                  max_len=max_len, antecedent_items=with_items or None, consequent_items=to_items or None,
                  unit=unit, algorithm=algorithm, prune_redundant=False if keep_redundant else None)
        df = segment_rules(ws, scheme=segments, **kw) if segments else association_rules(ws, **kw)
        hint = _no_rules_hint(ws, [*(with_items or []), *(to_items or [])]) if df.empty else None
    if output:
        from .act.export import csv_safe

        df.map(csv_safe).to_csv(output, index=False)  # product names as text, never a formula
    cols = [c for c in ("scope", "antecedent_names", "consequent_name", "support", "confidence", "lift") if c in df.columns]
    out.table("rules", cols, df.head(top)[cols].itertuples(index=False),
              title=f"{len(df):,} rules" + (f" (top {top} by lift)" if len(df) > top else ""),
              formats=dict.fromkeys(("support", "confidence", "lift"), ".4f"))
    out.record("n_rules", len(df))
    if hint:
        err_console.print(f"[yellow]Hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def _no_rules_hint(ws, ids: list[str]) -> str:
    """Why a rules query about ``ids`` found nothing: an unknown id (with its near spellings) or the thresholds."""
    if not ids:
        return "No rule passes the thresholds: lower --min-support, --min-confidence or --min-lift."
    parts = []
    for pid in ids:
        known = ws.scalar("SELECT count(*) FROM products WHERE product_id = ?", [pid])
        near = [r[0] for r in ws.sql("SELECT product_id FROM products WHERE lower(product_id) = lower(?) "
                                     "AND product_id <> ? ORDER BY 1 LIMIT 3", [pid, pid])]
        if not known:
            parts.append(f"no product {pid!r}" + (f" (did you mean {', '.join(map(repr, near))}?)" if near else ""))
        elif near:
            parts.append(f"{pid!r} and {', '.join(map(repr, near))} are different products in this shop")
    return ("; ".join(parts) + ". " if parts else "") + (
        "No rule passes the thresholds with these products: lower --min-confidence (a rule from a popular "
        "product rarely reaches 0.25) or --min-support.")


@app.command()
@handles_errors
def reviews(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Only reviews written on or before this date (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings ([reviews])."),
    seed: int = typer.Option(0, help="Random seed (topics)."),
):
    """Analyse reviews (sentiment, aspects, topics, mentions) as a run of the reviews stage; print a summary."""
    with _open() as ws:
        result = _run_stage(ws, "reviews", as_of, _load_config(config), seed=seed)
        df = ws.df("SELECT language, sentiment_mode, count(*) AS n, round(avg(sentiment), 3) AS avg_sentiment "
                   "FROM review_insights WHERE run_id = ? GROUP BY ALL ORDER BY n DESC", [result.run_id])
        out.table("reviews", list(df.columns), df.itertuples(index=False), title="Reviews by language")


predict_app = typer.Typer(help="Predictions: customer lifetime value and churn risk.", no_args_is_help=True)
app.add_typer(predict_app, name="predict")


@predict_app.command("clv")
@handles_errors
def predict_clv(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the prediction is made at (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    model: Optional[str] = typer.Option(None, "--model", help="bgnbd or paretonbd (default clv.model)."),
    horizon_days: Optional[float] = typer.Option(None, "--horizon-days", help="Days ahead for expected purchases and CLV."),
    discount_rate: Optional[float] = typer.Option(None, "--discount-rate", help="Yearly discount rate."),
    top: int = typer.Option(10, help="Show the customers with the highest CLV."),
):
    """Fit BG/NBD (or Pareto/NBD) + Gamma-Gamma and write table clv for a new run."""
    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days,
                              "discount_rate_annual": discount_rate}.items() if v is not None}
    cfg = _load_config(config, overrides={"clv": over} if over else None)
    with _open() as ws:
        result = _run_stage(ws, "clv", as_of, cfg)
        rows = ws.sql("SELECT customer_id, round(p_alive, 3), round(expected_purchases_horizon, 2), "
                      "round(clv, 2), expected_next_order_at FROM clv WHERE run_id = ? "
                      "ORDER BY clv DESC LIMIT ?", [result.run_id, top])
        out.table("clv", ["customer_id", "p_alive", "purchases (horizon)", "clv", "next order"], rows)


@predict_app.command("churn")
@handles_errors
def predict_churn(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the prediction is made at (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    model: Optional[str] = typer.Option(None, "--model", help="lightgbm, logistic, decision_tree, random_forest or linear_svm (default churn.model)."),
    horizon_days: Optional[int] = typer.Option(None, "--horizon-days", help="Days without an order that count as churn (0: derived from purchase gaps)."),
    top: int = typer.Option(10, help="Show the customers most likely to churn."),
):
    """Fit, validate and calibrate the churn model; write churn_scores and model_reports for a new run."""
    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days}.items() if v is not None}
    cfg = _load_config(config, overrides={"churn": over} if over else None)
    with _open() as ws:
        result = _run_stage(ws, "churn", as_of, cfg)
        if result.stages.get("churn", {}).get("status") != "done" or not ws.has_table("model_reports"):
            return  # skipped: the run's line above says why (too few customers, one class ...)
        out.table("validation", ["model", "metric", "value"], ws.sql(
            "SELECT model, metric, round(value, 3) FROM model_reports WHERE run_id = ? AND metric IN "
            "('roc_auc','pr_auc','brier','lift_top_decile','gains_top_20') ORDER BY model, metric",
            [result.run_id]), title="validation window (as_of - horizon)")
        out.table("churn", ["customer_id", "probability", "tier", "reason_1", "reason_2", "reason_3"], ws.sql(
            "SELECT customer_id, round(probability, 3), tier, reason_1, reason_2, reason_3 FROM churn_scores "
            "WHERE run_id = ? ORDER BY probability DESC, customer_id LIMIT ?", [result.run_id, top]))


@app.command("customer")
@handles_errors
def customer(
    customer_id: str = typer.Argument(..., help="The customer's id."),
):
    """Show one customer as of the latest run: segments, interests, churn risk and reasons, lifetime value."""
    card: dict = {"customer_id": customer_id}
    with _open(create=False, read_only=True) as ws:
        if not ws.scalar("SELECT count(*) FROM customers WHERE customer_id = ?", [customer_id]):
            raise ShopsegError(f"No customer {customer_id!r} in the workspace.")
        from .predict.explain import customer_status

        card["status"] = customer_status(ws, customer_id)
        if ws.has_table("segments"):
            card["segments"] = dict(ws.sql("SELECT scheme, segment FROM segments WHERE customer_id = ? AND run_id = "
                                           "(SELECT max(run_id) FROM segments) ORDER BY scheme", [customer_id]))
            from .views import customer_interests

            card["interests"] = customer_interests(ws, customer_id, ws.scalar("SELECT max(run_id) FROM segments"))
        if ws.has_table("churn_scores"):
            r = ws.con.execute("SELECT probability, tier, reason_1, reason_2, reason_3, model FROM churn_scores "
                               "WHERE customer_id = ? AND run_id = (SELECT max(run_id) FROM churn_scores)",
                               [customer_id]).fetchall()
            card["churn"] = r and {"probability": r[0][0], "tier": r[0][1], "model": r[0][5],
                                   "reasons": [x for x in r[0][2:5] if x]} or None
        if ws.has_table("clv"):
            r = ws.con.execute("SELECT p_alive, clv, expected_next_order_at FROM clv WHERE customer_id = ? AND "
                               "run_id = (SELECT max(run_id) FROM clv)", [customer_id]).fetchall()
            card["clv"] = r and {"p_alive": r[0][0], "clv": r[0][1], "expected_next_order_at": r[0][2]} or None
    out.record("customer", card)
    if out.out.json:
        return
    console.print(f"[bold]{escape(customer_id)}[/]", highlight=False)
    if card["status"]:
        console.print(f"  {card['status']}", highlight=False, markup=False)
    for scheme, seg in card.get("segments", {}).items():
        console.print(f"  {scheme:<11} {seg}", highlight=False, markup=False)
    if card.get("interests"):
        console.print("  interests   " + "; ".join(f"{i['name']} ({i['lift']:.1f}x the shop)"
                                                   for i in card["interests"]),
                      highlight=False, markup=False, soft_wrap=True)
    if "churn" in card:
        c = card["churn"]
        if c:
            console.print(f"  churn risk  {_fmt(c['probability'], '.0%')} ({c['tier']}, {c['model']})",
                          highlight=False, markup=False)
            for reason in c["reasons"]:
                console.print(f"    - {reason}", highlight=False, markup=False)
        else:
            console.print("  churn risk  not scored (no sale order before the run)", highlight=False)
    if card.get("clv"):
        c = card["clv"]
        console.print(f"  P(alive)    {_fmt(c['p_alive'], '.2f')}\n  CLV         {_fmt(c['clv'], ',.2f')}\n"
                      f"  next order  {c['expected_next_order_at'] or 'not expected'}", highlight=False)


@app.command("plan")
@handles_errors
def plan_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose actions to summarise (default: the latest)."),
):
    """Treatment and control counts, cost and expected incremental value per campaign of a run's actions."""
    from .act import plan_summary, plan_totals, priors_note

    with _open(create=False) as ws:
        if run_id is None and (not ws.has_table("actions") or ws.scalar("SELECT max(run_id) FROM actions") is None):
            out.say("No campaign planned yet: no run's act stage chose a customer (the run's summary "
                    "and `shopseg report` say why).")
            out.record("plan", [])
            return
        df = plan_summary(ws, run_id)
    if df.empty:
        out.say(f"Run {df.attrs['run_id']} planned no actions: no customer's expected value was above "
                "act.min_expected_value.")
        out.record("plan", [])
        return
    tot = plan_totals(df)
    cols = ["campaign", "channel", "treatment", "control", "cost", "incremental value", "expected value", "ROI",
            "uplift"]
    rows = [(r.campaign, r.channel, r.treatment, r.control, r.cost, r.incremental_value, r.expected_value,
             r.expected_roi, r.uplift) for r in df.itertuples(index=False)]
    rows.append(("total", None, tot["treatment"], tot["control"], tot["cost"], tot["incremental_value"],
                 tot["expected_value"], tot["expected_roi"], None))
    money = dict.fromkeys(["cost", "incremental value", "expected value", "ROI"], ",.2f")
    out.table("plan", cols, rows, title=f"Plan of run {df.attrs['run_id']}", sections=[len(rows) - 1],
              formats={"treatment": ",", "control": ",", **money, "uplift": ".2%"})
    note = priors_note(df)
    if note:
        out.say(note)


@app.command("measure")
@handles_errors
def measure_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose actions to measure (default: the latest)."),
    responses: Optional[Path] = typer.Option(None, "--responses", help="CSV or Parquet with customer_id, responded[, revenue][, campaign]; default: orders after the run's as_of."),
    window_days: Optional[int] = typer.Option(None, "--window-days", help="Days after as_of that count (default act.response_window_days)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    by_segment: bool = typer.Option(False, "--by-segment", help="Also show each segment and offer variant."),
):
    """Measured uplift per campaign: response rates of treatment and control, interval, incremental revenue, ROI."""
    from .act import measure

    with _open(create=False) as ws:
        df = measure(ws, run_id, responses=responses, window_days=window_days, config=_load_config(config))
    if not by_segment:
        df = df[(df["segment"] == "all") & (df["variant"] == "all")]
    cols = ["campaign", "segment", "variant", "treated", "control", "rate T", "rate C", "uplift", "uplift low",
            "uplift high", "incremental revenue", "ROI"]

    def controlled(r, v):  # no control group: no rate, uplift or revenue to show
        return None if r.n_control == 0 else v

    rows = [(r.campaign, r.segment, r.variant, r.n_treatment, r.n_control, r.rate_treatment,
             controlled(r, r.rate_control), controlled(r, r.uplift), controlled(r, r.uplift_low),
             controlled(r, r.uplift_high), controlled(r, r.incremental_revenue), r.roi)
            for r in df.itertuples(index=False)]
    out.table("measure", cols, rows,
              title=f"Uplift ({df['ci_method'].iloc[0]}, {df['confidence_level'].iloc[0]:.0%})",
              formats={"treated": ",", "control": ",", "rate T": ".1%", "rate C": ".1%", "uplift": "+.1%",
                       "uplift low": "+.1%", "uplift high": "+.1%", "incremental revenue": ",.2f", "ROI": ".2f"})


@app.command("export")
@handles_errors
def export_cmd(
    campaign: str = typer.Argument(..., help="Campaign name (see `shopseg plan`)."),
    format: str = typer.Option("csv", "--format", help="csv or parquet."),
    include_pii: bool = typer.Option(False, "--include-pii", help="Also write raw e-mail, phone (E.164) and name."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run (default: the latest with actions)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Write the upload file of meta, google (hashed "
                                           "identifiers), klaviyo or mailchimp (raw contacts: needs --include-pii)."),
):
    """Write a campaign's audience (treatment only, never the control group) with SHA-256 hashed e-mail and phone."""
    from .act import export_audience

    with _open(create=False) as ws:
        path = export_audience(ws, campaign, format=format, run_id=run_id, include_pii=include_pii,
                               config=_load_config(config), platform=platform)
        n = ws.scalar(f"SELECT count(*) FROM read_{'csv_auto' if format == 'csv' else 'parquet'}(?)", [str(path)])
    out.say(f"{n:,} customers -> {path}")
    out.record("export", {"customers": n, "path": path})


@app.command("recommend")
@handles_errors
def recommend_cmd(
    customer_id: str = typer.Argument(..., help="The customer."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run (default: the latest with recommendations)."),
):
    """A customer's stored recommendations, best first: product names, repeat or new, and why."""
    from .recommend import recommendations_for

    with _open(create=False) as ws:
        df = recommendations_for(ws, customer_id, run_id)
    why = ["kind", "reason"] if "reason" in df else []
    cols = ["rank", "name", "product", "category", "score", "source", *why]
    out.table("recommendations", cols,
              [(r.rank, r.name, r.product_id, r.category, r.score, r.source, *([r.kind, r.reason] if why else []))
               for r in df.itertuples(index=False)],
              title=f"Recommendations for {customer_id}", formats={"score": ".4f"})


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
):
    """Serve the REST API (docs at /docs) and the live dashboard over the workspace."""
    from .serve import serve as run_server
    from .workspace import default_path

    run_server(state.workspace or default_path(), host=host, port=port, read_key=read_key, write_key=write_key,
               online_rows=online_rows)


def hoist_workspace(args: list[str]) -> list[str]:
    """``args`` with a ``--workspace``/``-w`` given after the command moved before it, where the option lives
    (``shopseg summary --workspace X`` said "No such option").

    >>> hoist_workspace(["summary", "--workspace", "ws"])
    ['--workspace', 'ws', 'summary']
    >>> hoist_workspace(["sql", "--workspace=ws", "SELECT 1"])
    ['--workspace=ws', 'sql', 'SELECT 1']
    >>> hoist_workspace(["-w", "ws", "summary"])
    ['-w', 'ws', 'summary']
    """
    args = list(args)
    command = next((i for i, a in enumerate(args) if not a.startswith("-")), None)  # (a value before it: none)
    if command is None:
        return args
    for i in range(command + 1, len(args)):
        if args[i] in ("--workspace", "-w") and i + 1 < len(args):
            return [args[i], args[i + 1], *args[:i], *args[i + 2:]]
        if args[i].startswith("--workspace="):
            return [args[i], *args[:i], *args[i + 1:]]
    return args


def main() -> None:  # console-script entry point
    app(args=out.hoist_flags(hoist_workspace(sys.argv[1:])), prog_name="shopseg")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def cli_markdown() -> str:
    """``docs/cli.md``, written from the commands' own help (a test keeps them in step)."""
    import click

    group = typer.main.get_command(app)
    out = ["# Command line", "",
           "Generated from the commands' help (`python -c 'from shopseg.cli import cli_markdown as m; print(m(), end=\"\")'"
           " > docs/cli.md`); `tests/test_docs.py` fails when the two disagree. Every command takes the global",
           "option `--workspace PATH` / `-w` (or `SHOPSEG_WORKSPACE`; default `./shopseg-workspace`), before or after "
           "its name.",
           "Errors print a message and a hint and exit with code 2.", "",
           "Global flags, before or after the command's name:", "",
           "- `--json`: the command's data as one JSON document on stdout (each table a list of objects with the "
           "table's values, unformatted: a share printed `12.3%` is `0.123`); messages go to stderr. "
           "`shopseg sql --json` is `--format json`.",
           "- `-q` / `--quiet`: results and errors only (no notes, no progress bar; a run prints its first line).",
           "- `-v` / `--verbose`: details on stderr: the config file used, each stage's time, how a file was read.",
           "",
           "Settings: `--config FILE` where a command takes it; without it, `shopseg.toml` in the workspace folder, "
           "else `shopseg.toml` in the current folder, else the defaults (docs/config.md). The first found is used "
           "whole (files are not merged); `-v` says which.",
           "",
           "Shell completion: `shopseg --install-completion` installs it for the current shell (bash, zsh, fish, "
           "PowerShell); `shopseg --show-completion` prints the script to install by hand.", ""]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        out += [f"## `shopseg {name}`", "", (cmd.help or "").strip().split("\n")[0], ""]
        rows = []
        for p in cmd.params:
            if isinstance(p, click.Argument):
                rows.append(f"| `{p.name.upper()}` | argument | {getattr(p, 'help', '') or ''} |")
            elif p.name != "help":
                opts = " / ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
                default = "" if p.default in (None, False, ()) or p.required else f" (default: `{p.default}`)"
                rows.append(f"| {opts} | option | {(p.help or '').replace('|', '/')}{default} |")
        if rows:
            out += ["| name | kind | meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(out)
