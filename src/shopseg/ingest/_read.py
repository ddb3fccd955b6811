"""Read a file into the temporary table ``_src`` (streaming, through DuckDB).

``_src`` has ``_row`` (the data row number in the file, from 1, header
excluded) and the file's columns.  CSV columns are read as text so that a bad
value becomes a quarantine reason, not a failed load; Parquet keeps its types.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..errors import IngestError, human_bytes
from ._sql import ident, literal

FORMATS = ("csv", "parquet", "jsonl", "json")
MAX_JSON_LINE = 64 * 2**20  # bytes one JSON line may hold (DuckDB's reader stops at 2 MB by default)
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
    types: dict[str, str] = field(default_factory=dict)  # column -> DuckDB type (VARCHAR for CSV, Parquet's own)


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


def peek(path: Path, n_bytes: int = 1 << 20) -> bytes:
    """The first ``n_bytes`` of the file's text: decompressed when the name ends in .gz or .bz2 (what DuckDB
    reads), so that the encoding is judged on the text, never on the compressed bytes."""
    name = path.name.lower()
    if name.endswith(".zst"):  # (no zstd decoder in the standard library: nothing to judge)
        return b""
    opener = gzip.open if name.endswith(".gz") else bz2.open if name.endswith(".bz2") else open
    with opener(path, "rb") as f:
        try:
            return f.read(n_bytes)
        except (OSError, EOFError, ValueError):  # a damaged archive: DuckDB's read names the problem
            return b""


def refuse_binary(path: Path, head: bytes, fmt: str) -> None:
    """A workbook, an archive or a Parquet file under a text name: refused as what it is."""
    kind, fix = None, None
    if head.startswith(b"PK\x03\x04"):
        if b"xl/" in head or b"[Content_Types].xml" in head:
            kind, fix = "an Excel workbook (.xlsx)", "Export the sheet as CSV (Excel: File > Save As > CSV UTF-8)."
        else:
            kind, fix = "a zip archive", "Unzip it and ingest the files inside."
    elif head.startswith(b"\xd0\xcf\x11\xe0"):
        kind, fix = "an Excel 97-2003 workbook (.xls)", "Export the sheet as CSV (Excel: File > Save As > CSV UTF-8)."
    elif head.startswith(b"PAR1"):
        kind, fix = "a Parquet file", "Name it .parquet (or give format = \"parquet\" in a mapping file)."
    if kind:
        raise IngestError(f"{path}: expected {fmt} text, got {kind} (first bytes {head[:4]!r}); nothing was loaded.",
                          hint=fix)


def _first_bad_byte(head: bytes, codec: str) -> tuple[int, int, int] | None:
    """(line, column, byte) of the first byte that is not valid ``codec`` text; for latin-1, the first byte
    0x80-0x9F (control characters there, which DuckDB refuses; Windows-1252's euro sign, curly quotes...)."""
    if codec == "latin-1":
        m = re.search(rb"[\x80-\x9f]", head)
        pos = m.start() if m else None
    else:
        try:
            codecs.getincrementaldecoder(codec)().decode(head, final=False)
            pos = None
        except UnicodeDecodeError as e:
            pos = e.start
    if pos is None:
        return None
    line_start = head.rfind(b"\n", 0, pos) + 1
    return head.count(b"\n", 0, pos) + 1, pos - line_start + 1, head[pos]


def sniff_encoding(path: Path, n_bytes: int = 1 << 20) -> str:
    """utf-16 by BOM, utf-8 if the first megabyte (of the text, decompressed) decodes, else latin-1.

    Refused with the reason: UTF-16 big-endian (DuckDB reads little-endian only), and text that is neither
    UTF-8 nor latin-1 as DuckDB reads it (bytes 0x80-0x9F: Windows-1252, GBK...).
    """
    if path.name.lower().endswith(".zst"):  # no zstd decoder in the standard library: DuckDB reads it as UTF-8
        return "utf-8"
    head = peek(path, n_bytes)
    if head.startswith(codecs.BOM_UTF16_BE):
        raise IngestError(f"{path}: expected UTF-8, latin-1 or UTF-16 little-endian text, got UTF-16 big-endian "
                          "(byte order mark FE FF), which cannot be read; nothing was loaded.",
                          hint=f"Convert it first: iconv -f utf-16 -t utf-8 {path} > converted.csv")
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16"
    if _first_bad_byte(head, "utf-8") is None:
        return "utf-8"
    bad = _first_bad_byte(head, "latin-1")
    if bad is not None:
        raise IngestError(not_encoded_message(path, head, "latin-1", sniffed=True), hint=_ICONV.format(path=path))
    return "latin-1"


_ICONV = ("Convert it to UTF-8 first, e.g. from Windows-1252: iconv -f cp1252 -t utf-8 {path} > converted.csv "
          "(or -f gbk for Chinese GBK text).")


def not_encoded_message(path: Path, head: bytes, encoding: str, sniffed: bool = False) -> str:
    """Which byte, at which line and column, is not ``encoding`` text."""
    bad = _first_bad_byte(head, encoding) or _first_bad_byte(head, "utf-8")
    got = f"byte 0x{bad[2]:02X} (line {bad[0]}, byte {bad[1]} of the line)" if bad else "bytes"
    if sniffed:
        return (f"{path}: expected UTF-8 or latin-1 text, got {got}, which is neither (not valid UTF-8; bytes "
                "0x80-0x9F are control characters in latin-1): it looks like Windows-1252 (cp1252) or another "
                "encoding, which is not supported; nothing was loaded.")
    return (f"{path}: expected {encoding} text (as given), got {got}, which is not valid {encoding} text; "
            "nothing was loaded.")


def _encoding_hint(path: Path, given: str) -> str:
    try:
        found = sniff_encoding(path)
    except IngestError:
        return _ICONV.format(path=path)
    if found != given:
        return f"The file reads as {found}: give `--encoding {found}` (or leave --encoding out to have it detected)."
    return _ICONV.format(path=path)


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


def drop_src(con: duckdb.DuckDBPyConnection) -> None:
    """Drop ``_src``, a temporary view (Parquet) or table (CSV, JSON), if there is one."""
    kind = con.execute("SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = '_src' UNION ALL "
                       "SELECT 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name = '_src'").fetchone()
    if kind:
        con.execute(f"DROP {kind[0]} _src")


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
    drop_src(con)
    info = SourceInfo(path=p, format=fmt, sha256=sha, columns=[], n_rows=0)
    head = b""
    if fmt != "parquet":
        head = peek(p)
        refuse_binary(p, head, "CSV" if fmt == "csv" else "JSON")
    path_lit = literal(str(p))
    try:
        if fmt == "parquet":
            # a view: Parquet is columnar and typed already, so each pass reads only the columns it needs,
            # and a large file is not copied into temporary storage first (at x100 Online Retail, 54M lines,
            # that copy spilled gigabytes past the memory budget)
            con.execute(
                f"CREATE TEMP VIEW _src AS SELECT CAST(file_row_number + 1 AS BIGINT) AS _row, * "
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
            if info.header:
                _check_header(con, p, info, head)
        else:  # JSON: one object an element (array) or a line (JSON lines), each checked on its own
            if fmt == "json":
                enc = _normalise_encoding(opts.encoding, p) or sniff_encoding(p)
                if enc != "utf-8":
                    raise IngestError(f"{p}: expected a JSON array in UTF-8 text, got {enc} text; nothing was loaded.",
                                      hint="Convert it to UTF-8 (iconv -t utf-8), or write it as JSON lines "
                                           "(.jsonl), which may be latin-1 or UTF-16.")
                con.execute(f"CREATE TEMP TABLE _lines AS SELECT row_number() OVER () AS _row, json::VARCHAR AS line "
                            f"FROM read_json_objects({path_lit}, format = 'array')")
            else:  # a malformed line is quarantined with its parser message, not fatal
                info.encoding = _normalise_encoding(opts.encoding, p) or sniff_encoding(p)
                con.execute(
                    f"CREATE TEMP TABLE _lines AS SELECT row_number() OVER () AS _row, line FROM read_csv("
                    f"{path_lit}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f', quote = '', "
                    f"escape = '', auto_detect = false, encoding = {literal(info.encoding)}, "
                    f"max_line_size = {MAX_JSON_LINE})"
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
        if opts.encoding and info.encoding and "encoded" in full.lower():
            raise IngestError(not_encoded_message(p, head, info.encoding), hint=_encoding_hint(p, info.encoding)) \
                from None
        if "unicode" in full.lower() or "not utf-8 encoded" in full.lower():
            raise IngestError(
                f"{p}: not valid {info.encoding or 'utf-8'} text{_line_of(full)}.",
                hint="Give the file's encoding, e.g. `--encoding latin-1`.",
            ) from None
        m = re.search(r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+)", full)
        if m:  # a record far longer than rows are (a whole file pasted into a field?), not a reader fault
            line = _first_line_longer_than(p, int(m.group(1)))  # DuckDB's own line number can be the sniffer's
            where = f"line {line}" if line else "a line"
            raise IngestError(f"{p}: {where} is {human_bytes(int(m.group(2)))} long, more than the "
                              f"{human_bytes(int(m.group(1)))} one {'JSON line' if fmt == 'jsonl' else 'row'} may "
                              "hold; nothing was loaded.",
                              hint="That record is not a normal row: remove or trim it (a field holding a whole "
                                   "file or a base64 image?) and ingest again.") from None
        m = re.search(r"Line: (\d+)\s+(?:Original Line: (.*)\n)?\s*Expected Number of Columns: (\d+)\s+Found: (\d+)",
                      full)
        if m:  # a ragged row past the rows the sniffer looked at (_check_header finds those within)
            line, want, got = int(m.group(1)), int(m.group(3)), int(m.group(4))
            shown = f": {m.group(2)[:80]!r}" if m.group(2) is not None else ""
            raise IngestError(f"{p}: expected {want} fields on every row, as in the header, got {got} on line {line} "
                              f"(data row {line - 1}){shown}; nothing was loaded.", hint=_RAGGED_HINT) from None
        raise IngestError(f"{p}: cannot be read as {fmt}{_line_of(full)}: {msg}") from None
    described = [r for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '_src' "
        "ORDER BY ordinal_position").fetchall() if r[0] not in ("_row", "_parse_error", "_line")]
    info.columns = [name for name, _ in described]
    info.types = dict(described)
    info.n_rows = int(con.execute("SELECT count(*) FROM _src").fetchone()[0])
    if info.n_rows == 0:
        raise IngestError(f"{p}: the file has no data rows (columns found: {', '.join(info.columns) or 'none'}).")
    return info


def _first_line_longer_than(path: Path, limit: int) -> int | None:
    """The 1-based number of the first physical line of ``path`` longer than ``limit`` bytes (None if none / packed).

    Only on the error path: reads the file once in 8 MB blocks, never holding a whole line.
    """
    if path.suffix in (".gz", ".bz2", ".zst", ".xz"):
        return None
    line, length = 1, 0
    with open(path, "rb") as fh:
        while block := fh.read(8 * 2**20):
            start = 0
            while (nl := block.find(b"\n", start)) >= 0:
                if length + nl - start > limit:
                    return line
                line, length, start = line + 1, 0, nl + 1
            length += len(block) - start
            if length > limit:
                return line
    return None


def _header_cells(head: bytes, encoding: str, delimiter: str) -> list[str]:
    text = head.decode(encoding if encoding != "utf-16" else "utf-16", errors="replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    return next(csv.reader([first], delimiter=delimiter), [])


def _check_header(con, p: Path, info: SourceInfo, head: bytes) -> None:
    """The header line as written: a name given twice is an error (read as one, the first column won
    silently), and a file whose rows do not have the header's number of fields (truncated, ragged) is refused
    with the first such row, not with the columns a confused dialect sniffer made of it."""
    enc = info.encoding or "utf-8"
    d = info.delimiter if info.delimiter and len(info.delimiter) == 1 else ","
    cells = _header_cells(head, enc, d)
    if len(cells) < 2:  # the sniffer found no separator in a file whose header has one (a ragged file)
        d, cells = max(((c, _header_cells(head, enc, c)) for c in (",", ";", "\t", "|")), key=lambda x: len(x[1]))
    seen: dict[str, int] = {}
    for i, c in enumerate(cells, 1):
        key = c.strip().lower()
        if key and key in seen:
            raise IngestError(
                f"{p}: expected each column name once in the header, got {c.strip()!r} twice (columns {seen[key]} "
                f"and {i}); which one to read is ambiguous, so nothing was loaded.",
                hint="Rename or remove one of them.")
        seen.setdefault(key, i)
    n_read = con.execute("SELECT count(*) - 1 FROM information_schema.columns WHERE table_name = '_src'").fetchone()[0]
    if len(cells) < 2 or len(cells) == n_read:
        return
    # the sniffer settled on another shape than the header line: find the first row that differs
    fields = f"length(regexp_replace(line, '\"[^\"]*\"', '', 'g')) - length(replace(regexp_replace(line, " \
             f"'\"[^\"]*\"', '', 'g'), {literal(d)}, '')) + 1"
    bad = con.execute(
        f"SELECT n, k, line FROM (SELECT row_number() OVER () AS n, {fields} AS k, line FROM read_csv("
        f"{literal(str(p))}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f', quote = '', "
        f"escape = '', auto_detect = false, encoding = {literal(info.encoding or 'utf-8')})) "
        f"WHERE line IS NOT NULL AND k <> {len(cells)} "  # a line with an odd number of quotes: a value spans lines
        f"AND (length(line) - length(replace(line, '\"', ''))) % 2 = 0 ORDER BY n LIMIT 1").fetchone()
    if bad is None:
        return
    n, k, line = bad
    shown = line if len(line) <= 80 else line[:80] + "..."
    whole = len(head) < (1 << 20)  # the head is the whole file: its last line is known
    last = " (the last line, ending without a line break: the file looks truncated)" if whole and \
        not head.endswith(b"\n") and n == head.count(b"\n") + 1 else ""
    raise IngestError(
        f"{p}: expected {len(cells)} fields separated by {d!r} on every row, as in the header "
        f"({', '.join(cells)}), got {k} on line {n} (data row {n - 1}){last}: {shown!r}; nothing was loaded.",
        hint=_RAGGED_HINT)


_RAGGED_HINT = "Fix or remove that row (a value holding the separator must be quoted), or re-export the file."


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
