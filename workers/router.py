"""The router: one consumed record in, exactly one durable outcome out. Never raises.

Parsing happens before anything else, so bad input is dead-lettered with a precise reason.
Valid events are claimed in the idempotency ledger: an issued document is re-emitted rather
than issued again, a parked one is left to the retry scheduler, a crashed worker's claim is
taken over with a provider lookup first (docs/adr/0006-ledger-and-outbox.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from config.ledger import Entry, LeaseLost, Ledger, Source
from domain.ledger import ClaimOutcome, LedgerKey, State
from schemas.invoices import InvoiceIssued
from schemas.orders import OrderCompleted, OrderRefunded
from workers.issuance import IssuanceService, Job, consumed_record, slot_of
from workers.logs import bind, correlate
from workers.outage import Unavailable, dependency_down
from workers.parsing import ORDER_EVENT as _ORDER_EVENT
from workers.parsing import dead, parse
from workers.publisher import Topics, dead_letter_record, stored_event_record
from workers.records import DeadLettered, Issued, Outcome, Parked, RawRecord, Superseded

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
BUSY_POLL_SECONDS = 0.5


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
            if (dependency := dependency_down(exc)) is not None:
                raise Unavailable(dependency, exc) from exc  # a wait (workers/outage.py)
            log.exception(
                "unexpected error routing %s[%s]@%s", record.topic, record.partition, record.offset
            )
            outcome = dead(record, "internal_error", f"{type(exc).__name__}: {exc}"[:1000], exc)
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
                    except Exception as exc:
                        if dependency_down(exc) is not None:
                            raise  # a wait: the claim is taken over when the step runs again
                        return await self._internal_error(claim.entry, exc)
                    finally:
                        self._ledger.release(claim.entry)
                case ClaimOutcome.REEMIT:
                    return await self._reemit(claim.entry)
                case ClaimOutcome.OWNED_BY_SCHEDULER:
                    return Parked(claim.entry.park_reason or "parked")
                case ClaimOutcome.BUSY if from_scheduler:
                    return Superseded()  # another worker's scheduler is retrying it
                case ClaimOutcome.BUSY:  # another worker is on it (e.g. during a rebalance)
                    await self._sleep(BUSY_POLL_SECONDS)

    async def _internal_error(self, entry: Entry, exc: Exception) -> Outcome:
        """A bug, not bad input nor an outage: dead-letter the record for ops to replay once
        fixed, and close the claim (`failed`), so no row is left claimed behind the order's
        later documents and a replay takes it over with a lookup first."""
        log.exception("unexpected error issuing %s", entry.key)
        record = consumed_record(entry.source)
        outcome = dead(record, "internal_error", f"{type(exc).__name__}: {exc}"[:1000], exc)
        try:
            await self._ledger.finish(
                entry,
                State.FAILED,
                failure_code="internal_error",
                outbox=[dead_letter_record(self._topics, record, outcome.reason)],
            )
        except LeaseLost:
            return Superseded()
        return outcome

    async def _reemit(self, entry: Entry) -> Outcome:
        """The same invoice.issued (same id, same payload) again, without calling anybody."""
        assert entry.result_event is not None
        record = stored_event_record(self._topics, entry.result_event)
        await self._ledger.append_outbox([record])
        return Issued(InvoiceIssued.model_validate_json(entry.result_event))
