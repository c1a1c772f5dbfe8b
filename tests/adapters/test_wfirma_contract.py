"""Contract tests of the wFirma adapter against the simulator over real HTTP.

Every test drives ``WfirmaProvider`` (and, where the contract spans it, ``issue_once``,
``deliver`` and ``issue_correction``) against a simulator served on a local port, then checks
what the simulator stored. No mocks: faults are injected into the simulator itself, and OAuth
runs the real consent redirect, code exchange and refresh against the simulator.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.wfirma import OAuthAuth, RateLimiter, WfirmaCompany, WfirmaProvider
from adapters.wfirma.oauth import OAuthApp, OAuthClient
from domain.corrections import LineState
from domain.ports import (
    Delivery,
    Department,
    ProviderAuthError,
    ProviderError,
    ProviderInDoubt,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderValidationError,
)
from schemas.common import VatRate
from schemas.invoices import (
    Clearance,
    DocumentKind,
    IssuedDocument,
    Provider,
    RateTotals,
    Totals,
)
from simulators.wfirma import FaultRule, RateLimits, SimLogin, WfirmaSimulator
from tests.adapters.support import (
    DEFAULT_TOTALS,
    NOW,
    POLICY,
    POLISH_TODAY,
    FakeClock,
    Sleeps,
    closed_port_url,
    dec,
    line,
    order_body,
    refund_data,
    serving,
)
from tests.adapters.wfirma_support import (
    ADD,
    CLIENT_ID,
    CLIENT_SECRET,
    COMPANY_ID,
    KEYS,
    KSEF_COMPANY_ID,
    KSEF_KEYS,
    KSEF_LOGIN,
    LOGIN,
    MULTI_KEYS,
    MULTI_LOGIN,
    NARROW_CLIENT_ID,
    REDIRECT_URI,
    SELLER_NIP,
    SERIES_ALLEGRO,
    SERIES_CORRECTIONS,
    SERIES_FISCAL,
    SERIES_RECEIPTS,
    SERIES_SHOP,
    SIM_NOW,
    WfirmaEnv,
    acme,
    api_keys,
    authorise,
    lines_of,
    logins,
    oauth_apps,
    wroute,
    wsale,
)
from workers.corrections import CorrectionRefused, issue_correction
from workers.issuing import Attempts, deliver, issue_once

pytest_plugins = ["tests.adapters.conftest_wfirma"]

BUYER = "Auto-Serwis Kowalski Sp. z o.o."
BRAKES, FILTER = {"amount_gross": "259.98"}, {"amount_gross": "35.50"}  # order lines L1, L2
KSEF_NUMBER = re.compile(rf"{SELLER_NIP}-20261121-[0-9A-F]{{12}}-[0-9A-F]{{2}}")


def contents(stored: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (c["name"], c["unit"], c["count"], c["price"], c["brutto"], c["vat"])
        for c in lines_of(stored)
    ]


async def _correct(
    provider: WfirmaProvider,
    body: dict[str, Any],
    refund_id: str,
    lines: list[dict[str, str]],
    shipping: str | None = None,
) -> IssuedDocument:
    data = refund_data(body, refund_id, lines, shipping, reason=f"Zwrot {refund_id}")
    return await issue_correction(provider, wroute(), data, POLICY, Attempts(), NOW)


# --- issuing -------------------------------------------------------------------------------


async def test_vat_invoice_for_a_company_in_the_mapped_series(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(wsale(order_body("B2B-1", company=True)))

    stored = wfirma.stored(doc.provider_document_id)
    assert (stored["type"], stored["fullnumber"], stored["series"]) == (
        "normal",
        "FV 1/11/2026",
        {"id": SERIES_SHOP},
    )
    assert (stored["id_external"], stored["price_type"], stored["currency"]) == (
        "shop:B2B-1",
        "brutto",
        "PLN",
    )
    assert (stored["date"], stored["disposaldate"], stored["disposaldate_format"]) == (
        "2026-11-21",
        "2026-11-20",
        "day",
    )
    assert (stored["paymentmethod"], stored["paymentdate"], stored["paymentstate"]) == (
        "payment_card",
        "2026-11-20",
        "paid",
    )
    assert (stored["alreadypaid_initial"], stored["remaining"]) == ("310.48", "0.00")
    assert stored["description"] == "Zamówienie NR/B2B-1"
    assert stored["auto_send"] == "0"  # e-mail goes through invoices/send, never auto_send
    detail = stored["contractor_detail"]
    assert (detail["name"], detail["tax_id_type"], detail["nip"]) == (BUYER, "nip", "5252445767")
    assert (detail["street"], detail["zip"], detail["city"], detail["country"]) == (
        "ul. Prosta 1",
        "00-001",
        "Warszawa",
        "PL",
    )
    assert detail["email"] == "buyer@example.test"
    assert contents(stored) == [
        ("Klocki hamulcowe (SKU: BRK-001)", "szt", "2.0000", "129.99", "259.98", "23"),
        ("Filtr oleju (SKU: FLT-002)", "szt", "1.0000", "35.50", "35.50", "23"),
        ("Dostawa", "usł", "1.0000", "15.00", "15.00", "23"),  # shipping as a line
    ]
    assert [c["vat_code"] for c in lines_of(stored)] == [{"id": "222"}] * 3
    assert (stored["netto"], stored["tax"], stored["total"]) == ("252.42", "58.06", "310.48")
    [add] = wfirma.calls("/invoices/add")
    assert (add.method, add.status, add.code, add.company_id) == ("POST", 200, "OK", COMPANY_ID)

    assert doc == IssuedDocument(
        kind=DocumentKind.INVOICE,
        provider=Provider.WFIRMA,
        provider_document_id=stored["id"],
        number="FV 1/11/2026",
        issue_date=POLISH_TODAY,
        currency="PLN",
        totals=DEFAULT_TOTALS,
        vat_treatment="domestic",
        rate_totals=[RateTotals(rate="23", **DEFAULT_TOTALS.model_dump())],
    )
    assert (doc.view_url, doc.pdf_url, doc.clearance, doc.corrected_document_id) == (
        None,
        None,
        None,
        None,
    )


async def test_another_series_numbers_the_channel_invoices(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(wsale(order_body("AL-1"), target=SERIES_ALLEGRO))
    assert doc.number == "FV/AL/1/2026"
    assert wfirma.stored(doc.provider_document_id)["series"] == {"id": SERIES_ALLEGRO}


@pytest.mark.parametrize(
    ("tax_id", "tax_id_type", "stored_nip"),
    [
        ("5252445767", "nip", "5252445767"),
        ("PL 525-244-57-67", "nip", "5252445767"),
        ("DE136695976", "vat", "DE136695976"),
        ("US123456789", "custom", "US123456789"),
    ],
)
async def test_buyer_tax_id_type(
    wfirma: WfirmaEnv, tax_id: str, tax_id_type: str, stored_nip: str
) -> None:
    doc = await wfirma.provider().issue(wsale(order_body("TAX-1", company=True, tax_id=tax_id)))
    detail = wfirma.stored(doc.provider_document_id)["contractor_detail"]
    assert (detail["tax_id_type"], detail["nip"]) == (tax_id_type, stored_nip)


async def test_private_buyer_on_an_invoice_has_no_tax_id(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(wsale(order_body("B2C-INV", wants_invoice=True)))
    detail = wfirma.stored(doc.provider_document_id)["contractor_detail"]
    assert (detail["name"], detail["tax_id_type"], detail["nip"]) == ("Jan Nowak", "none", "")


@pytest.mark.parametrize(
    ("given", "country", "stored"),
    [("00001", "PL", "00-001"), ("00 001", "PL", "00-001"), ("10115", "DE", "10115")],
)
async def test_polish_postal_codes_are_normalised(
    wfirma: WfirmaEnv, given: str, country: str, stored: str
) -> None:
    body = order_body("ZIP-1", company=True)
    body["buyer"]["address"] |= {"postal_code": given, "country": country}
    doc = await wfirma.provider().issue(wsale(body))
    detail = wfirma.stored(doc.provider_document_id)["contractor_detail"]
    assert (detail["zip"], detail["country"]) == (stored, country)


async def test_receipt_is_a_non_fiscal_sales_document_by_default(wfirma: WfirmaEnv) -> None:
    request = wsale(order_body("RCP-1"), DocumentKind.RECEIPT)
    doc = await wfirma.provider().issue(request)

    stored = wfirma.stored(doc.provider_document_id)
    assert (stored["type"], stored["fullnumber"], stored["series"]) == (
        "receipt_normal",
        "DS/1/2026",
        {"id": SERIES_RECEIPTS},  # the type's default series: the mapping targets invoices
    )
    assert stored["contractor_detail"]["name"] == "Jan Nowak"
    assert stored["description"] == "Zamówienie NR/RCP-1"
    assert (doc.kind, doc.number, doc.totals) == (DocumentKind.RECEIPT, "DS/1/2026", DEFAULT_TOTALS)


async def test_fiscal_receipt_and_receipt_series_come_from_the_connection_options(
    wfirma: WfirmaEnv,
) -> None:
    options = {"receipt_type": "receipt_fiscal_normal", "receipt_series": SERIES_FISCAL}
    doc = await wfirma.provider(options=options).issue(
        wsale(order_body("RCP-2"), DocumentKind.RECEIPT)
    )
    stored = wfirma.stored(doc.provider_document_id)
    assert (stored["type"], stored["fullnumber"], stored["series"]) == (
        "receipt_fiscal_normal",
        "PAR 1/2026",
        {"id": SERIES_FISCAL},
    )
    assert stored["description"] == ""  # fiscal receipts take no description
    assert doc.kind is DocumentKind.RECEIPT


async def test_receipt_without_an_address_goes_without_a_buyer(wfirma: WfirmaEnv) -> None:
    body = order_body("RCP-3")
    del body["buyer"]["address"]
    doc = await wfirma.provider().issue(wsale(body, DocumentKind.RECEIPT))
    stored = wfirma.stored(doc.provider_document_id)
    assert stored["contractor"] == {"id": "0"}
    assert stored["contractor_detail"]["name"] == ""
    assert wfirma.sim.contractors(LOGIN) == []


def test_invalid_options_are_refused_when_the_provider_is_built() -> None:
    with pytest.raises(ValueError, match="receipt_type"):
        WfirmaProvider(
            base_url="http://127.0.0.1:9",
            auth=api_keys(),
            company_id=COMPANY_ID,
            options={"receipt_type": "receipt"},
        )
    with pytest.raises(ValueError, match="contractor"):
        WfirmaProvider(
            base_url="http://127.0.0.1:9",
            auth=api_keys(),
            company_id=COMPANY_ID,
            options={"contractor": "by_email"},
        )


async def test_lines_carry_vat_codes_gtu_and_units(wfirma: WfirmaEnv) -> None:
    body = order_body(
        "VAT-1",
        company=True,
        lines=[
            line("A", "Olej silnikowy", "1", "123.00", "23", sku="OIL-1", gtu="GTU_02"),
            line("B", "Książka", "2", "10.80", "8"),
            line("C", "Chleb", "1", "10.50", "5"),
            line("D", "Eksport", "1", "50.00", "0"),
            line("E", "Szkolenie", "1", "40.00", "zw", unit="usł"),
            line("F", "Usługa za granicą", "1.5", "40.00", "np", unit="h"),
            line("G", "Złom", "3", "20.00", "oo", unit="kg"),
        ],
        shipping={"name": "Kurier", "price_gross": "12.30", "vat_rate": "23"},
    )
    doc = await wfirma.provider().issue(wsale(body))

    stored = wfirma.stored(doc.provider_document_id)
    got = [
        (c["name"], c["vat"], c["vat_code"]["id"], c["count"], c["unit"], c["gtu"])
        for c in lines_of(stored)
    ]
    assert got == [
        ("Olej silnikowy (SKU: OIL-1)", "23", "222", "1.0000", "szt", "GTU_02"),
        ("Książka", "8", "223", "2.0000", "szt", ""),
        ("Chleb", "5", "224", "1.0000", "szt", ""),
        ("Eksport", "0", "225", "1.0000", "szt", ""),
        ("Szkolenie", "ZW", "226", "1.0000", "usł", ""),
        ("Usługa za granicą", "NP", "227", "1.5000", "h", ""),
        ("Złom", "VAT_BUYER", "231", "3.0000", "kg", ""),
        ("Kurier", "23", "222", "1.0000", "usł", ""),
    ]
    # 23 %: 135.30 -> 110.00 + 25.30; 8 %: 21.60 -> 20.00 + 1.60; 5 %: 10.50 -> 10.00 + 0.50
    assert doc.totals == Totals(
        net=Decimal("350.00"), vat=Decimal("27.40"), gross=Decimal("377.40")
    )
    groups = {v["vat_content"]["vat_code"]["id"] for v in stored["vat_contents"].values()}
    assert groups == {"222", "223", "224", "225", "226", "227", "231"}


async def test_fractional_quantities_keep_the_line_totals_exact(wfirma: WfirmaEnv) -> None:
    body = order_body(
        "FRAC-1",
        lines=[
            line("A", "Ser", "0.333", "10.00", "5", unit="kg"),
            line("B", "Kawa", "1.005", "0.01", "23"),
            line("C", "Sznurek", "2.5", "3.99", "23", unit="m"),
        ],
        shipping={},
    )
    doc = await wfirma.provider().issue(wsale(body))
    stored = wfirma.stored(doc.provider_document_id)
    assert contents(stored) == [
        ("Ser", "kg", "0.3330", "10.00", "3.33", "5"),
        ("Kawa", "szt", "1.0050", "0.01", "0.01", "23"),
        ("Sznurek", "m", "2.5000", "3.99", "9.98", "23"),
    ]
    assert doc.totals.gross == Decimal("13.32") == dec(stored["total"])


async def test_unpaid_cash_on_delivery_is_due_after_the_payment_days(wfirma: WfirmaEnv) -> None:
    body = order_body("COD-1")
    body["payment"] = {"method": "cash_on_delivery", "paid_amount": "0.00"}
    doc = await wfirma.provider(options={"payment_days": 14}).issue(
        wsale(body, DocumentKind.RECEIPT)
    )
    stored = wfirma.stored(doc.provider_document_id)
    assert (stored["paymentmethod"], stored["paymentdate"], stored["paymentstate"]) == (
        "cod",
        "2026-12-05",
        "unpaid",
    )
    assert (stored["alreadypaid_initial"], stored["remaining"]) == ("0.00", "310.48")


async def test_partly_paid_transfer_is_due_after_seven_days_by_default(wfirma: WfirmaEnv) -> None:
    body = order_body("PART-1")
    body["payment"] |= {"method": "blik", "paid_amount": "100.00"}
    doc = await wfirma.provider().issue(wsale(body))
    stored = wfirma.stored(doc.provider_document_id)
    assert (stored["paymentmethod"], stored["paymentdate"], stored["alreadypaid_initial"]) == (
        "transfer",
        "2026-11-28",
        "100.00",
    )


async def test_foreign_currency_is_carried(wfirma: WfirmaEnv) -> None:
    doc = await wfirma.provider().issue(wsale(order_body("EUR-1", currency="EUR")))
    assert wfirma.stored(doc.provider_document_id)["currency"] == "EUR"
    assert (doc.currency, doc.totals) == ("EUR", DEFAULT_TOTALS)


async def test_contractor_found_by_nip_is_reused(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(options={"contractor": "find_by_nip"})
    first = await provider.issue(wsale(order_body("NIP-1", company=True)))
    second = await provider.issue(wsale(order_body("NIP-2", company=True)))
    [contractor] = wfirma.sim.contractors(LOGIN)  # created once, by the first (inline) buyer
    ids = {wfirma.stored(d.provider_document_id)["contractor"]["id"] for d in (first, second)}
    assert ids == {contractor["id"]}

    inline = await wfirma.provider().issue(wsale(order_body("NIP-3", company=True)))
    assert len(wfirma.sim.contractors(LOGIN)) == 2  # inline (the default) adds a record
    assert wfirma.stored(inline.provider_document_id)["contractor"]["id"] != contractor["id"]


# --- lists, series, companies --------------------------------------------------------------


async def test_series_are_the_departments_a_channel_maps_to(wfirma: WfirmaEnv) -> None:
    departments = await wfirma.provider().list_departments()
    assert departments[0] == Department(
        id=SERIES_SHOP,
        name="Sklep",
        extra={"template": "FV [numer]/[miesiąc]/[rok]", "type": "normal"},
    )
    assert [(d.id, d.name, d.extra["type"]) for d in departments] == [
        (SERIES_SHOP, "Sklep", "normal"),
        (SERIES_CORRECTIONS, "Korekty", "correction"),
        (SERIES_RECEIPTS, "Dowody sprzedaży", "receipt_normal"),
        (SERIES_FISCAL, "Paragony", "receipt_fiscal_normal"),
        (SERIES_ALLEGRO, "Allegro", "normal"),
    ]


async def test_verify_lists_the_companies_without_needing_a_company_id(
    wfirma: WfirmaEnv,
) -> None:
    assert await wfirma.provider().verify() == [WfirmaCompany("1001", "Acme Sklep", SELLER_NIP)]
    multi = wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=2001)
    companies = await multi.verify()
    # the panel's selected company (2002) comes first: never pick "the first"
    assert [c.id for c in companies] == ["2002", "2001", "2003"]
    assert [c.name for c in await multi.list_companies()][:2] == ["Multi Detal", "Multi Hurt"]
    listings = wfirma.calls("/user_companies/find", MULTI_LOGIN)
    assert listings and all(r.company_id is None for r in listings)  # user-scoped
    assert wfirma.calls("/companies/find", MULTI_LOGIN) == []


async def test_verify_lists_every_company_of_the_login_not_only_the_selected_one(
    wfirma: WfirmaEnv,
) -> None:
    """Issue 10 / audit W8: the login's companies come from `user_companies/find` (named by
    wFirma's `COMPANY ID REQUIRED` description); `companies` describes only the company a
    call runs for, so listing through it would refuse a valid company id of the login."""
    [_, multi, _] = logins()
    multi.company_id_required = False  # calls without company_id land in the panel's choice
    wfirma.sim.add_login(multi)
    provider = wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=2001)
    companies = await provider.verify()
    assert sorted(c.id for c in companies) == ["2001", "2002", "2003"]
    assert WfirmaCompany("2001", "Multi Hurt", SELLER_NIP) in companies
    with pytest.raises(ProviderAuthError, match="several companies"):
        await wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=None).verify()


async def test_verify_refuses_a_missing_or_foreign_company_id(wfirma: WfirmaEnv) -> None:
    with pytest.raises(ProviderAuthError) as missing:
        await wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=None).verify()
    assert "set the company id to one of 2002 (Multi Detal), 2001 (Multi Hurt)" in str(
        missing.value
    )
    with pytest.raises(ProviderAuthError, match="company id 1001 is not one of"):
        await wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=1001).verify()


async def test_company_id_is_required_with_several_companies(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=None)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.issue(wsale(order_body("MC-1")))
    assert "set the connection's company id" in str(caught.value)
    assert "COMPANY ID REQUIRED" in (caught.value.detail or "")
    assert caught.value.retryable is False
    assert wfirma.invoices(MULTI_LOGIN, 2001) == wfirma.invoices(MULTI_LOGIN, 2002) == []

    pinned = wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=2001)
    doc = await pinned.issue(wsale(order_body("MC-1")))
    [stored] = wfirma.invoices(MULTI_LOGIN, 2001)
    assert stored["id"] == doc.provider_document_id
    assert wfirma.invoices(MULTI_LOGIN, 2002) == []  # not the panel's selected company
    assert {r.company_id for r in wfirma.calls("/invoices/add", MULTI_LOGIN)} == {None, 2001}


async def test_read_only_company_is_an_access_denied_auth_error(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(auth=api_keys(MULTI_KEYS), company_id=2003)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.issue(wsale(order_body("RO-1")))
    assert "may not add invoices in this company (ACCESS DENIED)" in str(caught.value)
    assert wfirma.invoices(MULTI_LOGIN, 2003) == []


# --- lookup by id_external -----------------------------------------------------------------


async def test_find_returns_the_document_with_exactly_this_id_external(
    wfirma: WfirmaEnv,
) -> None:
    provider = wfirma.provider()
    first = await provider.issue(wsale(order_body("O-1")))
    tenth = await provider.issue(wsale(order_body("O-10")))
    assert await provider.find(wsale(order_body("O-1"))) == first
    assert await provider.find(wsale(order_body("O-10"))) == tenth
    assert await provider.find(wsale(order_body("NOPE"))) is None
    [*_, lookup] = wfirma.calls("/invoices/find")
    assert (lookup.code, lookup.company_id) == ("OK", COMPANY_ID)


async def test_find_rechecks_the_document_type(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    receipt = await provider.issue(wsale(order_body("O-2"), DocumentKind.RECEIPT))
    assert await provider.find(wsale(order_body("O-2"), DocumentKind.INVOICE)) is None
    assert await provider.find(wsale(order_body("O-2"), DocumentKind.RECEIPT)) == receipt
    # a receipt issued while the connection used the other receipt type is found too
    fiscal = wfirma.provider(options={"receipt_type": "receipt_fiscal_normal"})
    assert await fiscal.find(wsale(order_body("O-2"), DocumentKind.RECEIPT)) == receipt


async def test_find_with_two_documents_for_one_key_reports_the_oldest(
    wfirma: WfirmaEnv,
) -> None:
    provider = wfirma.provider()
    request = wsale(order_body("TWICE-1"))
    first = await provider.issue(request)
    await provider.issue(request)  # wFirma does not enforce id_external uniqueness
    assert len(wfirma.invoices()) == 2
    assert await provider.find(request) == first


# --- corrections ---------------------------------------------------------------------------


async def test_partial_refunds_correct_the_latest_line_versions(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    body = order_body("R-1", company=True)
    original = await provider.issue(wsale(body))
    [brake, _, _] = lines_of(wfirma.stored(original.provider_document_id))
    refund = {"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}

    first = await _correct(provider, body, "RF1", [refund])
    stored = wfirma.stored(first.provider_document_id)
    assert (stored["type"], stored["parent"], stored["fullnumber"]) == (
        "correction",
        {"id": original.provider_document_id},
        "FK 1/2026",
    )
    assert (stored["id_external"], stored["description"]) == ("shop:R-1:refund:RF1", "Zwrot RF1")
    # the buyer block of the documented example: the original's own contractor (issue 10)
    assert stored["contractor"] == wfirma.stored(original.provider_document_id)["contractor"]
    assert stored["contractor_detail"]["nip"] == "5252445767"
    # the other lines of the 23 % group are restated unchanged (issue 13 item 5)
    [corrected] = [c for c in lines_of(stored) if c["parent_id"] == brake["id"]]
    assert len(lines_of(stored)) == 3
    assert (corrected["name"], corrected["count"], corrected["price"], corrected["brutto"]) == (
        "Klocki hamulcowe (SKU: BRK-001)",
        "1.0000",
        "129.99",
        "129.99",
    )
    assert first == IssuedDocument(
        kind=DocumentKind.CORRECTION,
        provider=Provider.WFIRMA,
        provider_document_id=stored["id"],
        number="FK 1/2026",
        issue_date=POLISH_TODAY,
        currency="PLN",
        # the group's VAT before (310.48) and after (180.49): as Fakturownia's correction
        totals=Totals(net=Decimal("-105.68"), vat=Decimal("-24.31"), gross=Decimal("-129.99")),
        corrected_document_id=original.provider_document_id,
        vat_treatment="domestic",
        rate_totals=[RateTotals(rate="23", net="-105.68", vat="-24.31", gross="-129.99")],
    )

    # the second refund of the same line starts from the corrected state and points at the
    # first correction's line, not at the original's
    second = await _correct(provider, body, "RF2", [refund])
    [again] = [
        c
        for c in lines_of(wfirma.stored(second.provider_document_id))
        if c["parent_id"] == corrected["id"]
    ]
    assert (again["parent_id"], again["count"], again["brutto"]) == (
        corrected["id"],
        "0.0000",
        "0.00",
    )
    assert second.totals.gross == Decimal("-129.99")
    assert wfirma.stored(original.provider_document_id)["total_composed"] == "50.50"

    current = await provider.current_lines(original.provider_document_id)
    assert [(s.key, s.quantity, s.gross) for s in current] == [
        ("sku:BRK-001", Decimal(0), Decimal("0.00")),
        ("sku:FLT-002", Decimal(1), Decimal("35.50")),
        ("name:Dostawa", Decimal(1), Decimal("15.00")),
    ]
    assert current[0] == LineState(
        key="sku:BRK-001",
        name="Klocki hamulcowe",
        unit="szt",
        vat_rate=VatRate.R23,
        quantity=Decimal(0),
        gross=Decimal(0),
        sku="BRK-001",
    )

    with pytest.raises(CorrectionRefused) as caught:  # nothing of that line is left
        await _correct(provider, body, "RF3", [refund])
    assert "exceeds what the document still holds" in str(caught.value)
    assert len(wfirma.invoices()) == 3


async def test_corrections_are_looked_up_by_parent_id(wfirma: WfirmaEnv) -> None:
    """Issue 10 / audit W15: the documented condition field is `parent_id` (invoices_correction
    "Pola"); `parent` is only the answer's relation branch and the simulator refuses it."""
    provider = wfirma.provider()
    first_body, second_body = order_body("P-1", company=True), order_body("P-2", company=True)
    first = await provider.issue(wsale(first_body))
    second = await provider.issue(wsale(second_body))
    await _correct(provider, first_body, "A", [{"line_id": "L2", "quantity": "1", **FILTER}])
    await _correct(provider, second_body, "B", [{"line_id": "L1", "quantity": "2", **BRAKES}])

    current = await provider.current_lines(first.provider_document_id)
    other = await provider.current_lines(second.provider_document_id)
    assert [s.quantity for s in current] == [Decimal(2), Decimal(0), Decimal(1)]
    assert [s.quantity for s in other] == [Decimal(0), Decimal(1), Decimal(1)]
    assert {r.code for r in wfirma.calls("/invoices/find")} == {"OK"}


