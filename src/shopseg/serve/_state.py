"""What the service holds: the workspace, its read cursors and writer, the run it serves (with the in-memory
snapshot), the keys and the dashboard sessions."""

from __future__ import annotations

import gc
import hmac
import secrets
import threading
import time

from ..views import read_runs
from ..workspace import Workspace
from ._snapshot import _Snapshot
from .live import LiveUpdater, latest_run

SESSION_COOKIE = "shopseg_session"


SESSION_SECONDS = 8 * 3600  # a dashboard session lasts a working day, then the key is asked for again


class _State:
    """What the app holds: the workspace, the per-thread read cursors, the writer, and small caches."""

    def __init__(self, ws: Workspace, read_key: str, write_key: str, max_body_bytes: int, max_rows: int,
                 index: bool = True, snapshot: bool = True, online_rows: int = 5_000_000):
        self.ws = ws
        self.index = index
        self.snapshot = snapshot
        self.read_key = read_key
        self.write_key = write_key
        self.max_body_bytes = max_body_bytes
        self.max_rows = max_rows
        self.local = threading.local()
        self.live = LiveUpdater(ws.path, ws.con.cursor(), online_rows=online_rows)
        self._runs_cache: tuple | None = None
        self._runs_checked = 0.0  # monotonic time the run stamp was last read
        self.run_check_seconds = 1.0
        self._refreshing = threading.Lock()
        self._refresh_cur = ws.con.cursor()
        self._cache_lock = threading.Lock()
        self._curve_cache: dict = {}
        self._sessions: dict[str, tuple[str, float]] = {}  # dashboard session token -> (key level, expiry)

    def key_level(self, key: bytes) -> str | None:
        """``"write"``, ``"read"`` or None (neither key), compared in constant time."""
        if hmac.compare_digest(key, self.write_key.encode()):
            return "write"
        if hmac.compare_digest(key, self.read_key.encode()):
            return "read"
        return None

    def open_session(self, level: str) -> str:
        """A new dashboard session of ``level``: a random token for the cookie (the key itself never is)."""
        now = time.monotonic()
        with self._cache_lock:
            self._sessions = {t: v for t, v in self._sessions.items() if v[1] > now}  # forget expired ones
            token = secrets.token_urlsafe(32)
            self._sessions[token] = (level, now + SESSION_SECONDS)
        return token

    def session_level(self, token: str) -> str | None:
        """The key level of a live session token, or None (unknown, ended or expired)."""
        got = self._sessions.get(token)
        return got[0] if got is not None and got[1] > time.monotonic() else None

    def close_session(self, token: str) -> None:
        with self._cache_lock:
            self._sessions.pop(token, None)

    def cursor(self):
        cur = getattr(self.local, "cur", None)
        if cur is None:
            cur = self.local.cur = self.ws.con.cursor()
        return cur

    def ensure_indexes(self, cur, tables) -> None:
        """An ART index on customer_id of every table a customer look-up reads (skipped when it exists).

        Point look-ups in 1M-row output tables go from scans of a row group to index probes;
        the index lives in the workspace (``serve_<table>_customer_id``) and costs the batch
        a little on writes.  Turned off with ``create_app(..., index=False)``.
        """
        if not self.index:
            return
        have = {r[0] for r in cur.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
        for t in ("customers", "live_state", "live_segments", *tables):
            name = f"serve_{t}_customer_id"
            if name in have or t in ("segment_profiles", "model_reports"):
                continue
            with self.live.lock:
                cur.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{t}" (customer_id)')

    def fresh_runs(self) -> dict | None:
        """The cached :meth:`runs` when its stamp was read within ``run_check_seconds``, else None (no SQL).

        The service holds the workspace's only writable connection, so a new run can only
        come from this process; the stamp is still re-read every ``run_check_seconds``.
        """
        cached = self._runs_cache
        if cached is None:
            return None
        if time.monotonic() - self._runs_checked > self.run_check_seconds and self._refreshing.acquire(False):
            # re-read the stamp off the request path; until it is back, answer from the cached run
            threading.Thread(target=self._refresh, daemon=True).start()
        return cached[1]

    def _refresh(self) -> None:
        try:
            self.runs(self._refresh_cur)
        finally:
            self._refreshing.release()

    def runs(self, cur) -> dict:
        """The latest done run and, per output table, the latest done run that wrote it (cached)."""
        stamp = tuple(cur.execute("SELECT max(run_id), count(*) FROM runs WHERE status = 'done'").fetchall()[0])
        self._runs_checked = time.monotonic()
        cached = self._runs_cache
        if cached is not None and cached[0] == stamp:
            return cached[1]
        run = latest_run(cur)
        out = read_runs(cur, None if run is None else run[0])  # the read layer: which run each table is read at
        if run is not None:
            out["config"] = run[2]  # the run's settings as a Config
            self.ensure_indexes(cur, [t for t, r in out["tables"].items() if r is not None])
            if self.snapshot:
                with self.live.lock:  # no write between reading the run's live rows and caching them
                    out["snapshot"] = _Snapshot(cur, out)
                    self.live.load_cache(cur, run[0])
                # the snapshot's arrays live as long as the run: move them (and everything else alive now)
                # out of the cyclic GC's reach, so a full collection no longer scans them (~100 ms at 100k
                # customers, the p99 of a GET under load)
                gc.collect()
                gc.freeze()
        with self._cache_lock:
            self._runs_cache = (stamp, out)
        return out
