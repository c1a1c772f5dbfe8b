"""Fault 11: `kill -9` workers while 100+ invoices wait for KSeF (issue 11, "Tests and demo").

Both Fakturownia accounts send every company invoice to KSeF by themselves; each document gets
a random KSeF path from a seeded script (printed; `FAULT_SEED=<n>` repeats it): accepted after a
random delay, rejected with its own messages, `server_error` 1-2 times then accepted,
`status_check_error` then accepted, `offline` then accepted, or never decided. Two workers run
the clearance tracker (checks every second, 3 s leases); one of them, chosen at random, is
killed with SIGKILL and restarted again and again while documents are pending, so kills land
inside claimed batches of checks and between a re-send and its record.

Afterwards, once the tracker agrees with the simulator: every status a document reached is
announced by exactly one distinct `invoice.clearance_changed` id (redeliveries of that id are
fine) and nothing else is announced; cleared documents carry the simulator's KSeF number and
rejected ones its messages; the simulator saw no more sends than each path allows (one, or
failures + 1 for `server_error`); undecided documents are still pending and watched; no check
is left behind under an expired lease. The issuance itself is verified as in fault 1.
The tracker's own record of its re-sends must match the sends KSeF saw (re-sends are looked at
again 2, 3, 4 s later here, `support.FaultRun.enable_ksef`).

CI: 120 company invoices, 4 kills (~2 min). Long: 400 invoices, 12 kills.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from domain.clearance import FINAL_STATUSES
from schemas.invoices import ClearanceStatus as S
from simulators.fakturownia.ksef_rules import KsefRule
from tests import factories as f
from tests.faults.support import Doc, FaultRun, Record, Seller, fact_of
from tests.integration.harness import Consumed, collect, order_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

# what the tracker must say for each `gov_status` the simulator shows (KSeF.md, ksef-2026 §1.8)
SIM_TO_TRACKER = {
    "ok": S.CLEARED,
    "send_error": S.REJECTED,
    "offline": S.OFFLINE,
    "processing": S.PENDING,
    "server_error": S.PENDING,
    "status_check_error": S.PENDING,
    "duplicate_error": S.PENDING,
    None: S.PENDING,
}
PATHS = {  # path: weight
    "ok": 25,
    "reject": 15,
    "server_error_then_ok": 15,
    "status_check_error_then_ok": 15,
    "offline_then_ok": 20,
    "never": 10,
}


@dataclass(frozen=True)
class Script:
    """One document's scripted KSeF path and what the tracker may make of it."""

    rule: KsefRule
    max_sends: int
    allowed: frozenset[S]  # statuses that may be announced

    @property
    def finishes(self) -> bool:
        return self.rule.path != "never"

    @property
    def path(self) -> str:
        return self.rule.path


def script(rnd: random.Random, key: str) -> Script:
    path = rnd.choices(list(PATHS), weights=list(PATHS.values()))[0]
    oid = f"^{re.escape(key)}$"
    first, second = round(rnd.uniform(1.0, 8.0), 1), round(rnd.uniform(1.0, 8.0), 1)
    if path == "reject":
        messages = [f"P_{rnd.randint(1, 20)}: błąd {rnd.randint(100, 999)}", "KSeF: odrzucona"]
        rule = KsefRule("reject", oid, delays=[first], messages=messages)
        return Script(rule, 1, frozenset({S.REJECTED}))
    if path == "server_error_then_ok":
        failures = rnd.randint(1, 2)
        rule = KsefRule(path, oid, delays=[first], failures=failures)
        return Script(rule, failures + 1, frozenset({S.CLEARED}))
    if path == "offline_then_ok":
        rule = KsefRule(path, oid, delays=[first, second])
        return Script(rule, 1, frozenset({S.OFFLINE, S.CLEARED}))
    if path == "never":
        return Script(KsefRule("never", oid), 1, frozenset())
    delays = [first, second] if path == "status_check_error_then_ok" else [first]
    return Script(KsefRule(path, oid, delays=delays), 1, frozenset({S.CLEARED}))


