"""KSeF as wFirma exposes it (reference §7): automatic submission, fields filled a bit later.

There is no KSeF endpoint: with KSeF on, a KSeF-bound document is submitted when issued and its
read-only ``ksef_*`` fields stay empty until ``ksef_delay_seconds`` have passed. The fill-in is
evaluated lazily on every read, against the simulated clock, so no background task is needed.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from .models import SimCompany

KSEF_TYPES: frozenset[str] = frozenset({"normal", "margin", "correction"})
FIELDS = ("ksef_reference_number", "ksef_status", "ksef_registration_date")
ACCEPTED = "ok"  # the value [W-6] reports; the full value set is UNCONFIRMED


def is_ksef_document(company: SimCompany, doc_type: str) -> bool:
    """Drafts, proformas, offers and receipts never go to KSeF."""
    return company.ksef_enabled and doc_type in KSEF_TYPES


def submit(company: SimCompany, doc: dict[str, Any], now: datetime, *, to_ksef: bool) -> None:
    """Blank KSeF fields, and a due time when the document goes to KSeF."""
    doc.update(dict.fromkeys(FIELDS, ""))
    if to_ksef:
        doc["_ksef_due"] = now + timedelta(seconds=company.ksef_delay_seconds)


def refresh(company: SimCompany, doc: dict[str, Any], now: datetime, force: bool = False) -> None:
    """Assign the KSeF number once the delay has passed (or now, when ``force``)."""
    due: datetime | None = doc.get("_ksef_due")
    if due is None or (not force and now < due):
        return
    moment = min(due, now)
    del doc["_ksef_due"]
    nip = re.sub(r"\D", "", company.nip)[:10].rjust(10, "0")
    doc.update(
        ksef_reference_number=(
            f"{nip}-{moment:%Y%m%d}-{secrets.token_hex(6).upper()}-{secrets.token_hex(1).upper()}"
        ),
        ksef_status=ACCEPTED,
        ksef_registration_date=f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}",
        modified=f"{moment:%Y-%m-%d %H:%M:%S}",
    )


def pending(doc: dict[str, Any]) -> bool:
    """Still waiting for KSeF: ``download`` then gives only the transaction confirmation."""
    return "_ksef_due" in doc
