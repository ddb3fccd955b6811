"""The web service: customer look-ups, segment lists and exports, live events, and the dashboard.

:func:`create_app` builds a FastAPI app over one workspace.  DuckDB allows one
writing process, so the app holds the workspace's one connection: every read
runs on a per-thread cursor of it (``con.cursor()``, a snapshot of committed
data), every write on one writer cursor under a lock (:mod:`.live`).
``GET /customers/{id}`` is answered from memory when it can: the latest run's
per-customer rows (:class:`_Snapshot`, read once per run) and the live cache
that a write updates when it commits; other ids take one SQL statement.  Those
memory answers are the hot path and skip FastAPI's routing (:class:`_App`).

Thin surface: the handlers parse, call one library function, and format.
Errors are translated once (:func:`_error`): ``{"error", "message", "hint",
"details"}`` with 400 (malformed JSON), 401 (no key), 403 (wrong key or a read
key where the write key is needed), 404, 409 (an id already stored), 413
(body over ``max_body_bytes`` or more than ``max_rows`` rows), 422 (a field
at fault, named), 500 (a bug: nothing stored, the transaction is rolled back).
"""

from __future__ import annotations

import csv
import gc
import hmac
import io
import json
import math
import secrets
import threading
import time
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import fastapi_offline
import numpy as np
import pandas as pd
import pydantic_core
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..act.export import csv_safe
from ..errors import NotFoundError, ShopsegError, WorkspaceError, disk_full_error
from ..trust.pii import contacts_sql
from ..views import (VIEW_PARTS, members, next_action_words, plan_view, read_parts, read_runs, recommendation_words,
                     segment_listing, segment_run, shape)
from ..views.customer import MANY_ROWS, ordered_by_rank
from ..workspace import Workspace
from . import models as M
from .live import LiveUpdater, RowError, latest_run

HERE = Path(__file__).parent
PII_COLUMNS = ("email", "phone", "name")
SESSION_COOKIE = "shopseg_session"
SESSION_SECONDS = 8 * 3600  # a dashboard session lasts a working day, then the key is asked for again


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, hint: str | None = None,
                 details: list | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.hint, self.details = status, error, message, hint, details


MAX_PAGE = 1_000_000_000  # (page - 1) * size stays a 64-bit OFFSET


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number; expected a finite number")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"the number {text[:30]} is out of range; expected a finite number")
    return v


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits is out of range; expected at most 19")
    return int(text)


def _error(status: int, error: str, message: str, hint: str | None = None, details: list | None = None) -> JSONResponse:
    body = M.ErrorBody(error=error, message=message, hint=hint, details=details).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)


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


# -- library functions the handlers call ----------------------------------------------------------


