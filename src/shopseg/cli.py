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
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import ShopsegError

app = typer.Typer(
    name="shopseg",
    help="Turn a web shop's raw data into customer segments, predictions and targeted marketing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class _State:
    workspace: Optional[Path] = None


state = _State()


def _fail(e: ShopsegError) -> None:
    err_console.print(f"[bold red]Error:[/] {e.message}", highlight=False, soft_wrap=True)
    if e.hint:
        err_console.print(f"[yellow]Hint:[/] {e.hint}", highlight=False, soft_wrap=True)
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
            return fn(*args, **kwargs)
        except ShopsegError as e:
            _fail(e)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as e:
            if os.environ.get("SHOPSEG_DEBUG"):
                raise
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
                    err_console.print(f"[yellow]Note:[/] {msg}", highlight=False, soft_wrap=True)


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
    console.print(result.describe(), highlight=False, soft_wrap=True)
    return result


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
):
    """shopseg: customer segments and targeted marketing from a shop's exports."""
    state.workspace = workspace


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
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Optional[Path] = typer.Option(None, "--config", "-c",
        help="TOML file overriding default settings (e.g. [privacy] pii = \"hash\")."),
    date_format: Optional[str] = typer.Option(None, "--date-format",
        help="strptime format of every date column, e.g. \"%d/%m/%Y %H:%M\" (default: ISO, or m/d/Y or d/m/Y "
             "where the data decide)."),
):
    """Load one file into the workspace: accepted, quarantined (with reasons) or duplicate, all counted."""
    from .config import load_config
    from .ingest import ingest as do_ingest

    with _open() as ws:
        with console.status(f"Ingesting {path} ..."):
            result = do_ingest(ws, path, table=table, preset=preset, mapping=mapping,
                               delimiter=delimiter, encoding=encoding, header=header, config=load_config(config),
                               date_format=date_format)
    results = result if isinstance(result, list) else [result]
    if as_json:
        console.print_json(json.dumps([r.__dict__ for r in results], default=str))
    else:
        for r in results:
            console.print(r.describe(), highlight=False, soft_wrap=True)


@app.command()
@handles_errors
def synth(
    customers: Optional[int] = typer.Option(None, "--customers", help="Customers to generate (default: synth.customers, 20000)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives identical tables (default 42)."),
    as_of: str = typer.Option("2024-12-31", "--as-of", help="Date the history ends (exclusive), YYYY-MM-DD."),
    replace: bool = typer.Option(False, "--replace", help="Empty the canonical tables first."),
    repurchase: bool = typer.Option(False, "--repurchase",
                                    help="Plant a staple consumable per customer, re-bought every cycle "
                                         "(table ground_truth_repurchase)."),
):
    """Generate a demo shop with planted ground truth (personas, future orders, planted rules) into the workspace."""
    from .config import load_config
    from .synth import synthesize

    cfg = load_config()
    with _open() as ws:
        with console.status(f"Generating {customers or cfg['synth.customers']:,} customers ..."):
            s = synthesize(ws, customers=customers or cfg["synth.customers"],
                           seed=cfg["synth.seed"] if seed is None else seed, as_of=as_of,
                           history_days=cfg["synth.history_days"], horizon_days=cfg["synth.horizon_days"],
                           replace=replace, repurchase=repurchase)
    t = Table("table", "rows", title=f"Demo shop in {ws.path}")
    for k in ("customers", "products", "orders", "order_lines", "events", "reviews", "ground_truth"):
        t.add_row(k, f"{s[k]:,}")
    console.print(t)


@app.command()
def presets():
    """List the presets for well-known public export formats."""
    from .ingest import PRESETS

    t = Table("preset", "what it reads", show_lines=True)
    for p in PRESETS.values():
        t.add_row(p.name, p.doc)
    console.print(t)


