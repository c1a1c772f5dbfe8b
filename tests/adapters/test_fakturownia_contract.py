"""Contract tests of the Fakturownia adapter against the simulator over real HTTP.

Every test drives ``FakturowniaProvider`` (and, where the contract spans it, ``issue_once``,
``deliver`` and ``issue_correction``) against a simulator served on a local port, then checks
what the simulator stored. No mocks: faults are injected into the simulator itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest

from adapters.fakturownia import AccountLinkError, normalise_account
from domain.ports import (
    Delivery,
    Department,
    DuplicateDocument,
    ProviderAuthError,
    ProviderInDoubt,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderValidationError,
)
from schemas.invoices import DocumentKind, FailureCode, IssuedDocument, Totals
from simulators.fakturownia import FaultRule
from tests.adapters.conftest import (
    KSEF_PREFIX,
    KSEF_TOKEN,
    MAIN_NIP,
    OUTLET_NIP,
    PREFIX,
    TOKEN,
    SimEnv,
)
from tests.adapters.support import (
    DEFAULT_TOTALS,
    NOW,
    POLICY,
    POLISH_TODAY,
    Sleeps,
    closed_port_url,
    dec,
    line,
    order_body,
    refund_data,
    route,
    sale,
)
from workers.corrections import CorrectionRefused, issue_correction
from workers.issuing import Attempts, RetryPolicy, deliver, issue_once

CREATE = r"^/invoices\.json$"


# --- account link normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "token", "prefix"),
    [
        ("https://acme.fakturownia.pl", None, "acme"),
        ("https://acme.fakturownia.pl/invoices/12?kind=vat&page=2#top", None, "acme"),
        ("HTTPS://Acme-Shop.Fakturownia.PL/", None, "acme-shop"),
        ("acme.fakturownia.pl", None, "acme"),
        ("  acme  ", None, "acme"),
        ("sklep24", None, "sklep24"),
        (None, "Ab12Cd34Ef56/acme", "acme"),
        ("", "Ab12Cd34Ef56/acme", "acme"),
        ("https://acme.fakturownia.pl", "Ab12Cd34Ef56/other", "acme"),  # the link wins
    ],
)
def test_account_link_is_normalised_to_its_prefix(
    link: str | None, token: str | None, prefix: str
) -> None:
    assert normalise_account(link, token) == prefix


@pytest.mark.parametrize(
    ("link", "token", "message"),
    [
        ("http://acme.fakturownia.pl", None, "the account link must use https"),
        ("ftp://acme.fakturownia.pl", None, "the account link must use https"),
        ("https://acme.example.com", None, "is not a Fakturownia account"),
        ("https://acme.fakturownia.pl.evil.com", None, "is not a Fakturownia account"),
        ("https://evil.com/acme.fakturownia.pl", None, "is not a Fakturownia account"),
        ("https://fakturownia.pl", None, "is not a Fakturownia account"),
        ("https://a.b.fakturownia.pl", None, "is not a Fakturownia account"),
        ("acme.fakturownia.pl.evil.com", None, "is not a Fakturownia account"),
        ("acme_shop", None, "is not a Fakturownia account"),
        ("-acme", None, "is not a Fakturownia account"),
        ("https://user@acme.fakturownia.pl", None, "must not carry a user or port"),
        ("https://user:secret@acme.fakturownia.pl", None, "must not carry a user or port"),
        ("https://acme.fakturownia.pl@evil.com", None, "must not carry a user or port"),
        ("https://acme.fakturownia.pl:8443", None, "must not carry a user or port"),
        ("https://acme.fakturownia.pl:443/", None, "must not carry a user or port"),
        ("acme.fakturownia.pl/invoices", None, "expected a link like"),
        (None, None, "give the account link"),
        (None, "tokenwithoutprefix", "give the account link"),
        (None, "Ab12/evil.com", "is not a Fakturownia account"),
    ],
)
def test_account_link_refusals_say_why(link: str | None, token: str | None, message: str) -> None:
    with pytest.raises(AccountLinkError) as caught:
        normalise_account(link, token)
    assert message in str(caught.value)
    if link:
        assert repr(link) in str(caught.value)  # the seller sees what they pasted


def test_account_link_with_port_zero_is_refused() -> None:
    with pytest.raises(AccountLinkError, match="port"):
        normalise_account("https://acme.fakturownia.pl:0")


@pytest.mark.parametrize(
    "link", ["https://acme.fakturownia.pl:abc", "https://acme.fakturownia.pl:99999"]
)
def test_account_link_with_malformed_port_is_refused_clearly(link: str) -> None:
    with pytest.raises(AccountLinkError, match="port"):
        normalise_account(link)


# --- departments ---------------------------------------------------------------------------


async def test_list_departments_returns_ids_as_strings_names_and_tax_numbers(
    fakturownia: SimEnv,
) -> None:
    departments = await fakturownia.provider().list_departments()
    assert departments == [
        Department(id="101", name="Sklep Główny", shortcut="SG", tax_no=MAIN_NIP),
        Department(id="102", name="Outlet Kraków", shortcut="OUT", tax_no=OUTLET_NIP),
    ]


# --- issuing -------------------------------------------------------------------------------


async def test_vat_invoice_for_a_company_in_a_department(fakturownia: SimEnv) -> None:
    request = sale(order_body("B2B-1", company=True), target="102")
    doc = await fakturownia.provider().issue(request)

    stored = fakturownia.stored(doc.provider_document_id)
    assert stored["kind"] == "vat"
    assert (stored["buyer_company"], stored["buyer_name"]) == (
        True,
        "Auto-Serwis Kowalski Sp. z o.o.",
    )
    assert (stored["buyer_tax_no"], stored["buyer_tax_no_kind"]) == ("5252445767", "")
    assert stored["buyer_first_name"] is None and stored["buyer_last_name"] is None
    assert (stored["buyer_street"], stored["buyer_post_code"], stored["buyer_city"]) == (
        "ul. Prosta 1",
        "00-001",
        "Warszawa",
    )
    assert (stored["buyer_country"], stored["buyer_email"]) == ("PL", "buyer@example.test")
    # department 102 supplies the seller, not the account's main department 101
    assert stored["department_id"] == 102
    assert (stored["seller_name"], stored["seller_tax_no"], stored["seller_city"]) == (
        "Outlet Kraków",
        OUTLET_NIP,
        "Kraków",
    )
    assert stored["seller_email"] == "outlet@example.test"
    assert stored["oid"] == "shop:B2B-1"
    assert (stored["payment_type"], stored["status"], stored["payment_to_kind"]) == (
        "card",
        "paid",
        "off",
    )
    assert dec(stored["paid"]) == Decimal("310.48")
    assert (stored["issue_date"], stored["sell_date"], stored["paid_date"]) == (
        "2026-11-21",
        "2026-11-20",
        "2026-11-20",
    )
    assert (stored["currency"], stored["exchange_kind"]) == ("PLN", None)
    assert stored["exempt_tax_kind"] is None and stored["np_tax_kind"] is None

    positions = [
        (
            p["name"],
            dec(p["quantity"]),
            p["quantity_unit"],
            p["tax"],
            dec(p["total_price_gross"]),
            p["code"],
        )
        for p in stored["positions"]
    ]
    assert positions == [
        ("Klocki hamulcowe", Decimal(2), "szt", "23", Decimal("259.98"), "BRK-001"),
        ("Filtr oleju", Decimal(1), "szt", "23", Decimal("35.50"), "FLT-002"),
        ("Dostawa", Decimal(1), "usł", "23", Decimal("15.00"), None),  # shipping as a line
    ]

    assert doc.kind is DocumentKind.INVOICE
    assert doc.provider_document_id == str(stored["id"])
    assert doc.number == stored["number"]
    assert re.fullmatch(r"\d+/11/2026", doc.number)
    assert doc.issue_date == POLISH_TODAY
    assert doc.currency == "PLN"
    assert doc.totals == DEFAULT_TOTALS
    assert (dec(stored["price_net"]), dec(stored["price_tax"]), dec(stored["price_gross"])) == (
        DEFAULT_TOTALS.net,
        DEFAULT_TOTALS.vat,
        DEFAULT_TOTALS.gross,
    )
    assert doc.view_url == stored["view_url"]
    assert doc.pdf_url == f"{fakturownia.url()}/invoice/{stored['token']}.pdf"
    assert TOKEN not in doc.pdf_url and TOKEN not in (doc.view_url or "")
    assert doc.clearance is None and doc.corrected_document_id is None
    assert doc.sent_to_buyer is False


@pytest.mark.parametrize(
    ("tax_id", "stored_tax_no", "kind"),
    [
        ("5252445767", "5252445767", ""),
        ("PL 525-244-57-67", "5252445767", ""),
        ("DE136695976", "DE136695976", "nip_ue"),
        ("US123456789", "US123456789", "other"),
    ],
)
async def test_buyer_tax_number_kind(
    fakturownia: SimEnv, tax_id: str, stored_tax_no: str, kind: str
) -> None:
    doc = await fakturownia.provider().issue(sale(order_body("TAX-1", company=True, tax_id=tax_id)))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["buyer_company"], stored["buyer_tax_no"], stored["buyer_tax_no_kind"]) == (
        True,
        stored_tax_no,
        kind,
    )


async def test_receipt_for_a_private_person(fakturownia: SimEnv) -> None:
    request = sale(order_body("B2C-1"), DocumentKind.RECEIPT)
    doc = await fakturownia.provider().issue(request)

    stored = fakturownia.stored(doc.provider_document_id)
    assert stored["kind"] == "receipt"
    assert stored["buyer_company"] is False
    assert (stored["buyer_first_name"], stored["buyer_last_name"], stored["buyer_name"]) == (
        "Jan",
        "Nowak",
        "Jan Nowak",
    )
    assert stored["buyer_tax_no"] is None
    assert stored["department_id"] == 101
    assert stored["seller_name"] == "Sklep Główny"
    assert doc.kind is DocumentKind.RECEIPT
    assert doc.number.startswith("PAR ")
    assert doc.totals == DEFAULT_TOTALS


async def test_positions_carry_vat_codes_legal_bases_gtu_and_sku(fakturownia: SimEnv) -> None:
    body = order_body(
        "VAT-1",
        company=True,
        lines=[
            line("A", "Olej silnikowy", "1", "123.00", "23", sku="OIL-1", gtu="GTU_02"),
            line("B", "Książka", "2", "10.80", "8", sku="BOOK-1"),
            line("C", "Chleb", "1", "10.50", "5"),
            line("D", "Eksport", "1", "50.00", "0"),
            line("E", "Szkolenie", "1", "40.00", "zw", unit="usł"),
            line("F", "Usługa za granicą", "1.5", "40.00", "np", unit="h"),
        ],
        shipping={"name": "Kurier", "price_gross": "12.30", "vat_rate": "23"},
    )
    doc = await fakturownia.provider().issue(sale(body))

    stored = fakturownia.stored(doc.provider_document_id)
    got = [
        (p["name"], p["tax"], dec(p["quantity"]), p["quantity_unit"], p["gtu_code"], p["code"])
        for p in stored["positions"]
    ]
    assert got == [
        ("Olej silnikowy", "23", Decimal(1), "szt", "GTU_02", "OIL-1"),
        ("Książka", "8", Decimal(2), "szt", None, "BOOK-1"),
        ("Chleb", "5", Decimal(1), "szt", None, None),
        ("Eksport", "0", Decimal(1), "szt", None, None),
        ("Szkolenie", "zw", Decimal(1), "usł", None, None),
        ("Usługa za granicą", "np", Decimal("1.5"), "h", None, None),
        ("Kurier", "23", Decimal(1), "usł", None, None),
    ]
    assert stored["exempt_tax_kind"] == "art. 43 ust. 1 ustawy o VAT"
    assert stored["np_tax_kind"] == "export_service"  # KSeF allows no "not_specified"
    # 23 %: 135.30 -> 110.00 + 25.30; 8 %: 21.60 -> 20.00 + 1.60; 5 %: 10.50 -> 10.00 + 0.50
    assert doc.totals == Totals(
        net=Decimal("290.00"), vat=Decimal("27.40"), gross=Decimal("317.40")
    )


async def test_legal_bases_for_exempt_and_np_lines_come_from_connection_options(
    fakturownia: SimEnv,
) -> None:
    options = {"exempt_tax_kind": "art. 113 ust. 1 ustawy o VAT", "np_tax_kind": "export_service"}
    body = order_body(
        "VAT-2",
        company=True,
        lines=[line("E", "Kurs", "1", "40.00", "zw"), line("F", "Usługa", "1", "60.00", "np")],
        shipping={},
    )
    doc = await fakturownia.provider(options=options).issue(sale(body))
    stored = fakturownia.stored(doc.provider_document_id)
    assert stored["exempt_tax_kind"] == "art. 113 ust. 1 ustawy o VAT"
    assert stored["np_tax_kind"] == "export_service"
    assert [p["name"] for p in stored["positions"]] == ["Kurs", "Usługa"]  # no shipping line


async def test_foreign_currency_asks_for_the_nbp_exchange_rate(fakturownia: SimEnv) -> None:
    doc = await fakturownia.provider().issue(sale(order_body("EUR-1", currency="EUR")))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["currency"], stored["exchange_kind"], stored["exchange_currency"]) == (
        "EUR",
        "nbp",
        "PLN",
    )
    assert doc.currency == "EUR"
    assert doc.totals == DEFAULT_TOTALS


@pytest.mark.parametrize(
    ("now", "issue_date"),
    [
        (dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC), "2026-11-21"),  # CET, UTC+1
        (dt.datetime(2026, 7, 31, 22, 30, tzinfo=dt.UTC), "2026-08-01"),  # CEST, UTC+2
        (dt.datetime(2026, 11, 20, 22, 59, tzinfo=dt.UTC), "2026-11-20"),
    ],
)
async def test_issue_date_is_the_polish_calendar_date(
    fakturownia: SimEnv, now: dt.datetime, issue_date: str
) -> None:
    doc = await fakturownia.provider().issue(sale(order_body("DATE-1"), now=now))
    assert fakturownia.stored(doc.provider_document_id)["issue_date"] == issue_date
    assert doc.issue_date.isoformat() == issue_date
    assert doc.number.endswith(f"/{issue_date[5:7]}/{issue_date[:4]}")


@pytest.mark.parametrize(
    ("paid", "status", "paid_date"),
    [("100.00", "partial", "2026-11-20"), ("0.00", "issued", None)],
)
async def test_payment_status_follows_the_amount_paid(
    fakturownia: SimEnv, paid: str, status: str, paid_date: str | None
) -> None:
    body = order_body("PAY-1")
    body["payment"]["paid_amount"] = paid
    if paid_date is None:
        body["payment"]["method"] = "cash_on_delivery"
        del body["payment"]["paid_at"]
    doc = await fakturownia.provider().issue(sale(body, DocumentKind.RECEIPT))
    stored = fakturownia.stored(doc.provider_document_id)
    assert (stored["status"], dec(stored["paid"]), stored["paid_date"]) == (
        status,
        Decimal(paid),
        paid_date,
    )
    assert stored["payment_type"] == ("card" if paid_date else "cash_on_delivery")


async def test_pdf_url_serves_a_pdf_without_the_api_token(fakturownia: SimEnv) -> None:
    doc = await fakturownia.provider().issue(sale(order_body("PDF-1")))
    assert doc.pdf_url is not None and doc.pdf_url.endswith(".pdf")
    async with httpx.AsyncClient() as client:
        pdf = await client.get(doc.pdf_url)
        view = await client.get(doc.view_url or "")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"].startswith("application/pdf")
    assert pdf.content.startswith(b"%PDF")
    assert view.status_code == 200 and doc.number in view.text


# --- lookup by oid -------------------------------------------------------------------------


async def test_find_returns_the_document_with_exactly_this_oid(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    first = await provider.issue(sale(order_body("O-1")))
    tenth = await provider.issue(sale(order_body("O-10")))

    assert await provider.find(sale(order_body("O-1"))) == first
    assert await provider.find(sale(order_body("O-10"))) == tenth
    assert first.provider_document_id != tenth.provider_document_id


async def test_find_matches_an_oid_with_url_special_characters(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    odd = sale(order_body("ZAM/2026/11#7 & co+ż?x=1"))
    plain = await provider.issue(sale(order_body("ZAM/2026/11")))
    issued = await provider.issue(odd)
    assert fakturownia.stored(issued.provider_document_id)["oid"] == "shop:ZAM/2026/11#7 & co+ż?x=1"
    assert await provider.find(odd) == issued
    assert await provider.find(sale(order_body("ZAM/2026/11"))) == plain


async def test_find_rechecks_the_kind(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    receipt = await provider.issue(sale(order_body("O-2"), DocumentKind.RECEIPT))

    assert await provider.find(sale(order_body("O-2"), DocumentKind.INVOICE)) is None
    assert await provider.find(sale(order_body("O-2"), DocumentKind.RECEIPT)) == receipt


async def test_find_returns_none_when_absent(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    assert await provider.find(sale(order_body("NOPE"))) is None
    await provider.issue(sale(order_body("O-3")))
    assert await provider.find(sale(order_body("NOPE"))) is None


async def test_find_sees_documents_older_than_the_default_list_period(
    fakturownia: SimEnv,
) -> None:
    provider = fakturownia.provider()
    old = replace(sale(order_body("OLD-1")), issue_date=dt.date(2024, 3, 1))
    issued = await provider.issue(old)
    assert issued.issue_date == dt.date(2024, 3, 1)
    assert await provider.find(old) == issued


async def test_find_pages_through_more_than_one_hundred_matching_rows(
    fakturownia: SimEnv,
) -> None:
    """105 proformas share the oid and sort first; the invoice is on page 2 (per_page <= 100)."""
    provider = fakturownia.provider()
    request = replace(sale(order_body("MANY-1")), issue_date=dt.date(2026, 1, 5))
    invoice = await provider.issue(request)

    def lookups() -> int:
        return sum(
            1
            for r in fakturownia.sim.request_log(PREFIX)
            if r.path == "/invoices.json" and r.method == "GET"
        )

    assert await provider.find(request) == invoice
    assert lookups() == 1  # a short first page ends the lookup

    async with httpx.AsyncClient(base_url=fakturownia.url(), timeout=5.0) as client:
        for i in range(105):
            decoy = {
                "api_token": TOKEN,
                "invoice": {
                    "kind": "proforma",
                    "oid": request.idempotency_key,  # no oid_unique: the account allows it
                    "issue_date": "2026-11-20",
                    "buyer_name": f"Decoy {i}",
                    "positions": [{"name": "x", "tax": "23", "total_price_gross": "1.23"}],
                },
            }
            assert (await client.post("/invoices.json", json=decoy)).status_code == 201

    assert await provider.find(request) == invoice
    assert lookups() == 1 + 2
    assert await provider.find(replace(request, kind=DocumentKind.RECEIPT)) is None


# --- oid_unique conflict -------------------------------------------------------------------


async def test_issuing_the_same_request_twice_raises_duplicate(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    request = sale(order_body("DUP-1"))
    await provider.issue(request)
    with pytest.raises(DuplicateDocument):
        await provider.issue(request)
    assert len(fakturownia.invoices()) == 1


async def test_issue_once_resolves_a_conflict_to_the_existing_document(
    fakturownia: SimEnv,
) -> None:
    provider = fakturownia.provider()
    request = sale(order_body("DUP-2"))
    first = await provider.issue(request)

    attempts = Attempts()
    issuance = await issue_once(provider, request, POLICY, attempts, Sleeps())

    assert issuance.created is False
    assert issuance.document == first
    assert attempts.count == 1
    assert [d["id"] for d in fakturownia.invoices()] == [int(first.provider_document_id)]


# --- corrections ---------------------------------------------------------------------------


async def _correct(
    env: SimEnv, body: dict, refund_id: str, lines: list[dict], shipping: str | None = None
) -> IssuedDocument:
    data = refund_data(body, refund_id, lines, shipping, reason=f"Zwrot {refund_id}")
    return await issue_correction(env.provider(), route(), data, POLICY, Attempts(), NOW)


async def _full(env: SimEnv, doc: IssuedDocument) -> dict:
    return await env.get_json(
        f"/invoices/{doc.provider_document_id}.json", correction_positions="full"
    )


def _changed(positions: list[dict]) -> list[dict]:
    """The positions a correction changes; the others of their rate group are stated with
    before = after (issue 13 item 5: the group's VAT is computed over the whole group)."""
    for p in positions:
        if not (dec(p["quantity"]) or dec(p["total_price_gross"])):
            before = p["correction_before_attributes"]
            after = p["correction_after_attributes"]
            assert (before["quantity"], before["total_price_gross"]) == (
                after["quantity"],
                after["total_price_gross"],
            )
    return [p for p in positions if dec(p["quantity"]) or dec(p["total_price_gross"])]


def _snapshot(position: dict, key: str) -> tuple:
    s = position[key]
    return (s["kind"], s["name"], s["tax"], dec(s["quantity"]), dec(s["total_price_gross"]))


async def test_partial_refunds_correct_the_current_state_until_nothing_is_left(
    fakturownia: SimEnv,
) -> None:
    body = order_body("R-1", company=True)
    original = await fakturownia.provider().issue(sale(body))
    brake = {"line_id": "L1", "quantity": "1", "amount_gross": "129.99"}

    first = await _correct(fakturownia, body, "RF1", [brake])
    full = await _full(fakturownia, first)
    assert full["kind"] == "correction"
    assert full["invoice_id"] == full["from_invoice_id"] == int(original.provider_document_id)
    assert full["correction_reason"] == "Zwrot RF1"
    assert full["oid"] == "shop:R-1:refund:RF1"
    assert (full["department_id"], full["buyer_tax_no"]) == (101, "5252445767")
    [position] = _changed(full["positions"])
    assert (position["kind"], position["name"], position["code"], position["tax"]) == (
        "correction",
        "Klocki hamulcowe",
        "BRK-001",
        "23",
    )
    assert (dec(position["quantity"]), dec(position["total_price_gross"])) == (
        Decimal(-1),
        Decimal("-129.99"),
    )
    expected_before = ("correction_before", "Klocki hamulcowe", "23", Decimal(2))
    assert _snapshot(position, "correction_before_attributes") == (
        *expected_before,
        Decimal("259.98"),
    )
    assert _snapshot(position, "correction_after_attributes") == (
        "correction_after",
        "Klocki hamulcowe",
        "23",
        Decimal(1),
        Decimal("129.99"),
    )
    assert first.kind is DocumentKind.CORRECTION
    assert first.corrected_document_id == original.provider_document_id
    assert first.number.startswith("KOR ")
    assert first.totals == Totals(
        net=Decimal("-105.68"), vat=Decimal("-24.31"), gross=Decimal("-129.99")
    )

    # a second refund of the same line starts from the corrected state (1 left), not from 2
    second = await _correct(fakturownia, body, "RF2", [brake])
    [position] = _changed((await _full(fakturownia, second))["positions"])
    assert _snapshot(position, "correction_before_attributes") == (
        "correction_before",
        "Klocki hamulcowe",
        "23",
        Decimal(1),
        Decimal("129.99"),
    )
    assert _snapshot(position, "correction_after_attributes") == (
        "correction_after",
        "Klocki hamulcowe",
        "23",
        Decimal(0),
        Decimal("0.00"),
    )
    assert (dec(position["quantity"]), dec(position["total_price_gross"])) == (
        Decimal(-1),
        Decimal("-129.99"),
    )

    current = await fakturownia.provider().current_lines(original.provider_document_id)
    assert [(x.key, x.quantity, x.gross) for x in current] == [
        ("sku:BRK-001", Decimal(0), Decimal(0)),
        ("sku:FLT-002", Decimal(1), Decimal("35.50")),
        ("name:Dostawa", Decimal(1), Decimal("15.00")),
    ]

    # the redelivered second refund returns its correction instead of issuing another
    posts = fakturownia.posts()
    assert await _correct(fakturownia, body, "RF2", [brake]) == second
    assert fakturownia.posts() == posts

    # a third refund of the line overshoots what the document still holds
    with pytest.raises(CorrectionRefused) as refused:
        await _correct(fakturownia, body, "RF3", [brake])
    assert refused.value.code is FailureCode.INVALID_ORDER
    assert [(v.field, v.code) for v in refused.value.violations] == [
        ("refund.lines[0]", "refund_exceeds_document")
    ]
    assert fakturownia.posts() == posts
    kinds = [d["kind"] for d in fakturownia.invoices()]
    assert kinds == ["vat", "correction", "correction"]


async def test_full_refund_corrects_every_line_and_shipping_to_zero(fakturownia: SimEnv) -> None:
    body = order_body("R-2", company=True)
    original = await fakturownia.provider().issue(sale(body))

    doc = await _correct(
        fakturownia,
        body,
        "ALL",
        [
            {"line_id": "L1", "quantity": "2", "amount_gross": "259.98"},
            {"line_id": "L2", "quantity": "1", "amount_gross": "35.50"},
        ],
        shipping="15.00",
    )
    full = await _full(fakturownia, doc)
    got = [
        (
            p["name"],
            p["kind"],
            dec(p["quantity"]),
            dec(p["total_price_gross"]),
            dec(p["correction_before_attributes"]["total_price_gross"]),
            dec(p["correction_after_attributes"]["quantity"]),
            dec(p["correction_after_attributes"]["total_price_gross"]),
        )
        for p in full["positions"]
    ]
    assert got == [
        (
            "Klocki hamulcowe",
            "correction",
            Decimal(-2),
            Decimal("-259.98"),
            Decimal("259.98"),
            Decimal(0),
            Decimal(0),
        ),
        (
            "Filtr oleju",
            "correction",
            Decimal(-1),
            Decimal("-35.50"),
            Decimal("35.50"),
            Decimal(0),
            Decimal(0),
        ),
        (
            "Dostawa",
            "correction",
            Decimal(-1),
            Decimal("-15.00"),
            Decimal("15.00"),
            Decimal(0),
            Decimal(0),
        ),
    ]
    assert doc.totals == Totals(
        net=-DEFAULT_TOTALS.net, vat=-DEFAULT_TOTALS.vat, gross=-DEFAULT_TOTALS.gross
    )
    assert (dec(full["price_gross"]), full["invoice_id"]) == (
        Decimal("-310.48"),
        int(original.provider_document_id),
    )
    current = await fakturownia.provider().current_lines(original.provider_document_id)
    assert {(x.quantity, x.gross) for x in current} == {(Decimal(0), Decimal(0))}


async def test_shipping_refunds_correct_the_shipping_line(fakturownia: SimEnv) -> None:
    body = order_body("R-3", company=True)
    await fakturownia.provider().issue(sale(body))

    part = await _correct(fakturownia, body, "S1", [], shipping="5.00")
    [position] = _changed((await _full(fakturownia, part))["positions"])
    assert (position["name"], position["code"], position["quantity_unit"]) == (
        "Dostawa",
        None,
        "usł",
    )
    # part of the shipping: the line stays (quantity 1) with a lower amount
    assert (dec(position["quantity"]), dec(position["total_price_gross"])) == (
        Decimal(0),
        Decimal("-5.00"),
    )
    assert _snapshot(position, "correction_before_attributes")[3:] == (Decimal(1), Decimal(15))
    assert _snapshot(position, "correction_after_attributes")[3:] == (Decimal(1), Decimal(10))

    rest = await _correct(fakturownia, body, "S2", [], shipping="10.00")
    [position] = _changed((await _full(fakturownia, rest))["positions"])
    assert _snapshot(position, "correction_before_attributes")[3:] == (Decimal(1), Decimal(10))
    assert _snapshot(position, "correction_after_attributes")[3:] == (Decimal(0), Decimal(0))
    assert rest.totals.gross == Decimal("-10.00")

    with pytest.raises(CorrectionRefused) as refused:
        await _correct(fakturownia, body, "S3", [], shipping="0.01")
    assert [(v.field, v.code) for v in refused.value.violations] == [
        ("refund.shipping_refunded", "refund_exceeds_document")
    ]
    assert [d["kind"] for d in fakturownia.invoices()] == ["vat", "correction", "correction"]


async def test_lines_sharing_a_sku_are_both_correctable(fakturownia: SimEnv) -> None:
    body = order_body(
        "R-5",
        company=True,
        lines=[
            line("L1", "Opona", "1", "10.00", "23", sku="TYRE-1"),
            line("L2", "Opona", "1", "20.00", "23", sku="TYRE-1"),
        ],
    )
    original = await fakturownia.provider().issue(sale(body))
    current = await fakturownia.provider().current_lines(original.provider_document_id)
    tyres = [x for x in current if x.sku == "TYRE-1"]
    assert sum(x.quantity for x in tyres) == 2
    assert sum(x.gross for x in tyres) == Decimal("30.00")

    await _correct(
        fakturownia, body, "T1", [{"line_id": "L1", "quantity": "1", "amount_gross": "10.00"}]
    )
    second = await _correct(
        fakturownia, body, "T2", [{"line_id": "L2", "quantity": "1", "amount_gross": "20.00"}]
    )
    assert second.totals.gross == Decimal("-20.00")


async def test_refund_before_the_sale_exists_is_refused(fakturownia: SimEnv) -> None:
    body = order_body("R-4", company=True)
    with pytest.raises(CorrectionRefused) as refused:
        await _correct(
            fakturownia, body, "X1", [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}]
        )
    assert refused.value.code is FailureCode.ORIGINAL_DOCUMENT_MISSING
    assert fakturownia.invoices() == []


