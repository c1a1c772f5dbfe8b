"""The Faust app: consume every `orders.<channel>` topic, route, publish, then ack.

Faust's own pattern subscription is a no-op in 0.15 (its aiokafka driver subscribes by name
only), so channel topics are listed at start and watched by a timer; a new one makes the worker
stop gracefully and start again subscribed to it, with no operator involved
(docs/adr/0001-worker-on-faust.md, decision 4).
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
    order_topics_watch,
    topics_for_channels,
)
from config.settings import Settings
from schemas.deadletter import Headers
from workers import metrics, probes
from workers.dispatch import KeyOrderedDispatcher
from workers.outage import BROKER, DATABASE, OUTAGES, dependency_down
from workers.records import RawRecord
from workers.runtime import Runtime
from workers.shutdown import Restart, request_restart

log = logging.getLogger(__name__)


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


def survives(
    what: str, uses: tuple[str, ...] = (DATABASE,)
) -> Callable[[Callable[[], Awaitable[None]]], Callable[[], Awaitable[None]]]:
    """Keep a periodic task alive through a broker or database outage.

    An exception escaping a Faust timer crashes the whole app; the next tick retries instead.
    An outage is reported through `OUTAGES` (once a minute, not per tick), and a tick that
    completes proves the dependencies it `uses` answer again (an idle worker, whose consumer
    has nothing to retry, must still see the outage end).
    """

    def wrap(tick: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        @functools.wraps(tick)
        async def guarded() -> None:
            try:
                await tick()
                for dependency in uses:
                    if dependency in OUTAGES.down_since:
                        OUTAGES.came_back(dependency)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if (dependency := dependency_down(exc)) is not None:
                    OUTAGES.went_down(dependency, exc)  # reported once a minute, not per tick
                    return
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


async def finish_in_flight(dispatcher: KeyOrderedDispatcher[EventT]) -> None:
    """On stop or agent restart, let started orders finish and acknowledge what they can."""
    try:
        await dispatcher.drain()
    except Exception as exc:  # already reported by the dispatcher; the agent is ending anyway
        log.warning("in-flight orders ended with an error: %r", exc)


def create_app(
    settings: Settings, order_topics: list[str], restart: Restart | None = None
) -> faust.App:
    """The worker app consuming `order_topics`; when another channel topic appears it stops
    and sets `restart.requested`."""
    restart = restart or Restart()
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
        producer_max_request_size=settings.producer_max_request_bytes,
        broker_session_timeout=settings.consumer_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.consumer_session_timeout_seconds / 3),
        # the group leader sees a topic that was missing at the last assignment only on a
        # metadata refresh, then rebalances (tests/faults/test_fault_13_restart_while_joining.py)
        consumer_metadata_max_age_ms=round(settings.consumer_metadata_max_age_seconds * 1000),
        autodiscover=False,
    )
    orders = app.topic(
        *order_topics,
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )
    state: dict[str, Runtime] = {}

    async def send(
        topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Awaitable[Any]:
        return await app.producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers
        )

    def runtime() -> Runtime:
        if "rt" not in state:
            state["rt"] = Runtime.build(settings, send)
        return state["rt"]

    probes.serve(settings.metrics_port)  # /metrics, /healthz, /readyz

    async def handle(event: EventT) -> None:
        rt = runtime()
        record = record_of(event)
        # an outage is a wait: the record stays in hand, unacknowledged (workers/outage.py)
        outcome = await OUTAGES.wait_through(lambda: rt.router.route(record))  # ledger + outbox
        await OUTAGES.wait_through(rt.publisher.flush, uses=(DATABASE, BROKER))  # ... and Kafka
        metrics.observe(record, outcome)

    @app.agent(orders, name="route-orders")
    async def route_orders(stream: StreamT) -> None:
        manual = stream.noack()  # ack only once the outcome is durable (see module doc)
        dispatcher = KeyOrderedDispatcher(settings.max_in_flight, handle, manual.ack)
        try:
            async for event in manual.events():
                await dispatcher.submit(event, event.message.tp, event.message.key)
        except Exception as exc:  # never the router's (it does not raise): a defect of ours
            # Faust would restart this agent *without* seeking back, skipping unacknowledged
            # records; a fresh consumer resumes from the last commit instead (ADR 0008 §4)
            log.error("the consumer stopped on an unexpected error: %r", exc)
            if not restart.requested:
                request_restart(restart, "consumer error")
        finally:
            await finish_in_flight(dispatcher)

    @app.timer(settings.retry_poll_seconds)
    @survives("retrying parked orders")
    async def retry_due() -> None:
        """Parked orders whose retry time has come; also publishes outbox leftovers."""
        rt = runtime()
        for entry in await rt.ledger.due():
            outcome = await rt.router.retry(entry)
            metrics.observe_retry(entry.source.topic, outcome)
        await rt.publisher.flush()

    @app.timer(settings.clearance_poll_seconds)
    @survives("checking KSeF clearance")
    async def check_clearance() -> None:
        """Documents on their way through KSeF whose next look is due (ADR 0004)."""
        rt = runtime()
        if await rt.clearance.run_due():
            await rt.publisher.flush()

    watch = order_topics_watch(settings)  # one connection for every tick (kafka_topics.py)

    @app.timer(settings.topic_discovery_seconds)
    @survives("discovering channel topics", uses=(BROKER,))
    async def discover_channels() -> None:
        new = [t for t in await watch.list() if t not in order_topics]
        if new and not restart.requested:
            channels = [t.split(".", 1)[1] for t in new]
            await ensure_topics(settings, topics_for_channels(channels))
            request_restart(restart, f"new channel topics {', '.join(new)}")

    if settings.metrics_port:

        @app.timer(settings.metrics_refresh_seconds)
        @survives("refreshing metrics")
        async def refresh_metrics() -> None:
            """Backlog gauges from the ledger, lag of the partitions this worker holds."""
            metrics.observe_backlog(await runtime().ledger.backlog())
            metrics.observe_quarantined_rows(await runtime().publisher.quarantined_count())
            await metrics.refresh_clearance(runtime().engine)
            await metrics.observe_consumer_lag(app.consumer)

    @app.on_before_shutdown.connect
    async def close_runtime(_app: faust.App, **_: Any) -> None:
        await watch.close()
        if "rt" in state:
            await state.pop("rt").aclose()

    return app
