"""Prometheus metrics of the worker (prometheus-client's default registry).

Counters follow what the router decides; gauges are recomputed by a timer from the ledger,
the clearance tracker's table and the consumer (workers/app.py). Labels are bounded sets
(topics, channels, providers, codes, reasons, statuses, deadline buckets, partitions): never
seller, order or event ids. Provider call latency lives with the adapters (adapters/observe.py).
Dashboard: docs/grafana/invoice-router.json.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, start_http_server

from adapters.metric_children import LabelChildren
from config.clearance_queries import (
    DEADLINE_BUCKETS,
    DEADLINE_LATER,
    DEADLINE_PASSED,
    ClearanceSummary,
    clearance_summary,
)
from config.clock import utcnow
from config.db import session_factory
from config.ledger import Backlog
from domain.ksef import ClearanceStatus
from domain.ledger import ParkReason
from schemas.invoices import InvoiceFailed, InvoiceIssued
from workers.records import (
    DeadLettered,
    Failed,
    Issued,
    Outcome,
    Parked,
    RawRecord,
    Skipped,
    Superseded,
)

EVENTS_CONSUMED = Counter(
    "invoice_router_events_consumed_total", "Order events consumed", ["topic"]
)
OUTCOMES = Counter(
    "invoice_router_outcomes_total",
    "Outcomes per channel: issued, failed (by code), dead_lettered (by reason), skipped (by why)",
    ["topic", "outcome", "code"],
)
DOCUMENTS = Counter(
    "invoice_router_documents_total",
    "Documents issued or failed per provider (`unknown` for failures, which do not name it), "
    "channel, document kind and failure code (empty when issued)",
    ["provider", "channel", "kind", "result", "code"],
)
DEAD_LETTERS = Counter(
    "invoice_router_dead_letters_total",
    "Records dead-lettered by the consumer, per source topic and error code",
    ["source_topic", "code"],
)
RETRIES_DUE = Gauge(
    "invoice_router_retries_due",
    "Parked or in-doubt orders whose retry time has come (growing: the scheduler falls behind)",
)
PARKED = Gauge(
    "invoice_router_parked_orders",
    "Orders waiting in the ledger (parked or in doubt) per park reason",
    ["reason"],
)
OUTBOX_UNPUBLISHED = Gauge(
    "invoice_router_outbox_unpublished", "Outcome records written to the outbox, not yet in Kafka"
)
OUTBOX_QUARANTINED = Counter(
    "invoice_router_outbox_quarantined_total",
    "Outbox records the broker refused for good (too large, invalid topic), set aside so the "
    "records behind them go on; each needs an operator (`invoice-router outbox`)",
    ["topic"],
)
OUTBOX_QUARANTINED_ROWS = Gauge(
    "invoice_router_outbox_quarantined_rows", "Outbox records quarantined now, not re-queued"
)
CONSUMER_LAG = Gauge(
    "invoice_router_consumer_lag",
    "Records of an assigned partition not yet committed (highwater minus committed offset)",
    ["topic", "partition"],
)
CLEARANCE_DOCUMENTS = Gauge(
    "invoice_router_clearance_documents",
    "Documents tracked through KSeF per clearance status (pending, cleared, rejected, offline)",
    ["status"],
)
CLEARANCE_OLDEST_PENDING = Gauge(
    "invoice_router_clearance_oldest_pending_seconds",
    "Age of the oldest document still pending in KSeF (0: none); growing: KSeF or we are stuck",
)
CLEARANCE_OFFLINE = Gauge(
    "invoice_router_clearance_offline_documents",
    "Offline documents by hours left before their legal deadline (<4h, <24h, >=24h, passed)",
    ["hours_left"],
)
CLEARANCE_REJECTED = Gauge(
    "invoice_router_clearance_rejected_documents",
    "Documents KSeF rejected (never issued), per failure code and the provider's last status",
    ["code", "provider_status"],
)
UNKNOWN = "unknown"


_EVENTS_CONSUMED = LabelChildren(EVENTS_CONSUMED)
_OUTCOMES = LabelChildren(OUTCOMES)
_DOCUMENTS = LabelChildren(DOCUMENTS)
_DEAD_LETTERS = LabelChildren(DEAD_LETTERS)


def _issued(event: InvoiceIssued) -> tuple[str, ...]:
    doc = event.data.document
    return doc.provider.value, event.data.channel, doc.kind.value, "issued", ""


def _failed(event: InvoiceFailed) -> tuple[str, ...]:
    data = event.data
    kind = data.document_kind.value if data.document_kind else UNKNOWN
    provider = data.provider.value if data.provider else UNKNOWN
    return provider, data.channel, kind, "failed", data.failure.code.value


def observe(record: RawRecord, outcome: Outcome) -> None:
    """Count one consumed record's outcome."""
    _EVENTS_CONSUMED(record.topic).inc()
    _count_documents(record.topic, outcome)
    match outcome:
        case Issued(event):
            labels = ("issued", event.data.document.kind.value)
        case Failed(event):
            labels = ("failed", event.data.failure.code.value)
        case DeadLettered(_, reason):
            labels = ("dead_lettered", reason.code)
        case Skipped(why=why):
            labels = ("skipped", why)
        case Parked(reason=reason):
            labels = ("parked", reason)
        case Superseded():
            labels = ("superseded", "")
    _OUTCOMES(record.topic, *labels).inc()


