import json
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.ids import business_key, output_event_id
from schemas.invoices import Failure, FailureClass, FailureCode
from schemas.orders import OrderCompleted, OrderEvent, OrderRefunded
from tests import factories as f

EVENT = TypeAdapter(OrderEvent)


def parse(body: dict) -> OrderCompleted | OrderRefunded:
    return EVENT.validate_json(json.dumps(body))


def test_completed_order_parses_with_decimal_money() -> None:
    event = parse(f.completed("s1", "ovoko", f.order()))
    assert isinstance(event, OrderCompleted)
    assert event.data.order.lines[0].unit_price_gross == Decimal("129.99")
    assert event.data.order.total_gross == Decimal("310.48")


def test_refund_is_discriminated_by_type() -> None:
    body = f.refunded(
        "s1",
        "ovoko",
        f.order(),
        "R1",
        [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}],
    )
    assert isinstance(parse(body), OrderRefunded)


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("order", "lines", 0, "unit_price_gross"), 129.99, "decimal string"),
        (("order", "lines", 0, "unit_price_gross"), "129.999", "decimal"),
        (("order", "currency"), "PLZ", "ISO 4217"),
        (("order", "buyer", "address", "country"), "XX", "ISO 3166"),
        (("order", "placed_at"), "2026-11-20T10:30:00", "timezone"),
        (("order", "lines", 0, "vat_rate"), "22", "vat_rate"),
        (("order", "lines", 0, "vat_rte"), "23", "vat_rte"),
    ],
)
def test_contract_violations_are_rejected(path: tuple, value: object, needle: str) -> None:
    body = f.completed("s1", "ovoko", f.order())
    target = body["data"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as err:
        parse(body)
    assert needle.lower() in str(err.value).lower()


def test_missing_vat_rate_is_rejected_not_defaulted() -> None:
    body = f.completed("s1", "ovoko", f.order())
    del body["data"]["order"]["shipping"]["vat_rate"]
    with pytest.raises(ValidationError, match=r"shipping\.vat_rate"):
        parse(body)


def test_event_ids_are_deterministic_per_business_fact() -> None:
    key = business_key("s1", "ovoko", "ORD-1", "invoice", None)
    assert output_event_id("invoice.issued", key) == output_event_id("invoice.issued", key)
    assert output_event_id("invoice.issued", key) != output_event_id("invoice.failed", key)
    other = business_key("s1", "ovoko", "ORD-1", "correction", "R1")
    assert output_event_id("invoice.issued", key) != output_event_id("invoice.issued", other)


def test_failure_serialises_class_under_its_wire_name() -> None:
    failure = Failure(
        code=FailureCode.INVALID_ORDER, failure_class=FailureClass.PERMANENT, message="fix it"
    )
    assert json.loads(failure.model_dump_json(by_alias=True))["class"] == "permanent"
