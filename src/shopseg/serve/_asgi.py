"""The ASGI layer: security headers on every response, and ``GET /customers/{id}`` answered from memory before
FastAPI's routing when the snapshot knows the customer."""

from __future__ import annotations

import html

import pydantic_core
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter

from ..views import shape
from . import models as M
from ._errors import _error
from ._gate import Lent
from ._reads import _fast_parts
from ._state import _State

_VIEW_JSON = TypeAdapter(M.CustomerView)

# what answers without the workspace's connection: the docs, static files, the lending itself, runs, and
# POST /events (journaled while the file is lent); everything else waits for no one: 503 while lent
_FREE_PREFIXES = ("/health", "/docs", "/redoc", "/openapi.json", "/static/", "/_local/", "/runs", "/events",
                  "/dashboard/login", "/dashboard/logout")


def _needs_workspace(scope) -> bool:
    return not scope["path"].startswith(_FREE_PREFIXES)


def _lent_response(e: Lent):
    return _error(503, "workspace_lent", f"{e} This answer needs the workspace's database.",
                  hint="Retry in a moment (Retry-After). GET /customers/{id} for a customer of the run and "
                       "POST /events keep working meanwhile.", headers={"Retry-After": "5"})


def _lent_page(e: Lent, path: str):
    """A dashboard page while the file is lent: the same words in HTML, reloading itself every 5 s (a browser
    shows a JSON error body as raw text; the customer lookup by id keeps working from memory)."""
    words = html.escape(str(e))
    body = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"5\"><title>Busy · shopseg</title>"
            "<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><h1>One moment</h1>"
            f"<p id=\"busy\">{words}</p><p>This page needs the workspace's database and reloads itself every "
            "5 seconds until the command gives it back. Customers of the current run answer meanwhile at "
            "<code>GET /customers/{id}</code>.</p>"
            f"<p><a href=\"{html.escape(path, quote=True)}\">Try again now</a></p></main></body></html>")
    return HTMLResponse(body, status_code=503, headers={"Retry-After": "5"})


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
            if self.shopseg_state is not None and _needs_workspace(scope):
                try:
                    with self.shopseg_state.gate.use():  # the file is not lent away while this runs
                        await super().__call__(scope, receive, send)
                except Lent as e:
                    answer = _lent_page(e, scope["path"]) if scope["path"].startswith("/dashboard") else \
                        _lent_response(e)
                    await answer(scope, receive, send)
                return
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
