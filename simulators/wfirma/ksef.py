"""KSeF as wFirma exposes it (wfirma-api.md §7, ksef-2026.md §1.10): automatic submission of a
KSeF-bound document when it is issued, no API call to (re)send, no webhook, and three read-only
fields on the invoice that fill in later: ``ksef_reference_number``, ``ksef_status`` and
``ksef_registration_date`` (§7, [W-3] ``Invoice.php`` commit 0334f35).

Each KSeF-bound document gets a plan at creation: a list of phases, each a status it reaches
at a due time. Phases are applied lazily on every read, against the simulated clock, like the
Fakturownia simulator's ``ksef.py``, so no background task is needed. The plan comes from the
first ``ksef_*`` fault rule matching the document, else plain acceptance.

``ksef_status`` values: only ``ok`` is observed ([W-6]: "wFirma reports ``ok`` once accepted";
ksef-2026.md §8 open question 2). The others are simulator choices, UNCONFIRMED, named once
here so the adapter's mapping table can follow them:

- ``""``: not processed yet (§7: "the fields are empty right after ``add``"), and forever on
  documents that never go to KSeF (drafts, proformas, offers, receipts: §7, ksef-2026.md §1.5);
- ``ok``: accepted, with the KSeF number and the registration date (milliseconds, §2.8);
- ``error``: refused by KSeF (schema, permission, duplicate: ksef-2026.md §1.8), final;
- ``server_error``: a failure on the way to KSeF that wFirma re-sends by itself, not final.

Messages of ``error`` / ``server_error`` go in ``ksef_errors``, in wFirma's numbered error
shape (§2.6); the key is UNCONFIRMED ([W-6] matches any key containing ``ksef``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .models import KSEF_ACTIONS, FaultRule, SimCompany

KSEF_TYPES: frozenset[str] = frozenset({"normal", "margin", "correction"})
FIELDS = ("ksef_reference_number", "ksef_status", "ksef_registration_date")
ERRORS = "ksef_errors"
WAITING = ""
ACCEPTED = "ok"
REJECTED = "error"
SERVER_ERROR = "server_error"
DEFAULT_MESSAGES: dict[str, tuple[str, ...]] = {
    REJECTED: ("Faktura odrzucona przez KSeF: niezgodność ze schemą FA(3) (symulator)",),
    SERVER_ERROR: ("Błąd serwera KSeF, dokument zostanie wysłany ponownie (symulator)",),
}
_PLAN = "_ksef"  # remaining phases; present on every KSeF-bound document


@dataclass(frozen=True)
class Phase:
    """The status a document reaches at ``due`` (with its messages, for the error states)."""

    due: datetime
    status: str
    messages: tuple[str, ...] = ()


def is_ksef_document(company: SimCompany, doc_type: str) -> bool:
    """Drafts, proformas, offers and receipts never go to KSeF."""
    return company.ksef_enabled and doc_type in KSEF_TYPES


def take_rule(rules: list[FaultRule], id_external: str) -> FaultRule | None:
    """The first ``ksef_*`` rule whose ``id_external_regex`` matches, charged one use."""
    for index, rule in enumerate(rules):
        if rule.action not in KSEF_ACTIONS or not re.search(rule.id_external_regex, id_external):
            continue
        if rule.times > 0:
            rule.times -= 1
            if rule.times == 0:
                del rules[index]
        return rule
    return None


def plan(company: SimCompany, rule: FaultRule | None, now: datetime) -> list[Phase]:
    """The phases a document goes through; ``ksef_never`` has none (it stays waiting)."""
    delay = company.ksef_delay_seconds
    if rule is not None and rule.ksef_delay_seconds is not None:
        delay = rule.ksef_delay_seconds
    due = now + timedelta(seconds=delay)
    if rule is None or rule.action == "ksef_accept":
        return [Phase(due, ACCEPTED)]
    if rule.action == "ksef_reject":
        return [Phase(due, REJECTED, tuple(rule.messages) or DEFAULT_MESSAGES[REJECTED])]
    if rule.action == "ksef_server_error":
        messages = tuple(rule.messages) or DEFAULT_MESSAGES[SERVER_ERROR]
        recovered = due + timedelta(seconds=rule.seconds)
        return [Phase(due, SERVER_ERROR, messages), Phase(recovered, ACCEPTED)]
    return []  # ksef_never (a ksef_unauthorized add is refused before any plan)


def submit(doc: dict[str, Any], phases: list[Phase] | None) -> None:
    """Blank KSeF fields; ``phases`` is ``None`` for a document that does not go to KSeF."""
    doc.update(dict.fromkeys(FIELDS, WAITING))
    if phases is not None:
        doc[_PLAN] = list(phases)


def refresh(company: SimCompany, doc: dict[str, Any], now: datetime, force: bool = False) -> None:
    """Apply every phase that is due (every remaining one when ``force``)."""
    phases: list[Phase] = doc.get(_PLAN) or []
    while phases and (force or phases[0].due <= now):
        phase = phases.pop(0)
        _apply(company, doc, phase, min(phase.due, now))


def _apply(company: SimCompany, doc: dict[str, Any], phase: Phase, moment: datetime) -> None:
    doc["ksef_status"] = phase.status
    doc["modified"] = f"{moment:%Y-%m-%d %H:%M:%S}"
    if phase.status != ACCEPTED:
        doc[ERRORS] = {
            str(i): {"error": {"message": message}} for i, message in enumerate(phase.messages)
        }
        return
    doc.pop(ERRORS, None)
    nip = re.sub(r"\D", "", company.nip)[:10].rjust(10, "0")
    doc.update(
        ksef_reference_number=(
            f"{nip}-{moment:%Y%m%d}-{secrets.token_hex(6).upper()}-{secrets.token_hex(1).upper()}"
        ),
        ksef_registration_date=f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}",
    )


def pending(doc: dict[str, Any]) -> bool:
    """KSeF-bound and not accepted: ``download`` then gives only the transaction confirmation
    (§3.12: the full invoice exists once a KSeF number is assigned)."""
    return _PLAN in doc and doc.get("ksef_status") != ACCEPTED
