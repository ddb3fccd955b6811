"""The workspace: a folder holding ``shop.duckdb`` and the files a run writes.

::

    shopseg-workspace/
      shop.duckdb    canonical input tables, system tables, run outputs
      models/        fitted models, one file per run and model
      reports/       HTML reports
      exports/       audiences and other exports

Users query ``shop.duckdb`` with SQL: see ``docs/data-model.md``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from . import schema
from .errors import WorkspaceError

DEFAULT_PATH = "shopseg-workspace"
# Queries that can run for a few customers (the live service) take the ids as a list parameter
# ``$customers``; this one shape is what serve/online.py transpiles for SQLite.
CUSTOMER_FILTER = " AND customer_id IN (SELECT unnest($customers))"
DB_NAME = "shop.duckdb"
SUBDIRS = ("models", "reports", "exports")

# DuckDB's memory budget (its buffer pool; past it, it spills to ``shop.duckdb.tmp/`` in the workspace):
# $SHOPSEG_MEMORY_LIMIT when set (e.g. ``2GB``), else a quarter of the machine's memory (or of the
# container's limit), capped at 3 GiB and at least 256 MiB, instead of DuckDB's own 80% of the machine.
MEMORY_ENV = "SHOPSEG_MEMORY_LIMIT"
MEMORY_SHARE = 0.25
MEMORY_CAP = 3 * 2**30
MEMORY_FLOOR = 256 * 2**20


def machine_memory() -> int | None:
    """Bytes of memory this process may use: physical memory, or the cgroup's limit when lower."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            v = Path(f).read_text().strip()
        except OSError:
            continue
        if v.isdigit() and (total is None or int(v) < total):
            total = int(v)
    return total


def default_memory_limit(total: int | None = None) -> str:
    """The default budget for ``total`` bytes of memory (this machine's when None), as DuckDB reads it.

    >>> default_memory_limit(8 * 2**30), default_memory_limit(64 * 2**30), default_memory_limit(2**29)
    ('2048MiB', '3072MiB', '256MiB')
    """
    total = machine_memory() if total is None else total
    if not total:
        return f"{MEMORY_CAP // 2**20}MiB"
    return f"{int(min(MEMORY_CAP, max(MEMORY_FLOOR, total * MEMORY_SHARE))) // 2**20}MiB"


_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}


def size_bytes(size: str) -> float:
    """Bytes in a DuckDB size string such as ``'18.8 GiB'`` or ``'1GB'`` (how DuckDB shows ``memory_limit``, one
    decimal); unknown forms (no limit): infinite.

    >>> size_bytes("512MiB"), size_bytes("1GB"), size_bytes("unlimited")
    (536870912.0, 1000000000.0, inf)
    """
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]+)\s*", str(size))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        return float("inf")
    return float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


@contextmanager
def duckdb_settings(con: duckdb.DuckDBPyConnection, values: dict) -> Iterator[None]:
    """DuckDB settings ``values`` (name -> value) on ``con`` inside the block; each as it was after it, on an
    error too."""
    old = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN (SELECT unnest(?))",
                           [list(values)]).fetchall())
    for name, value in values.items():
        con.execute(f"SET {name} = ?", [value])
    try:
        yield
    finally:
        for name, value in old.items():
            con.execute(f"SET {name} = ?", [value])


def memory_limit_setting() -> str:
    """The ``memory_limit`` every workspace connection gets: $SHOPSEG_MEMORY_LIMIT, else the default."""
    return os.environ.get(MEMORY_ENV) or default_memory_limit()


# Test seam for crash tests (tests/test_hardening_crash.py): ``SHOPSEG_PAUSE_AT=before_commit:2`` makes the
# process say ``paused before_commit:2`` on stdout at the second commit point and wait there to be killed, so a
# test kills at a chosen moment instead of after a random delay that a loaded machine moves.
PAUSE_ENV = "SHOPSEG_PAUSE_AT"
_pause_counts: dict[str, int] = {}


