"""A provider-neutral description of the document to issue, built from an order event.

Adapters map this to their API; nothing here knows about HTTP or a provider's field names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.corrections import CorrectionLine, LineState, correction_totals, stated_lines
from domain.money import DocumentTotals, line_gross
from domain.taxid import TaxId, buyer_tax_id
from schemas.common import GtuCode, VatRate
from schemas.invoices import DocumentKind
from schemas.orders import Order, PaymentMethod

POLAND = ZoneInfo("Europe/Warsaw")
ONE = Decimal(1)


@dataclass(frozen=True)
class BuyerInfo:
    is_company: bool
    name: str
    first_name: str | None
    last_name: str | None
    tax_id: TaxId | None
    email: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None


@dataclass(frozen=True)
class DocumentLine:
    name: str
    quantity: Decimal
    unit: str
    total_gross: Decimal
    vat_rate: VatRate  # the connector's rate as sent
    gtu: GtuCode | None = None
    sku: str | None = None
    # the rate the VAT decision applied, provider-neutral: "23", "0", "np", "zw", "oss:20",
    # "margin" (domain/vat.py RateLine.rate); None: the connector's `vat_rate` (domestic)
    rate: str | None = None

    @property
    def rate_code(self) -> str:
        """The rate to print: the decision's when there is one, else the connector's."""
        return self.rate or self.vat_rate.value


@dataclass(frozen=True)
class TaxTreatment:
    """The document-level part of the VAT decision that adapters print (issue 13).

    Kept as plain values so adapters need not know the decision's rules: only which provider
    fields say "WDT", "export", "OSS", "margin", "reverse charge" and "split payment".
    """

    treatment: str = "domestic"  # a domain.vat.VatTreatment value
    buyer_vat_id: str | None = None  # with its country prefix (WDT, reverse charge)
    annotation: str | None = None  # the legally required wording printed on the document
    legal_basis: str | None = None
    split_payment: bool = False  # "mechanizm podzielonej płatności" (MPP)
    destination: str | None = None  # the ship-to country (ISO 3166 alpha-2)
    oss: bool = False  # the destination's VAT through OSS (lines at "oss:<percent>")


DOMESTIC = TaxTreatment()  # no decision made: the connector's rates, Polish VAT


@dataclass(frozen=True)
class CorrectionSpec:
    """What a correction refers to and changes; lines carry full before/after state."""

    original_id: str
    original_number: str
    reason: str
    lines: tuple[CorrectionLine, ...]
    original_ksef_number: str | None = None  # a correction names the KSeF number it corrects
    # every line of the document as it stands before this correction (current state); empty
    # when unknown, and then only the changed lines are stated
    document: tuple[LineState, ...] = ()

    @property
    def stated(self) -> tuple[CorrectionLine, ...]:
        """What the provider is sent: the changed lines and the unchanged ones of their rate
        groups, so it computes each group's VAT over the whole group (issue 13 item 5)."""
        return tuple(stated_lines(self.document, self.lines)) if self.document else self.lines

    @property
    def totals(self) -> DocumentTotals:
        """The document's per-rate totals after minus before (`correction_totals`)."""
        current = self.document or tuple(line.before for line in self.lines)
        return correction_totals(current, self.lines)


@dataclass(frozen=True)
class DocumentRequest:
    idempotency_key: str  # Fakturownia `oid`, wFirma `id_external`
    kind: DocumentKind
    target: str | None  # department (Fakturownia) or series (wFirma)
    currency: str
    issue_date: dt.date
    sell_date: dt.date
    buyer: BuyerInfo
    lines: tuple[DocumentLine, ...]
    payment_method: PaymentMethod
    paid_amount: Decimal
    paid_date: dt.date | None
    order_number: str
    send_to_buyer: bool
    correction: CorrectionSpec | None = None
    tax: TaxTreatment = DOMESTIC

    @property
    def total_gross(self) -> Decimal:
        return sum((line.total_gross for line in self.lines), Decimal(0))

    @property
    def asks_nbp_rate(self) -> bool:
        """Non-PLN documents state their VAT in PLN at the NBP table A rate (art. 31a), which
        the provider computes; the adapter must ask for it explicitly."""
        return self.currency != "PLN"


