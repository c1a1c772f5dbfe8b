"""KSeF (Polish e-invoicing) behaviour as seen through Fakturownia's API (reference §8).

Sending is modelled as a timer: a document goes to ``processing`` and is resolved lazily the next
time anyone reads the account once ``ksef_delay_seconds`` have passed. No background task is
needed, which keeps the simulator usable from any event loop or thread.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime
from typing import Any

from .clock import timestamp
from .errors import BLANK, ErrorMap, add_error
from .models import SimAccount
from .state import AccountState

KSEF_KINDS: frozenset[str] = frozenset(
    {"vat", "correction", "vat_mp", "vat_margin", "wdt", "export_products", "advance", "final"}
)
GOV_FIELDS = (
    "gov_status",
    "gov_id",
    "gov_send_date",
    "gov_sell_date",
    "gov_error_messages",
    "gov_verification_link",
    "gov_link",
    "gov_corrected_invoice_number",
)
_SELLER_REQUIRED = (
    "seller_tax_no",
    "seller_name",
    "seller_street",
    "seller_post_code",
    "seller_city",
    "seller_country",
)
_OUTCOME_ERRORS = {
    "send_error": ["Dokument odrzucony przez KSeF (symulator)"],
    "server_error": ["Błąd serwera KSeF (symulator)"],
}


def is_ksef_document(account: SimAccount, kind: str) -> bool:
    return account.ksef_enabled and kind in KSEF_KINDS


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


def auto_send_applies(account: SimAccount, doc: dict[str, Any]) -> bool:
    """Whether the account's ``gov_auto_send_mode`` sends this document by itself."""
    mode = account.gov_auto_send_mode
    if mode == "all":
        return True
    if mode == "all_companies":
        return bool(doc["buyer_company"])
    if mode == "pl_companies":
        return bool(doc["buyer_company"]) and doc.get("buyer_country") in (None, "", "PL")
    return False


def initial_gov_status(account: SimAccount, kind: str) -> str | None:
    """Status before any send: null when KSeF is off or not yet sent, else not_applicable."""
    if not account.ksef_enabled:
        return None
    return None if kind in KSEF_KINDS else "not_applicable"


def request_send(state: AccountState, doc: dict[str, Any]) -> None:
    """Start a send unless the document is already accepted or in flight (no double sends)."""
    account = state.config
    if not account.ksef_enabled:
        doc["gov_status"] = "not_connected"
        return
    if doc["kind"] not in KSEF_KINDS:
        doc["gov_status"] = "not_applicable"
        return
    if doc["gov_status"] in ("ok", "processing"):
        return
    if doc.get("gov_error_messages"):
        doc["gov_status"] = "send_error"
        return
    doc["gov_status"] = "processing"
    doc["gov_id"] = None
    state.ksef_due[doc["id"]] = time.monotonic() + account.ksef_delay_seconds


def refresh(state: AccountState, now: datetime, force: bool = False) -> None:
    """Resolve every send whose delay has elapsed (all of them when ``force``)."""
    moment = time.monotonic()
    for invoice_id, due in list(state.ksef_due.items()):
        if force or due <= moment:
            del state.ksef_due[invoice_id]
            _resolve(state.invoices[invoice_id], state.config, now)


def _resolve(doc: dict[str, Any], account: SimAccount, now: datetime) -> None:
    outcome = account.ksef_outcome
    doc["updated_at"] = timestamp(now)
    if outcome != "ok":
        doc["gov_status"] = outcome
        doc["gov_error_messages"] = list(_OUTCOME_ERRORS[outcome])
        return
    nip = re.sub(r"\D", "", doc.get("seller_tax_no") or "") or "0000000000"
    gov_id = f"{nip}-{now:%Y%m%d}-{secrets.token_hex(6).upper()}"
    doc.update(
        gov_status="ok",
        gov_id=gov_id,
        gov_send_date=timestamp(now),
        gov_sell_date=doc.get("sell_date"),
        gov_error_messages=None,
        gov_verification_link=(
            f"https://ksef.mf.gov.pl/web/verify/{gov_id}/{secrets.token_urlsafe(24)}"
        ),
    )
