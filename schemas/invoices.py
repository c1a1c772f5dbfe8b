"""Events we publish: `invoice.issued` on `invoices.issued`, `invoice.failed` on `invoices.failed`,
`invoice.clearance_changed` on `invoices.clearance` (ADR 0004).

Key: order id. Event ids are deterministic (see `schemas.ids`), so consumers dedupe by id.
They carry no secrets and no buyer data beyond what a notification needs (none: consumers
re-read the document from the provider link when they need the buyer).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import ChannelName, CurrencyCode, Identifier, Money, Timestamp
from schemas.envelope import CloudEvent

INVOICE_ISSUED = "invoice.issued"
INVOICE_FAILED = "invoice.failed"
INVOICE_CLEARANCE_CHANGED = "invoice.clearance_changed"


class _Out(BaseModel):
    # Consumers validating against v1 must accept fields added later (additive = same version).
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    RECEIPT = "receipt"
    CORRECTION = "correction"


class Provider(StrEnum):
    FAKTUROWNIA = "fakturownia"
    WFIRMA = "wfirma"


class ClearanceStatus(StrEnum):
    """Where a document stands in KSeF; provider-neutral (ADR 0004). Part of the event contract,
    so values are never renamed; domain/ksef.py maps provider statuses onto them."""

    PENDING = "pending"  # sent or about to be sent, no KSeF number yet
    CLEARED = "cleared"  # KSeF assigned its number: the invoice counts as issued
    REJECTED = "rejected"  # KSeF refused it: it was never issued
    OFFLINE = "offline"  # issued offline: must reach KSeF by its legal deadline
    NOT_APPLICABLE = "not_applicable"  # never goes to KSeF (receipt, proforma, ...)
    # event status only: an offline document has less than the configured hours left
    OFFLINE_DEADLINE_NEAR = "offline_deadline_near"


class Totals(_Out):
    net: Money
    vat: Money
    gross: Money


class Clearance(_Out):
    """KSeF state as last seen at issuance (later changes: ADR 0004's clearance_changed)."""

    status: str | None = None
    number: str | None = None
    errors: list[str] = Field(default_factory=list)
    assigned_at: Timestamp | None = None  # when KSeF assigned `number`
    verification_link: str | None = None  # what the invoice's KSeF QR code encodes


VatTreatmentName = Literal[
    "domestic",
    "intra_eu_supply",
    "export",
    "eu_distance_sale",
    "margin_used_goods",
    "reverse_charge_services",
]
"""How the document's VAT was decided (docs/vat.md); one per document."""

ExchangeRate = Annotated[str, Field(pattern=r"^[0-9]{1,6}(\.[0-9]{1,8})?$")]


class RateTotals(_Out):
    """The document's amounts for one VAT rate, as the provider computed them."""

    rate: str = Field(
        description='Provider-neutral rate code: "23", "8", "5", "0", "zw", "np", '
        '"oss:<percent>" (destination VAT under OSS) or "margin" (no VAT shown)'
    )
    net: Money
    vat: Money
    gross: Money


class Exchange(_Out):
    """A non-PLN document's conversion at the NBP table A rate of the last business day
    before the tax point (art. 31a ustawy o VAT), as the provider returned it."""

    currency: CurrencyCode
    rate: ExchangeRate = Field(description="PLN for one unit of `currency`")
    table: str | None = Field(None, description='NBP table number, e.g. "182/A/NBP/2025"')
    date: dt.date | None = Field(None, description="The table's effective date")
    vat_pln: Money | None = Field(None, description="The document's VAT in PLN")


class ViesCheck(_Out):
    """The VIES answer an intra-EU supply relied on (or the check that refused it)."""

    vat_id: str = Field(description="With its country prefix, e.g. DE123456789")
    valid: bool
    checked_at: Timestamp
    request_id: str | None = Field(None, description="VIES consultation number, if given")


class IssuedDocument(_Out):
    kind: DocumentKind
    provider: Provider
    provider_document_id: Identifier
    number: Identifier
    issue_date: dt.date
    currency: CurrencyCode
    totals: Totals
    view_url: str | None = None
    pdf_url: str | None = None
    sent_to_buyer: bool = False
    corrected_document_id: Identifier | None = None
    clearance: Clearance | None = None
    # issue 13, additive: the VAT treatment decided before the provider call
    vat_treatment: VatTreatmentName | None = None
    rate_totals: list[RateTotals] = Field(default_factory=list)
    exchange: Exchange | None = None
    vies: ViesCheck | None = None
    split_payment: bool = False
    annotation: str | None = Field(None, description="The legally required wording printed")
    notes: list[str] = Field(
        default_factory=list,
        description="Where the decision differs from what the connector sent (e.g. a 23 % "
        "line issued at 0 % as an intra-EU supply), in words",
    )


class FailureCode(StrEnum):
    """Stable, documented failure codes (docs/events.md). Never renumber or rename."""

    CHANNEL_NOT_CONFIGURED = "channel_not_configured"
    INVALID_ORDER = "invalid_order"
    INVALID_TAX_ID = "invalid_tax_id"
    ORIGINAL_DOCUMENT_MISSING = "original_document_missing"
    PROVIDER_AUTH_FAILED = "provider_auth_failed"
    PROVIDER_REJECTED = "provider_rejected"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_RATE_LIMITED = "provider_rate_limited"
    PROVIDER_IN_DOUBT = "provider_in_doubt"
    INTERNAL_ERROR = "internal_error"
    KSEF_REJECTED = "ksef_rejected"
    ORIGINAL_NOT_CLEARED = "original_not_cleared"
    # issue 13: the VAT treatment cannot be decided from the order (docs/vat.md)
    VAT_TREATMENT_AMBIGUOUS = "vat_treatment_ambiguous"
    VAT_RATE_UNKNOWN_FOR_COUNTRY = "vat_rate_unknown_for_country"
    VAT_TREATMENT_MIXED = "vat_treatment_mixed"
    VAT_TREATMENT_UNSUPPORTED = "vat_treatment_unsupported"
    VIES_INVALID = "vies_invalid"


class FailureClass(StrEnum):
    PERMANENT = "permanent"
    RETRYABLE_EXHAUSTED = "retryable_exhausted"
    IN_DOUBT = "in_doubt"


class Violation(_Out):
    """One precise reason an order cannot be invoiced, pointing at the offending field."""

    field: str
    code: str
    message: str


class Failure(_Out):
    code: FailureCode
    failure_class: FailureClass = Field(alias="class")
    message: str = Field(description="What a seller or operator should do about it")
    attempts: Annotated[int, Field(ge=0)] = 1
    violations: list[Violation] = Field(default_factory=list)
    provider_detail: str | None = None

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, populate_by_name=True)


