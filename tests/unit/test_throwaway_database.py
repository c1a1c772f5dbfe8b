"""The test harness drops its throwaway databases even when the server has a session on one
that the test role may not signal (an autovacuum worker; a FORCE drop then fails outright)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests import services


class ScriptedConnection:
    """Answers DROP statements from a script of outcomes, recording what was sent."""

    def __init__(self, drops: list[BaseException | None]) -> None:
        self.drops = drops
        self.sent: list[str] = []

    async def execute(self, sql: str) -> None:
        self.sent.append(sql)
        outcome = self.drops.pop(0)
        if outcome is not None:
            raise outcome

    async def fetchval(self, sql: str, *args: object) -> int:
        self.sent.append("terminate ours")
        return 0


def test_a_drop_refused_for_a_foreign_session_waits_for_it_with_a_plain_drop() -> None:
    refused = asyncpg.InsufficientPrivilegeError(
        "must be a member of the role whose process is being terminated"
    )
    busy = asyncpg.ObjectInUseError('database "x" is being accessed by other users')
    conn = ScriptedConnection([refused, busy, busy, None])

    asyncio.run(services.drop_on(conn, "x", pause=0))

    assert conn.sent == [
        'DROP DATABASE IF EXISTS "x" WITH (FORCE)',
        "terminate ours",
        'DROP DATABASE IF EXISTS "x"',
        "terminate ours",
        'DROP DATABASE IF EXISTS "x"',
        "terminate ours",
        'DROP DATABASE IF EXISTS "x"',
    ]


def test_a_database_that_stays_busy_fails_the_drop_after_the_wait() -> None:
    refused = asyncpg.InsufficientPrivilegeError("must be superuser")
    busy = asyncpg.ObjectInUseError("being accessed by other users")
    conn = ScriptedConnection([refused, *[busy] * 3])

    with pytest.raises(asyncpg.ObjectInUseError):
        asyncio.run(services.drop_on(conn, "x", attempts=3, pause=0))


def test_the_waiting_drop_terminates_our_own_leftover_sessions(postgres_server_url: str) -> None:
    """On the real server: a session of the test role left open on the database does not block
    the plain DROP (it is terminated first), and the database is gone afterwards."""
    name = f"ir_test_{uuid.uuid4().hex[:10]}"
    url = services.throwaway_database(postgres_server_url, name)
    server = make_url(postgres_server_url).set(drivername="postgresql").render_as_string(False)

    async def scenario() -> bool:
        leftover = await asyncpg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(False)
        )
        admin = await asyncpg.connect(server)
        try:
            await services.drop_waiting(admin, name)
            return bool(
                await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
            )
        finally:
            await admin.close()
            leftover.terminate()

    assert asyncio.run(scenario()) is False
