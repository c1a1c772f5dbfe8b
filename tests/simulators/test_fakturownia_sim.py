"""Fidelity tests of the Fakturownia simulator over real HTTP (httpx against ``sim.serve``).

Each test pins concrete status codes, keys and value formats from
shared/reference/fakturownia-api.md, so a drift in the simulator breaks the suite.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.fakturownia import (
    FakturowniaSimulator,
    FaultRule,
    RequestRecord,
    SimAccount,
    SimDepartment,
)
from simulators.fakturownia.money import format_decimal, parse_decimal, round_half_up
from simulators.fakturownia.vat import document_totals, net_from_gross
from tests.simulators import support
from tests.simulators.support import served_in_thread, standalone

TOKEN = "tok-acme"
KSEF_TOKEN = "tok-ksef"
SELLER_NIP = "5252445767"
UNAUTHORIZED = {"code": "error", "message": "You must be logged in to gain access to the site"}
BLANK = ["- nie może być puste"]


def _department(dep_id: int, name: str) -> SimDepartment:
    return SimDepartment(
        id=dep_id,
        name=name,
        shortcut=name[-1],
        tax_no=SELLER_NIP,
        street="ul. Prosta 1",
        post_code="00-001",
        city="Warszawa",
        main=dep_id % 100 == 1,
    )


def _accounts() -> list[SimAccount]:
    return [
        SimAccount(
            prefix="acme",
            api_token=TOKEN,
            departments=[_department(101, "Sklep A"), _department(102, "Sklep B")],
        ),
        SimAccount(
            prefix="ksef",
            api_token=KSEF_TOKEN,
            departments=[_department(201, "Sklep K")],
            ksef_enabled=True,
            ksef_delay_seconds=0.2,
        ),
        SimAccount(prefix="other", api_token="tok-other"),
    ]


def _add_ksef_account(
    sim: FakturowniaSimulator, prefix: str, department: SimDepartment, **settings: Any
) -> dict[str, str]:
    """Another KSeF account (token ``tok-{prefix}``) on ``sim``; returns the ``prefix`` and
    ``token`` arguments of ``create`` / ``created`` that address it."""
    token = f"tok-{prefix}"
    sim.add_account(
        SimAccount(
            prefix=prefix,
            api_token=token,
            departments=[department],
            ksef_enabled=True,
            **settings,
        )
    )
    return {"prefix": prefix, "token": token}


@pytest.fixture
def sim() -> FakturowniaSimulator:
    simulator = FakturowniaSimulator()
    for account in _accounts():
        simulator.add_account(account)
    return simulator


def company_invoice(**overrides: Any) -> dict[str, Any]:
    return support.company_invoice(**{"department_id": 101, **overrides})


def person_invoice(**overrides: Any) -> dict[str, Any]:
    return support.person_invoice(**{"department_id": 101, **overrides})


async def create(
    http: httpx.AsyncClient,
    invoice: dict[str, Any],
    prefix: str = "acme",
    token: str = TOKEN,
    **envelope: Any,
) -> httpx.Response:
    return await http.post(
        f"/{prefix}/invoices.json", json={"api_token": token, "invoice": invoice, **envelope}
    )


async def created(http: httpx.AsyncClient, invoice: dict[str, Any], **kwargs: Any) -> dict:
    response = await create(http, invoice, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


async def get_invoice(
    http: httpx.AsyncClient, invoice_id: int, prefix: str = "acme", token: str = TOKEN, **params
) -> httpx.Response:
    return await http.get(
        f"/{prefix}/invoices/{invoice_id}.json", params={"api_token": token, **params}
    )


async def list_invoices(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await http.get("/acme/invoices.json", params={"api_token": TOKEN, **params})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    return body


def month_number(seq: int, day: str, prefix: str = "") -> str:
    year, month, _ = day.split("-")
    return f"{prefix}{seq}/{month}/{year}"


# --- create -------------------------------------------------------------------------------


async def test_create_returns_201_with_full_document(
    http: httpx.AsyncClient, base_url: str, sim: FakturowniaSimulator
) -> None:
    doc = await created(http, company_invoice(issue_date="2026-03-15", oid="allegro-1"))

    assert isinstance(doc["id"], int)
    assert doc["number"] == "1/03/2026"
    assert doc["kind"] == "vat"
    assert doc["status"] == "issued"
    assert doc["income"] is True
    assert doc["buyer_company"] is True
    assert re.fullmatch(r"[A-Za-z0-9]{20}", doc["token"])
    assert doc["view_url"] == f"{base_url}/acme/invoice/{doc['token']}"
    assert (doc["price_net"], doc["price_tax"], doc["price_gross"]) == ("81.3", "18.7", "100.0")
    assert doc["paid"] == "0.0"
    assert doc["currency"] == "PLN"
    assert doc["oid"] == "allegro-1"
    assert isinstance(doc["client_id"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", doc["created_at"])
    [position] = doc["positions"]
    assert isinstance(position["id"], int)
    assert position["invoice_id"] == doc["id"]
    assert position["quantity"] == "1.0"
    assert position["tax"] == "23"
    assert position["total_price_net"] == "81.3"
    assert position["total_price_gross"] == "100.0"
    assert doc["gov_status"] is None
    assert sim.invoices("acme") == [doc]


async def test_vat_totals_are_computed_per_rate_group(http: httpx.AsyncClient) -> None:
    doc = await created(
        http,
        company_invoice(
            positions=[
                {"name": "A", "tax": 23, "total_price_gross": "100.00"},
                {"name": "B", "tax": "8", "total_price_gross": 54.00},
            ]
        ),
    )
    assert [p["total_price_net"] for p in doc["positions"]] == ["81.3", "50.0"]
    assert (doc["price_net"], doc["price_tax"], doc["price_gross"]) == ("131.3", "22.7", "154.0")


async def test_group_net_comes_from_summed_gross_not_line_nets(http: httpx.AsyncClient) -> None:
    lines = [{"name": f"L{i}", "tax": 23, "total_price_gross": 1} for i in range(3)]
    doc = await created(http, company_invoice(positions=lines))
    assert [p["total_price_net"] for p in doc["positions"]] == ["0.81", "0.81", "0.81"]
    assert (doc["price_net"], doc["price_tax"], doc["price_gross"]) == ("2.44", "0.56", "3.0")


async def test_zero_vat_codes_and_polish_decimal_commas(http: httpx.AsyncClient) -> None:
    doc = await created(
        http,
        company_invoice(
            exempt_tax_kind="art. 43 ust. 1 pkt 37",
            np_tax_kind="export_service",
            positions=[
                {"name": "Z", "tax": "zw", "total_price_gross": "12,50"},
                {"name": "N", "tax": "nie podlega", "total_price_gross": "10"},
                {"name": "O", "tax": "oo", "total_price_gross": 7.25},
                {"name": "0", "tax": 0, "total_price_gross": "1 000,00", "quantity": "2,5"},
            ],
        ),
    )
    assert [p["tax"] for p in doc["positions"]] == ["zw", "np", "oo", "0"]
    assert doc["positions"][3]["quantity"] == "2.5"
    assert doc["positions"][3]["price_gross"] == "400.0"
    assert (doc["price_net"], doc["price_tax"], doc["price_gross"]) == ("1029.75", "0.0", "1029.75")


async def test_amounts_round_half_up(http: httpx.AsyncClient) -> None:
    """Ties appear in unit prices and over-precise input; banker's rounding would go down."""
    doc = await created(
        http,
        company_invoice(
            positions=[
                {"name": "U", "tax": 0, "total_price_gross": "0.25", "quantity": 2},
                {"name": "P", "tax": 0, "total_price_gross": "10.005"},
            ]
        ),
    )
    assert doc["positions"][0]["price_gross"] == "0.13"
    assert doc["positions"][1]["total_price_gross"] == "10.01"
    assert doc["price_gross"] == "10.26"


