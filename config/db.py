"""Engine creation and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite:///` URLs (what people paste); use async drivers."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


def create_engine(url: str, *, pool_size: int | None = None) -> AsyncEngine:
    """An engine; `pool_size` set means a long-running worker's hot path (no pre-ping).

    The worker's pool holds `pool_size` connections and never opens overflow ones that would be
    closed again on return (a new connection per order under load). It does not ping on every
    checkout either (`BEGIN; ";"; ROLLBACK`, a round trip per use): a connection the server
    dropped fails its statement, SQLAlchemy invalidates the pool, and the step is retried as a
    database outage (workers/outage.py). Short-lived users (CLI, API) keep the ping.
    """
    # hide_parameters: a failed statement's error text must not carry buyers' data or secrets
    options: dict[str, object] = {"hide_parameters": True, "pool_pre_ping": pool_size is None}
    if pool_size is not None and make_url(url).get_backend_name() in ("postgresql", "postgres"):
        options.update(pool_size=pool_size, max_overflow=0, pool_timeout=60)
    engine = create_async_engine(async_url(url), **options)
    event.listen(engine.sync_engine, "handle_error", _invalidate_broken_connection)
    return engine


def _broken_connection_errors() -> tuple[type[BaseException], ...]:
    try:
        import asyncpg
    except ImportError:  # SQLite-only installs
        return (OSError,)
    return (
        OSError,  # the socket went away
        asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
        asyncpg.InternalClientError,  # the protocol was left mid-operation
        asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ...
        asyncpg.exceptions.AdminShutdownError,  # pg_terminate_backend, a failover, a restart
        asyncpg.exceptions.CrashShutdownError,
    )


_BROKEN = _broken_connection_errors()


def _invalidate_broken_connection(context: ExceptionContext) -> None:
    """A statement failed because its connection is broken: never hand that connection out
    again. asyncpg reports a server-terminated connection as closed only once it processed
    the socket's end, so SQLAlchemy's own check can miss it; without this (and with no ping
    on checkout) the next user of the connection fails with "another operation is in
    progress" (tests/faults/test_fault_12_dropped_connections.py)."""
    error = context.original_exception
    # SQLAlchemy's asyncpg dialect raises its own DBAPI classes with asyncpg's error as the cause
    if isinstance(error, _BROKEN) or isinstance(error.__cause__, _BROKEN):
        context.is_disconnect = True


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def sessions_for(url: str) -> AsyncIterator[async_sessionmaker]:
    """A session factory on a short-lived engine, for CLI commands and one-off jobs."""
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run on every start (idempotent)."""
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    """The newest migration this version of the code ships (what `upgrade` brings a database to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def known_revision(url: str, revision: str) -> bool:
    """Whether `revision` is one of this version's migrations (not one from a newer release)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config(url)).get_revision(revision) is not None
    except CommandError:
        return False


async def current_revision(engine: AsyncEngine) -> str | None:
    """The migration the database is at; None when it has no schema (never upgraded)."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
