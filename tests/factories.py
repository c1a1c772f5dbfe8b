"""Builders of valid order events for tests, the demo and the benchmark.

Every builder returns plain JSON-ready dicts, i.e. exactly what a connector would publish.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

NOW = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
VALID_NIP = "5252445767"


def order(
    order_id: str = "ORD-1",
    *,
    company: bool = False,
    tax_id: str | None = None,
    lines: list[dict[str, Any]] | None = None,
    shipping: dict[str, Any] | None = None,
    wants_invoice: bool = False,
    currency: str = "PLN",
    total: str | None = "auto",
) -> dict[str, Any]:
    lines = (
        lines
        if lines is not None
        else [
            {
                "line_id": "L1",
                "sku": "BRK-001",
                "name": "Klocki hamulcowe",
                "quantity": "2",
                "unit": "szt",
                "unit_price_gross": "129.99",
                "vat_rate": "23",
            },
            {
                "line_id": "L2",
                "sku": "FLT-002",
                "name": "Filtr oleju",
                "quantity": "1",
                "unit": "szt",
                "unit_price_gross": "35.50",
                "vat_rate": "23",
            },
        ]
    )
    shipping = (
        shipping
        if shipping is not None
        else {"name": "Dostawa", "price_gross": "15.00", "vat_rate": "23"}
    )
    buyer: dict[str, Any] = (
        {
            "is_company": True,
            "company_name": "Auto-Serwis Kowalski Sp. z o.o.",
            "tax_id": tax_id or VALID_NIP,
        }
        if company
        else {"is_company": False, "first_name": "Jan", "last_name": "Nowak"}
    )
    if tax_id and not company:
        buyer["tax_id"] = tax_id
    buyer |= {
        "email": "buyer@example.test",
        "address": {
            "street": "ul. Prosta 1",
            "postal_code": "00-001",
            "city": "Warszawa",
            "country": "PL",
        },
    }
    body: dict[str, Any] = {
        "order_id": order_id,
        "number": f"NR/{order_id}",
        "placed_at": NOW.isoformat(),
        "currency": currency,
        "buyer": buyer,
        "wants_invoice": wants_invoice,
        "lines": lines,
        "payment": {"method": "card", "paid_at": NOW.isoformat(), "paid_amount": "0.00"},
    }
    if shipping:
        body["shipping"] = shipping
    gross = expected_gross(body)
    body["payment"]["paid_amount"] = gross
    if total == "auto":
        body["total_gross"] = gross
    elif total is not None:
        body["total_gross"] = total
    return body


def expected_gross(order_body: dict[str, Any]) -> str:
    from decimal import ROUND_HALF_UP, Decimal

    total = sum(
        (Decimal(x["quantity"]) * Decimal(x["unit_price_gross"])).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        for x in order_body["lines"]
    )
    if order_body.get("shipping"):
        total += Decimal(order_body["shipping"]["price_gross"])
    return format(total.quantize(Decimal("0.01")), "f")


def completed(
    seller_id: str, channel: str, order_body: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    return _envelope(
        "order.completed",
        event_id,
        order_body["order_id"],
        channel,
        {"seller_id": seller_id, "channel": channel, "order": order_body},
    )


def refunded(
    seller_id: str,
    channel: str,
    order_body: dict[str, Any],
    refund_id: str,
    lines: list[dict[str, Any]],
    shipping_refunded: str | None = None,
    reason: str = "Zwrot towaru",
    event_id: str | None = None,
) -> dict[str, Any]:
    refund: dict[str, Any] = {"refund_id": refund_id, "lines": lines, "reason": reason}
    if shipping_refunded:
        refund["shipping_refunded"] = shipping_refunded
    return _envelope(
        "order.refunded",
        event_id,
        order_body["order_id"],
        channel,
        {
            "seller_id": seller_id,
            "channel": channel,
            "order": copy.deepcopy(order_body),
            "refund": refund,
        },
    )


def _envelope(
    event_type: str, event_id: str | None, subject: str, channel: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": f"urn:connector:{channel}",
        "type": event_type,
        "subject": subject,
        "time": NOW.isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"urn:invoice-router:schema:{event_type}:v1",
        "data": data,
    }
