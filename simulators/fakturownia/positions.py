"""Turning request ``positions`` into response-shaped lines, with Rails-style error keys.

Lines are priced from ``total_price_gross`` (the documented marketplace input); the unit and net
prices are derived. Correction lines may carry full before/after snapshots, priced the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .coerce import text_or_none
from .errors import BLANK, INVALID, NOT_A_NUMBER, NOT_IN_LIST, ErrorMap, add_error
from .money import format_amount, format_decimal, parse_decimal, round_half_up
from .vat import net_from_gross, normalize_tax

SNAPSHOT_KEYS: dict[str, str] = {
    "correction_before_attributes": "correction_before",
    "correction_after_attributes": "correction_after",
}
_PASSTHROUGH_KEYS = ("code", "gtu_code", "product_id", "description", "additional_info")


@dataclass(frozen=True)
class Line:
    """A priced line: ``data`` is the response dict (no ids yet), the rest feeds the totals."""

    data: dict[str, Any]
    tax_code: str
    gross: Decimal


def parse_positions(raw: object, errors: ErrorMap, *, oss: bool = False) -> list[Line]:
    """Price every line; collect problems under ``positions.<field>`` instead of raising.

    ``oss``: the document is an OSS sale, whose lines carry destination-country rates."""
    if not isinstance(raw, list) or not raw:
        add_error(errors, "positions", BLANK)
        return []
    lines = []
    for item in raw:
        if not isinstance(item, dict):
            add_error(errors, "positions", INVALID)
            continue
        line = _parse_line(item, "positions", errors, oss)
        if line is None:
            continue
        for request_key, default_kind in SNAPSHOT_KEYS.items():
            snapshot = item.get(request_key)
            if isinstance(snapshot, dict):
                priced = _parse_line(
                    {"kind": default_kind, **snapshot}, f"positions.{default_kind}", errors, oss
                )
                if priced is not None:
                    line.data[request_key] = priced.data
        lines.append(line)
    return lines


def _parse_line(
    item: dict[str, Any], scope: str, errors: ErrorMap, oss: bool = False
) -> Line | None:
    name = text_or_none(item.get("name"))
    if name is None:
        add_error(errors, f"{scope}.name", BLANK)
    quantity = _decimal_field(item, "quantity", scope, errors, default=Decimal(1))
    gross = _decimal_field(item, "total_price_gross", scope, errors, default=None)
    try:
        tax_code = normalize_tax(item.get("tax"), oss=oss)
    except ValueError:
        add_error(errors, f"{scope}.tax", NOT_IN_LIST)
        return None
    if name is None or quantity is None or gross is None:
        return None
    gross = round_half_up(gross)
    net = net_from_gross(gross, tax_code)
    data: dict[str, Any] = {
        "name": name,
        "kind": text_or_none(item.get("kind")),
        "quantity": format_decimal(quantity),
        "quantity_unit": text_or_none(item.get("quantity_unit")) or "szt",
        "tax": tax_code,
        "price_net": format_amount(_unit(net, quantity)),
        "price_gross": format_amount(_unit(gross, quantity)),
        "total_price_net": format_amount(net),
        "total_price_gross": format_amount(gross),
    }
    data.update({key: item.get(key) for key in _PASSTHROUGH_KEYS})
    return Line(data=data, tax_code=tax_code, gross=gross)


def _decimal_field(
    item: dict[str, Any], key: str, scope: str, errors: ErrorMap, default: Decimal | None
) -> Decimal | None:
    value = item.get(key)
    if value is None or value == "":
        if default is None:
            add_error(errors, f"{scope}.{key}", BLANK)
        return default
    try:
        return parse_decimal(value)
    except ValueError:
        add_error(errors, f"{scope}.{key}", NOT_A_NUMBER)
        return None


def _unit(total: Decimal, quantity: Decimal) -> Decimal:
    return total if quantity == 0 else total / quantity
