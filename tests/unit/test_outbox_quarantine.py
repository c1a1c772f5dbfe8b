"""One outbox record the broker refuses for good never blocks the others (issue 10).

A real SQLite outbox; `send` is a fake producer that refuses chosen records the two ways Kafka
does: on `send` itself (aiokafka's own max_request_size check, re-raised by Faust as
ProducerSendError) or later, on the acknowledgement (the broker rejects the whole batch).
Every flush runs under `asyncio.wait_for`: before the fix it retried the bad record forever.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RequestTimedOutError,
)
from faust.exceptions import ProducerSendError
from prometheus_client import REGISTRY

from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Outbox, OutboxRecord
from schemas.deadletter import (
    ORIGINAL_SHA256,
    ORIGINAL_SIZE,
    REFERENCE,
    SOURCE_OFFSET,
    VALUE_REPLACED,
    DeadLetterReason,
    parse_reference,
)
from workers.publisher import OutboxPublisher, Topics, dead_letter_record, record_size
from workers.records import RawRecord
from workers.refusals import refused_for_good

Refuse = Callable[[bytes, bool], BaseException | None]


class FakeProducer:
    """Records what was sent (in order) and whether the broker acknowledged it.

    `on_send(value)` may raise (refused before leaving the producer); `on_ack(value, alone)`
    may return an error for the acknowledgement (`alone`: no other record awaits with it)."""

    def __init__(
        self,
        on_send: Callable[[bytes], None] = lambda _: None,
        on_ack: Refuse = lambda _v, _a: None,
    ) -> None:
        self.on_send = on_send
        self.on_ack = on_ack
        self.sent: list[bytes] = []
        self.acked: list[bytes] = []
        self._queued: list[tuple[bytes, asyncio.Future[Any]]] = []

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list
    ) -> Awaitable[Any]:
        assert value is not None
        self.on_send(value)
        self.sent.append(value)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((value, fut))
        asyncio.get_running_loop().call_soon(self._settle)
        return fut

    def _settle(self) -> None:
        queued, self._queued = self._queued, []
        for value, fut in queued:
            error = self.on_ack(value, len(queued) == 1)
            if error is None:
                self.acked.append(value)
                fut.set_result(None)
            else:
                fut.set_exception(error)


@pytest.fixture
async def sessions(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/outbox.db"
    upgrade(url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


async def queue(sessions, *values: bytes, topic: str = "out") -> None:
    await Ledger(sessions).append_outbox([OutboxRecord(topic, b"k", v) for v in values])


async def flush(publisher: OutboxPublisher) -> int:
    return await asyncio.wait_for(publisher.flush(), 5)


def too_large_on_send(bad: bytes) -> Callable[[bytes], None]:
    def check(value: bytes) -> None:
        if value == bad:  # what Faust raises around aiokafka's max_request_size check
            try:
                raise MessageSizeTooLargeError("The message is 2000000 bytes when serialized")
            except MessageSizeTooLargeError as exc:
                raise ProducerSendError(f"Error while sending: {exc!r}") from exc

    return check


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_record_refused_on_send_is_quarantined_and_later_ones_are_published(
    sessions,
) -> None:
    await queue(sessions, b"r1", b"BIG", b"r3", b"r4")
    await queue(sessions, b"other", topic="elsewhere")
    before = metric("invoice_router_outbox_quarantined_total", topic="out")
    producer = FakeProducer(on_send=too_large_on_send(b"BIG"))
    outbox = Outbox(sessions)

    assert await flush(OutboxPublisher(outbox, producer)) == 4

    assert producer.acked == [b"r1", b"r3", b"r4", b"other"]
    assert await outbox.pending() == []
    [row] = await outbox.quarantined()
    assert row.id == 2 and row.topic == "out" and row.size == len(b"k" + b"BIG")
    assert row.last_error.startswith("MessageSizeTooLargeError")
    assert await outbox.quarantined_count() == 1
    assert metric("invoice_router_outbox_quarantined_total", topic="out") == before + 1
    assert metric("invoice_router_outbox_quarantined_rows") == 1
    # the next flush neither retries it nor waits for it
    assert await flush(OutboxPublisher(outbox, producer)) == 0
    assert producer.sent.count(b"BIG") == 0


async def test_a_batch_the_broker_refuses_is_narrowed_down_to_its_culprit(sessions) -> None:
    """The broker fails the whole batch holding the culprit; the good rows of that batch are
    sent again, and no good row ends up published only before a row queued ahead of it."""
    await queue(sessions, b"r1", b"r2", b"BIG", b"r4", b"r5")

    def on_ack(value: bytes, alone: bool) -> BaseException | None:
        if value == b"BIG" or (value in (b"r2", b"r4") and not alone):
            return MessageSizeTooLargeError()
        return None

    producer = FakeProducer(on_ack=on_ack)
    outbox = Outbox(sessions)
    assert await flush(OutboxPublisher(outbox, producer)) == 4

    assert [r.id for r in await outbox.quarantined()] == [3]
    assert b"BIG" not in producer.acked
    last_copy = {v: i for i, v in enumerate(producer.acked)}
    assert sorted(last_copy, key=last_copy.__getitem__) == [b"r1", b"r2", b"r4", b"r5"]
    assert producer.sent.count(b"BIG") == 2  # in the batch, then alone: never again


async def test_a_broker_outage_is_waited_out_in_order_and_quarantines_nothing(sessions) -> None:
    await queue(sessions, b"r1", b"r2", b"r3")
    failures = [KafkaConnectionError(), RequestTimedOutError(), KafkaTimeoutError()]

    def on_send(value: bytes) -> None:
        if failures:
            try:
                raise failures.pop(0)
            except Exception as exc:
                raise ProducerSendError("Error while sending") from exc

    producer = FakeProducer(on_send=on_send)
    outbox = Outbox(sessions)
    publisher = OutboxPublisher(outbox, producer, max_backoff=0.01)
    assert await flush(publisher) == 3
    assert producer.acked == [b"r1", b"r2", b"r3"]
    assert await outbox.quarantined() == []


async def test_the_backoff_loop_stays_cancellable(sessions) -> None:
    """SIGTERM cancels the flushing task: it must end, not keep retrying."""
    await queue(sessions, b"r1")

    def down(_: bytes) -> None:
        raise KafkaConnectionError()

    task = asyncio.create_task(OutboxPublisher(Outbox(sessions), FakeProducer(down)).flush())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


async def test_requeued_rows_go_out_again_in_their_original_place(sessions) -> None:
    await queue(sessions, b"r1", b"BIG", b"r3")
    outbox = Outbox(sessions)
    await flush(OutboxPublisher(outbox, FakeProducer(on_send=too_large_on_send(b"BIG"))))

    assert await outbox.requeue([99]) == []
    assert await outbox.requeue() == [2]
    assert await outbox.quarantined_count() == 0
    assert [outbox_id for outbox_id, _ in await outbox.pending()] == [2]
    producer = FakeProducer()  # e.g. the limit was raised meanwhile
    assert await flush(OutboxPublisher(outbox, producer)) == 1
    assert producer.acked == [b"BIG"]


def test_permanent_and_retriable_refusals_are_told_apart() -> None:
    def wrapped(exc: BaseException) -> BaseException:
        try:
            raise exc
        except BaseException as inner:
            try:
                raise ProducerSendError("Error while sending") from inner
            except ProducerSendError as outer:
                return outer

    assert refused_for_good(MessageSizeTooLargeError())
    assert refused_for_good(wrapped(MessageSizeTooLargeError()))
    assert refused_for_good(TypeError("value must be bytes"))
    for transient in (KafkaConnectionError(), KafkaTimeoutError(), RequestTimedOutError()):
        assert not refused_for_good(transient)
        assert not refused_for_good(wrapped(transient))
    assert not refused_for_good(RuntimeError("unknown"))  # unknown: wait, as before


REASON = DeadLetterReason("schema_invalid", "value is not an order", "ValidationError")


def source(value: bytes, key: bytes = b"ORD-1", headers: list | None = None) -> RawRecord:
    return RawRecord("orders.x", 3, 1234, key, value, headers or [("ce_id", b"evt-1")])


def test_a_dead_letter_that_fits_carries_the_value_verbatim() -> None:
    value = b"x" * 10_000
    out = dead_letter_record(Topics(max_record_bytes=20_000), source(value), REASON)
    assert out.value == value and out.key == b"ORD-1"
    assert VALUE_REPLACED not in dict(out.headers)


def test_an_oversized_dead_letter_becomes_a_reference_to_its_source() -> None:
    value = json.dumps({"blob": "x" * 2_000_000}).encode()
    out = dead_letter_record(Topics(max_record_bytes=1_048_576), source(value), REASON)

    assert out.topic == "orders.x.dlq" and out.key == b"ORD-1"
    assert record_size(out.key, out.value, out.headers) < 10_000
    ref = parse_reference(out.value)
    assert ref == {
        "original_too_large": True,
        "size": len(value),
        "sha256": hashlib.sha256(value).hexdigest(),
        "topic": "orders.x",
        "partition": 3,
        "offset": 1234,
    }
    headers = dict(out.headers)
    assert headers[VALUE_REPLACED] == REFERENCE.encode()
    assert headers[ORIGINAL_SIZE] == str(len(value)).encode()
    assert headers[ORIGINAL_SHA256] == hashlib.sha256(value).hexdigest().encode()
    assert headers[SOURCE_OFFSET] == b"1234" and headers["ce_id"] == b"evt-1"


def test_a_reference_drops_a_key_and_headers_too_large_to_fit() -> None:
    huge = b"k" * 30_000
    out = dead_letter_record(
        Topics(max_record_bytes=20_000), source(b"v" * 30_000, huge, [("h", huge)]), REASON
    )
    assert out.key is None and "h" not in dict(out.headers)
    assert record_size(out.key, out.value, out.headers) < 20_000 - 1024
    assert parse_reference(out.value)["size"] == 30_000


def test_the_outbox_commands_list_and_requeue_quarantined_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from config.settings import Settings
    from workers import cli, outbox_cli

    url = f"sqlite:///{tmp_path}/cli.db"
    upgrade(url)

    async def setup() -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        await queue(sessions, b"r1", b"BIG", b"r3")
        producer = FakeProducer(on_send=too_large_on_send(b"BIG"))
        await flush(OutboxPublisher(Outbox(sessions), producer))
        await engine.dispose()

    asyncio.run(setup())
    monkeypatch.setattr(outbox_cli, "get_settings", lambda: Settings(database_url=url))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli.main, ["outbox", *args])
        return result.exit_code, result.output

    code, out = run("list-quarantined")
    assert code == 0
    [line, count] = out.splitlines()
    assert line.split("  ")[0] == "2" and "  out  4 bytes  MessageSizeTooLargeError" in line
    assert count == "1 quarantined outbox record(s)"
    assert run("requeue")[0] == 2  # neither ids nor --all
    code, out = run("requeue", "2", "7")
    assert (
        code == 1 and "re-queued 1 record(s): 2" in out and "not quarantined" in out and "7" in out
    )
    assert run("list-quarantined")[1].splitlines() == ["0 quarantined outbox record(s)"]


def test_a_reference_dead_letter_meets_the_published_header_schema() -> None:
    from jsonschema import Draft202012Validator

    from schemas import export

    path = export.PACKAGE_DIR / export.JSON_DIR / "deadletter.headers.json"
    schema = Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))
    value = b"v" * 30_000
    out = dead_letter_record(Topics(max_record_bytes=20_000), source(value), REASON)
    headers = {k: v.decode() for k, v in out.headers}
    assert VALUE_REPLACED in headers
    assert [e.message for e in schema.iter_errors(headers)] == []
    assert list(schema.iter_errors(headers | {ORIGINAL_SHA256: "not-hex"}))
