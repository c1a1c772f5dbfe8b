"""DocumentRequest → wFirma `invoices/add` record, and a wFirma invoice → IssuedDocument.

Requests use the official numbered form (`{"invoices": {"0": {"invoice": ...}}}`, reference
§2.3) and only documented field names, because wFirma silently drops unknown keys (§2.8).
Corrections are built in `corrections.py`; line pricing lives in `pricing.py`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.wfirma.http import records
from adapters.wfirma.ksef import clearance
from adapters.wfirma.pricing import unit_price
from adapters.wfirma.treatment import (
    exchange,
    header_fields,
    oss_percent,
    polish_rate,
    rate_code,
    rate_totals,
    treatment_of,
    vat_field,
)
from domain.corrections import LineState, line_key
from domain.documents import BuyerInfo, DocumentLine, DocumentRequest, TaxTreatment
from domain.ports import ProviderValidationError
from domain.taxid import TaxIdKind
from schemas.common import VatRate
from schemas.invoices import DocumentKind, IssuedDocument, Provider, Totals
from schemas.orders import PaymentMethod

RECEIPT_TYPES = ("receipt_normal", "receipt_fiscal_normal")
TYPES_OF_KIND: dict[DocumentKind, tuple[str, ...]] = {
    DocumentKind.INVOICE: ("normal", "margin"),  # margin: Faktura VAT marża (§3.1)
    DocumentKind.RECEIPT: RECEIPT_TYPES,
    DocumentKind.CORRECTION: ("correction",),
}
KIND_OF_TYPE = {t: kind for kind, types in TYPES_OF_KIND.items() for t in types}
# `vat` codes wFirma accepts for Polish rates (§3.4); sent upper-case (case-sensitivity is
# UNCONFIRMED). Plain codes need no `vat_codes/find` call, hence no extra OAuth scope.
VAT_CODE = {
    VatRate.R23: "23",
    VatRate.R8: "8",
    VatRate.R5: "5",
    VatRate.R0: "0",
    VatRate.ZW: "ZW",
    VatRate.NP: "NP",
    VatRate.OO: "VAT_BUYER",  # odwrotne obciążenie: "VAT rozlicza nabywca"
}
_VAT_BACK = {code: rate for rate, code in VAT_CODE.items()} | {
    "WDT": VatRate.R0,
    "EXP": VatRate.R0,
    "NPUE": VatRate.NP,
}
TAX_ID_TYPE = {TaxIdKind.NIP: "nip", TaxIdKind.EU_VAT: "vat", TaxIdKind.OTHER: "custom"}
# wFirma knows cash, transfer, compensation, cod and payment_card (§3.2); online payments
# (BLIK, PayU, PayPal, marketplace escrow) reach the seller's account as transfers.
PAYMENT = {
    PaymentMethod.CARD: "payment_card",
    PaymentMethod.TRANSFER: "transfer",
    PaymentMethod.BLIK: "transfer",
    PaymentMethod.PAYU: "transfer",
    PaymentMethod.PAYPAL: "transfer",
    PaymentMethod.CASH: "cash",
    PaymentMethod.CASH_ON_DELIVERY: "cod",
    PaymentMethod.MARKETPLACE: "transfer",
    PaymentMethod.OTHER: "transfer",
}
_SKU = re.compile(r"^(?P<name>.*) \(SKU: (?P<sku>.+)\)$", re.DOTALL)
_PL_ZIP = re.compile(r"^\d{2}-\d{3}$")
CONTRACTOR_MODES = ("inline", "find_by_nip")
DOMESTIC = TaxTreatment()


@dataclass(frozen=True)
class WfirmaOptions:
    """Per-connection settings (the connection's `options` mapping; unknown keys ignored).

    `receipt_type`: `receipt_normal` (non-fiscal sales evidence, the default) or
    `receipt_fiscal_normal` (fiscal receipt). `contractor`: `inline` (the buyer travels with
    the document, the default) or `find_by_nip` (reuse a contractor record with the same NIP,
    inline when none). `receipt_series` / `correction_series`: series ids for those documents;
    the channel's mapping target numbers invoices only, because wFirma series are per type.
    `payment_days`: due date of unpaid documents, counted from the issue date.
    """

    receipt_type: str = "receipt_normal"
    contractor: str = "inline"
    receipt_series: str | None = None
    correction_series: str | None = None
    payment_days: int = 7

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> WfirmaOptions:
        raw = raw or {}
        options = cls(
            receipt_type=str(raw.get("receipt_type") or cls.receipt_type),
            contractor=str(raw.get("contractor") or cls.contractor),
            receipt_series=_opt_str(raw.get("receipt_series")),
            correction_series=_opt_str(raw.get("correction_series")),
            payment_days=int(raw.get("payment_days", cls.payment_days)),
        )
        if options.receipt_type not in RECEIPT_TYPES:
            raise ValueError(f"receipt_type must be one of {RECEIPT_TYPES}")
        if options.contractor not in CONTRACTOR_MODES:
            raise ValueError(f"contractor must be one of {CONTRACTOR_MODES}")
        if options.payment_days < 0:
            raise ValueError("payment_days must not be negative")
        return options


def _opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def quantity(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def relation(value: str) -> dict[str, Any]:
    return {"id": int(value) if value.isdigit() else value}


def numbered(singular: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(i): {singular: row} for i, row in enumerate(rows)}


def envelope(record: dict[str, Any]) -> dict[str, Any]:
    return {"invoices": {"0": {"invoice": record}}}


# --- lines ---------------------------------------------------------------------------------


def line_name(name: str, sku: str | None) -> str:
    """wFirma lines have no product-code field, so the SKU rides in the name: corrections find
    a refunded order line on the document by it (`domain.corrections.line_key`)."""
    return f"{name} (SKU: {sku})" if sku else name


def split_name(stored: str) -> tuple[str, str | None]:
    found = _SKU.match(stored)
    return (found["name"], found["sku"]) if found else (stored, None)


def priced(position: int, count: Decimal, gross: Decimal) -> str:
    """The unit price for `count` items worth `gross`, or a refusal naming the line."""
    price = unit_price(count, gross)
    if price is None:
        field = f"invoicecontents.{position}.price"
        raise ProviderValidationError(
            f"line {position + 1}: no unit price gives {count} x price = {gross} to the grosz",
            fields={field: [f"{count} x price cannot equal {gross}"]},
        )
    return money(price) if price == price.quantize(CENT) else format(price, "f")


def content(
    position: int,
    line: DocumentLine,
    tax: TaxTreatment = DOMESTIC,
    oss_codes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One line; a foreign (OSS) rate only as `vat_code {id}` (a plain foreign `vat` silently
    becomes 23 %, §3.4), resolved by the provider into `oss_codes` (rate code → id)."""
    out: dict[str, Any] = {
        "name": line_name(line.name, line.sku),
        "unit": line.unit,
        "count": quantity(line.quantity),
        "price": priced(position, line.quantity, line.total_gross),
    }
    if oss_percent(line.rate_code) is not None:
        code_id = (oss_codes or {}).get(line.rate_code)
        if code_id is None:
            raise ProviderValidationError(
                f"line {position + 1}: wFirma has no VAT code for {line.rate_code} (enable OSS "
                "in the account's VAT settings)",
                fields={f"invoicecontents.{position}.vat_code": ["no such foreign rate"]},
            )
        out["vat_code"] = relation(code_id)
    else:
        out["vat"] = vat_field(line.rate_code, tax)
    if line.gtu:
        out["gtu"] = line.gtu.value  # the value format is UNCONFIRMED (§3.4)
    return out


def vat_rate(record: dict[str, Any]) -> VatRate:  # kept for callers reading Polish codes
    code = str(record.get("vat") or "").strip().upper()
    if code in _VAT_BACK:
        return _VAT_BACK[code]
    try:  # a rate such as "23.00"; a foreign (OSS) rate added by hand has no Polish code
        percent = Decimal(code).normalize()
    except ArithmeticError:
        return VatRate.R23
    return next((r for r in VAT_CODE if r.value.isdigit() and r.percent == percent), VatRate.R23)


def line_state(record: dict[str, Any]) -> LineState:
    """A stored line (an original's or its latest corrected version) as comparable state."""
    name, sku = split_name(str(record.get("name") or ""))
    code = rate_code(record)
    return LineState(
        key=line_key(sku, name),
        name=name,
        unit=str(record.get("unit") or "szt."),
        vat_rate=polish_rate(code),
        quantity=dec(record.get("count")),
        gross=dec(record.get("brutto")),
        sku=sku,
        rate=code if code.startswith("oss:") else None,
    )


# --- buyer ---------------------------------------------------------------------------------


def postal_code(code: str, country: str | None) -> str:
    """Polish postcodes must be `XX-XXX` or wFirma rejects the buyer (§4); others pass as is."""
    digits = re.sub(r"\D", "", code)
    if (country or "PL") == "PL" and len(digits) == 5 and not _PL_ZIP.match(code.strip()):
        return f"{digits[:2]}-{digits[2:]}"
    return code.strip()


def has_address(buyer: BuyerInfo) -> bool:
    return bool(buyer.street and buyer.postal_code and buyer.city)


def contractor(buyer: BuyerInfo, vat_id: str | None = None) -> dict[str, Any]:
    """An inline buyer. `tax_id_type` decides wFirma's checks: `nip` runs the NIP checksum,
    `vat` is an EU VAT id with its country prefix (what 0 % WDT and reverse charge need),
    `custom` any other tax number, `none` a private person (§4). `vat_id`: the prefixed EU
    VAT id an intra-EU supply was decided on (wFirma rejects 0 % WDT without the prefix)."""
    out: dict[str, Any] = {"name": buyer.name}
    if vat_id:
        out |= {"tax_id_type": "vat", "nip": vat_id}
    elif buyer.tax_id:
        out |= {"tax_id_type": TAX_ID_TYPE[buyer.tax_id.kind], "nip": buyer.tax_id.value}
    else:
        out["tax_id_type"] = "none"
    if buyer.street:
        out["street"] = buyer.street
    if buyer.postal_code:
        out["zip"] = postal_code(buyer.postal_code, buyer.country)
    if buyer.city:
        out["city"] = buyer.city
    if buyer.country:
        out["country"] = buyer.country
    if buyer.email:
        out["email"] = buyer.email
    return out


# --- documents -----------------------------------------------------------------------------


def document_type(req: DocumentRequest, options: WfirmaOptions) -> str:
    if req.kind is DocumentKind.RECEIPT:
        return options.receipt_type
    if req.kind is DocumentKind.INVOICE and req.tax.treatment == "margin_used_goods":
        return "margin"
    return TYPES_OF_KIND[req.kind][0]


def _payment(req: DocumentRequest, options: WfirmaOptions) -> dict[str, Any]:
    total = req.total_gross
    paid = max(Decimal(0), min(req.paid_amount, total))
    if total and paid >= total:
        due = req.paid_date or req.issue_date
    else:
        due = req.issue_date + dt.timedelta(days=options.payment_days)
    return {
        "paymentmethod": PAYMENT[req.payment_method],
        "paymentdate": due.isoformat(),
        "alreadypaid_initial": money(paid),
    }


def sales_record(
    req: DocumentRequest,
    options: WfirmaOptions,
    contractor_id: str | None = None,
    oss_codes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `invoice` record of an invoice or receipt (never `auto_send`: we send ourselves)."""
    doc_type = document_type(req, options)
    record: dict[str, Any] = {
        "type": doc_type,
        "date": req.issue_date.isoformat(),
        "disposaldate": req.sell_date.isoformat(),
        "disposaldate_format": "day",
        **_payment(req, options),
        "currency": req.currency,
        "price_type": "brutto",  # gross-priced orders: VAT from each rate group's gross sum
        "id_external": req.idempotency_key,
        **header_fields(req.tax),
    }
    if doc_type != "receipt_fiscal_normal":  # fiscal receipts take no description (§3.13)
        note = f"Zamówienie {req.order_number}"
        record["description"] = f"{note}. {req.tax.annotation}" if req.tax.annotation else note
    series = req.target if req.kind is DocumentKind.INVOICE else options.receipt_series
    if series:
        record["series"] = relation(series)
    if contractor_id is not None:
        record["contractor"] = relation(contractor_id)
    elif req.kind is DocumentKind.INVOICE or has_address(req.buyer):
        record["contractor"] = contractor(req.buyer, req.tax.buyer_vat_id)
    # else: a receipt without a full address goes without a buyer, as wFirma allows
    record["invoicecontents"] = numbered(
        "invoicecontent",
        [content(i, line, req.tax, oss_codes) for i, line in enumerate(req.lines)],
    )
    return record


# --- answers -------------------------------------------------------------------------------


def issued_document(record: dict[str, Any]) -> IssuedDocument:
    parent = related_id(record, "parent")
    lines = lines_of(record)
    return IssuedDocument(
        kind=KIND_OF_TYPE.get(str(record.get("type")), DocumentKind.INVOICE),
        provider=Provider.WFIRMA,
        provider_document_id=str(record["id"]),
        number=str(record.get("fullnumber") or record["id"]),
        issue_date=dt.date.fromisoformat(str(record["date"])),
        currency=str(record.get("currency") or "PLN"),
        totals=Totals(
            net=dec(record.get("netto")),
            vat=dec(record.get("tax")),
            gross=dec(record.get("total")),
        ),
        view_url=None,  # wFirma has no public document link; the PDF comes by download
        pdf_url=None,
        corrected_document_id=parent,
        clearance=clearance(record),
        vat_treatment=treatment_of(record, lines),
        rate_totals=rate_totals(record, records(record.get("vat_contents"), "vat_content"), lines),
        exchange=exchange(record),
        split_payment=record.get("schema") == "split_payment",
    )


def related_id(record: dict[str, Any], name: str) -> str | None:
    """A relation's id from `name: {id}` or flat `name_id`; "0" and "" mean none (§2.8)."""
    nested = record.get(name)
    value = nested.get("id") if isinstance(nested, dict) else record.get(f"{name}_id")
    text = str(value).strip() if value is not None else ""
    return text if text not in ("", "0") else None


def lines_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    return records(record.get("invoicecontents"), "invoicecontent")


def dec(value: Any) -> Decimal:
    return Decimal(str(value or "0").replace(",", "."))
