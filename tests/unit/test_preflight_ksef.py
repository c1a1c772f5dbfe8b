"""Pre-flight FA(3) text limits: an order KSeF would refuse fails before any provider call."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from domain.preflight import PreflightFailed, check_order, check_refund
from schemas.invoices import FailureCode
from schemas.orders import Order, Refund
from tests import factories as f

ORDER = TypeAdapter(Order)
REFUND = TypeAdapter(Refund)


def _order(**changes: Any) -> Order:
    body = f.order()
    for path, value in changes.items():
        node = body
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return ORDER.validate_json(json.dumps(body))


def _refund(reason: str) -> Refund:
    return REFUND.validate_python(
        {"refund_id": "R1", "lines": [], "shipping_refunded": "1.00", "reason": reason},
        strict=False,
    )


def _violations(call: Any, *args: Any) -> set[tuple[str, str]]:
    with pytest.raises(PreflightFailed) as err:
        call(*args)
    assert err.value.code is FailureCode.INVALID_ORDER
    return {(v.field, v.code) for v in err.value.violations}


def _with_line_name(order: Order, index: int, name: str) -> Order:
    """The schema caps names at 256 too; preflight must hold the limit on its own."""
    lines = list(order.lines)
    lines[index] = lines[index].model_copy(update={"name": name})
    return order.model_copy(update={"lines": lines})


def test_a_position_name_over_256_characters_fails_with_its_path() -> None:
    order = _with_line_name(_order(), 1, "x" * 257)
    assert _violations(check_order, order) == {("order.lines[1].name", "position_name_too_long")}


def test_the_limit_counts_characters_as_sent_not_control_characters() -> None:
    check_order(_with_line_name(_order(), 0, "ż" * 256))  # characters, not UTF-8 bytes
    check_order(_with_line_name(_order(), 0, "x" * 256 + "\x00"))  # 256 once cleaned


def test_a_name_of_only_control_characters_fails_as_blank() -> None:
    order = _order(lines__0__name="\x07\x00", shipping__name="\t\r\n")
    assert _violations(check_order, order) == {
        ("order.lines[0].name", "position_name_blank"),
        ("order.shipping.name", "position_name_blank"),
    }


def test_a_buyer_name_of_only_control_characters_fails() -> None:
    order = ORDER.validate_json(json.dumps(f.order(company=True)))
    order = order.model_copy(
        update={"buyer": order.buyer.model_copy(update={"company_name": "\x01"})}
    )
    assert _violations(check_order, order) == {("order.buyer.company_name", "buyer_name_blank")}


def test_an_email_over_255_characters_fails() -> None:
    order = _order()
    order = order.model_copy(
        update={"buyer": order.buyer.model_copy(update={"email": "a" * 250 + "@b.example"})}
    )
    assert _violations(check_order, order) == {("order.buyer.email", "email_too_long")}


def test_a_correction_reason_over_256_characters_fails() -> None:
    refund = _refund("Zwrot").model_copy(update={"reason": "r" * 257})
    assert _violations(check_refund, _order(), refund) == {
        ("refund.reason", "correction_reason_too_long")
    }


def test_a_correction_reason_of_only_control_characters_fails() -> None:
    assert _violations(check_refund, _order(), _refund("\x00\x1f")) == {
        ("refund.reason", "correction_reason_blank")
    }


def test_every_text_violation_is_reported_at_once() -> None:
    order = _with_line_name(_order(shipping__name="\x00"), 0, "y" * 300)
    assert _violations(check_order, order) == {
        ("order.lines[0].name", "position_name_too_long"),
        ("order.shipping.name", "position_name_blank"),
    }


def test_clean_text_passes() -> None:
    check_order(_order(lines__0__name="Klocki\thamulcowe"))
    check_refund(_order(), _refund("Zwrot towaru\n"))
