"""Actions of the ``invoices`` module: add, get, find, send, download, delete, (un)fiscalize.

Not-found answers are ``NOT FOUND`` in the body; business refusals are the generic
``{"status": {"code": "ERROR", "message": ...}}`` form (reference §2.5); ``download`` answers raw
PDF bytes, never a link (§3.12).
"""

from __future__ import annotations

import re
from typing import Any

from . import ksef
from .api_types import Call, Env, Reply
from .envelope import envelope, named_parameters, parameters, records, status_only
from .errors import (
    BAD_EMAIL,
    CANNOT_DELETE,
    CANNOT_SEND_TYPE,
    ERROR,
    NO_RECIPIENT,
    NOT_FOUND,
    ApiError,
)
from .finding import find
from .invoice_factory import NOT_EMAILABLE_TYPES, add_invoice
from .models import SentEmail
from .pdf import confirmation_pdf, invoice_pdf
from .rendering import blank_invoice, refresh, render_invoice

DELETABLE_TYPES = frozenset({"proforma", "offer", "normal_draft", "proforma_bill", "offer_bill"})
FISCAL_TYPES = frozenset({"receipt_fiscal_normal", "receipt_fiscal_bill"})
PAGES = {"invoice": "invoice", "all": "all", "invoicecopy": "invoicecopy"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def add(env: Env, call: Call) -> Reply:
    rows, failed = [], False
    for raw in records(call.body, "invoices", "invoice"):
        outcome = add_invoice(env.store, env.books, raw, env.now, env.login)
        if outcome.doc is not None:
            rows.append(render_invoice(env.books, outcome.doc, for_add=True))
        else:
            failed = True
            rows.append(outcome.echo or {})
    if not rows:
        raise ApiError(ERROR, "Brak danych dokumentu.")
    return Reply(envelope("invoices", "invoice", rows, code=ERROR if failed else "OK"))


def get(env: Env, call: Call) -> Reply:
    doc = _existing(env, call)
    return Reply(envelope("invoices", "invoice", [render_invoice(env.books, doc)]))


def find_action(env: Env, call: Call) -> Reply:
    refresh(env.books, env.now)
    rendered = [render_invoice(env.books, d) for d in env.books.invoices.values()]
    page = find(rendered, parameters(call.body, "invoices"), "invoice", blank_invoice())
    return Reply(envelope("invoices", "invoice", page.rows, page_info=page.info))


def send(env: Env, call: Call) -> Reply:
    """Queue an e-mail (delivery is asynchronous upstream; here it is just recorded)."""
    doc = _existing(env, call)
    options = named_parameters(parameters(call.body, "invoices"))
    if doc["type"] in NOT_EMAILABLE_TYPES:
        raise ApiError(ERROR, CANNOT_SEND_TYPE)
    address = options.get("email") or doc["contractor_detail"].get("email", "")
    if not address:
        raise ApiError(ERROR, NO_RECIPIENT)
    if not _EMAIL.fullmatch(address):
        raise ApiError(ERROR, BAD_EMAIL)
    env.books.emails.append(
        SentEmail(
            invoice_id=int(doc["id"]),
            fullnumber=doc["fullnumber"],
            to=address,
            subject=options.get("subject", ""),
            body=options.get("body", ""),
            page=PAGES.get(options.get("page", "invoice").lower(), "invoice"),
            leaflet=options.get("leaflet") == "1",
            duplicate=options.get("duplicate") == "1",
        )
    )
    return Reply(status_only("OK", f"Dokument {doc['fullnumber']} został zlecony do wysyłki."))


def download(env: Env, call: Call) -> Reply:
    """The invoice PDF, or the KSeF "transaction confirmation" while KSeF is still pending."""
    doc = _existing(env, call)
    options = named_parameters(parameters(call.body, "invoices"))
    if ksef.pending(doc):
        content = confirmation_pdf(doc)
    else:
        page = PAGES.get(options.get("page", "invoice").lower(), "invoice")
        content = invoice_pdf(render_invoice(env.books, doc), page=page)
    return Reply(body=content, content_type="application/pdf")


def delete(env: Env, call: Call) -> Reply:
    """UNCONFIRMED which types the API deletes; the simulator allows drafts/proformas/offers."""
    doc = _existing(env, call)
    if doc["type"] not in DELETABLE_TYPES:
        raise ApiError(ERROR, CANNOT_DELETE)
    record = render_invoice(env.books, doc)
    del env.books.invoices[int(doc["id"])]
    return Reply(envelope("invoices", "invoice", [record]))


def fiscalize(env: Env, call: Call) -> Reply:
    return _set_fiscal(env, call, "1")


def unfiscalize(env: Env, call: Call) -> Reply:
    return _set_fiscal(env, call, "0")


def _set_fiscal(env: Env, call: Call, printed: str) -> Reply:
    doc = _existing(env, call)
    if doc["type"] not in FISCAL_TYPES:
        raise ApiError(ERROR, "Dokument nie jest paragonem fiskalnym.")
    doc["receipt_fiscal_printed"] = printed
    return Reply(envelope("invoices", "invoice", [render_invoice(env.books, doc)]))


def _existing(env: Env, call: Call) -> dict[str, Any]:
    doc = env.books.invoices.get(call.required_id())
    if doc is None:
        raise ApiError(NOT_FOUND)
    ksef.refresh(env.books.config, doc, env.now)
    return doc
