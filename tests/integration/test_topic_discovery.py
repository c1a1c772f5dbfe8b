"""Channel discovery against the real broker: what it lists, and that a tick is one request on
a kept connection rather than a new client per tick (adapters/kafka_topics.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient

from adapters.kafka_admin import list_order_topics, order_topics_watch
from adapters.kafka_topics import CLIENT_ID, OrderTopics
from config.settings import Settings

pytestmark = pytest.mark.integration


async def _create(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 2, 1) for n in names])
    finally:
        await admin.close()


async def _delete(bootstrap: str, uid: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if uid in t]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def _until(watch: OrderTopics, expected: list[str]) -> int:
    """Ticks until the listing is `expected`: a new topic reaches every broker's metadata a
    moment after its creation returns."""
    for tick in range(1, 51):
        if await watch.list() == expected:
            return tick
        await asyncio.sleep(0.2)
    raise AssertionError(f"{await watch.list()} != {expected}")


async def test_discovery_lists_new_channel_topics_over_one_connection(
    kafka_bootstrap: str, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        _env_file=None,
        kafka_bootstrap_servers=kafka_bootstrap,
        orders_topic_pattern=rf"^orders\.[a-z0-9_-]+-{uid}$",
    )
    bootstraps = 0
    bootstrap = AIOKafkaClient.bootstrap

    async def counted(client: AIOKafkaClient) -> None:  # the real bootstrap, counted
        nonlocal bootstraps
        bootstraps += client._client_id == CLIENT_ID
        await bootstrap(client)

    monkeypatch.setattr(AIOKafkaClient, "bootstrap", counted)
    await _create(kafka_bootstrap, [f"orders.shop-{uid}", f"orders.shop-{uid}.dlq", f"x-{uid}"])
    watch = order_topics_watch(settings)
    try:
        await _until(watch, [f"orders.shop-{uid}"])
        await _create(kafka_bootstrap, [f"orders.ebay-{uid}", f"orders.Bad-{uid}"])
        expected = [f"orders.ebay-{uid}", f"orders.shop-{uid}"]
        ticks = await _until(watch, expected)  # a new channel, seen by the running watch
        assert ticks >= 1 and bootstraps == 1  # one connection for every tick
        await watch.close()  # as after a failed tick: the next one connects again
        assert await watch.list() == expected
        assert bootstraps == 2
        assert await list_order_topics(settings) == expected  # the start-up listing agrees
    finally:
        await watch.close()
        await _delete(kafka_bootstrap, uid)
