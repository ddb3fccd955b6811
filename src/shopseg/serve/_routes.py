"""The API's routes: customers, segments (sizes, members, export), events, changes, the churn curve and the
campaign plan. Thin: parse, call one read (:mod:`._reads`) or the live writer, format."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..act.export import csv_safe
from ..trust.pii import contacts_sql
from . import models as M
from ._errors import (
    MAX_PAGE,
    ApiError,
    _bounded_int,
    _finite_float,
    _jsonable,
    _refuse_constant,
    _validation_message,
)
from ._reads import (
    _MISS,
    _segment_run,
    campaign_plan,
    churn_threshold_curve,
    customer_view,
    fast_customer_view,
    members_page,
    segments_view,
)
from ._state import _State

PII_COLUMNS = ("email", "phone", "name")


def api_routes(app: FastAPI, state: _State, need_read, need_write) -> None:
    """Add the API's routes to ``app`` (``need_read`` / ``need_write``: :func:`._auth.key_checks`' dependencies)."""
    @app.get("/health", tags=["service"])
    def health() -> dict:
        """``notes``: what the service cannot do for the run it serves (e.g. re-score CLV), each one sentence."""
        return {"status": "ok", "version": __version__, "notes": state.notes()}

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
        responses={202: {"model": M.QueuedBatch, "description": "The workspace is lent to a command (e.g. a run): "
                         "the batch is journaled and applied when the service holds it again."},
                   400: {"model": M.ErrorBody}, 409: {"model": M.ErrorBody}, 413: {"model": M.ErrorBody},
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
        res, queued = await run_in_threadpool(state.post, rows, payload)
        if queued is not None:  # the workspace is lent to a command: journaled, applied when it is back
            return JSONResponse(state.journal.status(queued), status_code=202)
        return M.IngestResult(**res, seconds=round(time.perf_counter() - t0, 4))

    @app.get("/events/queued/{batch}", response_model=M.QueuedBatch, tags=["events"],
             responses={404: {"model": M.ErrorBody}})
    def get_queued(batch: int, level: str = Depends(need_write)):
        """A batch posted while the workspace was lent (answered 202): queued, applied, refused or failed."""
        got = state.journal.status(batch)
        if got is None:
            raise ApiError(404, "not_found", f"No queued batch {batch}.")
        return got

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
