"""Reading dead-letter records and re-publishing them to their source topic.

Reading uses a plain consumer without a group (partitions are assigned, nothing is committed),
so looking at a DLQ never moves anybody's offsets. Each partition is read from its beginning
(or from the first record at or after a time, via `offsets_for_times`) up to the end offset
captured when reading starts: records dead-lettered meanwhile are left for the next run, and a
read never blocks waiting for new records.

A dead letter whose value was too large to publish carries a reference instead
(schemas/deadletter.py); replaying it reads the original back from its source topic, checked
against the reference's SHA-256, or refuses when retention has removed it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from adapters.kafka_admin import client_options
from config.settings import Settings
from schemas.deadletter import (
    HEADER_PREFIX,
    REFERENCE,
    SOURCE_TOPIC,
    VALUE_REPLACED,
    Headers,
    original_headers,
    parse_reference,
)
from schemas.topics import DLQ_SUFFIX

REPLAYED_FROM = "dlq.replayed.from"
"""Added to a replayed record: `<dlq topic>:<partition>:<offset>` it was replayed from."""

_FETCH_MS = 500
_STALL_SECONDS = 30.0  # no progress towards a known end offset for this long: give up
_REQUEST_HEADROOM = 64 * 1024  # over a replayed record's payload, for the request framing


class DeadLetterError(ValueError):
    """A request that cannot be served as asked (unknown topic, bad coordinates, ...)."""


class RepublishError(Exception):
    """Publishing stopped part-way; `published` are the records the broker acknowledged."""

    def __init__(self, message: str, published: list[DeadLetterRecord]) -> None:
        super().__init__(message)
        self.published = published


@dataclass(frozen=True)
class Coordinates:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Coordinates:
        """`TOPIC:PARTITION:OFFSET` (topic names cannot contain `:`)."""
        parts = text.strip().rsplit(":", 2)
        if len(parts) != 3 or not parts[0]:
            raise DeadLetterError(f"expected TOPIC:PARTITION:OFFSET, got {text!r}")
        topic, partition, offset = parts
        try:
            p, o = int(partition), int(offset)
        except ValueError:
            raise DeadLetterError(
                f"expected TOPIC:PARTITION:OFFSET with numbers, got {text!r}"
            ) from None
        if p < 0 or o < 0:
            raise DeadLetterError(f"partition and offset must not be negative in {text!r}")
        return cls(topic, p, o)


@dataclass(frozen=True)
class DeadLetterRecord:
    topic: str
    partition: int
    offset: int
    timestamp: dt.datetime  # the record's Kafka timestamp (UTC)
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def coordinates(self) -> Coordinates:
        return Coordinates(self.topic, self.partition, self.offset)

    def header(self, name: str) -> str | None:
        """The last value of header `name`, decoded as UTF-8 (undecodable bytes escaped)."""
        for k, v in reversed(self.headers):
            if k == name:
                return v.decode("utf-8", "backslashreplace") if v is not None else ""
        return None

    @property
    def source_topic(self) -> str:
        """Where a replay goes: `dlq.source.topic`, else the DLQ topic without `.dlq`."""
        source = self.header(SOURCE_TOPIC)
        if source:
            return source
        if self.topic.endswith(DLQ_SUFFIX):
            return self.topic.removesuffix(DLQ_SUFFIX)
        raise DeadLetterError(f"{self.coordinates}: no {SOURCE_TOPIC} header")

    def replay_headers(self) -> Headers:
        """The producer's original headers plus where the replay came from."""
        return [*original_headers(self.headers), (REPLAYED_FROM, str(self.coordinates).encode())]

    @property
    def reference(self) -> dict[str, Any] | None:
        """Where the original is when the value was replaced by a reference (else None)."""
        if self.header(VALUE_REPLACED) != REFERENCE:
            return None
        ref = parse_reference(self.value)
        if ref is None:
            raise DeadLetterError(
                f"{self.coordinates}: marked `{VALUE_REPLACED}: {REFERENCE}` "
                "but its value is not a reference"
            )
        return ref

    @property
    def size(self) -> int:
        """Bytes of key, value and headers (what a producer must accept to send it)."""
        return (
            len(self.key or b"")
            + len(self.value or b"")
            + sum(len(k.encode()) + len(v or b"") for k, v in self.headers)
        )


def _record(msg) -> DeadLetterRecord:
    return DeadLetterRecord(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp=dt.datetime.fromtimestamp(msg.timestamp / 1000, dt.UTC),
        key=msg.key,
        value=msg.value,
        headers=[(k, bytes(v) if v is not None else b"") for k, v in (msg.headers or ())],
    )


async def list_topics(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def partitions(settings: Settings, topics: Sequence[str]) -> dict[str, list[int]]:
    """Partition ids of each topic; DeadLetterError names the topics that do not exist."""
    if not topics:
        return {}
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    found = {
        d["topic"]: sorted(p["partition"] for p in d["partitions"])
        for d in described
        if d["error_code"] == 0
    }
    missing = [t for t in topics if t not in found]
    if missing:
        raise DeadLetterError(f"no such topic: {', '.join(missing)}")
    return {t: found[t] for t in topics}


async def dlq_topics(settings: Settings, wanted: Iterable[str] = ()) -> list[str]:
    """`wanted` (each checked to exist), or every `*.dlq` topic on the broker, sorted."""
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return sorted(t for t in await list_topics(settings) if t.endswith(DLQ_SUFFIX))
    await partitions(settings, wanted)
    return wanted


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def read_deadletters(
    settings: Settings, topics: Sequence[str], *, since: dt.datetime | None = None
) -> AsyncIterator[DeadLetterRecord]:
    """Every record of `topics` (from `since`, if given) up to the end offsets at start, ordered
    by topic, partition and offset."""
    parts = [
        TopicPartition(t, p) for t, ps in (await partitions(settings, topics)).items() for p in ps
    ]
    if not parts:
        return
    consumer = _consumer(settings)
    await consumer.start()
    try:
        # assigning makes the client fetch metadata for all topics at once (offset look-ups
        # for unknown topics wait for metadata one by one); paused, so nothing is fetched yet
        consumer.assign(parts)
        consumer.pause(*parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        if since is not None:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in parts}
            )
            starts = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in parts}
        for tp in parts:
            if starts[tp] >= ends[tp]:
                continue
            async for record in _read_partition(consumer, tp, starts[tp], ends[tp]):
                yield record
    finally:
        await consumer.stop()


