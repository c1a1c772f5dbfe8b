"""Fault 12 (issue 12): database connections dropped mid-batch lose and duplicate nothing.

The worker batches its database work (config/batching.py): one INSERT claims every order of a
fetch, one transaction finishes many, one read and one update publish the outbox, and its pool
no longer pings a connection before use. Here the server terminates every connection of the
worker's database (`pg_terminate_backend`, what a failover, a proxy restart or an idle-timeout
does) again and again while orders are claimed, created at the provider and finished. Every
statement in flight fails; batches fail as a whole. Every order must still end issued exactly
once, with nothing dead-lettered and no row left claimed.

CI: 240 orders (+ refunds), 40 terminations. Long: 800 orders, 150 terminations.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.support import FaultRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_fault_12_connections_dropped_mid_batch_lose_nothing(fault_run: FaultRun) -> None:
    run = fault_run
    n, drops = (800, 150) if run.long else (240, 40)
    docs, records = run.orders(n, "DC", refund_every=5)
    run.slow_creates(0.05)  # batches of finishes form while creates are answered
    run.start_worker("w1")
    run.produce(records)
    run.wait_for("first creates", lambda: run.creates_done() >= 5, timeout=90)
    terminated = 0
    for _ in range(drops):
        rows = run.query(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            # the worker's sessions: not an autovacuum worker on this database (a superuser
            # process we may not terminate, which made the whole query fail)
            "AND backend_type = 'client backend' AND usename = current_user"
        )
        terminated += rows[0]["n"]
        time.sleep(run.rnd.uniform(0.02, 0.4))
    assert terminated >= drops, "the worker held no connection to drop"
    run.verify(docs, timeout=300, counts=lambda: {"terminated": terminated})
    stuck = run.query(
        "SELECT order_id, state FROM issuances WHERE state NOT IN "
        "('issued', 'failed', 'skipped', 'unresolved')"
    )
    assert stuck == [], f"rows left non-final: {stuck}"
    assert run.unpublished_outbox() == []
