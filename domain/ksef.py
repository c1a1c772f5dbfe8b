"""KSeF rules: what each provider status means (as a `ClearanceStatus`) and asks for, the legal
deadline of an offline invoice, and the text KSeF accepts.

Pure: no I/O and no clock (callers pass `now`). Sources are cited per rule; the reference notes
are `../shared/reference/ksef-2026.md` (§1.2, §1.3, §1.8) and `fakturownia-api.md` (§8), which
quote Fakturownia's KSeF guide (`fakturownia/API` `KSeF.md` @ 35787d0).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# the vocabulary is part of the event contract (schemas); re-exported for domain callers
from schemas.invoices import Clearance
from schemas.invoices import ClearanceStatus as ClearanceStatus

WARSAW = ZoneInfo("Europe/Warsaw")


class ClearanceAction(StrEnum):
    """What the tracker does next about a document in a given provider status."""

    REREAD = "reread"  # read the status again later, never re-send
    RESEND = "resend"  # re-read, then re-send (`send_to_ksef=yes`) within a small budget
    RECONCILE_DUPLICATE = "reconcile_duplicate"  # find the accepted invoice by KSeF number
    NEEDS_AUTHORIZATION = "needs_authorization"  # a person must fix the KSeF connection
    FINAL = "final"  # nothing more will change by itself


@dataclass(frozen=True)
class StatusRule:
    status: ClearanceStatus
    action: ClearanceAction


_S, _A = ClearanceStatus, ClearanceAction

# Fakturownia `gov_status` (KSeF.md "Możliwe statusy (gov_status)", "FAQ", "Retry logic";
# ksef-2026.md §1.8). DEMO accounts report the same values prefixed with `demo_`.
FAKTUROWNIA_GOV_STATUS: dict[str | None, StatusRule] = {
    "processing": StatusRule(_S.PENDING, _A.REREAD),
    "ok": StatusRule(_S.CLEARED, _A.FINAL),
    # rejected with `gov_error_messages`; fixing the invoice is a person's job, never re-sent
    "send_error": StatusRule(_S.REJECTED, _A.FINAL),
    # KSeF side; Fakturownia does not retry: re-check, then re-send at most 3 times
    "server_error": StatusRule(_S.PENDING, _A.RESEND),
    # "the invoice may already have been accepted": re-sending could issue it twice
    "status_check_error": StatusRule(_S.PENDING, _A.REREAD),
    # the number is already in KSeF: adopt that invoice, never a second document
    "duplicate_error": StatusRule(_S.PENDING, _A.RECONCILE_DUPLICATE),
    "blocked_403_error": StatusRule(_S.PENDING, _A.NEEDS_AUTHORIZATION),
    "not_connected": StatusRule(_S.PENDING, _A.NEEDS_AUTHORIZATION),
    # OFFLINE24 is re-sent by Fakturownia itself; the deadline is what ops must watch
    "offline": StatusRule(_S.OFFLINE, _A.REREAD),
    # "error handling an offline invoice": for offline modes the guide says "send it yourself";
    # the deadline keeps running, so re-send within the same budget as server_error
    "offline_error": StatusRule(_S.OFFLINE, _A.RESEND),
    "not_applicable": StatusRule(_S.NOT_APPLICABLE, _A.FINAL),
    # "not sent to KSeF": the account's auto-send may still pick it up, so keep looking
    None: StatusRule(_S.PENDING, _A.REREAD),
}
# A status the guide does not list yet (five were added in 2026) is only ever re-read.
UNKNOWN_STATUS = StatusRule(_S.PENDING, _A.REREAD)
DEMO_PREFIX = "demo_"


def fakturownia_rule(gov_status: str | None) -> StatusRule:
    """The clearance status and next action for a Fakturownia `gov_status` (DEMO included)."""
    key = gov_status or None
    if key is not None and key.startswith(DEMO_PREFIX):
        key = key.removeprefix(DEMO_PREFIX)
    return FAKTUROWNIA_GOV_STATUS.get(key, UNKNOWN_STATUS)


def clearance_status(clearance: Clearance | None) -> ClearanceStatus | None:
    """Where a document the provider reported on stands in KSeF; None: it reports nothing
    (KSeF not set up at the provider, or not yet)."""
    return fakturownia_rule(clearance.status).status if clearance is not None else None


# --- offline deadlines ------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _polish_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("PL", years=year)


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday, except Polish public holidays (ustawa o dniach wolnych od pracy,
    Christmas Eve included since 2025) as the maintained `holidays` library lists them."""
    return day.weekday() < 5 and day not in _polish_holidays(day.year)


def business_day_after(day: dt.date, count: int = 1) -> dt.date:
    """The `count`-th business day after `day` (`day` itself never counts)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    current = day
    while count:
        current += dt.timedelta(days=1)
        if is_business_day(current):
            count -= 1
    return current


def offline_deadline(issue_date: dt.date, business_days: int = 1) -> dt.datetime:
    """The last instant an offline invoice may reach KSeF, as an aware Warsaw time.

    offline24 (art. 106nda): "no later than the next business day after the issue date"
    (ksef-2026.md §1.3), so the whole of that day counts and the deadline is its last
    microsecond, 23:59:59.999999 local time (it reads as the right date in events and logs,
    unlike midnight of the day after). Announced unavailability counts 1 business day and an
    MF-declared failure 7 from the day the outage ends: pass that day and `business_days`.
    """
    due = business_day_after(issue_date, business_days)
    return dt.datetime.combine(due, dt.time.max, tzinfo=WARSAW)


def hours_left(deadline: dt.datetime, now: dt.datetime) -> float:
    """Hours from `now` to `deadline` (negative once it has passed).

    Both are compared in UTC: subtracting two times that share a zone object ignores their
    offsets, which would be an hour off across a DST change.
    """
    if deadline.tzinfo is None or now.tzinfo is None:
        raise ValueError("hours_left needs aware datetimes")
    delta = deadline.astimezone(dt.UTC) - now.astimezone(dt.UTC)
    return delta.total_seconds() / 3600


# --- text KSeF accepts ------------------------------------------------------------------------

# FA(3) field limits as Fakturownia enforces them on KSeF accounts (KSeF.md "Ograniczenia
# długości pól"; ksef-2026.md §1.2; fakturownia-api.md §8.6). Lengths are in characters.
POSITION_NAME_MAX = 256
CORRECTION_REASON_MAX = 256
NOTE_MAX = 256  # descriptions[].kind and .content
EMAIL_MAX = 255
PHONE_MAX = 16
GTIN_MAX = 20
PKWIU_CN_MAX = 50
FOOTER_MAX = 3500


def _drops(char: str) -> bool:
    """Control characters (C0 and C1), lone surrogates and Unicode noncharacters: XML 1.0 forbids
    or discourages them and KSeF warns it will reject them (ksef-api #843, #700)."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Cc", "Cs")
        or 0xFDD0 <= code <= 0xFDEF
        or (code & 0xFFFE) == 0xFFFE
    )


# every character `_drops` is true for: most text has none and needs no per-character pass
_DROPPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)


def ksef_text(text: str) -> str:
    """`text` without the characters KSeF refuses; line breaks and tabs become spaces so words
    stay apart. Idempotent, so a name read back from a provider compares equal to its source."""
    # every character `_drops` is true for is also not printable (Cc, Cs, Cn): most text is
    # printable throughout, which str checks far faster than the pattern
    if text.isprintable() or _DROPPED.search(text) is None:
        return text.strip()
    kept = "".join(
        " " if char.isspace() and _drops(char) else char
        for char in text
        if char.isspace() or not _drops(char)
    )
    return kept.strip()
