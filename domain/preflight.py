"""Checks made before any provider call, so a bad order fails with a precise, actionable code.

The schema guarantees shape (types, VAT codes present, decimal strings); these rules cover what
a schema cannot express: checksums, arithmetic, consistency between order and refund, and the
FA(3) limits KSeF applies to the text as it will be sent (control characters removed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

from domain.ksef import CORRECTION_REASON_MAX, EMAIL_MAX, POSITION_NAME_MAX, ksef_text
from domain.money import line_gross, to_grosz
from domain.taxid import InvalidTaxId, buyer_tax_id
from schemas.invoices import FailureCode, Violation
from schemas.orders import Order, Refund
from schemas.paths import field_path


class PreflightFailed(Exception):
    """The order cannot be invoiced as sent; carries every violation found, not just the first."""

    def __init__(self, code: FailureCode, violations: list[Violation]) -> None:
        self.code = code
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.message}" for v in violations))


def check_order(order: Order) -> None:
    """Raise PreflightFailed when the order cannot become a correct sales document."""
    tax = list(_tax_id_violations(order))
    if tax:
        raise PreflightFailed(FailureCode.INVALID_TAX_ID, tax)
    found = list(_order_violations(order)) + list(_ksef_text_violations(order))
    if found:
        raise PreflightFailed(FailureCode.INVALID_ORDER, found)


def check_refund(order: Order, refund: Refund) -> None:
    """Raise PreflightFailed when the refund does not fit the order it refunds."""
    found = [
        *_order_violations(order),
        *_ksef_text_violations(order),
        *_refund_violations(order, refund),
        *_text_limit(
            ("refund", "reason"), refund.reason, CORRECTION_REASON_MAX, "correction_reason"
        ),
    ]
    if found:
        raise PreflightFailed(FailureCode.INVALID_ORDER, found)


def order_gross(order: Order) -> Decimal:
    lines = sum((line_gross(x.quantity, x.unit_price_gross) for x in order.lines), Decimal(0))
    shipping = order.shipping.price_gross if order.shipping else Decimal(0)
    return to_grosz(lines + shipping)


def _tax_id_violations(order: Order) -> Iterator[Violation]:
    """Read as the VAT decision and the document will read it: in the buyer's country."""
    try:
        buyer_tax_id(order)
    except InvalidTaxId as exc:
        yield Violation(field="order.buyer.tax_id", code=exc.code, message=exc.message)


def _order_violations(order: Order) -> Iterator[Violation]:
    for i, line in enumerate(order.lines):
        if line.quantity <= 0:
            yield Violation(
                field=field_path(("order", "lines", i, "quantity")),
                code="non_positive_quantity",
                message=f"line {line.line_id!r} has quantity {line.quantity}; it must be positive",
            )
        if line.unit_price_gross < 0:
            yield Violation(
                field=field_path(("order", "lines", i, "unit_price_gross")),
                code="negative_price",
                message=f"line {line.line_id!r} has a negative price; "
                "send discounts as lower prices",
            )
    ids = [line.line_id for line in order.lines]
    if len(set(ids)) < len(ids):  # rare; counted once (not ids.count: 1,000 lines are allowed)
        for dup in sorted(x for x, n in Counter(ids).items() if n > 1):
            yield Violation(
                field="order.lines", code="duplicate_line_id", message=f"line id {dup!r} repeats"
            )
    if order.total_gross is not None and order.total_gross != order_gross(order):
        yield Violation(
            field="order.total_gross",
            code="total_mismatch",
            message=(
                f"total_gross {order.total_gross} does not equal lines plus shipping "
                f"{order_gross(order)} {order.currency}"
            ),
        )


def _refund_violations(order: Order, refund: Refund) -> Iterator[Violation]:
    sold = {line.line_id: line for line in order.lines}
    for i, item in enumerate(refund.lines):
        where = ("refund", "lines", i)
        line = sold.get(item.line_id)
        if line is None:
            yield Violation(
                field=field_path((*where, "line_id")),
                code="refund_line_unknown",
                message=f"line {item.line_id!r} is not on order {order.order_id!r}",
            )
            continue
        if item.quantity <= 0:
            yield Violation(
                field=field_path((*where, "quantity")),
                code="non_positive_quantity",
                message=f"refunded quantity {item.quantity} must be positive",
            )
        if item.quantity > line.quantity:
            yield Violation(
                field=field_path((*where, "quantity")),
                code="refund_exceeds_sold",
                message=f"refunds {item.quantity} of line {item.line_id!r}, "
                f"but {line.quantity} were sold",
            )
        if not 0 <= item.amount_gross <= line_gross(line.quantity, line.unit_price_gross):
            yield Violation(
                field=field_path((*where, "amount_gross")),
                code="refund_exceeds_sold",
                message=f"refunded amount {item.amount_gross} exceeds what line "
                f"{item.line_id!r} was sold for",
            )
    shipped = order.shipping.price_gross if order.shipping else Decimal(0)
    if refund.shipping_refunded is not None and not 0 <= refund.shipping_refunded <= shipped:
        yield Violation(
            field="refund.shipping_refunded",
            code="refund_exceeds_sold",
            message=f"refunds {refund.shipping_refunded} of shipping, but shipping was {shipped}",
        )


def _ksef_text_violations(order: Order) -> Iterator[Violation]:
    """FA(3) limits as Fakturownia's KSeF guide lists them ("Ograniczenia długości pól";
    ksef-2026.md §1.2, fakturownia-api.md §8.6): position name 256, e-mail 255. The order schema
    caps most of these already; checking the text as sent keeps the limit where KSeF puts it."""
    for i, line in enumerate(order.lines):
        yield from _text_limit(("order", "lines", i, "name"), line.name, POSITION_NAME_MAX)
    if order.shipping:
        yield from _text_limit(
            ("order", "shipping", "name"), order.shipping.name, POSITION_NAME_MAX
        )
    buyer = order.buyer
    for key in ("company_name", "first_name", "last_name"):
        value = getattr(buyer, key)
        if value is not None and not ksef_text(value):
            yield Violation(
                field=field_path(("order", "buyer", key)),
                code="buyer_name_blank",
                message=f"buyer {key} holds only control characters, which KSeF refuses",
            )
    if buyer.email is not None and len(buyer.email) > EMAIL_MAX:
        yield Violation(
            field="order.buyer.email",
            code="email_too_long",
            message=f"{len(buyer.email)} characters; KSeF allows at most {EMAIL_MAX}",
        )


def _text_limit(
    path: tuple[str | int, ...], value: str, limit: int, what: str = "position_name"
) -> Iterator[Violation]:
    """`<what>_blank` or `<what>_too_long` for free text measured as it will be sent."""
    sent = ksef_text(value)
    if not sent:
        yield Violation(
            field=field_path(path),
            code=f"{what}_blank",
            message="holds only control characters, which KSeF refuses",
        )
    elif len(sent) > limit:
        yield Violation(
            field=field_path(path),
            code=f"{what}_too_long",
            message=f"{len(sent)} characters; KSeF (FA(3)) allows at most {limit}",
        )
