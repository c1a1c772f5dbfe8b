"""The Grafana dashboard only queries metrics the worker and the adapters export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

import adapters.observe  # noqa: F401  (registers the provider call metrics)
import workers.metrics  # noqa: F401  (registers the worker's metrics)

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "invoice-router.json"
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "gauge": ("",),
}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and"}
_KEYWORDS |= {"or", "unless", "offset", "inf", "nan"}
_NOT_NAMES = re.compile(
    r'"[^"]*"'  # string literals
    r"|\{[^}]*\}"  # label matchers
    r"|\[[^\]]*\]"  # range selectors
    r"|\b(?:by|without|on|ignoring)\s*\([^)]*\)"  # grouping labels
    r"|\$\w+"  # dashboard variables
)
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")


def exported_names() -> set[str]:
    """Every series name the registry can produce (labelled metrics without samples too)."""
    return {
        metric.name + suffix
        for metric in REGISTRY.collect()
        for suffix in SUFFIXES.get(metric.type, ("",))
    }


def metric_names(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that are neither functions nor keywords."""
    bare = _NOT_NAMES.sub(" ", expr)
    return {
        name
        for name, call in _IDENTIFIER.findall(bare)
        if not call and name.lower() not in _KEYWORDS
    }


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield node["expr"]
        for child in node.values():
            yield from expressions(child)
    elif isinstance(node, list):
        for child in node:
            yield from expressions(child)


def test_every_metric_in_every_panel_query_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = list(expressions(dashboard["panels"]))
    exported = exported_names()
    assert len(exprs) >= 10
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{sorted(names - exported)} in {expr!r} are not exported"


def test_the_dashboard_covers_throughput_latency_backlog_dlq_and_lag() -> None:
    used = {n for e in expressions(json.loads(DASHBOARD.read_text())) for n in metric_names(e)}
    assert {
        "invoice_router_events_consumed_total",
        "invoice_router_documents_total",
        "invoice_router_outcomes_total",
        "invoice_router_provider_request_seconds_bucket",
        "invoice_router_parked_orders",
        "invoice_router_retries_due",
        "invoice_router_outbox_unpublished",
        "invoice_router_dead_letters_total",
        "invoice_router_consumer_lag",
    } <= used


def test_the_dashboard_covers_ksef_clearance() -> None:
    used = {n for e in expressions(json.loads(DASHBOARD.read_text())) for n in metric_names(e)}
    assert {
        "invoice_router_clearance_documents",
        "invoice_router_clearance_oldest_pending_seconds",
        "invoice_router_clearance_offline_documents",
        "invoice_router_clearance_rejected_documents",
    } <= used


def test_the_name_extraction_sees_through_functions_labels_and_grouping() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, provider) (rate(a_seconds_bucket{x="y z"}'
        "[$__rate_interval]))) / on (provider) group_left b_total"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total"}
