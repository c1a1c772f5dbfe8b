"""Service functions behind `invoice-router dlq list | show | replay | audit`.

Replay re-publishes a dead-letter record's original key, value and headers to its source topic
(see adapters/kafka_deadletters.py); the issuance ledger makes a replayed order idempotent, so
replaying a record twice cannot issue a second document. Every replay run, dry runs included,
leaves one `ReplayAudit` row. A dead letter whose value was replaced by a reference (too large
to publish) replays the original read back from its source topic, or the run refuses.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sql_select

from adapters.kafka_deadletters import (
    Coordinates,
    DeadLetterError,
    DeadLetterRecord,
    RepublishError,
    dlq_topics,
    read_deadletters,
    read_one,
    republish,
    resolve_references,
)
from config.db import sessions_for
from config.models import ReplayAudit
from config.settings import Settings
from schemas.deadletter import ERROR_CODE, FAILED_AT, REASON
from schemas.topics import DLQ_SUFFIX, dlq_topic

__all__ = [
    "PROGRESS_THRESHOLD",
    "DeadLetterError",
    "DeadLetterFilter",
    "ReplayResult",
    "audit_line",
    "decode_headers",
    "describe",
    "escape_bytes",
    "list_audits",
    "list_line",
    "order_of",
    "pretty_value",
    "replay",
    "select",
    "seller_of",
    "show",
]

PROGRESS_THRESHOLD = 50
"""A replay of more records than this shows a progress bar even when stdout is not a terminal."""

REASON_WIDTH = 80


def escape_bytes(data: bytes | None) -> str:
    """UTF-8 text as is; undecodable bytes as `\\xNN` and control characters escaped."""
    if data is None:
        return "<null>"
    text = data.decode("utf-8", "backslashreplace")
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return "".join(out)


def decode_headers(headers: Iterable[tuple[str, bytes | None]]) -> list[tuple[str, str]]:
    """Header values as text (see escape_bytes), in their original order, duplicates kept."""
    return [(k, escape_bytes(v) if v is not None else "<null>") for k, v in headers]


def _json(value: bytes | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None


def _dig(obj: Any, *path: str) -> str | None:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj if isinstance(obj, str) else None


def seller_of(record: DeadLetterRecord) -> str | None:
    """`data.seller_id` of a JSON value; None for a value that is not JSON or lacks it."""
    return _dig(_json(record.value), "data", "seller_id")


def order_of(record: DeadLetterRecord) -> set[str]:
    """Order ids a record can be found by: `data.order.order_id` and the Kafka key."""
    found = {_dig(_json(record.value), "data", "order", "order_id")}
    if record.key is not None:
        found.add(record.key.decode("utf-8", "backslashreplace"))
    return {x for x in found if x}


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which records to look at. `topics` are DLQ topics (a source topic means its `.dlq`);
    none means every `*.dlq` topic. `since` is inclusive and `until` exclusive, both compared
    with the record's Kafka timestamp (when it was dead-lettered)."""

    topics: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    code: str | None = None
    seller: str | None = None
    order: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise DeadLetterError(f"--{name} needs a time zone, e.g. 2026-11-21T06:00:00Z")
        if self.since and self.until and self.since >= self.until:
            raise DeadLetterError("--since must be earlier than --until")

    @property
    def dlq_topics(self) -> tuple[str, ...]:
        return tuple(t if t.endswith(DLQ_SUFFIX) else dlq_topic(t) for t in self.topics)

    def matches(self, record: DeadLetterRecord) -> bool:
        if self.topics and record.topic not in self.dlq_topics:
            return False
        if self.since and record.timestamp < self.since:
            return False
        if self.until and record.timestamp >= self.until:
            return False
        if self.code is not None and record.header(ERROR_CODE) != self.code:
            return False
        if self.seller is not None and seller_of(record) != self.seller:
            return False
        return self.order is None or self.order in order_of(record)

    def as_json(self) -> dict[str, Any]:
        """What the audit stores: only the filters given."""
        out: dict[str, Any] = {}
        if self.topics:
            out["topics"] = list(self.dlq_topics)
        for name in ("since", "until"):
            if (value := getattr(self, name)) is not None:
                out[name] = value.isoformat()
        for name in ("code", "seller", "order"):
            if (value := getattr(self, name)) is not None:
                out[name] = value
        return out


async def select(settings: Settings, flt: DeadLetterFilter) -> list[DeadLetterRecord]:
    """The dead-letter records matching `flt`, ordered by topic, partition and offset."""
    topics = await dlq_topics(settings, flt.dlq_topics)
    async with aclosing(read_deadletters(settings, topics, since=flt.since)) as records:
        return [r async for r in records if flt.matches(r)]


async def show(settings: Settings, where: str) -> DeadLetterRecord:
    return await read_one(settings, Coordinates.parse(where))


