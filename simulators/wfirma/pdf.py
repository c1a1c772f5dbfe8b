"""Minimal, structurally valid PDFs for ``invoices/download`` (reference §3.12).

While KSeF has not numbered an invoice, wFirma serves a "Potwierdzenie transakcji" (transaction
confirmation: no lines, no number) instead of the invoice; both start with ``%PDF-``. Text is
left uncompressed so tests can look for it in the bytes.
"""

from __future__ import annotations

from typing import Any

from simulators.common.pdf import document

from .envelope import items


def invoice_pdf(doc: dict[str, Any], *, page: str = "invoice") -> bytes:
    title = "Faktura" if page == "invoice" else f"Faktura ({page})"
    lines = [
        f"{title} {doc['fullnumber']}",
        f"Sprzedawca: {doc['company_detail']['name']}",
        f"Nabywca: {doc['contractor_detail']['name']}",
    ]
    for entry in items(doc["invoicecontents"], "invoicecontent"):
        lines.append(f"{entry['name']} {entry['count']} x {entry['price']} = {entry['brutto']}")
    lines.append(f"Razem brutto: {doc['total']} {doc['currency']}")
    if doc.get("ksef_reference_number"):
        lines.append(f"Numer KSeF: {doc['ksef_reference_number']}")
    return document(lines)


def confirmation_pdf(doc: dict[str, Any]) -> bytes:
    return document(
        [
            "Potwierdzenie transakcji",
            f"Sprzedawca: {doc['company_detail']['name']}",
            f"Kwota brutto: {doc['total']} {doc['currency']}",
        ]
    )
