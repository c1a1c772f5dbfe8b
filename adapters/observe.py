"""What both provider adapters record about each HTTP call: latency, failures, log context.

Called from the adapters' answer and transport-error handlers (`adapters/*/http.py`), which see
every call. Labels carry endpoint *templates* (`/invoices/{id}.json`), never raw paths with ids,
so the number of series stays bounded. One redacted INFO line per call replaces httpx's own
request log, which prints full URLs with their query strings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

import httpx
from prometheus_client import Counter, Histogram

from adapters.http_client import Answer, answer_of
from adapters.metric_children import LabelChildren

log = logging.getLogger(__name__)

PROVIDER_REQUEST_SECONDS = Histogram(
    "invoice_router_provider_request_seconds",
    "Provider HTTP calls that got an answer, by endpoint template and status class",
    ["provider", "method", "endpoint", "status_class"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0),
)
PROVIDER_TRANSPORT_ERRORS = Counter(
    "invoice_router_provider_transport_errors_total",
    "Provider HTTP calls that got no answer (connect refused, timeout, connection dropped)",
    ["provider", "method", "endpoint", "error"],
)

_LATENCY = LabelChildren(PROVIDER_REQUEST_SECONDS)
_NO_CALL: Mapping[str, object] = MappingProxyType({})
_LAST_CALL: ContextVar[Mapping[str, object]] = ContextVar("provider_call", default=_NO_CALL)
_NUMERIC_SEGMENT = re.compile(r"(?<=/)\d+(?=[/.]|$)")


def template(path: str) -> str:
    """`/invoices/123/send_by_email.json` -> `/invoices/{id}/send_by_email.json`."""
    return _NUMERIC_SEGMENT.sub("{id}", path)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def answered(provider: str, endpoint: str, response: httpx.Response | Answer) -> None:
    """Record one answered call: its latency, the log context of the call, one log line."""
    answer = answer_of(response)
    if answer.method is None:  # built by hand: never went over the wire
        return
    seconds = answer.elapsed
    if seconds is not None:
        _LATENCY(provider, answer.method, endpoint, status_class(answer.status_code)).observe(
            seconds
        )
    _LAST_CALL.set(
        {
            "provider": provider,
            "provider_method": answer.method,
            "provider_path": answer.path,  # no query string, no host
            "provider_status": answer.status_code,
            "provider_request_id": answer.headers.get("X-Request-Id"),
        }
    )
    log.info(
        "%s %s %s answered HTTP %d in %.3fs",
        provider,
        answer.method,
        endpoint,
        answer.status_code,
        seconds or 0.0,
    )


def unanswered(provider: str, where: str, exc: httpx.HTTPError) -> None:
    """Count one call that got no answer; `where` is `METHOD /path` relative to the API base."""
    method, _, path = where.partition(" ")
    endpoint = template(path)
    PROVIDER_TRANSPORT_ERRORS.labels(provider, method, endpoint, type(exc).__name__).inc()
    _LAST_CALL.set({"provider": provider, "provider_method": method, "provider_path": path})
    log.info("%s %s %s got no answer (%s)", provider, method, endpoint, type(exc).__name__)


def last_call() -> Mapping[str, object]:
    """Log context of the provider call made last in the current scope (see `call_scope`)."""
    return {k: v for k, v in _LAST_CALL.get().items() if v is not None}


@contextmanager
def call_scope() -> Iterator[None]:
    """Forget provider calls made inside the block once it ends (one record's processing), so
    the next record's log lines never carry a previous record's provider call."""
    token = _LAST_CALL.set(_NO_CALL)
    try:
        yield
    finally:
        _LAST_CALL.reset(token)