async def test_numbering_is_per_kind_and_per_month(http: httpx.AsyncClient) -> None:
    day = "2026-04-10"
    numbers = [
        (await created(http, company_invoice(issue_date=day, kind=kind)))["number"]
        for kind in ("vat", "vat", "receipt")
    ]
    other_month = await created(http, company_invoice(issue_date="2026-05-01"))
    assert numbers == ["1/04/2026", "2/04/2026", "PAR 1/04/2026"]
    assert other_month["number"] == "1/05/2026"


async def test_explicit_duplicate_number_is_rejected(http: httpx.AsyncClient) -> None:
    await created(http, company_invoice(number="FV/7/2026"))
    response = await create(http, company_invoice(number="FV/7/2026"))
    assert response.status_code == 422
    assert response.json() == {"code": "error", "message": {"number": ["- jest już zajęte"]}}


async def test_department_overrides_sent_seller_fields(http: httpx.AsyncClient) -> None:
    doc = await created(
        http, company_invoice(department_id=102, seller_name="Ignored", seller_tax_no="1")
    )
    assert doc["department_id"] == 102
    assert doc["seller_name"] == "Sklep B"
    assert doc["seller_tax_no"] == SELLER_NIP
    assert doc["seller_city"] == "Warszawa"


async def test_without_department_the_main_department_is_the_seller(
    http: httpx.AsyncClient,
) -> None:
    invoice = company_invoice()
    del invoice["department_id"]
    doc = await created(http, invoice)
    assert (doc["department_id"], doc["seller_name"]) == (101, "Sklep A")


async def test_unknown_department_is_422(http: httpx.AsyncClient, sim: FakturowniaSimulator):
    response = await create(http, company_invoice(department_id=999))
    assert response.status_code == 422
    assert response.json() == {"code": "error", "message": {"department_id": ["- nie istnieje"]}}
    assert sim.invoices("acme") == []