@app.command()
@handles_errors
def summary():
    """Row counts of the workspace's tables and the latest ingests."""
    with _open(create=False, read_only=True) as ws:
        t = Table("table", "rows", title=f"Workspace {ws.path}")
        for name, n in ws.summary().items():
            t.add_row(name, f"{n:,}")
        t.add_row("quarantine", f"{ws.count('quarantine'):,}")
        console.print(t)
        log = ws.sql("SELECT ingest_id, source, coalesce(preset, ''), n_input, n_accepted, n_quarantined, "
                     "n_duplicate FROM ingest_log ORDER BY ingest_id DESC LIMIT 10")
        if log:
            lt = Table("ingest", "source", "preset", "input", "accepted", "quarantined", "duplicate",
                       title="Latest ingests")
            for r in log:
                lt.add_row(str(r[0]), str(r[1]), r[2], *(f"{x:,}" for x in r[3:]))
            console.print(lt)


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
        t = Table("ingest", "file", "row", "reason")
        for r in rows:
            t.add_row(str(r[0]), str(r[1]), str(r[2]), str(r[3]))
        console.print(t)


@app.command()
@handles_errors
def sql(
    query: str = typer.Argument(..., help="A SQL query over the workspace (read-only)."),
    limit: int = typer.Option(1000, "--limit", min=0, help="Rows to print at most (0: all); a cut is said."),
    fmt: str = typer.Option("auto", "--format", help="table, csv or json (auto: a table on a terminal, "
                            "CSV into a pipe or a file)."),
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

    if fmt not in ("auto", "table", "csv", "json"):
        raise ConfigError(f"--format must be auto, table, csv or json. Got {fmt!r} instead.")
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
        except duckdb.Error as e:
            hint = None
            if not allow_files and "disabled by configuration" in str(e):
                hint = "shopseg sql reads the workspace only; add --allow-files to let the query read files."
            raise ShopsegError(f"SQL error: {e}", hint=hint) from None
    cut = limit and len(rows) > limit
    rows = rows[:limit] if cut else rows
    if fmt == "auto":
        fmt = "table" if sys.stdout.isatty() else "csv"
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(cols)
        w.writerows(["" if v is None else v for v in r] for r in rows)
        sys.stdout.flush()
    elif fmt == "json":
        print(json.dumps([dict(zip(cols, r)) for r in rows], default=str, ensure_ascii=False))
    else:
        t = Table(*cols)
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        console.print(t)
    if cut:
        err_console.print(f"(the first {limit:,} rows; the query has more: --limit 0 prints all)", highlight=False)


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

    from .config import load_config
    from .errors import ConfigError
    from .pipeline import STAGES, run_pipeline
    from .progress import listening

    if engine not in ("duckdb", "spark"):
        raise ConfigError(f"--engine must be duckdb or spark. Got {engine!r} instead.")
    cfg = load_config(config)
    with _open() as ws:
        from . import stages as _stages  # noqa: F401

        if engine == "spark":
            from .spark import run_spark

            if stage:
                raise ConfigError("--stage does not apply to --engine spark, which runs its own stages.",
                                  hint="See docs/scale.md for what the Spark engine runs.")
            with console.status(f"Spark ({master or 'local[2]'}): features, segments, baskets ..."):
                result = run_spark(ws, as_of, config=cfg, seed=seed, master=master)
            console.print(result.describe(), highlight=False, soft_wrap=True)
            if report:
                from .report import build_report

                console.print(f"Report: {build_report(ws, result.run_id)}", highlight=False, soft_wrap=True)
            return
        names = list(stage) if stage else [s.name for s in STAGES]
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
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
        console.print(result.describe(), highlight=False, soft_wrap=True)
        if report:
            from .report import build_report

            with _warnings_in_words():
                path = build_report(ws, result.run_id)
            console.print(f"Report: {path}", highlight=False, soft_wrap=True)


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
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
):
    """Write the self-contained HTML report of a run (works offline) and print its path."""
    from .config import load_config
    from .report import build_report

    if not shareable and (epsilon is not None or k_min is not None):
        raise ShopsegError("--epsilon and --k-min go with --shareable.", hint="Add --shareable.")
    with _open(create=False) as ws:
        if shareable:
            from .trust.dp import build_shareable_report

            path = build_shareable_report(ws, run_id, output, epsilon=epsilon, k_min=k_min, config=load_config(config))
        else:
            with _warnings_in_words():
                path = build_report(ws, run_id, output)
    console.print(f"Report: {path}", highlight=False, soft_wrap=True)


