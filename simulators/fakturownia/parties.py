"""Seller and buyer data of a new document: departments fill the seller, buyers are read as sent.

Seller precedence follows the KSeF guide: ``department_id`` overrides any ``seller_*`` sent;
without both, the account's own company data (main department) is used.
"""

from __future__ import annotations

from typing import Any

from .coerce import is_truthy, parse_int, text_or_none
from .errors import MISSING, ErrorMap, add_error
from .models import SimAccount, SimDepartment

SELLER_FIELDS = (
    "seller_name",
    "seller_tax_no",
    "seller_tax_no_kind",
    "seller_street",
    "seller_post_code",
    "seller_city",
    "seller_country",
    "seller_email",
    "seller_phone",
    "seller_www",
    "seller_fax",
    "seller_bank",
    "seller_bank_account",
    "seller_person",
    "seller_bdo_no",
)
BUYER_FIELDS = (
    "buyer_name",
    "buyer_first_name",
    "buyer_last_name",
    "buyer_tax_no",
    "buyer_tax_no_kind",
    "buyer_street",
    "buyer_post_code",
    "buyer_city",
    "buyer_country",
    "buyer_email",
    "buyer_phone",
    "buyer_person",
    "buyer_note",
)
_DEPARTMENT_TO_SELLER = {
    "name": "seller_name",
    "tax_no": "seller_tax_no",
    "tax_no_kind": "seller_tax_no_kind",
    "street": "seller_street",
    "post_code": "seller_post_code",
    "city": "seller_city",
    "country": "seller_country",
    "email": "seller_email",
    "phone": "seller_phone",
    "www": "seller_www",
    "bank": "seller_bank",
    "bank_account": "seller_bank_account",
    "person": "seller_person",
}


def _seller_from(department: SimDepartment) -> dict[str, str | None]:
    """Only non-blank department values, so an empty department field never erases data."""
    values = {
        seller_key: text_or_none(getattr(department, dep_key))
        for dep_key, seller_key in _DEPARTMENT_TO_SELLER.items()
    }
    return {k: v for k, v in values.items() if v is not None}


def resolve_seller(
    account: SimAccount, invoice: dict[str, Any], errors: ErrorMap
) -> tuple[int | None, dict[str, str | None]]:
    """Return ``(department_id, seller_fields)`` for the document."""
    sent = {key: text_or_none(invoice.get(key)) for key in SELLER_FIELDS}
    raw_id = invoice.get("department_id")
    if raw_id not in (None, ""):
        department_id = parse_int(raw_id)
        department = account.department(department_id) if department_id is not None else None
        if department is None:
            add_error(errors, "department_id", MISSING)
            return None, sent
        return department.id, {**sent, **_seller_from(department)}
    if sent["seller_name"] is None:
        department = account.default_department()
    else:
        department = next((d for d in account.departments if d.name == sent["seller_name"]), None)
    if department is None:
        return None, sent
    filled = {k: v for k, v in _seller_from(department).items() if sent.get(k) is None}
    return department.id, {**sent, **filled}


def buyer_is_company(invoice: dict[str, Any]) -> bool:
    """Absent ``buyer_company`` means a company (3rd-party "measured" report, see §2.2)."""
    return is_truthy(invoice["buyer_company"]) if "buyer_company" in invoice else True


def resolve_buyer(invoice: dict[str, Any]) -> dict[str, Any]:
    """Buyer fields exactly as sent (blank text becomes ``None``)."""
    buyer: dict[str, Any] = {key: text_or_none(invoice.get(key)) for key in BUYER_FIELDS}
    buyer["buyer_company"] = buyer_is_company(invoice)
    if buyer["buyer_tax_no_kind"] is None:
        buyer["buyer_tax_no_kind"] = ""
    return buyer


def complete_person_name(buyer: dict[str, Any]) -> None:
    """A private buyer without ``buyer_name`` gets "First Last" (KSeF guide, §2.2)."""
    if buyer["buyer_name"] is None and not buyer["buyer_company"]:
        full = " ".join(p for p in (buyer["buyer_first_name"], buyer["buyer_last_name"]) if p)
        buyer["buyer_name"] = full or None
