"""Shared builders for the adapter tests of both providers (no fixtures here).

Orders come from ``tests.factories`` (exactly what a connector publishes) and are parsed with
the real schemas, so the adapter sees the same ``DocumentRequest`` the router would build.
Defaults (the route's target ``101``) are the Fakturownia tests'; ``wfirma_support`` wraps them
with wFirma's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter

from domain.documents import DocumentRequest, sales_document
from domain.routing import ChannelRoute, DocumentPolicy
from schemas.invoices import DocumentKind, IssuedDocument, Provider, Totals
from schemas.orders import Order, OrderRefundedData
from tests import factories as f
from workers.issuing import RetryPolicy

CHANNEL = "shop"
# 23:30 UTC on 20 November is already 21 November in Poland (CET, UTC+1).
NOW = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
POLISH_TODAY = dt.date(2026, 11, 21)
PLACED_AT = "2026-11-19T23:30:00+00:00"  # 20 November in Poland

POLICY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
# The factory order: 2 x 129.99 + 1 x 35.50 + shipping 15.00, all at 23 %.
DEFAULT_TOTALS = Totals(net=Decimal("252.42"), vat=Decimal("58.06"), gross=Decimal("310.48"))

_ORDER = TypeAdapter(Order)
_REFUNDED = TypeAdapter(OrderRefundedData)


def order_body(order_id: str, **kwargs: Any) -> dict[str, Any]:
    """A factory order placed and paid late in the evening (UTC) of 19 November."""
    body = f.order(order_id, **kwargs)
    body["placed_at"] = PLACED_AT
    body["payment"]["paid_at"] = PLACED_AT
    return body


def parse_order(body: dict[str, Any]) -> Order:
    return _ORDER.validate_json(json.dumps(body))


def sale(
    body: dict[str, Any],
    kind: DocumentKind = DocumentKind.INVOICE,
    target: str | None = "101",
    *,
    send: bool = True,
    now: dt.datetime = NOW,
) -> DocumentRequest:
    return sales_document(parse_order(body), CHANNEL, kind, target, send, now)


def refund_data(
    body: dict[str, Any],
    refund_id: str,
    lines: list[dict[str, Any]],
    shipping_refunded: str | None = None,
    reason: str = "Zwrot towaru",
) -> OrderRefundedData:
    event = f.refunded("s1", CHANNEL, body, refund_id, lines, shipping_refunded, reason)
    return _REFUNDED.validate_json(json.dumps(event["data"]))


def line(
    line_id: str,
    name: str,
    quantity: str,
    price: str,
    rate: str,
    *,
    sku: str | None = None,
    gtu: str | None = None,
    unit: str = "szt",
) -> dict[str, str]:
    """An order line as a connector publishes it."""
    out = {
        "line_id": line_id,
        "name": name,
        "quantity": quantity,
        "unit": unit,
        "unit_price_gross": price,
        "vat_rate": rate,
    }
    return out | ({"sku": sku} if sku else {}) | ({"gtu": gtu} if gtu else {})


def route(
    target: str = "101",
    *,
    send_by_email: bool = False,
    provider: Provider = Provider.FAKTUROWNIA,
) -> ChannelRoute:
    return ChannelRoute(
        seller_id="s1",
        channel=CHANNEL,
        connection_id=1,
        provider=provider,
        target=target,
        auto_generate=True,
        policy=DocumentPolicy.AUTO,
        send_by_email=send_by_email,
        receipts_enabled=True,
    )


def dec(value: Any) -> Decimal:
    """A simulator decimal string ("129.99", "-1.0") as a Decimal for exact comparisons."""
    return Decimal(str(value))


def closed_port_url(path: str = "") -> str:
    """A local URL (plus ``path``) where nothing listens: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class Sleeps:
    """An injected sleep that records the delays issue_once asked for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeClock:
    """A monotonic clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


class _Closable(Protocol):
    async def aclose(self) -> None: ...


_Provider = TypeVar("_Provider", bound=_Closable)


@dataclass
class ProviderEnv(Generic[_Provider]):
    """The running simulator, its base URL and the adapters opened against it (closed at the
    end of the test); each provider's env adds the factory of its adapters."""

    sim: Any
    base: str
    _open: list[_Provider] = field(default_factory=list)

    def _track(self, provider: _Provider) -> _Provider:
        self._open.append(provider)
        return provider

    async def aclose(self) -> None:
        for provider in self._open:
            await provider.aclose()


_E = TypeVar("_E", bound=ProviderEnv[Any])


@asynccontextmanager
async def serving(sim: Any, env: Callable[[Any, str], _E]) -> AsyncIterator[_E]:
    """Serve ``sim`` on a free local port and yield ``env(sim, base)``, whose adapters are
    closed before the server stops."""
    async with sim.serve("127.0.0.1", port=0) as base:
        opened = env(sim, base)
        try:
            yield opened
        finally:
            await opened.aclose()


async def issue_and_close(provider: Any, request: DocumentRequest) -> IssuedDocument:
    """``provider.issue(request)`` with a provider used for this one call."""
    try:
        return await provider.issue(request)
    finally:
        await provider.aclose()
