"""Keys and dashboard sessions: which level (read / write) a request has, and the FastAPI dependencies that demand
one. The key comes from the ``X-API-Key`` header; for GETs, a dashboard session cookie stands in for it."""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from ._errors import ApiError
from ._state import SESSION_COOKIE, _State


def key_checks(state: _State):
    """``(level, which, need_read, need_write)``: a request's key level, a key's level (401 / 403 when none),
    and the dependencies of the read and the write routes."""
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

    return _level, _which, need_read, need_write
