"""Commands that bring data in and look at it: ingest, synth, presets, summary, quarantine, sql, forget, secret."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .. import _cli_out as out
from .._cli_out import console, err_console
from ..errors import ShopsegError, human_bytes
from ._common import _load_config, _open, app, handles_errors, state


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
    from ..errors import IngestError
    from ..ingest import ingest as do_ingest
    from ..ingest import propose_mapping

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
            from ..progress import listening

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
    from ..synth import synthesize

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
    from ..ingest import PRESETS

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

    from ..errors import ConfigError

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
def forget(
    customer_ids: list[str] = typer.Argument(..., help="Customer ids to forget."),
):
    """Remove customers from every table, export, report and model file; later ingests quarantine them."""
    from ..trust.forget import forget as do_forget

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

    from ..errors import WorkspaceError
    from ..trust.pii import KEY_ENV, move_secret_out, secret_path

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
