"""The ledger's and outbox's per-order statements, chosen per dialect.

Every order in a drain claims (one multi-row INSERT per batch), finishes (one transaction per
batch) and is read and acknowledged by the outbox publisher. On PostgreSQL these run on the
driver directly (config/pg_hot.py): SQLAlchemy's execution layer around them cost more CPU
than asyncpg itself (ADR 0010). Every other dialect (SQLite) runs them through SQLAlchemy Core
here. Both take the same rows, built once by the ledger, and give the same results.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from config.models import Issuance, OutboxMessage
from domain.ledger import State

ISSUANCES = Issuance.__table__
OUTBOX = OutboxMessage.__table__
KEY_COLUMNS = ("seller_id", "channel", "order_id", "slot", "refund_id")
# what a finish sets per entry (FinishRows.values)
FINISHED_COLUMNS = (
    "state",
    "result_event",
    "document_kind",
    "failure_code",
    "provider_document_id",
)
# a finished entry holds no lease and waits for nothing
FINISH_CLEARS = ("park_reason", "next_attempt_at", "lease_owner", "lease_until")
# an outbox row as the publisher reads it: id, topic, key, value, headers (JSON list of pairs)
PendingRow = tuple[int, str, bytes | None, bytes | None, list[Any]]


@dataclass(frozen=True)
class FinishRows:
    """One finish request as rows: its entry's new values and the rows written with them."""

    entry_id: int
    values: Mapping[str, Any]  # the finished columns (state, result_event, ...)
    outbox: Sequence[Mapping[str, Any]]  # outbox rows, in order
    rows: Sequence[Any]  # other new ORM objects (a clearance check)


class HotStatements(Protocol):
    async def claim(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert new entries, skipping keys that exist; (id, *key) of each inserted one."""
        ...

    async def finish(self, owner: str, requests: Sequence[FinishRows]) -> set[int]:
        """Atomically finish the requests' entries still claimed by `owner` and write their
        rows (none for an entry taken over); the ids finished."""
        ...

    async def pending(self, limit: int) -> list[PendingRow]: ...

    async def mark_published(self, ids: Sequence[int], at: dt.datetime) -> None: ...


def hot_statements(engine: AsyncEngine) -> HotStatements:
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
        from config.pg_hot import AsyncpgStatements

        return AsyncpgStatements(engine)
    return CoreStatements(engine)


def row_values(row: Any) -> dict[str, Any]:
    """A new ORM object's attribute values, as Core (or the driver) inserts them."""
    return {k: v for k, v in vars(row).items() if not k.startswith("_")}


# one CAS update per finished entry, sent together (executemany): the rows were locked first
_FINISH = (
    update(ISSUANCES)
    .where(
        ISSUANCES.c.id == bindparam("b_id"),
        ISSUANCES.c.state == State.CLAIMED.value,
        ISSUANCES.c.lease_owner == bindparam("b_owner"),
    )
    .values(
        {
            **{c: bindparam(f"b_{c}") for c in FINISHED_COLUMNS},
            **dict.fromkeys(FINISH_CLEARS),
            "version": ISSUANCES.c.version + 1,
        }
    )
)
# the entries of a batch that are still ours, locked until the batch's transaction ends
_LOCK_OURS = (
    select(ISSUANCES.c.id)
    .where(
        ISSUANCES.c.id.in_(bindparam("ids", expanding=True)),
        ISSUANCES.c.state == State.CLAIMED.value,
        ISSUANCES.c.lease_owner == bindparam("owner"),
    )
    .with_for_update()
)
_PENDING = (
    select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.value, OUTBOX.c.headers)
    .where(OUTBOX.c.published_at.is_(None), OUTBOX.c.quarantined_at.is_(None))
    .order_by(OUTBOX.c.id)
    .limit(bindparam("limit"))
)
_MARK_PUBLISHED = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("at"))
)


async def insert_rows(conn: AsyncConnection, rows: Sequence[Any]) -> None:
    """Insert new ORM objects with Core, one executemany per table: a batch's outbox and
    tracking rows without the session's unit of work (no identity map, no RETURNING)."""
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_table.setdefault(row.__table__, []).append(row_values(row))
    for table, values in by_table.items():
        await conn.execute(_insert_into(table), values)


@functools.cache
def _insert_into(table: Any) -> Any:
    """One INSERT statement object per table: built and cache-keyed once, not per batch."""
    return insert(table)


class CoreStatements:
    """Through SQLAlchemy Core: any dialect (SQLite, the embedded default)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # one statement, atomic by itself: no BEGIN and COMMIT round trips around it
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        insert_for = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._claim = (
            insert_for(ISSUANCES)
            .on_conflict_do_nothing(index_elements=list(KEY_COLUMNS))
            .returning(ISSUANCES.c.id, *(ISSUANCES.c[c] for c in KEY_COLUMNS))
        )

    async def claim(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        async with self._autocommit.connect() as conn:  # Core: no unit of work per batch
            # SQLAlchemy sends the rows as one multi-row INSERT ("insertmanyvalues"); rows
            # skipped by the conflict are simply not returned
            return [tuple(row) for row in await conn.execute(self._claim, list(rows))]

    async def finish(self, owner: str, requests: Sequence[FinishRows]) -> set[int]:
        ids = [r.entry_id for r in requests]
        async with self._engine.begin() as conn:
            ours = set((await conn.execute(_LOCK_OURS, {"ids": ids, "owner": owner})).scalars())
            done = [r for r in requests if r.entry_id in ours]
            if done:
                await conn.execute(
                    _FINISH,
                    [
                        {"b_id": r.entry_id, "b_owner": owner}
                        | {f"b_{c}": v for c, v in r.values.items()}
                        for r in done
                    ],
                )
                outbox = [values for r in done for values in r.outbox]
                if outbox:
                    await conn.execute(_insert_into(OUTBOX), outbox)
                await insert_rows(conn, [row for r in done for row in r.rows])
        return ours

    async def pending(self, limit: int) -> list[PendingRow]:
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(_PENDING, {"limit": limit})
            return [(i, t, k, v, h) for i, t, k, v, h in rows]

    async def mark_published(self, ids: Sequence[int], at: dt.datetime) -> None:
        async with self._autocommit.connect() as conn:  # one statement: atomic by itself
            await conn.execute(_MARK_PUBLISHED, {"ids": list(ids), "at": at})
