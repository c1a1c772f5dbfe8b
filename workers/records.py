"""What the router consumes and what it decides, independent of Faust."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.deadletter import DeadLetterReason, Headers
from schemas.invoices import InvoiceFailed, InvoiceIssued


@dataclass(frozen=True)
class RawRecord:
    """One consumed Kafka record, bytes untouched (dead letters must carry them verbatim)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True)
class Issued:
    event: InvoiceIssued


@dataclass(frozen=True)
class Failed:
    event: InvoiceFailed


@dataclass(frozen=True)
class DeadLettered:
    record: RawRecord
    reason: DeadLetterReason


@dataclass(frozen=True)
class Parked:
    """Handed to the retry scheduler; `event` is a notification published meanwhile (e.g.
    provider_auth_failed while the seller reconnects)."""

    reason: str
    event: InvoiceFailed | None = None


@dataclass(frozen=True)
class Superseded:
    """Another worker took this entry over; it reports the outcome."""


@dataclass(frozen=True)
class Skipped:
    """Auto-generation is off for the channel: a decision, not a failure; nothing is emitted."""

    seller_id: str
    channel: str
    order_id: str
    why: str


Outcome = Issued | Failed | DeadLettered | Skipped | Parked | Superseded