def _cell(v):
    """A value of a snapshot column as the JSON path would give it (None for NULL / NaN / NaT)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else pd.Timestamp(v).to_pydatetime()
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


class _SnapTable:
    """One run's rows of an output table, in memory, ordered by customer_id: O(log n) look-ups.

    The rows are one numpy structured array, so a row becomes Python values in one C call
    (``.item()``) rather than one conversion per cell; text columns are dictionary-encoded
    (int32 codes + values), so 1M customers x a few schemes stay a few hundred MB;
    customer_id is not stored per row.
    """

    def __init__(self, df: pd.DataFrame, limit: int):
        self.limit = limit
        ids = df["_shopseg_id"].to_numpy(dtype=str) if len(df) else np.array([], dtype=str)
        if len(ids):  # first row of each customer (rows come ordered by customer_id)
            self.starts = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1, [len(ids)]])
            self.ids = ids[self.starts[:-1]]
        else:
            self.starts, self.ids = np.array([0]), ids
        self.names: list[str] = []
        self.id_pos: list[int] = []  # where customer_id goes
        self.float_pos: list[int] = []  # NaN -> None
        self.text: list[tuple[int, list]] = []  # (position, values by code); code -1 -> None
        self.obj_pos: list[int] = []  # anything else: _cell per value
        fields, arrays = [], []
        for c in df.columns:
            if c == "_shopseg_id":
                continue
            pos = len(self.names)
            self.names.append(c)
            col = df[c]
            if c == "customer_id":
                self.id_pos.append(pos)
                arr = np.zeros(len(df), dtype=np.int8)
            elif isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
                arr = col.to_numpy()
                if arr.dtype.kind == "f":
                    self.float_pos.append(pos)
            elif isinstance(col.dtype, np.dtype) and col.dtype.kind == "M":  # tz-naive: .item() gives datetime
                arr = col.to_numpy().astype("datetime64[us]")
            elif pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) \
                    or pd.api.types.is_datetime64_any_dtype(col):  # nullable / tz-aware: object cells
                arr = col.to_numpy(dtype=object)
                self.obj_pos.append(pos)
            else:
                codes, uniques = pd.factorize(col, use_na_sentinel=True)
                arr = codes.astype(np.int32)
                self.text.append((pos, [_cell(u) for u in uniques]))
            fields.append((f"f{pos}", arr.dtype))
            arrays.append(arr)
        self.rec = np.empty(len(df), dtype=fields)
        for (name, _), arr in zip(fields, arrays):
            self.rec[name] = arr

    def rows(self, j: int, customer_id: str) -> list[dict]:
        """The rows of the ``j``-th customer of :attr:`ids` (who is ``customer_id``), at most ``limit``."""
        lo, hi = int(self.starts[j]), int(self.starts[j + 1])
        out = []
        for rec in self.rec[lo:min(hi, lo + self.limit)].tolist():
            vals = list(rec)
            for p in self.id_pos:
                vals[p] = customer_id
            for p in self.float_pos:
                if math.isnan(vals[p]):
                    vals[p] = None
            for p, uniq in self.text:
                k = vals[p]
                vals[p] = None if k < 0 else uniq[k]
            for p in self.obj_pos:
                vals[p] = _cell(vals[p])
            out.append(dict(zip(self.names, vals)))
        return out


class _Snapshot:
    """The latest run's per-customer output rows in memory, read once per run.

    GET /customers/{id} then needs no SQL for a customer the run knows: the live
    part comes from :meth:`LiveUpdater.cached` (updated when a write commits).
    """

    def __init__(self, cur, runs: dict):
        self.tables: dict[str, _SnapTable] = {}
        for table, (sel, many) in VIEW_PARTS.items():
            rid = runs["tables"].get(table)
            if rid is None:
                continue
            order = "customer_id, rank" if ordered_by_rank(runs, table) else "customer_id"
            keyed = sel.replace("SELECT ", "SELECT customer_id AS _shopseg_id, ", 1)
            df = cur.execute(f"{keyed} WHERE run_id = ? AND customer_id IS NOT NULL ORDER BY {order}",
                             [int(rid)]).df()
            self.tables[table] = _SnapTable(df, MANY_ROWS if many else 1)
        # one sorted index of every customer any table knows, and per table where each is in it (-1: absent):
        # a look-up is one binary search, not one per table
        ids = [t.ids for t in self.tables.values()]
        self.ids = np.unique(np.concatenate(ids)) if ids else np.array([], dtype=str)
        self.slots: list[tuple[str, bool, _SnapTable, np.ndarray]] = []
        for t, tab in self.tables.items():
            pos = tab.ids.searchsorted(self.ids)
            found = pos < len(tab.ids)
            found[found] = tab.ids[pos[found]] == self.ids[found]
            self.slots.append((t, VIEW_PARTS[t][1], tab, np.where(found, pos, -1).astype(np.int32)))

    def lookup(self, customer_id: str, live: dict | None) -> dict | None:
        """The parts of a customer's view, or None when the run does not know them (the SQL path decides)."""
        got: dict[str, Any] = {t: None for t in VIEW_PARTS}
        i = int(self.ids.searchsorted(customer_id))
        if i < len(self.ids) and self.ids[i] == customer_id:
            for t, many, tab, slot in self.slots:
                j = int(slot[i])
                if j >= 0:
                    rows = tab.rows(j, customer_id)
                    got[t] = rows if many else rows[0]
        if got["customer_features"] is None and live is None:
            return None
        got["live"] = live
        got["live_segments"] = live["segments"] if live is not None else None
        got["n_customer_rows"] = 1
        return got


_MISS = object()


def fast_customer_view(state: _State, customer_id: str):
    """The view from memory alone (run snapshot + live cache), or ``_MISS`` when SQL is needed.

    No SQL, no thread hop: what GET /customers/{id} answers on the event loop.
    """
    got = _fast_parts(state, customer_id)
    return _MISS if got is None else _assemble(got[0], customer_id, got[1])


