"""Where wFirma sends the browser back after "Generate": completes the consent.

Public like the API's own callback (workers/api_oauth.py), for the same reason: a redirect from
wFirma is a cross-site navigation, so the SameSite=Strict session cookie is not sent with it.
The signed, single-use `state` protects it instead. The answer is a page that continues to the
seller's settings by itself: that navigation starts on the console, so the cookie goes with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from workers import sellers as svc
from workers.api_params import Ctx
from workers.console import web
from workers.console.sellers import seller_url
from workers.console.session import PATH
from workers.onboarding import OnboardingError

consent = APIRouter(prefix=PATH)


@consent.get("/wfirma/return", name="wfirma_return")
async def wfirma_return(
    request: Request,
    ctx: Ctx,
    state: Annotated[str, Query(max_length=4096)] = "",
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if error or not code or not state:
        reason = f"wFirma: {error}" if error else "the redirect carries no code"
        return web.page(request, "consent.html", 400, failed=reason)
    try:
        done = await svc.complete_wfirma(ctx.settings, ctx.sessions, code, state)
    except (OnboardingError, svc.SellerServiceError) as exc:
        return web.page(request, "consent.html", 400, failed=str(exc))
    return web.page(
        request, "consent.html", done=done, next=seller_url(done.seller_id, notice="authorized")
    )
