"""Router and issuance rules over a real SQLite ledger/outbox and an in-memory provider fake."""

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from config.apply import apply_config, load_config
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Outbox, Source
from config.models import Issuance, ProviderConnection
from config.secrets import SecretBox
from config.store import ConfigStore
from domain.documents import sales_document
from domain.ledger import LedgerKey, RetrySchedule, Slot, State
from domain.ports import ProviderAuthError, ProviderInDoubt, ProviderUnavailable
from schemas.invoices import DocumentKind, FailureClass, FailureCode
from tests import factories as f
from tests.fakes import FakeProvider
from tests.fakes import SingleProviderRegistry as Registry
from workers.issuance import IssuanceService
from workers.publisher import Topics
from workers.records import DeadLettered, Failed, Issued, Parked, RawRecord, Skipped
from workers.router import OrderRouter, ledger_key, parse

BOX = SecretBox([SecretBox.new_key()])

CONFIG = """
sellers:
  - id: s1
    name: Seller One
    connections:
      - name: main
        provider: fakturownia
        credentials: {api_token: t}
        options: {account: acme, receipts_enabled: true}
    channels:
      - {channel: ovoko, connection: main, target: "101", send_by_email: true}
      - {channel: allegro, connection: main, target: "102", auto_generate: false}
"""
TOPICS = Topics("out.issued", "out.failed", "group")


class Env:
    def __init__(self, sessions, provider: FakeProvider, schedule: str) -> None:
        self.sessions = sessions
        self.provider = provider
        self.store = ConfigStore(sessions, BOX, ttl=0)
        self.ledger = Ledger(sessions, lease_seconds=30)
        service = IssuanceService(
            self.store,
            Registry(provider),
            self.ledger,
            TOPICS,
            RetrySchedule.parse(schedule),
            lambda: dt.datetime.now(dt.UTC),
        )
        self.router = OrderRouter(self.ledger, service, TOPICS)
        self.outbox = Outbox(sessions)

    async def retry_due(self) -> list:
        return [await self.router.retry(e) for e in await self.ledger.due()]

    async def published(self) -> list[tuple[str, dict | bytes]]:
        out = []
        for _, rec in await self.outbox.pending(1000):
            value = json.loads(rec.value) if rec.topic.startswith("out.") else rec.value
            out.append((rec.topic, value))
        return out


@pytest.fixture
async def env(tmp_path: Path, request: pytest.FixtureRequest) -> Env:
    schedule = getattr(request, "param", "0s,0s")
    url = f"sqlite:///{tmp_path}/cfg.db"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    await apply_config(sessions, load_config(CONFIG), BOX)
    yield Env(sessions, FakeProvider(), schedule)
    await engine.dispose()


def record(
    body: object, topic: str = "orders.ovoko", raw: bytes | None = None, offset: int = 7
) -> RawRecord:
    value = raw if raw is not None else json.dumps(body).encode()
    return RawRecord(topic, 0, offset, b"k", value, [("trace", b"1")])


async def test_b2c_order_gets_a_receipt_and_b2b_an_invoice(env: Env) -> None:
    b2c = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    b2b = await env.router.route(record(f.completed("s1", "ovoko", f.order("B", company=True))))
    assert isinstance(b2c, Issued) and b2c.event.data.document.kind is DocumentKind.RECEIPT
    assert isinstance(b2b, Issued) and b2b.event.data.document.kind is DocumentKind.INVOICE
    request, _ = env.provider.documents["ovoko:B"]
    assert request.target == "101" and request.buyer.tax_id.value == f.VALID_NIP
    assert [t for t, _ in await env.published()] == ["out.issued", "out.issued"]


async def test_redelivery_reemits_the_stored_event_without_calling_the_provider(env: Env) -> None:
    body = f.completed("s1", "ovoko", f.order("A"))
    first = await env.router.route(record(body))
    second = await env.router.route(record(body, offset=99))
    assert env.provider.issue_calls == 1 and len(env.provider.emails) == 1
    assert first.event == second.event  # same id, same payload (sent_to_buyer included)
    published = await env.published()
    assert published[0] == published[1]


