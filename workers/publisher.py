"""Output: turn outcomes into outbox records, and publish the outbox to Kafka.

Outcomes are written to the outbox in the ledger's transaction (config/ledger.py); `flush`
then publishes every pending record in order and returns only once the broker acknowledged
them, so the consumer acks its source record after its outcome is durable in Kafka too. A
broker outage blocks here (with backoff) instead of losing outcomes; records left behind by a
crash are published by the next flush of any worker. A record the broker refuses for good (too
large, invalid topic: workers/refusals.py) is quarantined in the outbox instead, with an ERROR
log and a metric, so it never blocks the records behind it (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from config.ledger import Outbox, OutboxRecord
from schemas.deadletter import (
    HEADER_PREFIX,
    DeadLetterReason,
    Headers,
    deadletter_headers,
    reference_headers,
    reference_value,
)
from schemas.invoices import (
    INVOICE_CLEARANCE_CHANGED,
    INVOICE_FAILED,
    INVOICE_ISSUED,
    InvoiceClearanceChanged,
    InvoiceFailed,
    InvoiceIssued,
)
from schemas.topics import INVOICES_CLEARANCE, INVOICES_FAILED, INVOICES_ISSUED, dlq_topic
from workers import metrics
from workers.outage import BROKER, OUTAGES, dependency_down
from workers.records import RawRecord
from workers.refusals import describe as describe_refusal
from workers.refusals import refused_for_good

log = logging.getLogger(__name__)
BATCH = 500  # outbox rows per round trip to the database
RECORD_HEADROOM = 1024  # bytes left under the producer limit for the record batch framing


class Send(Protocol):
    """Queue a record in the producer (in call order) and return what to await for the
    broker's acknowledgement: sending a batch then awaiting keeps Kafka busy without waiting
    for one round trip per record, and the producer keeps their order per partition."""

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Awaitable[Any]: ...


OutputEvent = InvoiceIssued | InvoiceFailed | InvoiceClearanceChanged
_EVENT_CLASSES: dict[str, type[OutputEvent]] = {
    INVOICE_ISSUED: InvoiceIssued,
    INVOICE_FAILED: InvoiceFailed,
    INVOICE_CLEARANCE_CHANGED: InvoiceClearanceChanged,
}


@dataclass(frozen=True)
class Topics:
    """Where output goes, and the largest record the producer sends there."""

    issued: str = INVOICES_ISSUED
    failed: str = INVOICES_FAILED
    consumer_group: str = "invoice-router"
    max_record_bytes: int = 1_048_576  # the producer's max_request_size (settings)
    clearance: str = INVOICES_CLEARANCE  # last: callers construct Topics positionally

    def for_event(self, event: OutputEvent) -> str:
        """Each event type has its own topic (docs/events.md)."""
        if isinstance(event, InvoiceIssued):
            return self.issued
        if isinstance(event, InvoiceFailed):
            return self.failed
        return self.clearance


def event_record(topics: Topics, event: OutputEvent, payload: str | None = None) -> OutboxRecord:
    """`payload`: the event's JSON when the caller already has it (serialised once per order)."""
    topic = topics.for_event(event)
    headers = [
        ("content-type", b"application/cloudevents+json"),
        ("ce_type", event.type.encode()),
        ("ce_id", event.id.encode()),
    ]
    return OutboxRecord(
        topic,
        event.data.order_id.encode(),
        (payload if payload is not None else event.model_dump_json(by_alias=True)).encode(),
        headers,
    )


def stored_event_record(topics: Topics, stored_json: str) -> OutboxRecord:
    """Re-emission of an event exactly as first published (same id, same payload)."""
    cls = _EVENT_CLASSES[json.loads(stored_json)["type"]]
    return event_record(topics, cls.model_validate_json(stored_json))


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes of a record's payload: key, value, header names and values."""
    return (
        len(key or b"")
        + len(value or b"")
        + sum(len(k.encode()) + len(v or b"") for k, v in headers)
    )


def dead_letter_record(
    topics: Topics, record: RawRecord, reason: DeadLetterReason, attempts: int = 1
) -> OutboxRecord:
    """The source record verbatim plus reason headers; one the producer could not send is
    replaced by a reference to the source record (schemas/deadletter.py)."""
    headers = deadletter_headers(
        record.headers,
        reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        group=topics.consumer_group,
        attempts=attempts,
        failed_at=dt.datetime.now(dt.UTC),
    )
    topic = dlq_topic(record.topic)
    limit = topics.max_record_bytes - RECORD_HEADROOM
    size = record_size(record.key, record.value, headers)
    if size <= limit:
        return OutboxRecord(topic, record.key, record.value, headers)
    log.warning(
        "dead letter of %s[%s]@%s is %d bytes, over the producer limit of %d: "
        "publishing a reference to the source record instead",
        record.topic,
        record.partition,
        record.offset,
        size,
        topics.max_record_bytes,
    )
    value = reference_value(
        record.value, topic=record.topic, partition=record.partition, offset=record.offset
    )
    headers = [*headers, *reference_headers(record.value)]
    key = record.key
    if record_size(key, value, headers) > limit:  # a huge key or headers: the source has them
        key, headers = None, [(k, v) for k, v in headers if k.startswith(HEADER_PREFIX)]
    return OutboxRecord(topic, key, value, headers)


Row = tuple[int, OutboxRecord]