# --- e-mail --------------------------------------------------------------------------------


async def test_send_to_buyer_emails_the_document(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    doc = await provider.issue(sale(order_body("MAIL-1")))

    delivery = await provider.send_to_buyer(doc.provider_document_id)

    assert delivery.sent is True
    assert "buyer@example.test" in delivery.message
    [email] = fakturownia.sim.sent_emails(PREFIX)
    assert (email.invoice_id, email.number, email.to) == (
        int(doc.provider_document_id),
        doc.number,
        ("buyer@example.test",),
    )


async def test_send_to_buyer_without_an_address_is_a_refusal(fakturownia: SimEnv) -> None:
    body = order_body("MAIL-0")
    del body["buyer"]["email"]
    provider = fakturownia.provider()
    doc = await provider.issue(sale(body))
    delivery = await provider.send_to_buyer(doc.provider_document_id)
    assert delivery == Delivery(sent=False, message="Brak adresu e-mail odbiorcy")
    assert fakturownia.sim.sent_emails(PREFIX) == []


async def test_deliver_emails_only_the_call_that_created_the_document(
    fakturownia: SimEnv,
) -> None:
    provider = fakturownia.provider()
    request = sale(order_body("MAIL-2"), send=True)
    assert request.send_to_buyer is True

    created = await issue_once(provider, request, POLICY, Attempts(), Sleeps())
    assert created.created is True
    delivered = await deliver(provider, created, request)
    assert delivered.sent_to_buyer is True
    assert len(fakturownia.sim.sent_emails(PREFIX)) == 1

    again = await issue_once(provider, request, POLICY, Attempts(), Sleeps())
    assert again.created is False
    redelivered = await deliver(provider, again, request)
    assert redelivered.sent_to_buyer is False
    assert len(fakturownia.sim.sent_emails(PREFIX)) == 1  # no second e-mail to the buyer

    quiet = sale(order_body("MAIL-3"), send=False)
    issuance = await issue_once(provider, quiet, POLICY, Attempts(), Sleeps())
    assert (await deliver(provider, issuance, quiet)).sent_to_buyer is False
    assert len(fakturownia.sim.sent_emails(PREFIX)) == 1


async def test_ksef_block_on_email_is_a_refusal_not_an_exception(fakturownia: SimEnv) -> None:
    fakturownia.add_ksef_account()
    provider = fakturownia.provider(prefix=KSEF_PREFIX, token=KSEF_TOKEN)
    request = sale(order_body("KMAIL-1", company=True))
    doc = await provider.issue(request)
    assert doc.clearance is None  # not sent to KSeF, so no KSeF number

    delivery = await provider.send_to_buyer(doc.provider_document_id)
    assert delivery == Delivery(
        sent=False, message="Faktura nie może zostać wysłana - brak numeru KSeF"
    )
    assert "KSeF" in delivery.message

    issued = await deliver(
        provider, await issue_once(provider, request, POLICY, Attempts()), request
    )
    assert issued.sent_to_buyer is False
    assert fakturownia.sim.sent_emails(KSEF_PREFIX) == []


# --- KSeF ----------------------------------------------------------------------------------


async def test_gov_save_and_send_reports_processing_then_ok_with_a_ksef_number(
    fakturownia: SimEnv,
) -> None:
    fakturownia.add_ksef_account(delay=60.0)
    provider = fakturownia.provider(
        prefix=KSEF_PREFIX, token=KSEF_TOKEN, options={"gov_save_and_send": True}
    )
    doc = await provider.issue(sale(order_body("KSEF-1", company=True)))
    assert doc.clearance is not None
    assert (doc.clearance.status, doc.clearance.number, doc.clearance.errors) == (
        "processing",
        None,
        [],
    )
    assert (await provider.get(doc.provider_document_id)).clearance.status == "processing"

    fakturownia.sim.complete_ksef(KSEF_PREFIX)

    now = await provider.get(doc.provider_document_id)
    assert now.clearance is not None and now.clearance.status == "ok"
    assert re.fullmatch(rf"{MAIN_NIP}-\d{{8}}-[0-9A-F]{{12}}", now.clearance.number or "")
    assert (
        now.clearance.number == fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)["gov_id"]
    )
    assert (await provider.find(sale(order_body("KSEF-1", company=True)))) == now
    # with a KSeF number the e-mail goes out
    assert (await provider.send_to_buyer(doc.provider_document_id)).sent is True


