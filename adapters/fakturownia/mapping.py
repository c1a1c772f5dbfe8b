"""DocumentRequest → Fakturownia invoice JSON, and a Fakturownia invoice → IssuedDocument.

KSeF accounts (Fakturownia's KSeF guide, `KSeF.md`; ksef-2026.md §1.2, §1.4) shape three details:
`buyer_company` on every document (the account's auto-send mode decides by it), `np_tax_kind`
limited to `export_service` / `export_service_eu`, and free text without control characters.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from adapters.fakturownia.treatment import (
    SALES_INVOICE_KINDS,
    exchange,
    invoice_kind,
    rate_of,
    rate_totals,
    tax_code,
    treatment_fields,
    treatment_of,
)
from domain.corrections import CorrectionLine, LineState, line_key
from domain.documents import BuyerInfo, DocumentLine, DocumentRequest
from domain.ksef import CORRECTION_REASON_MAX, WARSAW, ksef_text
from domain.ports import ProviderValidationError
from domain.taxid import TaxIdKind
from schemas.invoices import Clearance, DocumentKind, IssuedDocument, Provider, Totals
from schemas.orders import PaymentMethod

KIND = {
    DocumentKind.INVOICE: "vat",
    DocumentKind.RECEIPT: "receipt",
    DocumentKind.CORRECTION: "correction",
}
KIND_BACK = {v: k for k, v in KIND.items()} | dict.fromkeys(
    SALES_INVOICE_KINDS, DocumentKind.INVOICE
)
TAX_NO_KIND = {TaxIdKind.NIP: "", TaxIdKind.EU_VAT: "nip_ue", TaxIdKind.OTHER: "other"}
PAYMENT = {
    PaymentMethod.CARD: "card",
    PaymentMethod.TRANSFER: "transfer",
    PaymentMethod.BLIK: "BLIK",
    PaymentMethod.PAYU: "payu",
    PaymentMethod.PAYPAL: "paypal",
    PaymentMethod.CASH: "cash",
    PaymentMethod.CASH_ON_DELIVERY: "cash_on_delivery",
    PaymentMethod.MARKETPLACE: "marketplace",
    PaymentMethod.OTHER: "other",
}


CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


# KSeF.md "Pola warunkowe": the only `np_tax_kind` values allowed on a KSeF account.
# `export_service` (FA(3) P_13_8: goods and services supplied outside Poland) is the general basis;
# `export_service_eu` (P_13_9, its subset of EU B2B services under art. 100 ust. 1 pkt 4) also
# needs `reverse_charge: true` (fakturownia-api.md §2.2), which this adapter never sends, so a
# seller opts into it through the connection option. `not_specified` is gone from KSeF accounts.
NP_TAX_KINDS = ("export_service", "export_service_eu")
DEFAULT_NP_TAX_KIND = "export_service"


def _text(value: str | None) -> str | None:
    return ksef_text(value) if value else value


def buyer_fields(buyer: BuyerInfo, vat_id: str | None = None) -> dict[str, Any]:
    """Buyer fields; `buyer_company` always, as KSeF auto-send decides by it (KSeF.md).
    `vat_id`: the EU VAT id with its country prefix an intra-EU supply was decided on."""
    fields: dict[str, Any] = {"buyer_company": buyer.is_company, "buyer_name": _text(buyer.name)}
    if not buyer.is_company:
        fields |= {
            "buyer_first_name": _text(buyer.first_name),
            "buyer_last_name": _text(buyer.last_name),
        }
    if vat_id:
        fields |= {"buyer_tax_no": vat_id, "buyer_tax_no_kind": TAX_NO_KIND[TaxIdKind.EU_VAT]}
    elif buyer.tax_id:
        fields |= {
            "buyer_tax_no": buyer.tax_id.value,
            "buyer_tax_no_kind": TAX_NO_KIND[buyer.tax_id.kind],
        }
    optional = {
        "buyer_email": buyer.email,
        "buyer_street": _text(buyer.street),
        "buyer_post_code": buyer.postal_code,
        "buyer_city": _text(buyer.city),
        "buyer_country": buyer.country,
    }
    return fields | {k: v for k, v in optional.items() if v}


def position(line: DocumentLine) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": ksef_text(line.name),
        "quantity": format(line.quantity, "f"),
        "quantity_unit": ksef_text(line.unit),
        "tax": tax_code(line.rate_code),
        "total_price_gross": _money(line.total_gross),
    }
    if line.sku:
        out["code"] = line.sku
    if line.gtu:
        out["gtu_code"] = line.gtu.value
    return out


def payment_fields(req: DocumentRequest) -> dict[str, Any]:
    total = req.total_gross
    paid = min(req.paid_amount, total)
    status = "paid" if total and paid >= total else "partial" if paid > 0 else "issued"
    fields: dict[str, Any] = {"status": status, "paid": _money(paid)}
    if req.paid_date and paid > 0:
        fields["paid_date"] = req.paid_date.isoformat()
    if status == "paid":
        fields["payment_to_kind"] = "off"  # nothing is due on a paid marketplace order
    return fields


def _header(req: DocumentRequest, options: dict[str, Any]) -> dict[str, Any]:
    """Fields every document kind shares: identity, dates, buyer, seller department, currency."""
    body: dict[str, Any] = {
        "kind": invoice_kind(req) or KIND[req.kind],
        "number": None,
        "issue_date": req.issue_date.isoformat(),
        "sell_date": req.sell_date.isoformat(),
        "currency": req.currency,
        "lang": "pl",
        "oid": req.idempotency_key,
        "oid_unique": "yes",
        "internal_note": f"invoice-router order {req.order_number}",
        "payment_type": PAYMENT[req.payment_method],
        **buyer_fields(req.buyer, req.tax.buyer_vat_id),
        **treatment_fields(req.tax),
    }
    if req.target:
        body["department_id"] = int(req.target) if req.target.isdigit() else req.target
    if req.asks_nbp_rate:  # VAT in PLN at NBP table A of the day before the tax point
        body |= {"exchange_currency": "PLN", "exchange_kind": "nbp"}
    return body


def _tax_bases(rates: set[str], options: dict[str, Any], req: DocumentRequest) -> dict[str, Any]:
    """Legal bases KSeF requires whenever an exempt or out-of-scope line is present; services
    under reverse charge take `export_service_eu`, which needs `reverse_charge` (§2.2)."""
    out: dict[str, Any] = {}
    if "zw" in rates:
        out["exempt_tax_kind"] = options.get("exempt_tax_kind", "art. 43 ust. 1 ustawy o VAT")
    if "np" in rates:
        reverse = req.tax.treatment == "reverse_charge_services"
        out["np_tax_kind"] = "export_service_eu" if reverse else np_tax_kind(options)
    return out


def np_tax_kind(options: dict[str, Any]) -> str:
    """The basis of `np` lines: the connection's choice if KSeF allows it, else the general one.

    A disallowed choice (e.g. the old `not_specified`) is refused here, before any call, rather
    than replaced: the basis is printed on the invoice and is the seller's legal statement.
    """
    value = options.get("np_tax_kind") or DEFAULT_NP_TAX_KIND
    if value not in NP_TAX_KINDS:
        allowed = " or ".join(NP_TAX_KINDS)
        raise ProviderValidationError(
            f"the connection option np_tax_kind={value!r} is not allowed on KSeF; use {allowed}",
            fields={"np_tax_kind": [f"must be {allowed} (Fakturownia KSeF guide)"]},
        )
    return str(value)


def invoice_body(req: DocumentRequest, options: dict[str, Any]) -> dict[str, Any]:
    """The `invoice` object of POST /invoices.json."""
    if req.correction is not None:
        return correction_body(req, options)
    return {
        **_header(req, options),
        **payment_fields(req),
        "positions": [position(x) for x in req.lines],
        **_tax_bases({x.rate_code for x in req.lines}, options, req),
    }


# README "Pola faktury" `calculating_strategy`: `position` is how a line's amounts are derived,
# `sum` "metoda sumowania kwot z pozycji" (sum / keep_gross / keep_net), and VosFactures asks for
# all three keys together (fakturownia-api.md §2.2). `keep_gross` keeps our gross amounts and
# derives the net from the summed gross of each rate group; that a correction's VAT is then the
# difference of its before and after states' group totals is UNCONFIRMED (docs/vat-providers.md).
CORRECTION_STRATEGY = {
    "position": "keep_gross",
    "sum": "keep_gross",
    "invoice_form_price_kind": "gross",
}


def correction_body(req: DocumentRequest, options: dict[str, Any]) -> dict[str, Any]:
    """A correction states every line of the rate groups it changes (unchanged ones with
    before = after), so the group totals it is computed from are the document's."""
    spec = req.correction
    assert spec is not None
    original = int(spec.original_id) if spec.original_id.isdigit() else spec.original_id
    return {
        **_header(req, options),
        "correction_reason": ksef_text(spec.reason)[:CORRECTION_REASON_MAX],
        "invoice_id": original,
        "from_invoice_id": original,
        "positions": [correction_position(x) for x in spec.stated],
        "calculating_strategy": CORRECTION_STRATEGY,
        **_tax_bases({x.before.rate_code for x in spec.stated}, options, req),
        # FA(3) links a correction to its original by KSeF number (ksef-2026.md §1.6, §1.9)
        **(
            {"gov_corrected_invoice_number": spec.original_ksef_number}
            if spec.original_ksef_number
            else {}
        ),
    }


