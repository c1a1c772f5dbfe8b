"""KSeF clearance tracking (issue 11, ADR 0004): the rules, and the tracker on a real SQLite
ledger with a controlled clock and an in-memory provider whose KSeF status the test moves."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from config.apply import apply_config, load_config
from config.clearance import ClearanceStore
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Outbox
from config.models import ClearanceCheck
from config.secrets import SecretBox
from config.store import ConfigStore
from domain.clearance import CheckPolicy, Observation, Tracked, next_step
from domain.documents import DocumentRequest
from domain.ledger import RetrySchedule
from schemas.invoices import Clearance, ClearanceStatus, IssuedDocument
from tests import factories as f
from tests.fakes import FakeProvider
from tests.fakes import SingleProviderRegistry as Registry
from workers.clearance import ClearanceTracker
from workers.issuance import IssuanceService
from workers.publisher import Topics
from workers.records import Failed, Issued, RawRecord
from workers.router import OrderRouter

S = ClearanceStatus
POLICY = CheckPolicy()
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # a Monday
TOPICS = Topics("out.issued", "out.failed", "group", clearance="out.clearance")
BOX = SecretBox([SecretBox.new_key()])
CONFIG = """
sellers:
  - id: s1
    name: Seller One
    connections:
      - name: main
        provider: fakturownia
        credentials: {api_token: t}
        options: {account: acme}
    channels:
      - {channel: ovoko, connection: main, target: "101", send_by_email: true}
