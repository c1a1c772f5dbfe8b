"""Builds our output CloudEvents with deterministic ids."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config.clock import utcnow
from schemas.envelope import dataschema_for
from schemas.ids import business_key, output_event_id
from schemas.invoices import (
    INVOICE_CLEARANCE_CHANGED,
    INVOICE_FAILED,
    INVOICE_ISSUED,
    ClearanceStatus,
    DocumentKind,
    Failure,
    FailureCode,
    InvoiceClearanceChanged,
    InvoiceClearanceChangedData,
    InvoiceFailed,
    InvoiceFailedData,
    InvoiceIssued,
    InvoiceIssuedData,
    IssuedDocument,
    Provider,
)

SOURCE = "urn:invoice-router:worker"


@dataclass(frozen=True)
class Fact:
    """The business fact an output event reports on: one (order, document kind, refund)."""

    seller_id: str
    channel: str
    order_id: str
    source_event_id: str
    document_kind: DocumentKind | None = None
    refund_id: str | None = None
    provider: Provider | None = None  # known once the channel is mapped; not part of the key

    @property
    def key(self) -> str:
        kind = self.document_kind.value if self.document_kind else None
        return business_key(self.seller_id, self.channel, self.order_id, kind, self.refund_id)


def _envelope(event_type: str, fact: Fact, key: str | None = None) -> dict[str, Any]:
    """CloudEvents attributes and the data fields every output event shares."""
    return {
        "specversion": "1.0",
        "id": output_event_id(event_type, key or fact.key),
        "source": SOURCE,
        "type": event_type,
        "subject": fact.order_id,
        "time": utcnow(),
        "dataschema": dataschema_for(event_type),
    }


def _common(fact: Fact) -> dict[str, Any]:
    return {
        "seller_id": fact.seller_id,
        "channel": fact.channel,
        "order_id": fact.order_id,
        "source_event_id": fact.source_event_id,
        "refund_id": fact.refund_id,
    }


def issued_event(fact: Fact, document: IssuedDocument) -> InvoiceIssued:
    return InvoiceIssued(
        **_envelope(INVOICE_ISSUED, fact),
        data=InvoiceIssuedData(**_common(fact), document=document),
    )


def failed_event(fact: Fact, failure: Failure) -> InvoiceFailed:
    return InvoiceFailed(
        **_envelope(INVOICE_FAILED, fact),
        data=InvoiceFailedData(
            **_common(fact),
            document_kind=fact.document_kind,
            provider=fact.provider,
            failure=failure,
        ),
    )


def clearance_event_key(fact: Fact, status: ClearanceStatus) -> str:
    """One id per (document, status): a status is announced once, across crashes (ADR 0004)."""
    return f"{fact.key}|{status.value}"


def clearance_changed_event(
    fact: Fact,
    *,
    previous: ClearanceStatus | None,
    status: ClearanceStatus,
    provider_document_id: str,
    number: str,
    provider_status: str | None = None,
    ksef_number: str | None = None,
    assigned_at: dt.datetime | None = None,
    verification_link: str | None = None,
    offline_deadline: dt.datetime | None = None,
    errors: Sequence[str] = (),
    failure_code: FailureCode | str | None = None,
) -> InvoiceClearanceChanged:
    """The event for a document's new KSeF status; `fact` must name its provider and kind."""
    if fact.provider is None or fact.document_kind is None:
        raise ValueError("a clearance change is about a document: fact needs provider and kind")
    return InvoiceClearanceChanged(
        **_envelope(INVOICE_CLEARANCE_CHANGED, fact, clearance_event_key(fact, status)),
        data=InvoiceClearanceChangedData(
            **_common(fact),
            provider=fact.provider,
            provider_document_id=provider_document_id,
            number=number,
            document_kind=fact.document_kind,
            previous_status=previous,
            status=status,
            provider_status=provider_status,
            ksef_number=ksef_number,
            assigned_at=assigned_at,
            verification_link=verification_link,
            offline_deadline=offline_deadline,
            errors=list(errors),
            failure_code=str(failure_code) if failure_code is not None else None,
        ),
    )
