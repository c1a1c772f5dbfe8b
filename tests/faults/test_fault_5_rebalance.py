"""Fault 5: two worker processes in one consumer group; one stops mid-run (a rebalance).

Topics have 4 partitions, so both workers own some (the orders are published once both are in
the group, each with 4 orders in flight). Once about a third of the documents exist,
worker B is stopped: gracefully (SIGTERM: it leaves the group, Faust cancels its agent) or
with `kill -9` (its claims stay until their lease expires and its partitions move only after
the session timeout). Worker A takes its partitions over; records B had read but not acked
are redelivered to A, which meets B's ledger rows: issued (re-emit the same event), claimed
with a live lease (wait), or claimed with an expired lease (take over, look up first).
Meanwhile both processes' retry schedulers compete for parked rows by compare-and-set.
Nothing lost, nothing duplicated.

CI: 120 orders (+ refunds) per variant. Long: 400.
"""

from __future__ import annotations

import re

import pytest

from tests.faults.support import FaultRun
from tests.integration.harness import stop_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
SYNCED = re.compile(r"Successfully synced group \S+ with generation (\d+)")
CREATE = re.compile(r"(fakturownia|wfirma) POST /(invoices\.json|invoices/add) answered")


@pytest.mark.parametrize("signal", ["sigterm", "sigkill"])
def test_fault_5_a_rebalance_mid_run_loses_and_duplicates_nothing(
    fault_run: FaultRun, signal: str
) -> None:
    run = fault_run
    run.name = f"fault-5-{signal}"
    n = 400 if run.long else 120
    docs, records = run.orders(n, "R", refund_every=10)
    # stretch the run so that the stop lands in its middle: few orders in flight, slow creates
    run.stack.extra_env["INVOICE_ROUTER_MAX_IN_FLIGHT"] = "4"
    run.slow_creates(0.5)
    a = run.start_worker("worker-a")
    b = run.start_worker("worker-b")

    def log_of(name: str) -> str:
        return (run.tmp / f"{name}.log").read_text(errors="replace")

    def creates_by(name: str) -> int:
        return sum(1 for line in log_of(name).splitlines() if CREATE.search(line))

    def both_in_group() -> bool:  # both synced the same generation: both own partitions
        synced = [SYNCED.findall(log_of(w)) for w in ("worker-a", "worker-b")]
        return all(synced) and synced[0][-1] == synced[1][-1]

    run.wait_for("both workers in the group", both_in_group, timeout=90)  # before any order
    run.produce(records)

    run.wait_for(
        "both workers to issue documents",
        lambda: creates_by("worker-a") > 0 and creates_by("worker-b") > 0,
        timeout=90,
    )
    run.wait_for("a third of the documents", lambda: run.creates_done() >= len(docs) // 3, 120)
    stopped_at = run.creates_done()
    if signal == "sigterm":
        stop_process(b)
    else:
        b.kill()
        b.wait(10)
    b_creates = creates_by("worker-b")

    def counts() -> dict[str, object]:
        log_a = (run.tmp / "worker-a.log").read_text(errors="replace")
        return {
            "refunds": sum(1 for d in docs if d.refund_id),
            "workers": 2,
            "stopped": f"{signal}@{stopped_at}",
            "creates_a": creates_by("worker-a"),
            "creates_b": b_creates,
            "rebalances_seen_by_a": log_a.count("Successfully synced group"),
        }

    run.verify(docs, counts=counts, timeout=600 if run.long else 180)
    assert a.poll() is None, f"worker A stopped\n{run.logs()}"
    assert b.poll() is not None
    assert creates_by("worker-a") > 0 and b_creates > 0  # both really worked