async def test_unconfigured_channel_and_auto_generate_off(env: Env) -> None:
    missing = await env.router.route(
        record(f.completed("s1", "ebay", f.order("A")), topic="orders.ebay")
    )
    off = await env.router.route(
        record(f.completed("s1", "allegro", f.order("B")), topic="orders.allegro")
    )
    assert isinstance(missing, Failed)
    assert missing.event.data.failure.code is FailureCode.CHANNEL_NOT_CONFIGURED
    assert isinstance(off, Skipped) and off.why == "auto_generate_off"
    assert env.provider.issue_calls == 0
    unresolved = await env.ledger.get(LedgerKey("s1", "ebay", "A", Slot.SALE))
    skipped = await env.ledger.get(LedgerKey("s1", "allegro", "B", Slot.SALE))
    assert (unresolved.state, skipped.state) == (State.UNRESOLVED, State.SKIPPED)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (json.dumps({"specversion": "1.0"}).encode(), "schema_invalid"),
    ],
)
async def test_bad_input_is_dead_lettered_with_the_original_bytes(
    env: Env, raw: bytes, code: str
) -> None:
    outcome = await env.router.route(record(None, raw=raw))
    assert isinstance(outcome, DeadLettered) and outcome.reason.code == code
    [(topic, value)] = await env.published()
    assert (topic, value) == ("orders.ovoko.dlq", raw)


async def test_event_on_the_wrong_channel_topic_is_dead_lettered(env: Env) -> None:
    outcome = await env.router.route(
        record(f.completed("s1", "allegro", f.order()), topic="orders.ovoko")
    )
    assert isinstance(outcome, DeadLettered) and outcome.reason.code == "channel_mismatch"


async def test_in_doubt_create_is_reconciled_without_a_second_document(env: Env) -> None:
    env.provider.create_then_fail = [ProviderInDoubt("timeout after commit")]
    outcome = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, Issued)
    assert env.provider.issue_calls == 1 and len(env.provider.documents) == 1


async def test_transient_errors_park_retry_and_finally_fail_with_a_dead_letter(env: Env) -> None:
    env.provider.fail_next = [ProviderUnavailable("502")] * 3
    first = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(first, Parked) and first.reason == "transient"
    (second,) = await env.retry_due()
    assert isinstance(second, Parked)
    (third,) = await env.retry_due()  # schedule "0s,0s": two retries, then final
    assert isinstance(third, Failed)
    failure = third.event.data.failure
    assert (failure.code, failure.failure_class, failure.attempts) == (
        FailureCode.PROVIDER_UNAVAILABLE,
        FailureClass.RETRYABLE_EXHAUSTED,
        3,
    )
    topics = [t for t, _ in await env.published()]
    assert topics == ["out.failed", "orders.ovoko.dlq"]


@pytest.mark.parametrize("env", ["1h"], indirect=True)
async def test_a_parked_order_does_not_block_the_next_order(env: Env) -> None:
    env.provider.fail_next = [ProviderUnavailable("502")]
    first = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    second = await env.router.route(record(f.completed("s1", "ovoko", f.order("B"))))
    assert isinstance(first, Parked) and isinstance(second, Issued)
    assert await env.ledger.due() == []  # A waits an hour, B went through
    redelivered = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(redelivered, Parked)  # the scheduler owns A now; no provider call
    assert env.provider.issue_calls == 2


async def test_auth_errors_park_the_order_notify_and_resume_after_reconnect(env: Env) -> None:
    env.provider.fail_next = [ProviderAuthError("revoked")]
    outcome = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, Parked) and outcome.reason == "needs_reauth"
    assert outcome.event.data.failure.code is FailureCode.PROVIDER_AUTH_FAILED
    assert env.provider.issue_calls == 1
    assert await env.ledger.due() == []  # waits for the seller, burns no retries
    async with env.sessions() as session, session.begin():  # the seller reconnects
        await session.execute(update(ProviderConnection).values(status="ok"))
    (resumed,) = await env.retry_due()
    assert isinstance(resumed, Issued) and len(env.provider.documents) == 1