@app.command()
@handles_errors
def forget(
    customer_ids: list[str] = typer.Argument(..., help="Customer ids to forget."),
):
    """Remove customers from every table, export, report and model file; later ingests quarantine them."""
    from .trust.forget import forget as do_forget

    with _open(create=False) as ws:
        result = do_forget(ws, customer_ids)
    console.print(result.describe(), highlight=False, soft_wrap=True)


@app.command()
@handles_errors
def segment(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the run describes (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    seed: int = typer.Option(0, help="Random seed (sampling and K-means)."),
):
    """Compute customer features and every segment scheme (rfm, lifecycle, value_tier, cluster) as a new run."""
    from .config import load_config

    with _open() as ws:
        _run_stage(ws, "segments", as_of, load_config(config), seed=seed)


@app.command()
@handles_errors
def segments(
    scheme: str = typer.Option("rfm", "--scheme", "-s", help="rfm, lifecycle, value_tier or cluster."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run to show (default: the latest)."),
    segment: Optional[str] = typer.Option(None, "--segment", help="Export the customers of this segment."),
    export: Optional[Path] = typer.Option(None, "--export", help="CSV file for --segment's customer ids."),
):
    """Show the segments of a run (size, share, name), or export one segment's customers to CSV."""
    with _open(create=False, read_only=export is None) as ws:
        rid = run_id or (ws.scalar("SELECT max(run_id) FROM segment_profiles WHERE scheme = ?", [scheme])
                         if ws.has_table("segment_profiles") else None)
        if rid is None:
            raise ShopsegError(f"No segments of scheme {scheme!r} yet: no run has made them.",
                               hint="Run `shopseg run` (or `shopseg segment`) first.")
        if segment is not None:
            out = export or (ws.exports_dir / f"run{rid}_{scheme}_{segment.replace(' ', '_')}.csv")
            ws.con.execute(
                f"COPY (SELECT customer_id FROM segments WHERE run_id = ? AND scheme = ? AND segment = ? "
                f"ORDER BY customer_id) TO '{str(out).replace(chr(39), chr(39) * 2)}' (HEADER)",
                [rid, scheme, segment])
            console.print(f"Exported to {out}", highlight=False, soft_wrap=True)
            return
        rows = ws.sql("SELECT segment, name, n_customers, share FROM segment_profiles "
                      "WHERE run_id = ? AND scheme = ? ORDER BY n_customers DESC", [rid, scheme])
        t = Table("segment", "name", "customers", "share", title=f"run {rid}: {scheme}")
        for seg, name, n, share in rows:
            t.add_row(seg, name if name != seg else "", f"{n:,}", f"{share:.1%}")
        console.print(t)


@app.command()
@handles_errors
def classify(
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV of customer_id,label (else [segments.classify] labels or rules)."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose features to use (default: the latest)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
):
    """Learn predefined groups from labelled customers (or rules) and place the rest (scheme 'group')."""
    from .config import load_config
    from .segment.classify import classify_groups

    with _open() as ws:
        rid = run_id or ws.latest_run_id()
        if rid is None:
            raise ShopsegError("No run yet.", hint="Run `shopseg segment` (or `shopseg run`) first.")
        as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = ?", [rid])
        with ws.transaction():
            out = classify_groups(ws, rid, as_of, load_config(config), labels=str(labels) if labels else None)
    if "note" in out:
        console.print(out["note"], highlight=False, soft_wrap=True)
        return
    t = Table("group", "customers", title=f"run {rid}: groups ({out['model']}, from {out['source']})")
    for g, n in out["groups"].items():
        t.add_row(g, f"{n:,}")
    console.print(t)
    acc = out["cv_accuracy"]
    console.print(f"labelled {out['labelled']:,}, placed {out['placed']:,}; cross-validated accuracy "
                  f"{'n/a' if acc is None else f'{acc:.3f}'} ({out['cv_folds']} folds)", highlight=False)
    for rule in out["rules"] or []:
        console.print(f"  {rule}", highlight=False, soft_wrap=True)


@app.command()
@handles_errors
def diff(
    run_a: int = typer.Argument(..., help="Earlier run."),
    run_b: int = typer.Argument(..., help="Later run."),
    scheme: str = typer.Option("lifecycle", "--scheme", "-s", help="rfm, lifecycle, value_tier or cluster."),
):
    """Migration matrix between two runs: customers per (segment in RUN_A, segment in RUN_B)."""
    from .segment import migration

    with _open(create=False, read_only=True) as ws:
        m = migration(ws, run_a, run_b, scheme)
    t = Table(f"run {run_a} \\ run {run_b}", *map(str, m.columns), title=f"{scheme} migration")
    for seg, row in m.iterrows():
        t.add_row(str(seg), *(f"{v:,}" for v in row))
    console.print(t)


@app.command()
@handles_errors
def history(scheme: str = typer.Option("rfm", "--scheme", "-s", help="rfm, lifecycle, value_tier or cluster.")):
    """Segment sizes over runs."""
    from .segment import segment_history

    with _open(create=False, read_only=True) as ws:
        h = segment_history(ws, scheme)
    p = h.pivot_table(index="segment", columns="run_id", values="n_customers", fill_value=0)
    t = Table("segment", *(f"run {c}" for c in p.columns), title=f"{scheme} sizes")
    for seg, row in p.iterrows():
        t.add_row(str(seg), *(f"{int(v):,}" for v in row))
    console.print(t)


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
    t = Table(*cols, title=f"{len(df):,} rules" + (f" (top {top} by lift)" if len(df) > top else ""))
    for rec in df.head(top)[cols].itertuples(index=False):
        t.add_row(*(f"{v:.4f}" if isinstance(v, float) else ", ".join(map(str, v)) if isinstance(v, (list, tuple))
                    else str(v) for v in rec))
    console.print(t)
    if hint:
        err_console.print(f"[yellow]Hint:[/] {hint}", highlight=False, soft_wrap=True)


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
    from .config import load_config

    with _open() as ws:
        result = _run_stage(ws, "reviews", as_of, load_config(config), seed=seed)
        df = ws.df("SELECT language, sentiment_mode, count(*) AS n, round(avg(sentiment), 3) AS avg_sentiment "
                   "FROM review_insights WHERE run_id = ? GROUP BY ALL ORDER BY n DESC", [result.run_id])
        t = Table(*df.columns, title="Reviews by language")
        for rec in df.itertuples(index=False):
            t.add_row(*(str(v) for v in rec))
        console.print(t)


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
    from .config import load_config

    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days,
                              "discount_rate_annual": discount_rate}.items() if v is not None}
    cfg = load_config(config, overrides={"clv": over} if over else None)
    with _open() as ws:
        result = _run_stage(ws, "clv", as_of, cfg)
        rows = ws.sql("SELECT customer_id, round(p_alive, 3), round(expected_purchases_horizon, 2), "
                      "round(clv, 2), expected_next_order_at FROM clv WHERE run_id = ? "
                      "ORDER BY clv DESC LIMIT ?", [result.run_id, top])
        t = Table("customer_id", "p_alive", "purchases (horizon)", "clv", "next order")
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        console.print(t)


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
    from .config import load_config

    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days}.items() if v is not None}
    cfg = load_config(config, overrides={"churn": over} if over else None)
    with _open() as ws:
        result = _run_stage(ws, "churn", as_of, cfg)
        t = Table("model", "metric", "value", title="validation window (as_of - horizon)")
        for r in ws.sql("SELECT model, metric, round(value, 3) FROM model_reports WHERE run_id = ? AND metric IN "
                        "('roc_auc','pr_auc','brier','lift_top_decile','gains_top_20') ORDER BY model, metric",
                        [result.run_id]):
            t.add_row(*map(str, r))
        console.print(t)
        t = Table("customer_id", "probability", "tier", "reason_1", "reason_2", "reason_3")
        for r in ws.sql("SELECT customer_id, round(probability, 3), tier, reason_1, reason_2, reason_3 FROM churn_scores "
                        "WHERE run_id = ? ORDER BY probability DESC, customer_id LIMIT ?", [result.run_id, top]):
            t.add_row(*map(str, r))
        console.print(t)


