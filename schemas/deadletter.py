"""Dead-letter record contract: original key, value and headers byte for byte, plus reason headers.

Ops replay a record by re-publishing key, value and the original headers (those without the
`dlq.` prefix) to `dlq.source.topic`. A record too large for the producer is dead-lettered as a
*reference* instead (`dlq.value.replaced: reference`): its value is a small JSON object naming
the source record (still on its topic until retention removes it) with its size and SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

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
VALUE_REPLACED = "dlq.value.replaced"  # `reference`: the value is a `reference_value`
ORIGINAL_SIZE = "dlq.original.size"  # bytes of the original value
ORIGINAL_SHA256 = "dlq.original.sha256"  # hex digest of the original value
REFERENCE = "reference"

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


def reference_value(value: bytes | None, *, topic: str, partition: int, offset: int) -> bytes:
    """What replaces a value too large to dead-letter: where to read it, and how to check it."""
    data = value or b""
    return json.dumps(
        {
            "original_too_large": True,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "topic": topic,
            "partition": partition,
            "offset": offset,
        }
    ).encode()


def reference_headers(value: bytes | None) -> Headers:
    """The headers that mark a dead letter whose value is a `reference_value`."""
    data = value or b""
    return [
        (VALUE_REPLACED, REFERENCE.encode()),
        (ORIGINAL_SIZE, str(len(data)).encode()),
        (ORIGINAL_SHA256, hashlib.sha256(data).hexdigest().encode()),
    ]


def parse_reference(value: bytes | None) -> dict[str, Any] | None:
    """The reference a replaced dead letter carries, or None when the value is not one."""
    try:
        ref = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(ref, dict) or ref.get("original_too_large") is not True:
        return None
    fields = {"topic": str, "partition": int, "offset": int, "size": int, "sha256": str}
    if not all(isinstance(ref.get(k), t) for k, t in fields.items()):
        return None
    return ref
