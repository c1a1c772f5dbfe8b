"""Shared builders for the Fakturownia adapter contract tests (no fixtures here).

Orders come from ``tests.factories`` (exactly what a connector publishes) and are parsed with
the real schemas, so the adapter sees the same ``DocumentRequest`` the router would build.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from domain.documents import DocumentRequest, sales_document
from domain.routing import ChannelRoute, DocumentPolicy
from schemas.invoices import DocumentKind, Provider
from schemas.orders import Order, OrderRefundedData
from tests import factories as f

CHANNEL = "shop"
# 23:30 UTC on 20 November is already 21 November in Poland (CET, UTC+1).
NOW = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
POLISH_TODAY = dt.date(2026, 11, 21)
PLACED_AT = "2026-11-19T23:30:00+00:00"  # 20 November in Poland

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


def route(target: str = "101", *, send_by_email: bool = False) -> ChannelRoute:
    return ChannelRoute(
        seller_id="s1",
        channel=CHANNEL,
        connection_id=1,
        provider=Provider.FAKTUROWNIA,
        target=target,
        auto_generate=True,
        policy=DocumentPolicy.AUTO,
        send_by_email=send_by_email,
        receipts_enabled=True,
    )


def dec(value: Any) -> Decimal:
    """A simulator decimal string ("129.99", "-1.0") as a Decimal for exact comparisons."""
    return Decimal(str(value))
