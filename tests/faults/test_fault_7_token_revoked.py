"""Fault 7: the wFirma seller's OAuth grant is revoked mid-run.

After a first batch went through, the simulator revokes the wFirma login's refresh tokens and
expires its access tokens (the seller removed the app in wFirma), then a second batch arrives.
That seller's orders must park instead of burning retries (ADR 0007): ledger rows `parked` /
`needs_reauth`, `provider_connections.status = needs_reauth` (read from the test database),
one invoice.failed `provider_auth_failed` per order telling the seller to reconnect. The other
sellers (both on Fakturownia) are unaffected: all their orders are issued while the wFirma
ones are parked, none of them ever parked. Then the seller reconnects (the onboarding again:
authorization URL, consent, `complete_authorization`, which sets the connection back to ok) and
the parked orders are issued automatically, exactly once.

CI: 30 orders before the revocation, 30 after (10 per seller). Long: 150 + 150.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.support import FaultRun, fact_of

pytestmark = pytest.mark.integration


def test_fault_7_a_revoked_grant_parks_that_sellers_orders_until_reconnected(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    n = 150 if run.long else 30
    wf = run.seller("wfirma")
    first_docs, first = run.orders(n, "T1")
    second_docs, second = run.orders(n, "T2")
    parked_docs = [d for d in second_docs if d.seller == wf.id]
    flowing_docs = [d for d in second_docs if d.seller != wf.id]

    worker = run.start_worker("worker")
    run.produce(first)
    run.wait_for("the first batch", lambda: run.creates_done() >= len(first_docs), timeout=120)
    run.wfirma.revoke_refresh_tokens(wf.account)
    run.wfirma.expire_access_tokens(wf.account)
    revoked_at = time.monotonic()
    run.produce(second)

    issued_topic, failed_topic = run.stack.issued_topic, run.stack.failed_topic
    parked_facts = {d.fact for d in parked_docs}
    flowing_facts = {d.fact for d in flowing_docs}

    def settled(records) -> bool:
        issued = {fact_of(r.json()) for r in records if r.topic == issued_topic}
        noticed = {fact_of(r.json()) for r in records if r.topic == failed_topic}
        return flowing_facts <= issued and parked_facts <= noticed

    out = run.output(settled, timeout=120)
    parked_for = time.monotonic() - revoked_at
    assert settled(out), f"not every order was issued or parked\n{run.logs()}"

    # that seller's orders are parked, visibly, and told to reconnect
    status = run.connection_status(wf)
    assert status == "needs_reauth", status
    ledger = run.ledger()
    rows = {d.key: ledger[d.fact] for d in parked_docs}
    assert all(
        (r["state"], r["park_reason"]) == ("parked", "needs_reauth") for r in rows.values()
    ), rows
    notices = [r.json() for r in out if r.topic == failed_topic]
    assert {fact_of(e) for e in notices} == parked_facts
    for e in notices:
        failure = e["data"]["failure"]
        assert failure["code"] == "provider_auth_failed", failure
        assert "reconnect" in failure["message"].lower(), failure
    assert not [d for d in parked_docs if d.key in run.documents()]  # nothing issued meanwhile
    # the other sellers were unaffected: all issued while wFirma was parked, none ever parked
    assert all(ledger[d.fact]["state"] == "issued" for d in flowing_docs)
    assert all(r["attempts"] == 0 for k, r in ledger.items() if k[0] != wf.id)
    assert all(r["park_reason"] is None for k, r in ledger.items() if k[0] != wf.id)

    run.connect_wfirma()  # the seller clicks Generate again and consents
    reconnected_at = time.monotonic()
    parked_keys = {d.key for d in parked_docs}

    def resumed_in() -> str:
        done = [h.end for h in run.hits() if h.is_create and h.strings & parked_keys]
        return f"{max(done) - reconnected_at:.1f}s" if done else "never"

    report = run.verify(
        first_docs + second_docs,
        failed_codes=frozenset({"provider_auth_failed"}),
        counts=lambda: {
            "parked": len(parked_docs),
            "auth_failed_notices": len({e["id"] for e in notices}),
            "parked_for": f"{parked_for:.0f}s",
            "all_issued_after_reconnect": resumed_in(),
        },
        timeout=300 if run.long else 120,
    )
    assert worker.poll() is None, run.logs()
    assert run.connection_status(wf) == "ok"
    failed = [r.json() for r in report.events(failed_topic)]
    per_order = {fact_of(e) for e in failed}
    assert per_order == parked_facts  # one notice per parked order, none for anyone else
    assert len({e["id"] for e in failed}) == len(parked_facts)  # one distinct id each
