"""The ledger's per-order statements on asyncpg directly (config/pg_hot.py): one round trip per
batch, the same rows as SQLAlchemy Core writes, and a broken connection handled as SQLAlchemy
handles it (an outage for every caller, the connection never handed out again)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from config.clearance import NewCheck
from config.db import create_engine, session_factory, upgrade
from config.hot_statements import FinishRows, hot_statements
from config.ledger import LeaseLost, Ledger, Outbox, OutboxRecord, Source, _everyones
from config.models import ClearanceCheck, Issuance, OutboxMessage
from domain.ksef import ClearanceStatus
from domain.ledger import LedgerKey, Slot, State
from workers.outage import DATABASE, dependency_down


def key(order: str) -> LedgerKey:
    return LedgerKey("s1", "ovoko", order, Slot.SALE, "")


def source(offset: int) -> Source:
    return Source("orders.ovoko", 0, offset, b"k", b'{"v": 1}', [("h", b"\xff")], f"e{offset}")


def check(order: str) -> NewCheck:
    return NewCheck(
        seller_id="s1",
        channel="ovoko",
        order_id=order,
        refund_id=None,
        source_event_id=f"e-{order}",
        provider="fakturownia",
        connection_id=7,
        document_kind="invoice",
        provider_document_id=f"d-{order}",
        document_number=f"FV/{order}",
        issue_date=dt.date(2026, 3, 2),
        status=ClearanceStatus.PENDING,
        provider_status=None,
        ksef_number=None,
        first_check_at=dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/l.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def ledger(db_url: str) -> AsyncIterator[Ledger]:
    upgrade(db_url)
    engine = create_engine(db_url, pool_size=4)
    yield Ledger(session_factory(engine))
    await engine.dispose()


async def test_a_batch_writes_its_outbox_and_tracking_rows_in_order_for_entries_still_ours(
    ledger: Ledger,
) -> None:
    sessions = ledger._sessions
    claims = [await ledger.claim(key(f"o{i}"), source(i)) for i in range(4)]
    async with sessions() as session, session.begin():  # another worker took o1 over
        await session.execute(
            update(Issuance).where(Issuance.id == claims[1].entry.id).values(lease_owner="other")
        )

    async def finish(i: int) -> str:
        records = [
            OutboxRecord("out", f"k{i}.{n}".encode(), b"v", [("n", b"%d" % n)]) for n in (1, 2)
        ]
        try:
            await ledger.finish(
                claims[i].entry,
                State.ISSUED,
                document_kind="invoice",
                outbox=records,
                track=check(f"o{i}") if i != 3 else None,
            )
            return "done"
        except LeaseLost:
            return "lost"

    assert await asyncio.gather(*(finish(i) for i in range(4))) == ["done", "lost", "done", "done"]
    async with sessions() as session:
        keys = [
            m.key for m in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
        checks = {c.order_id: c for c in await session.scalars(select(ClearanceCheck))}
        rows = {r.order_id: r for r in await session.scalars(select(Issuance))}
    assert keys == [b"k0.1", b"k0.2", b"k2.1", b"k2.2", b"k3.1", b"k3.2"]
    assert sorted(checks) == ["o0", "o2"]  # none for the entry lost, none asked for o3
    assert checks["o2"].issuance_id == claims[2].entry.id and checks["o2"].errors == []
    assert checks["o2"].lease_owner is None and checks["o2"].created_at is not None
    assert rows["o0"].version == 2 and rows["o0"].lease_until is None
    assert rows["o1"].state == State.CLAIMED.value and rows["o1"].version == 1
    pending = await Outbox(sessions).pending()
    assert [r.headers for _, r in pending[:2]] == [[("n", b"1")], [("n", b"2")]]


class Queries:
    """Every query the pool's single connection sends (asyncpg's own query log)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, record: Any) -> None:
        self.sent.append(record.query)


@pytest.fixture
async def one_connection(postgres_url: str) -> AsyncIterator[tuple[Ledger, int, Queries]]:
    """A ledger whose pool holds one connection: its backend pid and the queries it sends."""
    upgrade(postgres_url)
    engine = create_engine(postgres_url, pool_size=1)
    queries = Queries()
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection.add_query_logger(queries)
        pid = raw.driver_connection.get_server_pid()
    yield Ledger(session_factory(engine)), pid, queries
    await engine.dispose()


async def test_a_postgresql_batch_of_finishes_is_one_round_trip(
    one_connection: tuple[Ledger, int, Queries],
) -> None:
    ledger, _, queries = one_connection
    warm = await ledger.claim(key("warm-up"), source(0))  # asyncpg learns the types once
    await ledger.finish(warm.entry, State.ISSUED, outbox=[OutboxRecord("out", b"k", b"v")])
    queries.sent.clear()
    claims = await asyncio.gather(*(ledger.claim(key(f"o{i}"), source(i)) for i in range(6)))
    assert len(queries.sent) == 1  # one INSERT claimed them all
    queries.sent.clear()
    await asyncio.gather(
        *(
            ledger.finish(c.entry, State.ISSUED, outbox=[OutboxRecord("out", b"k", b"v")])
            for c in claims
        )
    )
    assert len(queries.sent) == 1  # no BEGIN, lock, update, inserts and COMMIT: one statement
    queries.sent.clear()
    outbox = Outbox(ledger._sessions)
    pending = await outbox.pending()
    await outbox.mark_published([i for i, _ in pending])
    assert len(pending) == 7 and len(queries.sent) == 2


async def _pid_of_next_connection(ledger: Ledger) -> int:
    async with ledger._sessions() as session:
        return (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_terminated_mid_statement_is_an_outage_and_never_reused(
    one_connection: tuple[Ledger, int, Queries], postgres_url: str
) -> None:
    ledger, pid, _ = one_connection
    entry = (await ledger.claim(key("o1"), source(1))).entry
    admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        locker = admin.transaction()
        await locker.start()
        await admin.execute("SELECT id FROM issuances WHERE id = $1 FOR UPDATE", entry.id)
        finishing = asyncio.create_task(ledger.finish(entry, State.ISSUED))
        await asyncio.sleep(0.3)  # the finish waits for the lock
        await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(DBAPIError) as failed:
            await finishing
        await locker.rollback()
    finally:
        await admin.close()
    assert failed.value.connection_invalidated, "a broken connection went back to the pool"
    assert dependency_down(failed.value) == DATABASE and _everyones(failed.value)
    assert await _pid_of_next_connection(ledger) != pid  # the pool's only slot: a fresh one


async def test_a_statement_cancelled_while_running_does_not_leave_its_connection_busy(
    one_connection: tuple[Ledger, int, Queries], postgres_url: str
) -> None:
    ledger, pid, _ = one_connection
    entry = (await ledger.claim(key("o1"), source(1))).entry
    hot = hot_statements(ledger._sessions.kw["bind"])
    admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        locker = admin.transaction()
        await locker.start()
        await admin.execute("SELECT id FROM issuances WHERE id = $1 FOR UPDATE", entry.id)
        values = {"state": State.ISSUED.value}
        finishing = asyncio.create_task(
            hot.finish(ledger.owner, [FinishRows(entry.id, values, [], [])])
        )
        await asyncio.sleep(0.3)  # the statement waits for the lock
        finishing.cancel()  # e.g. SIGTERM while a batch runs
        with pytest.raises(asyncio.CancelledError):
            await finishing
        await locker.rollback()
    finally:
        await admin.close()
    # the next user of the pool's only connection is not told "another operation is in progress"
    assert await _pid_of_next_connection(ledger) != pid