def _state(state: LineState, kind: str) -> dict[str, Any]:
    out = {
        "name": ksef_text(state.name),
        "quantity": format(state.quantity, "f"),
        "quantity_unit": ksef_text(state.unit),
        "tax": tax_code(state.rate_code),
        "total_price_gross": _money(state.gross),
        "kind": kind,
    }
    return out | ({"code": state.sku} if state.sku else {})


def correction_position(line: CorrectionLine) -> dict[str, Any]:
    """Top-level quantity and gross are the difference; the nested objects hold full states."""
    return {
        **_state(line.before, "correction"),
        "quantity": format(line.quantity_delta, "f"),
        "total_price_gross": _money(line.gross_delta),
        "correction_before_attributes": _state(line.before, "correction_before"),
        "correction_after_attributes": _state(line.after, "correction_after"),
    }


def line_state(position: dict[str, Any]) -> LineState:
    """A stored position (original line or correction delta) as comparable line state."""
    code = position.get("code") or None
    name = str(position.get("name", ""))
    polish, exact = rate_of(position.get("tax", "23"))
    return LineState(
        key=line_key(code, name),
        name=name,
        unit=position.get("quantity_unit") or "szt",
        vat_rate=polish,
        quantity=_dec(position.get("quantity")),
        gross=_dec(position.get("total_price_gross")),
        sku=code,
        rate=exact,
    )


