"""Fault 4: the broker restarts in the middle of a run.

`scripts/kafka-local restart` (SIGTERM, then a fresh start on the same data) while the worker is
consuming and publishing. Nothing is acked before its outcome is durable (ADR 0001, 0006), the
publisher retries outcomes the broker refused, and the ledger absorbs the redeliveries:
nothing lost, nothing duplicated.

The main test plays the process supervisor every deployment has (systemd, Kubernetes): a
worker that exits during the outage is started again, and the summary counts such crashes
(`worker_crashes`). test_fault_4b asserts the stronger property that the worker process rides
out a broker restart by itself; it is an expected failure (a BUG, see its reason).

Only the broker `scripts/kafka-local` started is ever restarted (the test fails with an
explanation otherwise), and it is up again before the test returns, whatever happened.

CI: 90 orders (+ refunds) produced up front, one restart after about a third of them were
issued, 30 more orders once the broker is back. Long: 300 orders, 3 restarts.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.faults.support import (
    ExpectedBug,
    FaultRun,
    broker_restored,
    require_local_broker,
    restart_local_broker,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_fault_4_a_broker_restart_mid_run_loses_and_duplicates_nothing(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    require_local_broker(run.kafka)
    n, restarts = (300, 3) if run.long else (90, 1)
    before_docs, before = run.orders(n, "B", refund_every=10)
    after_docs, after = run.orders(n // 3, "A")
    run.slow_creates(0.1)  # stretch the run so that the restart lands in its middle
    run.produce(before)
    worker = run.start_worker("worker")
    outages: list[tuple[float, float]] = []
    crashes = 0

    def counts() -> dict[str, object]:
        creates = [h for h in run.hits() if h.is_create]
        return {
            "refunds": sum(1 for d in before_docs if d.refund_id),
            "restarts": restarts,
            "broker_down": "+".join(f"{b - a:.0f}s" for a, b in outages),
            "created_while_down": sum(1 for h in creates for a, b in outages if a <= h.start <= b),
            "worker_crashes": crashes,
        }

    def carries_on(proc: subprocess.Popen) -> bool:
        """After the outage: does the worker make progress, or did it exit or crash?
        A worker may finish every order it holds while the broker is away (64 in flight, the
        provider up): nothing is left to go on with until `after` is produced, which it must
        then consume over the restarted broker (`run.verify` below)."""
        done = run.creates_done()
        run.wait_for(
            "the worker to go on, exit or crash",
            lambda: (
                proc.poll() is not None
                or run.crash_of(proc) is not None
                or run.creates_done() > done
                or run.creates_done() >= len(before_docs)
            ),
            timeout=90,
        )
        return proc.poll() is None and run.crash_of(proc) is None

    with broker_restored():
        for i in range(restarts):
            mark = (i + 1) * len(before_docs) // (restarts + 2)
            run.wait_for(
                f"{mark} documents",
                lambda: run.creates_done() >= mark,  # noqa: B023
                timeout=120,
            )
            outages.append(restart_local_broker())
            if not carries_on(worker):  # what a supervisor (liveness probe) does
                crashes += 1
                worker.kill()  # a crashed Faust app may hang while stopping
                worker.wait(10)
                worker = run.start_worker(f"worker-restarted-{i}")
        run.produce(after)
        run.verify(before_docs + after_docs, counts=counts, timeout=600 if run.long else 180)
    assert worker.poll() is None, f"the worker stopped\n{run.logs()}"


def test_fault_4b_the_worker_process_survives_a_broker_restart(fault_run: FaultRun) -> None:
    run = fault_run
    run.name = "fault-4b"
    require_local_broker(run.kafka)
    first_docs, first = run.orders(12, "P")
    later_docs, later = run.orders(12, "L")
    run.produce(first)
    worker = run.start_worker("worker")
    run.wait_for("the first documents", lambda: run.creates_done() >= len(first_docs), 90)
    with broker_restored():
        outage = restart_local_broker()
    run.produce(later)
    run.wait_for(
        "the worker to issue the later orders, exit or crash",
        lambda: (
            worker.poll() is not None
            or run.crash_of(worker) is not None
            or run.creates_done() >= len(first_docs) + len(later_docs)
        ),
        timeout=90,
    )
    crash = run.crash_of(worker)
    if crash is not None or worker.poll() is not None:
        time.sleep(3)  # let its log show how it stops (or hangs while stopping)
        logs = run.logs(6000)
        worker.kill()  # it may hang while stopping; SIGTERM would wait 20 s for nothing
        raise ExpectedBug(
            f"during a {outage[1] - outage[0]:.0f}s broker restart the worker crashed "
            f"(exit code {worker.poll()}, None = still running, hanging in shutdown): {crash}"
            f"\n{logs}"
        )
    run.verify(first_docs + later_docs, counts={"restarts": 1}, timeout=60)