def pause_point(name: str) -> None:
    """Stop here for good when ``$SHOPSEG_PAUSE_AT`` names this point (``name`` or ``name:N`` for the N-th pass)."""
    want = os.environ.get(PAUSE_ENV)
    if not want or not want.startswith(name):
        return
    _pause_counts[name] = n = _pause_counts.get(name, 0) + 1
    if want in (name, f"{name}:{n}"):
        import time

        print(f"paused {want}", flush=True)
        while True:  # the test's SIGKILL ends the process
            time.sleep(60)


# the run a file of models/ or reports/ belongs to: run-3-clusters.json, run-3-churn.meta.json (shopseg.models),
# report-run3.html, report-run3-shareable.html; and an older shopseg's churn_run3.json, review_sentiment_run3.pkl
_RUN_IN_NAME = re.compile(r"(?:^|[^0-9a-z])run-?(\d+)(?![0-9])")


def run_of_file(name: str) -> int | None:
    """The run id in the name of a file that a run wrote (models, reports), or None."""
    m = _RUN_IN_NAME.search(name)
    return int(m.group(1)) if m else None


def default_path() -> Path:
    """``$SHOPSEG_WORKSPACE`` if set, else ``./shopseg-workspace``."""
    return Path(os.environ.get("SHOPSEG_WORKSPACE") or DEFAULT_PATH)


