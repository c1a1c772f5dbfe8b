"""Topic naming: one input topic per sales channel, fixed output topics, `.dlq` siblings."""

from __future__ import annotations

import re

ORDERS_PREFIX = "orders."
ORDERS_TOPIC_PATTERN = re.compile(r"^orders\.[a-z0-9][a-z0-9_-]{0,63}$")
DLQ_SUFFIX = ".dlq"
INVOICES_ISSUED = "invoices.issued"
INVOICES_FAILED = "invoices.failed"
INVOICES_CLEARANCE = "invoices.clearance"


def orders_topic(channel: str) -> str:
    return f"{ORDERS_PREFIX}{channel}"


def channel_of(topic: str) -> str | None:
    """The channel an orders topic carries, or None for any other topic (incl. its DLQ)."""
    return topic[len(ORDERS_PREFIX) :] if ORDERS_TOPIC_PATTERN.match(topic) else None


def dlq_topic(source_topic: str) -> str:
    return f"{source_topic}{DLQ_SUFFIX}"
