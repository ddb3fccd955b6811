"""Ingestion: files (CSV, Parquet, JSON lines) into the canonical tables.

One ingest is one transaction: it either loads the whole file (accepted rows
into the tables, bad rows into ``quarantine``, duplicates counted) and writes
one ``ingest_log`` row, or it changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import Config, load_config
from ..errors import IngestError
from ..workspace import Workspace
from ._load import IngestResult, check_share, drop_temp, fate_counts, log_ingest, stage_and_check, top_reasons
from ._write import write_rows
from ._plan import Mapping, Plan, load_mapping, mapping_from_dict, plan_from_mapping
from ._propose import propose_mapping as _propose
from ._read import ReadOptions, read_source
from ..trust.pii import IngestPrivacy
from .presets import PRESETS, Preset, get_preset, recognise, recognise_folder
from ._platforms import apply_key_privacy  # after .presets, which it imports from

__all__ = ["ingest", "IngestResult", "Mapping", "load_mapping", "propose_mapping", "PRESETS", "Preset",
           "ReadOptions"]


def propose_mapping(path: str | os.PathLike, *, delimiter: str | None = None, encoding: str | None = None,
                    header: bool | None = None) -> str:
    """A mapping file (TOML text) for ``path``, each column's role guessed from its name and first values and
    commented with why; edit it and pass it back as ``ingest(..., mapping=FILE)``.  Reads the file only."""
    import duckdb

    con = duckdb.connect()
    try:
        info = read_source(con, Path(path), ReadOptions(delimiter=delimiter, encoding=encoding, header=header))
        return _propose(con, info.columns, str(path))
    finally:
        con.close()


def ingest(
    ws: Workspace,
    path,
    *,
    table: str | None = None,
    preset: str | None = None,
    mapping: str | os.PathLike | Mapping | dict | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    header: bool | None = None,
    config: Config | None = None,
    date_format: str | None = None,
) -> IngestResult | list[IngestResult]:
    """Load one file (or, with a preset that reads several files, a folder) into the workspace; all or nothing.

    ``table`` names the canonical table the file holds (else the mapping's
    ``table``, else guessed from the file name); ``preset`` reads a known public
    format; ``mapping`` (a TOML file) renames columns, gives date formats and
    splits a file into several tables.  Returns the counts, which always
    reconcile: ``n_input == n_accepted + n_quarantined + n_duplicate``.  For a
    folder, one result per file, in load order, all in one transaction.

    Dates read as ISO, or as ``m/d/Y`` or ``d/m/Y`` where the data decide which (a day above 12);
    ``date_format`` (a strptime format such as ``"%d/%m/%Y %H:%M"``) reads every date column of the
    file(s) that way instead, for a column the data leave ambiguous.

    ``path`` may also be a pandas DataFrame or an Arrow table (with ``table``, ``preset`` or ``mapping``):
    it is loaded as the Parquet file it would write, through the same checks.
    """
    if _is_frame(path):
        return _ingest_frame(ws, path, table=table, preset=preset, mapping=mapping, config=config,
                             date_format=date_format)
    if not isinstance(path, (str, os.PathLike)):
        raise IngestError(f"ingest takes a file or folder path, a pandas DataFrame or an Arrow table. Got "
                          f"{type(path).__name__} instead.")
    cfg = config or load_config()
    p = Path(path)
    pre = get_preset(preset) if preset else None
    if pre is not None and table is not None:
        raise IngestError(f"--table and --preset go separately: preset {pre.name!r} decides the tables itself.")
    if p.is_dir():
        pre = pre or recognise_folder(p)
        if pre is None or pre.files is None:
            raise IngestError(
                f"{p}: is a folder; give one file at a time.",
                hint="Only presets that read a set of files (" + ", ".join(
                    sorted(n for n, x in PRESETS.items() if x.files)) + ") take a folder.",
            )
        files = pre.files(p)
        with ws.transaction():
            results = []
            for f in files:
                try:
                    results.append(_ingest_one(ws, f, None, pre, None, delimiter, encoding, header, cfg,
                                               date_format))
                except IngestError as e:
                    # a file-by-file hint ("ingest the folder") is what was just done: say what to do instead
                    if e.hint and e.hint.lower().startswith("ingest the folder"):
                        done = ", ".join(f"{r.source.rsplit('/', 1)[-1]} ({r.n_accepted:,} rows accepted)"
                                         for r in results)
                        raise IngestError(
                            e.message, hint=f"The folder's files load in order; before this one: {done or 'none'}. "
                            "Check the file that should fill that table (run `shopseg ingest` on it alone to see "
                            "its quarantine reasons), then ingest the folder again.") from None
                    raise
            return results
    m: Mapping | None
    if mapping is None or isinstance(mapping, Mapping):
        m = mapping
    elif isinstance(mapping, dict):
        m = mapping_from_dict(mapping)
    else:
        m = load_mapping(mapping)
    with ws.transaction():
        return _ingest_one(ws, p, table, pre, m, delimiter, encoding, header, cfg, date_format)


def _is_frame(obj) -> bool:
    return type(obj).__module__.split(".")[0] in ("pandas", "pyarrow") and hasattr(obj, "columns")


def _ingest_frame(ws, frame, *, table, preset, mapping, config, date_format):
    """A DataFrame or Arrow table, written to a temporary Parquet file named after its table and ingested from
    there: the same checks, quarantine and log as a file (which name that temporary file); the same frame again
    is recognised by its SHA-256 and adds nothing."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    if table is None and preset is None and mapping is None:
        raise IngestError("A DataFrame has no file name to tell its table: give table= (e.g. table='orders'), "
                          "preset= or mapping=.")
    at = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / f"{table or 'dataframe'}.parquet"
        pq.write_table(at, f)
        return ingest(ws, f, table=table, preset=preset, mapping=mapping, config=config, date_format=date_format)