async def test_ksef_correction_references_the_ksef_number_of_the_original(
    fakturownia: SimEnv,
) -> None:
    fakturownia.add_ksef_account()
    provider = fakturownia.provider(
        prefix=KSEF_PREFIX, token=KSEF_TOKEN, options={"gov_save_and_send": True}
    )
    body = order_body("KSEF-5", company=True)
    original = await provider.issue(sale(body))
    fakturownia.sim.complete_ksef(KSEF_PREFIX)
    gov_id = (await provider.get(original.provider_document_id)).clearance.number
    assert gov_id

    data = refund_data(body, "K1", [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}])
    correction = await issue_correction(provider, route(), data, POLICY, Attempts(), NOW)

    assert correction.corrected_document_id == original.provider_document_id
    assert correction.clearance is not None and correction.clearance.status == "processing"
    stored = fakturownia.stored(correction.provider_document_id, KSEF_PREFIX)
    assert stored["gov_corrected_invoice_number"] == gov_id
    fakturownia.sim.complete_ksef(KSEF_PREFIX)
    cleared = await provider.get(correction.provider_document_id)
    assert cleared.clearance is not None and cleared.clearance.status == "ok"
    assert cleared.clearance.number not in (None, gov_id)


async def test_ksef_status_progresses_by_itself_after_the_delay(fakturownia: SimEnv) -> None:
    fakturownia.add_ksef_account(delay=0.2)
    provider = fakturownia.provider(
        prefix=KSEF_PREFIX, token=KSEF_TOKEN, options={"gov_save_and_send": True}
    )
    doc = await provider.issue(sale(order_body("KSEF-2", company=True)))
    assert doc.clearance is not None and doc.clearance.status == "processing"
    for _ in range(40):
        now = await provider.get(doc.provider_document_id)
        if now.clearance and now.clearance.status != "processing":
            break
        await asyncio.sleep(0.05)
    assert now.clearance is not None and now.clearance.status == "ok"
    assert (now.clearance.number or "").startswith(f"{MAIN_NIP}-")


