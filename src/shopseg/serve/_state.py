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
from ._gate import Gate, Lease, Lent, new_token, pid_alive
from ._journal import Journal, source_of
from ._snapshot import _Snapshot
from .live import LiveUpdater, RowError, latest_run
from .models import batch_rows

SESSION_COOKIE = "shopseg_session"


def input_stamp(con) -> tuple:
    """The latest ingest and the rows of every input table and of the forget log: equal before and after a
    borrower that changed no input (summary, sql, run), different after ingest or forget."""
    from ..schema import INPUT_TABLES

    parts = [f'(SELECT count(*) FROM "{t}")' for t in (*INPUT_TABLES, "forget_log")]
    return tuple(con.execute(f"SELECT (SELECT max(ingest_id) FROM ingest_log), {', '.join(parts)}").fetchall()[0])


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
        self.gate = Gate()  # the service's SQL work vs. lending the file to a command (_gate.py)
        self.local_token = new_token()  # what a local command shows to borrow the file (the discovery file's)
        self.journal = Journal(ws.path)  # batches posted while the file is lent (_journal.py)
        self._journaling = 0  # POSTs writing their batch to the journal right now
        self._gen = 0  # bumped at every (re)open: a thread's cursor of an older connection is replaced
        self._reopening = threading.Lock()
        self.clock = time.time  # wall clock for bookkeeping only (journal times, leases)
        self.threads: int | None = None  # DuckDB threads set again when the workspace is opened again
        self.live = LiveUpdater(ws.path, ws.con.cursor(), online_rows=online_rows)
        self._inputs = input_stamp(ws.con)  # what a borrower may change (read again when it differs)
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
        if cur is None or self.local.gen != self._gen:
            cur = self.local.cur = self.ws.con.cursor()
            self.local.gen = self._gen
        return cur

    # -- lending the file to a command (docs/service.md, "Sharing the workspace") -------------------------
    def lend(self, lease: Lease, timeout: float = 60.0) -> None:
        """Let the SQL work in flight finish, close the workspace and keep it closed until :meth:`give_back`
        (or until the borrower's process ends).  Raises :class:`Lent` / TimeoutError (nothing changed)."""
        self.gate.lend(lease, timeout)
        with self.live.lock:
            self.ws.con.close()
            self._gen += 1
        threading.Thread(target=self._watch, args=(lease,), daemon=True, name="shopseg-lease").start()

    def shut(self, timeout: float = 30.0) -> None:
        """At shutdown: refuse new SQL work, let the work in flight (requests, a run stamp re-read) finish, close."""
        import os

        with self._reopening:
            if self.gate.lease is not None:
                return  # lent to a command: the service's connection is already closed
            try:
                self.gate.lend(Lease(os.getpid(), "serve (stopping)"), timeout)
            except TimeoutError:
                pass  # closed all the same: the service is stopping
            with self.live.lock:
                self.ws.close()

    def give_back(self, pid: int) -> bool:
        """The borrower ``pid`` is done: open the workspace again (in the background).  False: not lent to it."""
        lease = self.gate.lease
        if lease is None or lease.pid != pid:
            return False
        threading.Thread(target=self.reopen, args=(lease,), daemon=True, name="shopseg-reopen").start()
        return True

    def _watch(self, lease: Lease, every: float = 0.5) -> None:
        """Take the file back when the borrower's process ends without giving it back."""
        while self.gate.lease is lease:
            if not pid_alive(lease.pid):
                self.reopen(lease)
                return
            time.sleep(every)

    def reopen(self, lease: Lease, retry_seconds: float = 60.0) -> None:
        """Open the workspace again, read the run afresh (snapshot, live cache, online store) and apply the
        journaled batches; then answer SQL again.  Until then GET /customers/{id} answers from the old snapshot."""
        with self._reopening:
            if self.gate.lease is not lease:
                return
            lease.returning = True
            said = time.monotonic() + retry_seconds
            while True:  # the borrower may still be closing its connection; another process may hold the file
                try:
                    ws = Workspace.open(self.ws.path, create=False)
                    break
                except Exception as e:  # noqa: BLE001 - said once a minute, tried again until it opens
                    if time.monotonic() > said:
                        print(f"shopseg serve: cannot open the workspace again after {lease.words()}: {e}; "
                              "trying again.", flush=True)
                        said = time.monotonic() + 60
                    time.sleep(0.1)
            if self.threads is not None:
                ws.con.execute(f"SET threads = {int(self.threads)}")
            self.ws = ws
            self._gen += 1
            # a borrower that ingested or forgot changed the input rows: copy the online store and read the run
            # again (forget also removes output rows); a new run is seen by its stamp. The old snapshot answers
            # until the new one replaces it in one assignment
            inputs = input_stamp(ws.con)
            same = inputs == self._inputs
            self.live.reopen(ws.con.cursor(), keep_store=same)
            self._refresh_cur = ws.con.cursor()
            self.runs(self._refresh_cur, force=not same)
            self._inputs = inputs
            self.replay(until_empty_then_open=True)

    def replay(self, until_empty_then_open: bool = False) -> int:
        """Apply the journaled batches in order; with ``until_empty_then_open``, end the lease once the journal
        is empty (atomically with :meth:`admit`, so no batch is journaled after the last look).  Returns how
        many batches were applied."""
        n = 0
        while True:
            batches = self.journal.queued()
            for bid, payload in batches:
                src = source_of(bid)
                got = self.live.con.execute("SELECT max(ingest_id) FROM ingest_log WHERE source = ?", [src]).fetchall()
                if got[0][0] is not None:  # applied before the service stopped, not yet marked
                    self.journal.done(bid, "applied", None, int(got[0][0]), self.clock())
                    continue
                try:
                    res = self.live.apply(batch_rows(payload), source=src)
                except RowError as e:
                    self.journal.done(bid, "refused", e.message, None, self.clock())
                    continue
                except Exception as e:  # noqa: BLE001 - kept with its message, visible at GET /events/queued/{id}
                    self.journal.done(bid, "failed", f"{type(e).__name__}: {e}", None, self.clock())
                    continue
                self.journal.done(bid, "applied", None, res["ingest_id"], self.clock())
                n += 1
            if batches:
                self.journal.settle()
            if not until_empty_then_open:
                return n
            with self.gate.cond:
                self.gate.cond.wait_for(lambda: self._journaling == 0)  # a POST writing its batch: read it too
                if not self.journal.has_queued():
                    self.gate.lease = None
                    self.gate.cond.notify_all()
                    return n

    def post(self, rows: dict, payload: dict) -> tuple[dict | None, int | None]:
        """POST /events: (what :meth:`LiveUpdater.apply` did, None), or (None, the journal entry holding the
        batch until the file is back) while it is lent."""
        queued = self.admit(payload)
        if queued is not None:
            return None, queued
        try:
            return self.live.apply(rows), None
        finally:
            self.done_writing()

    def admit(self, payload: dict) -> int | None:
        """None when the batch may be applied now (then call :meth:`done_writing` after), else the id of the
        journal entry that holds it until the file is back."""
        with self.gate.cond:
            if self.gate.lease is None:
                self.gate.users += 1
                return None
            self._journaling += 1  # the lease cannot end before this batch is on disk (see :meth:`replay`)
        try:
            return self.journal.add(payload, self.clock())[0]
        finally:
            with self.gate.cond:
                self._journaling -= 1
                self.gate.cond.notify_all()

    def done_writing(self) -> None:
        with self.gate.cond:
            self.gate.users -= 1
            self.gate.cond.notify_all()

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

        A run from another process happens while the service has lent it the file, and the service
        reads the run afresh when the file comes back; the stamp is still re-read every ``run_check_seconds``.
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
            with self.gate.use():
                self.runs(self._refresh_cur)
        except Lent:
            pass  # the file is lent: it is read afresh when it comes back
        finally:
            self._refreshing.release()

    def runs(self, cur, force: bool = False) -> dict:
        """The latest done run and, per output table, the latest done run that wrote it (cached; ``force``:
        read again)."""
        stamp = tuple(cur.execute("SELECT max(run_id), count(*) FROM runs WHERE status = 'done'").fetchall()[0])
        self._runs_checked = time.monotonic()
        cached = self._runs_cache
        if cached is not None and cached[0] == stamp and not force:
            return cached[1]
        run = latest_run(cur)
        out = read_runs(cur, None if run is None else run[0])  # the read layer: which run each table is read at
        if run is not None:
            out["config"] = run[2]  # the run's settings as a Config
            out["clv_note"] = clv_note(self.ws, out)
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

    def notes(self) -> list[str]:
        """What the service cannot do for the run it serves (GET /health), from the cached run (no SQL): the run's
        CLV models cannot be read, so an event does not re-score CLV (:func:`clv_note`)."""
        cached = self._runs_cache
        return [n for n in (cached[1].get("clv_note"),) if n] if cached is not None else []


def clv_note(ws, runs: dict) -> str | None:
    """Why the live path cannot re-score the CLV of ``runs``' run that wrote ``clv`` (its stored models are missing
    or damaged: a run by an older shopseg, the Spark engine's), or None when it can or there is no CLV.  The
    refresh says the same in its record (``incremental.clv``)."""
    from ..predict._clv_scorer import load_stored

    crun = runs["tables"].get("clv")
    return None if crun is None else load_stored(ws, crun, dict(runs["config"]["clv"]))[1]
