"""Producing orders and timing their outcomes, the way a connector and a consumer see them.

Each order carries its produce time in the `bench.produced_ns` header (wall clock, ns), for
anyone reading the topics. The worker does not copy input headers to its output, so latency is
measured against the time the bench noted per order id, which is the key of the outcome (the
worker's `invoice.issued`/`invoice.failed`, or the pipe's copy). Both ends run in this
process, on one clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench import stats
from tests import factories

PRODUCED_HEADER = "bench.produced_ns"


class BrokerTrouble(logging.Handler):
    """Counts aiokafka's errors in this process instead of printing them: the broker is shared,
    and a restart by someone else (fault tests do that) must mark the scenario it hit, not
    flood the terminal."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        BrokerTrouble.count += 1

    @classmethod
    def install(cls) -> None:
        log = logging.getLogger("aiokafka")
        log.addHandler(cls(logging.ERROR))
        log.propagate = False


Record = tuple[str, bytes, bytes]  # topic, key, value


def order_records(
    phase: str, n: int, sellers: list[str], channels: list[str], topics: list[str]
) -> list[Record]:
    """`n` valid `order.completed` events spread round-robin over channels and sellers; every
    other buyer is a company (an invoice), the rest get receipts."""
    out: list[Record] = []
    for i in range(n):
        c = i % len(channels)
        seller = sellers[(i // len(channels)) % len(sellers)]
        order_id = f"{phase}-{i}"
        event = factories.completed(
            seller, channels[c], factories.order(order_id, company=i % 4 == 0)
        )
        out.append((topics[c], order_id.encode(), json.dumps(event).encode()))
    return out


async def delete_topics(bootstrap: str, uid: str) -> None:
    """The run's topics (every name carries its uid), so runs leave nothing on a shared broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if uid in t]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def wait_group_stable(bootstrap: str, group: str, members: int, within: float) -> None:
    """Until the consumer group is `Stable` with `members` members: measuring while a second
    worker joins would time a rebalance, not the worker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + within
    seen = "unknown"
    try:
        while time.monotonic() < deadline:
            try:
                answer = (await admin.describe_consumer_groups([group]))[0]
                _err, _gid, state, _ptype, _proto, group_members = answer.groups[0][:6]
                seen = f"{state} with {len(group_members)} members"
                if state == "Stable" and len(group_members) == members:
                    return
            except Exception as exc:  # the coordinator may not know the group yet
                seen = repr(exc)
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise TimeoutError(f"group {group} not stable with {members} members: {seen}")


@dataclass
class Phase:
    """What one measured batch of orders did: produce and outcome times per order id."""

    name: str
    produced: dict[bytes, float] = field(default_factory=dict)
    done: dict[bytes, float] = field(default_factory=dict)
    failed: int = 0

    @property
    def complete(self) -> bool:
        return len(self.done) >= len(self.produced)

    def latencies_by_key(self) -> dict[bytes, float]:
        return {k: (self.done[k] - t) * 1000 for k, t in self.produced.items() if k in self.done}

    def latencies_ms(self) -> list[float]:
        return list(self.latencies_by_key().values())

    def seconds(self) -> float:
        """From the first order produced to the last outcome read."""
        if not self.done:
            return 0.0
        return max(self.done.values()) - min(self.produced.values())

    def throughput(self) -> float:
        return stats.rate(len(self.done), self.seconds())


class Harness:
    """A producer for orders and a raw consumer of outcomes, open for the whole run."""

    def __init__(self, bootstrap: str, output_topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.output_topics = output_topics
        self.phase: Phase | None = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Harness:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await self.producer.start()
        await self.consumer.start()
        try:
            parts = await self._output_partitions()
        except BaseException:
            await self.__aexit__()
            raise
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _output_partitions(self) -> list[TopicPartition]:
        """Every partition of the output topics; the producer's `partitions_for` waits until the
        metadata knows a topic (they were just created)."""
        return [
            TopicPartition(t, p)
            for t in self.output_topics
            for p in sorted(await self.producer.partitions_for(t))
        ]

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.producer.stop()
        await self.consumer.stop()

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=200)
            now = time.time()
            phase = self.phase
            for records in batch.values():
                for r in records:
                    if phase is None or r.key not in phase.produced or r.key in phase.done:
                        continue  # another phase's order, or a redelivered outcome
                    phase.done[r.key] = now
                    if "failed" in r.topic:
                        phase.failed += 1

    async def burst(self, phase: Phase, records: list[Record]) -> None:
        """Everything at once, as a backlog: throughput is the drain rate."""
        self.phase = phase
        sends = [await self._send(phase, rec) for rec in records]
        await asyncio.gather(*sends)

    async def paced(self, phase: Phase, records: list[Record], per_second: float) -> None:
        """An open-loop steady rate below capacity: latency without a queue in front."""
        self.phase = phase
        start = time.monotonic()
        sends = []
        for i, rec in enumerate(records):
            delay = start + i / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sends.append(await self._send(phase, rec))
        await asyncio.gather(*sends)

    async def _send(self, phase: Phase, rec: Record) -> asyncio.Future:
        topic, key, value = rec
        now = time.time()
        phase.produced[key] = now
        headers = [(PRODUCED_HEADER, str(time.time_ns()).encode())]
        return await self.producer.send(topic, value, key=key, headers=headers)

    async def wait(self, phase: Phase, within: float, alive: Callable[[], None]) -> None:
        """Until every order of `phase` has an outcome; `alive()` raises if a worker died."""
        deadline = time.monotonic() + within
        while not phase.complete:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{phase.name}: {len(phase.done)}/{len(phase.produced)} outcomes "
                    f"after {within:.0f} s"
                )
            alive()
            await asyncio.sleep(0.1)
