"""The dashboard's pages: login (POST, a session cookie), segments and their members, a customer, the campaign
plan and the churn threshold; each page formats one read of :mod:`._reads`."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .. import __version__
from ..errors import NotFoundError
from ..views import not_planned
from ._errors import MAX_PAGE, ApiError
from ._reads import (
    campaign_plan,
    churn_threshold_curve,
    customer_view,
    members_page,
    segments_view,
)
from ._state import SESSION_COOKIE, SESSION_SECONDS, _State


def dashboard_routes(app: FastAPI, state: _State, templates, _level, _which) -> None:
    """Add the dashboard's pages to ``app`` (``_level`` / ``_which``: :func:`._auth.key_checks`' first two)."""
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
        cur = state.cursor()
        view = customer_view(state, cur, id) if id else None
        # why no campaign chose them: read on demand for this page (the API's hot path does not pay for it)
        why_not = not_planned(cur, id, state.runs(cur)["run_id"]) if view is not None and not view.next_action \
            else None
        return page(request, "customer.html", active="customer", customer_id=id, view=view, why_not=why_not)

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
