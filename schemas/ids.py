"""Deterministic event ids.

An output event's id is derived from the business fact it reports, so a redelivered order
(Kafka at-least-once) yields the same id and consumers can dedupe on it.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c7c1e-3b5e-5d2a-9a57-0c1a5e1d7a10")


def business_key(
    seller_id: str, channel: str, order_id: str, document_kind: str | None, refund_id: str | None
) -> str:
    """The identity of one legal document: at most one exists per key."""
    return "|".join((seller_id, channel, order_id, document_kind or "-", refund_id or "-"))


def output_event_id(event_type: str, key: str) -> str:
    """UUIDv5 of (event type, business key): stable across redeliveries and workers."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_type}|{key}"))
