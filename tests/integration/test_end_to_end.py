"""Walking skeleton end to end: real Kafka, real PostgreSQL, the worker process, the simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.deadletter import ERROR_CODE, REASON, SOURCE_OFFSET, SOURCE_TOPIC
from tests import factories as f
from tests.integration.harness import (
    Stack,
    collect,
    create_topics,
    order_record,
    produce,
    wait_committed,
    worker_process,
)

pytestmark = pytest.mark.integration

CONFIG = """
sellers:
  - id: seller-a-{uid}
    name: Auto Części A
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-a-{uid}"}}
        options: {{account: "https://acme-{uid}.fakturownia.pl", receipts_enabled: true}}
    channels:
      - {{channel: "ovoko-{uid}", connection: main, target: "101"}}
      - {{channel: "allegro-{uid}", connection: main, target: "102"}}
  - id: seller-b-{uid}
    name: Części B
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-b-{uid}"}}
        options: {{account: "beta-{uid}"}}
    channels:
      - {{channel: "ovoko-{uid}", connection: main, target: "201", auto_generate: false}}
"""


def test_orders_flow_from_channel_topics_to_invoices(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    sim, base_url = fakturownia
    ovoko, allegro, ebay = f"ovoko-{uid}", f"allegro-{uid}", f"ebay-{uid}"
    stack = Stack(kafka_bootstrap, postgres_url, uid, [ovoko, allegro, ebay], base_url)
    stack.apply_config(CONFIG.format(uid=uid))
    topics = [f"orders.{c}" for c in stack.channels]
    create_topics(
        kafka_bootstrap,
        topics + [f"{t}.dlq" for t in topics] + [stack.issued_topic, stack.failed_topic],
        stack.partitions,
    )

    a, b = f"seller-a-{uid}", f"seller-b-{uid}"
    b2b = f.order("B2B-1", company=True)
    b2c = f.order(
        "B2C-1",
        lines=[
            {
                "line_id": "L1",
                "sku": "OIL-5W30",
                "name": "Olej 5W30 4l",
                "quantity": "1",
                "unit": "szt",
                "unit_price_gross": "149.99",
                "vat_rate": "23",
            },
            {
                "line_id": "L2",
                "name": "Poradnik (książka)",
                "quantity": "1",
                "unit": "szt",
                "unit_price_gross": "39.90",
                "vat_rate": "5",
            },
        ],
    )
    schema_invalid = f.completed(a, ovoko, f.order("BAD-1"))
    del schema_invalid["data"]["order"]["lines"][0]["vat_rate"]
    malformed = (f"orders.{ovoko}", b"BAD-0", b'{"specversion": "1.0", "data": ', [("x", b"1")])
    produce(
        kafka_bootstrap,
        [
            malformed,
            order_record(f"orders.{ovoko}", f.completed(a, ovoko, b2b)),
            order_record(f"orders.{ovoko}", schema_invalid),
            order_record(f"orders.{ovoko}", f.completed(b, ovoko, f.order("OFF-1"))),
            order_record(f"orders.{allegro}", f.completed(a, allegro, b2c)),
            order_record(f"orders.{ebay}", f.completed(a, ebay, f.order("EB-1"))),
        ],
    )

    with worker_process(stack, tmp_path / "worker.log"):
        out = collect(
            kafka_bootstrap,
            [stack.issued_topic, stack.failed_topic, f"orders.{ovoko}.dlq"],
            done=lambda rs: len(rs) >= 5,
            timeout=90,
        )
        offsets = wait_committed(kafka_bootstrap, stack.group, topics, stack.partitions)

    issued = {r.key: r.json() for r in out if r.topic == stack.issued_topic}
    failed = {r.key: r.json() for r in out if r.topic == stack.failed_topic}
    dead = [r for r in out if r.topic.endswith(".dlq")]
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    assert set(issued) == {b"B2B-1", b"B2C-1"}, log
    assert set(failed) == {b"EB-1"}, log
    assert failed[b"EB-1"]["data"]["failure"]["code"] == "channel_not_configured"
    assert failed[b"EB-1"]["data"]["failure"]["class"] == "permanent"

    doc_b2b = issued[b"B2B-1"]["data"]["document"]
    doc_b2c = issued[b"B2C-1"]["data"]["document"]
    assert (doc_b2b["kind"], doc_b2c["kind"]) == ("invoice", "receipt")
    assert doc_b2b["totals"] == {"net": "252.42", "vat": "58.06", "gross": "310.48"}
    assert Decimal(doc_b2c["totals"]["gross"]) == Decimal("204.89")  # 149.99 + 39.90 + 15.00

    stored = {inv["oid"]: inv for inv in sim.invoices(f"acme-{uid}")}
    assert set(stored) == {f"{ovoko}:B2B-1", f"{allegro}:B2C-1"}
    inv = stored[f"{ovoko}:B2B-1"]
    assert (inv["kind"], inv["department_id"], inv["buyer_tax_no"]) == ("vat", 101, f.VALID_NIP)
    assert [(p["name"], p["tax"], p["total_price_gross"]) for p in inv["positions"]] == [
        ("Klocki hamulcowe", "23", "259.98"),
        ("Filtr oleju", "23", "35.5"),
        ("Dostawa", "23", "15.0"),
    ]
    receipt = stored[f"{allegro}:B2C-1"]
    assert (receipt["kind"], receipt["department_id"]) == ("receipt", 102)
    assert sorted(p["tax"] for p in receipt["positions"]) == ["23", "23", "5"]
    assert sim.invoices(f"beta-{uid}") == []  # auto-generate off: nothing issued

    assert {d.key for d in dead} == {b"BAD-0", b"BAD-1"}
    by_key = {d.key: d for d in dead}
    assert by_key[b"BAD-0"].value == malformed[2]  # original bytes, untouched
    assert by_key[b"BAD-0"].headers["x"] == b"1"  # original headers kept
    assert by_key[b"BAD-0"].headers[ERROR_CODE] == b"malformed_json"
    assert by_key[b"BAD-1"].headers[ERROR_CODE] == b"schema_invalid"
    assert b"vat_rate" in by_key[b"BAD-1"].headers[REASON]
    assert by_key[b"BAD-1"].headers[SOURCE_TOPIC] == f"orders.{ovoko}".encode()
    assert by_key[b"BAD-1"].headers[SOURCE_OFFSET].isdigit()

    # every record, including the auto-generate-off one, was finished and committed
    assert all((committed or 0) == end for committed, end in offsets.values()), offsets
    assert sum(end for _, end in offsets.values()) == 6
    assert json.loads(json.dumps(issued[b"B2B-1"]))["id"]  # the event carries its id


def test_a_channel_topic_created_while_running_is_consumed_without_restart(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    sim, base_url = fakturownia
    ovoko, ebay = f"ovoko-{uid}", f"ebay-{uid}"
    stack = Stack(kafka_bootstrap, postgres_url, uid, [ovoko], base_url)
    stack.apply_config(CONFIG.format(uid=uid).replace(f'"allegro-{uid}"', f'"{ebay}"'))
    create_topics(
        kafka_bootstrap,
        [f"orders.{ovoko}", f"orders.{ovoko}.dlq", stack.issued_topic, stack.failed_topic],
        stack.partitions,
    )
    seller = f"seller-a-{uid}"
    with worker_process(stack, tmp_path / "worker.log") as proc:
        produce(
            kafka_bootstrap,
            [order_record(f"orders.{ovoko}", f.completed(seller, ovoko, f.order("BEFORE")))],
        )
        collect(
            kafka_bootstrap,
            [stack.issued_topic],
            done=lambda rs: len(rs) >= 1,
            timeout=60,
            settle=0,
        )
        # a connector starts publishing a channel the worker was not started with
        create_topics(kafka_bootstrap, [f"orders.{ebay}"], stack.partitions)
        produce(
            kafka_bootstrap,
            [order_record(f"orders.{ebay}", f.completed(seller, ebay, f.order("NEW-CH")))],
        )
        # the rebalance may redeliver BEFORE (same event id): wait for distinct orders
        out = collect(
            kafka_bootstrap,
            [stack.issued_topic],
            timeout=60,
            done=lambda rs: {r.key for r in rs} >= {b"BEFORE", b"NEW-CH"},
        )
        assert proc.poll() is None  # it restarted itself in place: a supervisor sees no exit
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    assert {r.key for r in out} == {b"BEFORE", b"NEW-CH"}, log
    assert len({r.json()["id"] for r in out}) == 2  # redeliveries repeat the same event id
    assert "new channel topics" in (tmp_path / "worker.log").read_text()
    assert {i["department_id"] for i in sim.invoices(f"acme-{uid}")} == {101, 102}
