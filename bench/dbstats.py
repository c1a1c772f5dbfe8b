"""Database work per order, counted by PostgreSQL for the run's own database.

- **Transactions** (`pg_stat_database`: xact_commit + xact_rollback) always work. PostgreSQL
  (15+) flushes a backend's counters at most once a second and, for a backend that goes idle
  right after a flush, only 10 s later, so a phase is read after `settle` seconds of quiet
  (the worker's own background work in that time, e.g. the retry scheduler, is counted too).
- **Statements** (`pg_stat_statements`: calls, including BEGIN/COMMIT/ROLLBACK) need the
  library in `shared_preload_libraries` (scripts/postgres-local sets it when the cluster
  starts) and the extension created in the `postgres` database or the server URL's; without
  them they are "n/a". Its counters are immediate. Each phase first resets the run database's
  entries (`pg_stat_statements_reset(0, dbid, 0)`; other databases keep theirs), and the
  figures are deltas anyway, so a role that may not reset still gets them.

Statements are not round trips: asyncpg sends one statement in one flight (Parse/Bind/Execute/
Sync; preparing a new one adds a round trip), and `executemany` sends many executions, each a
call here, in one flight.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Counters:
    transactions: int
    calls: dict[int, tuple[int, str]] | None = None  # queryid: (calls, text); None: n/a

    @property
    def statements(self) -> int | None:
        return None if self.calls is None else sum(c for c, _ in self.calls.values())


@dataclass
class DbStats:
    """A monitoring connection to the server of the run's database `database`."""

    server_url: str
    database: str
    settle: float = 11.0
    statements: bool = field(default=False, init=False)
    _conn: asyncpg.Connection | None = field(default=None, init=False)
    _dbid: int = field(default=0, init=False)
    _may_reset: bool = field(default=True, init=False)

    async def __aenter__(self) -> DbStats:
        """Connect where `pg_stat_statements` is visible if it is anywhere, else anywhere."""
        base = make_url(self.server_url).set(drivername="postgresql")
        for name in dict.fromkeys(["postgres", base.database or "postgres"]):
            conn = await self._connect(base.set(database=name).render_as_string(False))
            if conn is None:
                continue
            if await self._has_statements(conn):
                if self._conn is not None:
                    await self._conn.close()
                self._conn, self.statements = conn, True
                break
            if self._conn is None:
                self._conn = conn
            else:
                await conn.close()
        if self._conn is None:
            raise RuntimeError(f"cannot connect to the server of {self.database}")
        oid = await self._conn.fetchval(
            "SELECT oid FROM pg_database WHERE datname = $1", self.database
        )
        self._dbid = int(oid)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    @staticmethod
    async def _connect(url: str) -> asyncpg.Connection | None:
        try:
            return await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError):
            return None

    @staticmethod
    async def _has_statements(conn: asyncpg.Connection) -> bool:
        try:
            await conn.fetchval("SELECT count(*) FROM pg_stat_statements(false) LIMIT 1")
        except asyncpg.PostgresError:  # no extension here, or the library is not loaded
            return False
        return True

    async def start_phase(self, quiet: bool = True) -> Counters:
        """Counters at the start of a phase (after `settle` seconds when `quiet`), with this
        database's statement entries reset."""
        if quiet:
            await asyncio.sleep(self.settle)
        if self.statements and self._may_reset:
            try:
                await self._db.execute("SELECT pg_stat_statements_reset(0, $1, 0)", self._dbid)
            except asyncpg.InsufficientPrivilegeError:
                self._may_reset = False
        return await self.read()

    async def end_phase(self) -> Counters:
        await asyncio.sleep(self.settle)
        return await self.read()

    @property
    def _db(self) -> asyncpg.Connection:
        assert self._conn is not None, "use DbStats in `async with`"
        return self._conn

    async def read(self) -> Counters:
        xacts = await self._db.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datid = $1",
            self._dbid,
        )
        calls = None
        if self.statements:
            rows = await self._db.fetch(
                "SELECT queryid, sum(calls)::bigint AS calls, min(query) AS query"
                " FROM pg_stat_statements WHERE dbid = $1 GROUP BY queryid",
                self._dbid,
            )
            calls = {r["queryid"] or 0: (r["calls"], r["query"] or "") for r in rows}
        return Counters(int(xacts or 0), calls)


def phase_summary(before: Counters, after: Counters, orders: int, top: int = 12) -> dict:
    """Transactions and statements per order between two readings, and the statements that
    ran most often (calls per order, text shortened)."""
    xacts = after.transactions - before.transactions
    out: dict[str, Any] = {
        "transactions": xacts,
        "transactions_per_order": round(xacts / orders, 2) if orders else None,
        "statements": None,
        "statements_per_order": None,
        "top_statements": [],
    }
    if after.calls is None or before.calls is None:
        return out
    delta = statement_deltas(before.calls, after.calls)
    total = sum(c for c, _ in delta)
    out["statements"] = total
    out["statements_per_order"] = round(total / orders, 2) if orders else None
    out["top_statements"] = [
        {"calls_per_order": round(c / orders, 2) if orders else None, "query": shorten(q)}
        for c, q in delta[:top]
    ]
    return out


def statement_deltas(
    before: dict[int, tuple[int, str]], after: dict[int, tuple[int, str]]
) -> list[tuple[int, str]]:
    """Calls per statement between two readings, most frequent first; an entry reset or
    evicted in between counts from zero (a reset is what a phase starts with)."""
    out = []
    for queryid, (calls, text) in after.items():
        old = before.get(queryid, (0, ""))[0]
        spent = calls - old if calls >= old else calls
        if spent > 0:
            out.append((spent, text))
    return sorted(out, key=lambda item: -item[0])


def shorten(query: str, limit: int = 160) -> str:
    text = " ".join(query.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
