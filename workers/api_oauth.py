"""The wFirma OAuth callback: public, because wFirma's redirect carries no header of ours.

It is protected by the signed `state` instead (workers/onboarding.py), which completes one
authorization only. Anyone can call it, so every refusal is a 400 page, never a traceback.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from workers import sellers as svc
from workers.api_params import Ctx
from workers.onboarding import OnboardingError

oauth = APIRouter()


@oauth.get(
    "/oauth/wfirma/callback",
    tags=["oauth"],
    response_class=HTMLResponse,
    responses={
        200: {"description": "Connected (JSON when the client accepts application/json)"},
        400: {"description": "Invalid, expired or already used state; refused consent"},
    },
)
async def wfirma_callback(
    request: Request,
    ctx: Ctx,
    state: Annotated[str, Query(max_length=4096)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Where wFirma redirects after the seller's consent; completes it once per state."""
    if error or not code:
        answer = f"wFirma answered: {error}" if error else "the redirect carries no code"
        return _page(request, 400, "wFirma was not connected", answer)
    try:
        done = await svc.complete_wfirma(ctx.settings, ctx.sessions, code, state)
    except (OnboardingError, svc.SellerServiceError) as exc:
        return _page(request, 400, "wFirma was not connected", str(exc))
    message = f"Seller {done.seller_id}: wFirma connection {done.connection} is authorized."
    return _page(request, 200, "wFirma connected", message, done.model_dump())


def _page(
    request: Request, code: int, title: str, message: str, data: dict[str, Any] | None = None
) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        body = {"detail": message} if code >= 400 else {"detail": message, **(data or {})}
        return JSONResponse(body, status_code=code)
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        "<p>You can close this window.</p></body></html>"
    )
    return HTMLResponse(page, status_code=code)