def correction_treatment(
    original: str | None, order: Order, split_payment: bool, lines: tuple[CorrectionLine, ...]
) -> TaxTreatment:
    """A correction keeps its original's treatment, read from the original document (never
    decided again: VIES or the seller's settings may have changed since the sale); its lines
    repeat the original's stored rates."""
    address = order.buyer.address
    destination = order.ship_to_country or (address.country if address else None)
    return TaxTreatment(
        treatment=original or "domestic",
        destination=destination or "PL",
        split_payment=split_payment,
        oss=any(x.before.rate_code.startswith("oss:") for x in lines),
    )


def sales_key(channel: str, order_id: str) -> str:
    """Idempotency key of an order's sales document, readable in the provider's UI."""
    return f"{channel}:{order_id}"


def refund_key(channel: str, order_id: str, refund_id: str) -> str:
    """Idempotency key of one refund's correction."""
    return f"{channel}:{order_id}:refund:{refund_id}"


def polish_date(moment: dt.datetime) -> dt.date:
    """The calendar date in Poland: invoices are dated in Polish local time, never back-dated."""
    return moment.astimezone(POLAND).date()


def buyer_info(order: Order) -> BuyerInfo:
    b = order.buyer
    person = " ".join(p for p in (b.first_name, b.last_name) if p)
    a = b.address
    return BuyerInfo(
        is_company=b.is_company,
        name=b.company_name or person,
        first_name=b.first_name,
        last_name=b.last_name,
        tax_id=buyer_tax_id(order),
        email=b.email,
        street=a.street if a else None,
        postal_code=a.postal_code if a else None,
        city=a.city if a else None,
        country=a.country if a else None,
    )


def sales_lines(order: Order, rates: Sequence[str] | None = None) -> tuple[DocumentLine, ...]:
    """The order's lines, then its shipping when charged; `rates`: the rate the VAT decision
    applied to each, in that order (`domain.vat_document`), so no line is built twice."""
    s = order.shipping if order.shipping and order.shipping.price_gross else None
    count = len(order.lines) + (s is not None)
    if rates is not None and len(rates) != count:
        raise ValueError(f"the decision covers {len(rates)} lines, the document has {count}")
    applied = rates or (None,) * count
    lines = [
        DocumentLine(
            name=x.name,
            quantity=x.quantity,
            unit=x.unit,
            total_gross=line_gross(x.quantity, x.unit_price_gross),
            vat_rate=x.vat_rate,
            gtu=x.gtu,
            sku=x.sku,
            rate=rate,
        )
        for x, rate in zip(order.lines, applied, strict=False)
    ]
    if s is not None:
        lines.append(
            DocumentLine(
                name=s.name,
                quantity=ONE,
                unit="usł",
                total_gross=s.price_gross,
                vat_rate=s.vat_rate,
                rate=applied[-1],
            )
        )
    return tuple(lines)


def sales_document(
    order: Order,
    channel: str,
    kind: DocumentKind,
    target: str | None,
    send_to_buyer: bool,
    now: dt.datetime,
    *,
    rates: Sequence[str] | None = None,
    tax: TaxTreatment = DOMESTIC,
) -> DocumentRequest:
    """The sales document (invoice or receipt) for a completed order, issued `now`; `rates`
    and `tax`: the VAT decision's, when made (`domain.vat_document.decided_sales_document`)."""
    paid = order.payment.paid_at
    return DocumentRequest(
        idempotency_key=sales_key(channel, order.order_id),
        kind=kind,
        target=target,
        currency=order.currency,
        issue_date=polish_date(now),
        sell_date=polish_date(order.placed_at),
        buyer=buyer_info(order),
        lines=sales_lines(order, rates),
        payment_method=order.payment.method,
        paid_amount=order.payment.paid_amount,
        paid_date=polish_date(paid) if paid else None,
        order_number=order.number or order.order_id,
        send_to_buyer=send_to_buyer and order.buyer.email is not None,
        tax=tax,
    )
