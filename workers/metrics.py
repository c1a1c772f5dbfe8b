"""Prometheus counters for what the router decides (prometheus-client's default registry)."""

from __future__ import annotations

from prometheus_client import Counter, start_http_server

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


def observe(record: RawRecord, outcome: Outcome) -> None:
    EVENTS_CONSUMED.labels(record.topic).inc()
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
    OUTCOMES.labels(record.topic, *labels).inc()


def serve(port: int | None) -> None:
    """Expose /metrics on 127.0.0.1:`port` when a port is configured."""
    if port:
        start_http_server(port, addr="127.0.0.1")