def _recovered(quarantined: set[int], waited: str | None) -> set[int]:
    if waited is not None:
        OUTAGES.came_back(waited)
    return quarantined


class OutboxPublisher:
    def __init__(self, outbox: Outbox, send: Send, max_backoff: float = 30.0) -> None:
        self._outbox = outbox
        self._send = send
        self._max_backoff = max_backoff
        self._lock = asyncio.Lock()
        self._rounds_started = 0
        self._last_round_done = 0  # the number of the last round that published everything

    async def flush(self) -> int:
        """Publish everything pending, in order; returns how many records went out.

        Rounds run one at a time (one flusher per process keeps the order per key). Callers
        that arrive while a round runs share the next one: it starts after their rows were
        committed, so it publishes them too. Sixty orders finishing together then cost one
        read, one produce batch, one broker acknowledgement and one update, not sixty."""
        wanted = self._rounds_started + 1  # any round starting from now on covers our rows
        async with self._lock:
            if self._last_round_done >= wanted:
                return 0  # a round that started after we called has published our rows
            self._rounds_started += 1
            number = self._rounds_started
            sent = 0
            while batch := await self._outbox.pending(BATCH):
                quarantined = await self._deliver(batch)
                done = [outbox_id for outbox_id, _ in batch if outbox_id not in quarantined]
                await self._outbox.mark_published(done)
                sent += len(done)
            self._last_round_done = number
            return sent

    async def quarantined_count(self) -> int:
        """For the metrics refresh: rows set aside and not re-queued yet."""
        return await self._outbox.quarantined_count()

    async def _deliver(self, rows: list[Row]) -> set[int]:
        """Until the broker acknowledged every row but those it refuses for good, which are
        quarantined (and returned) so they never hold up the rows behind them.

        Rows are sent together and awaited together. A retriable failure (broker down) sends
        them again after a backoff, in order (at-least-once: consumers deduplicate by event id,
        docs/events.md). A permanent refusal that the producer raises on `send` names its
        record; one that comes back from the broker may fail its whole batch, so from the first
        failed row on, rows are sent one at a time until the culprit is found, then together
        again: good rows are re-sent after it, never overtaken by it."""
        quarantined: set[int] = set()
        one_by_one = False
        delay = 0.2
        waited: str | None = None  # the dependency an outage made us wait for
        while True:
            todo = [row for row in rows if row[0] not in quarantined]
            try:
                if one_by_one:
                    rows = await self._until_first_refusal(todo, quarantined)
                    one_by_one = False
                    if not rows:
                        return _recovered(quarantined, waited)
                    continue
                first = await self._together(todo, quarantined)
                if first is None:
                    return _recovered(quarantined, waited)
                rows, one_by_one = todo[first:], True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is down or refusing: keep the outcome
                waited = dependency_down(exc) or BROKER
                OUTAGES.went_down(waited, exc)
                log.warning(
                    "publishing %d record(s) failed (%s); retrying in %.1fs",
                    len(todo),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self._max_backoff, delay * 2)

    async def _together(self, rows: list[Row], quarantined: set[int]) -> int | None:
        """Send all, await all. Raises the first retriable failure; else returns the position
        of the first row the broker refused for good (None: all acknowledged)."""
        sent: list[tuple[int, Awaitable[Any]]] = []
        for position, (outbox_id, record) in enumerate(rows):
            try:
                sent.append((position, await self._send_record(record)))
            except Exception as exc:
                if not refused_for_good(exc):
                    raise
                # refused before it left the producer: this record alone is at fault
                await self._quarantine(outbox_id, record, exc, quarantined)
        results = await asyncio.gather(*(ack for _, ack in sent), return_exceptions=True)
        failed = [
            (position, result)
            for (position, _), result in zip(sent, results, strict=True)
            if isinstance(result, BaseException)
        ]
        for _, result in failed:
            if not isinstance(result, Exception) or not refused_for_good(result):
                raise result
        return failed[0][0] if failed else None

    async def _until_first_refusal(self, rows: list[Row], quarantined: set[int]) -> list[Row]:
        """Send and await one row at a time until one is refused for good (quarantined);
        returns the rows after it (empty when none was)."""
        for position, (outbox_id, record) in enumerate(rows):
            try:
                await (await self._send_record(record))
            except Exception as exc:
                if not refused_for_good(exc):
                    raise
                await self._quarantine(outbox_id, record, exc, quarantined)
                return rows[position + 1 :]
        return []

    async def _send_record(self, record: OutboxRecord) -> Awaitable[Any]:
        return await self._send(record.topic, record.key, record.value, record.headers)

    async def _quarantine(
        self, outbox_id: int, record: OutboxRecord, exc: BaseException, quarantined: set[int]
    ) -> None:
        error = describe_refusal(exc)
        await self._outbox.quarantine(outbox_id, error)
        quarantined.add(outbox_id)
        log.error(
            "outbox record %d to %s (%d bytes) refused for good, quarantined so the records "
            "behind it go on (`invoice-router outbox list-quarantined`): %s",
            outbox_id,
            record.topic,
            record_size(record.key, record.value, record.headers),
            error,
        )
        try:
            count: int | None = await self._outbox.quarantined_count()
        except Exception as count_exc:  # the gauge can wait for the next refresh
            log.warning("counting quarantined outbox records failed: %r", count_exc)
            count = None
        metrics.observe_quarantine(record.topic, count)
