"""The real-time path: append posted rows, then re-score the customers they touch.

One write = one DuckDB transaction on the service's writer connection:

1. check every row's references (``schema.Column.references``: a product,
   order or customer must exist in the workspace or in the same batch) and
   keys (an id already stored is refused), then append the rows;
2. for every customer the rows touch, ask the runner (:func:`shopseg.runner.score`) for the
   answers of every stage that has a ``score`` (clv, segments, churn), in runner order, as of
   ``live_as_of = max(run as_of, end of the day of the customer's latest posted row)``, with the
   stored run's state of each stage (:func:`shopseg.runner.load_states`, loaded once per run):
   the features and segments by the run's rules and reference population
   (:mod:`shopseg.segment._score`), churn and CLV by the run's stored models
   (:mod:`shopseg.predict._score`).  This module holds no stage logic of its own: it ingests,
   hands the runner a reader (the online store or the writer connection) and stores the answers;
3. store the result in ``live_state`` / ``live_segments`` (one current row
   per customer, tied to the run it is based on) and every move in
   ``segment_changes`` (changed_at = the posted row's own timestamp);
4. after COMMIT, put the same answer in the in-memory live cache that
   ``GET /customers/{id}`` reads (:meth:`LiveUpdater.cached`).

Anything that fails rolls the whole write back: nothing is stored or cached.

What the live path cannot do exactly (see docs/service.md):

* the top categories, the outlier median / MAD and churn's shop median gap
  are the stored run's, not the shop's at ``live_as_of``;
* a run made before cluster models were stored keeps the run's cluster.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..config import Config, load_config
from ..trust.pii import forgotten_among, pseudonymise_rows
from ..errors import DataContractError, ShopsegError
from .models import EVENT_TIME, POSTABLE
from .online import TABLES as STORE_TABLES, OnlineStore
from ..runner import score
from ..workspace import Workspace

LIVE_DDL = (
    """CREATE TABLE IF NOT EXISTS segment_changes (
        customer_id VARCHAR, scheme VARCHAR, "old" VARCHAR, "new" VARCHAR, changed_at TIMESTAMP,
        source VARCHAR, run_id BIGINT, recorded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS live_state (
        customer_id VARCHAR, run_id BIGINT, as_of TIMESTAMP, updated_at TIMESTAMP,
        features VARCHAR, churn VARCHAR, clv VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS live_segments (
        customer_id VARCHAR, run_id BIGINT, scheme VARCHAR, segment VARCHAR, as_of TIMESTAMP)""",
)
LIVE_TABLES_DOC = {
    "segment_changes": "One row per segment move: customer_id, scheme, old, new, changed_at (the event's own "
    "timestamp), source (`live`), run_id (the run whose rules scored it), recorded_at (wall clock, bookkeeping).",
    "live_state": "Per customer re-scored live: the features, churn and CLV (JSON) as of as_of, based on run_id.",
    "live_segments": "Per customer re-scored live and scheme: the segment as of as_of, based on run_id.",
}
SHADOWED = ("customers", "orders", "order_lines", "events", "reviews")


class RowError(DataContractError):
    """A posted row breaks a reference or key rule: ``details`` names the table, row and column."""

    def __init__(self, message: str, details: list[dict], *, status: int = 422, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.details = details
        self.status = status


class _ConWs(Workspace):
    """A :class:`~shopseg.workspace.Workspace` over one connection the service holds (its queries and catalog
    look-ups, not its opening or closing).

    Lets the batch code run on the writer connection (inside its transaction,
    seeing the rows just appended, and the shadow tables when they exist).
    """

    def __init__(self, con, path: Path):
        super().__init__(path, con)


class _StoreWs(_ConWs):
    """The same calls over the online store (serve/online.py): the input tables only, DuckDB SQL in."""

    def has_table(self, name: str) -> bool:
        return name in STORE_TABLES

    def columns(self, table: str) -> list[str]:
        return [c.name for c in schema.get_table(table).all_columns] if table in STORE_TABLES else []


def end_of_day(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, ts.day, 23, 59, 59, 999999)


def latest_run(con) -> tuple[int, datetime, Config] | None:
    """(run_id, as_of, config) of the latest done run, or None."""
    rows = con.execute("SELECT run_id, as_of, config FROM runs WHERE status = 'done' "
                       "ORDER BY run_id DESC LIMIT 1").fetchall()
    if not rows:
        return None
    rid, as_of, cfg = rows[0]
    try:
        config = load_config(overrides=json.loads(cfg)) if cfg else load_config()
    except (ShopsegError, ValueError):  # a run made under settings this version no longer knows
        config = load_config()
    return int(rid), as_of, config


def table_run(con, table: str, at_most: int | None = None) -> int | None:
    """The latest done run that wrote ``table`` (at most ``at_most``), or None when the table is absent."""
    from ..runner import table_run as _table_run

    return _table_run(_ConWs(con, Path(".")), table, at_most)


def load_reference(con, path: Path):
    """The latest done run as the live path scores against it (:class:`shopseg.runner.ServedRun`), or None."""
    from ..pipeline import registered_stages
    from ..runner import load_states

    run = latest_run(con)
    if run is None:
        return None
    rid, as_of, cfg = run
    return load_states(registered_stages(), _ConWs(con, path), rid, as_of, cfg)


class LiveUpdater:
    """Applies posted batches on one writer connection, serialised by a lock."""

    def __init__(self, ws_path: Path, writer_con, *, online_rows: int = 5_000_000):
        self.path = Path(ws_path)
        self.con = writer_con
        self.lock = threading.Lock()
        self._ref = None  # the served run (shopseg.runner.ServedRun), loaded once per run
        # customer_id -> the committed live answer of the current run (what GET reads without SQL);
        # filled from live_state / live_segments by load_cache, updated after each write commits
        self._cache: dict[str, dict] = {}
        self._cache_run: int | None = None
        self._pending: dict[str, dict] = {}
        self.online_rows = online_rows
        self.reopen(writer_con)

    def reopen(self, writer_con, keep_store: bool = False) -> None:
        """Work on ``writer_con`` (the service opened the workspace again after lending it): the online store
        is copied afresh unless ``keep_store`` (the borrower changed no input row); the live cache stays until
        :meth:`load_cache` reads the run again."""
        if keep_store and getattr(self, "store", None) is not None:
            self.con, self._ref = writer_con, None
            self.store.duck = writer_con  # what SQLite cannot run goes to DuckDB: the open connection
            return
        self.con = writer_con
        self._ref = None
        self._db = writer_con.execute("SELECT current_database()").fetchall()[0][0]
        for ddl in LIVE_DDL:
            self.con.execute(ddl)
        # the input tables as rows in SQLite, for re-scoring in milliseconds (serve/online.py);
        # None: a shop over ``online_rows`` input rows is re-scored in DuckDB itself
        self.store: OnlineStore | None = None
        if self.online_rows and OnlineStore.count_rows(self.con) <= self.online_rows:
            self.store = OnlineStore(self.con).load()

    def _reader(self):
        """Where the re-score reads the inputs: the online store, else the writer connection."""
        return _StoreWs(self.store, self.path) if self.store is not None else _ConWs(self.con, self.path)

    # -- the live cache ---------------------------------------------------------------
    def load_cache(self, cur, run_id: int) -> None:
        """Read the run's live rows into the cache (call under ``self.lock``)."""
        cache: dict[str, dict] = {}
        for cid, as_of, feats, churn, clv in cur.execute(
                "SELECT customer_id, as_of, features, churn, clv FROM live_state WHERE run_id = ?", [run_id]).fetchall():
            cache[cid] = {"run_id": run_id, "as_of": as_of, "features": json.loads(feats) if feats else None,
                          "churn": json.loads(churn) if churn else None, "clv": json.loads(clv) if clv else None,
                          "segments": []}
        for cid, scheme, seg in cur.execute("SELECT customer_id, scheme, segment FROM live_segments WHERE run_id = ? "
                                            "ORDER BY customer_id, scheme", [run_id]).fetchall():
            if cid in cache:
                cache[cid]["segments"].append({"scheme": scheme, "segment": seg})
        self._cache, self._cache_run = cache, run_id

    def cached(self, run_id: int | None, customer_id: str) -> dict | None:
        """The committed live answer for ``customer_id`` based on run ``run_id``, or None."""
        if run_id is None or self._cache_run != run_id:
            return None
        hit = self._cache.get(customer_id)
        return hit if hit is not None and hit["run_id"] == run_id else None

    # -- the stored run ----------------------------------------------------------------
    def reference(self):
        rid = self.con.execute("SELECT max(run_id) FROM runs WHERE status = 'done'").fetchall()[0][0]
        if rid is None:
            return None
        if self._ref is None or self._ref.run_id != rid:
            self._ref = load_reference(self.con, self.path)
        return self._ref

    # -- validation ----------------------------------------------------------------------
    def _check(self, rows: dict[str, list[dict]]) -> None:
        con = self.con
        problems: list[dict] = []
        for table in POSTABLE:
            t = schema.get_table(table)
            data = rows.get(table) or []
            if not data:
                continue
            # keys: unique in the batch and not already stored
            key = t.key
            if all(k in data[0] for k in key) and not (table == "order_lines" and any(
                    r.get("line_no") is None for r in data)):
                seen: dict = {}
                for i, r in enumerate(data):
                    k = tuple(r[c] for c in key)
                    if k in seen:
                        problems.append({"table": table, "row": i, "column": key[-1], "status": 409,
                                         "message": f"{table} {', '.join(map(str, k))} appears twice in the batch "
                                                    f"(rows {seen[k]} and {i})."})
                    seen[k] = i
                if len(key) == 1:
                    found = self._stored_among(table, key[0], [k[0] for k in seen])
                    for i, r in enumerate(data):
                        if r[key[0]] in found:
                            problems.append({"table": table, "row": i, "column": key[0], "status": 409,
                                             "message": f"{table}.{key[0]} {r[key[0]]!r} is already stored; "
                                                        "rows are appended, never replaced."})
            # references: in the workspace or earlier in this batch
            for c in t.columns:
                if not c.references:
                    continue
                rt, rc = c.references.split(".")
                vals = sorted({r[c.name] for r in data if r.get(c.name) is not None})
                if not vals:
                    continue
                known = {r.get(rc) for r in rows.get(rt) or []}
                missing = [v for v in vals if v not in known]
                if missing:
                    known |= self._stored_among(rt, rc, missing)
                for i, r in enumerate(data):
                    v = r.get(c.name)
                    if v is not None and v not in known:
                        problems.append({"table": table, "row": i, "column": c.name, "status": 422,
                                         "message": f"{table}.{c.name} {v!r} is unknown: expected a value of "
                                                    f"{c.references} already stored or posted in the same batch."})
        # customers removed by `shopseg forget` are not re-created by a post (docs/security.md)
        posted = {r.get("customer_id") for t in POSTABLE for r in rows.get(t) or []}
        gone = forgotten_among(con, self.path, posted)
        for table in POSTABLE:
            for i, r in enumerate(rows.get(table) or []):
                if r.get("customer_id") in gone:
                    problems.append({"table": table, "row": i, "column": "customer_id", "status": 422,
                                     "message": f"{table}.customer_id is a forgotten customer."})
        if problems:
            status = 409 if all(p["status"] == 409 for p in problems) else 422
            first = problems[0]
            raise RowError(f"{len(problems)} row problem(s); first: {first['table']}[{first['row']}]."
                           f"{first['column']}: {first['message']}", problems, status=status,
                           hint="Nothing was stored. Post the referenced rows first or in the same batch.")

    def _stored_among(self, table: str, column: str, values: list) -> set:
        """The ``values`` already stored in ``table.column``: asked of the online store when there is one
        (it holds exactly the workspace's rows, indexed on every key), else of the workspace."""
        reader = self.store if self.store is not None else self.con
        return {x[0] for x in reader.execute(
            f'SELECT "{column}" FROM "{table}" WHERE "{column}" IN (SELECT unnest(?))', [values]).fetchall()}

    # -- writing -------------------------------------------------------------------------
    def _append(self, table: str, data: list[dict], ingest_id: int) -> int:
        t = schema.get_table(table)
        if table == "customers":  # privacy.pii of the stored run: pseudonyms, raw values apart or dropped
            ref = self.reference()
            policy = (ref.config if ref is not None else load_config())["privacy.pii"]
            data, raw = pseudonymise_rows(data, policy, self.path)
            if raw:
                self.con.execute(
                    "INSERT INTO customer_pii BY NAME SELECT r.*, ? AS ingest_id FROM (SELECT unnest(?::STRUCT("
                    "customer_id VARCHAR, email VARCHAR, phone VARCHAR, name VARCHAR, address VARCHAR)[], "
                    "recursive := true)) r WHERE r.customer_id NOT IN (SELECT customer_id FROM customer_pii)",
                    [ingest_id, raw])
        if len(data) <= 32:  # a few rows (one event, one order): bound values, no DataFrame round trip
            one = "(" + ", ".join(f"CAST(? AS {c.type})" for c in t.all_columns) + ")"
            names = ", ".join(f'"{c.name}"' for c in t.all_columns)
            params = [ingest_id if c.name == "ingest_id" else r.get(c.name) for r in data for c in t.all_columns]
            self._stored(table, self.con.execute(
                f'INSERT INTO "{table}" ({names}) VALUES {", ".join([one] * len(data))} RETURNING *', params))
            return len(data)
        cols = [c.name for c in t.columns]
        frame = pd.DataFrame({c: [r.get(c) for r in data] for c in cols})
        frame["ingest_id"] = ingest_id
        for c in t.columns:  # all-None columns come in as object: give DuckDB the schema type
            if frame[c.name].isna().all():
                frame[c.name] = pd.Series([None] * len(frame), dtype=object)
        view = f"_shopseg_live_{table}"
        self.con.register(view, frame)
        try:
            sel = ", ".join(f'CAST("{c.name}" AS {c.type}) AS "{c.name}"' for c in t.all_columns)
            self._stored(table, self.con.execute(f'INSERT INTO "{table}" BY NAME SELECT {sel} FROM "{view}" RETURNING *'))
        finally:
            self.con.unregister(view)
        return len(data)

    def _stored(self, table: str, res) -> None:
        """The rows DuckDB just stored (``RETURNING *``) go to the online store too (fetched either way)."""
        rows = res.fetchall()
        if self.store is not None:
            self.store.insert(table, [d[0] for d in res.description], rows)

    def apply(self, rows: dict[str, list[dict]], source: str = "api:/events") -> dict:
        """Check, append and re-score in one transaction; returns what was done (``source``: ingest_log's)."""
        with self.lock:
            con = self.con
            self._pending = {}
            con.execute("BEGIN TRANSACTION")
            if self.store is not None:
                self.store.begin()
            try:
                self._check(rows)
                ingest_id = int(con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingest_log").fetchall()[0][0])
                added = {t: self._append(t, rows[t], ingest_id) for t in POSTABLE if rows.get(t)}
                n = sum(added.values())
                con.execute(
                    "INSERT INTO ingest_log (ingest_id, source, target, n_input, n_accepted, n_quarantined, "
                    "n_duplicate, rows_added, summary, loaded_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, '{}', "
                    "current_timestamp)", [ingest_id, source, ",".join(added), n, n, json.dumps(added)])
                touched = self._touched(rows)
                changes = self._rescore(touched) if touched else []
            except BaseException:
                con.execute("ROLLBACK")
                if self.store is not None:
                    self.store.rollback()
                self._pending = {}
                raise
            try:
                con.execute("COMMIT")
            except BaseException:
                if self.store is not None:
                    self.store.rollback()
                raise
            if self.store is not None:
                self.store.commit()
            for cid, entry in self._pending.items():  # visible to GET only once committed
                if entry["run_id"] == self._cache_run:
                    self._cache[cid] = entry
            self._pending = {}
        return {"ingest_id": ingest_id, "rows_added": added, "customers_rescored": sorted(touched),
                "changes": changes}

    def _touched(self, rows: dict[str, list[dict]]) -> dict[str, datetime | None]:
        """customer_id -> latest own timestamp of the posted rows about them."""
        out: dict[str, datetime | None] = {}

        def put(cid, ts):
            if cid is None:
                return
            prev = out.get(cid)
            out[cid] = ts if prev is None else (prev if ts is None else max(prev, ts))

        for table in ("customers", "orders", "events", "reviews"):
            for r in rows.get(table) or []:
                put(r.get("customer_id"), r.get(EVENT_TIME[table]))
        order_owner = {r["order_id"]: (r.get("customer_id"), r.get("ordered_at")) for r in rows.get("orders") or []}
        lines = rows.get("order_lines") or []
        missing = sorted({r["order_id"] for r in lines if r["order_id"] not in order_owner})
        if missing:
            for oid, cid, ts in self.con.execute("SELECT order_id, customer_id, ordered_at FROM orders "
                                                 "WHERE order_id IN (SELECT unnest(?))", [missing]).fetchall():
                order_owner[oid] = (cid, ts)
        for r in lines:
            cid, ts = order_owner.get(r["order_id"], (None, None))
            put(cid, ts)
        return out

    # -- re-scoring --------------------------------------------------------------------------
    def _rescore(self, touched: dict[str, datetime | None]) -> list[dict]:
        ref = self.reference()
        if ref is None:
            return []  # no run yet: rows stored, nothing to re-score against
        changes: list[dict] = []
        for cid, ts in sorted(touched.items()):
            as_of = max(ref.as_of, end_of_day(ts)) if ts is not None else ref.as_of
            changed_at = ts if ts is not None else ref.as_of
            changes += self._rescore_one(ref, cid, as_of, changed_at)
        return changes

    def score(self, ref, customer_id: str, as_of: datetime, timings: dict | None = None) -> dict[str, dict]:
        """Every scoring stage's answer for ``customer_id`` as of ``as_of`` (the runner, on the live reader)."""
        # the workspace's outputs beside the inputs' reader: the run's CLV row a churn re-score pools with
        return score(ref, self._reader(), [customer_id], as_of, timings,
                     given={"outputs": _ConWs(self.con, self.path)})

    def _rescore_one(self, ref, cid: str, as_of: datetime, changed_at: datetime) -> list[dict]:
        con = self.con
        got = self.score(ref, cid, as_of)
        seg = got.get("segments", {}).get(cid)
        if seg is None:
            return []  # not a customer of the workspace's features (nothing to store)
        segs, feats = seg["segments"], seg["features"]
        churn, clv = got.get("churn", {}).get(cid), got.get("clv", {}).get(cid)

        # previous segments: the live ones of this run, else the run's own
        old = dict(con.execute("SELECT scheme, segment FROM live_segments WHERE customer_id = ? AND run_id = ?",
                               [cid, ref.run_id]).fetchall())
        srun = ref.states["segments"].segments_run if "segments" in ref.states else None
        if srun is not None:
            for scheme, seg_ in con.execute("SELECT scheme, segment FROM segments WHERE run_id = ? AND customer_id = ?",
                                            [srun, cid]).fetchall():
                old.setdefault(scheme, seg_)
        moves = [{"customer_id": cid, "scheme": s, "old": old.get(s), "new": new, "changed_at": changed_at,
                  "source": "live"} for s, new in segs.items() if old.get(s) != new]
        for m in moves:
            con.execute('INSERT INTO segment_changes VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)',
                        [m["customer_id"], m["scheme"], m["old"], m["new"], m["changed_at"], m["source"], ref.run_id])
        con.execute("DELETE FROM live_segments WHERE customer_id = ?", [cid])
        if segs:  # one statement for every scheme
            con.execute("INSERT INTO live_segments VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(segs)),
                        [v for s, seg_ in segs.items() for v in (cid, ref.run_id, s, seg_, as_of)])
        con.execute("DELETE FROM live_state WHERE customer_id = ?", [cid])
        fjson = _json_row(feats.iloc[seg["row"]])
        cjson = json.dumps(churn, default=str) if churn is not None else None
        vjson = json.dumps(clv, default=str) if clv is not None else None
        con.execute("INSERT INTO live_state VALUES (?, ?, ?, ?, ?, ?, ?)", [
            cid, ref.run_id, as_of, changed_at, fjson, cjson, vjson])
        # what GET will read from the cache: the same values as from the table (JSON round trip)
        self._pending[cid] = {"run_id": ref.run_id, "as_of": as_of, "features": json.loads(fjson),
                              "churn": json.loads(cjson) if cjson else None, "clv": json.loads(vjson) if vjson else None,
                              "segments": [{"scheme": sc, "segment": sg} for sc, sg in sorted(segs.items())]}
        return moves


def _json_row(row: pd.Series) -> str:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, (np.bool_, bool)):
            out[k] = bool(v)
        elif isinstance(v, (np.integer,)):
            out[k] = int(v)
        elif isinstance(v, (np.floating, float)):
            out[k] = None if np.isnan(v) else float(v)
        else:
            out[k] = v
    return json.dumps(out, default=str)


__all__ = ["LiveUpdater", "RowError", "LIVE_DDL", "LIVE_TABLES_DOC", "end_of_day", "latest_run", "table_run"]