def company_orders(run: FaultRun, n: int, sellers: list[Seller]) -> tuple[list[Doc], list[Record]]:
    """`n` company orders (each one an invoice KSeF must clear) over sellers x channels."""
    combos = [(s, c) for s in sellers for c in run.channels]
    docs, records = [], []
    for i in range(n):
        seller, channel = combos[i % len(combos)]
        order_id = f"C-{i:04d}"
        body = f.order(order_id, company=True)
        records.append(order_record(f"orders.{channel}", f.completed(seller.id, channel, body)))
        docs.append(Doc(seller.id, channel, order_id, None, seller.provider, seller.account))
    return docs, records


def first_seen(issued: list[Consumed]) -> dict[tuple, S | None]:
    """The tracker status of each document's clearance as `invoice.issued` reported it."""
    out: dict[tuple, S | None] = {}
    for r in issued:
        clearance = r.json()["data"]["document"].get("clearance")
        out[fact_of(r.json())] = SIM_TO_TRACKER.get(clearance and clearance.get("status"))
    return out


def test_fault_11_kill_9_while_invoices_await_ksef_announces_each_status_once(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(1_000_000))
    print(f"\nfault-11: seed={seed} (FAULT_SEED={seed} repeats the KSeF scripts)", flush=True)
    rnd = random.Random(seed)
    n, kills = (400, 12) if run.long else (120, 4)
    topic = run.enable_ksef()
    sellers = [s for s in run.sellers if s.provider == "fakturownia"]
    docs, records = company_orders(run, n, sellers)
    scripts = {d.key: script(rnd, d.key) for d in docs}
    by_account = {s.account: s for s in sellers}
    for d in docs:
        run.ksef_rule(by_account[d.account], scripts[d.key].rule)

    workers = [run.start_worker("a-0"), run.start_worker("b-0")]
    run.produce(records)
    run.wait_for("the first clearance checks", lambda: len(run.clearance_rows()) >= 10, 120)
    leases_cut = 0  # clearance checks a kill left claimed (taken over once the lease ran out)
    claims_cut = 0  # issuance claims a kill left behind
    for i in range(kills):
        time.sleep(rnd.uniform(1.0, 5.0))
        victim = rnd.randrange(2)
        proc = workers[victim]
        assert proc.poll() is None, f"worker exited by itself\n{run.logs()}"
        proc.kill()
        proc.wait(10)
        time.sleep(0.3)
        leases_cut += sum(1 for r in run.clearance_rows().values() if r["lease_owner"])
        claims_cut += sum(1 for r in run.ledger().values() if r["state"] == "claimed")
        workers[victim] = run.start_worker(f"{'ab'[victim]}-{i + 1}")

    report = run.verify(docs, timeout=600 if run.long else 180)
    first = first_seen(report.events(run.stack.issued_topic))

    def disagreements() -> dict[str, str]:
        """Documents whose tracked status is not (yet) what the simulator says."""
        stored = {k: v[0] for k, v in run.documents().items() if v}
        rows = run.clearance_rows()
        out = {}
        for d in docs:
            inv, row, s = stored[d.key], rows.get(d.fact), scripts[d.key]
            want = SIM_TO_TRACKER[inv["gov_status"]]
            have = S(row["status"]) if row else first.get(d.fact)
            if have is not want:
                out[d.key] = f"{s.path}: simulator {inv['gov_status']}, tracker {have}"
            elif row and want is S.CLEARED and row["ksef_number"] != inv["gov_id"]:
                out[d.key] = f"KSeF number {row['ksef_number']} != {inv['gov_id']}"
            elif s.finishes and want not in FINAL_STATUSES:
                out[d.key] = f"{s.path}: still {inv['gov_status']}"
        return out

    waited = run.elapsed
    try:
        run.wait_for(
            "the tracker to agree with KSeF",
            lambda: not disagreements(),
            600 if run.long else 180,
            1.0,
        )
    except BaseException:
        print(f"fault-11 seed={seed} disagreements: {disagreements()}", flush=True)
        raise
    waited = run.elapsed - waited

    rows = run.clearance_rows()
    stored = {k: v[0] for k, v in run.documents().items() if v}

    def all_announced(out: list[Consumed]) -> bool:
        seen = {(fact_of(r.json()), r.json()["data"]["status"]) for r in out}
        return all((fact, s) in seen for fact, row in rows.items() for s in row["announced"])

    events = [r.json() for r in collect(run.kafka, [topic], all_announced, 60, settle=3.0)]
    ids: dict[tuple, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    latest: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in events:
        ids[fact_of(e)][e["data"]["status"]].add(e["id"])
        latest[fact_of(e)][e["data"]["status"]] = e["data"]

    sends = run.ksef_sends()
    problems: list[str] = []

    def problem(d: Doc, what: str) -> None:
        problems.append(f"{d.key} [{scripts[d.key].path}]: {what}")

    for d in docs:
        s, row, inv = scripts[d.key], rows.get(d.fact), stored[d.key]
        announced = set(ids.get(d.fact, {}))
        several = {k: sorted(v) for k, v in ids.get(d.fact, {}).items() if len(v) > 1}
        if several:
            problem(d, f"several distinct ids for one status: {several}")
        if not announced <= {str(x) for x in s.allowed}:
            problem(d, f"announced {sorted(announced)}, its path allows {sorted(s.allowed)}")
        if row is None:
            if announced:
                problem(d, f"announced {sorted(announced)} without being tracked")
        else:
            if announced != set(row["announced"]):
                problem(d, f"events {sorted(announced)} != ledger announced {row['announced']}")
            final = S(row["status"])
            if final in FINAL_STATUSES and str(final) not in announced:
                problem(d, f"final status {final} never announced")
            if final is S.PENDING and announced:
                problem(d, f"still pending but announced {sorted(announced)}")
            if row["resends"] != sends[d.key] - 1:
                # a kill between a re-send and its record could lose one; the window is a few ms
                problem(d, f"{row['resends']} re-sends recorded, KSeF saw {sends[d.key]} sends")
            if s.path == "never" and (final is not S.PENDING or row["next_check_at"] is None):
                problem(d, f"undecided document {final}, next check {row['next_check_at']}")
        cleared = latest.get(d.fact, {}).get(str(S.CLEARED))
        if cleared and (cleared["ksef_number"], cleared["verification_link"]) != (
            inv["gov_id"],
            inv["gov_verification_link"],
        ):
            problem(d, f"cleared as {cleared['ksef_number']}, KSeF has {inv['gov_id']}")
        rejected = latest.get(d.fact, {}).get(str(S.REJECTED))
        if rejected and (rejected["errors"], rejected["failure_code"]) != (
            s.rule.messages,
            "ksef_rejected",
        ):
            problem(d, f"rejected with {rejected['errors']} / {rejected['failure_code']}")
        named = {e["provider_document_id"] for e in latest.get(d.fact, {}).values()}
        if named - {str(inv["id"])}:
            problem(d, f"events name documents {sorted(named)}, not {inv['id']}")
        if not 1 <= sends[d.key] <= s.max_sends:
            problem(d, f"sent to KSeF {sends[d.key]} times, at most {s.max_sends} allowed")
    known = {d.fact for d in docs}
    strays = [fact_of(e) for e in events if fact_of(e) not in known]
    if strays:
        problems.append(f"clearance events for documents nobody ordered: {strays[:5]}")
    expired = run.query(
        "SELECT id, order_id, status, lease_owner, lease_until, next_check_at "
        "FROM clearance_checks WHERE lease_until < now() - interval '2 seconds'"
    )
    if expired:
        problems.append(f"{len(expired)} checks left under an expired lease: {expired[:5]}")

    final = Counter(r["status"] for r in rows.values())
    resent = sum(r["resends"] for r in rows.values())
    distinct = len({e["id"] for e in events})
    lost = run.log_text().count("taken over by another worker")
    print(
        f"fault-11: seed={seed} documents={len(docs)} "
        f"paths={dict(Counter(s.path for s in scripts.values()))} kills={kills} "
        f"leases_cut={leases_cut} claims_cut={claims_cut} tracked={len(rows)} "
        f"final={dict(final)} clearance_events={len(events)} distinct_ids={distinct} "
        f"sends={sum(sends[d.key] for d in docs)} resends={resent} leases_lost={lost} "
        f"agree_after={waited:.0f}s elapsed={run.elapsed:.0f}s",
        flush=True,
    )
    assert not problems, f"seed={seed}\n" + "\n".join(problems[:40]) + "\n" + run.logs()
