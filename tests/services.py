"""Locating the real services integration tests need.

`KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` name running services (the project's scripts print
them). When unset, a Docker engine (if one answers) starts containers via testcontainers.
Otherwise the test is skipped locally, and fails when CI=true: CI must never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
HOW = {
    "kafka": "start it with `scripts/kafka-local start` and export the KAFKA_BOOTSTRAP_SERVERS "
    "it prints (or run `make test`, which does both)",
    "postgres": "start it with `scripts/postgres-local start` and export the DATABASE_URL it "
    "prints (or run `make test`)",
}


def unavailable(what: str, why: str) -> None:
    message = f"{what} is not available ({why}); {HOW[what]}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return done.returncode == 0


@contextmanager
def kafka_bootstrap() -> Iterator[str]:
    url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if url:
        _check_kafka(url)
        yield url
        return
    if not docker_answers():
        unavailable("kafka", "KAFKA_BOOTSTRAP_SERVERS is unset and no Docker engine answers")
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


def _check_kafka(url: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=url, request_timeout_ms=10000)
        await admin.start()
        try:
            await admin.list_topics()
        finally:
            await admin.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), 20))
    except Exception as exc:
        unavailable("kafka", f"no broker answers at {url}: {exc!r}")


@contextmanager
def postgres_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        _check_postgres(url)
        yield url
        return
    if not docker_answers():
        unavailable("postgres", "DATABASE_URL is unset and no Docker engine answers")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16") as pg:
        yield pg.get_connection_url(driver=None)


def _check_postgres(url: str) -> None:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=10)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        unavailable("postgres", f"cannot connect to {url.rsplit('@', 1)[-1]}: {exc!r}")


def throwaway_database(url: str, name: str) -> str:
    """Create a fresh database next to `url` and return its URL (dropped by the caller)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)

    async def create() -> None:
        conn = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(False))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    async def drop() -> None:
        conn = await asyncpg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(False)
        )
        try:
            await drop_on(conn, name)
        finally:
            await conn.close()

    asyncio.run(drop())


# Our own leftover sessions we may terminate; anything else on the database is waited out.
_OUR_SESSIONS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1"
    " AND usename = current_user AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


async def drop_on(conn: Any, name: str, *, attempts: int = 40, pause: float = 0.25) -> None:
    """Drop database `name`, even while something we may not signal is connected to it.

    `WITH (FORCE)` terminates every session on the database and fails outright when one of
    them belongs to no role we are a member of: an autovacuum worker that happened to start on
    the test database (seen in CI). Then our own sessions are terminated and a plain DROP is
    retried: a plain DROP makes autovacuum workers on the database exit, and waits for them.
    """
    import asyncpg

    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except asyncpg.InsufficientPrivilegeError:
        await drop_waiting(conn, name, attempts=attempts, pause=pause)


async def drop_waiting(conn: Any, name: str, *, attempts: int = 40, pause: float = 0.25) -> None:
    """Terminate our own sessions on `name` and DROP it, waiting out the rest (about 10 s)."""
    import asyncpg

    for attempt in range(attempts):
        await conn.fetchval(_OUR_SESSIONS, name)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            return
        except asyncpg.ObjectInUseError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(pause)