async def test_optional_fields_are_echoed(http: httpx.AsyncClient) -> None:
    doc = await created(
        http,
        company_invoice(
            payment_type="card",
            status="paid",
            paid_date="2026-03-14",
            currency="EUR",
            exchange_kind="nbp",
            sell_date="2026-03",
            issue_date="2026-03-15",
            internal_note="order:42",
            positions=[
                {
                    "name": "W",
                    "tax": 23,
                    "total_price_gross": 10,
                    "gtu_code": "GTU_06",
                    "code": "SKU-1",
                    "quantity_unit": "kg",
                }
            ],
        ),
    )
    assert doc["status"] == "paid"
    assert doc["paid"] == "10.0"
    assert (doc["payment_type"], doc["paid_date"], doc["currency"]) == ("card", "2026-03-14", "EUR")
    assert (doc["exchange_kind"], doc["sell_date"]) == ("nbp", "2026-03")
    assert doc["internal_note"] == "order:42"
    assert doc["payment_to"] == "2026-03-22"
    position = doc["positions"][0]
    assert (position["gtu_code"], position["code"], position["quantity_unit"]) == (
        "GTU_06",
        "SKU-1",
        "kg",
    )


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invoice", "expected"),
    [
        (company_invoice(buyer_name=None), {"buyer_name": BLANK}),
        (person_invoice(buyer_first_name=None, buyer_last_name=None), {"buyer_name": BLANK}),
        (
            company_invoice(positions=[{"name": "A", "tax": 23}]),
            {"positions.total_price_gross": BLANK},
        ),
        (
            company_invoice(positions=[{"name": "A", "tax": 17, "total_price_gross": 1}]),
            {"positions.tax": ["- nie jest na liście"]},
        ),
        (company_invoice(positions=[]), {"positions": BLANK}),
        (company_invoice(kind="banana"), {"kind": ["- nie jest na liście"]}),
    ],
    ids=["buyer-name", "person-names", "gross", "tax", "no-positions", "kind"],
)
async def test_validation_errors_are_field_maps(
    http: httpx.AsyncClient,
    sim: FakturowniaSimulator,
    invoice: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    response = await create(http, invoice)
    assert response.status_code == 422
    assert response.json() == {"code": "error", "message": expected}
    assert sim.invoices("acme") == []
    assert sim.clients("acme") == []


async def test_person_name_is_built_from_first_and_last_name(http: httpx.AsyncClient) -> None:
    doc = await created(http, person_invoice())
    assert doc["buyer_company"] is False
    assert doc["buyer_name"] == "Jan Kowalski"


# --- oid and clients ----------------------------------------------------------------------


async def test_oid_unique_rejects_second_document_with_same_oid(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    await created(http, company_invoice(oid="order-9", oid_unique="yes"))
    again = await create(http, company_invoice(oid="order-9", oid_unique="yes"))
    other_kind = await create(
        http, company_invoice(oid="order-9", oid_unique="yes", kind="receipt")
    )
    without_flag = await create(http, company_invoice(oid="order-9"))

    expected = {"code": "error", "message": {"oid": ["- jest już zajęte"]}}
    assert (again.status_code, again.json()) == (422, expected)
    assert (other_kind.status_code, other_kind.json()) == (422, expected)
    assert without_flag.status_code == 201
    assert [d["oid"] for d in sim.invoices("acme")] == ["order-9", "order-9"]


async def test_oid_unique_is_scoped_to_the_account(http: httpx.AsyncClient) -> None:
    await created(http, company_invoice(oid="shared", oid_unique="yes"))
    invoice = company_invoice(oid="shared", oid_unique="yes", department_id=None)
    response = await create(http, invoice, prefix="other", token="tok-other")
    assert response.status_code == 201


async def test_clients_are_matched_or_created(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    first = await created(http, company_invoice())
    same = await created(http, company_invoice())
    changed = await created(http, company_invoice(buyer_email="inny@hurtownia.example"))
    person = await created(http, person_invoice())
    person_again = await created(http, person_invoice())
    forced = await created(http, company_invoice(client_id=-1))

    assert first["client_id"] == same["client_id"]
    assert changed["client_id"] != first["client_id"]
    assert person["client_id"] == person_again["client_id"]
    assert forced["client_id"] not in {first["client_id"], changed["client_id"]}
    cards = sim.clients("acme")
    assert len(cards) == 4
    assert {(c["name"], c["company"]) for c in cards} >= {("Jan Kowalski", False)}


async def test_client_id_fills_missing_buyer_data(http: httpx.AsyncClient) -> None:
    first = await created(http, company_invoice())
    doc = await created(
        http,
        company_invoice(client_id=first["client_id"], buyer_name=None, buyer_tax_no=None),
    )
    assert doc["client_id"] == first["client_id"]
    assert (doc["buyer_name"], doc["buyer_tax_no"]) == ("Hurtownia Sp. z o.o.", "1234563218")
    unknown = await create(http, company_invoice(client_id=123))
    assert unknown.json() == {"code": "error", "message": {"client_id": ["- nie istnieje"]}}


# --- auth and routing ---------------------------------------------------------------------


async def test_token_is_accepted_from_query_body_and_bearer(http: httpx.AsyncClient) -> None:
    by_query = await http.get("/acme/departments.json", params={"api_token": TOKEN})
    by_bearer = await http.get(
        "/acme/departments.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    by_body = await http.post("/acme/invoices.json", json={"api_token": TOKEN, "invoice": {}})
    assert by_query.status_code == 200
    assert by_bearer.status_code == 200
    assert by_body.status_code == 422


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/acme/invoices.json", {"api_token": "wrong"}, {}),
        ("/acme/invoices.json", {}, {}),
        ("/acme/invoices.json", {}, {"Authorization": "Bearer wrong"}),
        ("/nosuch/invoices.json", {"api_token": TOKEN}, {}),
        ("/acme/invoices/1.json", {"api_token": "tok-other"}, {}),
    ],
    ids=["bad-query", "missing", "bad-bearer", "unknown-prefix", "other-account-token"],
)
async def test_bad_or_missing_token_is_401(
    http: httpx.AsyncClient, path: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = await http.get(path, params=params, headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_host_header_routing(http: httpx.AsyncClient, sim: FakturowniaSimulator) -> None:
    headers = {"Host": "acme.fakturownia.pl", "Authorization": f"Bearer {TOKEN}"}
    response = await http.post(
        "/invoices.json", json={"invoice": company_invoice()}, headers=headers
    )
    assert response.status_code == 201
    doc = response.json()
    assert doc["view_url"] == f"http://acme.fakturownia.pl/invoice/{doc['token']}"
    unknown = await http.get("/invoices.json", headers={**headers, "Host": "x.fakturownia.pl"})
    assert (unknown.status_code, unknown.json()) == (401, UNAUTHORIZED)
    assert len(sim.invoices("acme")) == 1


async def test_unknown_invoice_and_foreign_invoice_are_404(http: httpx.AsyncClient) -> None:
    doc = await created(http, company_invoice())
    missing = await get_invoice(http, 1)
    foreign = await get_invoice(http, doc["id"], prefix="other", token="tok-other")
    expected = {"code": "error", "message": "Not found"}
    assert (missing.status_code, missing.json()) == (404, expected)
    assert (foreign.status_code, foreign.json()) == (404, expected)


async def test_departments_endpoints(http: httpx.AsyncClient) -> None:
    listing = await http.get("/acme/departments.json", params={"api_token": TOKEN})
    one = await http.get("/acme/departments/102.json", params={"api_token": TOKEN})
    missing = await http.get("/acme/departments/7.json", params={"api_token": TOKEN})
    assert [(d["id"], d["name"], d["shortcut"], d["tax_no"]) for d in listing.json()] == [
        (101, "Sklep A", "A", SELLER_NIP),
        (102, "Sklep B", "B", SELLER_NIP),
    ]
    assert listing.json()[0]["main"] is True
    assert (one.json()["id"], one.json()["city"]) == (102, "Warszawa")
    assert missing.status_code == 404


# --- reading ------------------------------------------------------------------------------


async def test_list_is_a_bare_array_paged_by_25_and_capped_at_100(
    http: httpx.AsyncClient,
) -> None:
    for i in range(105):
        await created(http, company_invoice(oid=f"o-{i}"))
    page1 = await list_invoices(http)
    page5 = await list_invoices(http, page=5)
    big = await list_invoices(http, per_page=500)
    big2 = await list_invoices(http, per_page=500, page=2)
    assert len(page1) == 25
    assert len(page5) == 5
    assert len(big) == 100
    assert len(big2) == 5
    assert "positions" not in page1[0]
    ids = [d["id"] for d in big + big2]
    assert len(set(ids)) == 105


async def test_list_filters(http: httpx.AsyncClient) -> None:
    today = date.today()
    vat = await created(http, company_invoice(oid="A-1"))
    receipt = await created(http, company_invoice(oid="A-2", kind="receipt"))
    old_day = (today - timedelta(days=800)).isoformat()
    old = await created(http, company_invoice(oid="A-3", issue_date=old_day))

    by_oid = await list_invoices(http, oid="A-1")
    by_number = await list_invoices(http, number=receipt["number"])
    by_kind = await list_invoices(http, kind="receipt")
    by_kinds = await list_invoices(http, **{"kinds[]": ["vat", "receipt"]})
    default_period = await list_invoices(http)
    all_period = await list_invoices(http, period="all")
    window = await list_invoices(http, period="more", date_from=old_day, date_to=old_day)
    with_positions = await list_invoices(http, oid="A-1", include_positions="true")
    ordered = await list_invoices(http, period="all", order="oid.desc")

    assert [d["id"] for d in by_oid] == [vat["id"]]
    assert [d["id"] for d in by_number] == [receipt["id"]]
    assert [d["id"] for d in by_kind] == [receipt["id"]]
    assert {d["id"] for d in by_kinds} == {vat["id"], receipt["id"]}
    assert old["id"] not in {d["id"] for d in default_period}
    assert {d["id"] for d in all_period} == {vat["id"], receipt["id"], old["id"]}
    assert [d["id"] for d in window] == [old["id"]]
    assert with_positions[0]["positions"][0]["name"] == "Widget"
    assert [d["oid"] for d in ordered] == ["A-3", "A-2", "A-1"]


async def test_fields_filter_on_show(http: httpx.AsyncClient) -> None:
    doc = await created(http, company_invoice())
    response = await get_invoice(http, doc["id"], **{"fields[invoice]": "id,number,gov_status"})
    assert response.json() == {"id": doc["id"], "number": doc["number"], "gov_status": None}


async def test_pdf_has_pdf_magic_bytes(http: httpx.AsyncClient) -> None:
    doc = await created(http, company_invoice())
    response = await http.get(f"/acme/invoices/{doc['id']}.pdf", params={"api_token": TOKEN})
    public = await http.get(f"/acme/invoice/{doc['token']}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.4")
    assert response.content.rstrip().endswith(b"%%EOF")
    assert public.content == response.content


# --- corrections --------------------------------------------------------------------------


def correction(original_id: int, **overrides: Any) -> dict[str, Any]:
    invoice: dict[str, Any] = {
        "kind": "correction",
        "invoice_id": original_id,
        "from_invoice_id": original_id,
        "correction_reason": "Zwrot 1 szt.",
        "positions": [
            {
                "name": "Widget",
                "kind": "correction",
                "quantity": -1,
                "tax": 23,
                "total_price_gross": -100,
                "correction_before_attributes": {
                    "name": "Widget",
                    "quantity": 2,
                    "tax": 23,
                    "total_price_gross": 200,
                    "kind": "correction_before",
                },
                "correction_after_attributes": {
                    "name": "Widget",
                    "quantity": 1,
                    "tax": 23,
                    "total_price_gross": 100,
                    "kind": "correction_after",
                },
            }
        ],
    }
    invoice.update(overrides)
    return invoice


async def test_correction_links_original_and_keeps_before_after(http: httpx.AsyncClient) -> None:
    original = await created(
        http,
        company_invoice(
            positions=[{"name": "Widget", "quantity": 2, "tax": 23, "total_price_gross": 200}]
        ),
    )
    doc = await created(http, correction(original["id"]))

    assert doc["kind"] == "correction"
    assert doc["number"].startswith("KOR 1/")
    assert (doc["invoice_id"], doc["from_invoice_id"]) == (original["id"], original["id"])
    assert doc["correction_reason"] == "Zwrot 1 szt."
    assert doc["buyer_name"] == original["buyer_name"]
    assert (doc["price_net"], doc["price_tax"], doc["price_gross"]) == ("-81.3", "-18.7", "-100.0")
    assert "correction_before_attributes" not in doc["positions"][0]

    full = (await get_invoice(http, doc["id"], correction_positions="full")).json()
    line = full["positions"][0]
    assert line["kind"] == "correction"
    assert line["quantity"] == "-1.0"
    before, after = line["correction_before_attributes"], line["correction_after_attributes"]
    assert (before["kind"], before["quantity"], before["total_price_gross"]) == (
        "correction_before",
        "2.0",
        "200.0",
    )
    assert (after["kind"], after["total_price_net"]) == ("correction_after", "81.3")
    linked = await list_invoices(http, invoice_id=original["id"])
    assert [d["id"] for d in linked] == [doc["id"]]
    from_linked = await list_invoices(http, from_invoice_id=original["id"])
    assert [d["id"] for d in from_linked] == [doc["id"]]


async def test_correction_requires_existing_invoice(http: httpx.AsyncClient) -> None:
    foreign = await created(
        http, company_invoice(department_id=None), prefix="other", token="tok-other"
    )
    buyer = {"buyer_name": "Hurtownia Sp. z o.o."}
    unknown = await create(http, correction(foreign["id"], **buyer))
    missing = await create(http, correction(0, invoice_id=None, from_invoice_id=None, **buyer))
    assert unknown.status_code == 422
    assert unknown.json()["message"] == {"invoice_id": ["- nie istnieje"]}
    assert missing.json()["message"] == {"invoice_id": BLANK}


# --- e-mail -------------------------------------------------------------------------------


async def test_send_by_email_records_message(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    doc = await created(http, company_invoice())
    default = await http.post(
        f"/acme/invoices/{doc['id']}/send_by_email.json", params={"api_token": TOKEN}
    )
    explicit = await http.post(
        f"/acme/invoices/{doc['id']}/send_by_email.json",
        json={"api_token": TOKEN, "email_to": "ksiegowosc@example.test", "email_pdf": True},
    )
    assert default.status_code == 200
    assert default.json()["status"] == "ok"
    assert "biuro@hurtownia.example" in default.json()["message"]
    assert default.json()["message"].startswith("Wysłano")
    assert "ksiegowosc@example.test" in explicit.json()["message"]
    sent = sim.sent_emails("acme")
    assert [(e.invoice_id, e.to, e.with_pdf) for e in sent] == [
        (doc["id"], ("biuro@hurtownia.example",), False),
        (doc["id"], ("ksiegowosc@example.test",), True),
    ]
    assert sim.invoices("acme")[0]["status"] == "sent"


async def test_ksef_blocks_email_for_company_until_ksef_number(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    doc = await created(
        http,
        company_invoice(department_id=201),
        prefix="ksef",
        token=KSEF_TOKEN,
        gov_save_and_send=True,
    )
    path = f"/ksef/invoices/{doc['id']}/send_by_email.json"
    blocked = await http.post(path, params={"api_token": KSEF_TOKEN})
    sim.complete_ksef("ksef")
    allowed = await http.post(path, params={"api_token": KSEF_TOKEN})
    assert blocked.status_code == 200
    assert blocked.json() == {
        "status": "error",
        "message": "Faktura nie może zostać wysłana - brak numeru KSeF",
    }
    assert allowed.json()["status"] == "ok"
    assert len(sim.sent_emails("ksef")) == 1


async def test_ksef_does_not_block_email_to_a_person(http: httpx.AsyncClient) -> None:
    doc = await created(http, person_invoice(department_id=201), prefix="ksef", token=KSEF_TOKEN)
    response = await http.post(
        f"/ksef/invoices/{doc['id']}/send_by_email.json", params={"api_token": KSEF_TOKEN}
    )
    assert response.json()["status"] == "ok"


# --- KSeF ---------------------------------------------------------------------------------


async def test_ksef_progression_from_processing_to_ok(http: httpx.AsyncClient) -> None:
    doc = await created(
        http,
        company_invoice(department_id=201),
        prefix="ksef",
        token=KSEF_TOKEN,
        gov_save_and_send=True,
    )
    assert (doc["gov_status"], doc["gov_id"]) == ("processing", None)
    still = (await get_invoice(http, doc["id"], "ksef", KSEF_TOKEN)).json()
    assert still["gov_status"] == "processing"

    await asyncio.sleep(0.25)
    done = (await get_invoice(http, doc["id"], "ksef", KSEF_TOKEN)).json()
    assert done["gov_status"] == "ok"
    today = date.today().strftime("%Y%m%d")
    assert re.fullmatch(rf"{SELLER_NIP}-{today}-[0-9A-F]{{12}}", done["gov_id"])
    assert done["gov_verification_link"].startswith(
        f"https://ksef.mf.gov.pl/web/verify/{done['gov_id']}/"
    )


async def test_ksef_status_by_kind_and_trigger(http: httpx.AsyncClient) -> None:
    ksef = {"prefix": "ksef", "token": KSEF_TOKEN}
    receipt = await created(
        http, person_invoice(department_id=201, kind="receipt"), gov_save_and_send=True, **ksef
    )
    untriggered = await created(http, company_invoice(department_id=201), **ksef)
    off = await created(http, company_invoice(), gov_save_and_send=True)
    by_query = await http.post(
        "/ksef/invoices.json",
        params={"gov_save_and_send": "1"},
        json={"api_token": KSEF_TOKEN, "invoice": company_invoice(department_id=201)},
    )
    assert receipt["gov_status"] == "not_applicable"
    assert untriggered["gov_status"] is None
    assert off["gov_status"] is None
    assert by_query.json()["gov_status"] == "processing"

    sent = await get_invoice(http, untriggered["id"], "ksef", KSEF_TOKEN, send_to_ksef="yes")
    assert (sent.json()["gov_status"], sent.json()["gov_id"]) == ("processing", None)


async def test_ksef_auto_send_mode_pl_companies(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    auto = _add_ksef_account(
        sim, "auto", _department(301, "Sklep Auto"), gov_auto_send_mode="pl_companies"
    )
    company = await created(http, company_invoice(department_id=301), **auto)
    foreign = await created(
        http,
        company_invoice(department_id=301, buyer_country="DE", buyer_tax_no_kind="nip_ue"),
        **auto,
    )
    person = await created(http, person_invoice(department_id=301), **auto)
    assert company["gov_status"] == "processing"
    assert foreign["gov_status"] is None
    assert person["gov_status"] is None


@pytest.mark.parametrize(
    ("invoice", "expected"),
    [
        (company_invoice(department_id=201, buyer_tax_no=None), {"buyer_tax_no": BLANK}),
        (
            company_invoice(
                department_id=201, positions=[{"name": "Z", "tax": "zw", "total_price_gross": 5}]
            ),
            {"exempt_tax_kind": BLANK},
        ),
        (
            company_invoice(
                department_id=201, positions=[{"name": "N", "tax": "np", "total_price_gross": 5}]
            ),
            {"np_tax_kind": BLANK},
        ),
        (
            person_invoice(department_id=201, buyer_name="Jan K", buyer_first_name=None),
            {"buyer_first_name": BLANK},
        ),
        (
            company_invoice(department_id=None, seller_name="Nowa firma"),
            {
                "seller_tax_no": BLANK,
                "seller_street": BLANK,
                "seller_post_code": BLANK,
                "seller_city": BLANK,
                "seller_country": BLANK,
            },
        ),
    ],
    ids=["buyer-nip", "zw", "np", "person-names", "seller"],
)
async def test_ksef_validation_rejects_non_compliant_invoices(
    http: httpx.AsyncClient, invoice: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    response = await create(http, invoice, prefix="ksef", token=KSEF_TOKEN)
    assert response.status_code == 422
    assert response.json() == {"code": "error", "message": expected}


async def test_ksef_without_validation_saves_and_fails_the_send(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    lax = _add_ksef_account(
        sim, "lax", _department(401, "Sklep L"), validate_invoices_for_gov=False
    )
    doc = await created(
        http,
        company_invoice(department_id=401, buyer_tax_no=None),
        **lax,
        gov_save_and_send=True,
    )
    assert doc["gov_status"] == "send_error"
    assert doc["gov_error_messages"] == ["buyer_tax_no - nie może być puste"]


async def test_ksef_outcome_server_error(http: httpx.AsyncClient, sim: FakturowniaSimulator):
    config = sim.account("ksef")
    config.ksef_outcome = "server_error"
    sim.add_account(config)
    doc = await created(
        http,
        company_invoice(department_id=201),
        prefix="ksef",
        token=KSEF_TOKEN,
        gov_save_and_send=True,
    )
    sim.complete_ksef("ksef")
    after = (await get_invoice(http, doc["id"], "ksef", KSEF_TOKEN)).json()
    assert (after["gov_status"], after["gov_id"]) == ("server_error", None)


async def test_correction_under_ksef_carries_corrected_ksef_number(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    ksef = {"prefix": "ksef", "token": KSEF_TOKEN}
    original = await created(
        http, company_invoice(department_id=201), gov_save_and_send=True, **ksef
    )
    sim.complete_ksef("ksef")
    gov_id = sim.invoices("ksef")[0]["gov_id"]
    doc = await created(http, correction(original["id"]), gov_save_and_send=True, **ksef)
    assert doc["gov_corrected_invoice_number"] == gov_id
    assert doc["gov_status"] == "processing"
    assert doc["seller_tax_no"] == SELLER_NIP


# --- fault injection ----------------------------------------------------------------------


async def test_fault_http_5xx_then_recovers(http: httpx.AsyncClient, sim: FakturowniaSimulator):
    sim.add_fault(
        "acme", FaultRule(method="POST", path_regex=r"invoices\.json$", action="http_5xx", times=2)
    )
    first = await create(http, company_invoice())
    second = await create(http, company_invoice())
    listing = await http.get("/acme/invoices.json", params={"api_token": TOKEN})
    third = await create(http, company_invoice())
    assert first.status_code == second.status_code == 502
    assert first.headers["content-type"].startswith("text/html")
    assert first.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert listing.status_code == 200
    assert third.status_code == 201
    assert len(sim.invoices("acme")) == 1
    assert [r.status for r in sim.request_log("acme")] == [502, 502, 200, 201]


async def test_fault_http_5xx_custom_status_forever(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(action="http_5xx", status=503, times=-1))
    statuses = [(await create(http, company_invoice())).status_code for _ in range(3)]
    assert statuses == [503, 503, 503]
    sim.clear_faults("acme")
    assert (await create(http, company_invoice())).status_code == 201


async def test_fault_http_429_with_and_without_retry_after(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(action="http_429", retry_after=7))
    sim.add_fault("acme", FaultRule(action="http_429"))
    with_header = await create(http, company_invoice())
    without_header = await create(http, company_invoice())
    assert with_header.status_code == without_header.status_code == 429
    assert with_header.headers["Retry-After"] == "7"
    assert "Retry-After" not in without_header.headers
    assert sim.invoices("acme") == []


async def test_fault_latency_delays_then_answers(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(action="latency", delay_ms=300, method="GET"))
    started = time.monotonic()
    response = await http.get("/acme/departments.json", params={"api_token": TOKEN})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


async def test_fault_method_and_path_must_match(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(method="POST", path_regex=r"send_by_email", action="http_5xx"))
    response = await create(http, company_invoice())
    listing = await http.get("/acme/invoices.json", params={"api_token": TOKEN})
    assert response.status_code == 201
    assert listing.status_code == 200
    email = await http.post(
        f"/acme/invoices/{response.json()['id']}/send_by_email.json", params={"api_token": TOKEN}
    )
    assert email.status_code == 502


async def test_fault_hang_after_commit_times_out_with_document_created(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(method="POST", action="hang_after_commit", seconds=2))
    with pytest.raises(httpx.ReadTimeout):
        await http.post(
            "/acme/invoices.json",
            json={"api_token": TOKEN, "invoice": company_invoice(oid="hang-1")},
            timeout=0.3,
        )
    found = await list_invoices(http, oid="hang-1", period="all")
    assert [d["oid"] for d in found] == ["hang-1"]
    assert len(sim.invoices("acme")) == 1


async def test_fault_drop_after_commit_closes_connection_with_document_created(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(method="POST", action="drop_after_commit"))
    with pytest.raises(httpx.RemoteProtocolError):
        await create(http, company_invoice(oid="drop-1"))
    found = await list_invoices(http, oid="drop-1", period="all")
    assert [d["oid"] for d in found] == ["drop-1"]
    assert sim.request_log("acme")[0] == RequestRecord("POST", "/invoices.json", None)


async def test_fault_revoke_token_makes_every_call_401(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(method="POST", action="revoke_token"))
    first = await create(http, company_invoice())
    later = await http.get("/acme/departments.json", params={"api_token": TOKEN})
    assert (first.status_code, first.json()) == (401, UNAUTHORIZED)
    assert (later.status_code, later.json()) == (401, UNAUTHORIZED)
    assert sim.invoices("acme") == []
    sim.reset()
    assert (await create(http, company_invoice())).status_code == 201


# --- control API, reset, threads, process -------------------------------------------------


async def test_control_api(http: httpx.AsyncClient, sim: FakturowniaSimulator) -> None:
    health = await http.get("/__sim/health")
    added = await http.post(
        "/__sim/accounts",
        json={
            "prefix": "demo",
            "api_token": "tok-demo",
            "departments": [{"id": 501, "name": "Demo", "tax_no": SELLER_NIP}],
        },
    )
    doc = await created(http, company_invoice(department_id=501), prefix="demo", token="tok-demo")
    fault = await http.post(
        "/__sim/accounts/demo/faults", json={"action": "http_429", "retry_after": 3}
    )
    limited = await create(http, company_invoice(), prefix="demo", token="tok-demo")
    invoices = await http.get("/__sim/accounts/demo/invoices")
    unknown = await http.get("/__sim/accounts/nope/invoices")
    bad_rule = await http.post("/__sim/accounts/demo/faults", json={"action": "explode"})
    reset = await http.post("/__sim/reset")

    assert health.json() == {"status": "ok"}
    assert added.status_code == 201
    assert fault.status_code == 201
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert [d["id"] for d in invoices.json()] == [doc["id"]]
    assert unknown.status_code == 404
    assert bad_rule.status_code == 400
    assert reset.status_code == 200
    assert sim.invoices("demo") == []
    assert sim.account("demo").api_token == "tok-demo"


async def test_reset_can_drop_accounts(sim: FakturowniaSimulator) -> None:
    sim.reset(accounts=True)
    assert sim.accounts() == []
    with pytest.raises(KeyError):
        sim.invoices("acme")


def test_serve_in_thread_with_sync_client(sim: FakturowniaSimulator) -> None:
    with served_in_thread(sim) as url:
        response = httpx.post(
            f"{url}/acme/invoices.json",
            json={"api_token": TOKEN, "invoice": company_invoice()},
        )
        assert response.status_code == 201
    assert len(sim.invoices("acme")) == 1


def test_standalone_process_loads_accounts_and_stops_on_sigterm(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([a.to_dict() for a in _accounts()]), encoding="utf-8")
    with standalone(
        "simulators.fakturownia", "--accounts", str(accounts), ready="fakturownia-simulator"
    ) as url:
        response = httpx.get(f"{url}/acme/departments.json?api_token={TOKEN}")
        assert [d["id"] for d in response.json()] == [101, 102]


# --- arithmetic properties ----------------------------------------------------------------

_AMOUNTS = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2)
_CODES = st.sampled_from(["23", "8", "5", "0", "zw", "np", "oo"])


@given(st.lists(st.tuples(_CODES, _AMOUNTS), min_size=1, max_size=8))
def test_totals_always_add_up(lines: list[tuple[str, Decimal]]) -> None:
    totals = document_totals(lines)
    assert totals.net + totals.tax == totals.gross == sum(g for _, g in lines)
    assert totals.net == round_half_up(totals.net)


@given(_AMOUNTS)
def test_zero_rate_codes_have_no_vat(gross: Decimal) -> None:
    for code in ("zw", "np", "oo", "0"):
        assert net_from_gross(gross, code) == gross


@given(_AMOUNTS)
def test_money_round_trips_through_polish_comma_strings(amount: Decimal) -> None:
    polish = format(amount, "f").replace(".", ",")
    assert parse_decimal(polish) == amount
    assert Decimal(format_decimal(amount)) == amount
