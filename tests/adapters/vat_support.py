"""Requests carrying a VAT treatment, shared by both providers' treatment contract tests.

They build DocumentRequests as the worker does after the VAT decision (workers/treatment.py):
the connector's lines with the applied rate codes and the document-level treatment.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain.documents import DocumentRequest, TaxTreatment
from schemas.invoices import DocumentKind
from tests.adapters.support import order_body, sale

DE_VAT_ID = "DE100000008"  # passes the German check digit (python-stdnum)
WDT_NOTE = "Wewnątrzwspólnotowa dostawa towarów, art. 42 ust. 1 ustawy o VAT"
EXPORT_NOTE = "Eksport towarów, art. 41 ust. 4 ustawy o VAT"
MARGIN_NOTE = "procedura marży - towary używane"


def foreign_buyer(body: dict[str, Any], country: str, tax_id: str | None) -> dict[str, Any]:
    buyer = body["buyer"]
    buyer["address"] = {"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin"} | {
        "country": country
    }
    if tax_id:
        buyer |= {"is_company": True, "company_name": "Autoteile GmbH", "tax_id": tax_id}
    return body


def treated(
    order_id: str,
    tax: TaxTreatment,
    rate: str,
    *,
    country: str = "DE",
    tax_id: str | None = None,
    placed_at: str | None = None,
    currency: str = "PLN",
    target: str | None = "101",
    **kwargs: Any,
) -> DocumentRequest:
    """An invoice whose every line (and shipping) the decision put at `rate`."""
    body = foreign_buyer(order_body(order_id, currency=currency, **kwargs), country, tax_id)
    if placed_at:
        body["placed_at"] = body["payment"]["paid_at"] = placed_at
    req = sale(body, DocumentKind.INVOICE, target)
    return replace(req, tax=tax, lines=tuple(replace(x, rate=rate) for x in req.lines))


def wdt(order_id: str, **kwargs: Any) -> DocumentRequest:
    tax = TaxTreatment("intra_eu_supply", DE_VAT_ID, WDT_NOTE, "art. 42 ust. 1", destination="DE")
    return treated(order_id, tax, "0", tax_id=DE_VAT_ID, **kwargs)


def export(order_id: str) -> DocumentRequest:
    tax = TaxTreatment("export", annotation=EXPORT_NOTE, destination="CH")
    return treated(order_id, tax, "0", country="CH")


def oss_fr(order_id: str, **kwargs: Any) -> DocumentRequest:
    return treated(
        order_id,
        TaxTreatment("eu_distance_sale", destination="FR", oss=True),
        "oss:20",
        country="FR",
    )


def margin(order_id: str) -> DocumentRequest:
    tax = TaxTreatment("margin_used_goods", annotation=MARGIN_NOTE, destination="PL")
    return treated(order_id, tax, "margin", country="PL")


def split(order_id: str) -> DocumentRequest:
    """16,000 PLN of car parts (Annex 15) to a Polish company: split payment."""
    lines = [
        {
            "line_id": "L1",
            "sku": "ENG-1",
            "name": "Silnik używany",
            "quantity": "1",
            "unit": "szt",
            "unit_price_gross": "16000.00",
            "vat_rate": "23",
        }
    ]
    req = sale(order_body(order_id, company=True, lines=lines, shipping={}), target="101")
    return replace(req, tax=TaxTreatment(split_payment=True))
