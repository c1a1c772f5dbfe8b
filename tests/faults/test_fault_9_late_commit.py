"""Fault 9 (issue 10, defect 2): a wFirma create still running past the worker's timeout.

wFirma has no server-side key: a create that times out and commits *later* is invisible to the
lookup right after the timeout. The landed code looked, found nothing, created again, and then
the first request committed too: two invoices with one `id_external`. Here the first creates
of the wFirma login take 4.5 s before they even start (gateway latency; the worker's provider
timeout is 2 s and its commit window 6 s, `support.FAST_ENV`): each must end as exactly one
document, found by the lookups the worker spreads over the window. A kill -9 while such a
create is in flight leaves a claim whose takeover obeys the same window.
"""

from __future__ import annotations

import time

import pytest

from simulators.wfirma import FaultRule as WfirmaFault
from tests.faults.support import FaultRun

pytestmark = pytest.mark.integration


def test_fault_9_a_create_that_commits_after_the_timeout_is_never_created_twice(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    late = 4 if not run.long else 10
    run.wfirma_fault(
        WfirmaFault(action="latency", path_regex=r"^/invoices/add$", delay_ms=4500, times=late)
    )
    docs, records = run.orders(late * 2, "LC", sellers=[run.seller("wfirma")], refund_every=3)
    worker = run.start_worker("w1")
    run.produce(records)
    time.sleep(3)  # some creates are in flight at the provider, unanswered
    worker.kill()  # kill -9: their claims are taken over by the next worker's sweep
    worker.wait(10)
    run.start_worker("w2")
    run.verify(docs, counts={"late_creates": late}, timeout=180)
    time.sleep(5)  # longer than the injected latency: every create sent has landed by now
    late_duplicates = {k: len(v) for k, v in run.documents().items() if len(v) > 1}
    assert not late_duplicates, f"created twice: {late_duplicates}"