class Workspace:
    """An open workspace. Use :meth:`open` (or :func:`shopseg.open_workspace`).

    >>> import tempfile, pathlib
    >>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> ws.count("orders")
    0
    >>> ws.close()
    """

    lines = "order_lines"  # where a restricted computation reads the order lines (:func:`reading_lines`)

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection):
        self.path = path
        self.con = con
        self.on_close: list = []  # called after the connection closes (a borrowed workspace is given back)

    def with_lines(self, table: str) -> "Workspace":
        """This workspace (the same connection) whose restricted computations read the order lines from
        ``table``, a temp table holding every line of the orders of the customers they are restricted to
        (:func:`reading_lines`; an incremental refresh selects its scored customers' lines once for the scores
        that read them: churn's extras, the CLV summary, the interest scheme's lines).  Everything else reads the
        workspace's tables as before; closing it is the caller's business (close the workspace itself)."""
        other = copy.copy(self)
        other.lines = table
        return other

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = True,
             read_only: bool = False) -> "Workspace":
        """Open the workspace at ``path``, creating it when ``create`` is true."""
        p = Path(path) if path is not None else default_path()
        db = p / DB_NAME
        if not db.exists():
            if not create or read_only:
                raise WorkspaceError(
                    f"No workspace at {p} (no {DB_NAME} there).",
                    hint="Create one with `shopseg ingest ...` or `shopseg synth`, "
                    "or point --workspace / SHOPSEG_WORKSPACE at an existing one.",
                )
            if p.exists() and not p.is_dir():
                raise WorkspaceError(f"Workspace path {p} exists and is not a folder.")
            p.mkdir(parents=True, exist_ok=True)
        ws = cls(p, cls._connect(db, read_only))
        if not read_only:
            for d in SUBDIRS:
                (p / d).mkdir(exist_ok=True)
            ws._create_schema()
        return ws

    @staticmethod
    def _connect(db: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection to ``db`` with the workspace's settings (no progress bar, the memory budget)."""
        try:
            con = duckdb.connect(str(db), read_only=read_only)
        except duckdb.IOException as e:
            raise WorkspaceError(
                f"Cannot open {db}: {e}",
                hint="Another shopseg process may hold the workspace; wait for it or stop it.",
            ) from e
        # no progress bars on stderr from inside a library call; the CLI draws its own
        con.execute("SET enable_progress_bar = false")
        limit = memory_limit_setting()  # DuckDB spills to disk past it (see MEMORY_ENV)
        try:
            con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as e:
            con.close()
            raise WorkspaceError(f"{MEMORY_ENV} must be a size such as 2GB or 512MB. Got {limit!r} "
                                 f"instead ({str(e).splitlines()[0]}).") from None
        return con

    def rewrite(self) -> None:
        """Copy the database into a fresh file and put it in place of the old one.

        A DELETE, even after CHECKPOINT and VACUUM, leaves the deleted values' bytes in free blocks of
        ``shop.duckdb``; a fresh copy holds only live rows (``shopseg forget`` needs that). The copy is built
        beside the file and swapped in by one rename, so a crash leaves the old file or the new one.
        """
        db, fresh = self.db_path, self.path / f".{DB_NAME}.rewrite"
        for f in (fresh, fresh.with_name(fresh.name + ".wal")):
            f.unlink(missing_ok=True)
        name = self.scalar("SELECT current_database()")
        self.con.execute("CHECKPOINT")
        self.con.execute(f"ATTACH '{fresh}' AS _fresh")
        try:
            self.con.execute(f'COPY FROM DATABASE "{name}" TO _fresh')
        finally:
            self.con.execute("DETACH _fresh")
        self.con.close()
        os.replace(fresh, db)
        db.with_name(db.name + ".wal").unlink(missing_ok=True)  # the old file's, checkpointed above
        self.con = self._connect(db)

    def _create_schema(self) -> None:
        tables = (*schema.INPUT_TABLES.values(), *schema.SYSTEM_TABLES.values())
        for t in tables:
            self.con.execute(t.ddl())
        # a workspace made by an older version lacks columns added since (customers.address): add them, NULL
        have = {(t, c) for t, c in self.sql("SELECT table_name, column_name FROM information_schema.columns "
                                             "WHERE table_schema = 'main'")}
        for t in tables:
            for c in t.all_columns:
                if (t.name, c.name) not in have:
                    self.con.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{c.name}" {c.type}')

    def close(self) -> None:
        self.con.close()
        hooks, self.on_close = self.on_close, []
        for hook in hooks:
            hook()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # -- paths ---------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.path / "exports"

    # -- queries ---------------------------------------------------------------
    def sql(self, query: str, params: list | tuple | dict | None = None) -> list[tuple]:
        """Run ``query`` with bound ``params`` and return all rows."""
        return self.con.execute(query, params or []).fetchall()

    def scalar(self, query: str, params: list | tuple | dict | None = None):
        # fetchall, not fetchone: DuckDB 2.0 keeps an unfinished result open, which blocks the connection
        rows = self.con.execute(query, params or []).fetchall()
        return rows[0][0] if rows else None

    def df(self, query: str, params: list | tuple | dict | None = None):
        """Run ``query`` and return a pandas DataFrame."""
        return self.con.execute(query, params or []).df()

    # the catalog functions, not information_schema (a view over them, ~3x slower: an incremental run asks
    # ~50 times); the same answers: tables and (user) views of schema main in every attached database
    def has_table(self, name: str) -> bool:
        return bool(self.scalar(
            "SELECT EXISTS (SELECT 1 FROM duckdb_tables() WHERE table_name = $1 AND schema_name = 'main') "
            "OR EXISTS (SELECT 1 FROM duckdb_views() WHERE view_name = $1 AND schema_name = 'main' AND NOT internal)",
            [name],
        ))

    def count(self, table: str) -> int:
        if not self.has_table(table):
            return 0
        return int(self.scalar(f'SELECT count(*) FROM "{table}"'))

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.sql(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' AND NOT internal "
            "ORDER BY database_name, column_index", [table])]

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: commit at the end, roll back on any exception."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            pause_point("before_commit")
            self.con.execute("COMMIT")
            pause_point("after_commit")

    def next_id(self, table: str, column: str) -> int:
        return int(self.scalar(f'SELECT coalesce(max("{column}"), 0) + 1 FROM "{table}"'))

    # -- outputs of runs -------------------------------------------------------
    def write_output(self, name: str, run_id: int, relation_sql: str, params: list | None = None) -> int:
        """Store the rows of ``relation_sql`` as run ``run_id`` of output table ``name``.

        The table keeps every run (``run_id`` is its first column); rows of the
        same run are replaced, so a stage can be re-run.  Returns rows written.
        """
        body = f"SELECT CAST(? AS BIGINT) AS run_id, * FROM ({relation_sql})"
        args = [run_id, *(params or [])]
        if not self.has_table(name):
            self.con.execute(f'CREATE TABLE "{name}" AS {body} LIMIT 0', args)
        else:
            self.con.execute(f'DELETE FROM "{name}" WHERE run_id = ?', [run_id])
        self.con.execute(f'INSERT INTO "{name}" BY NAME {body}', args)
        return int(self.scalar(f'SELECT count(*) FROM "{name}" WHERE run_id = ?', [run_id]))

    def latest_run_id(self) -> int | None:
        return self.scalar("SELECT max(run_id) FROM runs WHERE status = 'done'")

    def source_run(self, table: str, run_id: int | None = None, where: str = "", params: list | None = None
                   ) -> int | None:
        """``run_id`` when output ``table`` holds rows of it, else the latest earlier **finished** run that does
        (a run that refitted only CLV still answers with the segments of the run before; a failed or unfinished
        run's rows never count), else None. ``run_id`` None: the newest finished run with rows. ``where``: a
        condition the rows must meet (``"scheme = ?"`` with ``params``). Rows written outside any run (a
        notebook's ``segment_all(ws, 1, ...)``) count as finished."""
        if not self.has_table(table):
            return None
        run = 2**62 if run_id is None else int(run_id)
        unfinished = ("run_id = ? OR run_id NOT IN (SELECT run_id FROM runs WHERE status <> 'done')"
                      if self.has_table("runs") else "? IS NOT NULL")
        cond = f"run_id <= ? AND ({unfinished})" + (f" AND ({where})" if where else "")
        return self.scalar(f'SELECT max(run_id) FROM "{table}" WHERE {cond}', [run, run, *(params or [])])

    def customers(self, run: int | None = None):
        """One DataFrame, one row per customer: every scheme's segment, churn probability and tier, CLV,
        P(alive), expected purchases, next-order date and the top recommendations of run ``run`` (default:
        the latest done run); see :func:`shopseg.views.customers`."""
        from .views import customers

        return customers(self, run)

    def summary(self) -> dict[str, int]:
        """Row counts of the canonical tables."""
        return {t: self.count(t) for t in schema.LOAD_ORDER}


def open_workspace(path: str | os.PathLike | None = None, *, create: bool = True,
                   read_only: bool = False) -> Workspace:
    """Open (by default create) the workspace at ``path``."""
    return Workspace.open(path, create=create, read_only=read_only)


def reading_lines(sql: str, reader) -> str:
    """``sql`` (a computation restricted to some customers: :func:`only_customers`) reading the order lines from
    ``reader.lines`` where ``reader`` names a table other than ``order_lines`` (:meth:`Workspace.with_lines`: a
    temp table holding every line of those customers' orders, the same columns, in ``order_lines``' order); else
    unchanged (a workspace, a connection, the live service's online store)."""
    table = getattr(reader, "lines", "order_lines")
    return sql if table == "order_lines" else re.sub(r"\border_lines\b", table, sql)


def only_customers(sql: str) -> str:
    """``sql`` restricted to the ids of ``$customers`` at its markers: ``/*only*/`` for a ``customer_id``
    column, ``/*only:o*/`` for ``o.customer_id``."""
    return re.sub(r"/\*only(?::(\w+))?\*/",
                  lambda m: CUSTOMER_FILTER.replace("customer_id", f"{m.group(1)}.customer_id") if m.group(1)
                  else CUSTOMER_FILTER, sql)


def to_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
