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
    state: State, lease_until: dt.datetime | None, now: dt.datetime, *, from_scheduler: bool = False
) -> ClaimOutcome:
    """What a worker does when the ledger already has a row for the event it consumed."""
    if state is State.ISSUED:
        return ClaimOutcome.REEMIT
    if state is State.CLAIMED and lease_until is not None and lease_until > now:
        return ClaimOutcome.BUSY
    if state in WAITING and not from_scheduler:
        return ClaimOutcome.OWNED_BY_SCHEDULER
    return ClaimOutcome.TAKE_OVER  # expired claim (crashed worker), waiting row, or a replay


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