async def test_a_connection_needing_reauth_parks_without_calling(env: Env) -> None:
    async with env.sessions() as session, session.begin():
        await session.execute(update(ProviderConnection).values(status="needs_reauth"))
    outcome = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, Parked) and env.provider.issue_calls == 0
    assert "Reconnect" in outcome.event.data.failure.message


async def test_refunds_correct_the_current_state_and_overshoots_fail(env: Env) -> None:
    sale = f.order("A", company=True)
    await env.router.route(record(f.completed("s1", "ovoko", sale)))
    line = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]
    first = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", line)))
    again = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", line)))
    second = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R2", line)))
    third = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R3", line)))
    assert isinstance(first, Issued) and first.event == again.event
    assert isinstance(second, Issued) and second.event.id != first.event.id
    req, _ = env.provider.documents["ovoko:A:refund:R2"]
    assert req.correction.lines[0].before.quantity == 1  # from the corrected state
    assert isinstance(third, Failed)
    assert third.event.data.failure.violations[0].code == "refund_exceeds_document"


@pytest.mark.parametrize("env", ["1h"], indirect=True)
async def test_a_refund_waits_for_its_retrying_sale_then_follows_it(env: Env) -> None:
    sale = f.order("Z", company=True)
    env.provider.fail_next = [ProviderUnavailable("502")]
    parked_sale = await env.router.route(record(f.completed("s1", "ovoko", sale)))
    refund = await env.router.route(
        record(
            f.refunded(
                "s1",
                "ovoko",
                sale,
                "R1",
                [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}],
            )
        )
    )
    assert isinstance(parked_sale, Parked)
    assert isinstance(refund, Parked) and refund.reason == "waiting_predecessor"
    async with env.sessions() as session, session.begin():  # fast-forward both retries
        await session.execute(update(Issuance).values(next_attempt_at=dt.datetime(2000, 1, 1)))
    outcomes = await env.retry_due()
    assert [type(o).__name__ for o in outcomes] == ["Issued", "Issued"]
    assert [o.event.data.document.kind for o in outcomes] == [
        DocumentKind.INVOICE,
        DocumentKind.CORRECTION,
    ]


async def test_a_crashed_workers_claim_is_taken_over_with_a_lookup_first(env: Env) -> None:
    body = f.completed("s1", "ovoko", f.order("C"))
    event = parse(record(body))
    crashed = Ledger(env.sessions, lease_seconds=0, owner="dead-worker")
    await crashed.claim(
        ledger_key(event),
        Source("orders.ovoko", 0, 7, b"k", json.dumps(body).encode(), [], body["id"]),
    )
    # the dead worker had created the document at the provider before it died
    env.provider._store(
        sales_document(
            event.data.order, "ovoko", DocumentKind.RECEIPT, "101", True, dt.datetime.now(dt.UTC)
        )
    )
    outcome = await env.router.route(record(body))
    assert isinstance(outcome, Issued)
    assert env.provider.issue_calls == 0  # found by key: no second create
    async with env.sessions() as session:
        row = await session.scalar(select(Issuance))
    assert (row.state, row.version, row.lease_owner) == ("issued", 3, None)


def test_outcomes_are_counted_per_topic_and_code() -> None:
    from workers import metrics

    rec = record(None, topic="orders.metrics-test", raw=b"{}")
    counter = metrics.OUTCOMES.labels("orders.metrics-test", "skipped", "auto_generate_off")
    start = counter._value.get()
    metrics.observe(rec, Skipped("s1", "metrics-test", "A", "auto_generate_off"))
    assert counter._value.get() == start + 1
