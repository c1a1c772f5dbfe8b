"""Credentials never leave the worker in plain text: not in its log, its events, its dead
letters or its database, whatever happens to the order (issued, refused, dead-lettered)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from config.db import create_engine
from config.models import Base
from tests import factories as f
from tests.integration.harness import (
    Consumed,
    Stack,
    collect,
    create_topics,
    order_record,
    produce,
    worker_process,
)
from tests.integration.test_end_to_end import CONFIG

pytestmark = pytest.mark.integration


def database_text(url: str) -> str:
    """Every row of every table the project owns, as the database returns it."""

    async def run() -> str:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                tables = Base.metadata.sorted_tables
                return repr([(await conn.execute(select(t))).all() for t in tables])
        finally:
            await engine.dispose()

    return asyncio.run(run())


def record_text(records: list[Consumed]) -> str:
    return repr([(r.key, r.value, sorted(r.headers.items())) for r in records])


def test_no_secret_in_logs_events_dead_letters_or_database(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    sim, base_url = fakturownia
    ovoko = f"ovoko-{uid}"
    secrets = [f"tok-a-{uid}", f"tok-b-{uid}"]
    stack = Stack(kafka_bootstrap, postgres_url, uid, [ovoko], base_url)
    stack.apply_config(CONFIG.format(uid=uid))
    dlq = f"orders.{ovoko}.dlq"
    outputs = [stack.issued_topic, stack.failed_topic, dlq]
    create_topics(kafka_bootstrap, [f"orders.{ovoko}", *outputs], stack.partitions)
    seller = f"seller-a-{uid}"
    log_path = tmp_path / "worker.log"
    with worker_process(stack, log_path):
        produce(
            kafka_bootstrap,
            [
                order_record(f"orders.{ovoko}", f.completed(seller, ovoko, f.order("OK-1"))),
                (f"orders.{ovoko}", b"BROKEN", b'{"specversion": "1.0"', []),
            ],
        )
        collect(kafka_bootstrap, outputs, done=lambda rs: len(rs) >= 2, timeout=60, settle=0)
        sim.revoke_token(f"acme-{uid}")  # the provider now refuses the token: a failure path
        produce(
            kafka_bootstrap,
            [order_record(f"orders.{ovoko}", f.completed(seller, ovoko, f.order("AUTH-1")))],
        )
        out = collect(
            kafka_bootstrap,
            outputs,
            done=lambda rs: b"AUTH-1" in {r.key for r in rs if r.topic == stack.failed_topic},
            timeout=60,
        )

    log = log_path.read_text(errors="replace")
    by_topic = {t: [r for r in out if r.topic == t] for t in outputs}
    assert [r.key for r in by_topic[stack.issued_topic]] == [b"OK-1"], log[-3000:]
    assert [r.key for r in by_topic[dlq]] == [b"BROKEN"]
    assert b"AUTH-1" in [r.key for r in by_topic[stack.failed_topic]]
    assert sim.request_log(f"acme-{uid}")  # the provider was called with the token
    places = {"log": log, "events": record_text(out), "database": database_text(postgres_url)}
    for secret in secrets:
        for place, text in places.items():
            assert secret not in text, f"{secret!r} found in the {place}"
    # personal data stays in the events' business payload, not in the operator's log
    assert "buyer@example.test" not in log and f.VALID_NIP not in log
