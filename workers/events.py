"""Builds our output CloudEvents with deterministic ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.clock import utcnow
from schemas.envelope import dataschema_for
from schemas.ids import business_key, output_event_id
from schemas.invoices import (
    INVOICE_FAILED,
    INVOICE_ISSUED,
    DocumentKind,
    Failure,
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


def _envelope(event_type: str, fact: Fact) -> dict[str, Any]:
    """CloudEvents attributes and the data fields every output event shares."""
    return {
        "specversion": "1.0",
        "id": output_event_id(event_type, fact.key),
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