@app.command("customer")
@handles_errors
def customer(
    customer_id: str = typer.Argument(..., help="The customer's id."),
):
    """Show one customer as of the latest run: segments, churn risk and reasons, lifetime value."""
    with _open(create=False, read_only=True) as ws:
        if not ws.scalar("SELECT count(*) FROM customers WHERE customer_id = ?", [customer_id]):
            raise ShopsegError(f"No customer {customer_id!r} in the workspace.")
        console.print(f"[bold]{customer_id}[/]", highlight=False)
        from .predict.explain import customer_status

        status = customer_status(ws, customer_id)
        if status:
            console.print(f"  {status}", highlight=False, markup=False)
        if ws.has_table("segments"):
            for scheme, seg in ws.sql("SELECT scheme, segment FROM segments WHERE customer_id = ? AND run_id = "
                                      "(SELECT max(run_id) FROM segments) ORDER BY scheme", [customer_id]):
                console.print(f"  {scheme:<11} {seg}", highlight=False)
        if ws.has_table("churn_scores"):
            r = ws.con.execute("SELECT probability, tier, reason_1, reason_2, reason_3, model FROM churn_scores "
                               "WHERE customer_id = ? AND run_id = (SELECT max(run_id) FROM churn_scores)",
                               [customer_id]).fetchall()
            if r:
                p, tier, *reasons, model = r[0]
                console.print(f"  churn risk  {_fmt(p, '.0%')} ({tier}, {model})", highlight=False)
                for reason in reasons:
                    if reason:
                        console.print(f"    - {reason}", highlight=False)
            else:
                console.print("  churn risk  not scored (no sale order before the run)", highlight=False)
        if ws.has_table("clv"):
            r = ws.con.execute("SELECT p_alive, clv, expected_next_order_at FROM clv WHERE customer_id = ? AND "
                               "run_id = (SELECT max(run_id) FROM clv)", [customer_id]).fetchall()
            if r:
                console.print(f"  P(alive)    {_fmt(r[0][0], '.2f')}\n  CLV         {_fmt(r[0][1], ',.2f')}\n"
                              f"  next order  {r[0][2] or 'not expected'}", highlight=False)