async def test_ksef_rejection_carries_the_error_messages(fakturownia: SimEnv) -> None:
    fakturownia.add_ksef_account(outcome="send_error")
    provider = fakturownia.provider(
        prefix=KSEF_PREFIX, token=KSEF_TOKEN, options={"gov_save_and_send": True}
    )
    doc = await provider.issue(sale(order_body("KSEF-3", company=True)))
    fakturownia.sim.complete_ksef(KSEF_PREFIX)
    now = await provider.get(doc.provider_document_id)
    assert now.clearance is not None
    assert (now.clearance.status, now.clearance.number, now.clearance.errors) == (
        "send_error",
        None,
        ["Dokument odrzucony przez KSeF (symulator)"],
    )


async def test_without_gov_save_and_send_nothing_is_sent_to_ksef(fakturownia: SimEnv) -> None:
    fakturownia.add_ksef_account()
    provider = fakturownia.provider(prefix=KSEF_PREFIX, token=KSEF_TOKEN)
    doc = await provider.issue(sale(order_body("KSEF-4", company=True)))
    fakturownia.sim.complete_ksef(KSEF_PREFIX)
    assert (await provider.get(doc.provider_document_id)).clearance is None


# --- error taxonomy ------------------------------------------------------------------------


async def test_bad_token_is_an_auth_error_asking_to_reconnect(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider(token="wrong-token")
    with pytest.raises(ProviderAuthError) as caught:
        await provider.list_departments()
    assert "reconnect" in str(caught.value)
    assert "wrong-token" not in str(caught.value) and "wrong-token" not in (
        caught.value.detail or ""
    )
    assert caught.value.retryable is False
    with pytest.raises(ProviderAuthError):  # a refused create is not "in doubt"
        await provider.issue(sale(order_body("AUTH-1")))
    assert fakturownia.invoices() == []


async def test_revoked_token_is_an_auth_error(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    assert len(await provider.list_departments()) == 2
    fakturownia.sim.add_fault(PREFIX, FaultRule(action="revoke_token"))
    with pytest.raises(ProviderAuthError, match="reconnect"):
        await provider.issue(sale(order_body("REV-1")))
    with pytest.raises(ProviderAuthError):  # and it stays revoked
        await provider.list_departments()
    assert fakturownia.invoices() == []


async def test_unknown_department_is_a_validation_error_naming_the_field(
    fakturownia: SimEnv,
) -> None:
    with pytest.raises(ProviderValidationError) as caught:
        await fakturownia.provider().issue(sale(order_body("VAL-1"), target="999"))
    assert caught.value.fields == {"department_id": ["- nie istnieje"]}
    assert "department_id" in str(caught.value)
    assert caught.value.retryable is False
    assert fakturownia.invoices() == []


async def test_ksef_required_fields_are_named_in_the_validation_error(
    fakturownia: SimEnv,
) -> None:
    fakturownia.add_ksef_account()
    body = order_body("VAL-2", company=True)
    del body["buyer"]["address"]  # KSeF needs the buyer's country
    with pytest.raises(ProviderValidationError) as caught:
        await fakturownia.provider(prefix=KSEF_PREFIX, token=KSEF_TOKEN).issue(sale(body))
    assert set(caught.value.fields) == {"buyer_country"}
    assert "buyer_country" in str(caught.value)


async def test_unknown_document_is_not_found(fakturownia: SimEnv) -> None:
    with pytest.raises(ProviderNotFound):
        await fakturownia.provider().get("987654321")
    with pytest.raises(ProviderNotFound):
        await fakturownia.provider().send_to_buyer("987654321")


@pytest.mark.parametrize(("retry_after", "expected"), [(7, 7.0), (None, None)])
async def test_rate_limit_reports_retry_after(
    fakturownia: SimEnv, retry_after: int | None, expected: float | None
) -> None:
    fakturownia.sim.add_fault(PREFIX, FaultRule(action="http_429", retry_after=retry_after))
    with pytest.raises(ProviderRateLimited) as caught:
        await fakturownia.provider().list_departments()
    assert caught.value.retry_after == expected
    assert caught.value.retryable is True


async def test_rate_limited_create_is_not_in_doubt_and_retry_after_holds_the_account(
    fakturownia: SimEnv,
) -> None:
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action="http_429", method="POST", path_regex=CREATE, retry_after=2)
    )
    provider = fakturownia.provider()
    with pytest.raises(ProviderRateLimited) as first:
        await provider.issue(sale(order_body("RL-1")))
    assert first.value.retry_after == 2.0 and fakturownia.invoices() == []

    # inside Retry-After every call of this account is refused locally: the provider is spared
    sleeps, attempts = Sleeps(), Attempts()
    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=10.0)
    with pytest.raises(ProviderRateLimited) as held:
        await issue_once(provider, sale(order_body("RL-2")), policy, attempts, sleeps)
    assert 0 < held.value.retry_after <= 2.0 and attempts.count == 3
    posts = [r for r in fakturownia.sim.request_log(PREFIX) if r.method == "POST"]
    assert len(posts) == 1

    issuance = await issue_once(
        fakturownia.provider(), sale(order_body("RL-1")), policy, Attempts(), Sleeps()
    )  # a client without the hold goes through
    assert issuance.created and len(fakturownia.invoices()) == 1


