"""Prometheus metrics: label values of counters, provider latency, backlog gauges, lag."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from adapters.fakturownia.http import endpoint
from adapters.fakturownia.provider import FakturowniaProvider
from adapters.wfirma.http import raise_for_answer, raise_for_transport
from config.db import create_engine, session_factory, upgrade
from config.ledger import Backlog, Ledger, OutboxRecord, Source
from domain.ledger import LedgerKey, ParkReason, Slot, State
from domain.ports import ProviderUnavailable
from schemas.deadletter import DeadLetterReason
from schemas.invoices import (
    DocumentKind,
    Failure,
    FailureClass,
    FailureCode,
    IssuedDocument,
    Provider,
    Totals,
)
from workers import metrics
from workers.events import Fact, failed_event, issued_event
from workers.records import DeadLettered, Failed, Issued, RawRecord


def wire(status: int, body: object) -> httpx.Response:
    """An answer streamed like one off the network, so httpx measures its `elapsed`."""
    return httpx.Response(status, stream=httpx.ByteStream(json.dumps(body).encode()))


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _channel() -> str:
    """A channel no other test counts on, so counters start from zero."""
    return f"ch{uuid.uuid4().hex[:8]}"


def _document() -> IssuedDocument:
    return IssuedDocument(
        kind=DocumentKind.RECEIPT,
        provider=Provider.WFIRMA,
        provider_document_id="9",
        number="PAR 9/11/2026",
        issue_date=dt.date(2026, 11, 21),
        currency="PLN",
        totals=Totals(net="10.00", vat="2.30", gross="12.30"),
    )


WFIRMA = Provider.WFIRMA


def test_documents_are_counted_per_provider_channel_kind_and_code() -> None:
    channel = _channel()
    topic = f"orders.{channel}"
    rec = RawRecord(topic, 0, 1, b"k", b"{}", [])
    fact = Fact("seller-1", channel, "ORDER-1", "ev-1", DocumentKind.RECEIPT, provider=WFIRMA)
    failure = Failure(
        code=FailureCode.INVALID_TAX_ID,
        failure_class=FailureClass.PERMANENT,
        message="fix the NIP",
    )
    metrics.observe(rec, Issued(issued_event(fact, _document())))
    metrics.observe(rec, Failed(failed_event(fact, failure)))

    docs = "invoice_router_documents_total"
    common = {"channel": channel, "kind": "receipt"}
    assert value(docs, provider="wfirma", result="issued", code="", **common) == 1
    assert value(docs, provider="wfirma", result="failed", code="invalid_tax_id", **common) == 1
    unmapped = Fact("seller-1", channel, "ORDER-2", "ev-2", DocumentKind.RECEIPT)
    metrics.observe(rec, Failed(failed_event(unmapped, failure)))
    assert value(docs, provider="unknown", result="failed", code="invalid_tax_id", **common) == 1
    labelled = {
        s.labels["channel"]: s.labels
        for m in metrics.DOCUMENTS.collect()
        for s in m.samples
        if s.labels["channel"] == channel
    }
    assert "ORDER-1" not in str(labelled) and "seller-1" not in str(labelled)


def test_dead_letters_are_counted_per_source_topic_and_code() -> None:
    topic = f"orders.{_channel()}"
    rec = RawRecord(topic, 0, 5, None, b"{", [])
    reason = DeadLetterReason("malformed_json", "value is not JSON", "JSONDecodeError")
    metrics.observe(rec, DeadLettered(rec, reason))
    metrics.observe(rec, DeadLettered(rec, reason))
    name = "invoice_router_dead_letters_total"
    assert value(name, source_topic=topic, code="malformed_json") == 2
    assert value("invoice_router_outcomes_total", topic=topic, outcome="dead_lettered",
                 code="malformed_json") == 2  # fmt: skip


def test_backlog_gauges_reset_drained_reasons_to_zero() -> None:
    metrics.observe_backlog(Backlog(due=3, waiting={"transient": 2, "in_doubt": 1}, unpublished=4))
    metrics.observe_backlog(Backlog(due=1, waiting={"in_doubt": 1}, unpublished=0))
    assert value("invoice_router_retries_due") == 1
    assert value("invoice_router_outbox_unpublished") == 0
    assert value("invoice_router_parked_orders", reason="in_doubt") == 1
    assert value("invoice_router_parked_orders", reason="transient") == 0
    assert value("invoice_router_parked_orders", reason="needs_reauth") == 0


async def test_ledger_backlog_counts_waiting_due_and_unpublished(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    engine = create_engine(url)
    ledger = Ledger(session_factory(engine))
    now = dt.datetime.now(dt.UTC)
    try:
        for order, reason, due in (
            ("A", ParkReason.TRANSIENT, now - dt.timedelta(seconds=5)),
            ("B", ParkReason.TRANSIENT, now + dt.timedelta(hours=1)),
            ("C", ParkReason.NEEDS_REAUTH, None),
        ):
            source = Source("orders.x", 0, 1, None, b"{}", [], f"ev-{order}")
            claim = await ledger.claim(LedgerKey("s", "x", order, Slot.SALE), source)
            await ledger.park(claim.entry, State.PARKED, reason, next_attempt_at=due, attempts=1)
        await ledger.append_outbox([OutboxRecord("invoices.failed", b"k", b"{}")])
        backlog = await ledger.backlog()
    finally:
        await engine.dispose()
    assert backlog == Backlog(due=1, waiting={"transient": 2, "needs_reauth": 1}, unpublished=1)


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class Consumer:
    """The part of Faust's consumer the lag gauge reads."""

    highwaters: dict[TP, int]
    positions: dict[TP, int]
    _committed_offset: dict[TP, int] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return set(self.highwaters)

    def highwater(self, tp: TP) -> int:
        return self.highwaters[tp]

    async def position(self, tp: TP) -> int:
        return self.positions[tp]


