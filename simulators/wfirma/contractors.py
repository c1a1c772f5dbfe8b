"""The ``contractors`` module (reference §4): validation, the stored record and its actions.

Records are stored response-shaped (every value a string, as wFirma answers) so ``find`` can
match them literally. Unknown input keys are dropped; a rejected record is echoed as sent,
without ``id`` and with ``errors`` (HTTP 200, ``status.code = ERROR``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .api_types import Call, Env, Reply
from .envelope import envelope, parameters, records
from .errors import (
    BAD_EMAIL,
    BAD_NIP,
    BAD_VALUE,
    BAD_ZIP,
    EMPTY,
    ERROR,
    NOT_FOUND,
    ApiError,
    FieldErrors,
)
from .finding import find
from .state import CompanyState, SimStore

WRITABLE = (
    *("name", "altname", "tax_id_type", "nip", "regon", "street", "zip", "city", "country"),
    *("different_contact_address", "contact_name", "contact_street", "contact_zip"),
    *("contact_city", "contact_country", "contact_person", "phone", "skype", "fax", "email"),
    *("url", "description", "buyer", "seller", "account_number", "discount_percent"),
    *("payment_days", "payment_method", "remind", "jst", "vat_group", "receiver", "role", "tags"),
)
DEFAULTS = {
    "country": "PL",
    "buyer": "1",
    "seller": "0",
    "jst": "0",
    "vat_group": "0",
    "receiver": "0",
    "different_contact_address": "0",
    "discount_percent": "0.00",
    "payment_days": "0",
    "remind": "0",
}
TAX_ID_TYPES = frozenset({"nip", "vat", "pesel", "regon", "custom", "none"})
SNAPSHOT_FIELDS = (
    *("name", "altname", "tax_id_type", "nip", "street", "zip", "city", "country", "email"),
    "phone",
)
_PL_ZIP = re.compile(r"\d{2}-\d{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def text(value: object) -> str:
    """Request values as wFirma stores them: strings, with blanks for ``None``/``false``."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return str(value).strip()


def is_valid_nip(nip: str) -> bool:
    """Polish NIP checksum; dashes and spaces are tolerated by the check (not by ``find``)."""
    digits = re.sub(r"[\s-]", "", nip)
    if not re.fullmatch(r"\d{10}", digits):
        return False
    checksum = sum(int(d) * w for d, w in zip(digits, _NIP_WEIGHTS, strict=False)) % 11
    return checksum == int(digits[9])


def normalized(raw: dict[str, Any]) -> dict[str, str]:
    """Known fields only (misspelled ones vanish), with the simulator's defaults."""
    data = {key: text(raw[key]) for key in WRITABLE if key in raw}
    merged = {**DEFAULTS, **{k: v for k, v in data.items() if v != "" or k not in DEFAULTS}}
    if not merged.get("tax_id_type"):
        # UNCONFIRMED default: a given tax id is read as a Polish NIP, otherwise "none".
        merged["tax_id_type"] = "nip" if merged.get("nip") else "none"
    merged["country"] = merged["country"].upper()
    return merged


def validate(data: dict[str, str], *, require_street: bool = False) -> FieldErrors:
    """Required name/zip/city (and street for inline buyers), PL postcode, NIP, e-mail."""
    errors = FieldErrors()
    required = ("name", "street", "zip", "city") if require_street else ("name", "zip", "city")
    for key in required:
        if not data.get(key):
            errors.add(key, EMPTY, "notEmpty")
    if data.get("zip") and data.get("country") == "PL" and not _PL_ZIP.fullmatch(data["zip"]):
        errors.add("zip", BAD_ZIP, "zip")
    tax_type = data.get("tax_id_type", "")
    if tax_type not in TAX_ID_TYPES:
        errors.add("tax_id_type", BAD_VALUE, "inList")
    elif tax_type == "nip" and not is_valid_nip(data.get("nip", "")):
        errors.add("nip", BAD_NIP, "nip")
    if data.get("email") and not _EMAIL.fullmatch(data["email"]):
        errors.add("email", BAD_EMAIL, "email")
    return errors


def blank_record() -> dict[str, Any]:
    """A record of the full shape (``find`` checks condition fields against it)."""
    record: dict[str, Any] = {"id": ""}
    record.update({key: DEFAULTS.get(key, "") for key in WRITABLE})
    record.update(_relations())
    record.update(notes="0", documents="0", hash="", created="", modified="")
    return record


def _relations() -> dict[str, Any]:
    return {
        "translation_language": {"id": "0"},
        "company_account": {"id": "0"},
        "invoice_description": {"id": "0"},
    }


def create(
    store: SimStore, company: CompanyState, data: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Store a validated contractor and return the stored record."""
    contractor_id = store.contractor_ids.next()
    record = blank_record()
    record.update(data)
    record.update(id=str(contractor_id), hash=f"{contractor_id:x}", created=stamp(now))
    record["modified"] = record["created"]
    company.contractors[contractor_id] = record
    return record


def snapshot(store: SimStore, record: dict[str, Any]) -> dict[str, str]:
    """The immutable buyer copy an invoice keeps (``contractor_detail``, reference §3.3)."""
    detail = {"id": str(store.snapshot_ids.next())}
    detail.update({key: str(record.get(key, "")) for key in SNAPSHOT_FIELDS})
    return detail


# --- actions ---------------------------------------------------------------------------------


def add(env: Env, call: Call) -> Reply:
    rows, failed = [], False
    for raw in records(call.body, "contractors", "contractor"):
        data = normalized(raw)
        errors = validate(data)
        if errors:
            failed = True
            rows.append({**raw, "errors": errors.render()})
        else:
            rows.append(dict(create(env.store, env.books, data, env.now)))
    if not rows:
        raise ApiError(ERROR, "Brak danych kontrahenta.")
    return Reply(envelope("contractors", "contractor", rows, code=ERROR if failed else "OK"))


def find_action(env: Env, call: Call) -> Reply:
    params = parameters(call.body, "contractors")
    page = find(list(env.books.contractors.values()), params, "contractor", blank_record())
    return Reply(envelope("contractors", "contractor", page.rows, page_info=page.info))


def get(env: Env, call: Call) -> Reply:
    return Reply(envelope("contractors", "contractor", [_existing(env, call)]))


def edit(env: Env, call: Call) -> Reply:
    record = _existing(env, call)
    [raw, *_] = records(call.body, "contractors", "contractor") or [{}]
    changes = {key: text(raw[key]) for key in WRITABLE if key in raw}
    candidate = {**record, **changes}
    errors = validate(candidate)
    if errors:
        return Reply(
            envelope("contractors", "contractor", [{**raw, "errors": errors.render()}], code=ERROR)
        )
    record.update(changes, modified=stamp(env.now))
    return Reply(envelope("contractors", "contractor", [record]))


def delete(env: Env, call: Call) -> Reply:
    record = _existing(env, call)
    del env.books.contractors[int(record["id"])]
    return Reply(envelope("contractors", "contractor", [record]))


def _existing(env: Env, call: Call) -> dict[str, Any]:
    record = env.books.contractors.get(call.required_id())
    if record is None:
        raise ApiError(NOT_FOUND)
    return record
