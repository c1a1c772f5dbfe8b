"""Minimal, structurally valid PDFs for ``invoices/download`` (reference §3.12).

While KSeF has not numbered an invoice, wFirma serves a "Potwierdzenie transakcji" (transaction
confirmation: no lines, no number) instead of the invoice; both start with ``%PDF-``. Text is
left uncompressed so tests can look for it in the bytes.
"""

from __future__ import annotations

import unicodedata
from typing import Any

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


def _ascii(line: str) -> str:
    """Base fonts lack Polish glyphs; strip accents and escape PDF string delimiters."""
    plain = unicodedata.normalize("NFKD", line).encode("ascii", "ignore").decode("ascii")
    return plain.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def document(lines: list[str]) -> bytes:
    """One A4 page of text; xref offsets are computed so real readers open it."""
    text_ops = " ".join(f"({_ascii(line)}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 11 Tf 50 790 Td {text_ops} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)
