"""Fakturownia contract per VAT treatment (issue 13), against the simulator over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from domain.documents import TaxTreatment
from schemas.invoices import Exchange, RateTotals
from tests.adapters.conftest import SimEnv
from tests.adapters.support import NOW, POLICY, order_body, refund_data, route
from tests.adapters.vat_support import (
    DE_VAT_ID,
    EXPORT_NOTE,
    MARGIN_NOTE,
    WDT_NOTE,
    export,
    foreign_buyer,
    margin,
    oss_fr,
    split,
    treated,
    wdt,
)
from workers.corrections import issue_correction
from workers.issuing import Attempts

GROSS = Decimal("310.48")


async def test_intra_eu_supply_is_a_wdt_document_at_zero_with_the_prefixed_vat_id(
    fakturownia: SimEnv,
) -> None:
    doc = await fakturownia.provider().issue(wdt("WDT-1"))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["kind"], stored["buyer_tax_no"], stored["buyer_tax_no_kind"]) == (
        "wdt",
        DE_VAT_ID,
        "nip_ue",
    )
    assert {p["tax"] for p in stored["positions"]} == {"0"}
    assert stored["description"] == WDT_NOTE
    assert doc.vat_treatment == "intra_eu_supply"
    assert doc.rate_totals == [RateTotals(rate="0", net=GROSS, vat=Decimal(0), gross=GROSS)]
    assert (doc.totals.vat, doc.totals.gross) == (Decimal(0), GROSS)


async def test_export_is_an_export_products_document_at_zero(fakturownia: SimEnv) -> None:
    doc = await fakturownia.provider().issue(export("EXP-1"))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["kind"], stored["description"]) == ("export_products", EXPORT_NOTE)
    assert {p["tax"] for p in stored["positions"]} == {"0"}
    assert doc.vat_treatment == "export"


async def test_oss_sale_carries_the_destination_rate_and_use_oss(fakturownia: SimEnv) -> None:
    doc = await fakturownia.provider().issue(oss_fr("OSS-1"))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["kind"], stored["use_oss"]) == ("vat", True)
    assert {p["tax"] for p in stored["positions"]} == {"20"}
    net = (GROSS / Decimal("1.20")).quantize(Decimal("0.01"))
    assert doc.rate_totals == [RateTotals(rate="oss:20", net=net, vat=GROSS - net, gross=GROSS)]
    assert doc.vat_treatment == "eu_distance_sale"


async def test_margin_scheme_shows_no_vat(fakturownia: SimEnv) -> None:
    doc = await fakturownia.provider().issue(margin("MRG-1"))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["kind"], stored["description"]) == ("vat_margin", MARGIN_NOTE)
    assert {p["tax"] for p in stored["positions"]} == {"disabled"}
    assert doc.totals.vat == 0
    assert doc.rate_totals == [RateTotals(rate="margin", net=GROSS, vat=Decimal(0), gross=GROSS)]
    assert doc.vat_treatment == "margin_used_goods"


async def test_services_under_reverse_charge(fakturownia: SimEnv) -> None:
    tax = TaxTreatment("reverse_charge_services", "DE100000008", destination="DE")
    request = treated("RC-1", tax, "np", tax_id="DE100000008")
    doc = await fakturownia.provider().issue(request)
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["reverse_charge"], stored["np_tax_kind"]) == (True, "export_service_eu")
    assert {p["tax"] for p in stored["positions"]} == {"np"}
    assert doc.vat_treatment == "reverse_charge_services"


async def test_split_payment_is_marked(fakturownia: SimEnv) -> None:
    doc = await fakturownia.provider().issue(split("MPP-1"))
    assert fakturownia.stored(doc.provider_document_id)["split_payment"] is True
    assert doc.split_payment is True
    assert doc.totals.gross == Decimal("16000.00")


@pytest.mark.parametrize(
    ("placed_at", "rate", "table", "day"),
    [
        # Monday 22 Sep 2025: Friday's table
        ("2025-09-22T10:00:00+02:00", "4.2666", "182/A/NBP/2025", "2025-09-19"),
        # Saturday: still Friday's table, over the weekend
        ("2025-09-20T10:00:00+02:00", "4.2666", "182/A/NBP/2025", "2025-09-19"),
        # Tuesday: Monday's
        ("2025-09-23T10:00:00+02:00", "4.2645", "183/A/NBP/2025", "2025-09-22"),
    ],
)
async def test_eur_invoice_carries_the_nbp_rate_of_the_previous_business_day(
    fakturownia: SimEnv, placed_at: str, rate: str, table: str, day: str
) -> None:
    request = treated("EUR-1", TaxTreatment(), "23", placed_at=placed_at, currency="EUR")
    request = replace(request, lines=tuple(replace(x, rate=None) for x in request.lines))
    doc = await fakturownia.provider().issue(request)
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["exchange_kind"], stored["exchange_currency"]) == ("nbp", "PLN")
    vat = Decimal("58.06")
    assert doc.exchange == Exchange(
        currency="EUR",
        rate=rate,
        table=table,
        date=dt.date.fromisoformat(day),
        vat_pln=(vat * Decimal(rate)).quantize(Decimal("0.01")),
    )
    assert await fakturownia.provider().find(request) == doc


async def test_partial_refund_of_a_wdt_invoice_is_a_wdt_correction(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    request = wdt("WDT-R")
    original = await provider.issue(request)
    body = foreign_buyer(order_body("WDT-R"), "DE", DE_VAT_ID)
    data = refund_data(body, "R1", [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}])
    correction = await issue_correction(provider, route(), data, POLICY, Attempts(), NOW)
    stored = fakturownia.stored(correction.provider_document_id)
    assert stored["kind"] == "correction"
    assert str(stored["invoice_id"]) == original.provider_document_id
    assert {p["tax"] for p in stored["positions"]} == {"0"}
    assert stored["buyer_tax_no"] == DE_VAT_ID
    assert correction.vat_treatment == "intra_eu_supply"
    assert correction.rate_totals == [
        RateTotals(rate="0", net=Decimal("-129.99"), vat=Decimal(0), gross=Decimal("-129.99"))
    ]


async def test_a_refund_of_an_oss_sale_keeps_the_destination_rate(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    await provider.issue(oss_fr("OSS-R"))
    body = foreign_buyer(order_body("OSS-R"), "FR", None)
    data = refund_data(body, "R1", [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}])
    correction = await issue_correction(provider, route(), data, POLICY, Attempts(), NOW)
    stored = fakturownia.stored(correction.provider_document_id)
    assert (stored["use_oss"], {p["tax"] for p in stored["positions"]}) == (True, {"20"})
    assert correction.vat_treatment == "eu_distance_sale"
    net = (Decimal("35.50") / Decimal("1.20")).quantize(Decimal("0.01"))
    assert correction.rate_totals == [
        RateTotals(rate="oss:20", net=-net, vat=net - Decimal("35.50"), gross=Decimal("-35.50"))
    ]
