"""The ledger's and outbox's per-order statements on asyncpg directly (PostgreSQL).

SQLAlchemy's execution layer (compile cache, parameter processing, insertmanyvalues, the
greenlet bridge to asyncpg) cost more CPU per order than asyncpg itself (ADR 0010). Here each
batch is one prepared statement (asyncpg caches it per connection) whose rows travel as one
array per column (`unnest`): a claim batch is one INSERT, a finish batch one statement whose
CAS update and outbox and tracking inserts are data-modifying CTEs, atomic by itself, so no
BEGIN, lock or COMMIT round trips either.

The connection still comes from the engine's pool, so pool sizing, reset on return and the
broken-connection handling of config/db.py stay those of every other statement. A driver error
goes through SQLAlchemy's own handling (`_raise_as_sqlalchemy`): callers see the exceptions
they would see from SQLAlchemy (outage classification, workers/outage.py), and a connection
broken mid-statement is invalidated, never returned to the pool.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy import JSON, Column, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from config.hot_statements import (
    FINISH_CLEARS,
    FINISHED_COLUMNS,
    ISSUANCES,
    KEY_COLUMNS,
    OUTBOX,
    FinishRows,
    PendingRow,
    row_values,
)
from domain.ledger import State

_PG = postgresql.dialect()
_OUTBOX_COLUMNS = ("topic", "key", "value", "headers")
_PENDING = (
    'SELECT "id", "topic", "key", "value", "headers"::text FROM "outbox" '
    'WHERE "published_at" IS NULL AND "quarantined_at" IS NULL ORDER BY "id" LIMIT $1'
)
_MARK_PUBLISHED = 'UPDATE "outbox" SET "published_at" = $2 WHERE "id" = ANY($1::INTEGER[])'


def _json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _array_type(column: Column[Any]) -> str:
    """The parameter's array type: the column's type without length (a too long value must be
    refused by the column, as SQLAlchemy's statement has it, not cut by a cast); JSON as text."""
    if _json(column):
        return "TEXT[]"
    return re.sub(r"\(.*?\)", "", column.type.compile(dialect=_PG)) + "[]"


def _arrays(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """One array per column (JSON serialised as SQLAlchemy's JSON type does)."""
    arrays: list[Any] = []
    for name in names:
        values = [row.get(name) for row in rows]
        arrays.append([json.dumps(v) for v in values] if _json(table.c[name]) else values)
    return arrays


def _unnest(
    table: Table, names: Sequence[str], first: int, extra: Sequence[tuple[str, str]] = ()
) -> tuple[str, str]:
    """`unnest($first::t[], …) WITH ORDINALITY AS v(…, "_n")` and the select list of `names`."""
    params = [f"${first + i}::{_array_type(table.c[n])}" for i, n in enumerate(names)]
    params += [f"${first + len(names) + i}::{t}[]" for i, (_, t) in enumerate(extra)]
    alias = ", ".join(f'"{n}"' for n in [*names, *(n for n, _ in extra), "_n"])
    selected = ", ".join(f'v."{n}"::json' if _json(table.c[n]) else f'v."{n}"' for n in names)
    return f"unnest({', '.join(params)}) WITH ORDINALITY AS v({alias})", selected


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


@functools.cache
def _claim_sql(names: tuple[str, ...]) -> str:
    source, selected = _unnest(ISSUANCES, names, 1)
    return (
        f'INSERT INTO "issuances" ({_quoted(names)}) SELECT {selected} FROM {source} '
        f'ORDER BY v."_n" ON CONFLICT ({_quoted(KEY_COLUMNS)}) DO NOTHING '
        f'RETURNING "id", {_quoted(KEY_COLUMNS)}'
    )


@functools.cache
def _on_update(table: Table) -> str:
    """What SQLAlchemy's UPDATE sets by itself (`onupdate`: updated_at = now())."""
    return "".join(
        f', "{c.name}" = {c.onupdate.arg.compile(dialect=_PG)}'  # type: ignore[union-attr]
        for c in table.columns
        if c.onupdate is not None
    )


# a generic insert in a finish: a table, its columns (the rows' keys, in order)
_Shape = tuple[tuple[Table, tuple[str, ...]], ...]


@functools.cache
def _finish_sql(with_outbox: bool, shape: _Shape) -> str:
    """One statement: the CAS update of the entries still ours, then, for those only, the
    outbox and tracking rows (`_entry` says whose a row is), in the order given."""
    names = ("id", *FINISHED_COLUMNS)
    source, _ = _unnest(ISSUANCES, names, 3)
    sets = ", ".join(f'"{c}" = v."{c}"' for c in FINISHED_COLUMNS)
    clears = "".join(f', "{c}" = NULL' for c in FINISH_CLEARS)
    ctes = [
        f'done AS (UPDATE "issuances" AS i SET {sets}{clears}, "version" = i."version" + 1'
        f"{_on_update(ISSUANCES)} FROM {source} "
        f'WHERE i."id" = v."id" AND i."state" = $2 AND i."lease_owner" = $1 RETURNING i."id")'
    ]
    first = 3 + len(names)
    inserts = [(OUTBOX, _OUTBOX_COLUMNS)] if with_outbox else []
    for n, (table, columns) in enumerate([*inserts, *shape]):
        source, selected = _unnest(table, columns, first, [("_entry", "INTEGER")])
        first += len(columns) + 1
        ctes.append(
            f'w{n} AS (INSERT INTO "{table.name}" ({_quoted(columns)}) SELECT {selected} '
            f'FROM {source} WHERE v."_entry" IN (SELECT "id" FROM done) ORDER BY v."_n")'
        )
    return f'WITH {", ".join(ctes)} SELECT "id" FROM done'


@functools.cache
def _defaults(table: Table) -> tuple[tuple[str, Callable[[], Any]], ...]:
    """Python-side column defaults, which Core applies to a row that leaves them out."""
    found: list[tuple[str, Callable[[], Any]]] = []
    for column in table.columns:
        default = column.default
        if default is None:
            continue
        if default.is_scalar:
            found.append((column.name, lambda v=default.arg: v))  # type: ignore[attr-defined]
        elif default.is_callable:
            found.append((column.name, lambda f=default.arg: f(None)))  # type: ignore[attr-defined]
    return tuple(found)


def _with_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    for name, default in _defaults(table):
        if name not in values:
            values[name] = default()
    return values


def _raise_as_sqlalchemy(sync: Connection, error: BaseException, statement: str) -> NoReturn:
    """Raise what SQLAlchemy raises when `error` comes out of its own execution of
    `statement`: the DB-API translation of the asyncpg dialect, the `handle_error` hooks
    (config/db.py), disconnect detection and invalidation of the connection (and of the pool
    on a disconnect), wrapped as DBAPIError with `connection_invalidated` set."""
    adapted = sync.connection.dbapi_connection
    try:
        adapted._handle_exception(error)  # type: ignore[union-attr]
    except BaseException as translated:
        sync._handle_dbapi_exception(translated, statement, None, None, None)
    raise error  # not reached: both raise


class AsyncpgStatements:
    """The hot statements on the pool's asyncpg connections (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _run(self, method: str, statement: str, *args: Any) -> Any:
        """`driver.<method>(statement, *args)` on a connection of the pool."""
        async with self._engine.connect() as conn:  # no statement through it: no BEGIN
            driver = conn.sync_connection.connection.driver_connection  # checked out: no I/O
            events = self._engine.sync_engine.dispatch
            if events.before_cursor_execute:  # statements stay visible to the engine's hooks
                for hook in events.before_cursor_execute:
                    hook(conn.sync_connection, None, statement, args, None, False)
            try:
                return await getattr(driver, method)(statement, *args)
            except BaseException as error:  # cancelled mid-statement too: like SQLAlchemy
                await conn.run_sync(_raise_as_sqlalchemy, error, statement)
                raise

    async def claim(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        names = tuple(rows[0])
        sql = _claim_sql(names)
        arrays = _arrays(ISSUANCES, names, rows)
        return [tuple(r) for r in await self._run("fetch", sql, *arrays)]

    async def finish(self, owner: str, requests: Sequence[FinishRows]) -> set[int]:
        args: list[Any] = [owner, State.CLAIMED.value, [r.entry_id for r in requests]]
        args += _arrays(ISSUANCES, FINISHED_COLUMNS, [r.values for r in requests])
        outbox = [(r.entry_id, v) for r in requests for v in r.outbox]
        if outbox:
            args += _arrays(OUTBOX, _OUTBOX_COLUMNS, [v for _, v in outbox])
            args.append([entry for entry, _ in outbox])
        by_table: dict[tuple[Table, tuple[str, ...]], list[tuple[int, dict[str, Any]]]] = {}
        for r in requests:
            for row in r.rows:
                table = row.__table__
                values = _with_defaults(table, row_values(row))
                by_table.setdefault((table, tuple(sorted(values))), []).append((r.entry_id, values))
        for (table, names), rows in by_table.items():
            args += _arrays(table, names, [v for _, v in rows])
            args.append([entry for entry, _ in rows])
        sql = _finish_sql(bool(outbox), tuple(by_table))
        return {r[0] for r in await self._run("fetch", sql, *args)}

    async def pending(self, limit: int) -> list[PendingRow]:
        rows = await self._run("fetch", _PENDING, limit)
        return [(i, t, k, v, json.loads(h)) for i, t, k, v, h in rows]

    async def mark_published(self, ids: Sequence[int], at: dt.datetime) -> None:
        await self._run("execute", _MARK_PUBLISHED, list(ids), at)
