"""Drive the real worker process over a real broker, the way connectors and consumers do."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.secrets import SecretBox
from config.settings import Settings
from workers.configuration import apply_file

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    """Names and settings of one test's isolated slice of the shared broker and database."""

    bootstrap: str
    database_url: str
    uid: str
    channels: list[str]
    fakturownia_base: str = ""
    partitions: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    secret_key: str = field(default_factory=SecretBox.new_key)

    @property
    def group(self) -> str:
        return f"invoice-router-{self.uid}"

    @property
    def issued_topic(self) -> str:
        return f"invoices.issued.{self.uid}"

    @property
    def failed_topic(self) -> str:
        return f"invoices.failed.{self.uid}"

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.database_url,
            "INVOICE_ROUTER_APP_ID": self.group,
            "INVOICE_ROUTER_CHANNELS": ",".join(self.channels),
            "INVOICE_ROUTER_TOPIC_PARTITIONS": str(self.partitions),
            "INVOICE_ROUTER_TOPIC_INVOICES_ISSUED": self.issued_topic,
            "INVOICE_ROUTER_TOPIC_INVOICES_FAILED": self.failed_topic,
            "INVOICE_ROUTER_FAKTUROWNIA_URL_TEMPLATE": f"{self.fakturownia_base}/{{prefix}}",
            "INVOICE_ROUTER_TOPIC_DISCOVERY_SECONDS": "1",
            # the broker is shared between tests: only discover this test's channel topics
            "INVOICE_ROUTER_ORDERS_TOPIC_PATTERN": rf"^orders\.[a-z0-9_-]+-{self.uid}$",
            "INVOICE_ROUTER_CONFIG_CACHE_SECONDS": "0.5",
            "INVOICE_ROUTER_SECRET_KEYS": self.secret_key,
            **self.extra_env,
        }

    def settings(self) -> Settings:
        return Settings(
            **{
                k.removeprefix("INVOICE_ROUTER_").lower(): v
                for k, v in self.env().items()
                if k.startswith("INVOICE_ROUTER_")
            },
            kafka_bootstrap_servers=self.bootstrap,
            database_url=self.database_url,
        )

    def apply_config(self, yaml_text: str) -> list[str]:
        from config.db import upgrade

        upgrade(self.database_url)
        return asyncio.run(apply_file(self.settings(), yaml_text))


async def create_missing_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create those of `names` the broker does not have (tests and the benchmark share it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    asyncio.run(create_missing_topics(bootstrap, names, partitions))


def produce(
    bootstrap: str, records: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Send (topic, key, value, headers) in order and wait for every ack."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for topic, key, value, headers in records:
                await producer.send_and_wait(topic, value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(run())


def order_record(topic: str, event: dict[str, Any]) -> tuple[str, bytes, bytes, list]:
    return (
        topic,
        event["data"]["order"]["order_id"].encode(),
        json.dumps(event).encode(),
        [("ce_id", event["id"].encode())],
    )


@dataclass
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def json(self) -> dict[str, Any]:
        return json.loads(self.value)


def collect(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[Consumed]], bool],
    timeout: float = 60.0,
    settle: float = 1.5,
) -> list[Consumed]:
    """Read `topics` from the beginning until `done(records)` holds (then `settle` seconds more,
    so unexpected extra records are caught too) or `timeout` passes."""

    async def run() -> list[Consumed]:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        out: list[Consumed] = []
        deadline = time.monotonic() + timeout
        settled_at: float | None = None
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                for msgs in batch.values():
                    out += [
                        Consumed(
                            m.topic, m.partition, m.offset, m.key, m.value, dict(m.headers or [])
                        )
                        for m in msgs
                    ]
                if settled_at is None and done(out):
                    settled_at = time.monotonic()
                if settled_at is not None and time.monotonic() - settled_at >= settle:
                    break
            return out
        finally:
            await consumer.stop()

    return asyncio.run(run())


def committed_offsets(
    bootstrap: str, group: str, topics: list[str], partitions: int
) -> dict[TopicPartition, tuple[int | None, int]]:
    """(committed, end offset) per partition of `topics` for consumer group `group`."""

    async def run() -> dict[TopicPartition, tuple[int | None, int]]:
        parts = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(parts)
            return {
                tp: (committed[tp].offset if tp in committed else None, ends[tp]) for tp in parts
            }
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(run())


def wait_committed(
    bootstrap: str, group: str, topics: list[str], partitions: int, timeout: float = 30.0
) -> dict[TopicPartition, tuple[int | None, int]]:
    """Poll until the group has committed every partition to its end (Faust commits on a timer)."""
    deadline = time.monotonic() + timeout
    while True:
        offsets = committed_offsets(bootstrap, group, topics, partitions)
        done = bool(offsets) and all((c or 0) == end for c, end in offsets.values())
        if done or time.monotonic() > deadline:
            return offsets
        time.sleep(1.0)


@contextmanager
def worker_process(stack: Stack, log_path: Path) -> Iterator[subprocess.Popen]:
    """The real `invoice-router worker` in its own process; SIGTERM (then SIGKILL) on exit."""
    env = {**os.environ, **stack.env()}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen, grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
