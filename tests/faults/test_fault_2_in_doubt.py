"""Fault 2: the provider creates the document, then the answer never arrives in time.

On both providers the first creates of every account commit and then hang for longer than the
worker's provider timeout (2 s); a few more commit and then drop the connection. Each is in
doubt: the worker must reconcile by `oid` / `id_external` and find the document instead of
creating a second one (ADR 0002, 0006). On one Fakturownia account the first reconciliation
lookup itself fails (HTTP 503), so the order stays in doubt, is parked, and the retry scheduler
reconciles it later, still without a blind create.

Asserted on top of the shared verifier: each in-doubt order was created exactly once (one
create request carrying its key), was looked up afterwards (reconciled), and yields one issued
event id. CI: 3 hangs + 2 drops per account (15 in-doubt orders of 45). Long: 8 + 4 of 150.
"""

from __future__ import annotations

import pytest

from simulators.fakturownia import FaultRule as FakturowniaFault
from simulators.wfirma import FaultRule as WfirmaFault
from tests.faults.support import FaultRun, Hit

pytestmark = pytest.mark.integration


def test_fault_2_a_create_that_times_out_after_commit_is_reconciled_not_repeated(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    n, hangs, drops = (150, 8, 4) if run.long else (45, 3, 2)
    for action, times in (("hang_after_commit", hangs), ("drop_after_commit", drops)):
        for seller in (run.seller("fakturownia", 0), run.seller("fakturownia", 1)):
            run.fakturownia_fault(
                seller,
                FakturowniaFault(
                    action=action,
                    method="POST",
                    path_regex=r"^/invoices\.json$",
                    seconds=4,
                    times=times,
                ),
            )
        run.wfirma_fault(
            WfirmaFault(action=action, path_regex=r"^/invoices/add$", seconds=4, times=times)
        )
    # the first reconciliation on fa2 fails too: parked in doubt, reconciled by the scheduler
    run.fakturownia_fault(
        run.seller("fakturownia", 1),
        FakturowniaFault(
            action="http_5xx", method="GET", path_regex=r"^/invoices\.json$", status=503, times=1
        ),
    )
    docs, records = run.orders(n, "D")
    keys = {d.key for d in docs}

    def creates() -> list[Hit]:
        return [h for h in run.hits() if h.is_create]

    def in_doubt() -> set[str]:
        """Keys whose create committed but was not answered in time (hung or dropped)."""
        return {
            k
            for h in creates()
            if h.status is None or h.end - h.start >= 3.5
            for k in h.strings & keys
        }

    def reconciled() -> set[str]:
        """In-doubt keys looked up at the provider after their create."""
        hits = run.hits()
        first = {
            k: min(h.start for h in hits if h.is_create and k in h.strings) for k in in_doubt()
        }
        return {
            k
            for k, t in first.items()
            if any(h.is_lookup and k in h.strings and h.start > t for h in hits)
        }

    def retried() -> list[str]:
        """Orders the retry scheduler finished (attempts > 0 in the ledger)."""
        return [f"{c}:{o}" for (_, c, o, _), row in run.ledger().items() if row["attempts"] > 0]

    run.produce(records)
    worker = run.start_worker("worker")
    report = run.verify(
        docs,
        counts=lambda: {
            "in_doubt": len(in_doubt()),
            "reconciled": len(reconciled()),
            "parked_in_doubt": len(retried()),
        },
        timeout=300 if run.long else 120,
    )
    assert worker.poll() is None, run.logs()

    doubtful = in_doubt()
    assert len(doubtful) == 3 * (hangs + drops), sorted(doubtful)
    create_count = {k: sum(1 for h in creates() if k in h.strings) for k in doubtful}
    assert all(n == 1 for n in create_count.values()), create_count  # never a second create
    assert reconciled() == doubtful
    # the one whose first lookup failed was parked in doubt and reconciled by the scheduler
    failed_lookups = [h for h in run.hits() if h.is_lookup and h.status == 503]
    assert len(failed_lookups) == 1
    assert retried() and set(retried()) <= doubtful, retried()
    issued_ids = {
        r.json()["id"]
        for r in report.events(run.stack.issued_topic)
        if f"{r.json()['data']['channel']}:{r.json()['data']['order_id']}" in doubtful
    }
    assert len(issued_ids) == len(doubtful)