async def test_consumer_lag_per_assigned_partition_and_revoked_ones_disappear() -> None:
    topic = f"orders.{_channel()}"
    p0, p1 = TP(topic, 0), TP(topic, 1)
    consumer = Consumer({p0: 10, p1: 7}, {p0: 10, p1: 7}, {p0: 4})
    await metrics.observe_consumer_lag(consumer)
    lag = "invoice_router_consumer_lag"
    assert value(lag, topic=topic, partition="0") == 6  # committed 4 of 10
    assert value(lag, topic=topic, partition="1") == 0  # nothing committed yet: the position
    await metrics.observe_consumer_lag(Consumer({p1: 9}, {p1: 9}, {p1: 5}))
    assert REGISTRY.get_sample_value(lag, {"topic": topic, "partition": "0"}) is None
    assert value(lag, topic=topic, partition="1") == 4


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/invoices.json", "/invoices.json"),
        ("/acme-1a2b/invoices/123.json", "/invoices/{id}.json"),
        ("/invoices/123/send_by_email.json", "/invoices/{id}/send_by_email.json"),
        ("/departments.json", "/departments.json"),
        ("/clients/7.json", "other"),
    ],
)
def test_fakturownia_endpoints_are_templates_without_ids(path: str, template: str) -> None:
    assert endpoint(path) == template


async def test_fakturownia_calls_are_timed_per_endpoint_template_and_status_class() -> None:
    base = f"https://{_channel()}.fakturownia.pl"

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/send_by_email.json"):
            return wire(200, {"status": "ok"})
        return wire(404, {"message": "not found"})

    name = "invoice_router_provider_request_seconds_count"
    sent = {"provider": "fakturownia", "method": "POST", "status_class": "2xx"}
    missing = {"provider": "fakturownia", "method": "GET", "status_class": "4xx"}
    sent_path, missing_path = "/invoices/{id}/send_by_email.json", "/invoices/{id}.json"
    before = (
        value(name, endpoint=sent_path, **sent),
        value(name, endpoint=missing_path, **missing),
    )
    provider = FakturowniaProvider(
        base_url=base, api_token="t", transport=httpx.MockTransport(answer)
    )
    try:
        await provider.send_to_buyer("4711")
        with pytest.raises(Exception, match="not found"):
            await provider.get("4712")
    finally:
        await provider.aclose()
    assert value(name, endpoint=sent_path, **sent) == before[0] + 1
    assert value(name, endpoint=missing_path, **missing) == before[1] + 1
    assert value("invoice_router_provider_request_seconds_sum", endpoint=sent_path, **sent) > 0


async def test_wfirma_answers_and_transport_failures_are_recorded() -> None:
    async def answer(request: httpx.Request) -> httpx.Response:
        return wire(200, {"status": {"code": "OK"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        response = await client.post("https://api2.wfirma.pl/invoices/find?company_id=1")
    name = "invoice_router_provider_request_seconds_count"
    labels = {"provider": "wfirma", "method": "POST", "endpoint": "/invoices/find"}
    before = value(name, status_class="2xx", **labels)
    raise_for_answer(response, module="invoices", action="find", singular="invoice", creates=False)
    assert value(name, status_class="2xx", **labels) == before + 1

    errors = "invoice_router_provider_transport_errors_total"
    before = value(errors, error="ConnectError", **labels)
    failed = raise_for_transport(
        httpx.ConnectError("refused"), creates=False, where="POST /invoices/find"
    )
    assert isinstance(failed, ProviderUnavailable)
    assert value(errors, error="ConnectError", **labels) == before + 1
