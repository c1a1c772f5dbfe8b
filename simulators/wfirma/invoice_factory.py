"""``invoices/add``: validate one record and assemble the stored document (reference §3).

Every problem is collected first and answered as one echo of the request record carrying
``errors`` (header), ``contractor.errors`` and per-line ``errors``, with HTTP 200 and
``status.code = ERROR``; only a valid record touches state. Unknown keys are dropped, so a
misspelled field silently falls back to its default (§2.8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from simulators.fakturownia.coerce import is_truthy, parse_int
from simulators.fakturownia.money import parse_decimal

from . import corrections, ksef, numbering
from .buyers import EMPTY_RELATION, resolve_buyer
from .contractors import stamp, text
from .envelope import items, numbered, relation_id
from .errors import (
    BAD_DATE,
    BAD_VALUE,
    CANNOT_SEND_TYPE,
    EMPTY,
    ERROR,
    KSEF_UNAUTHORIZED,
    NO_SUCH_OBJECT,
    NOT_A_NUMBER,
    ApiError,
    FieldErrors,
)
from .lines import Line, money, parse_line
from .models import SentEmail
from .state import CompanyState, LoginState, SimStore
from .treatment import check_oss, currency_fields, margin_groups
from .vat import GroupTotal, group_totals

TYPES: frozenset[str] = frozenset(
    {
        *("normal", "margin", "proforma", "offer", "receipt_normal", "receipt_fiscal_normal"),
        *("income_normal", "bill", "proforma_bill", "offer_bill", "receipt_bill"),
        *("receipt_fiscal_bill", "income_bill", "correction", "normal_draft"),
    }
)
# Documents wFirma will not e-mail (``auto_send`` docs, issue #39 message on ``send``).
NOT_EMAILABLE_TYPES = frozenset(
    {"receipt_fiscal_normal", "receipt_fiscal_bill", "income_normal", "income_bill"}
)
PAYMENT_METHODS = frozenset({"cash", "transfer", "compensation", "cod", "payment_card"})
TEXT_FIELDS = (
    *("description", "id_external", "schema", "register_description", "tags", "template"),
    "type_of_sale",
)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Outcome:
    """Either the stored document, or the echo to answer with ``ERROR``."""

    doc: dict[str, Any] | None = None
    echo: dict[str, Any] | None = None


def add_invoice(
    store: SimStore, company: CompanyState, raw: dict[str, Any], now: datetime, login: LoginState
) -> Outcome:
    """Validate everything first, then store; business refusals raise ``ApiError``.

    A KSeF-bound document needs a KSeF-authorised user (the login's and the company's knob,
    or a ``ksef_unauthorized`` rule); its KSeF plan comes from the login's ``ksef_*`` rules."""
    if "type" not in raw and is_truthy(raw.get("auto_send")):
        # Issue #39 (§2.5): a missing type surfaced as this generic e-mail error.
        raise ApiError(ERROR, CANNOT_SEND_TYPE)
    errors = FieldErrors()
    doc_type = text(raw.get("type")) or "normal"
    if doc_type not in TYPES:
        errors.add("type", BAD_VALUE, "inList")
        doc_type = "normal"
    parent = _parent(company, raw, doc_type, errors)
    header = _header(raw, parent, now.date(), errors)
    buyer = resolve_buyer(store, company, raw, doc_type, parent, errors)
    lines, before = _lines(company, raw, parent, header["price_type"] == "brutto", errors)
    check_oss(raw, lines, errors)
    if errors or buyer.errors or any(line.errors for line in lines):
        return Outcome(echo=_echo(raw, errors, buyer.errors, lines))
    to_ksef = _goes_to_ksef(company, doc_type, parent)
    if to_ksef and not (login.config.ksef_authorized and company.config.ksef_authorized):
        raise ApiError(ERROR, KSEF_UNAUTHORIZED)
    rule = ksef.take_rule(login.ksef_rules, text(raw.get("id_external"))) if to_ksef else None
    if rule is not None and rule.action == "ksef_unauthorized":
        raise ApiError(ERROR, KSEF_UNAUTHORIZED)
    doc = _assemble(store, company, raw, doc_type, header, now)
    doc.update(buyer.relations(store, company, now))
    _attach_lines(store, doc, lines, now)
    gross = header["price_type"] == "brutto"
    if parent is not None:
        groups = corrections.difference(lines, before, gross).groups
        doc["_parent_id"] = int(parent["id"])
        doc["parent"] = {"id": parent["id"]}
        parent["corrections"] = str(int(parent["corrections"]) + 1)
    else:
        groups = group_totals(((line.vat, line.amount) for line in lines), gross)
    if doc["type"] == "margin" or (parent is not None and parent["type"] == "margin"):
        groups = margin_groups(groups)
    _set_totals(doc, groups)
    doc.update(currency_fields(doc["currency"], doc["disposaldate"]))
    ksef.submit(doc, ksef.plan(company.config, rule, now) if to_ksef else None)
    company.invoices[int(doc["id"])] = doc
    if is_truthy(raw.get("auto_send")):
        _auto_send(company, doc)
    return Outcome(doc=doc)


