"""A tiny but structurally valid PDF so clients can check content type and magic bytes."""

from __future__ import annotations

from typing import Any

from simulators.common.pdf import document


def invoice_pdf(doc: dict[str, Any]) -> bytes:
    lines = [
        f"Faktura {doc['number']}",
        f"Sprzedawca: {doc.get('seller_name') or ''}",
        f"Nabywca: {doc.get('buyer_name') or ''}",
        f"Brutto: {doc['price_gross']} {doc['currency']}",
    ]
    return document(lines, font_size=12, top=780)
