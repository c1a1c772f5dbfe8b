"""Router rules over a real SQLite configuration store and an in-memory provider fake."""

import json
from pathlib import Path

import pytest

from config.apply import apply_config, load_config
from config.db import create_engine, session_factory, upgrade
from config.store import ConfigStore
from domain.ports import ProviderAuthError, ProviderInDoubt, ProviderUnavailable
from schemas.invoices import DocumentKind, FailureClass, FailureCode
from tests import factories as f
from tests.fakes import FakeProvider
from workers.issuing import RetryPolicy
from workers.records import DeadLettered, Failed, Issued, RawRecord, Skipped
from workers.router import OrderRouter

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
      - {channel: ovoko, connection: main, target: "101"}
      - {channel: allegro, connection: main, target: "102", auto_generate: false}
"""


class Registry:
    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider

    async def for_connection(self, conn: object) -> FakeProvider:
        return self.provider


@pytest.fixture
async def router(tmp_path: Path) -> tuple[OrderRouter, FakeProvider]:
    url = f"sqlite:///{tmp_path}/cfg.db"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    await apply_config(sessions, load_config(CONFIG))
    provider = FakeProvider()
    yield (
        OrderRouter(
            ConfigStore(sessions), Registry(provider), RetryPolicy(attempts=3, base_delay=0.001)
        ),
        provider,
    )
    await engine.dispose()


def record(body: object, topic: str = "orders.ovoko", raw: bytes | None = None) -> RawRecord:
    value = raw if raw is not None else json.dumps(body).encode()
    return RawRecord(topic, 0, 7, b"k", value, [("trace", b"1")])


async def test_b2c_order_gets_a_receipt_and_b2b_an_invoice(router) -> None:
    r, provider = router
    b2c = await r.route(record(f.completed("s1", "ovoko", f.order("A"))))
    b2b = await r.route(record(f.completed("s1", "ovoko", f.order("B", company=True))))
    assert isinstance(b2c, Issued) and b2c.event.data.document.kind is DocumentKind.RECEIPT
    assert isinstance(b2b, Issued) and b2b.event.data.document.kind is DocumentKind.INVOICE
    request, _ = provider.documents["ovoko:B"]
    assert request.target == "101" and request.buyer.tax_id.value == f.VALID_NIP


async def test_redelivery_returns_the_same_document_and_event_id(router) -> None:
    r, provider = router
    body = f.completed("s1", "ovoko", f.order("A"))
    first, second = await r.route(record(body)), await r.route(record(body))
    assert len(provider.documents) == 1
    assert first.event.id == second.event.id
    assert first.event.data.document == second.event.data.document


async def test_unconfigured_channel_and_auto_generate_off(router) -> None:
    r, provider = router
    missing = await r.route(record(f.completed("s1", "ebay", f.order("A")), topic="orders.ebay"))
    off = await r.route(record(f.completed("s1", "allegro", f.order("B")), topic="orders.allegro"))
    assert isinstance(missing, Failed)
    assert missing.event.data.failure.code is FailureCode.CHANNEL_NOT_CONFIGURED
    assert isinstance(off, Skipped) and off.why == "auto_generate_off"
    assert provider.issue_calls == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (json.dumps({"specversion": "1.0"}).encode(), "schema_invalid"),
    ],
)
async def test_bad_input_is_dead_lettered_with_the_original_bytes(
    router, raw: bytes, code: str
) -> None:
    r, _ = router
    outcome = await r.route(record(None, raw=raw))
    assert isinstance(outcome, DeadLettered)
    assert outcome.reason.code == code and outcome.record.value == raw


async def test_event_on_the_wrong_channel_topic_is_dead_lettered(router) -> None:
    r, _ = router
    outcome = await r.route(record(f.completed("s1", "allegro", f.order()), topic="orders.ovoko"))
    assert isinstance(outcome, DeadLettered) and outcome.reason.code == "channel_mismatch"


async def test_in_doubt_create_is_reconciled_without_a_second_document(router) -> None:
    r, provider = router
    provider.create_then_fail = [ProviderInDoubt("timeout after commit")]
    outcome = await r.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, Issued)
    assert provider.issue_calls == 1 and len(provider.documents) == 1


async def test_transient_errors_retry_then_fail_as_exhausted(router) -> None:
    r, provider = router
    provider.fail_next = [ProviderUnavailable("502")] * 3
    outcome = await r.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, Failed)
    failure = outcome.event.data.failure
    assert (failure.code, failure.failure_class, failure.attempts) == (
        FailureCode.PROVIDER_UNAVAILABLE,
        FailureClass.RETRYABLE_EXHAUSTED,
        3,
    )


async def test_auth_errors_are_not_retried(router) -> None:
    r, provider = router
    provider.fail_next = [ProviderAuthError("revoked")]
    outcome = await r.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert outcome.event.data.failure.code is FailureCode.PROVIDER_AUTH_FAILED
    assert provider.issue_calls == 1


async def test_refunds_correct_the_current_state_and_overshoots_fail(router) -> None:
    r, provider = router
    sale = f.order("A", company=True)
    await r.route(record(f.completed("s1", "ovoko", sale)))
    line = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]
    first = await r.route(record(f.refunded("s1", "ovoko", sale, "R1", line)))
    again = await r.route(record(f.refunded("s1", "ovoko", sale, "R1", line)))
    second = await r.route(record(f.refunded("s1", "ovoko", sale, "R2", line)))
    third = await r.route(record(f.refunded("s1", "ovoko", sale, "R3", line)))
    assert isinstance(first, Issued) and first.event.id == again.event.id
    assert isinstance(second, Issued) and second.event.id != first.event.id
    req, _ = provider.documents["ovoko:A:refund:R2"]
    assert req.correction.lines[0].before.quantity == 1  # from the corrected state
    assert isinstance(third, Failed)
    assert third.event.data.failure.violations[0].code == "refund_exceeds_document"


async def test_refund_before_the_sale_is_reported_as_original_missing(router) -> None:
    r, _ = router
    sale = f.order("Z")
    outcome = await r.route(
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
    assert outcome.event.data.failure.code is FailureCode.ORIGINAL_DOCUMENT_MISSING


async def test_email_goes_out_only_from_the_call_that_created_the_document(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/mail.db"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    await apply_config(
        sessions,
        load_config(CONFIG.replace('target: "101"}', 'target: "101", send_by_email: true}')),
    )
    provider = FakeProvider()
    r = OrderRouter(ConfigStore(sessions), Registry(provider), RetryPolicy(base_delay=0.001))
    body = f.completed("s1", "ovoko", f.order("M"))
    first, again = await r.route(record(body)), await r.route(record(body))
    await engine.dispose()
    assert first.event.data.document.sent_to_buyer is True
    assert again.event.data.document.sent_to_buyer is False  # found, not created: no 2nd mail
    assert len(provider.emails) == 1


def test_outcomes_are_counted_per_topic_and_code() -> None:
    from workers import metrics
    from workers.records import Skipped

    rec = record(None, topic="orders.metrics-test", raw=b"{}")
    before = metrics.OUTCOMES.labels("orders.metrics-test", "skipped", "auto_generate_off")._value
    start = before.get()
    metrics.observe(rec, Skipped("s1", "metrics-test", "A", "auto_generate_off"))
    assert before.get() == start + 1


async def test_a_connection_needing_reauth_fails_fast_with_advice(router) -> None:
    r, provider = router
    from sqlalchemy import update

    from config.models import ProviderConnection

    async with r._store._sessions() as session, session.begin():
        await session.execute(update(ProviderConnection).values(status="needs_reauth"))
    r._store.invalidate()
    outcome = await r.route(record(f.completed("s1", "ovoko", f.order("A"))))
    failure = outcome.event.data.failure
    assert failure.code is FailureCode.PROVIDER_AUTH_FAILED
    assert "Reconnect" in failure.message and provider.issue_calls == 0