def _goes_to_ksef(company: CompanyState, doc_type: str, parent: dict[str, Any] | None) -> bool:
    effective = parent["type"] if parent is not None and doc_type == "correction" else doc_type
    return ksef.is_ksef_document(company.config, effective)


def _parent(
    company: CompanyState, raw: dict[str, Any], doc_type: str, errors: FieldErrors
) -> dict[str, Any] | None:
    """The corrected invoice: flat ``parent_id`` (documented) or ``parent {id}`` (tolerated)."""
    if doc_type != "correction":
        return None
    parent_id = parse_int(relation_id(raw, "parent"))
    parent = company.invoices.get(parent_id or 0)
    if parent is None or parent["type"] == "correction":
        errors.add("parent_id", NO_SUCH_OBJECT if parent is None else BAD_VALUE, "parent")
        return None
    return parent


def _header(
    raw: dict[str, Any], parent: dict[str, Any] | None, today: date, errors: FieldErrors
) -> dict[str, str]:
    header: dict[str, str] = {}
    header["date"] = _day(raw, "date", today.isoformat(), errors)
    header["disposaldate"] = _day(raw, "disposaldate", header["date"], errors)
    header["paymentdate"] = _day(raw, "paymentdate", header["date"], errors)
    header["paymentmethod"] = _choice(raw, "paymentmethod", PAYMENT_METHODS, "transfer", errors)
    header["disposaldate_format"] = _choice(
        raw, "disposaldate_format", frozenset({"day", "month"}), "day", errors
    )
    default_mode = parent["price_type"] if parent else "netto"
    header["price_type"] = _choice(
        raw, "price_type", frozenset({"netto", "brutto"}), default_mode, errors
    )
    if parent is not None:  # currency is read-only on corrections; so is the price mode here
        header["price_type"] = parent["price_type"]
        header["currency"] = parent["currency"]
    else:
        header["currency"] = (text(raw.get("currency")) or "PLN").upper()
    try:
        paid = parse_decimal(raw.get("alreadypaid_initial") or 0)
    except ValueError:
        errors.add("alreadypaid_initial", NOT_A_NUMBER, "numeric")
        paid = Decimal(0)
    header["alreadypaid_initial"] = money(paid)
    return header


