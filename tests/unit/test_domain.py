import json
from decimal import Decimal

import pytest
from pydantic import TypeAdapter

from domain.corrections import LineState, RefundDoesNotFit, fold, line_key, refund_lines
from domain.money import totals_by_rate_group
from domain.preflight import PreflightFailed, check_order, check_refund
from domain.routing import ChannelRoute, DocumentPolicy, decide_sales_document
from domain.taxid import InvalidTaxId, TaxIdKind, classify_tax_id
from schemas.common import VatRate
from schemas.invoices import DocumentKind, FailureCode, Provider
from schemas.orders import Order, Refund
from tests import factories as f

ORDER = TypeAdapter(Order)
REFUND = TypeAdapter(Refund)


def make_order(**kw: object) -> Order:
    return ORDER.validate_json(json.dumps(f.order(**kw)))


def route(receipts: bool, policy: DocumentPolicy = DocumentPolicy.AUTO) -> ChannelRoute:
    return ChannelRoute(
        "s1", "ovoko", 1, Provider.FAKTUROWNIA, "101", True, policy, False, receipts
    )


@pytest.mark.parametrize(
    ("kw", "receipts", "policy", "expected"),
    [
        ({"company": True}, True, DocumentPolicy.AUTO, DocumentKind.INVOICE),
        ({"tax_id": f.VALID_NIP}, True, DocumentPolicy.AUTO, DocumentKind.INVOICE),
        ({"wants_invoice": True}, True, DocumentPolicy.AUTO, DocumentKind.INVOICE),
        ({}, True, DocumentPolicy.AUTO, DocumentKind.RECEIPT),
        ({}, False, DocumentPolicy.AUTO, DocumentKind.INVOICE),
        ({}, True, DocumentPolicy.INVOICE_ONLY, DocumentKind.INVOICE),
    ],
)
def test_document_decision(
    kw: dict, receipts: bool, policy: DocumentPolicy, expected: DocumentKind
) -> None:
    assert decide_sales_document(make_order(**kw), route(receipts, policy)) is expected


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("525-244-57-67", TaxIdKind.NIP, "5252445767"),
        ("PL 5252445767", TaxIdKind.NIP, "5252445767"),
        ("DE136695976", TaxIdKind.EU_VAT, "DE136695976"),
        ("NO123456789MVA", TaxIdKind.OTHER, "NO123456789MVA"),
    ],
)
def test_tax_ids_are_classified(raw: str, kind: TaxIdKind, value: str) -> None:
    got = classify_tax_id(raw)
    assert (got.kind, got.value) == (kind, value)


@pytest.mark.parametrize("raw", ["5252445768", "PL1234567890", "DE136695977"])
def test_bad_checksums_are_refused(raw: str) -> None:
    with pytest.raises(InvalidTaxId):
        classify_tax_id(raw)


def test_preflight_names_every_violation() -> None:
    body = f.order(total="999.00")
    body["lines"][0]["quantity"] = "0"
    with pytest.raises(PreflightFailed) as err:
        check_order(ORDER.validate_json(json.dumps(body)))
    assert err.value.code is FailureCode.INVALID_ORDER
    assert {v.code for v in err.value.violations} == {"non_positive_quantity", "total_mismatch"}


def test_preflight_refuses_a_bad_nip_with_its_own_code() -> None:
    with pytest.raises(PreflightFailed) as err:
        check_order(make_order(company=True, tax_id="5252445768"))
    assert err.value.code is FailureCode.INVALID_TAX_ID
    assert err.value.violations[0].field == "order.buyer.tax_id"
    assert "5252445768" not in str(err.value)  # personal data for sole traders: never echoed


def test_preflight_accepts_a_consistent_order() -> None:
    check_order(make_order(company=True))


@pytest.mark.parametrize(
    ("lines", "shipping", "code"),
    [
        (
            [{"line_id": "NOPE", "quantity": "1", "amount_gross": "1.00"}],
            None,
            "refund_line_unknown",
        ),
        ([{"line_id": "L1", "quantity": "3", "amount_gross": "1.00"}], None, "refund_exceeds_sold"),
        (
            [{"line_id": "L1", "quantity": "1", "amount_gross": "500.00"}],
            None,
            "refund_exceeds_sold",
        ),
        ([], "16.00", "refund_exceeds_sold"),
    ],
)
def test_refunds_must_fit_the_order(lines: list, shipping: str | None, code: str) -> None:
    refund = REFUND.validate_python(
        {
            "refund_id": "R1",
            "lines": lines,
            "reason": "x",
            **({"shipping_refunded": shipping} if shipping else {}),
        },
        strict=False,
    )
    with pytest.raises(PreflightFailed) as err:
        check_refund(make_order(), refund)
    assert code in {v.code for v in err.value.violations}


def test_vat_is_computed_per_rate_group_from_gross() -> None:
    # 3 x 0.01 at 23%: per line net would round to 0.01 each (VAT 0); per group it is 0.02 net
    totals = totals_by_rate_group(
        [(Decimal("0.01"), VatRate.R23)] * 3
        + [(Decimal("54.00"), VatRate.R8), (Decimal("10"), VatRate.ZW)]
    )
    assert (totals.net, totals.vat, totals.gross) == (
        Decimal("60.02"),
        Decimal("4.01"),
        Decimal("64.03"),
    )


def _state(key: str, qty: str, gross: str) -> LineState:
    return LineState(key, key, "szt", VatRate.R23, Decimal(qty), Decimal(gross))


def test_second_refund_corrects_the_corrected_state() -> None:
    order = make_order()
    original = [
        _state(line_key("BRK-001", "x"), "2", "259.98"),
        _state(line_key("FLT-002", "x"), "1", "35.50"),
        _state(line_key(None, "Dostawa"), "1", "15.00"),
    ]
    first_delta = [_state(line_key("BRK-001", "x"), "-1", "-129.99")]
    current = fold(original, first_delta)
    refund = REFUND.validate_python(
        {
            "refund_id": "R2",
            "reason": "x",
            "lines": [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}],
        },
        strict=False,
    )
    [line] = refund_lines(current, order, refund, line_key(None, "Dostawa"))
    assert (line.before.quantity, line.before.gross) == (Decimal("1"), Decimal("129.99"))
    assert (line.after.quantity, line.after.gross) == (Decimal("0"), Decimal("0.00"))
    assert (line.quantity_delta, line.gross_delta) == (Decimal("-1"), Decimal("-129.99"))
    with pytest.raises(RefundDoesNotFit, match="refunded already"):
        refund_lines(
            fold(current, [_state(line_key("BRK-001", "x"), "-1", "-129.99")]), order, refund, None
        )


def test_shipping_refund_zeroes_the_shipping_line() -> None:
    order = make_order()
    current = [_state(line_key(None, "Dostawa"), "1", "15.00")]
    refund = REFUND.validate_python(
        {"refund_id": "R1", "reason": "x", "shipping_refunded": "15.00"}, strict=False
    )
    [line] = refund_lines(current, order, refund, line_key(None, "Dostawa"))
    assert (line.after.quantity, line.after.gross) == (Decimal(0), Decimal("0.00"))
