"""Topic administration: we create every topic we use, with the partition count we expect.

Broker auto-creation is off in our stacks: an auto-created topic gets the broker's default
partition count, and a record sent to a missing topic should fail loudly, not appear somewhere.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from adapters.kafka_topics import OrderTopics, TopicLister
from config.settings import Settings
from schemas.topics import dlq_topic, orders_topic

log = logging.getLogger(__name__)


def client_options(settings: Settings) -> dict[str, object]:
    """aiokafka connection options (SASL/SSL) shared by admin, producers and consumers."""
    opts: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        opts |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None,
        }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        opts["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    return opts


def topics_for_channels(channels: Iterable[str]) -> list[str]:
    """A channel's input topic and its dead-letter topic."""
    return [name for ch in channels for name in (orders_topic(ch), dlq_topic(orders_topic(ch)))]


async def ensure_topics(settings: Settings, names: Iterable[str]) -> list[str]:
    """Create the missing ones among `names`; returns what was created."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(set(names) - existing)
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(
                    [
                        NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
                        for name in missing
                    ]
                )
            log.info("created topics %s", ", ".join(missing))
        return missing
    finally:
        await admin.close()


def order_topics_watch(settings: Settings) -> OrderTopics:
    """Lists the input topics on the broker over one connection (close it when done)."""
    return OrderTopics(settings, TopicLister(client_options(settings)))


async def list_order_topics(settings: Settings) -> list[str]:
    """Input topics on the broker: the configured pattern, and always a valid channel name."""
    watch = order_topics_watch(settings)
    try:
        return await watch.list()
    finally:
        await watch.close()


async def prepare_order_topics(settings: Settings) -> list[str]:
    """Every input topic a starting worker subscribes to: the configured channels' and those
    already on the broker, each with its output and dead-letter topics in place."""
    await ensure_base_topics(settings)
    configured = {orders_topic(c) for c in settings.channels}
    found = set(await list_order_topics(settings))
    await ensure_topics(settings, topics_for_channels([t.split(".", 1)[1] for t in found]))
    return sorted(configured | found)


async def ensure_base_topics(settings: Settings) -> list[str]:
    return await ensure_topics(
        settings,
        [
            settings.topic_invoices_issued,
            settings.topic_invoices_failed,
            settings.topic_invoices_clearance,
            *topics_for_channels(settings.channels),
        ],
    )
