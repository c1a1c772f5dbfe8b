"""Signing in with the API token, signing out, and the language switch."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from workers.console import i18n, session, web

auth = APIRouter(prefix=session.PATH)
OPERATOR_MAX = 100


def _next(target: str | None) -> str:
    """Only a console path: a sign-in link must not send the operator elsewhere."""
    if target and target.startswith(f"{session.PATH}/") and "//" not in target:
        return target
    return f"{session.PATH}/sellers"


def same_origin(request: Request) -> bool:
    """Browsers send Origin with every POST; a missing one (an old client) is let through.
    Behind a reverse proxy that rewrites Host, the host it forwards counts too."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")}
    return urlsplit(origin).netloc in hosts - {None}


@auth.get("")
@auth.get("/")
async def home() -> Response:
    return web.see_other(f"{session.PATH}/sellers")


@auth.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return web.page(request, "sign_in.html", next=_next(next))


@auth.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=4096)] = "",
    operator: Annotated[str, Form(max_length=OPERATOR_MAX)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The token is compared in constant time and then forgotten: only the session id is kept.
    A sign-in posted from another site's page is refused (it would sign the browser in to a
    session the other site chose)."""
    if not same_origin(request):
        raise session.CsrfRefused
    if not hmac.compare_digest(token.encode(), request.app.state.api_token):
        return web.page(request, "sign_in.html", 401, next=_next(next), failed=True)
    name = " ".join(operator.split()) or "operator"
    signed = session.store(request).open(f"console:{name}")
    response = web.see_other(_next(next))
    session.set_cookie(request, response, signed)
    return response


@auth.post("/sign-out")
async def sign_out(
    request: Request, signed: Annotated[session.Session, Depends(session.checked_form)]
) -> Response:
    session.store(request).close(signed.id)
    response = web.see_other(f"{session.PATH}/sign-in?signed_out=1")
    session.clear_cookie(response)
    return response


@auth.get("/language/{lang}")
async def choose_language(lang: str, next: str | None = None) -> Response:
    response = web.see_other(_next(next))
    if lang in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, path=session.PATH)
    return response
