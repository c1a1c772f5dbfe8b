"""The real worker exports Prometheus metrics over HTTP and writes redacted JSON log lines."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

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
  - id: seller-o-{uid}
    name: Obserwowany Sklep
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-a-{uid}"}}
        options: {{account: "https://acme-{uid}.fakturownia.pl", receipts_enabled: true}}
    channels:
      - {{channel: "ovoko-{uid}", connection: main, target: "101"}}
"""
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> Samples:
    """Every sample of /metrics, read over HTTP like Prometheus does."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the one series of `name` whose labels include `labels`."""
    hits = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    return sum(hits) if hits else None


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    """The label sets of every series of `name`."""
    return [dict(labels) for n, labels in samples if n == name]


def scrape_until(port: int, done: Callable[[Samples], bool], timeout: float = 60) -> Samples:
    deadline = time.monotonic() + timeout
    samples: Samples = {}
    while time.monotonic() < deadline:
        try:
            samples = scrape(port)
        except httpx.TransportError:  # not listening yet
            samples = {}
        if samples and done(samples):
            break
        time.sleep(0.5)
    return samples


def test_metrics_and_json_logs_of_a_running_worker(
    kafka_bootstrap: str, postgres_url: str, fakturownia, uid: str, tmp_path: Path
) -> None:
    _, base_url = fakturownia
    channel, seller, port = f"ovoko-{uid}", f"seller-o-{uid}", free_port()
    topic = f"orders.{channel}"
    stack = Stack(
        kafka_bootstrap,
        postgres_url,
        uid,
        [channel],
        base_url,
        extra_env={
            "INVOICE_ROUTER_METRICS_PORT": str(port),
            "INVOICE_ROUTER_METRICS_REFRESH_SECONDS": "0.5",
            "INVOICE_ROUTER_LOG_FORMAT": "json",
        },
    )
    stack.apply_config(CONFIG.format(uid=uid))
    create_topics(
        kafka_bootstrap,
        [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic],
        stack.partitions,
    )
    orders = [
        f.completed(seller, channel, f.order("OBS-1", company=True)),
        f.completed(seller, channel, f.order("OBS-2")),
    ]
    produce(
        kafka_bootstrap,
        [order_record(topic, o) for o in orders] + [(topic, b"OBS-BAD", b"{not json", [])],
    )

    def settled(s: Samples) -> bool:
        issued = sample(s, "invoice_router_documents_total", channel=channel, result="issued")
        held = [ls for ls in series(s, "invoice_router_consumer_lag") if ls["topic"] == topic]
        lag = sample(s, "invoice_router_consumer_lag", topic=topic)
        return issued == 2 and len(held) == stack.partitions and lag == 0

    log_path = tmp_path / "worker.log"
    with worker_process(stack, log_path):
        out = collect(kafka_bootstrap, [stack.issued_topic], done=lambda rs: len(rs) >= 2)
        samples = scrape_until(port, settled)
    log_text = log_path.read_text(errors="replace")
    assert {r.key for r in out} == {b"OBS-1", b"OBS-2"}, log_text[-3000:]

    # documents per provider and channel; provider latency per endpoint template
    assert settled(samples), sorted(n for n, _ in samples)
    documents = "invoice_router_documents_total"
    assert sample(samples, documents, provider="fakturownia", kind="invoice") == 1
    assert sample(samples, documents, provider="fakturownia", kind="receipt") == 1
    created = sample(
        samples,
        "invoice_router_provider_request_seconds_count",
        provider="fakturownia",
        method="POST",
        endpoint="/invoices.json",
        status_class="2xx",
    )
    assert created == 2
    endpoints = {
        ls["endpoint"] for ls in series(samples, "invoice_router_provider_request_seconds_count")
    }
    assert endpoints == {"/invoices.json"}  # templates: no account prefix, no ids
    assert sample(samples, "invoice_router_dead_letters_total", source_topic=topic) == 1
    assert sample(samples, "invoice_router_outbox_unpublished") == 0
    assert sample(samples, "invoice_router_parked_orders", reason="transient") == 0

    # JSON lines only, with the record's correlation fields; no token, no buyer data
    records = [json.loads(line) for line in log_text.splitlines() if line.strip()]
    for order in orders:
        tagged = [r for r in records if r.get("event_id") == order["id"]]
        assert tagged, f"no log line carries event {order['id']}"
        assert {(r["seller_id"], r["channel"], r["order_id"]) for r in tagged} == {
            (seller, channel, order["data"]["order"]["order_id"])
        }
        assert any(r.get("provider_path", "").endswith("/invoices.json") for r in tagged)
    assert f"tok-a-{uid}" not in log_text
    assert "buyer@example.test" not in log_text and "Kowalski" not in log_text