def _fast_parts(state: _State, customer_id: str) -> tuple[dict, dict] | None:
    """(runs, parts of the view) from memory alone, or None when SQL is needed."""
    runs = state.fresh_runs()
    if runs is None or runs.get("snapshot") is None:
        return None
    got = runs["snapshot"].lookup(customer_id, state.live.cached(runs["run_id"], customer_id))
    return None if got is None else (runs, got)


_VIEW_JSON = TypeAdapter(M.CustomerView)

# Sent with every response (docs/security.md): no framing, no MIME sniffing, no referrer, and a content security
# policy that lets pages run only this service's own scripts (the API docs page also runs Swagger UI's one
# inline start-up script) and reach only this service.
_BASE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"no-referrer")]
_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_CSP_DOCS = _CSP.replace(b"script-src 'self'", b"script-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = [*_BASE_HEADERS, (b"content-security-policy", _CSP)]
_DOCS_HEADERS = [*_BASE_HEADERS, (b"content-security-policy", _CSP_DOCS)]


def _with_security_headers(send, path: str):
    extra = _DOCS_HEADERS if path in ("/docs", "/redoc") else SECURITY_HEADERS

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


class _App(FastAPI):
    """FastAPI, with a ``GET /customers/{id}`` the run snapshot can answer answered before the middleware stack.

    The same answer as the route (the same parts and :func:`shopseg.views.shape`, the same JSON:
    ``tests/test_serve_api.py`` compares the bytes); what it skips is per request work
    of the framework (middleware layers, dependency solving, model validation of values
    the snapshot already typed): with the snapshot's row conversion in one C call, a
    look-up's CPU in the ASGI app went from 0.34 to 0.05-0.07 ms (docs/service.md).  Only
    the success case is taken here: a valid ``X-API-Key`` header and an id the snapshot knows.
    Everything else (no key, a wrong key, the cookie, an unknown id, a snapshot being
    rebuilt, an exception) goes on to the route, so errors, 404s and the SQL path are
    the route's.
    """

    shopseg_state: _State | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and self.shopseg_state is not None:
            body = self._fast_body(scope)
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"),
                    *SECURITY_HEADERS]})
                await send({"type": "http.response.body", "body": body})
                return
        if scope["type"] == "http":
            send = _with_security_headers(send, scope["path"])
        await super().__call__(scope, receive, send)

    def _fast_body(self, scope) -> bytes | None:
        path = scope["path"]
        if not path.startswith("/customers/") or "/" in path[11:] or len(path) == 11 or scope.get("root_path"):
            return None
        state = self.shopseg_state
        key = next((v for k, v in scope["headers"] if k == b"x-api-key"), None)
        if key is None or state.key_level(key) is None:
            return None
        cid = path[11:]
        try:
            got = _fast_parts(state, cid)
            d = None if got is None else shape(got[0], cid, got[1])
            if d is None:
                return None
            if d["live"]:  # parts parsed from JSON: validated, as the route does
                return _VIEW_JSON.dump_json(M.CustomerView.model_validate(d), by_alias=True)
            return pydantic_core.to_json(d, inf_nan_mode="null")  # the snapshot's typed values as they are
        except Exception:  # noqa: BLE001 - the route runs the same calls and reports what went wrong
            return None


def members_page(state: _State, cur, scheme: str, segment: str, page: int, size: int) -> M.MembersPage:
    """One page of a segment's customer ids (ordered by id), for the API and the dashboard."""
    return M.MembersPage(**members(cur, state.runs(cur), scheme, segment, page, size))


def customer_view(state: _State, cur, customer_id: str, *, use_snapshot: bool = True) -> M.CustomerView | None:
    """Everything known about one customer (:func:`shopseg.views.customer_view`); each part None / empty when its
    table is absent.

    From the run's in-memory snapshot plus the live cache when the run knows the
    customer (no SQL); else the read layer's one SQL statement (:func:`shopseg.views.read_parts`).
    """
    runs = state.runs(cur)
    snap = runs.get("snapshot")
    got = None
    if snap is not None and use_snapshot:
        got = snap.lookup(customer_id, state.live.cached(runs["run_id"], customer_id))
    if got is None:
        got = read_parts(cur, runs, customer_id)
    return _assemble(runs, customer_id, got)


