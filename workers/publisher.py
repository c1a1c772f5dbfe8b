"""Output: turn outcomes into outbox records, and publish the outbox to Kafka.

Outcomes are written to the outbox in the ledger's transaction (config/ledger.py); `flush`
then publishes every pending record in order and returns only once the broker acknowledged
them, so the consumer acks its source record after its outcome is durable in Kafka too. A
broker outage blocks here (with backoff) instead of losing outcomes; records left behind by a
crash are published by the next flush of any worker.
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
from schemas.deadletter import DeadLetterReason, Headers, deadletter_headers
from schemas.invoices import INVOICE_ISSUED, InvoiceFailed, InvoiceIssued
from schemas.topics import INVOICES_FAILED, INVOICES_ISSUED, dlq_topic
from workers.records import RawRecord

log = logging.getLogger(__name__)
BATCH = 500  # outbox rows per round trip to the database


class Send(Protocol):
    """Queue a record in the producer (in call order) and return what to await for the
    broker's acknowledgement: sending a batch then awaiting keeps Kafka busy without waiting
    for one round trip per record, and the producer keeps their order per partition."""

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Topics:
    issued: str = INVOICES_ISSUED
    failed: str = INVOICES_FAILED
    consumer_group: str = "invoice-router"


def event_record(topics: Topics, event: InvoiceIssued | InvoiceFailed) -> OutboxRecord:
    topic = topics.issued if isinstance(event, InvoiceIssued) else topics.failed
    headers = [
        ("content-type", b"application/cloudevents+json"),
        ("ce_type", event.type.encode()),
        ("ce_id", event.id.encode()),
    ]
    return OutboxRecord(
        topic, event.data.order_id.encode(), event.model_dump_json(by_alias=True).encode(), headers
    )


def stored_event_record(topics: Topics, stored_json: str) -> OutboxRecord:
    """Re-emission of an event exactly as first published (same id, same payload)."""
    cls = InvoiceIssued if json.loads(stored_json)["type"] == INVOICE_ISSUED else InvoiceFailed
    return event_record(topics, cls.model_validate_json(stored_json))


def dead_letter_record(
    topics: Topics, record: RawRecord, reason: DeadLetterReason, attempts: int = 1
) -> OutboxRecord:
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
    return OutboxRecord(dlq_topic(record.topic), record.key, record.value, headers)


class OutboxPublisher:
    def __init__(self, outbox: Outbox, send: Send, max_backoff: float = 30.0) -> None:
        self._outbox = outbox
        self._send = send
        self._max_backoff = max_backoff
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Publish everything pending, in order; returns how many records went out."""
        sent = 0
        async with self._lock:  # one flusher per process keeps the order per key
            while batch := await self._outbox.pending(BATCH):
                await self._deliver([record for _, record in batch])
                await self._outbox.mark_published([outbox_id for outbox_id, _ in batch])
                sent += len(batch)
        return sent

    async def _deliver(self, records: list[OutboxRecord]) -> None:
        """Until the broker has acknowledged every record; a failed batch is sent again whole
        (at-least-once: consumers deduplicate by event id, docs/events.md)."""
        delay = 0.2
        while True:
            try:
                acks = [await self._send(r.topic, r.key, r.value, r.headers) for r in records]
                await asyncio.gather(*acks)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is down or refusing: keep the outcome
                log.warning(
                    "publishing %d record(s) failed (%s); retrying in %.1fs",
                    len(records),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self._max_backoff, delay * 2)
