"""Issue 11 through Kafka: the worker watches invoices on their way through KSeF and announces
each status on `invoices.clearance` (ADR 0004), against the Fakturownia simulator's KSeF.

The account sends company invoices to KSeF by itself (`gov_auto_send_mode: all_companies`);
each order's invoice follows a KSeF path scripted for it in the simulator.
"""

from __future__ import annotations

from dataclasses import replace
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
      - {{channel: "ovoko-{uid}", connection: main, target: "101", send_by_email: true}}
"""


# order -> (KSeF path scripted for its invoice, statuses announced, sends to KSeF at most)
PATHS: dict[str, tuple[KsefRule | None, list[str], int]] = {
    "K-OK": (None, ["cleared"], 1),
    "K-REJ": (KsefRule(path="reject", messages=["P_2: zły numer"]), ["rejected"], 1),
    "K-SRV": (KsefRule(path="server_error_then_ok", failures=1), ["cleared"], 2),
    "K-SRVX": (KsefRule(path="server_error_then_ok", failures=-1), ["rejected"], 4),
    "K-SCE": (KsefRule(path="status_check_error_then_ok"), ["cleared"], 1),
    "K-OFF": (KsefRule(path="offline_then_ok", delays=[0.2, 3]), ["offline", "cleared"], 1),
}


def test_each_ksef_status_path_ends_as_the_rules_say_announced_once(
    kafka_bootstrap: str, postgres_url: str, uid: str, tmp_path: Path
) -> None:
    """Cleared; rejected with KSeF's reasons; server_error re-sent then cleared, or exhausted
    after 3 re-sends; status_check_error never re-sent; offline with its deadline, then cleared;
    a receipt never watched; the company's e-mail only after clearance; the correction waits for
    its original's KSeF number and names it."""
    prefix, channel = f"ksef-{uid}", f"ovoko-{uid}"
    clearance_topic = f"invoices.clearance.{uid}"
    sim = FakturowniaSimulator()
    sim.add_account(
        SimAccount(
            prefix=prefix,
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
            ksef_delay_seconds=1.0,
        )
    )
    for order_id, (rule, _, _) in PATHS.items():
        if rule is not None:
            sim.add_ksef_rule(prefix, replace(rule, oid_regex=f":{order_id}$"))
    seller = f"seller-{uid}"
    sale = f.order("K-OK", company=True)
    refund_lines = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]
    records = [
        order_record(f"orders.{channel}", f.completed(seller, channel, f.order(o, company=True)))
        for o in PATHS
        if o != "K-OK"
    ]
    records += [
        order_record(f"orders.{channel}", f.completed(seller, channel, sale)),
        order_record(f"orders.{channel}", f.refunded(seller, channel, sale, "R1", refund_lines)),
        order_record(f"orders.{channel}", f.completed(seller, channel, f.order("K-B2C"))),
    ]
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
                "INVOICE_ROUTER_CLEARANCE_RESEND_GAPS": "1s,2s,3s",
                "INVOICE_ROUTER_RETRY_POLL_SECONDS": "0.5",
            },
        )
        stack.apply_config(CONFIG.format(uid=uid))
        topic = f"orders.{channel}"
        create_topics(
            kafka_bootstrap,
            [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic, clearance_topic],
            stack.partitions,
        )
        produce(kafka_bootstrap, records)
        expected = sum(len(statuses) for _, statuses, _ in PATHS.values()) + 1  # + correction

        def done(rs: list) -> bool:
            ids = {r.json()["id"] for r in rs if r.topic == clearance_topic}
            issued = {r.json()["data"]["order_id"] for r in rs if r.topic == stack.issued_topic}
            return len(ids) >= expected and "K-OK" in issued and len(issued) == len(PATHS) + 1

        with worker_process(stack, tmp_path / "worker.log"):
            out = collect(
                kafka_bootstrap,
                [stack.issued_topic, stack.failed_topic, clearance_topic],
                done=done,
                timeout=150,
                settle=3,
            )
        stored = {inv["oid"]: inv for inv in sim.invoices(prefix)}
        sends = [s.oid for s in sim.ksef_sends(prefix)]
        emails = [e.number for e in sim.sent_emails(prefix)]
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    changes: dict[str, list[dict]] = {}
    for r in sorted(
        {r.json()["id"]: r for r in out if r.topic == clearance_topic}.values(),
        key=lambda r: r.offset,
    ):
        data = r.json()["data"]
        key = data["order_id"] + (f":{data['refund_id']}" if data["refund_id"] else "")
        changes.setdefault(key, []).append(data)
    for order_id, (_, statuses, max_sends) in PATHS.items():
        announced = [c["status"] for c in changes.get(order_id, [])]
        assert sorted(announced) == sorted(statuses), (order_id, announced, log)
        assert 1 <= sends.count(f"{channel}:{order_id}") <= max_sends, (order_id, sends)
    assert sends.count(f"{channel}:K-SCE") == 1  # status_check_error: never re-sent
    assert sends.count(f"{channel}:K-SRVX") == 4  # the first send and 3 re-sends, no more
    assert "K-B2C" not in changes and f"{channel}:K-B2C" not in sends  # a receipt: not watched
    rejected = next(c for c in changes["K-REJ"] if c["status"] == "rejected")
    assert rejected["failure_code"] == "ksef_rejected" and rejected["errors"] == ["P_2: zły numer"]
    offline = next(c for c in changes["K-OFF"] if c["status"] == "offline")
    assert offline["offline_deadline"] is not None
    cleared = next(c for c in changes["K-OK"] if c["status"] == "cleared")
    assert cleared["ksef_number"] == stored[f"{channel}:K-OK"]["gov_id"]
    assert cleared["verification_link"] and cleared["assigned_at"]
    correction = stored[f"{channel}:K-OK:refund:R1"]
    assert correction["gov_corrected_invoice_number"] == cleared["ksef_number"]
    # e-mail (send_by_email): the company invoices only once cleared, the receipt at creation
    assert stored[f"{channel}:K-OK"]["number"] in emails
    assert stored[f"{channel}:K-REJ"]["number"] not in emails
    assert stored[f"{channel}:K-B2C"]["number"] in emails
