"""Issue 10's ledger defects, one deterministic regression each, on a real SQLite ledger with a
controlled clock and an in-memory provider whose creates can commit late.

- 2: "not found right after a timeout" is not proof of absence: no re-create inside the
  provider's commit window, neither after an in-doubt create nor after a takeover;
- 3: a claim whose holder died is swept by the scheduler, whoever claimed it;
- 4: a refund published before its sale never deadlocks with it, and its wait is bounded;
- 6: credentials the keys cannot open park the order (ops problem) and resume once fixed;
- an outage in the middle of a step leaves a claim this process takes back at once;
- an unexpected error closes the claim and dead-letters the record.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from config.apply import apply_config, load_config
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Outbox, Source
from config.models import Issuance
from config.secrets import SecretBox
from config.store import ConfigStore
from domain.documents import DocumentRequest
from domain.ledger import LedgerKey, RetrySchedule, Slot, State
from domain.ports import ProviderInDoubt
from schemas.invoices import FailureClass, FailureCode, IssuedDocument, Provider
from tests import factories as f
from tests.fakes import FakeProvider
from tests.fakes import SingleProviderRegistry as Registry
from workers.issuance import IssuanceService, Waits
from workers.outage import Unavailable
from workers.publisher import Topics
from workers.records import DeadLettered, Failed, Issued, Parked, RawRecord
from workers.router import OrderRouter, ledger_key, parse

BOX = SecretBox([SecretBox.new_key()])
TOPICS = Topics("out.issued", "out.failed", "group")
T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(seconds=300)
LEASE = 30
CONFIG = """
sellers:
  - id: s1
    name: Seller One
    connections:
      - name: main
        provider: wfirma
        credentials: {access_key: a, secret_key: b, app_key: c}
        options: {}
    channels:
      - {channel: ovoko, connection: main, target: "7"}
