"""Dead-letter record contract: original key, value and headers byte for byte, plus reason headers.

Ops replay a record by re-publishing key, value and the original headers (those without the
`dlq.` prefix) to `dlq.source.topic`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

HEADER_PREFIX = "dlq."
REASON = "dlq.reason"
ERROR_CODE = "dlq.error.code"
EXCEPTION_CLASS = "dlq.exception.class"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
CONSUMER_GROUP = "dlq.consumer.group"
FAILED_AT = "dlq.failed.at"
ATTEMPTS = "dlq.attempts"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetterReason:
    code: str  # e.g. "malformed_json", "schema_invalid"
    message: str  # human-readable, bounded; never the record's personal data
    exception_class: str


def deadletter_headers(
    original: Headers,
    reason: DeadLetterReason,
    *,
    topic: str,
    partition: int,
    offset: int,
    group: str,
    attempts: int,
    failed_at: dt.datetime,
) -> Headers:
    """Original headers first (unchanged), then ours; earlier `dlq.*` headers are replaced."""
    kept = [(k, v) for k, v in original if not k.startswith(HEADER_PREFIX)]
    ours = {
        REASON: reason.message[:4000],
        ERROR_CODE: reason.code,
        EXCEPTION_CLASS: reason.exception_class,
        SOURCE_TOPIC: topic,
        SOURCE_PARTITION: str(partition),
        SOURCE_OFFSET: str(offset),
        CONSUMER_GROUP: group,
        FAILED_AT: failed_at.isoformat(),
        ATTEMPTS: str(attempts),
    }
    return kept + [(k, v.encode()) for k, v in ours.items()]


def original_headers(headers: Headers) -> Headers:
    """What a replay sends: the producer's headers without ours."""
    return [(k, v) for k, v in headers if not k.startswith(HEADER_PREFIX)]
