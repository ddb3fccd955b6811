"""Read a file into the temporary table ``_src`` (streaming, through DuckDB).

``_src`` has ``_row`` (the data row number in the file, from 1, header
excluded) and the file's columns.  CSV columns are read as text so that a bad
value becomes a quarantine reason, not a failed load; Parquet keeps its types.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..errors import IngestError
from ._sql import ident, literal

FORMATS = ("csv", "parquet", "jsonl", "json")
ENCODINGS = ("utf-8", "utf-16", "latin-1")
_ENCODING_ALIASES = {"utf8": "utf-8", "utf-8-sig": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1",
                     "utf16": "utf-16"}


@dataclass
class ReadOptions:
    format: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    sample_size: int = 20480


@dataclass
class SourceInfo:
    path: Path
    format: str
    sha256: str
    columns: list[str]
    n_rows: int
    encoding: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    parse_error_column: bool = False  # JSON: _src has _parse_error (why a row is unusable) and _line (its text)


def guess_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".gz", ".zst", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".csv", ".tsv", ".txt", ".dat")):
        return "csv"
    raise IngestError(
        f"{path}: cannot tell the file format from its name.",
        hint="Name it .csv, .tsv, .parquet, .jsonl or .json, or give the format in the mapping file (format = \"csv\").",
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sniff_encoding(path: Path, n_bytes: int = 1 << 20) -> str:
    """utf-16 by BOM, utf-8 if the first megabyte decodes, else latin-1."""
    with open(path, "rb") as f:
        head = f.read(n_bytes)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def _normalise_encoding(enc: str | None, path: Path) -> str | None:
    if enc is None:
        return None
    e = _ENCODING_ALIASES.get(enc.lower(), enc.lower())
    if e not in ENCODINGS:
        raise IngestError(
            f"{path}: encoding {enc!r} is not supported; expected one of {', '.join(ENCODINGS)}.",
            hint="Convert the file first, e.g. `iconv -f cp1252 -t utf-8`.",
        )
    return e


def _line_of(message: str) -> str:
    m = re.search(r"line[: ]+(\d+)", message, re.IGNORECASE)
    return f" near line {m.group(1)}" if m else ""


def read_source(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, opts: ReadOptions) -> SourceInfo:
    """Create temp table ``_src`` from ``path``; return what was found."""
    p = Path(path)
    if not p.exists():
        raise IngestError(f"{p}: no such file.")
    if p.is_dir():
        raise IngestError(f"{p}: is a folder; give one file at a time.")
    if p.stat().st_size == 0:
        raise IngestError(f"{p}: the file is empty (0 bytes).")
    fmt = (opts.format or guess_format(p)).lower()
    if fmt not in FORMATS:
        raise IngestError(f"{p}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    if fmt == "json":
        with open(p, "rb") as f:
            first = f.read(4096).lstrip()[:1]
        if first != b"[":
            fmt = "jsonl"
    sha = file_sha256(p)
    con.execute("DROP TABLE IF EXISTS _src")
    info = SourceInfo(path=p, format=fmt, sha256=sha, columns=[], n_rows=0)
    path_lit = literal(str(p))
    try:
        if fmt == "parquet":
            con.execute(
                f"CREATE TEMP TABLE _src AS SELECT CAST(file_row_number + 1 AS BIGINT) AS _row, * "
                f"EXCLUDE (file_row_number) FROM read_parquet({path_lit}, file_row_number = true)"
            )
        elif fmt == "csv":
            enc = _normalise_encoding(opts.encoding, p) or sniff_encoding(p)
            info.encoding = enc
            info.header = True if opts.header is None else opts.header
            # RFC 4180 quoting and no comment lines, always: left to the sniffer, a value starting with ' can
            # make ' the quote character (the lines up to the next ' merge into one row) and a row starting
            # with # can make # a comment marker (the row is skipped): rows silently lost, both found by fuzzing
            args = ["all_varchar = true", f"header = {literal(info.header)}", "quote = '\"'", "escape = '\"'",
                    "comment = ''",
                    f"encoding = {literal(enc)}", f"sample_size = {int(opts.sample_size)}"]
            if opts.delimiter:
                d = "\t" if opts.delimiter in ("\\t", "tab") else opts.delimiter
                args.append(f"delim = {literal(d)}")
            con.execute(
                f"CREATE TEMP TABLE _src AS SELECT row_number() OVER () AS _row, * "
                f"FROM read_csv({path_lit}, {', '.join(args)})"
            )
            sniffed = con.execute(
                f"SELECT Delimiter FROM sniff_csv({path_lit}, encoding = {literal(enc)}, quote = '\"', escape = '\"', comment = '', "
                f"sample_size = {int(opts.sample_size)})"
            ).fetchone()
            info.delimiter = (opts.delimiter or (sniffed[0] if sniffed else None))
        else:  # JSON: one object an element (array) or a line (JSON lines), each checked on its own
            if fmt == "json":
                con.execute(f"CREATE TEMP TABLE _lines AS SELECT row_number() OVER () AS _row, json::VARCHAR AS line "
                            f"FROM read_json_objects({path_lit}, format = 'array')")
            else:  # a malformed line is quarantined with its parser message, not fatal
                con.execute(
                    f"CREATE TEMP TABLE _lines AS SELECT row_number() OVER () AS _row, line FROM read_csv("
                    f"{path_lit}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f', quote = '', "
                    f"escape = '', auto_detect = false, encoding = 'utf-8')"
                )
                con.execute("DELETE FROM _lines WHERE line IS NULL OR trim(line) = ''")
            keys = [r[0] for r in con.execute(
                "SELECT k FROM (SELECT unnest(json_keys(line)) AS k, _row FROM _lines "
                "WHERE json_valid(line) AND json_type(line) = 'OBJECT') GROUP BY k ORDER BY min(_row), k"
            ).fetchall()]
            paths = {k: literal("$." + json_path_key(k)) for k in keys}
            cols = ", ".join(
                f"CASE WHEN json_valid(line) THEN json_extract_string(line, {paths[k]}) END AS {ident(k)}"
                for k in keys
            )
            # a nested value (object or array) where a plain one belongs: that row alone is quarantined (read as
            # a table, one nested value turned the whole column into JSON text, quotes and all)
            nested = " ".join(
                f"WHEN json_type(line, {paths[k]}) IN ('OBJECT', 'ARRAY') THEN {literal(k + ': expected a plain value')}"
                f" || ' (text, number, true/false or null), got a nested ' || lower(json_type(line, {paths[k]}))"
                for k in keys)
            con.execute(
                "CREATE TEMP TABLE _src AS SELECT _row, "
                "CASE WHEN NOT json_valid(line) THEN 'not valid JSON' "
                f"WHEN json_type(line) <> 'OBJECT' THEN 'expected a JSON object' {nested} END AS _parse_error, "
                "CASE WHEN NOT json_valid(line) THEN line END AS _line"
                + (", " + cols if cols else "") + " FROM _lines"
            )
            con.execute("DROP TABLE _lines")
            _explain_invalid_json(con)
            info.parse_error_column = True
    except duckdb.Error as e:
        full = str(e)
        lines = [x.strip() for x in full.split("\n") if x.strip()]
        why = [x for x in lines[1:3] if not x.startswith(("Original Line", "Possible Solution", "LINE "))]
        msg = " ".join(lines[:1] + why[:1])
        if "unicode" in full.lower() or "not utf-8 encoded" in full.lower():
            raise IngestError(
                f"{p}: not valid {info.encoding or 'utf-8'} text{_line_of(full)}.",
                hint="Give the file's encoding, e.g. `--encoding latin-1`.",
            ) from None
        raise IngestError(f"{p}: cannot be read as {fmt}{_line_of(full)}: {msg}") from None
    info.columns = [
        r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = '_src' "
            "ORDER BY ordinal_position"
        ).fetchall()
        if r[0] not in ("_row", "_parse_error", "_line")
    ]
    info.n_rows = int(con.execute("SELECT count(*) FROM _src").fetchone()[0])
    if info.n_rows == 0:
        raise IngestError(f"{p}: the file has no data rows (columns found: {', '.join(info.columns) or 'none'}).")
    return info


_EXPLAINED = 10_000  # broken JSON rows given the parser's own message; past that, "not valid JSON"


def _explain_invalid_json(con) -> None:
    """The parser's message for each unparseable row (DuckDB only says whether a text is valid JSON)."""
    import json

    bad = con.execute(f"SELECT _row, _line FROM _src WHERE _line IS NOT NULL ORDER BY _row LIMIT {_EXPLAINED}"
                      ).fetchall()
    if not bad:
        return
    why = []
    for row, line in bad:  # the broken rows only, and at most _EXPLAINED of them
        try:
            json.loads(line)
            why.append((row, "not valid JSON"))
        except ValueError as e:
            why.append((row, f"not valid JSON: {e}"))
    con.execute("CREATE TEMP TABLE _why (_row BIGINT, why VARCHAR)")
    con.executemany("INSERT INTO _why VALUES (?, ?)", why)
    con.execute("UPDATE _src SET _parse_error = w.why FROM _why w WHERE _src._row = w._row")
    con.execute("DROP TABLE _why")


def json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'
