"""The service's journal: batches posted while the workspace is lent, kept durably until applied.

An SQLite file beside ``shop.duckdb`` (:data:`JOURNAL`), written in the request (``synchronous=FULL``: a
202 answer means the batch is on disk). A batch is keyed by the SHA-256 of its rows, so the same batch
posted twice while the file is lent is journaled once. When the service holds the file again it applies
the queued batches in order through the live path, each in its own DuckDB transaction that also writes
``ingest_log.source = 'api:/events journal <id>'``; a batch whose id is already in ``ingest_log`` (the
service died between that commit and marking the batch) is marked applied without applying it twice.
Applied and refused batches keep their id, status and message; their rows are dropped (overwritten:
``secure_delete``; the write-ahead log truncated after each replay).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

JOURNAL = "serve-journal.sqlite"

_DDL = """CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, digest TEXT UNIQUE, rows TEXT, status TEXT NOT NULL,
    message TEXT, ingest_id INTEGER, posted_at REAL, done_at REAL)"""


def source_of(batch_id: int) -> str:
    """``ingest_log.source`` of a journaled batch once applied."""
    return f"api:/events journal {batch_id}"


class Journal:
    def __init__(self, ws_path: Path):
        self.path = Path(ws_path) / JOURNAL
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA secure_delete = ON")  # a dropped batch's bytes are overwritten (shopseg forget)
        self.db.execute(_DDL)
        self.lock = threading.Lock()

    def add(self, payload: dict, now: float) -> tuple[int, bool]:
        """Journal a posted body (validated, as JSON); (its id, True when new, False when the same body was
        already queued)."""
        text = json.dumps(payload, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()
        with self.lock:
            got = self.db.execute("SELECT id, status FROM batches WHERE digest = ?", [digest]).fetchone()
            if got is not None and got[1] == "queued":
                return int(got[0]), False
            if got is not None:  # posted again after it was applied or refused: a new batch
                self.db.execute("UPDATE batches SET digest = NULL WHERE id = ?", [got[0]])
            cur = self.db.execute("INSERT INTO batches (digest, rows, status, posted_at) VALUES (?, ?, 'queued', ?)",
                                  [digest, text, now])
            return int(cur.lastrowid), True

    def queued(self) -> list[tuple[int, dict]]:
        """The batches waiting to be applied, oldest first."""
        with self.lock:
            got = self.db.execute("SELECT id, rows FROM batches WHERE status = 'queued' ORDER BY id").fetchall()
        return [(int(i), json.loads(r)) for i, r in got]

    def has_queued(self) -> bool:
        with self.lock:
            return self.db.execute("SELECT 1 FROM batches WHERE status = 'queued' LIMIT 1").fetchone() is not None

    def done(self, batch_id: int, status: str, message: str | None, ingest_id: int | None, now: float) -> None:
        """Mark a batch ``applied`` or ``refused`` and drop its rows."""
        with self.lock:
            self.db.execute("UPDATE batches SET status = ?, message = ?, ingest_id = ?, rows = NULL, done_at = ? "
                            "WHERE id = ?", [status, message, ingest_id, now, batch_id])

    def settle(self) -> None:
        """After a replay: fold the write-ahead log into the file and truncate it (no dropped rows left there)."""
        with self.lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def status(self, batch_id: int) -> dict | None:
        with self.lock:
            got = self.db.execute("SELECT id, status, message, ingest_id FROM batches WHERE id = ?",
                                  [batch_id]).fetchone()
        if got is None:
            return None
        return {"batch": got[0], "status": got[1], "message": got[2], "ingest_id": got[3]}

    def close(self) -> None:
        self.db.close()
