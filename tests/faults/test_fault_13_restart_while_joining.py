"""Fault 13: the broker restarts while a worker is starting and joining its group.

Found by the randomized soak (fault 8) in CI: a worker started a few seconds before a broker
restart, and for the rest of the run a third of the orders were never consumed, a poison record
was never dead-lettered, and the system never settled.

The mechanism: a restarted broker answers metadata requests before it has loaded every topic
(`LEADER_NOT_AVAILABLE`, `UNKNOWN_TOPIC_OR_PARTITION`). The group leader's assignment, made from
that answer, leaves the missing topics out ("Ignoring missing topic" from Faust's assignor).
aiokafka does not ask again about a topic that answered with an error, and the leader notices
the topic and rebalances only on its next periodic refresh, by default after five minutes. The
worker refreshes every `INVOICE_ROUTER_CONSUMER_METADATA_MAX_AGE_SECONDS` (10) instead.

The restart is aimed at each step of the start, found in the worker's log; the orders produced
before and after it must all be issued, exactly once, well within the five minutes.
"""

from __future__ import annotations

import pytest

from tests.faults.support import (
    FaultRun,
    broker_restored,
    require_local_broker,
    restart_local_broker,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# Faust's and aiokafka's log lines, in the order a starting worker writes them
STEPS = ["Starting...", "(Re-)joining group", "Successfully synced group"]


@pytest.mark.parametrize("step", STEPS)
def test_fault_13_a_broker_restart_while_a_worker_joins_leaves_no_partition_unconsumed(
    fault_run: FaultRun, step: str
) -> None:
    run = fault_run
    require_local_broker(run.kafka)
    before_docs, before = run.orders(24, "J")
    after_docs, after = run.orders(24, "K")
    run.produce(before)
    worker = run.start_worker("worker")
    log = run.tmp / "worker.log"
    run.wait_for(
        f"the worker's log to reach {step!r}",
        lambda: log.exists() and step in log.read_text(errors="replace"),
        timeout=60,
    )
    with broker_restored():
        restart_local_broker()
    run.produce(after)
    # well below aiokafka's 300 s default refresh, which the stall lasted without the fix
    run.verify(before_docs + after_docs, counts={"restarted_at": step}, timeout=120)
    assert worker.poll() is None, f"the worker stopped\n{run.logs()}"
