"""Handlers for the ``/invoices`` resource: create, list, show, PDF and e-mail."""

from __future__ import annotations

from typing import Any

from . import ksef
from .api_types import ApiRequest, ApiResponse, HandlerEnv
from .coerce import is_truthy, parse_int
from .emailing import send_by_email
from .errors import BLANK, ApiError
from .invoice_factory import CreateRequest, create_invoice
from .listing import ListQuery, select
from .pdf import invoice_pdf
from .rendering import parse_fields, render_invoice


def create(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    invoice = request.body.get("invoice")
    if not isinstance(invoice, dict):
        raise ApiError.validation({"invoice": [BLANK]})
    doc = create_invoice(
        env.store,
        env.state,
        CreateRequest(
            invoice=invoice,
            gov_save_and_send=is_truthy(request.param("gov_save_and_send")),
            identify_oss=is_truthy(request.param("identify_oss")),
            base_url=request.base_url,
            now=env.now,
        ),
    )
    return ApiResponse(status=201, json=render_invoice(doc))


def index(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    query = ListQuery.parse(
        request.query.get, lambda key: request.query.getall(key, []), env.now.date()
    )
    with_positions = is_truthy(request.query.get("include_positions"))
    fields = parse_fields(request.query.get("fields[invoice]"))
    docs = select(env.state.invoices.values(), query, env.state.ksef_numbers)
    return ApiResponse(
        json=[render_invoice(d, with_positions=with_positions, fields=fields) for d in docs]
    )


def show(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    doc = find_invoice(env, request)
    if is_truthy(request.param("send_to_ksef")):
        ksef.request_send(env.state, doc, env.now)
    return ApiResponse(
        json=render_invoice(
            doc,
            correction_full=request.query.get("correction_positions") == "full",
            fields=parse_fields(request.query.get("fields[invoice]")),
        )
    )


def pdf(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    return ApiResponse(body=invoice_pdf(find_invoice(env, request)), content_type="application/pdf")


def email(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    doc = find_invoice(env, request)
    return ApiResponse(json=send_by_email(env.state, doc, request.param, env.now))


def find_invoice(env: HandlerEnv, request: ApiRequest) -> dict[str, Any]:
    """The account's document named by the path's ``id``; 404 otherwise."""
    doc = env.state.invoices.get(parse_int(request.match["id"]) or 0)
    if doc is None:
        raise ApiError.not_found()
    return doc
