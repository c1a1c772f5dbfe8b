"""Start-up of the Kafka side: wait for the broker, then create and list the order topics.

A broker that is down is an outage to wait out (see `waiting`), never a traceback; one that
answers but refuses (authorization, a replication factor above its broker count) is a
configuration error the operator must fix.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from aiokafka.errors import KafkaError, KafkaTimeoutError

from adapters.kafka_admin import prepare_order_topics
from config.settings import Settings
from workers.exit_codes import ExitCode
from workers.startup.refusal import Refusal
from workers.startup.waiting import describe, until_up


def _is_outage(exc: Exception) -> bool:
    if isinstance(exc, KafkaError):
        return exc.retriable or isinstance(exc, KafkaTimeoutError)
    return isinstance(exc, OSError)


@contextlib.contextmanager
def _quiet_client() -> Iterator[None]:
    """aiokafka logs every failed connection at ERROR; while waiting, our one line says it."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def wait_for_order_topics(settings: Settings) -> list[str]:
    """The order topics to subscribe to, once the broker answers (see `prepare_order_topics`)."""
    servers = settings.kafka_bootstrap_servers
    try:
        with _quiet_client():
            return await until_up(
                f"Kafka at {servers}",
                lambda: prepare_order_topics(settings),
                _is_outage,
                attempt_timeout=30,
            )
    except KafkaError as exc:
        raise Refusal(
            ExitCode.KAFKA, f"Kafka at {servers} refused the worker ({describe(exc)})"
        ) from exc
