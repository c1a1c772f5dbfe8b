"""The Faust app: consume every `orders.<channel>` topic, route, publish, then ack.

Faust's own pattern subscription is a no-op in 0.15 (its aiokafka driver subscribes by name
only), so channel topics are discovered by a timer and added to the subscription; a new channel
needs no code change or restart (docs/adr/0001-worker-on-faust.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT, StreamT

from adapters.kafka_admin import (
    client_options,
    ensure_topics,
    list_order_topics,
    topics_for_channels,
)
from config.settings import Settings
from schemas.deadletter import Headers
from schemas.topics import orders_topic
from workers import metrics
from workers.records import RawRecord
from workers.runtime import Runtime

log = logging.getLogger(__name__)
RESUBSCRIBE_AFTER_SECONDS = 1.0  # Faust waits 45 s by default before acting on a new topic


def _headers(raw: Any) -> Headers:
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    return [(str(k), bytes(v) if v is not None else b"") for k, v in items]


def record_of(event: EventT) -> RawRecord:
    m = event.message
    return RawRecord(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key,
        value=m.value,
        headers=_headers(m.headers),
    )


def _credentials(settings: Settings) -> Any:
    opts = client_options(settings)
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=opts["sasl_plain_password"],
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=opts.get("ssl_context"),
        )
    if "ssl_context" in opts:
        return faust.SSLCredentials(opts["ssl_context"])
    return None


def survives(what: str) -> Callable[[Callable[[], Awaitable[None]]], Callable[[], Awaitable[None]]]:
    """Keep a periodic task alive through a broker or database outage.

    An exception escaping a Faust timer crashes the whole app; the next tick retries instead.
    """

    def wrap(tick: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        @functools.wraps(tick)
        async def guarded() -> None:
            try:
                await tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "%s failed (%s: %s); retrying on the next tick", what, type(exc).__name__, exc
                )

        return guarded

    return wrap


def _datadir(app_id: str) -> Path:
    """Not Faust's default `<id>-data/` in the working directory: we keep no table state."""
    path = Path(tempfile.gettempdir()) / "invoice-router" / app_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def subscribe_more(app: faust.App, source: faust.types.TopicT, names: list[str]) -> None:
    """Add topic names to a running agent's source topic.

    The agent consumes from a clone of `source` that the conductor routes to; the clone holds
    its own copy of the names, so every channel object over these topics gets the new list, and
    re-adding each one to the conductor makes it resubscribe (one rebalance).
    """
    current = set(source.topics)
    channels = [
        source,
        *(c for c in list(app.topics) if c is not source and set(c.topics) & current),
    ]
    for channel in channels:
        channel.topics = [*channel.topics, *names]
        if channel in app.topics:
            app.topics.discard(channel)
            app.topics.add(channel)


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s}" for s in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store="memory://",
        datadir=str(_datadir(settings.app_id)),
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,  # we create topics ourselves, with the counts we expect
        consumer_auto_offset_reset="earliest",  # a new group must not skip waiting orders
        producer_acks=-1,
        broker_session_timeout=settings.consumer_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.consumer_session_timeout_seconds / 3),
        autodiscover=False,
    )
    app.topics._resubscribe_sleep_lock_seconds = RESUBSCRIBE_AFTER_SECONDS
    orders = app.topic(
        *[orders_topic(c) for c in settings.channels],
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )
    state: dict[str, Runtime] = {}

    async def send(topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        await app.producer.send_and_wait(
            topic, key, value, partition=None, timestamp=None, headers=headers
        )

    def runtime() -> Runtime:
        if "rt" not in state:
            state["rt"] = Runtime.build(settings, send)
        return state["rt"]

    metrics.serve(settings.metrics_port)

    @app.agent(orders, name="route-orders")
    async def route_orders(stream: StreamT) -> None:
        manual = stream.noack()  # ack only once the outcome is durable (see module doc)
        async for event in manual.events():
            rt = runtime()
            record = record_of(event)
            outcome = await rt.router.route(record)  # durable in the ledger + outbox
            await rt.publisher.flush()  # ... and in Kafka, before the offset may move
            metrics.observe(record, outcome)
            await manual.ack(event)

    @app.timer(settings.retry_poll_seconds)
    @survives("retrying parked orders")
    async def retry_due() -> None:
        """Parked orders whose retry time has come; also publishes outbox leftovers."""
        rt = runtime()
        for entry in await rt.ledger.due():
            outcome = await rt.router.retry(entry)
            metrics.OUTCOMES.labels(entry.source.topic, "retried", type(outcome).__name__).inc()
        await rt.publisher.flush()

    @app.timer(settings.topic_discovery_seconds)
    @survives("discovering channel topics")
    async def discover_channels() -> None:
        new = [t for t in await list_order_topics(settings) if t not in orders.topics]
        if not new:
            return
        channels = [t.split(".", 1)[1] for t in new]
        await ensure_topics(settings, topics_for_channels(channels))
        log.info("subscribing to new channel topics: %s", ", ".join(new))
        subscribe_more(app, orders, new)

    @app.on_before_shutdown.connect
    async def close_runtime(_app: faust.App, **_: Any) -> None:
        if "rt" in state:
            await state.pop("rt").aclose()

    return app
