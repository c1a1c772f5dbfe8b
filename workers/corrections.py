"""Issue the correction for one refund, exactly once, against the current state of the original."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from domain.corrections import RefundDoesNotFit, line_key, refund_lines
from domain.documents import CorrectionSpec, DocumentRequest, refund_key, sales_document
from domain.ports import InvoicingProvider
from domain.routing import ChannelRoute, decide_sales_document
from schemas.invoices import DocumentKind, FailureCode, IssuedDocument, Violation
from schemas.orders import OrderRefundedData
from workers.issuing import Attempts, RetryPolicy, check_may_create, deliver, issue_once


class CorrectionRefused(Exception):
    """A refund that cannot become a correction (yet); carries a failure code."""

    def __init__(
        self, code: FailureCode, message: str, violations: list[Violation] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.violations = violations or []


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
        return existing
    check_may_create(not_before, now)
    original = await find_original(provider, sale)
    if original is None:
        raise CorrectionRefused(
            FailureCode.ORIGINAL_DOCUMENT_MISSING,
            f"order {order.order_id!r} has no sales document at the provider yet; the refund "
            "is corrected once it is issued",
        )
    current = await provider.current_lines(original.provider_document_id)
    shipping_key = line_key(None, order.shipping.name) if order.shipping else None
    try:
        lines = refund_lines(current, order, refund, shipping_key)
    except RefundDoesNotFit as exc:
        raise CorrectionRefused(FailureCode.INVALID_ORDER, str(exc), exc.violations) from exc
    spec = CorrectionSpec(
        original.provider_document_id, original.number, refund.reason, tuple(lines)
    )
    request = replace(request, correction=spec, lines=())
    return await deliver(provider, await issue_once(provider, request, policy, attempts), request)