async def test_correction_of_a_receipt_without_a_buyer_names_none(wfirma: WfirmaEnv) -> None:
    """Only a document that never had a buyer is corrected without a `contractor` block."""
    provider = wfirma.provider()
    body = order_body("RCP-9")
    del body["buyer"]["address"]
    receipt = await provider.issue(wsale(body, DocumentKind.RECEIPT))
    correction = await _correct(provider, body, "R", [{"line_id": "L2", "quantity": "1", **FILTER}])
    stored = wfirma.stored(correction.provider_document_id)
    assert (stored["parent"], stored["contractor"]) == (
        {"id": receipt.provider_document_id},
        {"id": "0"},
    )


async def test_redelivered_refund_returns_the_existing_correction(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    body = order_body("R-2", company=True)
    await provider.issue(wsale(body))
    refund = [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}]
    first = await _correct(provider, body, "RF1", refund)
    assert await _correct(provider, body, "RF1", refund) == first
    assert len(wfirma.calls("/invoices/add")) == 2


async def test_full_refund_with_shipping_zeroes_every_line(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(options={"correction_series": SERIES_CORRECTIONS})
    body = order_body("R-3", company=True)
    original = await provider.issue(wsale(body))
    refund = [
        {"line_id": "L1", "quantity": "2", "amount_gross": "259.98"},
        {"line_id": "L2", "quantity": "1", "amount_gross": "35.50"},
    ]
    correction = await _correct(provider, body, "ALL", refund, shipping="15.00")
    stored = wfirma.stored(correction.provider_document_id)
    assert stored["series"] == {"id": SERIES_CORRECTIONS}
    assert contents(stored) == [
        ("Klocki hamulcowe (SKU: BRK-001)", "szt", "0.0000", "0.00", "0.00", "23"),
        ("Filtr oleju (SKU: FLT-002)", "szt", "0.0000", "0.00", "0.00", "23"),
        ("Dostawa", "usł", "0.0000", "0.00", "0.00", "23"),
    ]
    assert correction.totals == Totals(
        net=-DEFAULT_TOTALS.net, vat=-DEFAULT_TOTALS.vat, gross=-DEFAULT_TOTALS.gross
    )
    assert wfirma.stored(original.provider_document_id)["total_composed"] == "0.00"


async def test_partial_shipping_and_money_only_refunds(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    body = order_body("R-4", company=True)
    await provider.issue(wsale(body))
    # 10.00 back on the brakes without a return, 5.00 of the shipping
    refund = [{"line_id": "L1", "quantity": "0", "amount_gross": "10.00"}]
    correction = await _correct(provider, body, "DISC", refund, shipping="5.00")
    assert contents(wfirma.stored(correction.provider_document_id)) == [
        ("Klocki hamulcowe (SKU: BRK-001)", "szt", "2.0000", "124.99", "249.98", "23"),
        ("Filtr oleju (SKU: FLT-002)", "szt", "1.0000", "35.50", "35.50", "23"),  # unchanged
        ("Dostawa", "usł", "1.0000", "10.00", "10.00", "23"),
    ]
    assert correction.totals.gross == Decimal("-15.00")


async def test_a_remainder_without_a_price_to_the_grosz_is_priced_to_four_decimals(
    wfirma: WfirmaEnv,
) -> None:
    provider = wfirma.provider()
    body = order_body("R-5", lines=[line("L1", "Klips", "3", "10.00", "23")], shipping={})
    original = await provider.issue(wsale(body, DocumentKind.RECEIPT))
    # one clip returned for 9.99: 2 clips worth 20.01 remain, 10.005 each
    correction = await _correct(
        provider, body, "ODD", [{"line_id": "L1", "quantity": "1", "amount_gross": "9.99"}]
    )
    [corrected] = lines_of(wfirma.stored(correction.provider_document_id))
    assert (corrected["count"], corrected["brutto"]) == ("2.0000", "20.01")
    assert correction.totals.gross == Decimal("-9.99")
    [state] = await provider.current_lines(original.provider_document_id)
    assert (state.key, state.quantity, state.gross) == ("name:Klips", Decimal(2), Decimal("20.01"))


async def test_one_sku_on_two_lines_is_corrected_across_both(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    body = order_body(
        "R-6",
        company=True,
        lines=[
            line("L1", "Kabel", "2", "10.00", "23", sku="CAB"),
            line("L2", "Kabel", "1", "25.00", "23", sku="CAB"),
        ],
        shipping={},
    )
    original = await provider.issue(wsale(body))
    first, second = lines_of(wfirma.stored(original.provider_document_id))
    [held] = await provider.current_lines(original.provider_document_id)
    assert (held.key, held.quantity, held.gross) == ("sku:CAB", Decimal(3), Decimal("45.00"))

    # the one 25.00 cable comes back: the last line of the key gives it up whole
    refund = [{"line_id": "L2", "quantity": "1", "amount_gross": "25.00"}]
    correction = await _correct(provider, body, "CAB1", refund)
    [changed] = lines_of(wfirma.stored(correction.provider_document_id))
    assert (changed["parent_id"], changed["count"], changed["brutto"]) == (
        second["id"],
        "0.0000",
        "0.00",
    )
    # then 5.00 without a return: the value moves on the line that still holds items
    refund = [{"line_id": "L1", "quantity": "0", "amount_gross": "5.00"}]
    correction = await _correct(provider, body, "CAB2", refund)
    [changed] = lines_of(wfirma.stored(correction.provider_document_id))
    assert (changed["parent_id"], changed["count"], changed["brutto"]) == (
        first["id"],
        "2.0000",
        "15.00",
    )
    [held] = await provider.current_lines(original.provider_document_id)
    assert (held.quantity, held.gross) == (Decimal(2), Decimal("15.00"))


async def test_refund_before_the_sale_is_issued_is_refused(wfirma: WfirmaEnv) -> None:
    body = order_body("R-7", company=True)
    with pytest.raises(CorrectionRefused) as caught:
        await _correct(
            wfirma.provider(),
            body,
            "EARLY",
            [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}],
        )
    assert "has no sales document at the provider yet" in str(caught.value)
    assert wfirma.invoices() == []


# --- e-mail and PDF ------------------------------------------------------------------------


async def test_send_to_buyer_queues_an_email_to_the_buyer(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    request = wsale(order_body("MAIL-1", company=True))
    issued = await deliver(
        provider, await issue_once(provider, request, POLICY, Attempts()), request
    )
    assert issued.sent_to_buyer is True
    [email] = wfirma.sim.sent_emails(LOGIN)
    assert (email.invoice_id, email.fullnumber, email.to, email.page) == (
        int(issued.provider_document_id),
        "FV 1/11/2026",
        "buyer@example.test",
        "invoice",
    )
    delivery = await provider.send_to_buyer(issued.provider_document_id)
    assert delivery == Delivery(
        sent=True, message="Dokument FV 1/11/2026 został zlecony do wysyłki."
    )
    assert len(wfirma.sim.sent_emails(LOGIN)) == 2  # not idempotent: a second e-mail


async def test_refused_emails_are_deliveries_not_errors(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(options={"receipt_type": "receipt_fiscal_normal"})
    fiscal = await provider.issue(wsale(order_body("MAIL-2"), DocumentKind.RECEIPT))
    assert await provider.send_to_buyer(fiscal.provider_document_id) == Delivery(
        sent=False,
        message="Nie można zlecić automatycznej wysyłki emaila z dokumentem danego typu.",
    )
    body = order_body("MAIL-3")
    del body["buyer"]["address"]  # a receipt without an address has no buyer, so no e-mail
    buyerless = await wfirma.provider().issue(wsale(body, DocumentKind.RECEIPT))
    assert await provider.send_to_buyer(buyerless.provider_document_id) == Delivery(
        sent=False, message="Brak adresu e-mail odbiorcy."
    )
    assert wfirma.sim.sent_emails(LOGIN) == []


async def test_download_returns_the_pdf_bytes(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    doc = await provider.issue(wsale(order_body("PDF-1", company=True)))
    pdf = await provider.download_pdf(doc.provider_document_id)
    assert pdf.startswith(b"%PDF-")
    assert b"Faktura FV 1/11/2026" in pdf
    assert b"Razem brutto: 310.48 PLN" in pdf


# --- KSeF ----------------------------------------------------------------------------------


async def test_ksef_number_and_status_appear_a_moment_after_creation(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(auth=api_keys(KSEF_KEYS), company_id=KSEF_COMPANY_ID)
    request = wsale(order_body("KSEF-1", company=True))
    doc = await provider.issue(request)
    assert doc.clearance is None  # KSeF has not processed it yet: nothing to report
    pending = await provider.download_pdf(doc.provider_document_id)
    assert b"Potwierdzenie transakcji" in pending and b"FV 1/11/2026" not in pending

    wfirma.sim.advance(2.5)
    now = await provider.get(doc.provider_document_id)
    assert now.clearance is not None
    assert (now.clearance.status, now.clearance.errors) == ("ok", [])
    assert KSEF_NUMBER.fullmatch(now.clearance.number or "")
    stored = wfirma.stored(doc.provider_document_id, KSEF_LOGIN)
    assert now.clearance == Clearance(status="ok", number=stored["ksef_reference_number"])
    assert await provider.find(request) == now
    assert b"Faktura FV 1/11/2026" in await provider.download_pdf(doc.provider_document_id)


async def test_receipts_are_not_applicable_to_ksef(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(auth=api_keys(KSEF_KEYS), company_id=KSEF_COMPANY_ID)
    doc = await provider.issue(wsale(order_body("KSEF-2"), DocumentKind.RECEIPT))
    wfirma.sim.complete_ksef(KSEF_LOGIN)
    stored = wfirma.stored(doc.provider_document_id, KSEF_LOGIN)
    assert (stored["ksef_status"], stored["ksef_reference_number"]) == ("", "")  # as wFirma
    assert doc.clearance == Clearance(status="not_applicable")
    assert (await provider.get(doc.provider_document_id)).clearance == doc.clearance


async def test_ksef_correction_is_cleared_too(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(auth=api_keys(KSEF_KEYS), company_id=KSEF_COMPANY_ID)
    body = order_body("KSEF-3", company=True)
    await provider.issue(wsale(body))
    refund = [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}]
    correction = await _correct(provider, body, "K1", refund)
    assert correction.clearance is None
    wfirma.sim.complete_ksef(KSEF_LOGIN)
    cleared = await provider.get(correction.provider_document_id)
    assert cleared.clearance is not None and cleared.clearance.status == "ok"
    assert KSEF_NUMBER.fullmatch(cleared.clearance.number or "")


async def test_missing_ksef_authorisation_is_a_refusal_with_the_message(
    wfirma: WfirmaEnv,
) -> None:
    login = wfirma.sim.login(KSEF_LOGIN)
    login.companies[0].ksef_authorized = False
    wfirma.sim.add_login(login)
    provider = wfirma.provider(auth=api_keys(KSEF_KEYS), company_id=KSEF_COMPANY_ID)
    with pytest.raises(ProviderValidationError) as caught:
        await provider.issue(wsale(order_body("KSEF-4", company=True)))
    assert "Brak autoryzacji w KSeF 2.0" in str(caught.value)
    assert caught.value.fields == {}
    assert wfirma.invoices(KSEF_LOGIN) == []


# --- validation ----------------------------------------------------------------------------


async def test_buyer_field_errors_are_named_on_the_contractor(wfirma: WfirmaEnv) -> None:
    body = order_body("VAL-1", company=True)
    body["buyer"]["address"]["postal_code"] = "123"
    body["buyer"]["email"] = "buyer@nodot"
    with pytest.raises(ProviderValidationError) as caught:
        await wfirma.provider().issue(wsale(body))
    assert caught.value.fields == {
        "invoice.contractor.zip": ["zip: Niepoprawny format kodu pocztowego."],
        "invoice.contractor.email": ["Nieprawidłowy adres e-mail."],
    }
    assert "the buyer's postal code (invoice.contractor.zip)" in str(caught.value)
    assert caught.value.retryable is False
    assert wfirma.invoices() == []


async def test_an_invoice_needs_the_buyer_address(wfirma: WfirmaEnv) -> None:
    body = order_body("VAL-2", company=True)
    del body["buyer"]["address"]
    with pytest.raises(ProviderValidationError) as caught:
        await wfirma.provider().issue(wsale(body))
    assert set(caught.value.fields) == {
        "invoice.contractor.street",
        "invoice.contractor.zip",
        "invoice.contractor.city",
    }
    assert caught.value.fields["invoice.contractor.city"] == ["Pole nie może być puste"]


async def test_line_errors_are_named_by_position(wfirma: WfirmaEnv) -> None:
    request = wsale(order_body("VAL-3"))
    *goods, shipping = request.lines
    request = replace(request, lines=(*goods, replace(shipping, name="")))
    with pytest.raises(ProviderValidationError) as caught:
        await wfirma.provider().issue(request)
    assert caught.value.fields == {"invoicecontents.2.name": ["Treść nie moze być pusta"]}
    assert "a line's name (invoicecontents.2.name)" in str(caught.value)


async def test_an_unpriceable_line_is_refused_before_sending(wfirma: WfirmaEnv) -> None:
    request = wsale(order_body("VAL-4"))
    huge = replace(request.lines[0], quantity=Decimal("123456.7891"), total_gross=Decimal("1.01"))
    with pytest.raises(ProviderValidationError) as caught:
        await wfirma.provider().issue(replace(request, lines=(huge,)))
    assert set(caught.value.fields) == {"invoicecontents.0.price"}
    assert wfirma.calls("/invoices/add") == []


# --- not found -----------------------------------------------------------------------------


async def test_unknown_document_is_not_found(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    for call in (
        provider.get,
        provider.send_to_buyer,
        provider.download_pdf,
        provider.current_lines,
    ):
        with pytest.raises(ProviderNotFound) as caught:
            await call("987654321")
        assert "NOT FOUND" in (caught.value.detail or "")


# --- auth: API keys ------------------------------------------------------------------------


async def test_wrong_api_keys_are_an_auth_error_and_nothing_is_created(
    wfirma: WfirmaEnv,
) -> None:
    provider = wfirma.provider(auth=api_keys(replace(KEYS, secret_key="wrong")))
    with pytest.raises(ProviderAuthError) as caught:
        await provider.issue(wsale(order_body("AUTH-1")))
    assert "reconnect the wFirma account" in str(caught.value)
    assert "wrong" not in str(caught.value) and "wrong" not in (caught.value.detail or "")
    assert wfirma.invoices() == []
    assert [r.code for r in wfirma.calls("/invoices/add")] == ["AUTH"]  # keys cannot refresh


async def test_repeated_failed_logins_lock_the_keys(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(auth=api_keys(replace(KEYS, secret_key="wrong")))
    for _ in range(5):
        with pytest.raises(ProviderAuthError, match="reconnect"):
            await provider.list_departments()
    with pytest.raises(ProviderAuthError) as caught:
        await wfirma.provider().list_departments()  # even the right keys, for 5 minutes
    assert "blocked this login for 5 minutes" in str(caught.value)
    assert "AUTH FAILED LIMIT WAIT 5 MINUTES" in (caught.value.detail or "")


# --- auth: OAuth 2.0 -----------------------------------------------------------------------


async def test_oauth_connection_issues_and_lists_with_a_bearer_token(wfirma: WfirmaEnv) -> None:
    provider, tokens = await wfirma.oauth_provider()
    assert tokens.expires_in == 900  # read from the answer, never assumed
    doc = await provider.issue(wsale(order_body("OA-1", company=True)))
    assert [d.id for d in await provider.list_departments()][:1] == [SERIES_SHOP]
    assert await provider.find(wsale(order_body("OA-1", company=True))) == doc
    assert tokens.refreshes == 0
    assert [t.grant_type for t in wfirma.sim.token_requests()] == ["authorization_code"]


async def test_expired_token_is_refreshed_once_and_the_create_repeated(
    wfirma: WfirmaEnv,
) -> None:
    provider, tokens = await wfirma.oauth_provider()
    old = tokens.access
    wfirma.sim.advance(901)  # past expires_in
    doc = await provider.issue(wsale(order_body("OA-2")))
    assert tokens.refreshes == 1 and tokens.access != old
    assert [(t.grant_type, t.error) for t in wfirma.sim.token_requests()] == [
        ("authorization_code", None),
        ("refresh_token", None),
    ]
    assert [r.code for r in wfirma.calls("/invoices/add")] == ["AUTH", "OK"]
    [stored] = wfirma.invoices()
    assert stored["id"] == doc.provider_document_id


async def test_auth_again_after_the_refresh_is_an_auth_error(wfirma: WfirmaEnv) -> None:
    provider, tokens = await wfirma.oauth_provider()
    wfirma.sim.add_fault(LOGIN, FaultRule(action="expire_access_token", path_regex=ADD, times=2))
    with pytest.raises(ProviderAuthError, match="reconnect"):
        await provider.issue(wsale(order_body("OA-3")))
    assert tokens.refreshes == 1  # exactly one refresh, then the AUTH stands
    assert [r.code for r in wfirma.calls("/invoices/add")] == ["AUTH", "AUTH"]
    assert wfirma.invoices() == []


async def test_revoked_grant_is_an_auth_error_asking_to_authorise_again(
    wfirma: WfirmaEnv,
) -> None:
    provider, tokens = await wfirma.oauth_provider()
    wfirma.sim.revoke_refresh_tokens(LOGIN)
    wfirma.sim.expire_access_tokens(LOGIN)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.issue(wsale(order_body("OA-4")))
    assert "authorise the connection again" in str(caught.value)
    assert (caught.value.detail, tokens.refreshes) == ("invalid_grant", 1)
    assert [t.error for t in wfirma.sim.token_requests()] == [None, "invalid_grant"]
    assert wfirma.invoices() == []


async def test_missing_scope_names_the_scope(wfirma: WfirmaEnv) -> None:
    tokens = await authorise(wfirma.base, NARROW_CLIENT_ID, ["invoices-read", "invoices-write"])
    provider = wfirma.provider(auth=OAuthAuth(tokens))
    with pytest.raises(ProviderAuthError) as caught:
        await provider.list_departments()
    assert "lacks the scope series-read" in str(caught.value)
    assert "DENIED SCOPE REQUESTED" in (caught.value.detail or "")
    with pytest.raises(ProviderAuthError, match="lacks the scope user_companies-read"):
        await provider.verify()
    assert tokens.refreshes == 0  # a scope is not fixed by refreshing
    doc = await provider.issue(wsale(order_body("OA-5")))  # invoices-write is granted
    assert doc.kind is DocumentKind.INVOICE


async def test_the_default_scopes_cover_series_and_the_company_listing(
    wfirma: WfirmaEnv,
) -> None:
    """Issue 10 / audit W7: one `{module}-read` scope per module called ("Uprawnienia
    aplikacji"), so the consent URL asks for `series-read` without any `extra_scopes`."""
    client = OAuthClient(
        OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI),
        api_url=wfirma.base,
        auth_url=f"{wfirma.base}/oauth2/auth",
    )
    try:
        consent = parse_qs(urlsplit(client.authorization_url("s1")).query)
    finally:
        await client.aclose()
    requested = consent["scope"][0].split(" ")
    assert {"series-read", "user_companies-read"} <= set(requested)
    tokens = await authorise(wfirma.base, CLIENT_ID, requested)
    provider = wfirma.provider(auth=OAuthAuth(tokens))
    assert [d.id for d in await provider.list_departments()][:1] == [SERIES_SHOP]
    assert [c.id for c in await provider.verify()] == [str(COMPANY_ID)]
    assert {r.code for r in wfirma.calls("/series/find")} == {"OK"}


async def test_auth_answered_with_http_401_is_refreshed_the_same_way() -> None:
    sim = WfirmaSimulator(clock=lambda: SIM_NOW, auth_error_status=401, shutdown_timeout=0.2)
    sim.add_login(SimLogin(login=LOGIN, companies=[acme()], api_keys=[KEYS], rate_limits=None))
    for app in oauth_apps():
        sim.add_oauth_app(app)
    async with serving(sim, WfirmaEnv) as env:
        provider, tokens = await env.oauth_provider()
        sim.expire_access_tokens(LOGIN)
        assert len(await provider.list_departments()) == 5
        assert tokens.refreshes == 1
        assert [r.status for r in env.calls("/series/find")] == [401, 200]


# --- rate limits ---------------------------------------------------------------------------


def _limit(env: WfirmaEnv, **limits: int) -> None:
    env.sim.add_login(
        SimLogin(login=LOGIN, companies=[acme()], api_keys=[KEYS], rate_limits=RateLimits(**limits))
    )


async def test_request_limit_is_rate_limited_and_a_create_is_not_in_doubt(
    wfirma: WfirmaEnv,
) -> None:
    _limit(wfirma, per_15s=2)
    provider = wfirma.provider()
    assert len(await provider.list_departments()) == 5
    assert await provider.find(wsale(order_body("RL-1"))) is None
    with pytest.raises(ProviderRateLimited) as caught:
        await provider.issue(wsale(order_body("RL-1")))
    assert not isinstance(caught.value, ProviderInDoubt)
    assert (caught.value.retry_after, caught.value.retryable) == (15.0, True)
    assert "TOTAL REQUESTS LIMIT EXCEEDED" in (caught.value.detail or "")
    assert wfirma.invoices() == []

    wfirma.sim.advance(15)
    sleeps = Sleeps()
    issuance = await issue_once(provider, wsale(order_body("RL-1")), POLICY, Attempts(), sleeps)
    assert issuance.created is True and sleeps.delays == []
    assert len(wfirma.invoices()) == 1


async def test_request_limit_with_http_429(wfirma: WfirmaEnv) -> None:
    _limit(wfirma, per_minute=1, http_status=429)
    provider = wfirma.provider()
    await provider.list_departments()
    with pytest.raises(ProviderRateLimited) as caught:
        await provider.get("1")
    assert caught.value.retry_after == 15.0


async def test_limiter_spaces_requests_and_holds_after_a_limit_answer(wfirma: WfirmaEnv) -> None:
    clock = FakeClock()
    limiter = RateLimiter([(15.0, 2)], clock=clock, sleep=clock.sleep)
    provider = wfirma.provider(limiter=limiter)
    for _ in range(3):
        await provider.list_departments()
    assert clock.sleeps == [15.0]  # the third request waited for the window

    _limit(wfirma, per_15s=1)
    wfirma.sim.advance(20)
    await provider.list_departments()
    with pytest.raises(ProviderRateLimited):
        await provider.list_departments()
    assert limiter.wait_time() == pytest.approx(15.0)  # everybody backs off now


# --- unavailable and in doubt --------------------------------------------------------------


@pytest.mark.parametrize("code", ["FATAL", "OUT OF SERVICE", "SNAPSHOT LOCK"])
async def test_service_codes_are_unavailable_on_reads_and_in_doubt_on_creates(
    wfirma: WfirmaEnv, code: str
) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action="status_code", code=code, times=2))
    provider = wfirma.provider()
    with pytest.raises(ProviderUnavailable) as read:
        await provider.list_departments()
    assert not isinstance(read.value, ProviderInDoubt)
    assert code in str(read.value)
    with pytest.raises(ProviderInDoubt):
        await provider.issue(wsale(order_body("SVC-1")))


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_on_a_create_is_in_doubt(wfirma: WfirmaEnv, status: int) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action="http_5xx", path_regex=ADD, status=status))
    with pytest.raises(ProviderInDoubt) as caught:
        await wfirma.provider().issue(wsale(order_body("5XX-1")))
    assert str(status) in str(caught.value)


async def test_bad_gateway_html_on_a_read_is_unavailable(wfirma: WfirmaEnv) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action="http_5xx", status=502))
    with pytest.raises(ProviderUnavailable) as caught:
        await wfirma.provider().list_departments()
    assert not isinstance(caught.value, ProviderInDoubt)
    assert "Bad Gateway" in (caught.value.detail or "")


async def test_slow_read_is_unavailable_not_in_doubt(wfirma: WfirmaEnv) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action="latency", delay_ms=1500))
    with pytest.raises(ProviderUnavailable) as caught:
        await wfirma.provider(timeout=0.3).get("1")
    assert not isinstance(caught.value, ProviderInDoubt)


