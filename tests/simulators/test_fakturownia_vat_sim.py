"""The Fakturownia simulator's VAT treatment fields (issue 13; fakturownia-api.md §2.1-§2.2):
OSS rates only on `use_oss` documents, `identify_oss` unmarking a domestic buyer, margin
positions without VAT and the NBP conversion of foreign-currency documents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment
from tests.simulators import support

TOKEN = "tok-vat"


@pytest.fixture
def sim() -> FakturowniaSimulator:
    simulator = FakturowniaSimulator()
    simulator.add_account(
        SimAccount(
            prefix="vat",
            api_token=TOKEN,
            departments=[SimDepartment(id=101, name="Sklep", tax_no="5252445767", main=True)],
        )
    )
    return simulator


def invoice(**overrides: Any) -> dict[str, Any]:
    return support.person_invoice(101, **overrides)


async def post(http: httpx.AsyncClient, body: dict[str, Any], **envelope: Any) -> httpx.Response:
    return await http.post(
        "/vat/invoices.json", json={"api_token": TOKEN, "invoice": body, **envelope}
    )


def positions(tax: str) -> list[dict[str, Any]]:
    return [{"name": "Alternator", "quantity": 1, "tax": tax, "total_price_gross": "120.00"}]


async def test_a_destination_rate_is_accepted_only_on_an_oss_document(http) -> None:
    refused = await post(http, invoice(positions=positions("20")))
    assert refused.status_code == 422
    assert "positions.tax" in refused.json()["message"]
    oss = await post(http, invoice(positions=positions("20"), use_oss=True, buyer_country="FR"))
    assert oss.status_code == 201, oss.text
    doc = oss.json()
    assert (doc["use_oss"], doc["positions"][0]["tax"]) == (True, "20")
    assert (doc["price_net"], doc["price_tax"]) == ("100.0", "20.0")


async def test_identify_oss_unmarks_a_buyer_in_the_sellers_country(http) -> None:
    body = invoice(positions=positions("23"), use_oss=True, buyer_country="PL")
    doc = (await post(http, body, identify_oss="1")).json()
    assert doc["use_oss"] is False
    body = invoice(positions=positions("20"), use_oss=True, buyer_country="FR")
    assert (await post(http, body, identify_oss="1")).json()["use_oss"] is True


async def test_margin_positions_carry_no_vat(http) -> None:
    doc = (await post(http, invoice(kind="vat_margin", positions=positions("disabled")))).json()
    assert (doc["kind"], doc["price_tax"], doc["price_gross"]) == ("vat_margin", "0.0", "120.0")


@pytest.mark.parametrize(
    ("sell_date", "rate", "day"),
    [("2025-09-22", "4.2666", "2025-09-19"), ("2025-09-23", "4.2645", "2025-09-22")],
)
async def test_nbp_conversion_uses_the_previous_business_days_table(
    http, sell_date: str, rate: str, day: str
) -> None:
    body = invoice(
        positions=positions("23"),
        currency="EUR",
        exchange_currency="PLN",
        exchange_kind="nbp",
        sell_date=sell_date,
    )
    doc = (await post(http, body)).json()
    assert (doc["exchange_rate"], doc["exchange_date"]) == (rate, day)
    assert "A/NBP/2025" in doc["exchange_note"]


async def test_a_day_outside_the_fixture_gets_no_rate_rather_than_a_guess(http) -> None:
    body = invoice(positions=positions("23"), currency="EUR", exchange_kind="nbp")
    doc = (await post(http, body)).json()
    assert doc["exchange_rate"] is None and doc["exchange_date"] is None