async def test_bad_gateway_html_on_a_read_is_unavailable(fakturownia: SimEnv) -> None:
    fakturownia.sim.add_fault(PREFIX, FaultRule(action="http_5xx", method="GET", status=502))
    with pytest.raises(ProviderUnavailable) as caught:
        await fakturownia.provider().list_departments()
    assert "502" in str(caught.value)
    assert "Bad Gateway" in (caught.value.detail or "")
    assert caught.value.retryable is True


async def test_slow_read_is_unavailable_not_in_doubt(fakturownia: SimEnv) -> None:
    fakturownia.sim.add_fault(PREFIX, FaultRule(action="latency", method="GET", delay_ms=1500))
    with pytest.raises(ProviderUnavailable):
        await fakturownia.provider(timeout=0.3).list_departments()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_on_a_create_is_in_doubt(fakturownia: SimEnv, status: int) -> None:
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action="http_5xx", method="POST", path_regex=CREATE, status=status)
    )
    with pytest.raises(ProviderInDoubt) as caught:
        await fakturownia.provider().issue(sale(order_body("5XX-1")))
    assert str(status) in str(caught.value)


async def test_timeout_after_commit_is_in_doubt_and_the_document_exists(
    fakturownia: SimEnv,
) -> None:
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action="hang_after_commit", method="POST", path_regex=CREATE, seconds=2)
    )
    request = sale(order_body("HANG-1"))
    with pytest.raises(ProviderInDoubt):
        await fakturownia.provider(timeout=0.5).issue(request)
    [stored] = fakturownia.invoices()
    assert stored["oid"] == "shop:HANG-1"
    found = await fakturownia.provider().find(request)
    assert found is not None and found.provider_document_id == str(stored["id"])


