"""Fault 1: `kill -9` the worker at random moments, restart it, repeat.

Afterwards every order (and every refund) has exactly one document at the simulators and
exactly one distinct invoice.issued event id (ADR 0006: ledger with leases, takeover with a
provider lookup before any create; outbox).

Orders are produced from a background thread at a steady pace over the whole kill phase rather
than all up front, so kills land while records are consumed *and* while new ones arrive, and
each restarted worker finds a mix of redelivered and fresh records. Every create answers
0.15 s after it committed at the provider, which widens the window in which only the provider
knows the document: a kill there leaves an expired claim whose takeover must find the document
by `oid` / `id_external` instead of creating it again. Each kill waits until the restarted
worker has issued something (so it never lands during start-up only), then a random 0-3 s.

CI: ~120 orders (+ refunds), 3 kills. Long (`--fault-long` / FAULT_LONG=1): 500 orders, 10 kills.
"""

from __future__ import annotations

import math
import time

import pytest

from tests.faults.support import FaultRun, Trickle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def test_fault_1_kill_9_at_random_moments_loses_and_duplicates_nothing(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    n, kills = (500, 10) if run.long else (120, 3)
    docs, records = run.orders(n, "K", refund_every=10)
    run.slow_creates(0.15)
    # spread production over roughly the kill phase (one kill cycle takes ~8-10 s)
    pace_seconds = kills * 8
    trickle = Trickle(run.kafka, records, chunk=math.ceil(len(records) / pace_seconds), interval=1)
    trickle.start()

    claims_cut = 0  # ledger claims a kill left behind (taken over after the lease expired)
    cut_after_commit = 0  # creates committed at the provider but not yet answered at the kill
    for i in range(kills):
        proc = run.start_worker(f"worker-{i}")
        before = run.creates_done()
        run.wait_for(
            f"worker-{i} to issue something",
            lambda: run.creates_done() > before or proc.poll() is not None,  # noqa: B023
            timeout=120,
        )
        assert proc.poll() is None, f"worker-{i} exited by itself\n{run.logs()}"
        time.sleep(run.rnd.uniform(0.0, 3.0))
        killed_at = time.monotonic()
        proc.kill()
        proc.wait(10)
        time.sleep(0.5)  # requests the kill cut off are logged once the simulator answers
        claims_cut += sum(1 for r in run.ledger().values() if r["state"] == "claimed")
        cut_after_commit += sum(
            1 for h in run.hits() if h.is_create and h.start < killed_at < h.end
        )
    trickle.finish()
    run.start_worker("worker-final")

    sales = {d.key for d in docs if d.refund_id is None}

    def counts() -> dict[str, object]:
        looked_up = {k for h in run.hits() if h.is_lookup for k in h.strings & sales}
        return {
            "refunds": sum(1 for d in docs if d.refund_id),
            "kills": kills,
            "claims_cut": claims_cut,
            "cut_after_commit": cut_after_commit,
            "reconciled": len(looked_up),
        }

    run.verify(docs, counts=counts, timeout=600 if run.long else 180)
