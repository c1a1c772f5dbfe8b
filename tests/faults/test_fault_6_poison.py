"""Fault 6: poison events interleaved with valid ones, on every channel.

Poison: truncated JSON, bytes that are not UTF-8, an empty value, a tombstone (no value at
all), JSON that is not an object, a schema-invalid order (a line without its VAT rate), an
unknown event type, and a valid event for another channel (channel mismatch). Every valid order
must be issued exactly once; every poison record must land on its topic's `.dlq` with its
original key, value and headers and a `dlq.error.code` / `dlq.reason` saying why (ADR 0001
§7); the worker process must never stop (checked throughout and at the end).

CI: 60 valid orders with one of each poison kind per channel in between (16 poison records).
Long: 300 valid orders, 3 rounds of poison (48).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.deadletter import ERROR_CODE, REASON, SOURCE_OFFSET, SOURCE_TOPIC
from tests import factories as f
from tests.faults.support import FaultRun, Record

pytestmark = pytest.mark.integration


def poison(run: FaultRun, channel: str, other: str, tag: str) -> list[tuple[Record, str, str]]:
    """(record, expected dlq.error.code, a fragment the dlq.reason must contain)."""
    topic = f"orders.{channel}"
    seller = run.sellers[0].id

    def event(order_id: str, on: str = channel) -> dict[str, Any]:
        return f.completed(seller, on, f.order(order_id))

    schema_invalid = event(f"PX-{tag}-schema")
    del schema_invalid["data"]["order"]["lines"][0]["vat_rate"]
    unknown_type = event(f"PX-{tag}-type")
    unknown_type["type"] = "order.cancelled"
    headers = [("ce_id", f"poison-{tag}".encode()), ("x-origin", b"\x00\xfe")]

    def rec(kind: str, value: bytes | None) -> Record:
        return (topic, f"PX-{tag}-{kind}".encode(), value, headers)

    return [
        (rec("truncated", b'{"specversion": "1.0", "data": '), "malformed_json", "not JSON"),
        (rec("binary", b"\x80\x81 not UTF-8 \xc3\x28"), "malformed_json", "not JSON"),
        (rec("empty", b""), "malformed_json", "not JSON"),
        (rec("tombstone", None), "malformed_json", "not JSON"),
        (rec("array", b"[1, 2, 3]"), "schema_invalid", ""),
        (rec("schema", json.dumps(schema_invalid).encode()), "schema_invalid", "vat_rate"),
        (rec("type", json.dumps(unknown_type).encode()), "schema_invalid", ""),
        (
            rec("channel", json.dumps(event(f"PX-{tag}-channel", on=other)).encode()),
            "channel_mismatch",
            other,
        ),
    ]


def test_fault_6_poison_is_dead_lettered_with_its_reason_and_valid_orders_flow(
    fault_run: FaultRun,
) -> None:
    run = fault_run
    n, rounds = (300, 3) if run.long else (60, 1)
    docs, valid = run.orders(n, "V")
    bad = [
        p
        for r in range(rounds)
        for ch, other in (run.channels, run.channels[::-1])
        for p in poison(run, ch, other, f"{r}{ch[:2]}")
    ]
    records = list(valid)  # poison spread evenly between the valid records
    for j, (record, _, _) in enumerate(bad):
        records.insert((j + 1) * len(valid) // (len(bad) + 1) + j, record)

    worker = run.start_worker("worker")
    half = len(records) // 2
    run.produce(records[:half])
    run.wait_for("the first orders", lambda: run.creates_done() > 0, timeout=90)
    assert worker.poll() is None, run.logs()
    run.produce(records[half:])

    report = run.verify(
        docs,
        counts={"poison": len(bad)},
        dead_letters=len(bad),
        timeout=300 if run.long else 120,
    )
    assert worker.poll() is None, f"the worker stopped\n{run.logs()}"

    dead = {r.key: r for r in report.events(".dlq")}
    problems = []
    for (topic, key, value, headers), code, fragment in bad:
        got = dead.get(key)
        if got is None:
            problems.append(f"{key!r}: not dead-lettered")
            continue
        if got.topic != f"{topic}.dlq":
            problems.append(f"{key!r}: on {got.topic}")
        if got.value != value:
            problems.append(f"{key!r}: value {value!r} became {got.value!r}")
        if any(got.headers.get(k) != v for k, v in headers):
            problems.append(f"{key!r}: original headers lost: {got.headers}")
        if got.headers.get(ERROR_CODE) != code.encode():
            problems.append(f"{key!r}: code {got.headers.get(ERROR_CODE)!r}, expected {code}")
        reason = got.headers.get(REASON, b"").decode()
        if not reason or fragment not in reason:
            problems.append(f"{key!r}: reason {reason!r} does not say {fragment!r}")
        if got.headers.get(SOURCE_TOPIC) != topic.encode() or not got.headers.get(SOURCE_OFFSET):
            problems.append(f"{key!r}: source coordinates missing: {got.headers}")
    assert not problems, "\n".join(problems)
    # poison never reached the ledger or a provider
    assert not [k for k in run.ledger() if k[2].startswith("PX-")]
    assert not [k for k in run.documents() if ":PX-" in k]
