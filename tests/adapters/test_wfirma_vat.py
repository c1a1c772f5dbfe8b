"""wFirma contract per VAT treatment (issue 13), against the simulator over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from domain.documents import TaxTreatment
from domain.ports import ProviderValidationError
from schemas.invoices import Exchange, RateTotals
from tests.adapters.support import NOW, POLICY, order_body, refund_data
from tests.adapters.vat_support import (
    DE_VAT_ID,
    MARGIN_NOTE,
    export,
    foreign_buyer,
    margin,
    oss_fr,
    split,
    treated,
    wdt,
)
from tests.adapters.wfirma_support import SERIES_SHOP, WfirmaEnv, lines_of, wroute
from workers.corrections import issue_correction
from workers.issuing import Attempts

pytest_plugins = ["tests.adapters.conftest_wfirma"]
GROSS = Decimal("310.48")


async def test_intra_eu_supply_lines_are_wdt_for_the_prefixed_vat_id(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(wdt("WDT-1", target=SERIES_SHOP))
    stored = wfirma.stored(doc.provider_document_id)
    assert {c["vat"] for c in lines_of(stored)} == {"WDT"}
    detail = stored["contractor_detail"]
    assert (detail["tax_id_type"], detail["nip"]) == ("vat", DE_VAT_ID)
    assert doc.vat_treatment == "intra_eu_supply"
    assert doc.rate_totals == [RateTotals(rate="0", net=GROSS, vat=Decimal(0), gross=GROSS)]


async def test_export_lines_are_exp(wfirma: WfirmaEnv) -> None:
    request = replace(export("EXP-1"), target=SERIES_SHOP)
    doc = await wfirma.provider().issue(request)
    assert {c["vat"] for c in lines_of(wfirma.stored(doc.provider_document_id))} == {"EXP"}
    assert doc.vat_treatment == "export"


async def test_oss_lines_carry_the_destinations_vat_code_and_moss_details(
    wfirma: WfirmaEnv,
) -> None:
    provider = wfirma.provider()
    doc = await provider.issue(replace(oss_fr("OSS-1"), target=SERIES_SHOP))
    stored = wfirma.stored(doc.provider_document_id)
    assert {c["vat_code"]["id"] for c in lines_of(stored)} == {"640"}  # FR 20 %
    assert stored["vat_moss_details"]["vat_moss_detail"]["type"] == "BA"
    net = (GROSS / Decimal("1.20")).quantize(Decimal("0.01"))
    assert doc.rate_totals == [RateTotals(rate="oss:20", net=net, vat=GROSS - net, gross=GROSS)]
    assert doc.vat_treatment == "eu_distance_sale"
    # the account's codes are looked up once per connection
    await provider.issue(replace(oss_fr("OSS-2"), target=SERIES_SHOP))
    assert len(wfirma.calls("/vat_codes/find")) == 1


async def test_an_oss_rate_the_account_lacks_is_refused_before_the_create(
    wfirma: WfirmaEnv,
) -> None:
    request = replace(oss_fr("OSS-X"), target=SERIES_SHOP)
    request = replace(request, lines=tuple(replace(x, rate="oss:21") for x in request.lines))
    with pytest.raises(ProviderValidationError, match="oss:21"):
        await wfirma.provider().issue(request)
    assert wfirma.calls("/invoices/add") == []


async def test_margin_invoice_is_the_margin_type_without_vat(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(replace(margin("MRG-1"), target=SERIES_SHOP))
    stored = wfirma.stored(doc.provider_document_id)
    assert stored["type"] == "margin"
    assert MARGIN_NOTE in stored["description"]
    assert doc.totals.vat == 0
    assert doc.rate_totals == [RateTotals(rate="margin", net=GROSS, vat=Decimal(0), gross=GROSS)]
    assert doc.vat_treatment == "margin_used_goods"
    assert await wfirma.provider().find(replace(margin("MRG-1"), target=SERIES_SHOP)) == doc


async def test_services_under_reverse_charge_are_npue(wfirma: WfirmaEnv) -> None:
    tax = TaxTreatment("reverse_charge_services", DE_VAT_ID, destination="DE")
    request = treated("RC-1", tax, "np", tax_id=DE_VAT_ID, target=SERIES_SHOP)
    doc = await wfirma.provider().issue(request)
    assert {c["vat"] for c in lines_of(wfirma.stored(doc.provider_document_id))} == {"NPUE"}
    assert doc.vat_treatment == "reverse_charge_services"


async def test_split_payment_is_the_split_payment_schema(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(replace(split("MPP-1"), target=SERIES_SHOP))
    assert wfirma.stored(doc.provider_document_id)["schema"] == "split_payment"
    assert doc.split_payment is True


async def test_eur_invoice_carries_the_nbp_rate_of_the_previous_business_day(
    wfirma: WfirmaEnv,
) -> None:
    request = treated(
        "EUR-1",
        TaxTreatment(),
        "23",
        placed_at="2025-09-20T10:00:00+02:00",  # a Saturday: Friday's table
        currency="EUR",
        target=SERIES_SHOP,
    )
    doc = await wfirma.provider().issue(request)
    stored = wfirma.stored(doc.provider_document_id)
    assert (stored["currency"], stored["currency_label"]) == ("EUR", "182/A/NBP/2025")
    assert doc.exchange == Exchange(
        currency="EUR",
        rate="4.2666",
        table="182/A/NBP/2025",
        date=dt.date(2025, 9, 19),
        vat_pln=(doc.totals.vat * Decimal("4.2666")).quantize(Decimal("0.01")),
    )


async def test_partial_refund_of_a_wdt_invoice_is_a_wdt_correction(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    original = await provider.issue(wdt("WDT-R", target=SERIES_SHOP))
    body = foreign_buyer(order_body("WDT-R"), "DE", DE_VAT_ID)
    data = refund_data(body, "R1", [{"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}])
    correction = await issue_correction(provider, wroute(), data, POLICY, Attempts(), NOW)
    stored = wfirma.stored(correction.provider_document_id)
    assert stored["parent"]["id"] == original.provider_document_id
    assert {c["vat"] for c in lines_of(stored)} == {"WDT"}
    assert correction.vat_treatment == "intra_eu_supply"
    assert [(r.rate, r.vat) for r in correction.rate_totals] == [("0", Decimal(0))]


async def test_a_refund_of_an_oss_sale_keeps_the_destination_vat_code(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    await provider.issue(replace(oss_fr("OSS-R"), target=SERIES_SHOP))
    body = foreign_buyer(order_body("OSS-R"), "FR", None)
    data = refund_data(body, "R1", [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}])
    correction = await issue_correction(provider, wroute(), data, POLICY, Attempts(), NOW)
    stored = wfirma.stored(correction.provider_document_id)
    assert {c["vat_code"]["id"] for c in lines_of(stored)} == {"640"}
    assert correction.vat_treatment == "eu_distance_sale"
    assert [r.rate for r in correction.rate_totals] == ["oss:20"]
    assert correction.totals.gross == Decimal("-35.50")