async def test_connection_refused_is_unavailable(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider(base_url=closed_port_url())
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.issue(wsale(order_body("REFUSED-1")))
    assert not isinstance(caught.value, ProviderInDoubt)  # nothing can have been created


@pytest.mark.parametrize("action", ["hang_after_commit", "drop_after_commit"])
async def test_create_that_landed_without_an_answer_is_in_doubt(
    wfirma: WfirmaEnv, action: str
) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action=action, path_regex=ADD, seconds=2))
    with pytest.raises(ProviderInDoubt):
        await wfirma.provider(timeout=0.5).issue(wsale(order_body("HANG-1")))
    [stored] = wfirma.invoices()
    assert stored["id_external"] == "shop:HANG-1"


@pytest.mark.parametrize("action", ["hang_after_commit", "drop_after_commit"])
async def test_issue_once_reconciles_by_id_external(wfirma: WfirmaEnv, action: str) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action=action, path_regex=ADD, seconds=2))
    attempts, sleeps = Attempts(), Sleeps()
    issuance = await issue_once(
        wfirma.provider(timeout=0.5), wsale(order_body("IO-1")), POLICY, attempts, sleeps
    )
    [stored] = wfirma.invoices()
    assert issuance.created is True
    assert (issuance.document.provider_document_id, issuance.document.number) == (
        stored["id"],
        stored["fullnumber"],
    )
    assert (attempts.count, sleeps.delays, len(wfirma.calls("/invoices/add"))) == (1, [], 1)


