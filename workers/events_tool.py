"""Publish an order event the way a connector does, and watch output topics the way a
notification service does: for trying the worker out and for ops checks, with no Kafka tools."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from adapters.kafka_admin import client_options
from config.settings import Settings
from schemas.topics import orders_topic


@dataclass(frozen=True)
class OrderMessage:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def order_message(event: dict[str, Any], fresh_id: bool = True) -> OrderMessage:
    """The record a connector publishes: `orders.<channel>`, keyed by order id, with the
    CloudEvents id and type as headers. A sample file's placeholder id is replaced, because
    the worker treats a repeated id as a redelivery."""
    event = dict(event, id=str(uuid.uuid4())) if fresh_id else event
    data = event["data"]
    return OrderMessage(
        topic=orders_topic(data["channel"]),
        key=str(data["order"]["order_id"]).encode(),
        value=json.dumps(event, ensure_ascii=False).encode(),
        headers=[("ce_id", event["id"].encode()), ("ce_type", event["type"].encode())],
    )


async def publish(settings: Settings, message: OrderMessage) -> int:
    """Send and wait for the broker's acknowledgement; returns the offset."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            message.topic, message.value, key=message.key, headers=message.headers
        )
        return meta.offset
    finally:
        await producer.stop()


async def watch(
    settings: Settings, topics: list[str], count: int, seconds: float, key: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Records of `topics` from the beginning (only those keyed `key`, e.g. an order id, when
    given), as JSON-ready dicts, until `count` were seen or `seconds` passed. No consumer
    group: nothing is committed."""
    consumer = AIOKafkaConsumer(
        *topics, **client_options(settings), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    deadline, seen = time.monotonic() + seconds, 0
    try:
        while seen < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msg in (m for records in batch.values() for m in records):
                if key is not None and msg.key != key.encode():
                    continue
                yield _as_dict(msg)
                seen += 1
                if seen >= count:
                    return
    finally:
        await asyncio.shield(consumer.stop())


def _as_dict(msg: Any) -> dict[str, Any]:
    try:
        value: Any = json.loads(msg.value)
    except (TypeError, ValueError):
        value = (msg.value or b"").decode(errors="replace")
    return {
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": msg.key.decode(errors="replace") if msg.key else None,
        "value": value,
    }
