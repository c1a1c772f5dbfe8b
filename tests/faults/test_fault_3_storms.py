"""Fault 3: 5xx and 429 storms on one seller's account; nobody else may notice.

One seller's account answers with alternating rounds of faults (`times=N` each), several
rounds' worth, while the other two sellers' orders keep coming:
- `fakturownia`: seller fa1's creates get HTTP 503 (in doubt: reconciled by `oid` first) and
  HTTP 429 with `Retry-After: 3`;
- `wfirma`: seller wf's creates get HTTP 502, then creates and lookups get HTTP 503 (so the
  reconciliation itself fails and the order stays in doubt).
Storm orders (with some refunds) are parked in the ledger and retried by the scheduler (ADR
0007), never inline, so the consumer keeps serving the other sellers, whose orders are produced
once the storm is raging.

Asserted on top of the shared verifier (every order and refund issued exactly once, none lost):
- every fault was served (the storm happened) and every stormed sale was parked at least once;
- Retry-After honoured: after a 429, the simulator's timestamped request log shows no request
  for that order (its create or lookup, matched by `oid`) sooner than Retry-After;
- other sellers unaffected: none of their ledger rows was ever parked or retried, and all of
  their documents were created before the storm was over.
The summary also counts requests *to the stormed account* (any order) that came sooner than
Retry-After after a 429 (`account_early_requests`); test_fault_3b is about that guarantee.

CI: 10 storm orders x 4 (Fakturownia) / 6 (wFirma) fault rounds, 40 other orders.
Long: 30 storm orders x 6 rounds, 90 other orders.
"""

from __future__ import annotations

from collections import Counter

import pytest

from simulators.fakturownia import FaultRule
from simulators.wfirma import FaultRule as WfirmaFault
from tests.faults.support import ExpectedBug, FaultRun, Hit

pytestmark = pytest.mark.integration
RETRY_AFTER = 3
TOLERANCE = 0.05  # seconds: both sides read the same monotonic clock
# A worker keeps many requests in flight (ADR 0008): those already sent when the 429 was
# answered reach the simulator just after it, before the worker could read the 429.
ON_THE_WIRE = 0.25


def early_requests(hits: list[Hit], account: str, key_of=None) -> list[tuple[Hit, Hit]]:
    """Requests sent after a 429 was answered but sooner than its Retry-After, each with the 429
    it ignored: requests for the same order when `key_of` is given, else any to the account."""
    early: dict[Hit, Hit] = {}
    ours = [h for h in hits if h.account == account]
    for limited in (h for h in ours if h.status == 429):
        since, until = limited.end + ON_THE_WIRE, limited.end + RETRY_AFTER - TOLERANCE
        for h in ours:
            if since < h.start < until and (key_of is None or key_of(h) & key_of(limited)):
                early.setdefault(h, limited)
    return [(limited, h) for h, limited in early.items()]


def start_storm(run: FaultRun, provider: str, per_round: int, rounds: int) -> None:
    storm = run.seller(provider)
    for i in range(rounds):
        if provider == "fakturownia":
            where = {"method": "POST", "path_regex": r"^/invoices\.json$", "times": per_round}
            run.fakturownia_fault(
                storm,
                FaultRule(action="http_5xx", status=503, **where)
                if i % 2 == 0
                else FaultRule(action="http_429", retry_after=RETRY_AFTER, **where),
            )
        else:
            run.wfirma_fault(
                WfirmaFault(
                    action="http_5xx", status=502, path_regex=r"^/invoices/add$", times=per_round
                )
                if i % 2 == 0
                else WfirmaFault(
                    action="http_5xx",
                    status=503,
                    path_regex=r"^/invoices/(add|find)$",
                    times=per_round,
                )
            )


