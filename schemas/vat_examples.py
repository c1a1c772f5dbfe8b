"""One `invoice.issued` example per VAT treatment (issue 13), for the AsyncAPI document.

Built through the event models themselves, so every example is valid against the published
JSON Schema; docs/events.md shows the same documents.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from schemas.invoices import (
    DocumentKind,
    Exchange,
    InvoiceIssued,
    InvoiceIssuedData,
    IssuedDocument,
    Provider,
    RateTotals,
    Totals,
    ViesCheck,
)

D = Decimal
CHECKED = dt.datetime(2026, 11, 21, 6, 16, 40, tzinfo=dt.UTC)
VIES = ViesCheck(vat_id="DE100000008", valid=True, checked_at=CHECKED, request_id="WAPIAAAAW1")


def _totals(rate: str, net: str, vat: str, gross: str) -> dict[str, Any]:
    return {
        "totals": Totals(net=D(net), vat=D(vat), gross=D(gross)),
        "rate_totals": [RateTotals(rate=rate, net=D(net), vat=D(vat), gross=D(gross))],
    }


def _overridden(to: str, why: str) -> list[str]:
    return [f"L1, L2, shipping: the connector's rate 23 replaced by {to} ({why})"]


TREATMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "domestic": (
        "A PLN invoice over 15,000 PLN with Annex 15 goods: split payment",
        {
            **_totals("23", "13008.13", "2991.87", "16000.00"),
            "split_payment": True,
            "notes": ["mechanizm podzielonej płatności: over 15,000 PLN with Annex 15 goods"],
        },
    ),
    "intra_eu_supply": (
        "A German company with a VAT id VIES confirmed: WDT at 0 %",
        {
            **_totals("0", "310.48", "0.00", "310.48"),
            "vies": VIES,
            "annotation": "wewnątrzwspólnotowa dostawa towarów (WDT), stawka 0 %",
            "notes": _overridden("0", "WDT"),
        },
    ),
    "export": (
        "Goods shipped to Switzerland: export at 0 %",
        {
            **_totals("0", "310.48", "0.00", "310.48"),
            "annotation": "eksport towarów, stawka 0 %",
            "notes": _overridden("0", "export"),
        },
    ),
    "eu_distance_sale": (
        "A French consumer of an OSS-registered seller: French VAT",
        {
            **_totals("oss:20", "258.73", "51.75", "310.48"),
            "notes": _overridden("oss:20", "FR VAT through OSS"),
        },
    ),
    "margin_used_goods": (
        "A used part under the margin scheme: no VAT shown",
        {
            **_totals("margin", "800.00", "0.00", "800.00"),
            "annotation": "procedura marży – towary używane",  # noqa: RUF001 (statutory dash)
        },
    ),
    "reverse_charge_services": (
        "A service to an EU business: reverse charge",
        {
            **_totals("np", "310.48", "0.00", "310.48"),
            "vies": VIES,
            "annotation": "odwrotne obciążenie",
        },
    ),
}


def issued_examples() -> list[dict[str, Any]]:
    examples = []
    for n, (treatment, (summary, fields)) in enumerate(TREATMENTS.items(), start=1):
        document = IssuedDocument(
            kind=DocumentKind.INVOICE,
            provider=Provider.FAKTUROWNIA,
            provider_document_id=str(100000000 + n),
            number=f"{n}/11/2026",
            issue_date=dt.date(2026, 11, 21),
            currency="PLN",
            vat_treatment=treatment,  # type: ignore[arg-type]
            **fields,
        )
        event = InvoiceIssued(
            specversion="1.0",
            id=f"00000000-0000-5000-8000-00000000000{n}",
            source="urn:invoice-router:worker",
            type="invoice.issued",
            subject=f"OVK-{n}",
            time=CHECKED,
            dataschema="urn:invoice-router:schema:invoice.issued:v1",
            data=InvoiceIssuedData(
                seller_id="seller-42",
                channel="ovoko",
                order_id=f"OVK-{n}",
                source_event_id=f"ovoko-evt-{n}",
                document=document,
            ),
        )
        examples.append(
            {
                "name": treatment,
                "summary": summary,
                "payload": event.model_dump(mode="json", by_alias=True),
            }
        )
    payload = copy.deepcopy(examples[0]["payload"])
    payload["data"]["document"] |= {
        "currency": "EUR",
        "split_payment": False,
        "notes": [],
        "totals": {"net": "81.30", "vat": "18.70", "gross": "100.00"},
        "rate_totals": [{"rate": "23", "net": "81.30", "vat": "18.70", "gross": "100.00"}],
        "exchange": Exchange(
            currency="EUR",
            rate="4.2666",
            table="182/A/NBP/2025",
            date=dt.date(2025, 9, 19),
            vat_pln=D("79.79"),
        ).model_dump(mode="json"),
    }
    examples.append(
        {"name": "domestic_eur", "summary": "An EUR invoice with its NBP rate", "payload": payload}
    )
    return examples