async def _read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> AsyncIterator[DeadLetterRecord]:
    consumer.assign([tp])
    consumer.seek(tp, start)
    last_progress = time.monotonic()
    while True:
        batch = await consumer.getmany(tp, timeout_ms=_FETCH_MS, max_records=500)
        for msg in batch.get(tp, ()):
            if msg.offset >= end:
                return
            yield _record(msg)
        if batch.get(tp):
            last_progress = time.monotonic()
        # the position also moves past transaction markers and compacted-away offsets
        if await consumer.position(tp) >= end:
            return
        if time.monotonic() - last_progress > _STALL_SECONDS:
            raise DeadLetterError(f"reading {tp.topic}:{tp.partition} stalled before offset {end}")


async def read_one(settings: Settings, where: Coordinates) -> DeadLetterRecord:
    """The record at `where`, or DeadLetterError when there is none (never waits for one)."""
    known = (await partitions(settings, [where.topic]))[where.topic]
    if where.partition not in known:
        raise DeadLetterError(
            f"topic {where.topic} has no partition {where.partition} (it has {len(known)})"
        )
    tp = TopicPartition(where.topic, where.partition)
    consumer = _consumer(settings)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.pause(tp)
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not start <= where.offset < end:
            held = f"holds offsets {start}..{end - 1}" if end > start else "is empty"
            raise DeadLetterError(f"no record at {where} (the partition {held})")
        async for record in _read_partition(consumer, tp, where.offset, end):
            if record.offset == where.offset:
                return record
            break
        raise DeadLetterError(f"no record at {where} (removed by compaction or a transaction)")
    finally:
        await consumer.stop()


async def resolve_references(
    settings: Settings, records: Sequence[DeadLetterRecord]
) -> list[DeadLetterRecord]:
    """`records` with each reference replaced by the original key, value and headers read
    from the source topic (coordinates and `dlq.*` headers kept). DeadLetterError when an
    original is gone (retention) or is not the record that was dead-lettered."""
    out = []
    for record in records:
        ref = record.reference
        if ref is None:
            out.append(record)
            continue
        where = Coordinates(ref["topic"], ref["partition"], ref["offset"])
        refused = (
            f"cannot replay {record.coordinates}: its value ({ref['size']} bytes) was too large "
            f"to dead-letter, so it is only a reference to {where}"
        )
        try:
            original = await read_one(settings, where)
        except DeadLetterError as exc:
            raise DeadLetterError(f"{refused}, which can no longer be read: {exc}") from exc
        if hashlib.sha256(original.value or b"").hexdigest() != ref["sha256"]:
            raise DeadLetterError(f"{refused}, which now holds a different value (SHA-256)")
        ours = [(k, v) for k, v in record.headers if k.startswith(HEADER_PREFIX)]
        out.append(
            replace(
                record,
                key=original.key,
                value=original.value,
                headers=[*original_headers(original.headers), *ours],
            )
        )
    return out


async def republish(
    settings: Settings,
    records: Sequence[DeadLetterRecord],
    *,
    on_published: Callable[[DeadLetterRecord], None] | None = None,
    window: int = 100,
) -> list[DeadLetterRecord]:
    """Send each record's key, value and original headers (+ `dlq.replayed.from`) to its source
    topic, in order, with an idempotent producer (acks=all). Returns the records the broker
    acknowledged; when the broker fails part-way, RepublishError says which were."""
    targets = {r.source_topic for r in records}
    loops = sorted(t for t in targets if t.endswith(DLQ_SUFFIX))
    if loops:
        raise DeadLetterError(f"refusing to replay into a dead-letter topic: {', '.join(loops)}")
    missing = sorted(targets - await list_topics(settings))
    if missing:
        raise DeadLetterError(
            f"source topic does not exist: {', '.join(missing)} "
            "(create it with `invoice-router topics ensure --channel <channel>`)"
        )
    # a replayed original may be larger than the worker's limit: its topic accepted it once
    largest = max((r.size for r in records), default=0) + _REQUEST_HEADROOM
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        max_request_size=max(settings.producer_max_request_bytes, largest),
    )
    await producer.start()
    published: list[DeadLetterRecord] = []
    try:
        for i in range(0, len(records), window):
            chunk = records[i : i + window]
            pending = [
                await producer.send(r.source_topic, r.value, key=r.key, headers=r.replay_headers())
                for r in chunk
            ]
            for record, fut in zip(chunk, pending, strict=True):
                await fut
                published.append(record)
                if on_published:
                    on_published(record)
    except Exception as exc:
        raise RepublishError(
            f"publishing stopped after {len(published)} of {len(records)} records: {exc!r}",
            published,
        ) from exc
    finally:
        await producer.stop()
    return published