async def test_dropped_connection_after_commit_is_in_doubt(fakturownia: SimEnv) -> None:
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action="drop_after_commit", method="POST", path_regex=CREATE)
    )
    with pytest.raises(ProviderInDoubt):
        await fakturownia.provider().issue(sale(order_body("DROP-1")))
    assert [d["oid"] for d in fakturownia.invoices()] == ["shop:DROP-1"]


async def test_connection_refused_is_unavailable(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider(base_url=closed_port_url(f"/{PREFIX}"))
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.issue(sale(order_body("REFUSED-1")))
    assert not isinstance(caught.value, ProviderInDoubt)  # nothing can have been created
    with pytest.raises(ProviderUnavailable):
        await provider.find(sale(order_body("REFUSED-1")))


@pytest.mark.parametrize("action", ["hang_after_commit", "drop_after_commit"])
async def test_issue_once_reconciles_a_create_that_landed(fakturownia: SimEnv, action: str) -> None:
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action=action, method="POST", path_regex=CREATE, seconds=2)
    )
    provider = fakturownia.provider(timeout=0.5)
    attempts, sleeps = Attempts(), Sleeps()

    issuance = await issue_once(provider, sale(order_body("IO-1")), POLICY, attempts, sleeps)

    [stored] = fakturownia.invoices()
    assert issuance.created is True
    assert issuance.document.provider_document_id == str(stored["id"])
    assert issuance.document.number == stored["number"]
    assert (attempts.count, sleeps.delays, fakturownia.posts()) == (1, [], 1)  # never re-posted


