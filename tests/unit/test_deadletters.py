"""Dead-letter tooling without a broker: filters, header decoding, formatting, and the replay
audit on a real SQLite database with the Kafka publishing step replaced."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters import kafka_deadletters as kd
from adapters.kafka_deadletters import (
    REPLAYED_FROM,
    Coordinates,
    DeadLetterError,
    DeadLetterRecord,
    RepublishError,
)
from config.db import create_engine, session_factory, upgrade
from config.models import ReplayAudit
from config.settings import Settings
from schemas.deadletter import DeadLetterReason, deadletter_headers
from workers import deadletters as svc
from workers.deadletters import DeadLetterFilter

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def event(seller: str, order: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"evt-{order}",
            "type": "order.completed",
            "data": {"seller_id": seller, "channel": "ovoko", "order": {"order_id": order}},
        }
    ).encode()


def record(
    *,
    value: bytes | None,
    key: bytes | None = b"K-1",
    code: str = "schema_invalid",
    topic: str = "orders.ovoko.dlq",
    partition: int = 0,
    offset: int = 7,
    at: dt.datetime = T0,
    original: list[tuple[str, bytes]] | None = None,
    reason: str = "order.completed.data.order.lines.0.vat_rate: Field required",
) -> DeadLetterRecord:
    headers = deadletter_headers(
        original if original is not None else [("ce_id", b"evt-1")],
        DeadLetterReason(code, reason, "ValidationError"),
        topic=topic.removesuffix(".dlq"),
        partition=2,
        offset=1204,
        group="invoice-router",
        attempts=1,
        failed_at=at,
    )
    return DeadLetterRecord(topic, partition, offset, at, key, value, headers)


SALE = record(value=event("seller-a", "OVK-1"), key=b"OVK-1")
OTHER = record(value=event("seller-b", "OVK-2"), key=b"OVK-2", code="channel_mismatch", offset=8)
MALFORMED = record(value=b'{"data": {"seller_id": "seller-a", \xff', key=b"OVK-3", offset=9)
KEYLESS = record(value=event("seller-a", "OVK-4"), key=None, offset=10)


def names(flt: DeadLetterFilter, records=(SALE, OTHER, MALFORMED, KEYLESS)) -> list[int]:
    return [r.offset for r in records if flt.matches(r)]


def test_each_filter_selects_the_expected_records() -> None:
    assert names(DeadLetterFilter()) == [7, 8, 9, 10]
    assert names(DeadLetterFilter(code="schema_invalid")) == [7, 9, 10]
    assert names(DeadLetterFilter(code="channel_mismatch")) == [8]
    # a malformed value cannot name its seller, so it never matches a seller filter
    assert names(DeadLetterFilter(seller="seller-a")) == [7, 10]
    assert names(DeadLetterFilter(order="OVK-3")) == [9]  # by key only (value is malformed)
    assert names(DeadLetterFilter(order="OVK-4")) == [10]  # by value only (no key)
    assert names(DeadLetterFilter(order="OVK-2", seller="seller-a")) == []
    assert names(DeadLetterFilter(topics=("orders.ovoko",))) == [7, 8, 9, 10]  # source topic
    assert names(DeadLetterFilter(topics=("orders.allegro.dlq",))) == []


def test_time_range_is_since_inclusive_until_exclusive() -> None:
    early = record(value=b"{}", offset=1, at=T0)
    late = record(value=b"{}", offset=2, at=T0 + dt.timedelta(hours=1))
    both = (early, late)
    assert names(DeadLetterFilter(since=T0), both) == [1, 2]
    assert names(DeadLetterFilter(since=T0 + dt.timedelta(seconds=1)), both) == [2]
    assert names(DeadLetterFilter(until=T0 + dt.timedelta(hours=1)), both) == [1]
    assert names(DeadLetterFilter(until=T0), both) == []


def test_filter_refuses_naive_times_and_empty_ranges() -> None:
    with pytest.raises(DeadLetterError, match="--since needs a time zone"):
        DeadLetterFilter(since=dt.datetime(2026, 11, 20))
    with pytest.raises(DeadLetterError, match="--since must be earlier than --until"):
        DeadLetterFilter(since=T0, until=T0)


def test_filter_as_json_keeps_only_what_was_given() -> None:
    flt = DeadLetterFilter(topics=("orders.ovoko",), since=T0, code="malformed_json")
    assert flt.as_json() == {
        "topics": ["orders.ovoko.dlq"],
        "since": "2026-11-20T10:00:00+00:00",
        "code": "malformed_json",
    }
    assert DeadLetterFilter().as_json() == {}


def test_seller_and_order_parsing_tolerates_any_value() -> None:
    assert svc.seller_of(SALE) == "seller-a"
    assert svc.seller_of(MALFORMED) is None
    assert svc.seller_of(record(value=None)) is None
    assert svc.seller_of(record(value=b'["not", "an", "object"]')) is None
    assert svc.seller_of(record(value=b'{"data": {"seller_id": 42}}')) is None
    assert svc.order_of(SALE) == {"OVK-1"}
    assert svc.order_of(MALFORMED) == {"OVK-3"}
    assert svc.order_of(KEYLESS) == {"OVK-4"}
    assert svc.order_of(record(value=event("s", "A"), key=b"B")) == {"A", "B"}


def test_header_decoding_escapes_what_is_not_text() -> None:
    headers = [("ce_id", b"evt-1"), ("bin", b"\x00\xffab"), ("pl", "Łódź".encode()), ("n", None)]
    assert svc.decode_headers(headers) == [
        ("ce_id", "evt-1"),
        ("bin", "\\x00\\xffab"),
        ("pl", "Łódź"),
        ("n", "<null>"),
    ]
    assert svc.escape_bytes(b"a\nb\tc\x7f") == "a\\nb\\tc\\x7f"
    assert svc.escape_bytes(None) == "<null>"


def test_record_headers_source_topic_and_replay_headers() -> None:
    original = [("traceparent", b"00-abc-01"), ("ce_id", b"evt-1"), ("ce_id", b"evt-1b")]
    rec = record(value=b"x", original=original, topic="orders.ovoko.dlq", partition=1, offset=5)
    assert rec.header("dlq.error.code") == "schema_invalid"
    assert rec.header("dlq.source.offset") == "1204"
    assert rec.header("ce_id") == "evt-1b"  # the last one wins
    assert rec.header("missing") is None
    assert rec.source_topic == "orders.ovoko"
    assert rec.replay_headers() == [*original, (REPLAYED_FROM, b"orders.ovoko.dlq:1:5")]
    bare = DeadLetterRecord("orders.shop.dlq", 0, 1, T0, None, b"x", [])
    assert bare.source_topic == "orders.shop"
    with pytest.raises(DeadLetterError, match=r"no dlq\.source\.topic header"):
        _ = DeadLetterRecord("weird", 0, 1, T0, None, b"x", []).source_topic


def test_coordinates_parse() -> None:
    assert Coordinates.parse("orders.ovoko.dlq:2:1204") == Coordinates("orders.ovoko.dlq", 2, 1204)
    assert str(Coordinates("t", 0, 3)) == "t:0:3"
    for bad, message in [
        ("orders.ovoko.dlq", "expected TOPIC:PARTITION:OFFSET"),
        (":1:2", "expected TOPIC:PARTITION:OFFSET"),
        ("t:x:2", "with numbers"),
        ("t:1:-2", "must not be negative"),
    ]:
        with pytest.raises(DeadLetterError, match=message):
            Coordinates.parse(bad)


def test_list_line_and_describe() -> None:
    long_reason = "x" * 200
    rec = record(value=b"{bad \xff", key=b"OVK-3", reason=long_reason, code="malformed_json")
    assert svc.list_line(rec) == (
        "orders.ovoko.dlq:0:7  2026-11-20T10:00:00+00:00  malformed_json  orders.ovoko  OVK-3  "
        + "x" * 79
        + "…"
    )
    assert svc.list_line(KEYLESS).split("  ")[4] == "-"
    text = svc.describe(rec)
    assert "record:     orders.ovoko.dlq:0:7" in text
    assert "replays to: orders.ovoko" in text
    assert "headers (10):" in text
    assert "  dlq.error.code        malformed_json" in text
    assert text.endswith("value (6 bytes, not JSON):\n{bad \\xff")
    pretty = svc.describe(SALE)
    assert '"order_id": "OVK-1"' in pretty
    assert "value (" in pretty and "bytes, JSON):\n{\n" in pretty


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path}/dlq.db"
    upgrade(url)
    return Settings(database_url=url, kafka_bootstrap_servers="127.0.0.1:1")


async def audits(settings: Settings) -> list[ReplayAudit]:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return list(await session.scalars(select(ReplayAudit).order_by(ReplayAudit.id)))
    finally:
        await engine.dispose()


async def test_replay_audits_dry_runs_without_publishing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def must_not_publish(*args, **kwargs):
        raise AssertionError("a dry run published")

    monkeypatch.setattr(svc, "republish", must_not_publish)
    flt = DeadLetterFilter(code="schema_invalid")
    result = await svc.replay(settings, [SALE, MALFORMED], flt, operator="ops", dry_run=True)
    [row] = await audits(settings)
    assert (result.audit_id, result.dry_run, result.records) == (row.id, True, [SALE, MALFORMED])
    assert (row.operator, row.dry_run, row.status, row.record_count) == (
        "ops",
        True,
        "completed",
        2,
    )
    assert row.records == ["orders.ovoko.dlq:0:7", "orders.ovoko.dlq:0:9"]
    assert row.filters == {"code": "schema_invalid"}
    assert row.finished_at is not None and row.error is None
    assert svc.audit_line(row).split("  ")[2:] == [
        "ops",
        "dry-run",
        "completed",
        "2 record(s)",
        "code=schema_invalid",
    ]


async def test_replay_audit_records_what_was_published_before_a_failure(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    async def half(settings, records, *, on_published=None):
        on_published(records[0])
        seen.append(str(records[0].coordinates))
        raise RepublishError("publishing stopped after 1 of 2 records: boom", [records[0]])

    monkeypatch.setattr(svc, "republish", half)
    with pytest.raises(RepublishError, match="after 1 of 2"):
        await svc.replay(
            settings,
            [SALE, OTHER],
            DeadLetterFilter(topics=("orders.ovoko",)),
            operator="alice",
            dry_run=False,
            on_published=lambda r: seen.append("bar"),
        )
    [row] = await audits(settings)
    assert seen == ["bar", "orders.ovoko.dlq:0:7"]
    assert (row.operator, row.dry_run, row.status, row.record_count) == (
        "alice",
        False,
        "failed",
        1,
    )
    assert row.records == ["orders.ovoko.dlq:0:7"]
    assert row.error == "publishing stopped after 1 of 2 records: boom"
    assert row.filters == {"topics": ["orders.ovoko.dlq"]}
    rows = await svc.list_audits(settings)
    assert [r.id for r in rows] == [row.id]


async def test_republish_refuses_missing_or_dead_letter_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def topics(settings):
        return {"orders.ovoko", "orders.ovoko.dlq"}

    monkeypatch.setattr(kd, "list_topics", topics)
    loop = DeadLetterRecord(
        "orders.x.dlq", 0, 1, T0, None, b"x", [("dlq.source.topic", b"orders.ovoko.dlq")]
    )
    with pytest.raises(DeadLetterError, match=r"into a dead-letter topic: orders\.ovoko\.dlq"):
        await kd.republish(Settings(), [loop])
    gone = DeadLetterRecord("orders.gone.dlq", 0, 1, T0, None, b"x", [])
    with pytest.raises(DeadLetterError, match=r"source topic does not exist: orders\.gone "):
        await kd.republish(Settings(), [gone])
