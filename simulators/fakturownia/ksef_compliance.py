"""What KSeF requires of a document before Fakturownia will send it (reference §8.6).

With ``validate_invoices_for_gov`` on, these errors refuse the create with 422; with it off, the
document is saved, the errors land in ``gov_error_messages`` and every send fails.
"""

from __future__ import annotations

from typing import Any

from .errors import BLANK, ErrorMap, add_error

_SELLER_REQUIRED = (
    "seller_tax_no",
    "seller_name",
    "seller_street",
    "seller_post_code",
    "seller_city",
    "seller_country",
)


def compliance_errors(doc: dict[str, Any], buyer_company_sent: bool) -> ErrorMap:
    """Fields KSeF requires (§8.6); evaluated on the assembled document."""
    errors: ErrorMap = {}
    required = list(_SELLER_REQUIRED)
    if doc["buyer_company"]:
        required.append("buyer_name")
        if doc.get("buyer_tax_no_kind") != "empty":
            required.append("buyer_tax_no")
    else:
        required += ["buyer_first_name", "buyer_last_name"]
    required.append("buyer_country")
    for key in required:
        if not doc.get(key):
            add_error(errors, key, BLANK)
    if not buyer_company_sent:
        add_error(errors, "buyer_company", BLANK)
    taxes = {p["tax"] for p in doc["positions"]}
    if "zw" in taxes and not doc.get("exempt_tax_kind"):
        add_error(errors, "exempt_tax_kind", BLANK)
    if "np" in taxes and not doc.get("np_tax_kind"):
        add_error(errors, "np_tax_kind", BLANK)
    return errors


def error_messages(errors: ErrorMap) -> list[str] | None:
    return [f"{key} {msg}" for key, msgs in errors.items() for msg in msgs] or None