def _day(raw: dict[str, Any], key: str, default: str, errors: FieldErrors) -> str:
    value = text(raw.get(key))
    if not value:
        return default
    try:
        valid = bool(_ISO_DAY.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        errors.add(key, BAD_DATE, "date")
        return default
    return value


def _choice(
    raw: dict[str, Any], key: str, allowed: frozenset[str], default: str, errors: FieldErrors
) -> str:
    value = text(raw.get(key))
    if not value:
        return default
    if value not in allowed:
        errors.add(key, BAD_VALUE, "inList")
        return default
    return value


def _lines(
    company: CompanyState,
    raw: dict[str, Any],
    parent: dict[str, Any] | None,
    gross: bool,
    errors: FieldErrors,
) -> tuple[list[Line], dict[int, dict[str, Any]]]:
    current = corrections.current_lines(company, parent) if parent is not None else {}
    parsed = []
    for entry in items(raw.get("invoicecontents"), "invoicecontent"):
        if not isinstance(entry, dict):
            continue
        parent_line = parse_int(entry.get("parent_id")) if parent is not None else None
        before = current.get(parent_line) if parent_line is not None else None
        line = parse_line(entry, gross, before)
        if parent_line is not None and before is None:
            line.errors = FieldErrors()  # judged only by the dangling reference
            line.errors.add("parent_id", NO_SUCH_OBJECT, "parent")
        parsed.append(line)
    if not parsed:
        # UNCONFIRMED (§8.11): an old report saw an "__empty" line; the simulator refuses.
        errors.add("invoicecontents", EMPTY, "notEmpty")
    return parsed, current


def _echo(
    raw: dict[str, Any], errors: FieldErrors, buyer_errors: FieldErrors, lines: list[Line]
) -> dict[str, Any]:
    echo = dict(raw)
    echo["errors"] = errors.render() if errors else False
    if isinstance(raw.get("contractor"), dict):
        contractor = dict(raw["contractor"])
        contractor["errors"] = buyer_errors.render() if buyer_errors else False
        echo["contractor"] = contractor
    if lines:
        echo["invoicecontents"] = numbered(
            "invoicecontent",
            (
                {**line.raw, "errors": line.errors.render() if line.errors else False}
                for line in lines
            ),
        )
    return echo


def _assemble(
    store: SimStore,
    company: CompanyState,
    raw: dict[str, Any],
    doc_type: str,
    header: dict[str, str],
    now: datetime,
) -> dict[str, Any]:
    invoice_id = store.invoice_ids.next()
    issued = date.fromisoformat(header["date"])
    series = numbering.choose_series(company, doc_type, relation_id(raw, "series"))
    if doc_type in numbering.UNNUMBERED_TYPES:
        number, fullnumber = 0, ""
    else:
        number, fullnumber = numbering.next_number(company, series, doc_type, issued)
    config = company.config
    account = _company_account(company, relation_id(raw, "company_account"), header["currency"])
    doc: dict[str, Any] = {
        "id": str(invoice_id),
        "type": doc_type,
        "fullnumber": fullnumber,
        "number": str(number),
        "day": str(issued.day),
        "month": str(issued.month),
        "year": str(issued.year),
        **header,
        "auto_send": "1" if is_truthy(raw.get("auto_send")) else "0",
        "hash": f"{invoice_id:x}{now:%H%M%S}",
        "signed": "0",
        "warehouse_type": "simple",
        "notes": "0",
        "documents": "0",
        "corrections": "0",
        "correction_type": "",
        "receipt_fiscal_printed": "0",
        "currency_exchange": "1.0000",
        "price_currency_exchange": "1.0000",
        "schema_bill": "0",
        "schema_cancelled": "0",
        "schema_receipt_book": "0",
        "header": "",
        "footer": "",
        "user_name": "",
        "series": {"id": str(series.id) if series else "0"},
        "parent": dict(EMPTY_RELATION),
        "order": {"id": text(relation_id(raw, "order")) or "0"},
        "contractor_receiver": dict(EMPTY_RELATION),
        "company_account": {"id": str(account.id) if account else "0"},
        "translation_language": dict(EMPTY_RELATION),
        "company_detail": {
            "id": str(store.snapshot_ids.next()),
            "name": config.name,
            "altname": config.altname,
            "nip": config.nip,
            "street": config.street,
            "zip": config.zip,
            "city": config.city,
            "country": config.country,
            "bank_account": account.number if account else "",
        },
        "created": stamp(now),
        "modified": stamp(now),
    }
    doc.update({key: text(raw.get(key)) for key in TEXT_FIELDS})
    moss = raw.get("vat_moss_details")
    doc["vat_moss_details"] = moss if isinstance(moss, dict) else {}
    doc["schema"] = doc["schema"] or "normal"
    return doc


def _company_account(company: CompanyState, requested: object, currency: str) -> Any:
    accounts = company.config.bank_accounts
    chosen = next((a for a in accounts if str(a.id) == text(requested)), None)
    return chosen or next((a for a in accounts if a.currency == currency), None)


def _attach_lines(store: SimStore, doc: dict[str, Any], lines: list[Line], now: datetime) -> None:
    stored = []
    for line in lines:
        record = {"id": str(store.line_ids.next()), **line.record}
        if line.parent_line_id is not None:
            record["parent_id"] = str(line.parent_line_id)
        record.update(created=stamp(now), modified=stamp(now))
        record["_amount"] = line.amount
        record["_parent_line_id"] = line.parent_line_id
        stored.append(record)
    doc["_lines"] = stored


def _set_totals(doc: dict[str, Any], groups: list[GroupTotal]) -> None:
    net = sum((g.net for g in groups), Decimal(0))
    tax = sum((g.tax for g in groups), Decimal(0))
    gross = net + tax
    paid = Decimal(doc["alreadypaid_initial"])
    doc.update(netto=money(net), tax=money(tax), total=money(gross))
    doc.update(alreadypaid=money(paid), remaining=money(gross - paid))
    doc["paymentstate"] = "undefined" if gross <= 0 else "paid" if paid >= gross else "unpaid"
    doc["_groups"] = [
        {
            "netto": money(g.net),
            "tax": money(g.tax),
            "brutto": money(g.gross),
            "vat_code": {"id": str(g.vat.id)},
        }
        for g in groups
    ]


def _auto_send(company: CompanyState, doc: dict[str, Any]) -> None:
    """``auto_send: 1`` queues an e-mail to the buyer; silently skipped where it cannot apply."""
    address = doc["contractor_detail"].get("email", "")
    if doc["type"] in NOT_EMAILABLE_TYPES or not address:
        return
    company.emails.append(
        SentEmail(invoice_id=int(doc["id"]), fullnumber=doc["fullnumber"], to=address)
    )