def _assemble(runs: dict, customer_id: str, got: dict) -> M.CustomerView | None:
    d = shape(runs, customer_id, got)
    return None if d is None else M.CustomerView.model_validate(d)


def segments_view(state: _State, cur, scheme: str | None = None) -> M.SegmentsView:
    """Sizes and names of every scheme's segments; with ``scheme``, that scheme's only, each with its profile and
    figures (:func:`shopseg.views.segment_listing`), or a 404 naming the schemes there are."""
    runs = state.runs(cur)
    return M.SegmentsView(run_id=runs["run_id"], schemes=segment_listing(cur, runs, scheme))


def _segment_run(state: _State, cur, scheme: str, segment: str) -> int:
    return segment_run(cur, state.runs(cur), scheme, segment)


def churn_threshold_curve(state: _State, cur) -> dict:
    """Campaign reach at every threshold 0.00..1.00: true churners and false alarms above it.

    Source, first available: (1) ``validation``: the stored churn model's
    predictions on its validation cutoff (``as_of - H``) against the observed
    labels of ``[as_of - H, as_of)`` (the same customers and labels as the
    model's quality figures); (2) ``observed``: the run's ``churn_scores``
    against orders observed in the H days after the run's as_of, when the
    workspace holds that much later data; else an empty curve with a note.
    """
    runs = state.runs(cur)
    rid = runs["run_id"]
    if rid in state._curve_cache:
        return state._curve_cache[rid]
    grid = np.round(np.arange(0, 101) / 100, 2)
    out: dict[str, Any] = {"run_id": rid, "thresholds": grid.tolist(), "source": None, "note": None,
                           "n": 0, "n_churners": 0, "true_churners": [], "false_alarms": []}
    p = y = None
    ws_path = state.ws.path
    from .live import _ConWs

    model_file = ws_path / "models" / f"churn_run{rid}.json" if rid is not None else None
    if model_file is not None and model_file.exists():
        from ..predict.churn import churn_labels, cutoff_frame, load_churn_model

        own = state.ws.con.cursor()
        try:
            w = _ConWs(own, ws_path)
            model = load_churn_model(w, rid)
            meta = model.metadata_
            H = int(meta["horizon"]["horizon_days"])
            c2 = datetime.fromisoformat(meta["cutoffs"]["valid"])
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = cutoff_frame(w, c2, H, runs["config"])
                lab = churn_labels(w, c2, H)
                frame = frame.merge(lab, on="customer_id", how="inner")
                p = model.predict_proba(frame[model.feature_names_in_])[:, 1]
            y = frame["churned"].to_numpy(dtype=int)
            out.update(source="validation", horizon_days=H, cutoff=c2.isoformat())
        except (ShopsegError, KeyError, ValueError) as e:
            out["note"] = f"stored churn model unusable: {e}"
        finally:
            own.close()
    if p is None and runs["tables"].get("churn_scores") is not None:
        H = None
        if runs["tables"].get("model_reports") is not None:
            got = cur.execute("SELECT max(CAST(json_extract(details, '$.horizon_days') AS INTEGER)) FROM model_reports "
                              "WHERE run_id = ?", [runs["tables"]["model_reports"]]).fetchall()
            H = got[0][0]
        H = int(H or runs["config"]["churn.fallback_horizon_days"])
        as_of = runs["as_of"]
        last = cur.execute("SELECT max(ordered_at) FROM orders").fetchall()[0][0]
        if last is not None and (last - as_of).days >= H:
            df = cur.execute(
                """SELECT s.probability, CAST(NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = s.customer_id
                       AND o.kind = 'sale' AND o.ordered_at >= $as_of AND o.ordered_at < $as_of + to_days($h))
                       AS INTEGER) AS churned
                   FROM churn_scores s WHERE s.run_id = $run""",
                {"as_of": as_of, "h": H, "run": runs["tables"]["churn_scores"]}).df()
            p, y = df["probability"].to_numpy(float), df["churned"].to_numpy(int)
            out.update(source="observed", horizon_days=H)
        elif out["note"] is None:
            out["note"] = (f"no churn model stored and fewer than {H} days of orders after the run's as_of: "
                           "nothing to check the scores against yet")
    if p is not None:
        reach = p[None, :] >= grid[:, None]
        out["true_churners"] = (reach & (y[None, :] == 1)).sum(axis=1).tolist()
        out["false_alarms"] = (reach & (y[None, :] == 0)).sum(axis=1).tolist()
        out["n"], out["n_churners"] = int(len(y)), int(y.sum())
    elif out["note"] is None:
        out["note"] = "no churn scores in the workspace"
    state._curve_cache[rid] = out
    return out


