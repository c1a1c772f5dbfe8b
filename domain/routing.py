"""What a seller configured for one sales channel, and the choice of document it implies."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.vat import TaxProfile
from schemas.invoices import DocumentKind, Provider
from schemas.orders import Order

DOMESTIC_ONLY = TaxProfile()  # no VAT-UE, no OSS: every order is a domestic sale


class DocumentPolicy(StrEnum):
    AUTO = "auto"  # VAT invoice when asked for or the buyer has a tax id, else a receipt if enabled
    INVOICE_ONLY = "invoice_only"  # always a VAT invoice


class ConnectionStatus(StrEnum):
    OK = "ok"
    NEEDS_REAUTH = "needs_reauth"
    # KSeF refuses the account's sends (403, not connected): documents are still created, their
    # clearance checks slow to hourly until a check sees KSeF answer again (ADR 0004 §6)
    NEEDS_KSEF_AUTHORIZATION = "needs_ksef_authorization"
    FAILING = "failing"


@dataclass(frozen=True)
class ChannelRoute:
    """A seller's channel mapping joined with the provider connection it points at."""

    seller_id: str
    channel: str
    connection_id: int
    provider: Provider
    target: str | None  # Fakturownia department id, wFirma series id
    auto_generate: bool
    policy: DocumentPolicy
    send_by_email: bool
    receipts_enabled: bool
    connection_status: ConnectionStatus = ConnectionStatus.OK
    tax: TaxProfile = DOMESTIC_ONLY  # the seller's tax profile with the channel's defaults


def decide_sales_document(order: Order, route: ChannelRoute) -> DocumentKind:
    """The sales document for a completed order.

    A buyer with a tax id, or one who asked for an invoice, gets a VAT invoice; everybody else
    gets a receipt where the connection issues receipts, and a VAT invoice otherwise.
    """
    if order.buyer.tax_id or order.wants_invoice or route.policy is DocumentPolicy.INVOICE_ONLY:
        return DocumentKind.INVOICE
    return DocumentKind.RECEIPT if route.receipts_enabled else DocumentKind.INVOICE
