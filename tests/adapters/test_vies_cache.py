"""The VIES cache over the real client, the simulator and a real database (SQLite and
PostgreSQL): one check per VAT id per Polish day, across restarts and workers; only definite
answers are kept."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from adapters.vies import CachedViesChecker, ViesClient, ViesUnavailable
from config.db import create_engine, session_factory, upgrade
from config.models import ViesCheck
from simulators.vies import FaultRule, KnownNumber, ViesSimulator

pytestmark = pytest.mark.integration

# 7 December 2026, CET (UTC+1): 23:30 UTC on the 6th is already the 7th in Poland.
EARLY = dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 7th in Poland
LATE = dt.datetime(2026, 12, 7, 22, 59, tzinfo=dt.UTC)  # 23:59 on the 7th in Poland
NEXT_DAY = dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC)  # 00:00 on the 8th in Poland


@dataclass
class Clock:
    now: dt.datetime = EARLY

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/vies.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker]:
    upgrade(db_url)
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def vies() -> AsyncIterator[tuple[ViesSimulator, str]]:
    sim = ViesSimulator(
        [KnownNumber(vat_id="DE123456789", name="Teile GmbH")], shutdown_timeout=0.2
    )
    async with sim.serve() as url:
        yield sim, url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def workers(
    vies: tuple[ViesSimulator, str], sessions: async_sessionmaker, clock: Clock
) -> AsyncIterator[list[CachedViesChecker]]:
    """Two cached checkers, each with its own client, as two worker processes would have."""
    clients = [
        ViesClient(base_url=vies[1], timeout=2.0, requester="PL5252445767", clock=clock)
        for _ in range(2)
    ]
    yield [CachedViesChecker(client, sessions, clock=clock) for client in clients]
    for client in clients:
        await client.aclose()


def asked(sim: ViesSimulator) -> int:
    return len(sim.request_log())


async def stored(sessions: async_sessionmaker) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(ViesCheck)) or 0


async def test_the_same_polish_day_is_answered_from_the_cache(
    workers: list[CachedViesChecker], vies: tuple[ViesSimulator, str], clock: Clock
) -> None:
    first = await workers[0].check("DE123456789")
    clock.now = LATE  # another UTC day, the same Polish one
    again = await workers[0].check("de 123 456 789")
    assert first.valid and first.request_id and again == first
    assert asked(vies[0]) == 1


async def test_the_next_polish_day_asks_again(
    workers: list[CachedViesChecker], vies: tuple[ViesSimulator, str], clock: Clock
) -> None:
    clock.now = LATE
    first = await workers[0].check("DE123456789")
    clock.now = NEXT_DAY  # the same UTC day, the next Polish one
    second = await workers[0].check("DE123456789")
    assert asked(vies[0]) == 2
    assert second.checked_at == NEXT_DAY and second.request_id != first.request_id


async def test_a_restart_or_another_worker_does_not_ask_again(
    workers: list[CachedViesChecker], vies: tuple[ViesSimulator, str], db_url: str
) -> None:
    first = await workers[0].check("DE123456789")
    assert await workers[1].check("DE123456789") == first
    engine = create_engine(db_url)  # a restarted worker: new engine, nothing in memory
    try:
        client = ViesClient(base_url=vies[1], clock=lambda: LATE)
        restarted = CachedViesChecker(client, session_factory(engine), clock=lambda: LATE)
        assert await restarted.check("DE123456789") == first
        await client.aclose()
    finally:
        await engine.dispose()
    assert asked(vies[0]) == 1


async def test_invalid_answers_are_definite_and_cached(
    workers: list[CachedViesChecker], vies: tuple[ViesSimulator, str]
) -> None:
    for vat_id in ("DE999999999", "XX123"):  # unregistered; INVALID_INPUT
        assert not (await workers[0].check(vat_id)).valid
        assert not (await workers[0].check(vat_id)).valid
    assert asked(vies[0]) == 2


@pytest.mark.parametrize(
    "fault",
    [
        FaultRule(action="http_5xx"),
        FaultRule(action="vies_error", error="MS_UNAVAILABLE"),
        FaultRule(action="vies_error", error="TIMEOUT", status=500),
        FaultRule(action="latency", delay_ms=2500),  # past the client's 2 s
    ],
    ids=["down", "ms_unavailable", "timeout", "slow"],
)
async def test_unavailability_is_never_cached(
    workers: list[CachedViesChecker],
    vies: tuple[ViesSimulator, str],
    sessions: async_sessionmaker,
    fault: FaultRule,
) -> None:
    vies[0].add_fault("vies", fault)
    with pytest.raises(ViesUnavailable):
        await workers[0].check("DE123456789")
    assert await stored(sessions) == 0
    assert (await workers[0].check("DE123456789")).valid  # asked again, answered this time
    assert await stored(sessions) == 1
    for _ in range(50):  # the slow call is logged once its late answer is written
        if asked(vies[0]) == 2:
            break
        await asyncio.sleep(0.1)
    assert asked(vies[0]) == 2


async def test_concurrent_checks_in_one_worker_share_one_call(
    workers: list[CachedViesChecker], vies: tuple[ViesSimulator, str]
) -> None:
    vies[0].add_fault("vies", FaultRule(action="latency", delay_ms=200))
    results = await asyncio.gather(*(workers[0].check("DE123456789") for _ in range(5)))
    assert len(set(results)) == 1 and asked(vies[0]) == 1


async def test_workers_racing_keep_the_first_stored_answer(
    workers: list[CachedViesChecker], vies: tuple[ViesSimulator, str], sessions: async_sessionmaker
) -> None:
    vies[0].add_fault("vies", FaultRule(action="latency", delay_ms=200, times=2))
    first, second = await asyncio.gather(*(w.check("DE123456789") for w in workers))
    assert asked(vies[0]) == 2  # both asked before either stored
    assert first == second and await stored(sessions) == 1  # one consultation number relied on