async def test_issue_once_never_recreates_inline_after_an_in_doubt_create(
    wfirma: WfirmaEnv,
) -> None:
    """Not found right after a 503 proves nothing (the create may still commit): issue_once
    looks once and stays in doubt; re-creating is the scheduler's, after the commit window."""
    wfirma.sim.add_fault(LOGIN, FaultRule(action="http_5xx", path_regex=ADD, status=503))
    attempts, sleeps = Attempts(), Sleeps()
    with pytest.raises(ProviderInDoubt):
        await issue_once(wfirma.provider(), wsale(order_body("IO-2")), POLICY, attempts, sleeps)
    assert wfirma.invoices() == [] and attempts.count == 1 and sleeps.delays == []
    assert [r.status for r in wfirma.calls("/invoices/add")] == [503]
    assert len(wfirma.calls("/invoices/find")) == 1  # looked up, did not create again


async def test_lookup_failing_after_an_in_doubt_create_stays_in_doubt(wfirma: WfirmaEnv) -> None:
    wfirma.sim.add_fault(LOGIN, FaultRule(action="http_5xx", path_regex=ADD))
    wfirma.sim.add_fault(LOGIN, FaultRule(action="status_code", code="OUT OF SERVICE", times=-1))
    with pytest.raises(ProviderInDoubt, match="lookup failed"):
        await issue_once(wfirma.provider(), wsale(order_body("IO-3")), POLICY, Attempts(), Sleeps())


async def test_corrections_missing_from_the_listing_are_not_guessed_at(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    body = order_body("R-8", company=True)
    original = await provider.issue(wsale(body))
    refund = [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}]
    await _correct(provider, body, "X1", refund)
    # a find that answers OK without the correction (e.g. a filter wFirma ignored)
    wfirma.sim.add_fault(LOGIN, FaultRule(action="status_code", code="OK", path_regex="find"))
    with pytest.raises(ProviderError) as caught:
        await provider.current_lines(original.provider_document_id)
    assert type(caught.value) is ProviderError  # permanent: a human must look
    assert "lists 0 of the 1 corrections of document FV 1/11/2026" in str(caught.value)
    current = await provider.current_lines(original.provider_document_id)
    assert [s.quantity for s in current] == [Decimal(2), Decimal(0), Decimal(1)]


async def test_an_ok_get_without_the_record_is_not_found(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    doc = await provider.issue(wsale(order_body("GONE-1")))
    wfirma.sim.add_fault(LOGIN, FaultRule(action="status_code", code="OK", path_regex="get"))
    with pytest.raises(ProviderNotFound):
        await provider.get(doc.provider_document_id)
    assert (await provider.get(doc.provider_document_id)) == doc