def _ingest_one(ws, p: Path, table, pre: Preset | None, m: Mapping | None, delimiter, encoding, header,
                cfg: Config, date_format: str | None = None) -> IngestResult:
    opts = pre.read(p) if pre and pre.read else ReadOptions()
    if m is not None:
        opts.format = m.format or opts.format
        opts.delimiter = m.delimiter or opts.delimiter
        opts.encoding = m.encoding or opts.encoding
        opts.header = m.header if m.header is not None else opts.header
    opts.delimiter = delimiter or opts.delimiter
    opts.encoding = encoding or opts.encoding
    opts.header = header if header is not None else opts.header
    opts.sample_size = cfg["ingest.csv_sample_size"]

    con = ws.con
    privacy = IngestPrivacy(ws, cfg)
    info = read_source(con, p, opts)
    recognised = None
    if pre is None and m is None and table is None:  # a known export is told by its header
        pre = recognise(info.columns)
        more = ", ..." if len(info.columns) > 4 else ""
        recognised = pre and f"the header (columns {', '.join(info.columns[:4])}{more})"
    try:
        plan: Plan = pre.build(info, p) if pre else plan_from_mapping(m or Mapping(), info.columns, table, p)
    except IngestError as e:
        if pre is None and m is None:  # a file nothing knows: the error carries a mapping to start from
            e.proposal = _propose(con, info.columns, str(p))
        raise
    plan = apply_key_privacy(plan, privacy)  # an e-mail used as customer_id is pseudonymised like the e-mail
    ingest_id = ws.next_id("ingest_log", "ingest_id")
    earlier = ws.scalar(
        "SELECT min(ingest_id) FROM ingest_log WHERE source_sha256 = ? AND target = ? "
        "AND preset IS NOT DISTINCT FROM ?", [info.sha256, ",".join(plan.tables), plan.preset])
    if earlier is not None:
        # the very same bytes were loaded before: every row is a duplicate of that load
        counts = {"accepted": 0, "quarantined": 0, "duplicate": info.n_rows}
        reasons, added = [], {t: 0 for t in plan.tables}
        summary = {"already_ingested_as": f"ingest {earlier} (same SHA-256); nothing added"}
    else:
        late = stage_and_check(con, plan, info, privacy, date_format,
                               dates=(str(cfg["ingest.min_date"]), str(cfg["ingest.max_date"])))
        counts = fate_counts(con, info.n_rows)
        reasons = top_reasons(con)
        check_share(info, counts, cfg["ingest.max_quarantine_share"], reasons, con)
        summary = pre.summary(con, info) if pre and pre.summary else {}
        added = write_rows(con, plan, info, ingest_id, privacy, late)
        if plan.after is not None:  # rows that follow from the loaded ones (a platform's refunds as returns)
            for t, n in plan.after(con, ingest_id).items():
                added[t] = added.get(t, 0) + n
    if recognised:
        summary = {"preset_recognised_from": recognised, **summary}
    log_ingest(con, ingest_id, info, plan, counts, added, summary)
    drop_temp(con)  # on error the rollback drops them
    return IngestResult(
        ingest_id=ingest_id, source=str(p), tables=plan.tables, n_input=info.n_rows,
        n_accepted=counts["accepted"], n_quarantined=counts["quarantined"], n_duplicate=counts["duplicate"],
        rows_added=added, summary=summary, top_reasons=reasons, preset=plan.preset,
        encoding=info.encoding, delimiter=info.delimiter,
    )
