"""The router: one consumed record in, exactly one durable outcome out. Never raises.

Parsing happens before anything else, so bad input is dead-lettered with a precise reason.
Valid events are claimed in the idempotency ledger: an issued document is re-emitted rather
than issued again, a parked one is left to the retry scheduler, a crashed worker's claim is
taken over with a provider lookup first (docs/adr/0006-ledger-and-outbox.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from pydantic import TypeAdapter, ValidationError

from config.ledger import Entry, LeaseLost, Ledger, Source
from domain.ledger import ClaimOutcome, LedgerKey
from schemas.deadletter import DeadLetterReason
from schemas.invoices import InvoiceIssued
from schemas.orders import OrderCompleted, OrderEvent, OrderRefunded
from schemas.topics import channel_of
from workers.issuance import IssuanceService, Job, slot_of
from workers.logs import bind, correlate
from workers.publisher import Topics, dead_letter_record, stored_event_record
from workers.records import DeadLettered, Issued, Outcome, Parked, RawRecord, Superseded

log = logging.getLogger(__name__)
_ORDER_EVENT: TypeAdapter[OrderCompleted | OrderRefunded] = TypeAdapter(OrderEvent)
Sleep = Callable[[float], Awaitable[None]]
BUSY_POLL_SECONDS = 0.5


def _dead(record: RawRecord, code: str, message: str, exc: BaseException) -> DeadLettered:
    return DeadLettered(record, DeadLetterReason(code, message, type(exc).__qualname__))


def describe_validation_error(exc: ValidationError) -> str:
    """`data.order.lines.0.vat_rate: Field required` lines, without echoing input values."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:20]
    )


def parse(record: RawRecord) -> OrderCompleted | OrderRefunded | DeadLettered:
    try:
        json.loads(record.value or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        return _dead(record, "malformed_json", f"value is not JSON: {exc}", exc)
    try:
        # JSON mode: strict models still accept RFC 3339 strings for times
        event = _ORDER_EVENT.validate_json(record.value or b"")
    except ValidationError as exc:
        return _dead(record, "schema_invalid", describe_validation_error(exc), exc)
    channel = channel_of(record.topic)
    if event.data.channel != channel:
        err = ValueError(f"event channel {event.data.channel!r} arrived on {record.topic!r}")
        return _dead(record, "channel_mismatch", str(err), err)
    return event


def ledger_key(event: OrderCompleted | OrderRefunded) -> LedgerKey:
    slot, refund_id = slot_of(event)
    data = event.data
    return LedgerKey(data.seller_id, data.channel, data.order.order_id, slot, refund_id)


class OrderRouter:
    def __init__(
        self,
        ledger: Ledger,
        issuance: IssuanceService,
        topics: Topics,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._ledger = ledger
        self._issuance = issuance
        self._topics = topics
        self._sleep = sleep

    async def route(self, record: RawRecord) -> Outcome:
        """A record consumed from Kafka."""
        with correlate(topic=record.topic, partition=record.partition, offset=record.offset):
            return await self._route(record)

    async def _route(self, record: RawRecord) -> Outcome:
        try:
            event = parse(record)
            if isinstance(event, DeadLettered):
                await self._ledger.append_outbox(
                    [dead_letter_record(self._topics, event.record, event.reason)]
                )
                return event
            source = Source(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value or b"",
                record.headers,
                event.id,
            )
            return await self._claim_and_process(event, source, from_scheduler=False)
        except Exception as exc:  # an escaping exception would make Faust skip the record
            log.exception(
                "unexpected error routing %s[%s]@%s", record.topic, record.partition, record.offset
            )
            outcome = _dead(record, "internal_error", f"{type(exc).__name__}: {exc}"[:1000], exc)
            await self._ledger.append_outbox(
                [dead_letter_record(self._topics, outcome.record, outcome.reason)]
            )
            return outcome

    async def retry(self, entry: Entry) -> Outcome:
        """A parked entry whose time has come (called by the retry scheduler)."""
        source = entry.source
        with correlate(topic=source.topic, partition=source.partition, offset=source.offset):
            event = _ORDER_EVENT.validate_json(source.value)
            return await self._claim_and_process(event, source, from_scheduler=True)

    async def _claim_and_process(
        self, event: OrderCompleted | OrderRefunded, source: Source, *, from_scheduler: bool
    ) -> Outcome:
        key = ledger_key(event)
        bind(
            event_id=event.id,
            seller_id=key.seller_id,
            channel=key.channel,
            order_id=key.order_id,
            refund_id=key.refund_id,
        )
        while True:
            claim = await self._ledger.claim(key, source, from_scheduler=from_scheduler)
            match claim.outcome:
                case ClaimOutcome.NEW | ClaimOutcome.TAKE_OVER:
                    job = Job(claim.entry, event, reconcile=claim.outcome is ClaimOutcome.TAKE_OVER)
                    try:
                        return await self._issuance.process(job)
                    except LeaseLost:
                        log.warning("ledger entry for %s taken over; its new owner reports it", key)
                        return Superseded()
                case ClaimOutcome.REEMIT:
                    return await self._reemit(claim.entry)
                case ClaimOutcome.OWNED_BY_SCHEDULER:
                    return Parked(claim.entry.park_reason or "parked")
                case ClaimOutcome.BUSY if from_scheduler:
                    return Superseded()  # another worker's scheduler is retrying it
                case ClaimOutcome.BUSY:  # another worker is on it (e.g. during a rebalance)
                    await self._sleep(BUSY_POLL_SECONDS)

    async def _reemit(self, entry: Entry) -> Outcome:
        """The same invoice.issued (same id, same payload) again, without calling anybody."""
        assert entry.result_event is not None
        record = stored_event_record(self._topics, entry.result_event)
        await self._ledger.append_outbox([record])
        return Issued(InvoiceIssued.model_validate_json(entry.result_event))
