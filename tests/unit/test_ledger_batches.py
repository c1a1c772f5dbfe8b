"""Concurrent claims and finishes share statements (config/batching.py): the outcome of each
request must be exactly what it would be alone, whatever else is in its batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

from config.batching import Batcher
from config.db import create_engine, session_factory, upgrade
from config.ledger import LeaseLost, Ledger, Outbox, OutboxRecord, Source
from config.models import Issuance, OutboxMessage
from domain.ledger import ClaimOutcome, LedgerKey, Slot, State


def key(order: str) -> LedgerKey:
    return LedgerKey("s1", "ovoko", order, Slot.SALE, "")


def source(offset: int) -> Source:
    return Source("orders.ovoko", 0, offset, b"k", b'{"v": 1}', [("h", b"\xff")], f"e{offset}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/l.db"
    return request.getfixturevalue("postgres_url")


class Db:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=8)
        self.sessions = session_factory(self.engine)
        self.statements: list[str] = []
        event.listen(
            self.engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_: self.statements.append(statement),
        )


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    upgrade(db_url)
    d = Db(db_url)
    yield d
    await d.engine.dispose()


async def test_concurrent_claims_are_one_insert_and_each_gets_its_own_outcome(db: Db) -> None:
    ledger = Ledger(db.sessions)
    db.statements.clear()
    orders = [f"o{i}" for i in range(20)] + ["o3"]  # o3 twice in the same batch
    claims = await asyncio.gather(*(ledger.claim(key(o), source(i)) for i, o in enumerate(orders)))
    inserts = [s for s in db.statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1
    assert [c.outcome for c in claims[:20]] == [ClaimOutcome.NEW] * 20
    assert claims[20].outcome is ClaimOutcome.BUSY  # the first o3 is held by its task
    assert len({c.entry.id for c in claims[:20]}) == 20
    async with db.sessions() as session:
        stored = (await session.scalars(select(Issuance).where(Issuance.order_id == "o5"))).one()
    assert stored.id == claims[5].entry.id and stored.source_offset == 5
    assert stored.source_headers == [["h", "\xff"]] and stored.lease_owner == ledger.owner


async def test_a_batch_of_finishes_keeps_each_compare_and_set(db: Db) -> None:
    ledger = Ledger(db.sessions, lease_seconds=60)
    claims = [await ledger.claim(key(f"o{i}"), source(i)) for i in range(6)]
    stolen = claims[2].entry
    async with db.sessions() as session, session.begin():  # another worker took o2 over
        await session.execute(
            update(Issuance).where(Issuance.id == stolen.id).values(lease_owner="other")
        )

    async def finish(i: int) -> str:
        try:
            await ledger.finish(
                claims[i].entry,
                State.ISSUED,
                result_event=f'{{"n": {i}}}',
                outbox=[OutboxRecord("out", f"k{i}".encode(), f"v{i}".encode(), [("a", b"b")])],
            )
            return "done"
        except LeaseLost:
            return "lost"

    results = await asyncio.gather(*(finish(i) for i in range(6)))
    assert results == ["done", "done", "lost", "done", "done", "done"]
    async with db.sessions() as session:
        rows = {r.order_id: r for r in await session.scalars(select(Issuance))}
        outbox = sorted(r.key for r in await session.scalars(select(OutboxMessage)))
    assert rows["o2"].state == State.CLAIMED.value and rows["o2"].lease_owner == "other"
    assert all(rows[f"o{i}"].state == State.ISSUED.value for i in (0, 1, 3, 4, 5))
    assert rows["o4"].result_event == '{"n": 4}' and rows["o4"].lease_owner is None
    assert outbox == [b"k0", b"k1", b"k3", b"k4", b"k5"]  # none for the entry we lost
    pending = await Outbox(db.sessions).pending()
    assert [r.headers for _, r in pending] == [[("a", b"b")]] * 5


async def test_a_finish_the_database_refuses_fails_alone(db: Db) -> None:
    """One request's bad value must not fail the orders batched with it."""
    ledger = Ledger(db.sessions)
    claims = [await ledger.claim(key(f"o{i}"), source(i)) for i in range(4)]

    async def finish(i: int) -> str:
        kind = "x" * 500 if i == 1 else "invoice"  # longer than the column allows (PostgreSQL)
        try:
            await ledger.finish(claims[i].entry, State.ISSUED, document_kind=kind)
            return "done"
        except LeaseLost:
            return "lost"
        except Exception as exc:
            return type(exc).__name__

    results = await asyncio.gather(*(finish(i) for i in range(4)))
    assert results[0] == results[2] == results[3] == "done"
    # SQLite does not enforce VARCHAR lengths: there the long value is stored like the others
    refused = "done" if db.engine.dialect.name == "sqlite" else "DBAPIError"
    assert results[1] == refused


async def test_a_cancelled_caller_gives_its_claim_back() -> None:
    release: list[tuple[str, str]] = []
    gate = asyncio.Event()

    async def run(requests):
        await gate.wait()
        return [f"claimed {r}" for r in requests]

    batcher: Batcher[str, str] = Batcher(run, abandoned=lambda r, res: release.append((r, res)))
    first = asyncio.create_task(batcher.submit("a"))
    second = asyncio.create_task(batcher.submit("b"))
    await asyncio.sleep(0.01)
    first.cancel()
    gate.set()
    assert await second == "claimed b"
    assert release == [("a", "claimed a")]


async def test_an_unreachable_database_fails_every_request_without_retrying_each() -> None:
    calls: list[int] = []

    async def run(requests):
        calls.append(len(requests))
        raise ConnectionRefusedError("down")

    batcher: Batcher[int, int] = Batcher(run, shared=lambda exc: isinstance(exc, OSError))
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert calls == [5]
