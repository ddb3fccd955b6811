"""The web service: customer look-ups, segment lists and exports, live events, and the dashboard.

:func:`create_app` builds a FastAPI app over one workspace.  DuckDB allows one
writing process, so the app holds the workspace's one connection: every read
runs on a per-thread cursor of it (``con.cursor()``, a snapshot of committed
data), every write on one writer cursor under a lock (:mod:`.live`).
``GET /customers/{id}`` is answered from memory when it can: the latest run's
per-customer rows (:class:`_Snapshot`, read once per run) and the live cache
that a write updates when it commits; other ids take one SQL statement.  Those
memory answers are the hot path and skip FastAPI's routing (:class:`_App`).

The rooms: :mod:`._state` (what the app holds), :mod:`._snapshot` (the run's rows in
memory), :mod:`._reads` (what the handlers read, over :mod:`shopseg.views`), :mod:`._asgi`
(security headers and the hot path), :mod:`._auth` (keys and sessions), :mod:`._routes` (the
API), :mod:`._dashboard` (the pages), :mod:`._errors`; this module puts them together.

Thin surface: the handlers parse, call one library function, and format.
Errors are translated once (:func:`_error`): ``{"error", "message", "hint",
"details"}`` with 400 (malformed JSON), 401 (no key), 403 (wrong key or a read
key where the write key is needed), 404, 409 (an id already stored), 413
(body over ``max_body_bytes`` or more than ``max_rows`` rows), 422 (a field
at fault, named), 500 (a bug: nothing stored, the transaction is rolled back).
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import NotFoundError, ShopsegError, WorkspaceError, disk_full_error
from ..workspace import Workspace
from ._asgi import SECURITY_HEADERS, _App
from ._auth import key_checks
from ._dashboard import dashboard_routes
from ._errors import ApiError, _error, _jsonable, _validation_message
from ._reads import (
    _MISS,
    add_filters,
    churn_threshold_curve,
    customer_view,
    fast_customer_view,
    segments_view,
)
from ._gate import remove_discovery, write_discovery
from ._routes import api_routes
from ._runs import RunJobs, Schedule, Scheduler, run_routes
from ._snapshot import _SnapTable
from ._state import _State
from .live import RowError

HERE = Path(__file__).parent


def create_app(workspace_path, read_key: str, write_key: str, *, max_body_bytes: int = 1_000_000,
               max_rows: int = 10_000, index: bool = True, snapshot: bool = True,
               threads: int | None = None, online_rows: int = 5_000_000, schedule: str | None = None,
               announce: tuple[str, int] | None = None, clock=None) -> FastAPI:
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
    or 0, re-score in DuckDB.  ``schedule``: start a run at every due moment of a daily ``HH:MM`` or
    a cron expression (:class:`._runs.Schedule`; ``clock`` the scheduler's now, ``datetime.now`` by
    default).  ``announce``: (host, port) written to the workspace's discovery file while the app runs, so
    commands find the service and borrow the workspace (docs/service.md, "Sharing the workspace").
    """
    if not read_key or not write_key:
        raise ShopsegError("The service needs a read key and a write key.",
                           hint="Pass --read-key/--write-key or set SHOPSEG_READ_KEY / SHOPSEG_WRITE_KEY.")
    if read_key == write_key:
        raise ShopsegError("The read key and the write key must differ.")
    sched = None if schedule is None else Schedule(schedule)  # a wrong expression fails before the file is opened
    ws = Workspace.open(workspace_path, create=False)
    if threads is not None:
        ws.con.execute(f"SET threads = {int(threads)}")
    state = _State(ws, read_key, write_key, max_body_bytes, max_rows, index, snapshot, online_rows)
    state.threads = threads
    state.runs(state.cursor())  # read the run, build the look-up SQL and indexes before the first request
    state.replay()  # batches journaled while a command had the file, when the service stopped before applying them
    jobs = RunJobs(state)
    scheduler = None if sched is None else Scheduler(sched, jobs.start, **({"clock": clock} if clock else {}))

    @asynccontextmanager
    async def lifespan(_app):
        if announce is not None:
            write_discovery(state.ws.path, announce[0], announce[1], state.local_token)
        if scheduler is not None:
            threading.Thread(target=scheduler.loop, daemon=True, name="shopseg-schedule").start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop.set()
            if announce is not None:
                remove_discovery(state.ws.path, state.local_token)
            state.shut()
            state.journal.close()

    app = _App(title="shopseg", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
               description="Customer segments, predictions and live events over a shopseg workspace. "
                           "Send the key in the `X-API-Key` header (on /docs: Authorize, then Try it out).")
    app.state.shopseg = state
    app.state.runs = jobs
    app.state.scheduler = scheduler
    app.shopseg_state = state
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    add_filters(templates.env)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # the API docs' assets from an installed package (fastapi-offline ships Swagger UI and ReDoc): FastAPI's
    # default pages load them from a CDN and stay blank on a machine without internet
    app.mount("/docs-assets", StaticFiles(directory=str(Path(fastapi_offline.__file__).parent / "static")),
              name="docs-static")
    _docs_pages(app)
    _error_handlers(app, state)
    level, which, need_read, need_write = key_checks(state)
    api_routes(app, state, need_read, need_write)
    dashboard_routes(app, state, templates, level, which)
    run_routes(app, state, jobs, need_read, need_write)
    return app


def _docs_pages(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their assets from the service itself (no CDN)."""
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


def _error_handlers(app: FastAPI, state: _State) -> None:
    """Every error translated once into the JSON error body (:func:`._errors._error`)."""
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


def serve(workspace_path, *, host: str = "127.0.0.1", port: int = 8000, read_key: str, write_key: str,
          online_rows: int = 5_000_000, schedule: str | None = None) -> None:
    """Run the service with uvicorn (blocks)."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        # not an error: a reverse proxy may need it; but say what it means
        print(f"shopseg serve: listening on {host}: anyone who can reach it and has a key can use it.")
    app = create_app(workspace_path, read_key, write_key, online_rows=online_rows, schedule=schedule,
                     announce=(host, port))
    if schedule is not None:
        print(f"shopseg serve: scheduled runs at {schedule!r}, the next at {app.state.scheduler.due:%Y-%m-%d %H:%M} "
              "(as of the day before).")
    uvicorn.run(app, host=host, port=port, log_level="info")


__all__ = ["ApiError", "SECURITY_HEADERS", "WorkspaceError", "_MISS", "_SnapTable", "_State", "add_filters",
           "churn_threshold_curve", "create_app", "customer_view", "fast_customer_view", "segments_view", "serve"]