@pytest.mark.parametrize("provider", ["fakturownia", "wfirma"])
def test_fault_3_storms_on_one_account_are_retried_with_retry_after_and_others_flow(
    fault_run: FaultRun, provider: str
) -> None:
    run = fault_run
    run.name = f"fault-3-{provider}"
    storm_n, others_n = (30, 90) if run.long else (10, 40)
    rounds = 6 if run.long or provider == "wfirma" else 4
    storm = run.seller(provider)
    others = [s for s in run.sellers if s is not storm]
    start_storm(run, provider, storm_n, rounds)
    storm_docs, storm_records = run.orders(storm_n, "S", sellers=[storm], refund_every=3)
    other_docs, other_records = run.orders(others_n, "O", sellers=others)
    storm_keys = {d.key for d in storm_docs}
    other_keys = {d.key for d in other_docs}

    def faulted() -> list[Hit]:
        return [h for h in run.hits() if h.account == storm.account and (h.status or 0) >= 429]

    run.produce(storm_records)
    worker = run.start_worker("worker")
    run.wait_for("the storm to start", lambda: len(faulted()) >= storm_n // 2, timeout=90)
    run.produce(other_records)

    def key_of(h: Hit) -> frozenset[str]:
        return h.strings & storm_keys

    def counts() -> dict[str, object]:
        hits = run.hits()
        statuses = Counter(h.status for h in faulted())
        return {
            "storm_orders": storm_n,
            "storm_refunds": sum(1 for d in storm_docs if d.refund_id),
            **{f"http_{code}": n for code, n in sorted(statuses.items())},
            "early_retries": len(early_requests(hits, storm.account, key_of)),
            "account_early_requests": len(early_requests(hits, storm.account)),
        }

    run.verify(storm_docs + other_docs, counts=counts, timeout=300 if run.long else 150)
    assert worker.poll() is None, run.logs()

    hits = run.hits()
    storm_faults = faulted()
    assert len(storm_faults) == rounds * storm_n  # every fault was served: the storm happened
    ledger = run.ledger()
    attempts = {
        f"{c}:{o}" + (f":refund:{r}" if r else ""): row["attempts"]
        for (_, c, o, r), row in ledger.items()
    }
    sales = {d.key for d in storm_docs if d.refund_id is None}
    assert all(attempts[k] >= 1 for k in sales), attempts  # each was parked and retried
    # Retry-After honoured: no retry of an order sooner than Retry-After after its 429
    early = early_requests(hits, storm.account, key_of)
    assert not early, [(a.end, b.start, b.method, sorted(key_of(b))) for a, b in early][:10]
    # other sellers unaffected: never parked or retried, all done while the storm went on
    assert all(attempts[k] == 0 for k in other_keys), {k: attempts[k] for k in other_keys}
    assert all(r["park_reason"] is None for k, r in ledger.items() if k[0] != storm.id)
    created = {k: h.end for h in hits if h.is_create and h.status in (200, 201) for k in h.strings}
    others_done = max(created[k] for k in other_keys)
    storm_over = max(h.end for h in storm_faults)
    storm_done = max(created[k] for k in storm_keys)
    print(
        f"{run.name} timing: storm {min(h.start for h in storm_faults) - run.t0:.1f}s.."
        f"{storm_over - run.t0:.1f}s, storm orders done {storm_done - run.t0:.1f}s, "
        f"other sellers done {others_done - run.t0:.1f}s"
    )
    assert others_done < storm_over, "other sellers' orders waited for the storm"


def test_fault_3b_retry_after_holds_the_whole_account(fault_run: FaultRun) -> None:
    """After `429 Retry-After: 3` no request may reach that account for 3 s, whichever order
    it is for: the provider rate-limits the account (its API token), not one document."""
    run = fault_run
    run.name = "fault-3b"
    storm = run.seller("fakturownia", 0)
    run.fakturownia_fault(
        storm,
        FaultRule(
            action="http_429",
            method="POST",
            path_regex=r"^/invoices\.json$",
            retry_after=RETRY_AFTER,
            times=1,
        ),
    )
    docs, records = run.orders(6, "RA", sellers=[storm])
    run.produce(records)
    run.start_worker("worker")
    run.verify(
        docs,
        counts=lambda: {
            "http_429": sum(1 for h in run.hits() if h.status == 429),
            "account_early_requests": len(early_requests(run.hits(), storm.account)),
        },
        timeout=90,
    )
    early = early_requests(run.hits(), storm.account)
    if early:
        raise ExpectedBug(
            [
                (f"429 at {a.end - run.t0:.2f}s", f"{b.method} {b.path} at {b.start - run.t0:.2f}s")
                for a, b in early
            ]
        )
