"""The VAT decision (domain/vat.py) carried into the document and the issued event.

The decision is made before any provider call; this module only transfers it: each line's
applied rate, the document-level treatment the adapters print, and, once the provider has
answered, what the event must show (VIES check, notes on overridden rates, annotation).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from domain.documents import DocumentRequest, TaxTreatment, sales_document
from domain.split_payment import MPP_ANNOTATION, requires_split_payment
from domain.vat import TaxProfile, TreatmentDecision
from schemas.invoices import DocumentKind, IssuedDocument, ViesCheck
from schemas.orders import Order


@dataclass(frozen=True)
class Decided:
    """What an order's document will say about VAT."""

    decision: TreatmentDecision
    split_payment: bool


def split_payment_due(order: Order, profile: TaxProfile) -> bool:
    """MPP: over 15,000 PLN gross with Annex 15 goods (a line's flag, else the channel's).

    Only PLN orders are judged here: a foreign-currency total is compared after conversion at
    the invoice's NBP rate, which only the provider knows once it has issued (left to the
    seller's provider settings for now; docs/vat.md)."""
    annex15 = any(
        line.split_payment_goods
        if line.split_payment_goods is not None
        else line.kind == "goods" and profile.split_payment_goods_default
        for line in order.lines
    )
    if order.currency != "PLN" or not annex15:
        return False
    gross = sum((line.quantity * line.unit_price_gross for line in order.lines), Decimal(0)) + (
        order.shipping.price_gross if order.shipping else Decimal(0)
    )
    return requires_split_payment(gross.quantize(Decimal("0.01")), annex15)


def treatment_of(decided: Decided) -> TaxTreatment:
    """The document-level part of a decision, as adapters print it."""
    d = decided.decision
    return TaxTreatment(
        treatment=d.treatment.value,
        buyer_vat_id=d.buyer_vat_id,
        annotation=d.annotation,
        legal_basis=d.legal_basis,
        split_payment=decided.split_payment,
        destination=d.destination,
        oss=any(line.rate.startswith("oss:") for line in d.lines),
    )


def decided_sales_document(
    order: Order,
    channel: str,
    kind: DocumentKind,
    target: str | None,
    send_to_buyer: bool,
    now: dt.datetime,
    decided: Decided | None,
) -> DocumentRequest:
    """The sales document with each line at its decided rate and the document's treatment
    (`decided`: the VAT decision, None when none was made)."""
    if decided is None:
        return sales_document(order, channel, kind, target, send_to_buyer, now)
    return sales_document(
        order,
        channel,
        kind,
        target,
        send_to_buyer,
        now,
        rates=[line.rate for line in decided.decision.lines],
        tax=treatment_of(decided),
    )


def annotated(document: IssuedDocument, decided: Decided | None) -> IssuedDocument:
    """The issued document as the event shows it: the decision's side of the story."""
    if decided is None:
        return document
    d = decided.decision
    vies = (
        ViesCheck(
            vat_id=d.vies.vat_id,
            valid=d.vies.valid,
            checked_at=d.vies.checked_at,
            request_id=d.vies.request_id,
        )
        if d.vies is not None
        else None
    )
    notes = list(d.notes)
    if decided.split_payment:
        notes.append(f"{MPP_ANNOTATION}: over 15,000 PLN with Annex 15 goods")
    return document.model_copy(
        update={
            "vat_treatment": d.treatment.value,
            "vies": vies,
            "annotation": d.annotation,
            "notes": notes,
            "split_payment": document.split_payment or decided.split_payment,
        }
    )
