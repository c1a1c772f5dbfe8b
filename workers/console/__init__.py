"""The web console under `/console`: seller settings and the ops views, server-rendered.

Pages call the same service layer as the CLI and the bearer API (workers/sellers/,
workers/deadletters.py, config/clearance_queries.py, config/ledger_queries.py) and validate with
the same pydantic models, so the console can do nothing the API cannot. See docs/console.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from config.settings import Settings
from workers.console import session, web
from workers.console.auth import auth
from workers.console.consent import consent
from workers.console.deadletters import deadletters
from workers.console.orders import orders
from workers.console.seller_forms import seller_forms
from workers.console.sellers import sellers

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the console from `app` (called by workers/api.py's create_app)."""
    lifetime = dt.timedelta(minutes=settings.console_session_minutes)
    app.state.console_sessions = session.SessionStore(lifetime)

    async def sign_in_first(request: Request, _: Exception) -> Response:
        if request.method == "GET":
            return web.see_other(f"{session.PATH}/sign-in?next={request.url.path}")
        return _refused(request, 401)

    async def csrf_refused(request: Request, _: Exception) -> Response:
        return _refused(request, 403)

    app.add_exception_handler(session.SignInRequired, sign_in_first)
    app.add_exception_handler(session.CsrfRefused, csrf_refused)
    for router in (auth, consent, sellers, seller_forms, deadletters, orders):
        app.include_router(router, include_in_schema=False)
    app.mount(f"{session.PATH}/static", StaticFiles(directory=STATIC), name="console-static")


def _refused(request: Request, code: int) -> HTMLResponse:
    return web.page(request, "refused.html", status_code=code, code=code)
