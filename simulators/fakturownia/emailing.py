"""``POST /invoices/{id}/send_by_email.json`` (reference §4).

Refusals come back as HTTP 200 with ``status: "error"`` — that is the real API's behaviour and
the trap adapters must handle, so the simulator reproduces it rather than using 4xx codes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .clock import timestamp
from .coerce import is_truthy, text_or_none
from .models import SentEmail
from .state import AccountState

KSEF_BLOCK_MESSAGE = "Faktura nie może zostać wysłana - brak numeru KSeF"
NO_RECIPIENT_MESSAGE = "Brak adresu e-mail odbiorcy"
MAX_RECIPIENTS = 5


def _addresses(raw: str | None) -> tuple[str, ...]:
    return tuple(a.strip() for a in (raw or "").split(",") if a.strip())[:MAX_RECIPIENTS]


def send_by_email(
    state: AccountState, doc: dict[str, Any], param: Callable[[str], Any], now: datetime
) -> dict[str, str]:
    """Record the e-mail and mark the document sent, unless KSeF or a missing address blocks it.

    ``param`` reads an option from the query string or the JSON body.
    """
    if _blocked_by_ksef(state, doc):
        return {"status": "error", "message": KSEF_BLOCK_MESSAGE}
    to = _addresses(text_or_none(param("email_to"))) or _addresses(
        doc.get("buyer_email") or doc.get("recipient_email")
    )
    if not to:
        return {"status": "error", "message": NO_RECIPIENT_MESSAGE}
    if is_truthy(param("update_buyer_email")) and text_or_none(param("email_to")):
        doc["buyer_email"] = to[0]
    state.emails.append(
        SentEmail(
            invoice_id=doc["id"],
            number=doc["number"],
            to=to,
            cc=_addresses(text_or_none(param("email_cc"))),
            with_pdf=is_truthy(param("email_pdf")),
        )
    )
    doc.update(email_status="sent", sent_time=timestamp(now), updated_at=timestamp(now))
    if doc["status"] == "issued":
        doc["status"] = "sent"
    return {"status": "ok", "message": f"Wysłano dokument {doc['number']} na adres {', '.join(to)}"}


def _blocked_by_ksef(state: AccountState, doc: dict[str, Any]) -> bool:
    """KSeF accounts may e-mail company invoices only once they carry a KSeF number or are
    marked OFFLINE (§4; KSeF.md "Tryb produkcyjny": "wyłącznie po skutecznym nadaniu numeru
    KSeF lub oznaczeniu trybu OFFLINE")."""
    return (
        state.config.ksef_enabled
        and bool(doc["buyer_company"])
        and doc.get("gov_status") not in ("not_applicable", "offline")
        and not doc.get("gov_id")
    )
