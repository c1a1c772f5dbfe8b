"""KSeF-facing endpoints besides create and show: update with a (re)send, and the KSeF files.

Sources: KSeF.md (fakturownia/API) "Wysyłanie faktur do KSeF przez API" (``gov_save_and_send``
on create or edit, ``send_to_ksef`` in the URL or body), "Pobieranie dokumentów KSeF" (XML and
UPO under ``/invoices/{id}/attachment?kind=gov|gov_upo``: 302 to the file once ``gov_status``
is ``ok``, 404 before), summarised in shared/reference/fakturownia-api.md §8.2 and §8.5.
"""

from __future__ import annotations

from html import escape
from typing import Any

from . import ksef, ksef_compliance
from .api_types import ApiRequest, ApiResponse, HandlerEnv
from .clock import timestamp
from .coerce import is_truthy
from .errors import ApiError
from .invoice_handlers import find_invoice
from .rendering import render_invoice

FA3_NAMESPACE = "http://crd.gov.pl/wzor/2025/06/25/13775/"
"""FA(3) namespace (ksef-2026.md §1.2)."""
EDIT_BLOCKED = "- faktura przyjęta w KSeF, edycja jest zablokowana"
UNSUPPORTED = "- edycja tego pola nie jest obsługiwana przez symulator"
FILE_KINDS = ("gov", "gov_upo")
_EDITABLE = frozenset(
    {
        "buyer_name",
        "buyer_tax_no",
        "buyer_tax_no_kind",
        "buyer_first_name",
        "buyer_last_name",
        "buyer_street",
        "buyer_post_code",
        "buyer_city",
        "buyer_country",
        "buyer_email",
        "buyer_phone",
        "exempt_tax_kind",
        "np_tax_kind",
        "description",
        "internal_note",
    }
)


def update(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    """``PUT /invoices/{id}.json``: edit fields that leave the totals alone, then send to KSeF
    when ``gov_save_and_send`` or ``send_to_ksef`` asks for it.

    An accepted document can no longer be edited (KSeF.md FAQ "Czy mogę edytować fakturę
    wysłaną do KSeF?"); the error text is the simulator's own. Fields the simulator cannot
    edit faithfully (positions, amounts, dates, ...) are refused loudly rather than ignored.
    """
    doc = find_invoice(env, request)
    changes = request.body.get("invoice") or {}
    if not isinstance(changes, dict):
        raise ApiError.validation({"invoice": [UNSUPPORTED]})
    if changes:
        _edit(env, doc, changes)
    if is_truthy(request.param("gov_save_and_send")) or is_truthy(request.param("send_to_ksef")):
        ksef.request_send(env.state, doc, env.now)
    return ApiResponse(json=render_invoice(doc))


def _edit(env: HandlerEnv, doc: dict[str, Any], changes: dict[str, Any]) -> None:
    if doc["gov_status"] == "ok":
        raise ApiError.validation({"base": [EDIT_BLOCKED]})
    unsupported = sorted(set(changes) - _EDITABLE)
    if unsupported:
        raise ApiError.validation({key: [UNSUPPORTED] for key in unsupported})
    doc.update(changes, updated_at=timestamp(env.now))
    if not ksef.is_ksef_document(env.state.config, doc["kind"]):
        return
    errors = ksef_compliance.compliance_errors(doc, buyer_company_sent=True)
    if errors:
        env.state.ksef_invalid.add(doc["id"])
    else:
        env.state.ksef_invalid.discard(doc["id"])
    doc["gov_error_messages"] = ksef_compliance.error_messages(errors)


def attachment(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    """``GET /invoices/{id}/attachment?kind=gov|gov_upo``: 302 to the file, or 404."""
    doc = find_invoice(env, request)
    kind = request.query.get("kind")
    if kind not in FILE_KINDS or doc["gov_status"] != "ok":
        raise ApiError.not_found()
    location = f"{request.base_url}/gov_files/{doc['token']}/{kind}.xml"
    return ApiResponse(
        status=302, body=b"", content_type="text/plain", headers={"Location": location}
    )


def gov_file(env: HandlerEnv, request: ApiRequest) -> ApiResponse:
    """Where ``attachment`` redirects: the FA(3) XML or the UPO (a minimal stand-in each)."""
    token = request.match["token"]
    doc = next((d for d in env.state.invoices.values() if d["token"] == token), None)
    if doc is None or doc["gov_status"] != "ok":
        raise ApiError.not_found()
    body = _fa3_xml(doc) if request.match["kind"] == "gov" else _upo_xml(doc)
    return ApiResponse(body=body.encode(), content_type="text/xml")


def _fa3_xml(doc: dict[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Faktura xmlns="{FA3_NAMESPACE}"><Naglowek>'
        '<KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>'
        f"</Naglowek><Podmiot1><DaneIdentyfikacyjne><NIP>{escape(_nip(doc))}</NIP>"
        f"<Nazwa>{escape(doc.get('seller_name') or '')}</Nazwa></DaneIdentyfikacyjne></Podmiot1>"
        f"<Fa><KodWaluty>{escape(doc['currency'])}</KodWaluty>"
        f"<P_1>{escape(doc['issue_date'])}</P_1><P_2>{escape(doc['number'])}</P_2>"
        f"<P_15>{escape(doc['price_gross'])}</P_15></Fa></Faktura>"
    )


def _upo_xml(doc: dict[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Potwierdzenie><Dokument>'
        f"<NumerKSeFDokumentu>{escape(doc['gov_id'])}</NumerKSeFDokumentu>"
        f"<NumerFaktury>{escape(doc['number'])}</NumerFaktury>"
        f"<DataPrzyjecia>{escape(doc['gov_send_date'] or '')}</DataPrzyjecia>"
        "</Dokument></Potwierdzenie>"
    )


def _nip(doc: dict[str, Any]) -> str:
    return "".join(ch for ch in doc.get("seller_tax_no") or "" if ch.isdigit())
