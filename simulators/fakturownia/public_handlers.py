"""Token-addressed public links (``view_url`` and its PDF) that work without an API token."""

from __future__ import annotations

import html
from typing import Any

from .api_types import ApiRequest, ApiResponse, HandlerEnv
from .errors import ApiError
from .pdf import invoice_pdf


def view(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    doc = _by_token(env, request)
    page = (
        f"<html><body><h1>Faktura {html.escape(doc['number'])}</h1>"
        f"<p>{html.escape(doc.get('buyer_name') or '')}: "
        f"{html.escape(doc['price_gross'])} {html.escape(doc['currency'])}</p></body></html>"
    )
    return ApiResponse(body=page.encode(), content_type="text/html")


def view_pdf(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    return ApiResponse(body=invoice_pdf(_by_token(env, request)), content_type="application/pdf")


def _by_token(env: HandlerEnv, request: ApiRequest) -> dict[str, Any]:
    token = request.match["token"]
    doc = next((d for d in env.state.invoices.values() if d["token"] == token), None)
    if doc is None:
        raise ApiError.not_found()
    return doc
