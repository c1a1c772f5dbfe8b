"""wFirma's read-only KSeF fields (wfirma-api.md §7) in the project's clearance vocabulary.

`IssuedDocument.clearance.status` speaks Fakturownia's `gov_status` values whatever the
provider (adapters/fakturownia/mapping.py passes them through; ADR 0004: consumers wait for
`ok`), so a wFirma document reads exactly like a Fakturownia one in the same state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from adapters.wfirma.http import records
from schemas.invoices import Clearance

WARSAW = ZoneInfo("Europe/Warsaw")  # wFirma's timestamps are Polish local time (§2.8)
OK = "ok"
PROCESSING = "processing"
REJECTED = "send_error"
NOT_APPLICABLE = "not_applicable"

# wFirma `ksef_status` → project status. Only `ok` is observed; [W-6] also takes `accepted` as
# processed (wfirma-api.md §7; ksef-2026.md §8 open question 2). `error` and `server_error` are
# the simulator's UNCONFIRMED names (simulators/wfirma/ksef.py). wFirma re-sends by itself and
# offers no API call to re-send (§7), so its transient `server_error` is still `processing` for
# us (errors attached): Fakturownia's `server_error` would ask the caller to re-send.
STATUS: dict[str, str] = {
    "ok": OK,
    "accepted": OK,
    "error": REJECTED,
    "rejected": REJECTED,
    "server_error": PROCESSING,
}
# Documents that go to KSeF (§7: a `normal` invoice when issued, and its corrections). The
# others never get KSeF fields: proformas, offers, drafts (§7), receipts (ksef-2026.md §1.5).
KSEF_TYPES = frozenset({"normal", "margin", "correction"})
# Error keys are UNCONFIRMED ([W-6] matches any key containing "ksef"); the simulator uses the
# first, in wFirma's numbered error shape (§2.6).
_ERROR_KEYS = ("ksef_errors", "ksef_error", "ksef_error_message")
# The refusal of a KSeF-bound `invoices/add` when the API user has no shared KSeF authorisation
# (§7: "Brak autoryzacji w KSeF 2.0. Zautoryzuj się w zakładce PRZYCHODY » KSEF I INTEGRACJE").
AUTHORIZATION_MISSING = "Brak autoryzacji w KSeF"


@dataclass(frozen=True)
class KsefState:
    """What the `ksef_*` fields say; `registered_at` is when KSeF assigned the number."""

    status: str
    number: str | None = None
    registered_at: dt.datetime | None = None
    errors: list[str] = field(default_factory=list)

    def clearance(self) -> Clearance:
        return Clearance(status=self.status, number=self.number, errors=self.errors)


def ksef_state(record: dict[str, Any]) -> KsefState | None:
    """The document's KSeF state, or `None` while wFirma reports nothing for a KSeF-bound type
    (§7: the fields are empty until KSeF has processed it, and on accounts without KSeF)."""
    doc_type = str(record.get("type") or "")
    raw = str(record.get("ksef_status") or "").strip().lower()
    number = str(record.get("ksef_reference_number") or "").strip() or None
    errors = _errors(record)
    if doc_type and doc_type not in KSEF_TYPES and not (raw or number):
        return KsefState(NOT_APPLICABLE)
    if not (raw or number or errors):
        return None
    status = STATUS.get(raw, PROCESSING)  # unknown: re-read, never assume an outcome
    if number and status != REJECTED:
        status = OK  # the KSeF number *is* the issuance (ksef-2026.md §1.2)
    registered = registration_date(record.get("ksef_registration_date")) if number else None
    return KsefState(status, number, registered, errors)


def clearance(record: dict[str, Any]) -> Clearance | None:
    state = ksef_state(record)
    return state.clearance() if state is not None else None


def registration_date(value: Any) -> dt.datetime | None:
    """`Y-m-d H:i:s.v` ([W-3] `Invoice.php`), Polish local time; `None` when absent or odd."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=WARSAW)


def needs_ksef_authorization(message: str | None) -> bool:
    """Whether a refusal is wFirma's missing KSeF authorisation: a person must share a
    KSeF-authorised user for API connections before KSeF-bound documents can be issued."""
    return AUTHORIZATION_MISSING.lower() in (message or "").lower()


def _errors(record: dict[str, Any]) -> list[str]:
    raw = next((record[k] for k in _ERROR_KEYS if record.get(k)), [])
    found = records(raw, "error") if isinstance(raw, dict) else raw
    listed = found if isinstance(found, list) else [found]
    return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in listed]
