"""The soak's invariants (issue 10), checked once the system has settled.

Each expected document (an order's sales document, or a refund's correction) ends in exactly one
of: one document at the simulators (Fakturownia `oid`, wFirma `id_external`) reported by exactly
one distinct invoice.issued id naming it; or no document and exactly one actionable outcome for
it (one distinct invoice.failed id, or a dead letter). The same event id delivered more than once
is at-least-once, not a duplicate. Distinct issued ids equal documents. Every poison record is
dead-lettered exactly once (the oversized one may instead be set aside in the outbox, where the
schema has that). No ledger row is left non-final, in particular none with an expired lease.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.deadletter import ERROR_CODE, SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC
from tests.faults.soak import Plan, has_column
from tests.faults.support import FaultRun, fact_of
from tests.integration.harness import Consumed

Fact = tuple[str, str, str, str | None]


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


def _dead_fact(r: Consumed) -> Fact | None:
    """The document a dead-lettered order event was for (None: not an order event)."""
    try:
        d = r.json()["data"]
        refund = d.get("refund") or {}
        return (d["seller_id"], d["channel"], d["order"]["order_id"], refund.get("refund_id"))
    except Exception:
        return None


def outputs_done(
    plan: Plan, issued_topic: str, failed_topic: str
) -> Callable[[list[Consumed]], bool]:
    """A `collect` predicate: every expected document reported (issued or failed) and every
    poison record dead-lettered (the oversized one may never be: it is not waited for)."""
    facts = {d.fact for d in plan.docs}
    waiting_poison = {k for k in plan.poison_keys if k != b"PX-oversized"}
    seen: set[Fact] = set()
    dead: set[bytes] = set()
    parsed = [0]

    def done(records: list[Consumed]) -> bool:
        for r in records[parsed[0] :]:
            if r.topic in (issued_topic, failed_topic):
                seen.add(fact_of(r.json()))
            elif r.key is not None:
                dead.add(r.key)
                if (fact := _dead_fact(r)) is not None:
                    seen.add(fact)
        parsed[0] = len(records)
        return facts <= seen and waiting_poison <= dead

    return done


def check(run: FaultRun, plan: Plan, records: list[Consumed]) -> Verdict:
    v = Verdict()
    issued_topic, failed_topic = run.stack.issued_topic, run.stack.failed_topic
    issued_ids: dict[Fact, set[str]] = defaultdict(set)
    named: dict[Fact, set[str]] = defaultdict(set)
    failed_ids: dict[Fact, set[str]] = defaultdict(set)
    failed_codes: Counter = Counter()
    dead: list[Consumed] = []
    for r in records:
        if r.topic == issued_topic:
            event = r.json()
            issued_ids[fact_of(event)].add(event["id"])
            named[fact_of(event)].add(str(event["data"]["document"]["provider_document_id"]))
        elif r.topic == failed_topic:
            event = r.json()
            if event["id"] not in failed_ids[fact_of(event)]:
                failed_codes[event["data"]["failure"]["code"]] += 1
            failed_ids[fact_of(event)].add(event["id"])
        else:
            dead.append(r)
    # a dead letter is identified by its source coordinates (redelivered: written again)
    dead_by_source = {
        (
            r.headers.get(SOURCE_TOPIC),
            r.headers.get(SOURCE_PARTITION),
            r.headers.get(SOURCE_OFFSET),
        ): r
        for r in dead
    }
    dead_facts: dict[Fact, set[bytes]] = defaultdict(set)
    dead_poison: dict[bytes, int] = Counter()
    for r in dead_by_source.values():
        if r.key in plan.poison_keys:
            dead_poison[r.key] += 1
        elif (fact := _dead_fact(r)) is not None:
            dead_facts[fact].add(r.headers.get("ce_id") or r.value)
            code = r.headers.get(ERROR_CODE, b"").decode()
            if code == "internal_error":  # a valid order hit a defect of ours
                v.problems.append(f"valid order dead-lettered as internal_error: {fact}")

    stored = run.documents()
    expected = {d.fact: d for d in plan.docs}
    lost, duplicated, unreported, mismatched, double_outcome = [], {}, [], [], []
    failed_only = dead_lettered = superseded = 0
    for d in plan.docs:
        n, ids = len(stored.get(d.key, [])), issued_ids.get(d.fact, set())
        outcomes = len(failed_ids.get(d.fact, ())) + len(dead_facts.get(d.fact, ()))
        if n > 1:
            duplicated[d.key] = n
        elif n == 1:
            if len(ids) != 1:
                unreported.append(f"{d.key} ({len(ids)} distinct issued ids)")
            elif named.get(d.fact) != {str(stored[d.key][0]["id"])}:
                mismatched.append(d.key)
            superseded += bool(outcomes)
        elif ids:
            unreported.append(f"{d.key} (issued {sorted(ids)} but no document)")
        elif outcomes == 0:
            lost.append(d.key)
        elif outcomes > 1:
            double_outcome.append(d.key)
        elif failed_ids.get(d.fact):
            failed_only += 1
        else:
            dead_lettered += 1
    if lost:
        v.problems.append(f"{len(lost)} LOST (no document, no failed, no dead letter): {lost[:15]}")
    if duplicated:
        v.problems.append(
            f"{len(duplicated)} DUPLICATED documents: {dict(list(duplicated.items())[:15])}"
        )
    if unreported:
        v.problems.append(
            f"{len(unreported)} documents without exactly one issued id: {unreported[:15]}"
        )
    if mismatched:
        v.problems.append(f"issued events naming another document: {mismatched[:15]}")
    if double_outcome:
        v.problems.append(f"several distinct failures for one document: {double_outcome[:15]}")
    strays = sorted(set(stored) - {d.key for d in plan.docs})
    if strays:
        v.problems.append(f"documents nobody ordered: {strays[:15]}")
    unknown = sorted(str(k) for k in set(issued_ids) | set(failed_ids) if k not in expected)
    if unknown:
        v.problems.append(f"outcomes for documents nobody ordered: {unknown[:15]}")
    documents = sum(len(v_) for v_ in stored.values())
    distinct_issued = sum(len(ids) for ids in issued_ids.values())
    if distinct_issued != documents:
        v.problems.append(f"distinct invoice.issued ids {distinct_issued} != documents {documents}")

    quarantined = _quarantined_keys(run)
    for key in sorted(plan.poison_keys):
        got = dead_poison.get(key, 0) + quarantined.count(key)
        if got != 1:
            v.problems.append(f"poison record {key!r}: {got} dead letters (expected exactly 1)")
    v.problems += _ledger_problems(run)

    duplicates = len([r for r in records if r.topic == issued_topic]) - distinct_issued
    v.counts = {
        "documents": documents,
        "issued_ids": distinct_issued,
        "issued_deliveries_repeated": duplicates,
        "failed": sum(len(s) for s in failed_ids.values()),
        "failed_codes": dict(failed_codes) or "-",
        "failed_only": failed_only,
        "dead_lettered_orders": dead_lettered,
        "superseded_failures": superseded,
        "dead_letters": len(dead_by_source),
        "dead_letter_codes": dict(
            Counter(r.headers.get(ERROR_CODE, b"").decode() for r in dead_by_source.values())
        )
        or "-",
        "quarantined": len(quarantined),
    }
    return v


def _quarantined_keys(run: FaultRun) -> list[bytes]:
    if not has_column(run, "outbox", "quarantined_at"):
        return []
    rows = run.query("SELECT key FROM outbox WHERE quarantined_at IS NOT NULL")
    return [bytes(r["key"]) for r in rows if r["key"] is not None]


def _ledger_problems(run: FaultRun) -> list[str]:
    rows = run.query(
        "SELECT seller_id, channel, order_id, refund_id, state, park_reason, attempts, "
        "lease_owner, lease_until, next_attempt_at, lease_until < now() AS expired "
        "FROM issuances WHERE state NOT IN ('issued', 'failed', 'skipped', 'unresolved') "
        "ORDER BY order_id"
    )
    problems = []
    expired = [r for r in rows if r["state"] == "claimed" and r["expired"]]
    if expired:
        problems.append(
            f"{len(expired)} ledger rows CLAIMED WITH AN EXPIRED LEASE: "
            + json.dumps([_row(r) for r in expired[:10]], default=str)
        )
    others = [r for r in rows if r not in expired]
    if others:
        problems.append(
            f"{len(others)} ledger rows not final: "
            + json.dumps([_row(r) for r in others[:10]], default=str)
        )
    return problems


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if v is not None and k != "expired"}