"""


def tracked(status: S = S.PENDING, **kw: object) -> Tracked:
    values: dict = {"issue_date": T0.date(), "created_at": T0, **kw}
    return Tracked(status, **values)


# --- the rules ------------------------------------------------------------------------------


def test_a_ksef_number_clears_the_document_and_ends_the_checks() -> None:
    step = next_step(tracked(), Observation("ok", "5260001246-20261207-ABC"), T0, POLICY)
    assert (step.status, step.announce, step.next_check_at) == (S.CLEARED, (S.CLEARED,), None)


def test_a_rejection_is_final_with_its_messages_and_never_re_sent() -> None:
    step = next_step(tracked(), Observation("send_error", None, ("P_7: too long",)), T0, POLICY)
    assert (step.status, step.resend, step.next_check_at) == (S.REJECTED, False, None)
    assert step.failure_code == "ksef_rejected" and step.errors == ("P_7: too long",)


def test_server_error_is_re_sent_three_times_with_growing_gaps_then_rejected() -> None:
    gaps = []
    for resends in range(3):
        step = next_step(tracked(resends=resends), Observation("server_error"), T0, POLICY)
        assert step.resend and step.status is S.PENDING
        gaps.append(step.next_check_at - T0)
    assert gaps == sorted(gaps) and len(set(gaps)) == 3
    last = next_step(tracked(resends=3), Observation("server_error"), T0, POLICY)
    assert (last.status, last.resend, last.failure_code) == (S.REJECTED, False, "ksef_rejected")


def test_status_check_error_is_only_ever_re_read() -> None:
    for checks in range(10):
        step = next_step(tracked(checks=checks), Observation("status_check_error"), T0, POLICY)
        assert not step.resend and step.status is S.PENDING and step.next_check_at is not None


def test_offline_carries_its_deadline_and_warns_once_when_it_is_near() -> None:
    first = next_step(tracked(), Observation("offline"), T0, POLICY)
    assert first.announce == (S.OFFLINE,)
    assert first.offline_deadline.date() == dt.date(2026, 12, 8)  # the next business day
    near = T0 + dt.timedelta(hours=36)  # Tuesday evening: a few hours left
    warned = next_step(
        tracked(S.OFFLINE, announced=frozenset({S.OFFLINE})), Observation("offline"), near, POLICY
    )
    assert warned.announce == (S.OFFLINE_DEADLINE_NEAR,)
    again = next_step(
        tracked(S.OFFLINE, announced=frozenset({S.OFFLINE, S.OFFLINE_DEADLINE_NEAR})),
        Observation("offline"),
        near,
        POLICY,
    )
    assert again.announce == ()


def test_checks_back_off_and_stop_after_three_days() -> None:
    gaps = [
        next_step(tracked(checks=n), Observation("processing"), T0, POLICY).next_check_at - T0
        for n in range(7)
    ]
    assert [g.total_seconds() for g in gaps] == [15, 60, 300, 900, 3600, 3600, 3600]
    late = T0 + dt.timedelta(days=3)
    assert next_step(tracked(), Observation("processing"), late, POLICY).next_check_at is None


# --- the tracker ----------------------------------------------------------------------------


class KsefProvider(FakeProvider):
    """Creates answer `processing`; the test sets what KSeF says next, per document id."""

    def __init__(self) -> None:
        super().__init__()
        self.ksef: dict[str, Clearance] = {}
        self.resent: list[str] = []

    async def issue(self, request: DocumentRequest) -> IssuedDocument:
        doc = await super().issue(request)
        return self._with(doc, Clearance(status="processing"))

    async def get(self, document_id: str) -> IssuedDocument:
        doc = await super().get(document_id)
        return self._with(doc, self.ksef.get(document_id, Clearance(status="processing")))

    async def find(self, request: DocumentRequest) -> IssuedDocument | None:
        doc = await super().find(request)
        if doc is None or doc.kind.value == "correction":
            return doc
        return await self.get(doc.provider_document_id)

    async def find_by_ksef_number(self, number: str) -> IssuedDocument | None:
        for doc_id, clearance in self.ksef.items():
            if clearance.number == number and clearance.status == "ok":
                return await self.get(doc_id)
        return None

    async def send_to_ksef(self, document_id: str) -> IssuedDocument:
        self.resent.append(document_id)
        return await self.get(document_id)

    @staticmethod
    def _with(doc: IssuedDocument, clearance: Clearance) -> IssuedDocument:
        return doc.model_copy(update={"clearance": clearance})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


class Env:
    def __init__(self, sessions) -> None:
        self.sessions = sessions
        self.clock = Clock()
        self.provider = KsefProvider()
        store = ConfigStore(sessions, BOX, ttl=0)
        ledger = Ledger(sessions, clock=self.clock)
        service = IssuanceService(
            store, Registry(self.provider), ledger, TOPICS, RetrySchedule.parse("10s"), self.clock
        )
        self.router = OrderRouter(ledger, service, TOPICS)
        self.outbox = Outbox(sessions)
        self.store = store

    def tracker(self, owner: str = "w1", lease_seconds: float = 30) -> ClearanceTracker:
        return ClearanceTracker(
            ClearanceStore(
                self.sessions, lease_seconds=lease_seconds, owner=owner, clock=self.clock
            ),
            self.store,
            Registry(self.provider),
            TOPICS,
            POLICY,
            self.clock,
        )

    async def clearance_events(self) -> list[dict]:
        return [
            json.loads(rec.value)
            for _, rec in await self.outbox.pending(1000)
            if rec.topic == "out.clearance"
        ]

    async def row(self) -> ClearanceCheck:
        async with self.sessions() as session:
            return await session.scalar(select(ClearanceCheck))


@pytest.fixture
async def env(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    await apply_config(sessions, load_config(CONFIG), BOX)
    yield Env(sessions)
    await engine.dispose()


def record(body: object) -> RawRecord:
    return RawRecord("orders.ovoko", 0, 1, b"k", json.dumps(body).encode(), [])


async def test_an_issued_invoice_is_watched_until_ksef_numbers_it(env: Env) -> None:
    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    assert isinstance(issued, Issued)
    row = await env.row()
    assert (row.status, row.provider_status) == ("pending", "processing")
    tracker = env.tracker()
    assert await tracker.run_due() == 0  # the first look is 15 s later
    env.clock.now += dt.timedelta(seconds=15)
    assert await tracker.run_due() == 1  # still processing: nothing announced
    assert await env.clearance_events() == []
    doc_id = issued.event.data.document.provider_document_id
    env.provider.ksef[doc_id] = Clearance(status="ok", number="5260001246-20261207-ABC")
    env.clock.now += dt.timedelta(seconds=60)
    assert await tracker.run_due() == 1
    [event] = await env.clearance_events()
    assert event["type"] == "invoice.clearance_changed"
    data = event["data"]
    assert (data["previous_status"], data["status"], data["ksef_number"]) == (
        "pending",
        "cleared",
        "5260001246-20261207-ABC",
    )
    assert data["order_id"] == "A" and data["provider_document_id"] == doc_id
    assert (await env.row()).next_check_at is None
    env.clock.now += dt.timedelta(days=1)
    assert await tracker.run_due() == 0  # final: never looked at again


async def test_a_check_whose_worker_died_is_taken_over_and_announced_once(env: Env) -> None:
    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    doc_id = issued.event.data.document.provider_document_id
    env.provider.ksef[doc_id] = Clearance(status="send_error", errors=["P_7 za długie"])
    env.clock.now += dt.timedelta(seconds=15)
    dead = ClearanceStore(env.sessions, lease_seconds=30, owner="dead", clock=env.clock)
    assert len(await dead.claim_due()) == 1  # ... and the worker is killed -9 here
    assert await env.tracker().run_due() == 0  # its lease is live: nobody else checks it
    env.clock.now += dt.timedelta(seconds=31)
    assert await env.tracker().run_due() == 1
    [event] = await env.clearance_events()
    assert event["data"]["status"] == "rejected"
    assert event["data"]["failure_code"] == "ksef_rejected"
    assert event["data"]["errors"] == ["P_7 za długie"]
    assert env.provider.resent == []  # a rejection is never re-sent


async def test_server_error_is_re_sent_and_each_status_announced_once(env: Env) -> None:
    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    doc_id = issued.event.data.document.provider_document_id
    env.provider.ksef[doc_id] = Clearance(status="server_error")
    tracker = env.tracker()
    for _ in range(4):
        env.clock.now += dt.timedelta(minutes=20)
        await tracker.run_due()
    assert env.provider.resent == [doc_id] * 3
    statuses = [e["data"]["status"] for e in await env.clearance_events()]
    assert statuses == ["rejected"]
    ids = {e["id"] for e in await env.clearance_events()}
    assert len(ids) == 1


# --- e-mail after clearance, corrections after their original ------------------------------


async def test_a_companys_invoice_is_e_mailed_once_ksef_numbers_it_exactly_once(env: Env) -> None:
    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    doc_id = issued.event.data.document.provider_document_id
    assert env.provider.emails == [] and not issued.event.data.document.sent_to_buyer
    tracker = env.tracker()
    env.clock.now += dt.timedelta(seconds=15)
    await tracker.run_due()
    assert env.provider.emails == []  # still processing: the buyer gets nothing yet
    env.provider.ksef[doc_id] = Clearance(status="ok", number="5260001246-20261207-AB")
    env.clock.now += dt.timedelta(seconds=60)
    await tracker.run_due()
    assert env.provider.emails == [doc_id]
    row = await env.row()
    assert row.emailed and row.next_check_at is None
    env.clock.now += dt.timedelta(days=1)
    await tracker.run_due()
    assert env.provider.emails == [doc_id]


async def test_a_consumers_document_is_still_e_mailed_at_creation(env: Env) -> None:
    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("P"))))
    assert env.provider.emails == [issued.event.data.document.provider_document_id]


async def test_a_correction_waits_for_its_originals_ksef_number_and_names_it(env: Env) -> None:
    sale = f.order("A", company=True)
    issued = await env.router.route(record(f.completed("s1", "ovoko", sale)))
    line = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]
    refund = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", line)))
    assert refund.reason == "waiting_original" and env.provider.issue_calls == 1
    doc_id = issued.event.data.document.provider_document_id
    env.provider.ksef[doc_id] = Clearance(status="ok", number="5260001246-20261207-CD")
    env.clock.now += dt.timedelta(minutes=5)
    ledger = Ledger(env.sessions, clock=env.clock)
    [due] = await ledger.due()
    corrected = await env.router.retry(due)
    assert isinstance(corrected, Issued)
    request, _ = env.provider.documents["ovoko:A:refund:R1"]
    assert request.correction.original_ksef_number == "5260001246-20261207-CD"


async def test_a_refund_of_an_invoice_ksef_rejected_fails_clearly(env: Env) -> None:
    sale = f.order("A", company=True)
    issued = await env.router.route(record(f.completed("s1", "ovoko", sale)))
    doc_id = issued.event.data.document.provider_document_id
    env.provider.ksef[doc_id] = Clearance(status="send_error", errors=["P_2"])
    line = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]
    refund = await env.router.route(record(f.refunded("s1", "ovoko", sale, "R1", line)))
    assert isinstance(refund, Failed)
    failure = refund.event.data.failure
    assert failure.code.value == "original_not_cleared" and "rejected" in failure.message


async def test_ksef_refusing_the_account_flags_the_connection_until_ksef_answers(env: Env) -> None:
    from config.models import ProviderConnection

    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    doc_id = issued.event.data.document.provider_document_id
    env.provider.ksef[doc_id] = Clearance(status="blocked_403_error")
    tracker = env.tracker()
    env.clock.now += dt.timedelta(seconds=15)
    await tracker.run_due()

    async def connection() -> ProviderConnection:
        async with env.sessions() as session:
            return await session.scalar(select(ProviderConnection))

    conn = await connection()
    assert conn.status == "needs_ksef_authorization" and "authorise KSeF" in conn.status_detail
    row = await env.row()
    assert (row.next_check_at.replace(tzinfo=dt.UTC) - env.clock.now) == dt.timedelta(hours=1)
    assert await env.clearance_events() == []  # nothing to announce: a person must act
    env.provider.ksef[doc_id] = Clearance(status="ok", number="5260001246-20261207-EF")
    env.clock.now += dt.timedelta(hours=1)
    await tracker.run_due()
    assert (await connection()).status == "ok"
    assert [e["data"]["status"] for e in await env.clearance_events()] == ["cleared"]


async def test_an_account_without_ksef_authorisation_parks_orders_and_retries_hourly(
    env: Env,
) -> None:
    from config.models import Issuance, ProviderConnection
    from domain.ports import ProviderKsefUnauthorized

    env.provider.fail_next = [ProviderKsefUnauthorized("Brak autoryzacji w KSeF 2.0")]
    parked = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    assert parked.reason == "needs_ksef_authorization"
    async with env.sessions() as session:
        conn = await session.scalar(select(ProviderConnection))
        row = await session.scalar(select(Issuance))
    assert (
        conn.status == "needs_ksef_authorization" and "KSeF-authorised user" in conn.status_detail
    )
    assert row.attempts == 0
    ledger = Ledger(env.sessions, clock=env.clock)
    env.clock.now += dt.timedelta(minutes=59)
    assert await ledger.due() == []
    env.clock.now += dt.timedelta(minutes=2)
    [due] = await ledger.due()
    assert isinstance(await env.router.retry(due), Issued)  # authorised meanwhile


async def test_a_duplicate_error_adopts_the_invoice_ksef_accepted(env: Env) -> None:
    first = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    dup = await env.router.route(record(f.completed("s1", "ovoko", f.order("B", company=True))))
    accepted = first.event.data.document.provider_document_id
    number = "5260001246-20261207-0A1B2C3D4E5F"
    env.provider.ksef[accepted] = Clearance(status="ok", number=number)
    env.provider.ksef[dup.event.data.document.provider_document_id] = Clearance(
        status="duplicate_error", errors=[f"Faktura o numerze KSeF {number} już istnieje (440)"]
    )
    env.clock.now += dt.timedelta(seconds=15)
    await env.tracker().run_due()
    events = {e["data"]["order_id"]: e["data"] for e in await env.clearance_events()}
    assert events["B"]["status"] == "cleared" and events["B"]["ksef_number"] == number
    assert any("adopted" in e for e in events["B"]["errors"])
    assert env.provider.resent == [] and env.provider.issue_calls == 2  # nothing created again


async def test_a_re_send_that_extends_a_short_lease_is_still_recorded(env: Env) -> None:
    """Found by fault 11: extending the lease for a re-send moved the row's version, so the
    check's result was refused as a takeover; re-sends went uncounted and unbounded."""
    issued = await env.router.route(record(f.completed("s1", "ovoko", f.order("A", company=True))))
    env.provider.ksef[issued.event.data.document.provider_document_id] = Clearance(
        status="server_error"
    )
    tracker = env.tracker(lease_seconds=5)  # shorter than a re-send needs: extended first
    for _ in range(4):
        env.clock.now += dt.timedelta(minutes=20)
        await tracker.run_due()
    row = await env.row()
    assert (row.resends, row.status, row.lease_owner) == (3, "rejected", None)
    assert len(env.provider.resent) == 3
