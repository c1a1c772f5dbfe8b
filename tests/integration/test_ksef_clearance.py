"""Issue 11 through Kafka: the worker watches invoices on their way through KSeF and announces
each status on `invoices.clearance` (ADR 0004), against the Fakturownia simulator's KSeF.

The account sends company invoices to KSeF by itself (`gov_auto_send_mode: all_companies`); one
invoice is accepted after a delay, one is rejected with KSeF's messages (a scripted outcome),
and a receipt is never sent (`not_applicable`: not watched, nothing announced).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment
from simulators.fakturownia.ksef_rules import KsefRule
from tests import factories as f
from tests.integration.harness import (
    Stack,
    collect,
    create_topics,
    order_record,
    produce,
    worker_process,
)

pytestmark = pytest.mark.integration
SELLER_NIP = "5260001246"
CONFIG = """
sellers:
  - id: seller-{uid}
    name: Auto Części
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-k-{uid}"}}
        options: {{account: "ksef-{uid}", receipts_enabled: true}}
    channels:
      - {{channel: "ovoko-{uid}", connection: main, target: "101"}}
"""


def test_invoices_are_announced_cleared_or_rejected_once_ksef_decides(
    kafka_bootstrap: str, postgres_url: str, uid: str, tmp_path: Path
) -> None:
    sim = FakturowniaSimulator()
    sim.add_account(
        SimAccount(
            prefix=f"ksef-{uid}",
            api_token=f"tok-k-{uid}",
            departments=[
                SimDepartment(
                    id=101,
                    name="Auto Części Sp. z o.o.",
                    shortcut="OVO",
                    tax_no=SELLER_NIP,
                    street="ul. Długa 1",
                    post_code="00-001",
                    city="Warszawa",
                )
            ],
            ksef_enabled=True,
            gov_auto_send_mode="all_companies",
            ksef_delay_seconds=2.0,
        )
    )
    sim.add_ksef_rule(
        f"ksef-{uid}", KsefRule(path="reject", oid_regex="K-REJ", messages=["P_2: zły numer"])
    )
    channel, clearance_topic = f"ovoko-{uid}", f"invoices.clearance.{uid}"
    with sim.serve_in_thread() as base_url:
        stack = Stack(
            kafka_bootstrap,
            postgres_url,
            uid,
            [channel],
            base_url,
            extra_env={
                "INVOICE_ROUTER_TOPIC_INVOICES_CLEARANCE": clearance_topic,
                "INVOICE_ROUTER_CLEARANCE_CHECK_GAPS": "1s",
                "INVOICE_ROUTER_CLEARANCE_POLL_SECONDS": "0.5",
            },
        )
        stack.apply_config(CONFIG.format(uid=uid))
        topic = f"orders.{channel}"
        create_topics(
            kafka_bootstrap,
            [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic, clearance_topic],
            stack.partitions,
        )
        seller = f"seller-{uid}"
        produce(
            kafka_bootstrap,
            [
                order_record(topic, f.completed(seller, channel, f.order("K-OK", company=True))),
                order_record(topic, f.completed(seller, channel, f.order("K-REJ", company=True))),
                order_record(topic, f.completed(seller, channel, f.order("K-B2C"))),
            ],
        )
        with worker_process(stack, tmp_path / "worker.log"):
            out = collect(
                kafka_bootstrap,
                [stack.issued_topic, stack.failed_topic, clearance_topic],
                done=lambda rs: (
                    len({r.json()["id"] for r in rs if r.topic == clearance_topic}) >= 2
                ),
                timeout=90,
                settle=3,
            )
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    issued = {
        r.json()["data"]["order_id"]: r.json()["data"] for r in out if r.topic == stack.issued_topic
    }
    assert set(issued) == {"K-OK", "K-REJ", "K-B2C"}, log
    assert issued["K-OK"]["document"]["clearance"]["status"] == "processing"
    changes = {r.json()["id"]: r.json()["data"] for r in out if r.topic == clearance_topic}
    by_order = {d["order_id"]: d for d in changes.values()}
    assert len(changes) == 2 and set(by_order) == {"K-OK", "K-REJ"}, log  # the receipt: none
    ok, rejected = by_order["K-OK"], by_order["K-REJ"]
    stored = {inv["oid"]: inv for inv in sim.invoices(f"ksef-{uid}")}
    assert (ok["previous_status"], ok["status"]) == ("pending", "cleared")
    assert ok["ksef_number"] == stored[f"{channel}:K-OK"]["gov_id"]
    assert ok["verification_link"] == stored[f"{channel}:K-OK"]["gov_verification_link"]
    assert ok["assigned_at"] is not None
    assert rejected["status"] == "rejected" and rejected["failure_code"] == "ksef_rejected"
    assert rejected["errors"] == ["P_2: zły numer"]
    sent = [s.oid for s in sim.ksef_sends(f"ksef-{uid}")]
    assert sorted(sent) == [f"{channel}:K-OK", f"{channel}:K-REJ"]  # once each, never the receipt
