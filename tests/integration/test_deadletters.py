"""`invoice-router dlq list | show | replay | audit` over a real broker and PostgreSQL.

Dead-letter records are produced the way the worker writes them (headers built by
`schemas.deadletter.deadletter_headers`) to this test's own `orders.dl-<uid>.dlq` topic, with
Kafka timestamps an hour apart so the time filters have something to tell apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from click.testing import CliRunner
from sqlalchemy import select

from config.db import create_engine, session_factory, upgrade
from config.models import ReplayAudit
from config.settings import Settings
from schemas.deadletter import DeadLetterReason, Headers, deadletter_headers
from tests.integration.harness import create_topics
from workers import cli, dlq_cli
from workers import deadletters as svc

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TIMES = [NOW - dt.timedelta(hours=h) for h in (4, 3, 2, 1)]
MALFORMED_VALUE = b'{"specversion": "1.0", "id": "evt-x", \xff\x00'
BINARY_HEADER = b"\x00\xfe\xff"


@dataclass
class Original:
    key: bytes | None
    value: bytes
    headers: Headers
    code: str
    at: dt.datetime


@dataclass
class Dlq:
    settings: Settings
    uid: str
    source: str
    topic: str
    originals: list[Original]
    coords: list[str]  # of originals, same order

    def run(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli.main, ["dlq", *args], catch_exceptions=False)
        return result.exit_code, result.output


def event(seller: str, order: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"evt-{order}",
            "source": "urn:connector:test",
            "type": "order.completed",
            "subject": order,
            "time": "2026-11-20T10:30:00+00:00",
            "dataschema": "urn:invoice-router:schema:order.completed:v1",
            "data": {"seller_id": seller, "channel": "dl", "order": {"order_id": order}},
        }
    ).encode()


async def _produce(bootstrap: str, topic: str, source: str, originals: list[Original]) -> list[str]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    coords = []
    try:
        for i, o in enumerate(originals):
            headers = deadletter_headers(
                o.headers,
                DeadLetterReason(o.code, f"reason {i} for {o.code}", "ValueError"),
                topic=source,
                partition=0,
                offset=100 + i,
                group="invoice-router",
                attempts=1,
                failed_at=o.at,
            )
            meta = await producer.send_and_wait(
                topic,
                o.value,
                key=o.key,
                headers=headers,
                partition=i % 2,
                timestamp_ms=int(o.at.timestamp() * 1000),
            )
            coords.append(f"{topic}:{meta.partition}:{meta.offset}")
    finally:
        await producer.stop()
    return coords


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes, Headers]]:
    """Everything on `topic` (2 partitions) up to its current end, with headers in order."""

    async def run() -> list[tuple[bytes | None, bytes, Headers]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in (0, 1)]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            # an explicit seek: seek_to_beginning can lose a race with the initial reset
            for tp, start in (await consumer.beginning_offsets(parts)).items():
                consumer.seek(tp, start)
            out = []
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for msgs in batch.values():
                    out += [(m.key, m.value, list(m.headers)) for m in msgs]
            return out
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(run(), 30))


async def _audits(url: str) -> list[ReplayAudit]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return list(await session.scalars(select(ReplayAudit).order_by(ReplayAudit.id)))
    finally:
        await engine.dispose()


def audits(url: str) -> list[ReplayAudit]:
    return asyncio.run(_audits(url))


@pytest.fixture
def dlq(kafka_bootstrap: str, postgres_url: str, uid: str, monkeypatch) -> Dlq:
    source = f"orders.dl-{uid}"
    topic = f"{source}.dlq"
    create_topics(kafka_bootstrap, [source, topic], partitions=2)
    upgrade(postgres_url)
    originals = [
        Original(
            f"ORD-1-{uid}".encode(),
            event(f"seller-a-{uid}", f"ORD-1-{uid}"),
            [("ce_id", b"evt-1"), ("traceparent", b"00-4bf92f35-00f067aa-01")],
            "schema_invalid",
            TIMES[0],
        ),
        Original(
            f"ORD-2-{uid}".encode(),
            event(f"seller-b-{uid}", f"ORD-2-{uid}"),
            [("ce_id", b"evt-2")],
            "channel_mismatch",
            TIMES[1],
        ),
        Original(
            f"ORD-3-{uid}".encode(),
            MALFORMED_VALUE,
            [("bin", BINARY_HEADER), ("ce_id", b"evt-3")],
            "malformed_json",
            TIMES[2],
        ),
        Original(
            None,
            event(f"seller-a-{uid}", f"ORD-4-{uid}"),
            [],
            "schema_invalid",
            TIMES[3],
        ),
    ]
    coords = asyncio.run(_produce(kafka_bootstrap, topic, source, originals))
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, database_url=postgres_url)
    monkeypatch.setattr(dlq_cli, "get_settings", lambda: settings)
    return Dlq(settings, uid, source, topic, originals, coords)


def listed(output: str) -> list[str]:
    """The coordinates column of `dlq list` output (the count line goes to stderr, also here)."""
    return [line.split("  ")[0] for line in output.splitlines() if ":" in line.split("  ")[0]]


def test_list_shows_one_line_per_record_with_each_field(dlq: Dlq) -> None:
    code, out = dlq.run("list", "--topic", dlq.topic)
    assert code == 0
    assert listed(out) == sorted(dlq.coords, key=lambda c: (int(c.split(":")[1]), c))
    assert out.splitlines()[-1] == "4 dead-letter record(s)"
    line = next(x for x in out.splitlines() if x.startswith(dlq.coords[2] + "  "))
    assert line.split("  ") == [
        dlq.coords[2],
        TIMES[2].isoformat(),
        "malformed_json",
        dlq.source,
        f"ORD-3-{dlq.uid}",
        "reason 2 for malformed_json",
    ]
    keyless = next(x for x in out.splitlines() if x.startswith(dlq.coords[3] + "  "))
    assert keyless.split("  ")[4] == "-"


def test_list_filters(dlq: Dlq) -> None:
    c = dlq.coords
    uid = dlq.uid

    def only(*args: str) -> set[str]:
        code, out = dlq.run("list", "--topic", dlq.topic, *args)
        assert code == 0, out
        return set(listed(out))

    assert only("--code", "schema_invalid") == {c[0], c[3]}
    assert only("--code", "malformed_json") == {c[2]}
    assert only("--code", "no_such_code") == set()
    # the malformed value cannot name its seller: it never matches a seller filter
    assert only("--seller", f"seller-a-{uid}") == {c[0], c[3]}
    assert only("--seller", f"seller-b-{uid}") == {c[1]}
    assert only("--order", f"ORD-3-{uid}") == {c[2]}  # by key (value is malformed)
    assert only("--order", f"ORD-4-{uid}") == {c[3]}  # by value (no key)
    assert only("--since", TIMES[1].isoformat(), "--until", TIMES[3].isoformat()) == {c[1], c[2]}
    assert only("--since", TIMES[3].isoformat()) == {c[3]}
    assert only("--until", TIMES[1].isoformat()) == {c[0]}
    assert only("--code", "schema_invalid", "--since", TIMES[1].isoformat()) == {c[3]}
    # the source topic names its DLQ; without --topic every *.dlq topic is read
    code, out = dlq.run("list", "--topic", dlq.source)
    assert set(listed(out)) == set(c)
    code, out = dlq.run("list", "--seller", f"seller-a-{uid}", "--since", TIMES[0].isoformat())
    assert (code, set(listed(out))) == (0, {c[0], c[3]})


def test_list_errors_are_one_line(dlq: Dlq) -> None:
    code, out = dlq.run("list", "--topic", f"orders.nope-{dlq.uid}")
    assert (code, out) == (1, f"Error: no such topic: orders.nope-{dlq.uid}.dlq\n")
    code, out = dlq.run("list", "--since", "yesterday")
    assert code == 2 and "'yesterday' is not an ISO 8601 time" in out
    code, out = dlq.run("list", "--since", TIMES[1].isoformat(), "--until", TIMES[0].isoformat())
    assert (code, out) == (1, "Error: --since must be earlier than --until\n")


def test_show_prints_headers_and_value(dlq: Dlq) -> None:
    code, out = dlq.run("show", dlq.coords[0])
    assert code == 0
    lines = out.splitlines()
    assert lines[:4] == [
        f"record:     {dlq.coords[0]}",
        f"timestamp:  {TIMES[0].isoformat()}",
        f"key:        ORD-1-{dlq.uid}",
        f"replays to: {dlq.source}",
    ]
    assert "headers (11):" in lines
    assert "  traceparent           00-4bf92f35-00f067aa-01" in lines
    assert "  dlq.error.code        schema_invalid" in lines
    assert f"  dlq.source.topic      {dlq.source}" in lines
    assert "  dlq.source.offset     100" in lines
    value_at = next(i for i, x in enumerate(lines) if x.startswith("value ("))
    assert lines[value_at] == f"value ({len(dlq.originals[0].value)} bytes, JSON):"
    assert json.loads("\n".join(lines[value_at + 1 :])) == json.loads(dlq.originals[0].value)
    assert f'    "seller_id": "seller-a-{dlq.uid}",' in lines

    code, out = dlq.run("show", dlq.coords[2])
    assert code == 0
    assert "  bin                   \\x00\\xfe\\xff" in out.splitlines()
    assert out.endswith(
        f"value ({len(MALFORMED_VALUE)} bytes, not JSON):\n"
        '{"specversion": "1.0", "id": "evt-x", \\xff\\x00\n'
    )

    topic, partition, _ = dlq.coords[0].rsplit(":", 2)
    code, out = dlq.run("show", f"{topic}:{partition}:99")
    assert code == 1
    assert out == f"Error: no record at {topic}:{partition}:99 (the partition holds offsets 0..1)\n"


def test_dry_run_publishes_nothing_and_is_audited(dlq: Dlq) -> None:
    code, out = dlq.run("replay", "--topic", dlq.topic, "--dry-run", "--operator", "bob")
    assert code == 0
    would = [x.removeprefix("would replay ").split("  ")[0] for x in out.splitlines()[:-1]]
    assert set(would) == set(dlq.coords)
    assert out.splitlines()[-1].startswith(
        f"dry run: 4 record(s) would be replayed to {dlq.source}; nothing was published (audit #"
    )
    assert read_topic(dlq.settings.kafka_bootstrap_servers, dlq.source) == []
    [row] = audits(dlq.settings.database_url)
    assert (row.operator, row.dry_run, row.status, row.record_count) == (
        "bob",
        True,
        "completed",
        4,
    )
    assert set(row.records) == set(dlq.coords)
    assert row.filters == {"topics": [dlq.topic]}


def test_replay_republishes_original_key_value_headers_and_audits(
    dlq: Dlq, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(svc, "PROGRESS_THRESHOLD", 1)  # show the bar for 2 records
    code, out = dlq.run(
        "replay", "--topic", dlq.topic, "--code", "schema_invalid", "--yes", "--operator", "alice"
    )
    assert code == 0, out
    assert "replaying" in out  # the progress bar's label
    assert out.splitlines()[-1].startswith(f"replayed 2 record(s) to {dlq.source} (audit #")

    got = read_topic(dlq.settings.kafka_bootstrap_servers, dlq.source)
    want = {
        (o.key, o.value, (*o.headers, ("dlq.replayed.from", c.encode())))
        for o, c in zip(dlq.originals, dlq.coords, strict=True)
        if o.code == "schema_invalid"
    }
    assert {(k, v, tuple(h)) for k, v, h in got} == want
    assert len(got) == 2

    [row] = audits(dlq.settings.database_url)
    assert (row.operator, row.dry_run, row.status, row.record_count, row.error) == (
        "alice",
        False,
        "completed",
        2,
        None,
    )
    assert sorted(row.records) == sorted([dlq.coords[0], dlq.coords[3]])
    assert row.filters == {"topics": [dlq.topic], "code": "schema_invalid"}
    assert row.finished_at >= row.started_at

    code, out = dlq.run("audit", "--records")
    assert code == 0
    first, *records = out.splitlines()
    assert first.split("  ")[0] == f"#{row.id}"
    assert first.split("  ")[2:] == [
        "alice",
        "replay",
        "completed",
        "2 record(s)",
        f"topics={dlq.topic} code=schema_invalid",
    ]
    assert records == [f"  {c}" for c in row.records]


def test_replay_of_a_malformed_record_sends_the_raw_bytes(dlq: Dlq) -> None:
    code, out = dlq.run("replay", "--topic", dlq.topic, "--order", f"ORD-3-{dlq.uid}", "--yes")
    assert code == 0, out
    assert read_topic(dlq.settings.kafka_bootstrap_servers, dlq.source) == [
        (
            f"ORD-3-{dlq.uid}".encode(),
            MALFORMED_VALUE,
            [
                ("bin", BINARY_HEADER),
                ("ce_id", b"evt-3"),
                ("dlq.replayed.from", dlq.coords[2].encode()),
            ],
        )
    ]
    [row] = audits(dlq.settings.database_url)
    assert (row.record_count, row.records, row.status) == (1, [dlq.coords[2]], "completed")


def test_replay_without_yes_is_refused_when_not_interactive(dlq: Dlq) -> None:
    code, out = dlq.run("replay", "--topic", dlq.topic)
    assert (code, out) == (
        1,
        "Error: not replaying 4 record(s) without confirmation: pass --yes "
        "(or --dry-run to only look)\n",
    )
    code, out = dlq.run("replay", "--topic", dlq.topic, "--code", "nothing_like_this", "--yes")
    assert (code, out) == (0, "no matching dead-letter records: nothing to replay\n")
    assert read_topic(dlq.settings.kafka_bootstrap_servers, dlq.source) == []
    assert audits(dlq.settings.database_url) == []
    assert dlq.run("audit") == (0, "no replay runs recorded\n")


def test_replay_to_a_missing_source_topic_fails_and_is_audited(dlq: Dlq) -> None:
    gone = f"orders.gone-{dlq.uid}"
    [coord] = asyncio.run(
        _produce(
            dlq.settings.kafka_bootstrap_servers,
            dlq.topic,
            gone,
            [Original(b"K", b"{}", [], "internal_error", NOW)],
        )
    )
    code, out = dlq.run("replay", "--topic", dlq.topic, "--code", "internal_error", "--yes")
    assert code == 1
    assert out == (
        f"Error: source topic does not exist: {gone} "
        "(create it with `invoice-router topics ensure --channel <channel>`)\n"
    )
    [row] = audits(dlq.settings.database_url)
    assert (row.status, row.record_count, row.records) == ("failed", 0, [])
    assert row.error.startswith("DeadLetterError('source topic does not exist")
    code, out = dlq.run("list", "--topic", dlq.topic, "--code", "internal_error")
    assert listed(out) == [coord]