"""
LINE = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class LateCommitProvider(FakeProvider):
    """wFirma without a server-side key: a create may time out and commit later (`land`)."""

    def __init__(self) -> None:
        super().__init__()
        self.late: list[DocumentRequest] = []
        self.commit_late = 0
        self.raise_on_issue: Exception | None = None

    async def issue(self, request: DocumentRequest) -> IssuedDocument:
        if self.raise_on_issue is not None:
            exc, self.raise_on_issue = self.raise_on_issue, None
            raise exc
        self.issue_calls += 1
        if self.commit_late:
            self.commit_late -= 1
            self.late.append(request)
            raise ProviderInDoubt("read timeout on invoices/add")
        return self._store(request)  # no server-side key: a second create is a second document

    def land(self) -> None:
        """The timed-out creates commit now."""
        for request in self.late:
            self._store(request)
        self.late.clear()


class Env:
    def __init__(self, sessions, store_box: SecretBox = BOX, owner: str = "w1") -> None:
        self.sessions = sessions
        self.clock = Clock()
        self.provider = LateCommitProvider()
        self.store = ConfigStore(sessions, store_box, ttl=0)
        self.ledger = Ledger(sessions, lease_seconds=LEASE, owner=owner, clock=self.clock)
        self.router = self._router(self.ledger)
        self.outbox = Outbox(sessions)

    def _router(self, ledger: Ledger) -> OrderRouter:
        service = IssuanceService(
            self.store,
            Registry(self.provider),
            ledger,
            TOPICS,
            RetrySchedule.parse("10s,10s,10s,10s,10s,10s"),
            self.clock,
            Waits(
                commit_window={Provider.WFIRMA: WINDOW, Provider.FAKTUROWNIA: WINDOW},
                create_lease=dt.timedelta(seconds=5),
                original=dt.timedelta(hours=1),
            ),
        )

        async def no_sleep(_: float) -> None:
            raise AssertionError("the router waited for a live claim (BUSY)")

        return OrderRouter(ledger, service, TOPICS, sleep=no_sleep)

    async def retry_due(self) -> list:
        return [await self.router.retry(e) for e in await self.ledger.due()]

    async def row(self, key: LedgerKey) -> Issuance:
        async with self.sessions() as session:
            return await session.scalar(
                select(Issuance).where(
                    Issuance.order_id == key.order_id,
                    Issuance.slot == key.slot.value,
                    Issuance.refund_id == key.refund_id,
                )
            )


@pytest.fixture
async def sessions(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    engine = create_engine(url)
    factory = session_factory(engine)
    await apply_config(factory, load_config(CONFIG), BOX)
    yield factory
    await engine.dispose()


@pytest.fixture
def env(sessions) -> Env:
    return Env(sessions)


def record(body: object, offset: int = 7, partition: int = 0) -> RawRecord:
    return RawRecord("orders.ovoko", partition, offset, b"k", json.dumps(body).encode(), [])


SALE_KEY = LedgerKey("s1", "ovoko", "A", Slot.SALE)


# --- defect 2: an in-doubt create is not re-created while it may still commit ----------------


async def test_a_create_that_commits_after_the_timeout_is_found_not_created_again(
    env: Env,
) -> None:
    env.provider.commit_late = 1
    first = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(first, Parked) and first.reason == "in_doubt"
    # the retry schedule (10 s) comes long before the commit window (300 s) ends: lookups only
    lookups = 0
    while env.clock.now - T0 < WINDOW - dt.timedelta(seconds=20):
        env.clock.advance(10)
        outcomes = await env.retry_due()
        assert all(isinstance(o, Parked) for o in outcomes)
        lookups += len(outcomes)
        assert env.provider.issue_calls == 1, "re-created while the first create may commit"
    assert lookups >= 3  # looked again and again over the window
    env.provider.land()  # the first request finally commits at the provider
    env.clock.advance(60)
    (outcome,) = await env.retry_due()
    assert isinstance(outcome, Issued)
    assert env.provider.issue_calls == 1 and len(env.provider.documents) == 1


async def test_after_the_commit_window_a_create_that_never_landed_is_created(env: Env) -> None:
    env.provider.commit_late = 1
    await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    for _ in range(40):  # lookups spread over the window, then exactly one create
        env.clock.advance(15)
        outcomes = await env.retry_due()
        if any(isinstance(o, Issued) for o in outcomes):
            break
    assert env.clock.now - T0 >= WINDOW
    assert env.provider.issue_calls == 2 and len(env.provider.documents) == 1
    row = await env.row(SALE_KEY)
    assert row.state == "issued" and row.attempts == 1  # waiting cost no retries


async def test_a_takeover_after_a_crash_obeys_the_commit_window(env: Env) -> None:
    """A worker claimed the order, sent its create (slow to commit) and was killed -9."""
    body = f.completed("s1", "ovoko", f.order("A"))
    event = parse(record(body))
    dead = Ledger(env.sessions, lease_seconds=LEASE, owner="dead", clock=env.clock)
    await dead.claim(
        ledger_key(event), Source("orders.ovoko", 0, 7, b"k", json.dumps(body).encode(), [], "e")
    )
    env.clock.advance(LEASE + 1)  # its lease ran out: the takeover looks up first
    (outcome,) = await env.retry_due()
    assert isinstance(outcome, Parked) and outcome.reason == "in_doubt"
    assert env.provider.issue_calls == 0
    env.clock.advance(WINDOW.total_seconds())
    (outcome,) = await env.retry_due()
    assert isinstance(outcome, Issued) and env.provider.issue_calls == 1


# --- defect 3: an expired claim is swept whoever claimed it ----------------------------------


async def test_a_claim_left_by_a_killed_scheduler_is_swept_and_finished(env: Env) -> None:
    env.provider.commit_late = 1
    await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))  # in doubt
    env.provider.land()
    env.clock.advance(30)
    (due,) = await env.ledger.due()
    scheduler = Ledger(env.sessions, lease_seconds=LEASE, owner="killed", clock=env.clock)
    claim = await scheduler.claim(due.key, due.source, from_scheduler=True)  # then kill -9
    assert claim.entry.state is State.CLAIMED
    assert await env.ledger.due() == []  # its lease is live: nobody else touches it
    env.clock.advance(LEASE + 1)
    assert (await env.ledger.backlog()).due == 1  # counted by the retries-due gauge
    (outcome,) = await env.retry_due()
    assert isinstance(outcome, Issued) and env.provider.issue_calls == 1
    assert (await env.row(SALE_KEY)).state == "issued"


# --- defect 4: a refund before its sale ---------------------------------------------------------


async def test_a_refund_published_before_its_sale_does_not_deadlock(env: Env) -> None:
    sale = f.order("A", company=True)
    refund = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", LINE), 1))
    assert isinstance(refund, Parked) and refund.reason == "waiting_original"
    issued_sale = await env.router.route(record(f.completed("s1", "ovoko", sale), 2))
    assert isinstance(issued_sale, Issued), "a sale must never wait for a refund"
    env.clock.advance(60)
    (correction,) = await env.retry_due()
    assert isinstance(correction, Issued)
    assert correction.event.data.document.corrected_document_id == (
        issued_sale.event.data.document.provider_document_id
    )


async def test_corrections_wait_for_the_sale_even_when_the_sale_row_is_younger(env: Env) -> None:
    sale = f.order("A", company=True)
    await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", LINE), 1))
    env.provider.commit_late = 1
    parked_sale = await env.router.route(record(f.completed("s1", "ovoko", sale), 2))
    assert isinstance(parked_sale, Parked)  # in doubt: the sale is not final
    env.clock.advance(60)
    outcomes = {f"{type(o).__name__}:{getattr(o, 'reason', '')}" for o in await env.retry_due()}
    assert "Parked:waiting_predecessor" in outcomes  # the refund waits for the sale row


async def test_the_wait_for_an_original_is_bounded_and_ends_actionably(env: Env) -> None:
    sale = f.order("A", company=True)
    await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", LINE)))
    polls = 0
    outcome: object = None
    while not isinstance(outcome, Failed):
        env.clock.advance(900)
        (outcome,) = await env.retry_due()
        polls += 1
        assert polls < 20, "the wait for the original never ends"
    failure = outcome.event.data.failure
    assert failure.code is FailureCode.ORIGINAL_DOCUMENT_MISSING
    assert failure.failure_class is FailureClass.RETRYABLE_EXHAUSTED
    assert "replay" in failure.message and "order.completed" in failure.message
    assert env.clock.now - T0 >= dt.timedelta(hours=1)


# --- defect 6: credentials the keys cannot open ---------------------------------------------------


async def test_unreadable_credentials_park_the_order_until_the_keys_are_fixed(sessions) -> None:
    wrong = Env(sessions, store_box=SecretBox([SecretBox.new_key()]))
    outcome = await wrong.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, Parked) and outcome.reason == "credentials_unreadable"
    row = await wrong.row(SALE_KEY)
    assert row.state == "parked" and row.attempts == 0
    fixed = Env(sessions)  # restarted with the right keys
    fixed.clock.now = wrong.clock.now + dt.timedelta(minutes=1)
    (outcome,) = await fixed.retry_due()
    assert isinstance(outcome, Issued)


# --- outages and unexpected errors in the middle of a step --------------------------------


async def test_a_step_cut_by_a_database_outage_is_taken_back_at_once(env: Env) -> None:
    env.provider.raise_on_issue = OperationalError("INSERT", {}, ConnectionRefusedError())
    with pytest.raises(Unavailable):
        await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert (await env.row(SALE_KEY)).state == "claimed"
    # the same record again (the consumer's outage wait): no waiting out our own live lease
    again = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(again, Parked | Issued)


async def test_an_unexpected_error_closes_the_claim_and_dead_letters(env: Env) -> None:
    env.provider.raise_on_issue = KeyError("bug")
    outcome = await env.router.route(record(f.completed("s1", "ovoko", f.order("A"))))
    assert isinstance(outcome, DeadLettered) and outcome.reason.code == "internal_error"
    row = await env.row(SALE_KEY)
    assert (row.state, row.lease_owner) == ("failed", None)
    [(_, dead)] = await env.outbox.pending(10)
    assert dead.topic == "orders.ovoko.dlq"


# --- the lease bounds every create ------------------------------------------------------------


async def test_a_create_is_only_sent_inside_its_senders_lease(env: Env) -> None:
    from config.ledger import LeaseLost

    body = f.completed("s1", "ovoko", f.order("A"))
    source = Source("orders.ovoko", 0, 7, b"k", json.dumps(body).encode(), [], "e")
    claim = await env.ledger.claim(ledger_key(parse(record(body))), source)
    env.clock.advance(LEASE - 2)  # running low: extended in place
    await env.ledger.ensure_lease(claim.entry, dt.timedelta(seconds=5))
    assert (await env.row(SALE_KEY)).lease_until.replace(tzinfo=dt.UTC) > env.clock.now
    env.clock.advance(LEASE + 1)  # stalled past it, and another worker took the order over
    other = Ledger(env.sessions, lease_seconds=LEASE, owner="w2", clock=env.clock)
    await other.claim(claim.entry.key, source, from_scheduler=True)
    with pytest.raises(LeaseLost):
        await env.ledger.ensure_lease(claim.entry, dt.timedelta(seconds=5))


async def test_a_stale_task_cannot_create_for_a_claim_its_process_took_again(env: Env) -> None:
    from config.ledger import LeaseLost

    body = f.completed("s1", "ovoko", f.order("A"))
    source = Source("orders.ovoko", 0, 7, b"k", json.dumps(body).encode(), [], "e")
    first = await env.ledger.claim(ledger_key(parse(record(body))), source)
    env.ledger.release(first.entry)  # its step died in an outage
    again = await env.ledger.claim(first.entry.key, source)  # taken back at once
    env.ledger.release(first.entry)  # the stale task's release frees nothing
    with pytest.raises(LeaseLost):
        await env.ledger.ensure_lease(first.entry, dt.timedelta(seconds=5))
    await env.ledger.ensure_lease(again.entry, dt.timedelta(seconds=5))


async def test_a_retry_days_later_is_issued_today_and_keeps_the_sale_date(env: Env) -> None:
    """KSeF marks an earlier issue date as offline: a replay or a long-parked order is never
    backdated (issue 11, item 6); the sale date stays the order's."""
    from domain.ports import ProviderUnavailable

    env.provider.raise_on_issue = ProviderUnavailable("503")
    body = f.completed("s1", "ovoko", f.order("A"))
    assert isinstance(await env.router.route(record(body)), Parked)
    env.clock.advance(3 * 86400)
    (outcome,) = await env.retry_due()
    assert isinstance(outcome, Issued)
    [(request, _)] = env.provider.documents.values()
    assert request.issue_date == dt.date(2026, 12, 9)
    assert request.sell_date == dt.date.fromisoformat(body["data"]["order"]["placed_at"][:10])
