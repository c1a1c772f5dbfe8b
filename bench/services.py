"""Kafka and PostgreSQL for a benchmark run: the project's own scripts, a throwaway database.

The scripts reuse a running broker or cluster and start one otherwise, so a fresh clone needs
nothing else. What they started keeps running (like `make test`, which stops only what it
started, the benchmark leaves services alone): other work on the machine may be using them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.services import drop_database as drop_throwaway_database
from tests.services import throwaway_database

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


# one run's database: the same throwaway databases the tests use (a fresh ledger per run)
create_database = throwaway_database
drop_database = drop_throwaway_database
