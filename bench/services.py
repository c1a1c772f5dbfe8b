"""Kafka and PostgreSQL for a benchmark run: the project's own scripts, a throwaway database.

The scripts reuse a running broker or cluster and start one otherwise, so a fresh clone needs
nothing else. What they started keeps running (like `make test`, which stops only what it
started, the benchmark leaves services alone): other work on the machine may be using them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]


def _script_value(script: str, name: str) -> str:
    """Run `scripts/<script> start` and read `NAME=value` from its last line."""
    done = subprocess.run(
        [str(REPO / "scripts" / script), "start"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not last.startswith(f"{name}="):
        raise RuntimeError(f"scripts/{script} start failed:\n{done.stderr[-2000:]}")
    return last.split("=", 1)[1]


def kafka_bootstrap() -> str:
    """`KAFKA_BOOTSTRAP_SERVERS` when set (someone runs a broker for us), else the local one."""
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _script_value(
        "kafka-local", "KAFKA_BOOTSTRAP_SERVERS"
    )


def postgres_url() -> str:
    """A PostgreSQL `DATABASE_URL` when set, else the local cluster of scripts/postgres-local."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return url
    return _script_value("postgres-local", "DATABASE_URL")


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(url: str, name: str) -> str:
    """A fresh database `name` next to `url`; returns its URL. One per run, so the ledger
    starts empty and nothing is shared with tests running at the same time."""

    async def create() -> None:
        conn = await asyncpg.connect(_admin_dsn(url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(_admin_dsn(url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
