"""KSeF (Polish e-invoicing) behaviour as seen through Fakturownia's API (reference §8).

Sending is modelled as timed transitions: a document goes to ``processing`` and follows its path
(``ksef_rules``: a scripted rule, else the account's ``ksef_outcome``) one step per delay. Steps
are applied lazily whenever anyone reads the account, and by the server's webhook pump, so the
simulator works from any event loop or thread and webhooks fire without polling.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import date, datetime
from typing import Any

from . import webhooks
from .clock import timestamp
from .ksef_rules import KsefRule, take_rule
from .models import KsefSend, SimAccount
from .state import AccountState, KsefTrack

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
IN_FLIGHT = frozenset({"ok", "processing", "offline"})
DUPLICATE_MESSAGE = (
    "Duplikat faktury (kod 440): faktura przyjęta wcześniej pod numerem KSeF {number}"
)
"""KSeF processing code 440 "Duplicate invoice" (prior-art.md B.1); the number of the accepted
original is what a client needs to reconcile with the ``gov_id`` search."""
_DEFAULT_MESSAGES = {
    "send_error": ["Dokument odrzucony przez KSeF (symulator)"],
    "server_error": ["Błąd serwera KSeF (symulator)"],
    "status_check_error": ["Nie udało się sprawdzić statusu wysyłki w KSeF (symulator)"],
    "blocked_403_error": ["Brak uprawnień do wysyłki faktur do KSeF: 403 (symulator)"],
}


def is_ksef_document(account: SimAccount, kind: str) -> bool:
    return account.ksef_enabled and kind in KSEF_KINDS


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


def request_send(state: AccountState, doc: dict[str, Any], now: datetime) -> None:
    """Send ``doc`` to KSeF unless it is accepted or already on its way (``ok``,
    ``processing``, ``offline``): re-sending never yields a second KSeF number."""
    account = state.config
    if not account.ksef_enabled:
        doc["gov_status"] = "not_connected"
        return
    if doc["kind"] not in KSEF_KINDS:
        doc["gov_status"] = "not_applicable"
        return
    if doc["gov_status"] in IN_FLIGHT:
        return
    state.ksef_sends.append(KsefSend(doc["id"], doc.get("oid"), doc["gov_status"], timestamp(now)))
    if doc["id"] in state.ksef_invalid:
        _set_status(state, doc, "send_error", now, doc.get("gov_error_messages"))
        return
    track = state.ksef_tracks.get(doc["id"])
    if track is None:
        rule = take_rule(state.ksef_rules, doc) or _default_rule(account, doc, now)
        track = state.ksef_tracks[doc["id"]] = KsefTrack(rule)
    track.sends += 1
    track.steps = track.rule.steps(track.sends, account.ksef_delay_seconds)
    if track.steps:
        track.due = time.monotonic() + track.steps[0][1]
    doc.update(gov_id=None, gov_error_messages=None)
    _set_status(state, doc, "processing", now, None)


def _default_rule(account: SimAccount, doc: dict[str, Any], now: datetime) -> KsefRule:
    """The path without a scripted rule: the account's ``ksef_outcome``, and OFFLINE24 first
    for a back-dated ``issue_date`` (KSeF.md "Automatyczne wykrywanie trybu OFFLINE24")."""
    if account.ksef_outcome == "send_error":
        return KsefRule("reject", failures=-1, messages=_DEFAULT_MESSAGES["send_error"])
    if account.ksef_outcome == "server_error":
        return KsefRule("server_error_then_ok", failures=-1)
    if account.offline24_for_backdated and doc["issue_date"] < now.date().isoformat():
        return KsefRule("offline_then_ok", delays=[0.0])
    return KsefRule("ok")


def refresh(state: AccountState, now: datetime, force: bool = False) -> None:
    """Apply every KSeF transition whose delay has elapsed (all pending ones when ``force``).

    A transition is due its delay after the previous one was due, not after someone looked, so
    a document nobody read for a while catches up on all its steps at once.
    """
    moment = time.monotonic()
    for invoice_id, track in list(state.ksef_tracks.items()):
        while track.steps and (force or track.due <= moment):
            status, _ = track.steps.pop(0)
            _transition(state, state.invoices[invoice_id], track, status, now)
            if track.steps:
                track.due = (moment if force else track.due) + track.steps[0][1]


def _transition(
    state: AccountState, doc: dict[str, Any], track: KsefTrack, status: str, now: datetime
) -> None:
    if status == "ok":
        _accept(state, doc, now)
    elif status == "offline":
        doc["gov_verification_link"] = _offline_link(doc)
        _set_status(state, doc, "offline", now, None)
    elif status == "duplicate_error":
        original = _duplicate_original(state, doc, track.rule, now)
        number = _accepted_number(state, original, now)
        _set_status(state, doc, status, now, [DUPLICATE_MESSAGE.format(number=number)])
    else:
        messages = track.rule.messages or _DEFAULT_MESSAGES[status]
        _set_status(state, doc, status, now, list(messages))


def _accept(state: AccountState, doc: dict[str, Any], now: datetime) -> None:
    gov_id = _accepted_number(state, doc, now)
    doc.update(
        gov_id=gov_id,
        gov_send_date=timestamp(now),
        gov_sell_date=doc.get("sell_date"),
        gov_verification_link=(
            f"https://ksef.mf.gov.pl/web/verify/{gov_id}/{secrets.token_urlsafe(24)}"
        ),
    )
    _set_status(state, doc, "ok", now, None)


def _accepted_number(state: AccountState, doc: dict[str, Any], now: datetime) -> str:
    """The KSeF number KSeF holds for ``doc``, minted (``{NIP}-{YYYYMMDD}-{ID}``, KSeF.md
    "Numer KSeF") and registered for the ``gov_id`` search on first use."""
    known = doc.get("gov_id") or next(
        (number for number, owner in state.ksef_numbers.items() if owner == doc["id"]), None
    )
    if known:
        return str(known)
    nip = re.sub(r"\D", "", doc.get("seller_tax_no") or "") or "0000000000"
    number = f"{nip}-{now:%Y%m%d}-{secrets.token_hex(6).upper()}"
    state.ksef_numbers[number] = doc["id"]
    return number


def _duplicate_original(
    state: AccountState, doc: dict[str, Any], rule: KsefRule, now: datetime
) -> dict[str, Any]:
    """The accepted document a ``duplicate_error`` points at (see ``ksef_rules``); an original
    not yet accepted in the simulator is accepted now, as KSeF already holds it."""
    original = state.invoices.get(rule.duplicate_of or 0)
    if original is None and rule.path == "duplicate" and doc.get("oid"):
        original = next(
            (
                d
                for d in state.invoices.values()
                if d["id"] != doc["id"] and (d.get("oid"), d["kind"]) == (doc["oid"], doc["kind"])
            ),
            None,
        )
    if original is None:
        return doc
    if original["gov_status"] != "ok":
        pending = state.ksef_tracks.get(original["id"])
        if pending is not None:
            pending.steps.clear()
        _accept(state, original, now)
    return original


def _offline_link(doc: dict[str, Any]) -> str:
    """KOD I of an invoice without a KSeF number yet: seller NIP, issue date and the XML's hash
    (CIRFMF/ksef-docs ``kody-qr.md``, per ksef-2026.md §1.7)."""
    nip = re.sub(r"\D", "", doc.get("seller_tax_no") or "")
    day = date.fromisoformat(doc["issue_date"]).strftime("%d-%m-%Y")
    return f"https://qr.ksef.mf.gov.pl/invoice/{nip}/{day}/{secrets.token_urlsafe(32)}"


def _set_status(
    state: AccountState,
    doc: dict[str, Any],
    status: str,
    now: datetime,
    messages: list[str] | None,
) -> None:
    changed = doc["gov_status"] != status
    doc.update(gov_status=status, gov_error_messages=messages, updated_at=timestamp(now))
    if changed:
        webhooks.enqueue(state, doc)