@app.command("plan")
@handles_errors
def plan_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose actions to summarise (default: the latest)."),
):
    """Treatment and control counts, cost and expected incremental value per campaign of a run's actions."""
    from .act import plan_summary, plan_totals, priors_note

    with _open(create=False) as ws:
        if run_id is None and (not ws.has_table("actions") or ws.scalar("SELECT max(run_id) FROM actions") is None):
            console.print("No campaign planned yet: no run's act stage chose a customer (the run's summary "
                          "and `shopseg report` say why).", highlight=False, soft_wrap=True)
            return
        df = plan_summary(ws, run_id)
    if df.empty:
        console.print(f"Run {df.attrs['run_id']} planned no actions: no customer's expected value was above "
                      "act.min_expected_value.", highlight=False)
        return
    tot = plan_totals(df)
    t = Table("campaign", "channel", "treatment", "control", "cost", "incremental value", "expected value", "ROI",
              "uplift", title=f"Plan of run {df.attrs['run_id']}")

    def roi(x):
        return "" if x != x else f"{x:,.2f}"

    for r in df.itertuples(index=False):
        t.add_row(r.campaign, r.channel, f"{r.treatment:,}", f"{r.control:,}", _fmt(r.cost, ",.2f"),
                  _fmt(r.incremental_value, ",.2f"), _fmt(r.expected_value, ",.2f"), roi(r.expected_roi),
                  "" if r.uplift != r.uplift else f"{r.uplift:.2%}")
    t.add_section()
    t.add_row("total", "", f"{tot['treatment']:,}", f"{tot['control']:,}", f"{tot['cost']:,.2f}",
              f"{tot['incremental_value']:,.2f}", f"{tot['expected_value']:,.2f}", roi(tot["expected_roi"]), "")
    console.print(t)
    note = priors_note(df)
    if note:
        console.print(note, highlight=False, soft_wrap=True)


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
    from .config import load_config

    with _open(create=False) as ws:
        df = measure(ws, run_id, responses=responses, window_days=window_days, config=load_config(config))
    if not by_segment:
        df = df[(df["segment"] == "all") & (df["variant"] == "all")]
    t = Table("campaign", "segment", "variant", "treated", "control", "rate T", "rate C", "uplift", "interval",
              "incremental revenue", "ROI", title=f"Uplift ({df['ci_method'].iloc[0]}, {df['confidence_level'].iloc[0]:.0%})")
    for r in df.itertuples(index=False):
        t.add_row(r.campaign, r.segment, r.variant, f"{r.n_treatment:,}", f"{r.n_control:,}",
                  f"{r.rate_treatment:.1%}", "" if r.n_control == 0 else f"{r.rate_control:.1%}",
                  "" if r.n_control == 0 else f"{r.uplift:+.1%}",
                  "" if r.n_control == 0 else f"[{r.uplift_low:+.1%}, {r.uplift_high:+.1%}]",
                  "" if r.n_control == 0 else f"{r.incremental_revenue:,.2f}",
                  "" if r.roi != r.roi else f"{r.roi:.2f}")
    console.print(t)


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
    from .config import load_config

    with _open(create=False) as ws:
        path = export_audience(ws, campaign, format=format, run_id=run_id, include_pii=include_pii,
                               config=load_config(config), platform=platform)
        n = ws.scalar(f"SELECT count(*) FROM read_{'csv_auto' if format == 'csv' else 'parquet'}(?)", [str(path)])
    console.print(f"{n:,} customers -> {path}", highlight=False, soft_wrap=True)


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
    t = Table("rank", "name", "product", "category", "score", "source", *why, title=f"Recommendations for {customer_id}")
    for r in df.itertuples(index=False):
        t.add_row(str(r.rank), str(r.name or ""), str(r.product_id), str(r.category or ""), f"{r.score:.4f}", r.source,
                  *([r.kind, r.reason] if why else []))
    console.print(t)


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
    app(args=hoist_workspace(sys.argv[1:]), prog_name="shopseg")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def cli_markdown() -> str:
    """``docs/cli.md``, written from the commands' own help (a test keeps them in step)."""
    import click

    group = typer.main.get_command(app)
    out = ["# Command line", "",
           "Generated from the commands' help (`python -c 'from shopseg.cli import cli_markdown as m; print(m(), end=\"\")'"
           " > docs/cli.md`); `tests/test_docs.py` fails when the two disagree. Every command takes the global",
           "option `--workspace PATH` (or `SHOPSEG_WORKSPACE`; default `./shopseg-workspace`) before its name.",
           "Errors print a message and a hint and exit with code 2.", ""]
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
