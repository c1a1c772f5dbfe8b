"""Issue-3 flows through Kafka: department mapping, refunds as linked corrections, and an
in-doubt create (the provider commits, then the call times out) yielding exactly one document."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.fakturownia import FaultRule
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

CONFIG = """
sellers:
  - id: seller-{uid}
    name: Auto Części
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-a-{uid}"}}
        options: {{account: "acme-{uid}"}}
    channels:
      - {{channel: "ovoko-{uid}", connection: main, target: "101", send_by_email: true}}
"""


def start(kafka: str, db: str, uid: str, base_url: str, **env: str) -> tuple[Stack, str, str]:
    channel = f"ovoko-{uid}"
    stack = Stack(kafka, db, uid, [channel], base_url, extra_env=env)
    stack.apply_config(CONFIG.format(uid=uid))
    topic = f"orders.{channel}"
    create_topics(
        kafka, [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic], stack.partitions
    )
    return stack, channel, topic


def test_refunds_become_linked_corrections_of_the_current_state(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    sim, base_url = fakturownia
    stack, channel, topic = start(kafka_bootstrap, postgres_url, uid, base_url)
    seller = f"seller-{uid}"
    sale = f.order("R-1", company=True)
    one_pad = [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}]
    produce(
        kafka_bootstrap,
        [  # one key: one partition, so they are applied in this order
            order_record(topic, f.completed(seller, channel, sale)),
            order_record(topic, f.refunded(seller, channel, sale, "RF-1", one_pad)),
            order_record(
                topic, f.refunded(seller, channel, sale, "RF-2", one_pad, shipping_refunded="15.00")
            ),
        ],
    )
    with worker_process(stack, tmp_path / "worker.log"):
        out = collect(
            kafka_bootstrap,
            [stack.issued_topic, stack.failed_topic],
            done=lambda rs: len(rs) >= 3,
            timeout=90,
        )

    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    events = [r.json() for r in out]
    assert [e["type"] for e in events] == ["invoice.issued"] * 3, log
    docs = [e["data"]["document"] for e in events]
    assert [d["kind"] for d in docs] == ["invoice", "correction", "correction"]
    original_id = docs[0]["provider_document_id"]
    assert docs[1]["corrected_document_id"] == docs[2]["corrected_document_id"] == original_id
    assert docs[1]["totals"]["gross"] == "-129.99"
    assert docs[2]["totals"]["gross"] == "-144.99"  # second pad plus the shipping
    assert [e["data"]["refund_id"] for e in events] == [None, "RF-1", "RF-2"]

    stored = {inv["oid"]: inv for inv in sim.invoices(f"acme-{uid}")}
    second = stored[f"{channel}:R-1:refund:RF-2"]
    assert (second["kind"], second["invoice_id"], second["department_id"]) == (
        "correction",
        int(original_id),
        101,
    )
    pads = [p for p in second["positions"] if p["name"] == "Klocki hamulcowe"]
    assert [(p["quantity"], p["total_price_gross"]) for p in pads] == [("-1.0", "-129.99")]
    # e-mailed once each, although the worker found nothing to e-mail twice
    assert len(sim.sent_emails(f"acme-{uid}")) == 3


def test_a_create_that_times_out_after_commit_yields_exactly_one_document(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    sim, base_url = fakturownia
    stack, channel, topic = start(
        kafka_bootstrap, postgres_url, uid, base_url, INVOICE_ROUTER_PROVIDER_TIMEOUT_SECONDS="1"
    )
    sim.add_fault(
        f"acme-{uid}",
        FaultRule(
            action="hang_after_commit", method="POST", path_regex=r"^/invoices\.json$", seconds=4
        ),
    )
    produce(
        kafka_bootstrap,
        [order_record(topic, f.completed(f"seller-{uid}", channel, f.order("T-1", company=True)))],
    )
    with worker_process(stack, tmp_path / "worker.log"):
        out = collect(
            kafka_bootstrap,
            [stack.issued_topic, stack.failed_topic],
            done=lambda rs: len(rs) >= 1,
            timeout=90,
            settle=5,
        )

    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    assert [r.json()["type"] for r in out] == ["invoice.issued"], log
    invoices = sim.invoices(f"acme-{uid}")
    assert len(invoices) == 1
    posts = [
        r
        for r in sim.request_log(f"acme-{uid}")
        if r.method == "POST" and r.path.endswith("invoices.json")
    ]
    assert len(posts) == 1  # reconciled by oid: no second create was even attempted
    assert out[0].json()["data"]["document"]["provider_document_id"] == str(invoices[0]["id"])
