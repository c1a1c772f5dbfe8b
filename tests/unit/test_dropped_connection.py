"""A connection the server drops mid-statement is never handed out again (config/db.py).

The worker's pool does not ping before each use (docs/performance.md), so a broken connection
must be recognised by the statement that failed on it. asyncpg reports the connection closed
only once it processed the socket's end; before that, SQLAlchemy's own check says "not a
disconnect", and the next user of the connection fails with "another operation is in progress",
which the worker took for a defect of its own (dead letter `internal_error`)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from config.db import _invalidate_broken_connection, create_engine
from workers.outage import DATABASE, dependency_down


@pytest.mark.parametrize("many", [False, True], ids=["execute", "executemany"])
async def test_a_connection_terminated_mid_statement_is_dropped_and_reported_as_an_outage(
    postgres_url: str, many: bool
) -> None:
    engine = create_engine(postgres_url, pool_size=1)  # one connection: the next use reuses it
    admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.commit()
            sleep = text("SELECT pg_sleep(:s)")
            params = [{"s": 0.5}] * 10 if many else {"s": 5}  # a batch's executemany, or one
            sleeping = asyncio.create_task(conn.execute(sleep, params))
            await asyncio.sleep(0.3)
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises(DBAPIError) as failed:
                await sleeping
        assert failed.value.connection_invalidated, "a broken connection went back to the pool"
        assert dependency_down(failed.value) == DATABASE
        async with engine.connect() as conn:  # the pool's only slot: a fresh connection
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await admin.close()
        await engine.dispose()


@pytest.mark.parametrize(
    "cause",
    [
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        ConnectionResetError("Connection reset by peer"),
    ],
    ids=["busy", "admin-shutdown", "reset"],
)
def test_a_broken_connection_is_recognised_through_the_dialects_wrapper(
    cause: BaseException,
) -> None:
    """SQLAlchemy's asyncpg dialect hands the listener its own DBAPI error class, with asyncpg's
    error as the cause: the listener looks there, or it never matched (seen in review)."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

    wrapped = AsyncAdapt_asyncpg_dbapi.InterfaceError(str(cause))
    wrapped.__cause__ = cause
    context = SimpleNamespace(original_exception=wrapped, is_disconnect=False)
    _invalidate_broken_connection(context)  # type: ignore[arg-type]
    assert context.is_disconnect


def test_a_data_error_keeps_its_connection() -> None:
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

    wrapped = AsyncAdapt_asyncpg_dbapi.IntegrityError("duplicate key")
    wrapped.__cause__ = asyncpg.UniqueViolationError("duplicate key value")
    context = SimpleNamespace(original_exception=wrapped, is_disconnect=False)
    _invalidate_broken_connection(context)  # type: ignore[arg-type]
    assert not context.is_disconnect