def _key_text(key: bytes | None) -> str:
    return "-" if key is None else escape_bytes(key)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def list_line(record: DeadLetterRecord) -> str:
    """`dlq topic:partition:offset  failed-at  code  source topic  key  reason` (reason cut)."""
    return "  ".join(
        [
            str(record.coordinates),
            record.header(FAILED_AT) or record.timestamp.isoformat(),
            record.header(ERROR_CODE) or "-",
            _source_or_dash(record),
            _key_text(record.key),
            _truncate(record.header(REASON) or "-", REASON_WIDTH),
        ]
    )


def _source_or_dash(record: DeadLetterRecord) -> str:
    try:
        return record.source_topic
    except DeadLetterError:
        return "-"


def describe(record: DeadLetterRecord) -> str:
    """One record in full: coordinates, timestamp, key, every header decoded, and the value
    (pretty-printed JSON, else text with undecodable bytes escaped)."""
    lines = [
        f"record:     {record.coordinates}",
        f"timestamp:  {record.timestamp.isoformat()}",
        f"key:        {_key_text(record.key)}",
        f"replays to: {_source_or_dash(record)}",
    ]
    lines += _reference_line(record)
    lines.append(f"headers ({len(record.headers)}):")
    width = max((len(k) for k, _ in record.headers), default=0)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in decode_headers(record.headers)]
    size = len(record.value) if record.value is not None else 0
    is_json, text = pretty_value(record)
    lines.append(f"value ({size} bytes, {'JSON' if is_json else 'not JSON'}):")
    lines.append(text)
    return "\n".join(lines)


def pretty_value(record: DeadLetterRecord) -> tuple[bool, str]:
    """(is JSON, the value pretty-printed as JSON, else as text with bytes escaped)."""
    parsed = _json(record.value)
    if parsed is not None:
        return True, json.dumps(parsed, indent=2, ensure_ascii=False)
    return False, escape_bytes(record.value)


def _reference_line(record: DeadLetterRecord) -> list[str]:
    try:
        ref = record.reference
    except DeadLetterError as exc:
        return [f"original:   unknown ({exc})"]
    if ref is None:
        return []
    where = f"{ref['topic']}:{ref['partition']}:{ref['offset']}"
    return [
        f"original:   {where} ({ref['size']} bytes, too large to dead-letter: the value below "
        "is a reference; a replay reads the original from there)"
    ]


def default_operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (e.g. a bare container)
        return os.environ.get("USER") or f"uid:{os.getuid()}"


@dataclass(frozen=True)
class ReplayResult:
    audit_id: int
    dry_run: bool
    records: list[DeadLetterRecord]  # replayed (or, in a dry run, that would be)


async def replay(
    settings: Settings,
    records: Sequence[DeadLetterRecord],
    flt: DeadLetterFilter,
    *,
    operator: str,
    dry_run: bool,
    on_published: Callable[[DeadLetterRecord], None] | None = None,
) -> ReplayResult:
    """Re-publish `records` (chosen by `flt`) and audit the run. A dry run publishes nothing
    and is audited as such. The audit row is written before publishing (so a database that
    cannot take it stops the replay) and completed afterwards, also when publishing fails."""
    async with sessions_for(settings.database_url) as sessions:
        async with sessions.begin() as session:
            audit = ReplayAudit(
                operator=operator,
                filters=flt.as_json(),
                dry_run=dry_run,
                status="started",
                record_count=0,
                records=[],
            )
            session.add(audit)
        published: list[DeadLetterRecord] = []
        status, error = "completed", None
        try:
            # before anything is published: a reference whose original is gone stops the run
            resolved = await resolve_references(settings, records)
            if dry_run:
                published = resolved
            else:
                published = await republish(settings, resolved, on_published=on_published)
        except RepublishError as exc:
            published, status, error = exc.published, "failed", str(exc)
            raise
        except Exception as exc:
            status, error = "failed", repr(exc)
            raise
        finally:
            async with sessions.begin() as session:
                row = await session.get(ReplayAudit, audit.id)
                row.status = status
                row.error = error[:1000] if error else None
                row.record_count = len(published)
                row.records = [str(r.coordinates) for r in published]
                row.finished_at = dt.datetime.now(dt.UTC)
    return ReplayResult(audit.id, dry_run, published)


async def list_audits(settings: Settings, limit: int = 20) -> list[ReplayAudit]:
    """The latest replay runs, newest first."""
    async with sessions_for(settings.database_url) as sessions, sessions() as session:
        rows = await session.scalars(
            sql_select(ReplayAudit).order_by(ReplayAudit.id.desc()).limit(limit)
        )
        return list(rows)


def audit_line(row: ReplayAudit) -> str:
    """`#id  started  operator  replay|dry-run  status  N record(s)  filters`."""
    filters = " ".join(
        f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in row.filters.items()
    )
    return "  ".join(
        [
            f"#{row.id}",
            row.started_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            row.operator,
            "dry-run" if row.dry_run else "replay",
            row.status + (f" ({row.error})" if row.error else ""),
            f"{row.record_count} record(s)",
            filters or "(no filters)",
        ]
    )
