"""The configuration cache: one generation read instead of a query per route, and every kind
of configuration change (API, `config apply`, a manual UPDATE or DELETE) seen at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, event, text, update

from config.apply import apply_config, load_config
from config.cache import SingleFlightCache
from config.db import create_engine, session_factory, upgrade
from config.models import ChannelMapping, ProviderConnection
from config.secrets import SecretBox
from config.store import ConfigStore

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
      - {channel: ovoko, connection: main, target: "101"}
"""


class Counted:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)
        self.statements: list[str] = []
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement: str, *_: object) -> None:
        self.statements.append(statement)

    def queries_of(self, table: str) -> int:
        return sum(1 for s in self.statements if f"FROM {table}" in s)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/c.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Counted]:
    url = db_url
    upgrade(url)
    counted = Counted(url)
    await apply_config(counted.sessions, load_config(CONFIG), BOX)
    yield counted
    await counted.engine.dispose()


async def test_unchanged_configuration_is_read_once_then_only_its_generation(db: Counted) -> None:
    store = ConfigStore(db.sessions, BOX, ttl=0)  # generation read on every lookup
    for _ in range(5):
        route = await store.route_for("s1", "ovoko")
        assert route is not None and route.target == "101"
        assert await store.connection(route.connection_id) is not None
    assert db.queries_of("channel_mappings") == 1
    assert db.queries_of("provider_connections") == 1
    assert db.queries_of("config_generation") == 10


@pytest.mark.parametrize(
    "change",
    [
        lambda: update(ChannelMapping).values(target="202"),
        lambda: update(ProviderConnection).values(status="needs_reauth"),
        lambda: delete(ChannelMapping),
    ],
    ids=["mapping-updated", "connection-updated", "mapping-deleted"],
)
async def test_every_change_is_seen_by_the_next_lookup(db: Counted, change) -> None:
    store = ConfigStore(db.sessions, BOX, ttl=0)
    before = await store.route_for("s1", "ovoko")
    assert before is not None
    async with db.sessions() as session, session.begin():  # another process, a manual UPDATE
        await session.execute(change())
    after = await store.route_for("s1", "ovoko")
    assert after != before


async def test_a_change_waits_at_most_the_ttl(db: Counted) -> None:
    store = ConfigStore(db.sessions, BOX, ttl=3600)
    assert (await store.route_for("s1", "ovoko")).target == "101"
    async with db.sessions() as session, session.begin():
        await session.execute(text("UPDATE channel_mappings SET target = '303'"))
    assert (await store.route_for("s1", "ovoko")).target == "101"  # within the ttl: cached
    store.invalidate()  # what this process does after its own change
    assert (await store.route_for("s1", "ovoko")).target == "303"


async def test_concurrent_misses_share_one_load() -> None:
    cache: SingleFlightCache[str, int] = SingleFlightCache(ttl=60)
    loads = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return 42

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [42] * 20
    assert loads == 1


async def test_a_failed_load_fails_its_waiters_and_is_not_kept() -> None:
    cache: SingleFlightCache[str, int] = SingleFlightCache(ttl=60)
    gate = asyncio.Event()

    async def broken() -> int:
        await gate.wait()
        raise ConnectionError("database down")

    waiting = [asyncio.create_task(cache.get("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)

    async def fixed() -> int:
        return 7

    assert await cache.get("k", fixed) == 7
