"""The idempotency ledger's rules, free of I/O: states, what a redelivery finds, retry timing.

See docs/adr/0006-ledger-and-outbox.md and 0007-non-blocking-retries.md.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    CLAIMED = "claimed"  # a worker is issuing it now (holds a lease)
    ISSUED = "issued"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"  # the provider may hold the document: reconcile before any create
    PARKED = "parked"  # waiting for a retry, its predecessor, its original, or a reconnect
    SKIPPED = "skipped"  # auto-generate off
    UNRESOLVED = "unresolved"  # no channel mapping


FINAL = frozenset({State.ISSUED, State.FAILED, State.SKIPPED, State.UNRESOLVED})
WAITING = frozenset({State.PARKED, State.IN_DOUBT})


class ParkReason(StrEnum):
    TRANSIENT = "transient"  # provider unavailable
    RATE_LIMITED = "rate_limited"
    IN_DOUBT = "in_doubt"
    WAITING_ORIGINAL = "waiting_original"  # a refund whose sales document is not issued yet
    WAITING_PREDECESSOR = "waiting_predecessor"  # an earlier event of the order is not done
    NEEDS_REAUTH = "needs_reauth"  # resumes when the connection is fixed
    CREDENTIALS_UNREADABLE = "credentials_unreadable"  # the secret keys do not open them (ops)
    NEEDS_KSEF_AUTHORIZATION = "needs_ksef_authorization"  # retried hourly until authorised
    VIES_UNAVAILABLE = "vies_unavailable"  # the VAT decision waits for a VIES answer


class Slot(StrEnum):
    SALE = "sale"
    CORRECTION = "correction"


@dataclass(frozen=True)
class LedgerKey:
    seller_id: str
    channel: str
    order_id: str
    slot: Slot
    refund_id: str = ""


class ClaimOutcome(StrEnum):
    NEW = "new"  # first sight: issue it
    TAKE_OVER = "take_over"  # seen before, not issued: look it up at the provider, then issue
    REEMIT = "reemit"  # issued already: publish the stored event again, call nobody
    BUSY = "busy"  # another worker holds a live claim: wait for it
    OWNED_BY_SCHEDULER = "owned_by_scheduler"  # parked: the retry scheduler will finish it


def on_redelivery(
    state: State,
    lease_until: dt.datetime | None,
    now: dt.datetime,
    *,
    from_scheduler: bool = False,
    abandoned_by_us: bool = False,
) -> ClaimOutcome:
    """What a worker does when the ledger already has a row for the event it consumed.

    `abandoned_by_us`: the live claim is this process's own, and no task of it holds it any more
    (its step died in a database outage): take it over now instead of waiting out the lease."""
    if state is State.ISSUED:
        return ClaimOutcome.REEMIT
    if state is State.CLAIMED and lease_until is not None and lease_until > now:
        return ClaimOutcome.TAKE_OVER if abandoned_by_us else ClaimOutcome.BUSY
    if state in WAITING and not from_scheduler:
        return ClaimOutcome.OWNED_BY_SCHEDULER
    return ClaimOutcome.TAKE_OVER  # expired claim (crashed worker), waiting row, or a replay


@dataclass(frozen=True)
class Predecessor:
    """Documents of the same order that one in a given slot must wait for while unfinished."""

    slot: Slot
    earlier_only: bool  # only those received before it (else: whenever they arrived)


def predecessors(slot: Slot) -> tuple[Predecessor, ...]:
    """Legal dependency, not arrival order: a correction needs its sale (whenever the sale event
    came) and is issued after the corrections received before it, since each one corrects the
    document as the earlier ones left it; a sale never waits for a refund. No cycle can form.
    """
    if slot is Slot.SALE:
        return ()
    return (Predecessor(Slot.SALE, earlier_only=False), Predecessor(Slot.CORRECTION, True))


def recreate_not_before(
    lease_end: dt.datetime | None, now: dt.datetime, quiet: dt.timedelta
) -> dt.datetime:
    """Earliest moment a create that may still be running at the provider cannot commit any more.

    A claim's holder checks its lease before every create (Ledger.ensure_lease), so whatever it
    sent left before the lease ended (or before now, if that is earlier); the provider then takes
    at most `quiet` to commit it. Before that moment, "not found" is not proof of absence.
    """
    sent_by = min(lease_end, now) if lease_end is not None else now
    return sent_by + quiet


def original_wait_delay(waited: dt.timedelta) -> dt.timedelta:
    """Polling interval while a refund waits for its sales document: soon, then less often."""
    seconds = min(900.0, max(10.0, waited.total_seconds() / 4))
    return dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class RetrySchedule:
    """Delays before each retry; after the last one the failure is final."""

    delays: tuple[float, ...] = (10, 60, 300, 1800, 7200)
    jitter: float = 0.2

    def next_delay(
        self,
        failed_attempts: int,
        retry_after: float | None = None,
        rnd: random.Random | None = None,
    ) -> float | None:
        """Seconds until the next attempt, or None when the attempts are exhausted.

        Jitter spreads retries of many orders failing together; Retry-After is a floor.
        """
        if failed_attempts > len(self.delays):
            return None
        base = self.delays[failed_attempts - 1]
        spread = (rnd or random).uniform(1 - self.jitter, 1 + self.jitter)
        return max(base * spread, retry_after or 0.0)

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        """`10s,1m,5m,30m,2h` (or plain seconds) from settings."""
        units = {"s": 1, "m": 60, "h": 3600}
        delays = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            unit = units.get(part[-1], 1)
            delays.append(float(part[:-1] if part[-1] in units else part) * unit)
        if not delays or any(d < 0 for d in delays):
            raise ValueError(f"invalid retry schedule {text!r}")
        return cls(tuple(delays))
