"""Issue 10 over a real broker: one oversized record no longer stops every output of the worker.

The channel topic accepts 4 MiB records (`max.message.bytes`), the worker's producer 1 MiB. A
2 MB JSON value is dead-lettered as a reference to its source record, the valid order behind it
is issued, and replaying the reference republishes the original read back from the source.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from adapters.kafka_deadletters import REPLAYED_FROM
from schemas.deadletter import (
    CONSUMER_GROUP,
    ERROR_CODE,
    ORIGINAL_SHA256,
    ORIGINAL_SIZE,
    REFERENCE,
    VALUE_REPLACED,
    DeadLetterReason,
    deadletter_headers,
    parse_reference,
    reference_headers,
    reference_value,
)
from tests import factories as f
from tests.integration.harness import Stack, collect, order_record, produce, worker_process
from workers import deadletters as svc
from workers.deadletters import DeadLetterError, DeadLetterFilter

pytestmark = pytest.mark.integration

FOUR_MIB = 4 * 1024 * 1024
CONFIG = """
sellers:
  - id: seller-{uid}
    name: Auto Części
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-a-{uid}"}}
        options: {{account: "acme-{uid}", receipts_enabled: true}}
    channels:
      - {{channel: "big-{uid}", connection: main, target: "101"}}
"""


async def _create(bootstrap: str, topics: dict[str, dict[str, str]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1, topic_configs=c) for t, c in topics.items()])
    finally:
        await admin.close()


async def _produce_large(bootstrap: str, topic: str, key: bytes, value: bytes) -> int:
    """What a connector allowed to send 4 MiB does; returns the record's offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=FOUR_MIB)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, key=key, headers=[("ce_id", b"big")])
        return meta.offset
    finally:
        await producer.stop()


def test_an_oversized_dead_letter_becomes_a_reference_and_blocks_nothing(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    _, base_url = fakturownia
    channel = f"big-{uid}"
    source, dlq = f"orders.{channel}", f"orders.{channel}.dlq"
    stack = Stack(kafka_bootstrap, postgres_url, uid, [channel], base_url, partitions=1)
    stack.apply_config(CONFIG.format(uid=uid))
    asyncio.run(
        _create(
            kafka_bootstrap,
            {
                source: {"max.message.bytes": str(FOUR_MIB)},
                dlq: {},
                stack.issued_topic: {},
                stack.failed_topic: {},
            },
        )
    )
    # valid JSON, not an order: dead-lettered as schema_invalid
    big = json.dumps({"specversion": "1.0", "padding": "x" * 2_000_000}).encode()
    offset = asyncio.run(_produce_large(kafka_bootstrap, source, b"BIG-1", big))
    seller = f"seller-{uid}"
    produce(kafka_bootstrap, [order_record(source, f.completed(seller, channel, f.order("OK-1")))])

    log_path = tmp_path / "worker.log"
    with worker_process(stack, log_path):
        out = collect(
            kafka_bootstrap,
            [dlq, stack.issued_topic],
            done=lambda rs: {r.topic for r in rs} == {dlq, stack.issued_topic},
            timeout=90,
        )
    log = log_path.read_text(errors="replace")[-4000:]
    # the broker is shared: a worker of another group may dead-letter this record too
    group = stack.group.encode()
    dead = [r for r in out if r.topic == dlq and r.headers[CONSUMER_GROUP] == group]
    issued = [r for r in out if r.topic == stack.issued_topic]
    assert [r.key for r in issued] == [b"OK-1"], log
    assert len(dead) == 1, log
    [letter] = dead
    assert letter.key == b"BIG-1"
    assert letter.headers[VALUE_REPLACED] == REFERENCE.encode()
    assert letter.headers[ORIGINAL_SIZE] == str(len(big)).encode()
    assert letter.headers[ORIGINAL_SHA256] == hashlib.sha256(big).hexdigest().encode()
    assert letter.headers[ERROR_CODE] == b"schema_invalid"
    assert letter.headers["ce_id"] == b"big"
    assert parse_reference(letter.value) == {
        "original_too_large": True,
        "size": len(big),
        "sha256": hashlib.sha256(big).hexdigest(),
        "topic": source,
        "partition": 0,
        "offset": offset,
    }
    assert "quarantined" not in log  # the reference fits: nothing had to be set aside

    # replaying the reference republishes the original, read back from the source topic
    settings = stack.settings()
    flt = DeadLetterFilter(topics=(dlq,))
    records = [r for r in asyncio.run(svc.select(settings, flt)) if r.offset == letter.offset]
    assert "too large to dead-letter" in svc.describe(records[0])
    result = asyncio.run(svc.replay(settings, records, flt, operator="test", dry_run=False))
    assert len(result.records) == 1
    replayed = collect(
        kafka_bootstrap,
        [source],
        done=lambda rs: any(REPLAYED_FROM in r.headers for r in rs),
        timeout=30,
        settle=0,
    )
    [copy] = [r for r in replayed if REPLAYED_FROM in r.headers]
    assert copy.value == big and copy.key == b"BIG-1" and copy.headers["ce_id"] == b"big"
    assert copy.headers[REPLAYED_FROM] == f"{dlq}:0:{letter.offset}".encode()


def test_replaying_a_reference_whose_original_is_gone_is_refused(
    kafka_bootstrap: str, postgres_url: str, uid: str
) -> None:
    from config.db import upgrade
    from config.settings import Settings

    source, dlq = f"orders.gone-{uid}", f"orders.gone-{uid}.dlq"
    asyncio.run(_create(kafka_bootstrap, {source: {}, dlq: {}}))
    upgrade(postgres_url)
    original = b"y" * 5000
    headers = deadletter_headers(
        [],
        DeadLetterReason("schema_invalid", "not an order", "ValidationError"),
        topic=source,
        partition=0,
        offset=41,  # the source topic is empty: retention removed it
        group="invoice-router",
        attempts=1,
        failed_at=dt.datetime.now(dt.UTC),
    )
    ref = reference_value(original, topic=source, partition=0, offset=41)
    produce(kafka_bootstrap, [(dlq, b"K", ref, [*headers, *reference_headers(original)])])

    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, database_url=postgres_url)
    flt = DeadLetterFilter(topics=(dlq,))
    records = asyncio.run(svc.select(settings, flt))
    with pytest.raises(DeadLetterError) as refused:
        asyncio.run(svc.replay(settings, records, flt, operator="test", dry_run=True))
    message = str(refused.value)
    assert f"{dlq}:0:0" in message and f"{source}:0:41" in message
    assert "5000 bytes" in message and "can no longer be read" in message
