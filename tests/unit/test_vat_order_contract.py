"""The order contract's VAT additions (issue 13) are optional: v1 events stay valid, and the
new fields are as strict as the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.orders import Order
from tests import factories as f

ORDER = TypeAdapter(Order)


def parse(body: dict[str, Any]) -> Order:
    return ORDER.validate_json(json.dumps(body))


def test_a_v1_order_gets_the_defaults() -> None:
    order = parse(f.order())
    assert order.ship_to_country is None
    line = order.lines[0]
    assert (line.kind, line.scheme, line.split_payment_goods, line.category) == (
        "goods",
        None,
        None,
        "standard",
    )


def test_the_new_fields_are_read() -> None:
    body = f.order()
    body["ship_to_country"] = "DE"
    body["lines"][0] |= {
        "kind": "service",
        "scheme": "margin",
        "split_payment_goods": True,
        "category": "reduced",
    }
    order = parse(body)
    assert order.ship_to_country == "DE"
    line = order.lines[0]
    assert (line.kind, line.scheme, line.split_payment_goods, line.category) == (
        "service",
        "margin",
        True,
        "reduced",
    )


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("order", "ship_to_country", "XX"),
        ("order", "ship_to_country", "de"),
        ("line", "kind", "Goods"),
        ("line", "scheme", "vat_margin"),
        ("line", "split_payment_goods", "true"),  # strict: a string is no bool
        ("line", "category", "super_reduced"),
        ("line", "categry", "reduced"),  # a misspelled field is refused, never ignored
    ],
)
def test_the_new_fields_are_strict(where: str, field: str, value: Any) -> None:
    body = f.order()
    (body if where == "order" else body["lines"][0])[field] = value
    with pytest.raises(ValidationError):
        parse(body)
