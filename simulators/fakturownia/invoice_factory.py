"""``POST /invoices.json``: validate a request and assemble the stored document.

Validation collects every problem first and answers one 422 with a field map, as Rails does;
only a fully valid request touches state (client cards, counters, KSeF queue).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from . import ksef, ksef_compliance
from .clients import commit_client, prefill_from_client
from .clock import timestamp
from .coerce import is_truthy, is_valid_sell_date, parse_day, parse_int, text_or_none
from .errors import BLANK, INVALID, MISSING, NOT_A_NUMBER, NOT_IN_LIST, TAKEN, ApiError, ErrorMap
from .errors import add_error as err
from .exchange import exchange_fields
from .money import format_amount, parse_decimal
from .numbering import next_number
from .parties import (
    BUYER_FIELDS,
    SELLER_FIELDS,
    complete_person_name,
    resolve_buyer,
    resolve_seller,
)
from .positions import Line, parse_positions
from .state import AccountState, SimStore
from .summing import line_totals, sum_method

KINDS: frozenset[str] = frozenset(
    {
        *("vat", "proforma", "bill", "receipt", "advance", "final", "correction"),
        *("invoice_other", "vat_margin", "kp", "kw", "estimate", "vat_mp", "vat_rr"),
        *("correction_note", "accounting_note", "client_order", "dw", "wnt", "wdt"),
        *("import_service", "import_service_eu", "import_products", "export_products"),
    }
)
PROCEDURE_DESIGNATIONS: frozenset[str] = frozenset(
    {*("SW", "EE", "TP", "TT_WNT", "TT_D", "MR_T", "MR_UZ", "I_42", "I_63", "B_SPV")}
    | {"B_SPV_DOSTAWA", "B_MPV_PROWIZJA", "MPP"}
)
STATUSES: frozenset[str] = frozenset({"issued", "sent", "paid", "partial", "rejected", "accepted"})
DEFAULT_PAYMENT_DAYS = 7
_TEXT_FIELDS = (
    "place",
    "payment_type",
    "paid_date",
    "exchange_kind",
    "exchange_currency",
    "exchange_currency_rate",
    "oid",
    "description",
    "internal_note",
    "exempt_tax_kind",
    "np_tax_kind",
    "correction_reason",
)
_FLAG_FIELDS = ("reverse_charge", "split_payment", "use_oss")
_INHERITED_BY_CORRECTIONS = (
    *BUYER_FIELDS,
    *SELLER_FIELDS,
    "buyer_company",
    "client_id",
    "department_id",
    "currency",
)
_TOKEN_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class CreateRequest:
    """What the handler extracted from the HTTP request."""

    invoice: dict[str, Any]
    gov_save_and_send: bool
    base_url: str
    now: datetime
    # top-level `identify_oss: "1"` (README "Dodanie faktury OSS"): mark OSS only when its
    # conditions hold (a buyer in another country than the seller), silently otherwise
    identify_oss: bool = False


@dataclass
class _Draft:
    """A validated document that has not touched account state yet."""

    doc: dict[str, Any]
    lines: list[Line]
    buyer: dict[str, Any]
    client_id: int | None
    buyer_override: bool
    number: str | None
    original: dict[str, Any] | None
    gov_errors: ErrorMap


def create_invoice(store: SimStore, state: AccountState, request: CreateRequest) -> dict[str, Any]:
    """Validate and store a new document; raises ApiError(422) with every field problem."""
    return _commit(store, state, _draft(state, request), request)


def _draft(state: AccountState, request: CreateRequest) -> _Draft:
    """Every check that can fail, collected into one 422, without side effects."""
    errors: ErrorMap = {}
    invoice = dict(request.invoice)
    kind = text_or_none(invoice.get("kind")) or "vat"
    if kind not in KINDS:
        err(errors, "kind", NOT_IN_LIST)
    original = _correction_source(state, invoice, errors) if kind == "correction" else None
    if original is not None:
        invoice = _inherit(original, invoice)

    department_id, seller = resolve_seller(state.config, invoice, errors)
    buyer = resolve_buyer(invoice)
    client_id = _client_id(invoice, errors)
    prefill_from_client(state, buyer, client_id, errors)
    complete_person_name(buyer)
    if buyer["buyer_name"] is None:
        err(errors, "buyer_name", BLANK)
    oss = is_truthy(invoice.get("use_oss") or invoice.get("use_moss")) or bool(
        original and original.get("use_oss")
    )
    if oss and request.identify_oss:
        oss = (text_or_none(buyer.get("buyer_country")) or "PL") != (
            text_or_none(seller.get("seller_country")) or "PL"
        )
    lines = parse_positions(invoice.get("positions"), errors, oss=oss)
    number = _explicit_number(state, invoice, kind, errors)
    _check_oid(state, invoice, errors)
    totals = line_totals(lines, sum_method(invoice.get("calculating_strategy"), errors))
    status = text_or_none(invoice.get("status")) or "issued"
    if status not in STATUSES:
        err(errors, "status", NOT_IN_LIST)

    doc: dict[str, Any] = {
        "kind": kind,
        "status": status,
        "income": is_truthy(invoice.get("income", True)),
        **_dates(invoice, request.now.date(), errors),
        "price_net": format_amount(totals.net),
        "price_tax": format_amount(totals.tax),
        "price_gross": format_amount(totals.gross),
        "paid": _paid(invoice, status, totals.gross, errors),
        "currency": text_or_none(invoice.get("currency")) or "PLN",
        "lang": text_or_none(invoice.get("lang")) or "pl",
        "department_id": department_id,
        **seller,
        **buyer,
        **{key: text_or_none(invoice.get(key)) for key in _TEXT_FIELDS},
        **{key: is_truthy(invoice.get(key)) for key in _FLAG_FIELDS},
        "use_oss": oss,
        "procedure_designations": _designations(invoice, errors),
        "invoice_id": parse_int(invoice.get("invoice_id")),
        "from_invoice_id": parse_int(invoice.get("from_invoice_id")),
        "positions": [line.data for line in lines],
    }
    doc |= exchange_fields(doc, totals.tax)
    gov_errors = _gov_errors(state, doc, invoice)
    if state.config.validate_invoices_for_gov:
        for key, messages in gov_errors.items():
            for message in messages:
                err(errors, key, message)
    if errors:
        raise ApiError.validation(errors)
    return _Draft(
        doc=doc,
        lines=lines,
        buyer=buyer,
        client_id=client_id,
        buyer_override=is_truthy(invoice.get("buyer_override")),
        number=number,
        original=original,
        gov_errors=gov_errors,
    )


def _commit(
    store: SimStore, state: AccountState, draft: _Draft, request: CreateRequest
) -> dict[str, Any]:
    """Assign client card, ids and number, store the document and start a KSeF send if due."""
    kind = draft.doc["kind"]
    client_id = commit_client(
        state, store.client_ids, draft.buyer, draft.client_id, draft.buyer_override
    )
    taken = {d["number"] for d in state.invoices.values() if d["kind"] == kind}
    issue_date = date.fromisoformat(draft.doc["issue_date"])
    number = draft.number or next_number(state, kind, issue_date, taken)
    doc = {"id": store.invoice_ids.next(), "number": number, **draft.doc, "client_id": client_id}
    _finish(store, doc, draft.lines, request)
    doc["gov_status"] = ksef.initial_gov_status(state.config, kind)
    doc["gov_error_messages"] = ksef_compliance.error_messages(draft.gov_errors)
    if draft.original is not None:
        doc["gov_corrected_invoice_number"] = draft.original.get("gov_id")
    state.invoices[doc["id"]] = doc
    if draft.gov_errors:
        state.ksef_invalid.add(doc["id"])
    if ksef.is_ksef_document(state.config, kind) and (
        request.gov_save_and_send or ksef.auto_send_applies(state.config, doc)
    ):
        ksef.request_send(state, doc, request.now)
    return doc


def _finish(
    store: SimStore, doc: dict[str, Any], lines: list[Line], request: CreateRequest
) -> None:
    """Assign ids, public token and bookkeeping fields once the document is accepted."""
    token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(20))
    for line in lines:
        line.data.update(id=store.position_ids.next(), invoice_id=doc["id"])
    stamp = timestamp(request.now)
    doc.update(
        token=token,
        view_url=f"{request.base_url}/invoice/{token}",
        origin="api",
        from_api=True,
        test=False,
        cancelled=False,
        email_status=None,
        sent_time=None,
        created_at=stamp,
        updated_at=stamp,
        **dict.fromkeys(ksef.GOV_FIELDS),
    )


def _gov_errors(state: AccountState, doc: dict[str, Any], invoice: dict[str, Any]) -> ErrorMap:
    if not ksef.is_ksef_document(state.config, doc["kind"]):
        return {}
    return ksef_compliance.compliance_errors(doc, buyer_company_sent="buyer_company" in invoice)


def _correction_source(
    state: AccountState, invoice: dict[str, Any], errors: ErrorMap
) -> dict[str, Any] | None:
    """A correction must name the corrected document of the same account."""
    for key in ("invoice_id", "from_invoice_id"):
        if invoice.get(key) not in (None, ""):
            original = state.invoices.get(parse_int(invoice[key]) or 0)
            if original is None:
                err(errors, key, MISSING)
            return original
    err(errors, "invoice_id", BLANK)
    return None


def _inherit(original: dict[str, Any], invoice: dict[str, Any]) -> dict[str, Any]:
    """Corrections copy parties from the original unless the request sends them (§3.1, §8.6)."""
    inherited = {k: original[k] for k in _INHERITED_BY_CORRECTIONS if original.get(k) is not None}
    if original.get("department_id") is not None:
        inherited = {k: v for k, v in inherited.items() if k not in SELLER_FIELDS}
    return {**inherited, **{k: v for k, v in invoice.items() if v is not None}}


def _designations(invoice: dict[str, Any], errors: ErrorMap) -> list[str]:
    """``procedure_designations`` (README "Pola faktury"): only the documented codes."""
    raw = invoice.get("procedure_designations") or []
    values = [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
    if any(v not in PROCEDURE_DESIGNATIONS for v in values):
        err(errors, "procedure_designations", NOT_IN_LIST)
    return values


def _client_id(invoice: dict[str, Any], errors: ErrorMap) -> int | None:
    raw = invoice.get("client_id")
    if raw in (None, ""):
        return None
    value = parse_int(raw)
    if value is None:
        err(errors, "client_id", INVALID)
    return value


def _dates(invoice: dict[str, Any], today: date, errors: ErrorMap) -> dict[str, Any]:
    """issue/sell dates and the due date derived from ``payment_to_kind``."""
    issue = today
    if invoice.get("issue_date") not in (None, ""):
        try:
            issue = parse_day(invoice["issue_date"])
        except ValueError:
            err(errors, "issue_date", INVALID)
    sell = text_or_none(invoice.get("sell_date")) or issue.isoformat()
    if not is_valid_sell_date(sell):
        err(errors, "sell_date", INVALID)
    kind = text_or_none(invoice.get("payment_to_kind"))
    explicit = text_or_none(invoice.get("payment_to"))
    if kind is None:
        kind = "other_date" if explicit else str(DEFAULT_PAYMENT_DAYS)
    payment_to: str | None = None
    if kind == "other_date":
        payment_to = explicit
        if payment_to is None:
            err(errors, "payment_to", BLANK)
    elif kind != "off":
        days = parse_int(kind)
        if days is None:
            err(errors, "payment_to_kind", INVALID)
        else:
            payment_to = (issue + timedelta(days=days)).isoformat()
    return {
        "issue_date": issue.isoformat(),
        "sell_date": sell,
        "payment_to": payment_to,
        "payment_to_kind": kind,
    }


def _explicit_number(
    state: AccountState, invoice: dict[str, Any], kind: str, errors: ErrorMap
) -> str | None:
    """A client-chosen number must be unique within its kind (numbering races, §9)."""
    number = text_or_none(invoice.get("number"))
    if number is not None and any(
        d["number"] == number and d["kind"] == kind for d in state.invoices.values()
    ):
        err(errors, "number", TAKEN)
    return number


def _check_oid(state: AccountState, invoice: dict[str, Any], errors: ErrorMap) -> None:
    """``oid_unique: yes`` refuses a second document with the same oid in the account."""
    oid = text_or_none(invoice.get("oid"))
    if oid is None or not is_truthy(invoice.get("oid_unique")):
        return
    if any(d.get("oid") == oid for d in state.invoices.values()):
        err(errors, "oid", TAKEN)


def _paid(invoice: dict[str, Any], status: str, gross: Decimal, errors: ErrorMap) -> str:
    """``paid`` as sent; a ``paid`` status without an amount means paid in full."""
    raw = invoice.get("paid")
    if raw in (None, ""):
        return format_amount(gross) if status == "paid" else "0.0"
    try:
        return format_amount(parse_decimal(raw))
    except ValueError:
        err(errors, "paid", NOT_A_NUMBER)
        return "0.0"