async def test_issue_once_over_a_create_still_committing_ends_with_one_document(
    fakturownia: SimEnv,
) -> None:
    """The first create is held at the gateway past the client timeout and commits late: the
    lookup right after the timeout misses it, and issue_once stays in doubt instead of creating
    again (the scheduler re-creates only after the commit window, ADR 0006 §7)."""
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action="latency", method="POST", path_regex=CREATE, delay_ms=900)
    )
    attempts = Attempts()
    with pytest.raises(ProviderInDoubt):
        await issue_once(
            fakturownia.provider(timeout=0.3), sale(order_body("IO-4")), POLICY, attempts, Sleeps()
        )
    assert attempts.count == 1
    for _ in range(40):  # wait for the held create to reach the application and commit
        if fakturownia.invoices():
            break
        await asyncio.sleep(0.05)
    [stored] = fakturownia.invoices()
    statuses = [
        r.status
        for r in fakturownia.sim.request_log(PREFIX)
        if r.method == "POST" and r.path == "/invoices.json"
    ]
    assert statuses == [201] and stored["oid"]


@pytest.mark.parametrize("times", [2, -1])
async def test_issue_once_looks_an_in_doubt_create_up_and_never_repeats_it_inline(
    fakturownia: SimEnv, times: int
) -> None:
    fakturownia.sim.add_fault(
        PREFIX, FaultRule(action="http_5xx", method="POST", path_regex=CREATE, times=times)
    )
    attempts, sleeps = Attempts(), Sleeps()
    with pytest.raises(ProviderInDoubt):
        await issue_once(fakturownia.provider(), sale(order_body("IO-2")), POLICY, attempts, sleeps)
    assert (attempts.count, len(sleeps.delays), fakturownia.posts()) == (1, 0, 1)
    assert fakturownia.invoices() == []
    lookups = [r for r in fakturownia.sim.request_log(PREFIX) if r.method == "GET"]
    assert len(lookups) == 1  # looked up once; the retry is the scheduler's
