"""Fault 10 (issue 10, defect 1): a PostgreSQL outage is a wait, not a wedge.

On the landed code a database outage during a run made a handler raise; the dispatcher stopped,
Faust restarted the agent without seeking back, and the failed records were never read again:
documents missing, `invoice.issued` never published, rows left `claimed`, commits frozen and
SIGTERM hanging in Faust's `wait_empty`. Here the worker's own PostgreSQL server (a private one:
the shared server serves other tests) is killed -9 while orders are in flight and started again
10 s later. Without any restart of the worker, every order must end issued exactly once, no row
may be left non-final, and the outage must have been reported and its end too. Then the
database goes down again and the worker is stopped mid-outage: SIGTERM must end it within 30 s,
and a fresh worker finishes what was left once the database is back.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.private_services import private_postgres
from tests.faults.support import FaultRun
from workers.exit_codes import ExitCode

pytestmark = pytest.mark.integration
STOP_BOUND_SECONDS = 30


def test_fault_10_a_database_outage_is_waited_out_and_a_stop_stays_bounded(
    kafka_bootstrap: str, uid: str, tmp_path: Path, fault_long: bool
) -> None:
    n = 240 if fault_long else 60
    with (
        private_postgres() as pg,
        FaultRun(
            kafka=kafka_bootstrap,
            database_url=pg.url,
            uid=uid,
            tmp=tmp_path,
            long=fault_long,
            name="fault-10",
        ) as run,
    ):
        run.slow_creates(0.3)  # orders are in flight at the provider when the database dies
        docs, records = run.orders(n, "PG", refund_every=4)
        worker = run.start_worker("w1")
        run.produce(records)
        run.wait_for("first creates", lambda: run.creates_done() >= 5, timeout=90)
        assert pg.signal(signal.SIGKILL)
        time.sleep(10)
        pg.start()
        run.verify(docs, timeout=240)
        assert worker.poll() is None, "the worker must ride out the outage, not exit"
        log = run.log_text()
        assert "database unreachable" in log and "database reachable again" in log
        stuck = run.query(
            "SELECT order_id, state FROM issuances WHERE state NOT IN "
            "('issued', 'failed', 'skipped', 'unresolved')"
        )
        assert stuck == [], f"rows left non-final: {stuck}"

        # a stop during an outage is bounded; nothing is lost by it
        more, more_records = run.orders(8, "PG2")
        run.produce(more_records)
        run.wait_for("PG2 creates", lambda: run.creates_done() >= len(docs) + 2, timeout=60)
        assert pg.signal(signal.SIGKILL)
        time.sleep(2)
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(STOP_BOUND_SECONDS + 5)
        stopped_in = time.monotonic() - started
        assert stopped_in <= STOP_BOUND_SECONDS, f"SIGTERM took {stopped_in:.0f}s mid-outage"
        assert worker.returncode in (0, ExitCode.STOP_TIMED_OUT), worker.returncode
        pg.start()
        run.start_worker("w2")
        run.verify(docs + more, timeout=240)