def add_filters(env) -> None:
    """The read layer's sentences as Jinja filters: the dashboard says what the CLI says."""
    env.filters["action_words"] = next_action_words
    env.filters["recommendation_words"] = recommendation_words


def campaign_plan(state: _State, cur) -> dict:
    """The plan of the latest run with actions (:func:`shopseg.views.plan_view`: the figures `shopseg plan` and
    the report show), with its first actions."""
    plan = plan_view(cur, first_actions=50)
    plan.pop("frame")
    return plan


# -- the app ------------------------------------------------------------------------------------------

def create_app(workspace_path, read_key: str, write_key: str, *, max_body_bytes: int = 1_000_000,
               max_rows: int = 10_000, index: bool = True, snapshot: bool = True,
               threads: int | None = None, online_rows: int = 5_000_000) -> FastAPI:
    """The FastAPI app over the workspace at ``workspace_path``.

    ``read_key`` answers GET requests; ``write_key`` also POST /events and the
    PII columns of exports.  Both are required and must differ.  ``snapshot``:
    read the run's per-customer output rows into memory once per run, so
    GET /customers/{id} needs no SQL (docs/service.md); ``index``: ART indexes on
    customer_id for the SQL path.  ``threads``: DuckDB worker threads of the service's
    database (None: DuckDB's default, every core).  A live re-score is a handful of small
    statements, so 1 might serve it better; on the shared 2-core machine the measurements
    did not settle it either way (docs/service.md), so the default is left alone.
    ``online_rows``: a shop with at most this many input rows (customers, products, orders,
    lines, events, reviews) is copied into the in-memory online store at start, where
    ``POST /events`` re-scores a customer in milliseconds (serve/online.py); bigger shops,
    or 0, re-score in DuckDB.
    """
    if not read_key or not write_key:
        raise ShopsegError("The service needs a read key and a write key.",
                           hint="Pass --read-key/--write-key or set SHOPSEG_READ_KEY / SHOPSEG_WRITE_KEY.")
    if read_key == write_key:
        raise ShopsegError("The read key and the write key must differ.")
    ws = Workspace.open(workspace_path, create=False)
    if threads is not None:
        ws.con.execute(f"SET threads = {int(threads)}")
    state = _State(ws, read_key, write_key, max_body_bytes, max_rows, index, snapshot, online_rows)
    state.runs(state.cursor())  # read the run, build the look-up SQL and indexes before the first request
    @asynccontextmanager
    async def lifespan(_app):
        yield
        ws.close()

    app = _App(title="shopseg", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
               description="Customer segments, predictions and live events over a shopseg workspace. "
                           "Send the key in the `X-API-Key` header (on /docs: Authorize, then Try it out).")
    app.state.shopseg = state
    app.shopseg_state = state
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    add_filters(templates.env)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # the API docs' assets from an installed package (fastapi-offline ships Swagger UI and ReDoc): FastAPI's
    # default pages load them from a CDN and stay blank on a machine without internet
    app.mount("/docs-assets", StaticFiles(directory=str(Path(fastapi_offline.__file__).parent / "static")),
              name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="shopseg API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        return get_redoc_html(openapi_url=app.openapi_url, title="shopseg API",
                              redoc_js_url="/docs-assets/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)

    # -- errors, translated once ----------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return _error(e.status, e.error, e.message, e.hint, e.details)

    @app.exception_handler(RowError)
    async def _row_error(request: Request, e: RowError):
        return _error(e.status, "conflict" if e.status == 409 else "validation", e.message, e.hint, e.details)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, e: NotFoundError):
        return _error(404, "not_found", e.message, e.hint)

    @app.exception_handler(ShopsegError)
    async def _shopseg_error(request: Request, e: ShopsegError):
        return _error(422 if isinstance(e, ValueError) else 500, type(e).__name__, e.message, e.hint)

    async def _disk_full(request: Request, e: Exception):
        full = disk_full_error(e, state.ws.path)
        if full is None:
            raise e  # not ours to word: the server error middleware answers 500
        return _error(507, "disk_full", full.message, full.hint)

    import sqlite3

    import duckdb

    for kind in (OSError, sqlite3.Error, duckdb.Error):  # the online store is SQLite, the workspace DuckDB
        app.add_exception_handler(kind, _disk_full)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, e: RequestValidationError):
        return _error(422, "validation", _validation_message(e.errors()), details=_jsonable(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return _error(e.status_code, "http", str(e.detail))

    # -- keys -----------------------------------------------------------------------------------------
    def _level(request: Request, cookie_ok: bool) -> str:
        """The key level of a request: its X-API-Key header, else (GETs only) its dashboard session cookie."""
        k = request.headers.get("x-api-key")
        if k is None and cookie_ok and (token := request.cookies.get(SESSION_COOKIE)) is not None:
            level = state.session_level(token)
            if level is None:
                raise ApiError(401, "unauthorized", "The dashboard session has ended or expired.",
                               hint="Log in again at /dashboard/login, or send the X-API-Key header.")
            return level
        return _which(k)

    def _which(k: str | None) -> str:
        if k is None:
            raise ApiError(401, "unauthorized", "Missing API key.", hint="Send it in the X-API-Key header.")
        level = state.key_level(k.encode())
        if level is None:
            raise ApiError(403, "forbidden", "Wrong API key.")
        return level

    # declared for OpenAPI (the docs' Authorize button); the check itself is _which, with the cookie for GETs
    api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="The read key, or the write key (needed for POST /events).")

    async def need_read(request: Request, _declared: str | None = Security(api_key)) -> str:
        return _level(request, cookie_ok=True)  # async: no thread hop for a header check

    async def need_write(request: Request, _declared: str | None = Security(api_key)) -> str:
        level = _level(request, cookie_ok=False)
        if level != "write":
            raise ApiError(403, "forbidden", "This needs the write key; the read key was sent.")
        return level

    # -- API --------------------------------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/customers/{customer_id}", response_model=M.CustomerView, tags=["customers"],
             responses={404: {"model": M.ErrorBody}, 401: {"model": M.ErrorBody}, 403: {"model": M.ErrorBody}})
    async def get_customer(customer_id: str, level: str = Depends(need_read)):
        view = fast_customer_view(state, customer_id)  # memory only: answered on the event loop
        if view is _MISS:
            view = await run_in_threadpool(lambda: customer_view(state, state.cursor(), customer_id))
        if view is None:
            raise ApiError(404, "not_found", f"No customer {customer_id!r} in the workspace.",
                           hint="Customer ids are text and case-sensitive.")
        return view

    @app.get("/segments", response_model=M.SegmentsView, tags=["segments"])
    def get_segments(scheme: str | None = Query(None, max_length=40, description=(
            "One scheme only (e.g. geo), each segment with its profile.")), level: str = Depends(need_read)):
        return segments_view(state, state.cursor(), scheme)

    @app.get("/segments/{scheme}/{segment}/members", response_model=M.MembersPage, tags=["segments"])
    def get_members(scheme: str, segment: str, page: int = Query(1, ge=1, le=MAX_PAGE),
                    size: int = Query(50, ge=1, le=1000),
                    level: str = Depends(need_read)):
        return members_page(state, state.cursor(), scheme, segment, page, size)

    @app.get("/segments/{scheme}/{segment}/export", tags=["segments"], response_class=Response,
             responses={200: {"content": {"text/csv": {}}}})
    def export_segment(scheme: str, segment: str, level: str = Depends(need_read)):
        """CSV of the segment's members: customer_id, country; email, phone and name only with the write key."""
        cur = state.cursor()
        srun = _segment_run(state, cur, scheme, segment)
        cols = ["customer_id", "country"] + (list(PII_COLUMNS) if level == "write" else [])
        sel = ", ".join(f'c."{c}"' for c in cols[1:])
        # contacts_sql: raw details from customer_pii when the workspace keeps them apart (docs/security.md)
        res = cur.execute(
            f"SELECT s.customer_id, {sel} FROM segments s LEFT JOIN {contacts_sql(cur, 'c')} USING (customer_id) "
            "WHERE s.run_id = ? AND s.scheme = ? AND s.segment = ? "
            "ORDER BY s.customer_id", [srun, scheme, segment]).fetchall()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([csv_safe(v) for v in row] for row in res)  # no formula runs in a spreadsheet
        fname = f"{scheme}-{segment}-run{srun}.csv".replace(" ", "_").replace('"', "")
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{fname}"'})

    # the batch's row models go into the document's components, where its $refs point (they were left out:
    # Swagger UI showed an error for POST /events and ReDoc would not render at all)
    batch_schema = M.EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
    row_schemas = batch_schema.pop("$defs", {})
    plain_openapi = app.openapi

    def openapi_with_rows() -> dict:
        if app.openapi_schema is None:
            plain_openapi()["components"]["schemas"].update(row_schemas)
        return app.openapi_schema

    app.openapi = openapi_with_rows

    @app.post("/events", response_model=M.IngestResult, tags=["events"], openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": batch_schema}}}},
        responses={400: {"model": M.ErrorBody}, 409: {"model": M.ErrorBody}, 413: {"model": M.ErrorBody},
                   422: {"model": M.ErrorBody}})
    async def post_events(request: Request, level: str = Depends(need_write)):
        """Append canonical rows (one transaction), then re-score the customers they touch."""
        t0 = time.perf_counter()
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > state.max_body_bytes:
            raise ApiError(413, "too_large", f"Body of {int(declared)} bytes; at most {state.max_body_bytes}.",
                           hint="Split the batch.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > state.max_body_bytes:
                raise ApiError(413, "too_large", f"Body over {state.max_body_bytes} bytes.", hint="Split the batch.")
        try:
            payload = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float,
                                 parse_int=_bounded_int)
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, NaN / inf, a 5,000-digit integer
            raise ApiError(400, "malformed_json", f"The body is not valid JSON: {e}.") from None
        except RecursionError:
            raise ApiError(400, "malformed_json", "The body is not valid JSON: nested too deep.",
                           hint="A batch is an object of lists of flat rows.") from None
        if isinstance(payload, dict):
            n = sum(len(v) for v in payload.values() if isinstance(v, list))
            if n > state.max_rows:
                raise ApiError(413, "too_many_rows", f"{n} rows in one batch; at most {state.max_rows}.",
                               hint="Split the batch.")
        try:
            batch = M.EventBatch.model_validate(payload)
        except ValidationError as e:
            errs = e.errors(include_url=False)
            raise ApiError(422, "validation", _validation_message(errs), details=_jsonable(errs)) from None
        rows = {t: M.row_dicts(batch, t) for t in M.POSTABLE}
        if not any(rows.values()):
            raise ApiError(422, "validation", "The batch holds no rows.",
                           hint=f"Send lists under any of: {', '.join(M.POSTABLE)}.")
        res = await run_in_threadpool(state.live.apply, rows)
        return M.IngestResult(**res, seconds=round(time.perf_counter() - t0, 4))

    @app.get("/changes", response_model=list[M.SegmentChange], tags=["events"])
    def get_changes(since: datetime | None = None, limit: int = Query(100, ge=1, le=10_000),
                    level: str = Depends(need_read)):
        """Segment moves, newest first (changed_at is the event's own time), optionally since a time."""
        cur = state.cursor()
        q = 'SELECT customer_id, scheme, "old", "new", changed_at, source FROM segment_changes'
        params: list = []
        if since is not None:
            q += " WHERE changed_at >= ?"
            params.append(since)
        q += " ORDER BY changed_at DESC, recorded_at DESC LIMIT ?"
        params.append(limit)
        return [M.SegmentChange(customer_id=c, scheme=s, old=o, new=n, changed_at=t, source=src)
                for c, s, o, n, t, src in cur.execute(q, params).fetchall()]

    @app.get("/churn/threshold-curve", tags=["churn"])
    def get_curve(level: str = Depends(need_read)) -> dict:
        """Reach of a churn campaign at thresholds 0.00..1.00 (see docs/service.md for the sources)."""
        return churn_threshold_curve(state, state.cursor())

    @app.get("/campaign", tags=["campaign"])
    def get_campaign(level: str = Depends(need_read)) -> dict:
        return campaign_plan(state, state.cursor())

    # -- dashboard ---------------------------------------------------------------------------------------
    def page(request: Request, name: str, **ctx):
        return templates.TemplateResponse(request, name, {"version": __version__, **ctx})

    def dash_level(request: Request) -> str | None:
        try:
            return _level(request, cookie_ok=True)
        except ApiError:
            return None

    @app.get("/dashboard/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request):
        # a key in the URL would land in access logs and browser history: it is never read from there
        error = ("Keys are not taken from the address; enter it below." if "key" in request.query_params
                 else None)
        return page(request, "login.html", error=error)

    @app.post("/dashboard/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request):
        form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0]
        try:
            level = _which(key or None)
        except ApiError:
            return page(request, "login.html", error="That key is not valid.")
        r = RedirectResponse("/dashboard", status_code=303)
        # a session token, not the key: HttpOnly (no script reads it), SameSite=Strict (no other site sends it),
        # Secure behind HTTPS; it ends at logout, after SESSION_SECONDS, or when the service restarts
        r.set_cookie(SESSION_COOKIE, state.open_session(level), max_age=SESSION_SECONDS, path="/", httponly=True,
                     samesite="strict", secure=request.url.scheme == "https")
        return r

    @app.post("/dashboard/logout", include_in_schema=False)
    def logout(request: Request):
        if (token := request.cookies.get(SESSION_COOKIE)) is not None:
            state.close_session(token)
        r = RedirectResponse("/dashboard/login", status_code=303)
        r.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return r

    def guarded(request: Request):
        if dash_level(request) is None:
            return RedirectResponse("/dashboard/login", status_code=303)
        return None

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/dashboard", status_code=303)

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dash_overview(request: Request):
        if (r := guarded(request)) is not None:
            return r
        cur = state.cursor()
        runs = state.runs(cur)
        return page(request, "overview.html", active="overview", view=segments_view(state, cur), runs=runs)

    @app.get("/dashboard/segment", response_class=HTMLResponse, include_in_schema=False)
    def dash_segment(request: Request, scheme: str, segment: str,
                     number: int = Query(1, alias="page", ge=1, le=MAX_PAGE)):
        if (r := guarded(request)) is not None:
            return r
        try:
            members = members_page(state, state.cursor(), scheme, segment, number, 100)
        except NotFoundError:  # no such scheme or segment in the run
            members = None
        return page(request, "segment.html", active="overview", scheme=scheme, segment=segment, page=members)

    @app.get("/dashboard/customer", response_class=HTMLResponse, include_in_schema=False)
    def dash_customer(request: Request, id: str | None = None):
        if (r := guarded(request)) is not None:
            return r
        view = customer_view(state, state.cursor(), id) if id else None
        return page(request, "customer.html", active="customer", customer_id=id, view=view)

    @app.get("/dashboard/campaign", response_class=HTMLResponse, include_in_schema=False)
    def dash_campaign(request: Request):
        if (r := guarded(request)) is not None:
            return r
        return page(request, "campaign.html", active="campaign", plan=campaign_plan(state, state.cursor()))

    @app.get("/dashboard/churn", response_class=HTMLResponse, include_in_schema=False)
    def dash_churn(request: Request):
        if (r := guarded(request)) is not None:
            return r
        curve = churn_threshold_curve(state, state.cursor())
        return page(request, "churn.html", active="churn", curve=curve, curve_json=json.dumps(curve, default=str))

    return app


def _jsonable(errs: list[dict]) -> list[dict]:
    out = []
    for e in errs:
        out.append({"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type"),
                    "input": e.get("input") if isinstance(e.get("input"), (str, int, float, bool, type(None)))
                    else str(e.get("input"))[:200]})
    return out


def _validation_message(errs) -> str:
    if not errs:
        return "Invalid request."
    e = errs[0]
    loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{loc}: {e.get('msg')}{more}"


def serve(workspace_path, *, host: str = "127.0.0.1", port: int = 8000, read_key: str, write_key: str,
          online_rows: int = 5_000_000) -> None:
    """Run the service with uvicorn (blocks)."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        # not an error: a reverse proxy may need it; but say what it means
        print(f"shopseg serve: listening on {host}: anyone who can reach it and has a key can use it.")
    app = create_app(workspace_path, read_key, write_key, online_rows=online_rows)
    uvicorn.run(app, host=host, port=port, log_level="info")


__all__ = ["create_app", "serve", "customer_view", "segments_view", "churn_threshold_curve", "WorkspaceError"]