def observe_retry(topic: str, outcome: Outcome) -> None:
    """Count the outcome of a parked order's retry (not a consumed record)."""
    _count_documents(topic, outcome)
    _OUTCOMES(topic, "retried", type(outcome).__name__).inc()


def _count_documents(topic: str, outcome: Outcome) -> None:
    match outcome:
        case Issued(event):
            _DOCUMENTS(*_issued(event)).inc()
        case Failed(event):
            _DOCUMENTS(*_failed(event)).inc()
        case DeadLettered(_, reason):
            _DEAD_LETTERS(topic, reason.code).inc()
        case _:
            pass


def observe_backlog(backlog: Backlog) -> None:
    """Set the ledger gauges; every known reason is set, so a drained one reads 0."""
    RETRIES_DUE.set(backlog.due)
    OUTBOX_UNPUBLISHED.set(backlog.unpublished)
    for reason in {*(r.value for r in ParkReason), *backlog.waiting}:
        PARKED.labels(reason or UNKNOWN).set(backlog.waiting.get(reason, 0))


def observe_quarantine(topic: str, quarantined_rows: int | None) -> None:
    """One outbox record set aside; the gauge is set when the current count is known."""
    OUTBOX_QUARANTINED.labels(topic).inc()
    if quarantined_rows is not None:
        observe_quarantined_rows(quarantined_rows)


def observe_quarantined_rows(count: int) -> None:
    OUTBOX_QUARANTINED_ROWS.set(count)


async def observe_consumer_lag(consumer: Any) -> None:
    """Lag of the partitions a Faust consumer holds now; revoked ones are dropped.

    Highwater comes from the last fetch; the reference is the offset Faust committed last (the
    ledger is durable up to there), or the fetch position before the first commit.
    """
    committed = getattr(consumer, "_committed_offset", {})  # no public accessor in Faust 0.15
    assigned = consumer.assignment()
    for tp in assigned:
        highwater = consumer.highwater(tp)
        done = committed.get(tp)
        if done is None:
            done = await consumer.position(tp)
        if highwater is not None and done is not None:
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - done))
    held = {(tp.topic, str(tp.partition)) for tp in assigned}
    for labels in _lag_series() - held:
        CONSUMER_LAG.remove(*labels)


def _lag_series() -> set[tuple[str, str]]:
    return {
        (s.labels["topic"], s.labels["partition"])
        for metric in CONSUMER_LAG.collect()
        for s in metric.samples
    }


def observe_clearance(summary: ClearanceSummary) -> None:
    """Set the clearance gauges; known statuses and buckets are always set, so a drained one
    reads 0, and a rejection reason that disappeared from the table is removed."""
    statuses = {s.value for s in ClearanceStatus} - {ClearanceStatus.OFFLINE_DEADLINE_NEAR.value}
    for status in statuses | summary.by_status.keys():
        CLEARANCE_DOCUMENTS.labels(status).set(summary.by_status.get(status, 0))
    CLEARANCE_OLDEST_PENDING.set(summary.oldest_pending_seconds)
    buckets = {label for label, _ in DEADLINE_BUCKETS} | {DEADLINE_LATER, DEADLINE_PASSED}
    for bucket in buckets:
        CLEARANCE_OFFLINE.labels(bucket).set(summary.offline_by_hours_left.get(bucket, 0))
    for labels in _series(CLEARANCE_REJECTED, ("code", "provider_status")):
        if labels not in summary.rejected_by_reason:
            CLEARANCE_REJECTED.remove(*labels)
    for (code, provider_status), n in summary.rejected_by_reason.items():
        CLEARANCE_REJECTED.labels(code, provider_status).set(n)


async def refresh_clearance(engine: Any) -> None:
    """Recompute the clearance gauges from the tracker's table (the worker's metrics timer)."""
    observe_clearance(await clearance_summary(session_factory(engine), utcnow()))


def _series(gauge: Gauge, names: tuple[str, ...]) -> set[tuple[str, ...]]:
    return {tuple(s.labels[n] for n in names) for metric in gauge.collect() for s in metric.samples}


def serve(port: int | None) -> None:
    """Expose /metrics on 127.0.0.1:`port` when a port is configured."""
    if port:
        start_http_server(port, addr="127.0.0.1")
