"""The ``shopseg`` command line: parse, call one library function, format the result.

No business logic here: every command is a thin wrapper over the Python API.
"""

from __future__ import annotations

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
    """Translate shopseg's exception tree into a short message, a hint and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ShopsegError as e:
            _fail(e)

    return wrapper


def _open(create: bool = True, read_only: bool = False):
    from .workspace import open_workspace

    return open_workspace(state.workspace, create=create, read_only=read_only)


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
):
    """Load one file into the workspace: accepted, quarantined (with reasons) or duplicate, all counted."""
    from .ingest import ingest as do_ingest

    with _open() as ws:
        with console.status(f"Ingesting {path} ..."):
            result = do_ingest(ws, path, table=table, preset=preset, mapping=mapping,
                               delimiter=delimiter, encoding=encoding, header=header)
    results = result if isinstance(result, list) else [result]
    if as_json:
        console.print_json(json.dumps([r.__dict__ for r in results], default=str))
    else:
        for r in results:
            console.print(r.describe(), highlight=False, soft_wrap=True)


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
def sql(query: str = typer.Argument(..., help="A SQL query over the workspace (read-only).")):
    """Run a read-only SQL query over the workspace and print the result."""
    import duckdb

    with _open(create=False, read_only=True) as ws:
        try:
            cur = ws.con.execute(query)
        except duckdb.Error as e:
            raise ShopsegError(f"SQL error: {e}") from None
        cols = [d[0] for d in cur.description or []]
        t = Table(*cols)
        for r in cur.fetchmany(1000):
            t.add_row(*("" if v is None else str(v) for v in r))
        console.print(t)


@app.command()
@handles_errors
def run(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the run describes (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    seed: int = typer.Option(0, help="Random seed for every stage."),
    stage: Optional[list[str]] = typer.Option(None, "--stage", help="Run only these stages (repeatable)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write the HTML report at the end."),
):
    """Run every stage for one as-of date (features, segments, predictions, baskets, reviews, actions)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .config import load_config
    from .pipeline import STAGES, run_pipeline

    cfg = load_config(config)
    with _open() as ws:
        from . import stages as _stages  # noqa: F401

        names = list(stage) if stage else [s.name for s in STAGES]
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task("run", total=len(names))

            def progress(name: str, status: str) -> None:
                if status == "start":
                    bar.update(task, description=f"stage {name}")
                else:
                    bar.advance(task)

            result = run_pipeline(ws, as_of, config=cfg, seed=seed, stages=stage, progress=progress)
        console.print(result.describe(), highlight=False, soft_wrap=True)
        if report:
            from .report import build_report

            path = build_report(ws, result.run_id)
            console.print(f"Report: {path}", highlight=False, soft_wrap=True)


@app.command("report")
@handles_errors
def report_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run to report (default: the latest)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write the HTML file."),
):
    """Write the self-contained HTML report of a run (works offline) and print its path."""
    from .report import build_report

    with _open(create=False) as ws:
        path = build_report(ws, run_id, output)
    console.print(f"Report: {path}", highlight=False, soft_wrap=True)


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
    algorithm: Optional[str] = typer.Option(None, "--algorithm", help="fpgrowth or apriori."),
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
    if output:
        df.to_csv(output, index=False)
    cols = [c for c in ("scope", "antecedent_names", "consequent_name", "support", "confidence", "lift") if c in df.columns]
    t = Table(*cols, title=f"{len(df):,} rules" + (f" (top {top} by lift)" if len(df) > top else ""))
    for rec in df.head(top)[cols].itertuples(index=False):
        t.add_row(*(f"{v:.4f}" if isinstance(v, float) else ", ".join(map(str, v)) if isinstance(v, (list, tuple))
                    else str(v) for v in rec))
    console.print(t)


@app.command()
@handles_errors
def reviews(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Only reviews written on or before this date (default: the last order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings ([reviews])."),
    seed: int = typer.Option(0, help="Random seed (topics)."),
):
    """Analyse reviews (sentiment, aspects, topics, mentions) as a run of the reviews stage; print a summary."""
    from .config import load_config
    from .pipeline import run_pipeline

    with _open() as ws:
        result = run_pipeline(ws, as_of, config=load_config(config), seed=seed, stages=["reviews"])
        console.print(result.describe(), highlight=False, soft_wrap=True)
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
    from .pipeline import run_pipeline

    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days,
                              "discount_rate_annual": discount_rate}.items() if v is not None}
    cfg = load_config(config, overrides={"clv": over} if over else None)
    with _open() as ws:
        result = run_pipeline(ws, as_of, config=cfg, stages=["clv"])
        console.print(result.describe(), highlight=False, soft_wrap=True)
        rows = ws.sql("SELECT customer_id, round(p_alive, 3), round(expected_purchases_horizon, 2), "
                      "round(clv, 2), expected_next_order_at FROM clv WHERE run_id = ? "
                      "ORDER BY clv DESC LIMIT ?", [result.run_id, top])
        t = Table("customer_id", "p_alive", "purchases (horizon)", "clv", "next order")
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        console.print(t)


def main() -> None:  # console-script entry point
    app()


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
