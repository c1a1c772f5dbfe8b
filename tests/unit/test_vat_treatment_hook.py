"""The worker's VAT hook (workers/treatment.py, domain/vat_document.py): the decision before
the provider call, VIES outages by the seller's policy, split payment, and what the document
and the event carry."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter

from adapters.vies.port import ViesUnavailable
from config.tax_profile import check_keys, stored, tax_profile
from domain.vat import TaxProfile, ViesPolicy
from domain.vat_document import annotated, decided_sales_document, split_payment_due
from domain.vies import ViesResult
from schemas.invoices import (
    DocumentKind,
    FailureCode,
    IssuedDocument,
    Provider,
    Totals,
)
from schemas.orders import Order
from tests import factories as f
from workers.treatment import Decided, Refused, TreatmentService, WaitForVies

DE_ID = "DE100000008"
NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
EU_SELLER = TaxProfile(intra_eu_registered=True, oss_registered=True)


class Vies:
    """A checker answering from a dict; `down` raises ViesUnavailable."""

    def __init__(self, valid: bool = True, down: bool = False) -> None:
        self.valid, self.down, self.asked = valid, down, []

    async def check(self, vat_id: str) -> ViesResult:
        self.asked.append(vat_id)
        if self.down:
            raise ViesUnavailable("MS_UNAVAILABLE", "Germany's registry is down")
        return ViesResult(vat_id, self.valid, NOW, "Autoteile GmbH", "WAPIAAAAW1")


def order(body: dict[str, Any]) -> Order:
    return TypeAdapter(Order).validate_json(json.dumps(body))


def german_company(order_id: str = "O-1") -> Order:
    body = f.order(order_id)
    body["buyer"] |= {"is_company": True, "company_name": "Autoteile GmbH", "tax_id": DE_ID}
    body["buyer"]["address"] |= {"country": "DE", "postal_code": "10115", "city": "Berlin"}
    return order(body)


async def test_an_active_german_vat_id_gets_wdt_at_zero_with_the_check_in_the_event() -> None:
    vies = Vies()
    decided = await TreatmentService(vies).decide(german_company(), EU_SELLER)
    assert isinstance(decided, Decided)
    assert vies.asked == [DE_ID]
    request = decided_sales_document(
        german_company(), "shop", DocumentKind.INVOICE, "1", False, NOW, decided
    )
    assert {x.rate_code for x in request.lines} == {"0"}
    assert (request.tax.treatment, request.tax.buyer_vat_id) == ("intra_eu_supply", DE_ID)
    assert request.tax.annotation
    document = IssuedDocument(
        kind=DocumentKind.INVOICE,
        provider=Provider.FAKTUROWNIA,
        provider_document_id="1",
        number="1/2026",
        issue_date=NOW.date(),
        currency="PLN",
        totals=Totals(net=Decimal(1), vat=Decimal(0), gross=Decimal(1)),
    )
    event_doc = annotated(document, decided)
    assert event_doc.vat_treatment == "intra_eu_supply"
    assert event_doc.vies is not None and event_doc.vies.request_id == "WAPIAAAAW1"
    assert event_doc.notes  # the connector sent 23 %: the override is stated


async def test_vies_down_parks_under_the_default_policy_and_never_guesses_wdt() -> None:
    decided = await TreatmentService(Vies(down=True)).decide(german_company(), EU_SELLER)
    assert isinstance(decided, WaitForVies)
    assert "MS_UNAVAILABLE" in decided.detail
    assert isinstance(await TreatmentService(None).decide(german_company(), EU_SELLER), WaitForVies)


async def test_vies_down_under_the_domestic_policy_issues_with_polish_vat() -> None:
    profile = TaxProfile(intra_eu_registered=True, vies_unavailable=ViesPolicy.DOMESTIC)
    decided = await TreatmentService(Vies(down=True)).decide(german_company(), profile)
    assert isinstance(decided, Decided)
    assert decided.decision.treatment.value == "domestic"


async def test_an_invalid_vat_id_is_never_a_wdt() -> None:
    """VIES says no: the buyer is a consumer (German VAT through OSS here), and says why."""
    decided = await TreatmentService(Vies(valid=False)).decide(german_company(), EU_SELLER)
    assert isinstance(decided, Decided)
    assert decided.decision.treatment.value == "eu_distance_sale"
    assert any("VIES" in note for note in decided.decision.notes)


async def test_a_refusal_is_a_failure_code_of_the_contract() -> None:
    body = f.order("AMB")
    body["lines"][0]["scheme"] = "margin"  # a margin line beside ordinary ones: never mixed
    decided = await TreatmentService(Vies()).decide(order(body), EU_SELLER)
    assert isinstance(decided, Refused)
    assert decided.code is FailureCode.VAT_TREATMENT_MIXED


def big_order(price: str, *, flag: bool | None, currency: str = "PLN") -> Order:
    line = {
        "line_id": "L1",
        "name": "Silnik",
        "quantity": "1",
        "unit_price_gross": price,
        "vat_rate": "23",
    }
    if flag is not None:
        line["split_payment_goods"] = flag
    return order(f.order("MPP", company=True, lines=[line], shipping={}, currency=currency))


@pytest.mark.parametrize(
    ("price", "flag", "default", "currency", "due"),
    [
        ("15000.00", True, False, "PLN", False),  # not over the threshold
        ("15000.01", True, False, "PLN", True),
        ("16000.00", None, True, "PLN", True),  # the channel's default: Annex 15 goods
        ("16000.00", None, False, "PLN", False),
        ("16000.00", False, True, "PLN", False),  # the line says otherwise
    ],
)
def test_split_payment_over_15000_pln_with_annex_15_goods(
    price: str, flag: bool | None, default: bool, currency: str, due: bool
) -> None:
    profile = TaxProfile(split_payment_goods_default=default)
    assert split_payment_due(big_order(price, flag=flag, currency=currency), profile) is due


def test_the_stored_profile_merges_channel_defaults_over_the_seller() -> None:
    seller = stored({"intra_eu_registered": True, "vies_unavailable": "domestic"})
    assert seller == {"intra_eu_registered": True, "vies_unavailable": "domestic"}
    merged = tax_profile(seller, {"margin_scheme_default": True})
    assert merged == TaxProfile(
        intra_eu_registered=True,
        vies_unavailable=ViesPolicy.DOMESTIC,
        margin_scheme_default=True,
    )
    assert tax_profile({}, None) == TaxProfile()
    with pytest.raises(ValueError, match="oss_registred"):
        check_keys({"oss_registred": True}, ("oss_registered",))