class InvoiceIssuedData(_Out):
    seller_id: Identifier
    channel: ChannelName
    order_id: Identifier
    source_event_id: Identifier
    refund_id: Identifier | None = None
    document: IssuedDocument


class InvoiceFailedData(_Out):
    seller_id: Identifier
    channel: ChannelName
    order_id: Identifier
    source_event_id: Identifier
    refund_id: Identifier | None = None
    document_kind: DocumentKind | None = None
    provider: Provider | None = None  # absent when no provider was chosen (e.g. no mapping)
    failure: Failure


class InvoiceClearanceChangedData(_Out):
    """A document's KSeF status changed after `invoice.issued` (ADR 0004, decision 2)."""

    seller_id: Identifier
    channel: ChannelName
    order_id: Identifier
    source_event_id: Identifier
    refund_id: Identifier | None = None
    provider: Provider
    provider_document_id: Identifier
    number: Identifier = Field(description="The document's number at the provider")
    document_kind: DocumentKind
    previous_status: ClearanceStatus | None = Field(
        description="The status announced before this one; null for the first announcement"
    )
    status: ClearanceStatus
    provider_status: str | None = Field(
        None, description="The provider's raw status, e.g. Fakturownia's gov_status"
    )
    ksef_number: str | None = None
    assigned_at: Timestamp | None = Field(None, description="When KSeF assigned `ksef_number`")
    verification_link: str | None = Field(
        None, description="The KSeF verification link (what the invoice's QR code encodes)"
    )
    offline_deadline: Timestamp | None = Field(
        None, description="When an offline document must have reached KSeF"
    )
    errors: list[str] = Field(
        default_factory=list, description="The provider's messages (no personal data)"
    )
    failure_code: str | None = Field(
        None,
        description="A failure code (docs/events.md) on `rejected`, e.g. ksef_rejected",
    )


class InvoiceIssued(CloudEvent[InvoiceIssuedData]):
    type: Literal["invoice.issued"]


class InvoiceFailed(CloudEvent[InvoiceFailedData]):
    type: Literal["invoice.failed"]


class InvoiceClearanceChanged(CloudEvent[InvoiceClearanceChangedData]):
    type: Literal["invoice.clearance_changed"]
