"""Publishes an outcome and returns only once the broker has acknowledged it.

The caller acks the source record after this returns, so an offset is never committed before
its outcome is durable. A broker outage blocks here (with backoff) instead of losing outcomes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Protocol

from schemas.deadletter import Headers, deadletter_headers
from schemas.topics import INVOICES_FAILED, INVOICES_ISSUED, dlq_topic
from workers.records import DeadLettered, Failed, Issued, Outcome, Skipped

log = logging.getLogger(__name__)


class SendAndWait(Protocol):
    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Any: ...


class OutcomePublisher:
    def __init__(
        self,
        send: SendAndWait,
        consumer_group: str,
        *,
        issued_topic: str = INVOICES_ISSUED,
        failed_topic: str = INVOICES_FAILED,
        max_backoff: float = 30.0,
    ) -> None:
        self._send = send
        self._group = consumer_group
        self._topics = {Issued: issued_topic, Failed: failed_topic}
        self._max_backoff = max_backoff

    async def publish(self, outcome: Outcome) -> None:
        match outcome:
            case Issued(event) | Failed(event):
                topic = self._topics[type(outcome)]
                value = event.model_dump_json(by_alias=True).encode()
                headers = [
                    ("content-type", b"application/cloudevents+json"),
                    ("ce_type", event.type.encode()),
                    ("ce_id", event.id.encode()),
                ]
                await self._deliver(topic, event.data.order_id.encode(), value, headers)
            case DeadLettered(record, reason):
                headers = deadletter_headers(
                    record.headers,
                    reason,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    group=self._group,
                    attempts=1,
                    failed_at=dt.datetime.now(dt.UTC),
                )
                await self._deliver(dlq_topic(record.topic), record.key, record.value, headers)
            case Skipped():
                pass

    async def _deliver(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        delay = 0.2
        while True:
            try:
                await self._send(topic, key, value, headers)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is down or refusing: keep the outcome
                log.warning("publishing to %s failed (%s); retrying in %.1fs", topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(self._max_backoff, delay * 2)
