"""Issue the correction for one refund, exactly once, against the current state of the original."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from domain.corrections import RefundDoesNotFit, line_key, refund_lines
from domain.documents import (
    CorrectionSpec,
    DocumentRequest,
    correction_treatment,
    refund_key,
    sales_document,
)
from domain.ksef import ClearanceStatus, clearance_status
from domain.ports import InvoicingProvider
from domain.routing import ChannelRoute, decide_sales_document
from schemas.invoices import DocumentKind, FailureCode, IssuedDocument, Violation
from schemas.orders import OrderRefundedData
from workers.issuing import Attempts, RetryPolicy, check_may_create, deliver, issue_once


class CorrectionRefused(Exception):
    """A refund that cannot become a correction (yet); carries a failure code."""

    def __init__(
        self,
        code: FailureCode,
        message: str,
        violations: list[Violation] | None = None,
        *,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.violations = violations or []
        self.permanent = permanent  # no waiting can help (e.g. the original was rejected)


async def find_original(
    provider: InvoicingProvider, sale: DocumentRequest
) -> IssuedDocument | None:
    """The order's sales document: the kind decided now first, then the other sales kind."""
    kinds = [sale.kind] + [
        k for k in (DocumentKind.INVOICE, DocumentKind.RECEIPT) if k != sale.kind
    ]
    for kind in kinds:
        found = await provider.find(replace(sale, kind=kind))
        if found is not None:
            return found
    return None


async def issue_correction(
    provider: InvoicingProvider,
    route: ChannelRoute,
    data: OrderRefundedData,
    policy: RetryPolicy,
    attempts: Attempts,
    now: dt.datetime,
    not_before: dt.datetime | None = None,
) -> IssuedDocument:
    """`not_before`: an earlier create of this correction may commit until then (in doubt)."""
    order, refund = data.order, data.refund
    sale = sales_document(
        order,
        route.channel,
        decide_sales_document(order, route),
        route.target,
        route.send_by_email,
        now,
    )
    request = replace(
        sale,
        kind=DocumentKind.CORRECTION,
        idempotency_key=refund_key(route.channel, order.order_id, refund.refund_id),
    )
    existing = await provider.find(request)
    if existing is not None:  # a redelivered refund: its correction already exists
        if existing.vat_treatment is not None:
            return existing
        return _keeps_treatment(existing, await find_original(provider, sale))
    check_may_create(not_before, now)
    original = await find_original(provider, sale)
    if original is None:
        raise CorrectionRefused(
            FailureCode.ORIGINAL_DOCUMENT_MISSING,
            f"order {order.order_id!r} has no sales document at the provider yet; the refund "
            "is corrected once it is issued",
        )
    ksef_number = _cleared_number(order.order_id, original)
    current = await provider.current_lines(original.provider_document_id)
    shipping_key = line_key(None, order.shipping.name) if order.shipping else None
    try:
        lines = refund_lines(current, order, refund, shipping_key)
    except RefundDoesNotFit as exc:
        raise CorrectionRefused(FailureCode.INVALID_ORDER, str(exc), exc.violations) from exc
    spec = CorrectionSpec(
        original.provider_document_id,
        original.number,
        refund.reason,
        tuple(lines),
        ksef_number,
        document=tuple(current),
    )
    tax = correction_treatment(original.vat_treatment, order, original.split_payment, spec.lines)
    request = replace(request, correction=spec, lines=(), tax=tax)
    issued = await deliver(provider, await issue_once(provider, request, policy, attempts), request)
    return _keeps_treatment(issued, original)


def _keeps_treatment(correction: IssuedDocument, original: IssuedDocument | None) -> IssuedDocument:
    """A correction shows its original's VAT treatment (some providers show it only there)."""
    if original is None or correction.vat_treatment is not None:
        return correction
    return correction.model_copy(update={"vat_treatment": original.vat_treatment or "domestic"})


def _cleared_number(order_id: str, original: IssuedDocument) -> str | None:
    """The original's KSeF number, which its correction must name; a correction of an invoice
    KSeF has not numbered yet waits, and one of an invoice KSeF rejected (never issued) fails.
    Documents that never go to KSeF (receipts, accounts without KSeF) have none to name."""
    clearance = original.clearance
    status = clearance_status(clearance)
    if status in (ClearanceStatus.PENDING, ClearanceStatus.OFFLINE):
        raise CorrectionRefused(
            FailureCode.ORIGINAL_NOT_CLEARED,
            f"order {order_id!r}: its invoice {original.number} has no KSeF number yet "
            f"({clearance.status if clearance else 'not sent'}); the refund is corrected once "
            "KSeF numbers it",
        )
    if status is ClearanceStatus.REJECTED:
        raise CorrectionRefused(
            FailureCode.ORIGINAL_NOT_CLEARED,
            f"order {order_id!r}: KSeF rejected its invoice {original.number}, so it was never "
            "issued and cannot be corrected: fix and re-issue it at the provider, then replay "
            "the refund",
            permanent=True,
        )
    return clearance.number if clearance and status is ClearanceStatus.CLEARED else None