def issued_document(invoice: dict[str, Any], base_url: str, sent: bool = False) -> IssuedDocument:
    token = invoice.get("token")
    return IssuedDocument(
        kind=KIND_BACK.get(invoice.get("kind", ""), DocumentKind.INVOICE),
        provider=Provider.FAKTUROWNIA,
        provider_document_id=str(invoice["id"]),
        number=str(invoice["number"]),
        issue_date=dt.date.fromisoformat(invoice["issue_date"]),
        currency=invoice.get("currency") or "PLN",
        totals=Totals(
            net=_dec(invoice.get("price_net")),
            vat=_dec(invoice.get("price_tax")),
            gross=_dec(invoice.get("price_gross")),
        ),
        view_url=invoice.get("view_url"),
        pdf_url=f"{base_url}/invoice/{token}.pdf" if token else None,
        sent_to_buyer=sent,
        corrected_document_id=str(invoice["invoice_id"]) if invoice.get("invoice_id") else None,
        clearance=_clearance(invoice),
        vat_treatment=treatment_of(invoice),
        rate_totals=rate_totals(invoice.get("positions") or [], invoice),
        exchange=exchange(invoice),
        split_payment=str(invoice.get("split_payment")).lower() in ("1", "true"),
    )


def _clearance(invoice: dict[str, Any]) -> Clearance | None:
    if not invoice.get("gov_status"):
        return None
    errors = invoice.get("gov_error_messages") or []
    number = invoice.get("gov_id")
    return Clearance(
        status=invoice["gov_status"],
        number=number,
        errors=[str(e) for e in (errors if isinstance(errors, list) else [errors])],
        # `gov_send_date` is when KSeF accepted it; only meaningful once there is a number
        assigned_at=_moment(invoice.get("gov_send_date")) if number else None,
        verification_link=invoice.get("gov_verification_link") or None,
    )


def _moment(value: Any) -> dt.datetime | None:
    """A Rails timestamp (`2026-12-06T12:05:09.017+01:00`); a zoneless one is Warsaw time."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=WARSAW)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or "0").replace(",", "."))
