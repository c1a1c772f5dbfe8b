"""Fidelity tests of the wFirma simulator over real HTTP (httpx against ``sim.serve``).

Each test pins concrete status codes, keys and value formats from
shared/reference/wfirma-api.md (section numbers in the test docstrings), so a drift in the
simulator breaks the suite.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.wfirma import (
    FaultRule,
    RateLimits,
    RequestRecord,
    SentEmail,
    SimApiKey,
    SimCompany,
    SimLogin,
    WfirmaSimulator,
)
from simulators.wfirma.models import SCOPES_MINIMAL
from simulators.wfirma.vat import BY_CODE, group_totals
from tests.simulators.support import served_in_thread, standalone
from tests.simulators.wfirma_helpers import (
    BUYER_NIP,
    CLIENT_ID,
    JSON,
    KEYS,
    MULTI_KEYS,
    NOW,
    OAUTH,
    REDIRECT_URI,
    SELLER_NIP,
    api,
    authorization_code,
    bearer,
    cond,
    contractor_body,
    find_body,
    first,
    invoice_body,
    line,
    logins,
    new_contractor,
    new_invoice,
    oauth_app,
    oauth_tokens,
    ok,
    rows,
    token_call,
)

INLINE_BUYER = {
    "name": "Jan Kowalski",
    "street": "ul. Krótka 2",
    "zip": "31-100",
    "city": "Kraków",
    "tax_id_type": "none",
    "email": "jan@example.test",
}
KSEF_NUMBER = re.compile(rf"{SELLER_NIP}-20260302-[0-9A-F]{{12}}-[0-9A-F]{{2}}")


@pytest.fixture
def sim() -> WfirmaSimulator:
    simulator = WfirmaSimulator(clock=lambda: NOW)
    for login in logins():
        simulator.add_login(login)
    simulator.add_oauth_app(oauth_app())
    return simulator


async def status_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["status"]["code"]


# --- envelopes and formats (§2.3, §2.4, §2.8, §3.8) --------------------------------------


async def test_add_answers_the_documented_numbered_envelope(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    """§3.8 worked example: same lines, same totals, strings everywhere, KSeF fields empty."""
    contractor_id = await new_contractor(http)
    response = await api(
        http,
        "/invoices/add",
        invoice_body(
            line("Kubek", 2, 49.20, unit="szt.", vat_code={"id": 222}, gtu="GTU_06"),
            line("Wysyłka", 1, 15.00, unit="usł.", vat="23"),
            contractor={"id": contractor_id},
            series={"id": 7301},
            id_external="shop-10042",
            paymentmethod="transfer",
            paymentdate="2026-03-16",
            description="Zamówienie 10042",
        ),
    )
    payload = response.json()

    assert response.status_code == 200
    assert set(payload) == {"invoices", "status"}
    assert payload["status"] == {"code": "OK"}
    invoice = first(payload, "invoices", "invoice")
    assert re.fullmatch(r"\d+", invoice["id"])
    assert invoice["fullnumber"] == "FV 1/3/2026"
    assert (invoice["netto"], invoice["tax"], invoice["total"]) == ("92.20", "21.20", "113.40")
    assert (invoice["total_composed"], invoice["remaining"]) == ("113.40", "113.40")
    assert invoice["paymentstate"] == "unpaid"
    assert invoice["price_type"] == "brutto"
    assert invoice["contractor"] == {"id": contractor_id}  # a number only in add (§2.8)
    assert invoice["contractor_detail"]["nip"] == BUYER_NIP
    assert invoice["series"] == {"id": "7301"}
    assert invoice["id_external"] == "shop-10042"
    assert invoice["paymentdate"] == "2026-03-16"
    kubek, shipping = rows(invoice, "invoicecontents", "invoicecontent")
    assert (kubek["gtu"], shipping["gtu"]) == ("GTU_06", "")
    assert (kubek["count"], kubek["price"], kubek["netto"], kubek["brutto"]) == (
        "2.0000",
        "49.20",
        "80.00",
        "98.40",
    )
    assert (shipping["netto"], shipping["brutto"], shipping["vat_code"]) == (
        "12.20",
        "15.00",
        {"id": "222"},
    )
    assert rows(invoice, "vat_contents", "vat_content") == [
        {"netto": "92.20", "tax": "21.20", "brutto": "113.40", "vat_code": {"id": "222"}}
    ]
    assert (invoice["ksef_reference_number"], invoice["ksef_status"]) == ("", "")
    assert invoice["created"] == "2026-03-02 10:00:00"


async def test_get_returns_the_record_with_string_ids(http: httpx.AsyncClient) -> None:
    created = await new_invoice(http, line("A", 1, 10), contractor=INLINE_BUYER)
    payload = await ok(http, f"/invoices/get/{created['id']}")
    record = first(payload, "invoices", "invoice")
    assert record["contractor"] == {"id": str(created["contractor"]["id"])}
    assert record["total"] == "10.00"
    assert "parameters" not in payload["invoices"]


@pytest.mark.parametrize(
    "shape",
    ["numbered", "unnumbered", "api_root_with_arrays", "lines_as_array"],
)
async def test_request_envelope_shapes_are_all_accepted(
    http: httpx.AsyncClient, shape: str
) -> None:
    """§2.3: numbered, un-numbered, ``api`` root with arrays, line arrays all work."""
    invoice = {"type": "normal", "price_type": "brutto", "contractor": INLINE_BUYER}
    lines = [line("A", 1, 12.30), line("B", 2, 5)]
    if shape == "numbered":
        body = invoice_body(*lines, contractor=INLINE_BUYER)
    elif shape == "unnumbered":
        body = {
            "invoices": {"invoice": {**invoice, "invoicecontents": {"0": lines[0], "1": lines[1]}}}
        }
    elif shape == "api_root_with_arrays":
        body = {"api": {"invoices": [{"invoice": {**invoice, "invoicecontents": lines}}]}}
    else:
        plain = [entry["invoicecontent"] for entry in lines]
        body = {"invoices": {"0": {"invoice": {**invoice, "invoicecontents": plain}}}}
    payload = await ok(http, "/invoices/add", body)
    record = first(payload, "invoices", "invoice")
    assert record["total"] == "22.30"
    assert [r["name"] for r in rows(record, "invoicecontents", "invoicecontent")] == ["A", "B"]


async def test_unknown_and_misspelled_keys_are_silently_dropped(http: httpx.AsyncClient) -> None:
    """§2.8: no error; misspelled fields fall back to defaults (paymentdate = date)."""
    record = await new_invoice(
        http,
        line("A", 1, 10, pricee=99, colour="red"),
        contractor=INLINE_BUYER,
        payment_date="2026-03-30",
        desciption="typo",
        is_net=1,
        whatever={"x": 1},
    )
    assert record["paymentdate"] == "2026-03-02"
    assert record["description"] == ""
    for key in ("payment_date", "desciption", "is_net", "whatever"):
        assert key not in record
    [only] = rows(record, "invoicecontents", "invoicecontent")
    assert (only["price"], only["brutto"]) == ("10.00", "10.00")
    assert "pricee" not in only and "colour" not in only


async def test_validation_errors_come_with_http_200_on_the_echoed_record(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    """§2.5/§2.6: ERROR, header errors, contractor.errors and per-line errors; nothing saved."""
    bad_buyer = {"name": "", "street": "Prosta 1", "zip": "00001", "city": "Warszawa"}
    response = await api(
        http,
        "/invoices/add",
        invoice_body(
            line("", 1, 10),
            line("B", "dużo", 10),
            date="2026-13-40",
            contractor=bad_buyer,
            id_external="bad-1",
        ),
    )
    payload = response.json()

    assert (response.status_code, payload["status"]) == (200, {"code": "ERROR"})
    echo = first(payload, "invoices", "invoice")
    assert "id" not in echo
    assert echo["id_external"] == "bad-1"
    [date_error] = rows(echo, "errors", "error")
    assert date_error == {
        "field": "date",
        "message": "Data musi być w formacie RRRR-MM-DD",
        "method": {"name": "date", "parameters": ""},
    }
    buyer_errors = rows(echo["contractor"], "errors", "error")
    assert [(e["field"], e["message"]) for e in buyer_errors] == [
        ("name", "Pole nie może być puste"),
        ("zip", "zip: Niepoprawny format kodu pocztowego."),
    ]
    first_line, second_line = rows(echo, "invoicecontents", "invoicecontent")
    assert [e["field"] for e in rows(first_line, "errors", "error")] == ["name"]
    assert rows(first_line, "errors", "error")[0]["message"] == "Treść nie moze być pusta"
    assert [e["field"] for e in rows(second_line, "errors", "error")] == ["count"]
    assert sim.invoices("acme") == []
    assert sim.contractors("acme") == []


async def test_missing_lines_and_missing_buyer_are_errors(http: httpx.AsyncClient) -> None:
    response = await api(http, "/invoices/add", invoice_body())
    echo = first(response.json(), "invoices", "invoice")
    assert response.json()["status"]["code"] == "ERROR"
    assert {e["field"] for e in rows(echo, "errors", "error")} == {"contractor", "invoicecontents"}


async def test_xml_is_the_default_format(http: httpx.AsyncClient) -> None:
    """§2.1: without the flags, output is XML; a JSON body read as XML is an INPUT ERROR."""
    xml_answer = await http.post("/companies/find", headers=KEYS)
    assert xml_answer.headers["content-type"].startswith("application/xml")
    assert b"<api><companies><company><id>1001</id>" in xml_answer.content
    assert b"<status><code>OK</code></status>" in xml_answer.content

    json_body = await http.post(
        "/contractors/add", headers=KEYS, json=contractor_body(), params={"outputFormat": "json"}
    )
    assert json_body.json() == {"status": {"code": "INPUT ERROR"}}

    output_follows_input = await http.post(
        "/companies/find", headers=KEYS, params={"inputFormat": "json"}
    )
    assert output_follows_input.json()["status"]["code"] == "OK"


async def test_xml_input_is_parsed(http: httpx.AsyncClient) -> None:
    body = (
        "<api><contractors><contractor><name>XML Sp. z o.o.</name><zip>00-950</zip>"
        "<city>Warszawa</city><tax_id_type>none</tax_id_type></contractor></contractors></api>"
    )
    response = await http.post(
        "/contractors/add",
        headers=KEYS,
        content=body.encode(),
        params={"inputFormat": "xml", "outputFormat": "json"},
    )
    assert first(response.json(), "contractors", "contractor")["name"] == "XML Sp. z o.o."


async def test_bad_json_is_input_error_and_unknown_routes_are_named(
    http: httpx.AsyncClient,
) -> None:
    broken = await http.post("/invoices/add", headers=KEYS, params=JSON, content=b"{nope")
    action = await api(http, "/invoices/explode")
    controller = await api(http, "/vat_moss_details/add")

    assert (broken.status_code, broken.json()) == (200, {"status": {"code": "INPUT ERROR"}})
    assert (action.status_code, action.json()) == (200, {"status": {"code": "ACTION NOT FOUND"}})
    # Observed (§2.4): an unknown module answers in XML even when JSON was asked for.
    assert controller.status_code == 200
    assert b"<code>CONTROLLER NOT FOUND</code>" in controller.content


async def test_any_http_method_is_accepted(http: httpx.AsyncClient) -> None:
    """§2.2: the method does not matter."""
    created = await new_invoice(http, line("A", 1, 1), contractor=INLINE_BUYER)
    for method in ("GET", "POST", "PUT"):
        response = await http.request(
            method, f"/invoices/get/{created['id']}", headers=KEYS, params=JSON
        )
        assert first(response.json(), "invoices", "invoice")["id"] == created["id"]


# --- VAT and totals (§3.4, §3.5) ---------------------------------------------------------


async def test_brutto_prices_hit_the_gross_total_to_the_grosz(http: httpx.AsyncClient) -> None:
    """§3.5 BUG-061: 9 x 490.00 gross at 23%: brutto mode gives 4 410.00, netto mode 4 409.96."""
    gross = await new_invoice(http, line("Bilet", 9, "490.00", vat="23"), contractor=INLINE_BUYER)
    net = await new_invoice(
        http,
        line("Bilet", 9, "398.37", vat="23"),
        contractor=INLINE_BUYER,
        price_type="netto",
    )
    assert (gross["netto"], gross["tax"], gross["total"]) == ("3585.37", "824.63", "4410.00")
    assert (net["netto"], net["tax"], net["total"]) == ("3585.33", "824.63", "4409.96")


async def test_vat_is_rounded_per_rate_group_not_per_line(http: httpx.AsyncClient) -> None:
    """Three 1.00 lines: each line shows 0.81 net, but the group net is 3.00/1.23 = 2.44."""
    record = await new_invoice(
        http, *[line(f"L{i}", 1, 1) for i in range(3)], contractor=INLINE_BUYER
    )
    assert [r["netto"] for r in rows(record, "invoicecontents", "invoicecontent")] == ["0.81"] * 3
    assert (record["netto"], record["tax"], record["total"]) == ("2.44", "0.56", "3.00")


async def test_every_polish_vat_code_forms_its_own_group(http: httpx.AsyncClient) -> None:
    record = await new_invoice(
        http,
        line("a", 1, "100.00", vat="23"),
        line("b", 1, "23.45", vat_code={"id": 222}),
        line("c", 1, "10.80", vat="8"),
        line("d", 1, "21.00", vat="5"),
        line("e", 1, "5.00", vat="0"),
        line("f", 1, "7.00", vat="zw"),
        line("g", 1, "3.00", vat="NP"),
        contractor=INLINE_BUYER,
    )
    groups = {
        g["vat_code"]["id"]: (g["netto"], g["tax"], g["brutto"])
        for g in rows(record, "vat_contents", "vat_content")
    }
    assert groups == {
        "222": ("100.37", "23.08", "123.45"),
        "223": ("10.00", "0.80", "10.80"),
        "224": ("20.00", "1.00", "21.00"),
        "225": ("5.00", "0.00", "5.00"),
        "226": ("7.00", "0.00", "7.00"),
        "227": ("3.00", "0.00", "3.00"),
    }
    assert (record["netto"], record["tax"], record["total"]) == ("145.37", "24.88", "170.25")
    lines = rows(record, "invoicecontents", "invoicecontent")
    assert [r["vat"] for r in lines] == ["23", "23", "8", "5", "0", "ZW", "NP"]


async def test_vat_code_wins_and_foreign_plain_vat_becomes_23(http: httpx.AsyncClient) -> None:
    """§3.4: vat_code beats vat; a plain foreign rate silently turns into 23% (id 222)."""
    record = await new_invoice(
        http,
        line("oss", 1, "119.00", vat="23", vat_code={"id": 617}),
        line("plain25", 1, "123.00", vat="25"),
        line("default", 1, "12.30"),
        contractor=INLINE_BUYER,
    )
    lines = rows(record, "invoicecontents", "invoicecontent")
    assert [r["vat_code"]["id"] for r in lines] == ["617", "222", "222"]
    assert (lines[0]["netto"], lines[1]["netto"], lines[2]["netto"]) == (
        "100.00",
        "100.00",
        "10.00",
    )
    bad = await api(
        http, "/invoices/add", invoice_body(line("x", 1, 1, vat="abc"), contractor=INLINE_BUYER)
    )
    [bad_line] = rows(first(bad.json(), "invoices", "invoice"), "invoicecontents", "invoicecontent")
    assert [e["field"] for e in rows(bad_line, "errors", "error")] == ["vat"]


async def test_discount_and_netto_mode_line_amounts(http: httpx.AsyncClient) -> None:
    record = await new_invoice(
        http,
        line("rabat", 3, "10.00", discount=1, discount_percent=10),
        contractor=INLINE_BUYER,
        price_type="netto",
    )
    [only] = rows(record, "invoicecontents", "invoicecontent")
    assert (only["netto"], only["brutto"], only["discount_percent"]) == ("27.00", "33.21", "10.00")
    assert (record["netto"], record["tax"], record["total"]) == ("27.00", "6.21", "33.21")


async def test_vat_codes_find_is_seeded_and_paged(http: httpx.AsyncClient) -> None:
    payload = await ok(http, "/vat_codes/find", find_body("vat_codes", limit=5, page=2))
    codes = rows(payload, "vat_codes", "vat_code")
    assert payload["vat_codes"]["parameters"] == {
        "limit": "5",
        "page": "2",
        "total": "20",
    }  # +3 French codes (OSS)
    assert [c["id"] for c in codes] == ["227", "228", "229", "230", "231"]
    zw = await ok(http, "/vat_codes/find", find_body("vat_codes", cond("code", "eq", "ZW")))
    [row] = rows(zw, "vat_codes", "vat_code")
    assert (row["id"], row["rate"], row["declaration_country"]) == ("226", "0.00", {"id": 0})
    german = await ok(http, "/vat_codes/get/617")
    assert first(german, "vat_codes", "vat_code")["declaration_country"] == {"id": 146}


# --- series and numbering (§3.6, §8.5) -------------------------------------------------


async def test_numbering_follows_series_templates_and_resets(http: httpx.AsyncClient) -> None:
    one = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER, series={"id": 7301})
    two = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER)
    unknown = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER, series_id=999)
    april = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER, date="2026-04-01")
    receipt = await new_invoice(http, line("a", 1, 1), type="receipt_normal")
    fiscal = await new_invoice(http, line("a", 1, 1), type="receipt_fiscal_normal")
    draft = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER, type="normal_draft")

    assert [d["fullnumber"] for d in (one, two, unknown, april)] == [
        "FV 1/3/2026",
        "FV 2/3/2026",
        "FV 3/3/2026",  # unknown series id: silent fallback to the default series
        "FV 1/4/2026",  # "monthy" reset
    ]
    assert unknown["series"] == {"id": "7301"}
    assert (receipt["fullnumber"], receipt["series"]) == ("DS/1/2026", {"id": "7303"})
    assert (fiscal["fullnumber"], fiscal["series"]) == ("PAR 1/2026", {"id": "0"})
    assert (draft["fullnumber"], draft["number"]) == ("", "0")  # §3.1: numbered on acceptance


async def test_series_find_lists_the_company_series(http: httpx.AsyncClient) -> None:
    payload = await ok(http, "/series/find")
    assert [(s["id"], s["template"], s["type"]) for s in rows(payload, "series", "series")] == [
        ("7301", "FV [numer]/[miesiąc]/[rok]", "normal"),
        ("7302", "FK [numer]/[rok]", "correction"),
        ("7303", "DS/[numer]/[rok]", "receipt_normal"),
    ]


async def test_receipts_need_no_buyer(http: httpx.AsyncClient) -> None:
    receipt = await new_invoice(
        http, line("kawa", 2, "12.50", vat="8"), type="receipt_fiscal_normal"
    )
    # The add answer carries relation ids as numbers (§2.8), the empty relation included.
    assert (receipt["contractor"], receipt["contractor_detail"]["name"]) == ({"id": 0}, "")
    assert (receipt["total"], receipt["tax"]) == ("25.00", "1.85")
    assert receipt["receipt_fiscal_printed"] == "0"
    fiscalized = await ok(http, f"/invoices/fiscalize/{receipt['id']}")
    assert first(fiscalized, "invoices", "invoice")["receipt_fiscal_printed"] == "1"


# --- contractors (§4) --------------------------------------------------------------------


async def test_contractor_add_then_find_by_nip_and_email(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    added = await ok(http, "/contractors/add", contractor_body(unknown_flag="1"))
    record = first(added, "contractors", "contractor")
    assert "unknown_flag" not in record
    assert (record["nip"], record["tax_id_type"], record["country"]) == (BUYER_NIP, "nip", "PL")

    by_nip = await ok(
        http, "/contractors/find", find_body("contractors", cond("nip", "eq", BUYER_NIP), limit=2)
    )
    by_email = await ok(
        http,
        "/contractors/find",
        find_body("contractors", cond("email", "eq", "faktury@hurtownia.example")),
    )
    dashed = await ok(
        http, "/contractors/find", find_body("contractors", cond("nip", "eq", "123-456-32-18"))
    )
    assert [c["id"] for c in rows(by_nip, "contractors", "contractor")] == [record["id"]]
    assert by_nip["contractors"]["parameters"] == {"limit": "2", "page": "1", "total": "1"}
    assert [c["id"] for c in rows(by_email, "contractors", "contractor")] == [record["id"]]
    # §4: matching is literal, a differently formatted NIP is not found.
    assert dashed["contractors"] == {"parameters": {"limit": "20", "page": "1", "total": "0"}}
    assert [c["id"] for c in sim.contractors("acme")] == [record["id"]]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"zip": "30001"}, "zip", "zip: Niepoprawny format kodu pocztowego."),
        (
            {"nip": "1234565432"},
            "nip",
            "Nieprawidłowy NIP. Jeśli identyfikator nie jest polskim numerem NIP należy zmienić "
            "jego typ",
        ),
        (
            {"nip": "5272663852-80408"},
            "nip",
            "Nieprawidłowy NIP. Jeśli identyfikator nie jest "
            "polskim numerem NIP należy zmienić jego typ",
        ),
        ({"email": "not-an-email"}, "email", "Nieprawidłowy adres e-mail."),
        ({"city": ""}, "city", "Pole nie może być puste"),
    ],
)
async def test_contractor_validation_errors(
    http: httpx.AsyncClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await api(http, "/contractors/add", contractor_body(**fields))
    echo = first(response.json(), "contractors", "contractor")
    assert (response.status_code, response.json()["status"]["code"]) == (200, "ERROR")
    assert "id" not in echo
    assert [(e["field"], e["message"]) for e in rows(echo, "errors", "error")] == [(field, message)]


async def test_contractor_id_types_foreign_zip_and_get(http: httpx.AsyncClient) -> None:
    custom = await new_contractor(http, tax_id_type="custom", nip="5272663852-80408")
    german = await new_contractor(
        http, tax_id_type="vat", nip="DE123456789", country="DE", zip="10115", city="Berlin"
    )
    got = await ok(http, f"/contractors/get/{german}")
    assert first(got, "contractors", "contractor")["zip"] == "10115"
    assert custom != german
    missing = await api(http, "/contractors/get/1")
    assert missing.json() == {"status": {"code": "NOT FOUND"}}


# --- find (§2.7, §3.9) -----------------------------------------------------------------


async def test_invoice_find_conditions_groups_and_paging(http: httpx.AsyncClient) -> None:
    contractor = await new_contractor(http)
    for i, day in enumerate(("2026-03-01", "2026-03-02", "2026-03-03")):
        await new_invoice(
            http,
            line("a", 1, 10 * (i + 1)),
            contractor={"id": contractor},
            id_external=f"o-{i}",
            date=day,
        )
    await new_invoice(
        http, line("a", 1, 5), type="proforma", contractor={"id": contractor}, id_external="o-1"
    )

    async def ids(conditions: Any, **params: Any) -> list[str]:
        payload = await ok(http, "/invoices/find", find_body("invoices", conditions, **params))
        return [r["id_external"] for r in rows(payload, "invoices", "invoice")]

    assert await ids(cond("id_external", "eq", "o-1")) == ["o-1", "o-1"]
    assert await ids([cond("id_external", "eq", "o-1"), cond("type", "eq", "normal")]) == ["o-1"]
    assert await ids(
        {"and": [cond("Invoice.id_external", "eq", "o-1"), cond("type", "ne", "proforma")]}
    ) == ["o-1"]
    assert await ids({"or": [cond("id_external", "eq", "o-0"), cond("total", "ge", 30)]}) == [
        "o-0",
        "o-2",
    ]
    assert await ids(cond("date", "in", "2026-03-01,2026-03-03")) == ["o-0", "o-2"]
    assert await ids(cond("id_external", "like", "O-%")) == ["o-0", "o-1", "o-2", "o-1"]
    assert await ids({"not": cond("type", "eq", "normal")}) == ["o-1"]
    assert await ids(cond("ContractorDetail.nip", "eq", BUYER_NIP), limit=2, page=2) == [
        "o-2",
        "o-1",
    ]
    assert await ids(None, order={"desc": "total"}, limit=1) == ["o-2"]
    paged = await ok(http, "/invoices/find", find_body("invoices", limit=3, page=2))
    assert paged["invoices"]["parameters"] == {"limit": "3", "page": "2", "total": "4"}

    typo = await api(http, "/invoices/find", find_body("invoices", cond("id_externall", "eq", "x")))
    assert typo.json()["status"]["code"] == "ERROR"


# --- corrections (§3.14) ---------------------------------------------------------------


async def test_correction_with_parent_and_line_parents(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    original = await new_invoice(
        http,
        line("Kubek", 2, "49.20", unit="szt."),
        line("Wysyłka", 1, "15.00", unit="usł."),
        contractor=INLINE_BUYER,
        id_external="shop-1",
    )
    kubek, shipping = rows(original, "invoicecontents", "invoicecontent")
    buyer = {"id": original["contractor"]["id"]}  # the documented example names the buyer
    payload = await ok(
        http,
        "/invoices/add",
        invoice_body(
            {"invoicecontent": {"parent_id": kubek["id"], "count": 1}},
            type="correction",
            parent_id=int(original["id"]),
            contractor=buyer,
            description="Zwrot 1 szt.",
        ),
    )
    correction = first(payload, "invoices", "invoice")

    assert correction["type"] == "correction"
    assert correction["parent"] == {"id": original["id"]}
    assert (correction["fullnumber"], correction["series"]) == ("FK 1/2026", {"id": "7302"})
    assert (correction["netto"], correction["tax"], correction["total"]) == (
        "-40.00",
        "-9.20",
        "-49.20",
    )
    [corrected] = rows(correction, "invoicecontents", "invoicecontent")
    assert (corrected["parent_id"], corrected["name"], corrected["count"]) == (
        kubek["id"],
        "Kubek",
        "1.0000",
    )
    assert (corrected["price"], corrected["brutto"]) == ("49.20", "49.20")
    assert correction["contractor"] == original["contractor"]
    snapshot = {k: v for k, v in correction["contractor_detail"].items() if k != "id"}
    assert snapshot == {k: v for k, v in original["contractor_detail"].items() if k != "id"}
    assert correction["description"] == "Zwrot 1 szt."
    [parent_now, _] = sim.invoices("acme")
    assert (parent_now["corrections"], parent_now["total_composed"]) == ("1", "64.20")

    # A second correction must point at the latest version of a line (§3.14).
    stale = await api(
        http,
        "/invoices/add",
        invoice_body(
            {"invoicecontent": {"parent_id": kubek["id"], "count": 0}},
            type="correction",
            parent_id=original["id"],
            contractor=buyer,
        ),
    )
    [stale_line] = rows(
        first(stale.json(), "invoices", "invoice"), "invoicecontents", "invoicecontent"
    )
    assert stale.json()["status"]["code"] == "ERROR"
    assert [e["field"] for e in rows(stale_line, "errors", "error")] == ["parent_id"]

    full = await new_invoice(
        http,
        {"invoicecontent": {"parent_id": corrected["id"], "count": 0, "price": 0}},
        {"invoicecontent": {"parent_id": shipping["id"], "count": 0, "price": 0}},
        type="correction",
        parent_id=original["id"],
        contractor=buyer,
    )
    assert (full["total"], full["fullnumber"]) == ("-64.20", "FK 2/2026")
    assert sim.invoices("acme")[0]["total_composed"] == "0.00"


async def test_correction_must_name_the_buyer_like_the_documented_example(
    http: httpx.AsyncClient,
) -> None:
    """doc.wfirma.pl invoices_correction, invoices/add: the example sends a `contractor`; the
    simulator refuses a correction of a document with a buyer that leaves it out."""
    original = await new_invoice(http, line("Kubek", 2, 10), contractor=INLINE_BUYER)
    [kubek] = rows(original, "invoicecontents", "invoicecontent")
    correction = {"parent_id": original["id"], "type": "correction"}
    change = {"invoicecontent": {"parent_id": kubek["id"], "count": 1}}

    missing = await api(http, "/invoices/add", invoice_body(change, **correction))
    inline = await ok(
        http,
        "/invoices/add",
        invoice_body(change, contractor=INLINE_BUYER, **correction),
    )
    receipt = await new_invoice(http, line("Kubek", 1, 10), type="receipt_normal")
    [sold] = rows(receipt, "invoicecontents", "invoicecontent")
    buyerless = await ok(
        http,
        "/invoices/add",
        invoice_body(
            {"invoicecontent": {"parent_id": sold["id"], "count": 0}},
            parent_id=receipt["id"],
            type="correction",
        ),
    )

    echo = first(missing.json(), "invoices", "invoice")
    assert missing.json()["status"]["code"] == "ERROR"
    assert [(e["field"], e["message"]) for e in rows(echo, "errors", "error")] == [
        ("contractor", "Pole nie może być puste")
    ]
    assert first(inline, "invoices", "invoice")["contractor_detail"]["name"] == "Jan Kowalski"
    assert str(first(buyerless, "invoices", "invoice")["contractor"]["id"]) == "0"


async def test_corrections_are_found_by_parent_id_and_parent_is_no_field(
    http: httpx.AsyncClient,
) -> None:
    """`parent_id` is the documented field (invoices_correction "Pola"); `parent` is only the
    relation branch of answers, so as a condition it is an unknown field (docs/adr/0009)."""
    original = await new_invoice(http, line("Kubek", 2, 10), contractor=INLINE_BUYER)
    other = await new_invoice(http, line("Talerz", 1, 5), contractor=INLINE_BUYER)
    for doc in (original, other):
        [sold] = rows(doc, "invoicecontents", "invoicecontent")
        await new_invoice(
            http,
            {"invoicecontent": {"parent_id": sold["id"], "count": 0}},
            type="correction",
            parent_id=doc["id"],
            contractor={"id": doc["contractor"]["id"]},
        )

    async def corrections(field: str) -> httpx.Response:
        conditions = {"and": [cond("type", "eq", "correction"), cond(field, "eq", original["id"])]}
        return await api(http, "/invoices/find", find_body("invoices", conditions))

    by_id = rows((await corrections("parent_id")).json(), "invoices", "invoice")
    qualified = rows((await corrections("Invoice.parent_id")).json(), "invoices", "invoice")
    by_branch = await corrections("parent")

    assert [c["parent"] for c in by_id] == [{"id": original["id"]}]
    assert qualified == by_id
    assert by_branch.json() == {
        "status": {"code": "ERROR", "message": "Nieznane pole warunku: parent"}
    }


async def test_correction_refuses_unknown_parent_and_renamed_lines(http: httpx.AsyncClient) -> None:
    original = await new_invoice(http, line("Kubek", 1, 10, gtu="GTU_06"), contractor=INLINE_BUYER)
    [kubek] = rows(original, "invoicecontents", "invoicecontent")
    unknown = await api(
        http,
        "/invoices/add",
        invoice_body(line("x", 1, 1), type="correction", parent_id=1),
    )
    renamed = await api(
        http,
        "/invoices/add",
        invoice_body(
            {"invoicecontent": {"parent_id": kubek["id"], "name": "Talerz", "gtu": "GTU_01"}},
            type="correction",
            parent_id=original["id"],
            contractor={"id": original["contractor"]["id"]},
        ),
    )
    unknown_echo = first(unknown.json(), "invoices", "invoice")
    assert [e["field"] for e in rows(unknown_echo, "errors", "error")] == ["parent_id"]
    [renamed_line] = rows(
        first(renamed.json(), "invoices", "invoice"), "invoicecontents", "invoicecontent"
    )
    assert [e["field"] for e in rows(renamed_line, "errors", "error")] == ["name", "gtu"]


# --- send and download (§3.11, §3.12) ---------------------------------------------------


async def test_send_queues_an_email(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    doc = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER)
    default = await ok(http, f"/invoices/send/{doc['id']}")
    explicit = await ok(
        http,
        f"/invoices/send/{doc['id']}",
        {
            "invoices": {
                "parameters": [
                    {"parameter": {"name": "email", "value": "ksiegowa@example.test"}},
                    {"parameter": {"name": "page", "value": "all"}},
                    {"parameter": {"name": "subject", "value": "Faktura"}},
                ]
            }
        },
    )
    assert default == {
        "status": {"code": "OK", "message": "Dokument FV 1/3/2026 został zlecony do wysyłki."}
    }
    assert explicit["status"]["code"] == "OK"
    assert sim.sent_emails("acme") == [
        SentEmail(invoice_id=int(doc["id"]), fullnumber="FV 1/3/2026", to="jan@example.test"),
        SentEmail(
            invoice_id=int(doc["id"]),
            fullnumber="FV 1/3/2026",
            to="ksiegowa@example.test",
            subject="Faktura",
            page="all",
        ),
    ]


async def test_send_refusals_use_the_generic_error_form(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    fiscal = await new_invoice(http, line("a", 1, 1), type="receipt_fiscal_normal")
    nobody = await new_invoice(http, line("a", 1, 1), type="receipt_normal")
    refused = await api(http, f"/invoices/send/{fiscal['id']}")
    no_address = await api(http, f"/invoices/send/{nobody['id']}")
    missing = await api(http, "/invoices/send/1")
    assert refused.json() == {
        "status": {
            "code": "ERROR",
            "message": "Nie można zlecić automatycznej wysyłki emaila z dokumentem danego typu.",
        }
    }
    assert no_address.json() == {
        "status": {"code": "ERROR", "message": "Brak adresu e-mail odbiorcy."}
    }
    assert missing.json() == {"status": {"code": "NOT FOUND"}}
    assert sim.sent_emails("acme") == []


async def test_auto_send_on_add(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    doc = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER, auto_send=1)
    assert doc["auto_send"] == "1"
    assert sim.sent_emails("acme") == [
        SentEmail(invoice_id=int(doc["id"]), fullnumber=doc["fullnumber"], to="jan@example.test")
    ]
    # Issue #39 (§2.5): a missing type surfaced as the generic e-mail error.
    untyped = invoice_body(line("a", 1, 1), contractor=INLINE_BUYER, auto_send=1)
    del untyped["invoices"]["0"]["invoice"]["type"]
    response = await api(http, "/invoices/add", untyped)
    assert response.json()["status"]["message"].startswith("Nie można zlecić automatycznej")


async def test_download_returns_raw_pdf_bytes(http: httpx.AsyncClient) -> None:
    receipt = await new_invoice(http, line("Kawa", 1, 9), type="receipt_normal")
    response = await api(http, f"/invoices/download/{receipt['id']}")
    missing = await api(http, "/invoices/download/999")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response.content.rstrip().endswith(b"%%EOF")
    assert b"Faktura DS/1/2026" in response.content
    assert missing.json() == {"status": {"code": "NOT FOUND"}}


# --- KSeF (§7) ---------------------------------------------------------------------------


async def test_ksef_fields_appear_a_moment_after_creation(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    doc = await new_invoice(http, line("a", 1, 10), contractor=INLINE_BUYER)
    receipt = await new_invoice(http, line("a", 1, 10), type="receipt_normal")
    draft = await new_invoice(http, line("a", 1, 10), contractor=INLINE_BUYER, type="normal_draft")
    early = first(await ok(http, f"/invoices/get/{doc['id']}"), "invoices", "invoice")
    early_pdf = await api(http, f"/invoices/download/{doc['id']}")
    sim.advance(5)
    late = first(await ok(http, f"/invoices/get/{doc['id']}"), "invoices", "invoice")
    late_pdf = await api(http, f"/invoices/download/{doc['id']}")
    receipt_late = first(await ok(http, f"/invoices/get/{receipt['id']}"), "invoices", "invoice")

    assert (early["ksef_reference_number"], early["ksef_status"]) == ("", "")
    assert b"Potwierdzenie transakcji" in early_pdf.content
    assert b"Faktura" not in early_pdf.content
    assert KSEF_NUMBER.fullmatch(late["ksef_reference_number"])
    assert late["ksef_status"] == "ok"
    assert late["ksef_registration_date"] == "2026-03-02 10:00:05.000"
    assert late_pdf.content.startswith(b"%PDF-")
    assert late["ksef_reference_number"].encode() in late_pdf.content
    assert receipt_late["ksef_reference_number"] == ""
    assert [d["ksef_status"] for d in sim.invoices("acme")] == ["ok", "", ""]
    assert sim.invoices("acme")[2]["id"] == draft["id"]


async def test_ksef_find_sees_fields_and_complete_ksef_forces(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    await new_invoice(http, line("a", 1, 10), contractor=INLINE_BUYER, id_external="k-1")
    pending = await ok(
        http, "/invoices/find", find_body("invoices", cond("ksef_status", "eq", "ok"))
    )
    sim.complete_ksef("acme")
    done = await ok(http, "/invoices/find", find_body("invoices", cond("ksef_status", "eq", "ok")))
    assert pending["invoices"]["parameters"]["total"] == "0"
    assert [r["id_external"] for r in rows(done, "invoices", "invoice")] == ["k-1"]


async def test_ksef_without_authorisation_rejects_vat_invoices(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    [acme, *_] = logins()
    acme.companies[0].ksef_authorized = False
    sim.add_login(acme)
    refused = await api(
        http, "/invoices/add", invoice_body(line("a", 1, 1), contractor=INLINE_BUYER)
    )
    receipt = await api(http, "/invoices/add", invoice_body(line("a", 1, 1), type="receipt_normal"))
    assert refused.json() == {
        "status": {
            "code": "ERROR",
            "message": "Brak autoryzacji w KSeF 2.0. Zautoryzuj się w zakładce "
            "PRZYCHODY » KSEF I INTEGRACJE",
        }
    }
    assert receipt.json()["status"]["code"] == "OK"
    assert [d["type"] for d in sim.invoices("acme")] == ["receipt_normal"]


async def test_get_and_delete_not_found(http: httpx.AsyncClient) -> None:
    proforma = await new_invoice(http, line("a", 1, 1), type="proforma", contractor=INLINE_BUYER)
    vat = await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER)
    deleted = await ok(http, f"/invoices/delete/{proforma['id']}")
    again = await api(http, f"/invoices/get/{proforma['id']}")
    refused = await api(http, f"/invoices/delete/{vat['id']}")
    assert first(deleted, "invoices", "invoice")["id"] == proforma["id"]
    assert (again.status_code, again.json()) == (200, {"status": {"code": "NOT FOUND"}})
    assert refused.json()["status"]["code"] == "ERROR"
    assert (await api(http, "/invoices/get/abc")).json() == {"status": {"code": "NOT FOUND"}}


# --- API-key auth (§1.1, §1.5) ---------------------------------------------------------


async def test_api_key_auth_needs_all_three_headers(http: httpx.AsyncClient) -> None:
    missing_app = {k: v for k, v in KEYS.items() if k != "appKey"}
    answers = [
        await api(http, "/companies/find", headers={}),
        await api(http, "/companies/find", headers=missing_app),
        await api(http, "/companies/find", headers={**KEYS, "secretKey": "wrong"}),
        await api(http, "/companies/find", headers={**KEYS, "appKey": "other-app"}),
    ]
    assert [await status_of(a) for a in answers] == [(200, "AUTH")] * 4
    assert (await status_of(await api(http, "/companies/find"))) == (200, "OK")


async def test_repeated_failed_logins_lock_the_key_for_five_minutes(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    wrong = {**KEYS, "secretKey": "wrong"}
    codes = [
        (await api(http, "/companies/find", headers=wrong)).json()["status"]["code"]
        for _ in range(5)
    ]
    locked = await api(http, "/companies/find")
    sim.advance(301)
    unlocked = await api(http, "/companies/find")
    assert codes == ["AUTH"] * 5
    assert locked.json() == {"status": {"code": "AUTH FAILED LIMIT WAIT 5 MINUTES"}}
    assert unlocked.json()["status"]["code"] == "OK"


async def test_auth_http_status_is_a_knob() -> None:
    sim = WfirmaSimulator(clock=lambda: NOW, auth_error_status=401)
    async with sim.serve() as url, httpx.AsyncClient(base_url=url) as http:
        response = await api(http, "/companies/find", headers={})
    assert (response.status_code, response.json()) == (401, {"status": {"code": "AUTH"}})


# --- OAuth 2.0 (§1.2) --------------------------------------------------------------------


async def test_consent_page_redirects_back_with_code_and_state(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/oauth2/auth",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "scope": "invoices-read invoices-write",
            "redirect_uri": REDIRECT_URI,
            "state": "seller-7.sig",
        },
    )
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert response.status_code == 302
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert query["state"] == ["seller-7.sig"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", query["code"][0])


async def test_consent_page_errors(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    base = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI}
    wrong_uri = await http.get(
        "/oauth2/auth", params={**base, "scope": "invoices-read", "redirect_uri": "https://evil"}
    )
    unknown_client = await http.get(
        "/oauth2/auth", params={**base, "scope": "invoices-read", "client_id": "nope"}
    )
    bad_scope = await http.get(
        "/oauth2/auth", params={**base, "scope": "invoices-read payments-write", "state": "s"}
    )
    sim.add_oauth_app(oauth_app(auto_approve=False))
    denied = await http.get("/oauth2/auth", params={**base, "scope": "invoices-read", "state": "s"})

    assert (wrong_uri.status_code, "Location" in wrong_uri.headers) == (400, False)
    assert (unknown_client.status_code, "Location" in unknown_client.headers) == (400, False)
    assert parse_qs(urlsplit(bad_scope.headers["Location"]).query) == {
        "error": ["invalid_scope"],
        "state": ["s"],
    }
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]


async def test_code_exchange_gives_tokens_with_configured_expiry(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    code = await authorization_code(http)
    response = await token_call(
        http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
    )
    reused = await token_call(
        http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
    )
    tokens = response.json()

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert set(tokens) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert (tokens["expires_in"], tokens["token_type"]) == (900, "Bearer")
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    companies = await ok(
        http, "/companies/find", headers=bearer(tokens["access_token"]), params=OAUTH
    )
    assert first(companies, "companies", "company")["id"] == "1001"
    assert [(r.grant_type, r.error) for r in sim.token_requests()] == [
        ("authorization_code", None),
        ("authorization_code", "invalid_grant"),
    ]


async def test_token_endpoint_errors(http: httpx.AsyncClient) -> None:
    code = await authorization_code(http)
    wrong_secret = await token_call(
        http,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        client_secret="bad",
    )
    wrong_uri = await token_call(
        http, grant_type="authorization_code", code=code, redirect_uri="https://router.example/x"
    )
    client_credentials = await token_call(http, grant_type="client_credentials")
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert (wrong_uri.status_code, wrong_uri.json()["error"]) == (400, "invalid_grant")
    assert (client_credentials.status_code, client_credentials.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )


async def test_refresh_rotates_and_a_reused_refresh_token_is_invalid_grant(
    http: httpx.AsyncClient,
) -> None:
    tokens = await oauth_tokens(http)
    refreshed = await token_call(
        http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    reused = await token_call(
        http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    new = refreshed.json()

    assert refreshed.status_code == 200
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert new["expires_in"] == 900
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    for token in (new["access_token"], tokens["access_token"]):  # old access stays until expiry
        answer = await api(http, "/companies/find", headers=bearer(token), params=OAUTH)
        assert answer.json()["status"]["code"] == "OK"


async def test_two_parallel_refreshes_only_one_wins(http: httpx.AsyncClient) -> None:
    tokens = await oauth_tokens(http)
    answers = await asyncio.gather(
        *(
            token_call(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 400]


async def test_access_token_expiry_and_refresh_token_lifetime(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    tokens = await oauth_tokens(http)
    sim.advance(899)
    still = await api(http, "/companies/find", headers=bearer(tokens["access_token"]), params=OAUTH)
    sim.advance(1)
    expired = await api(
        http, "/companies/find", headers=bearer(tokens["access_token"]), params=OAUTH
    )
    refreshed = await token_call(
        http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert still.json()["status"]["code"] == "OK"
    assert (expired.status_code, expired.json()) == (200, {"status": {"code": "AUTH"}})
    assert refreshed.status_code == 200

    sim.advance(30 * 86_400)
    too_late = await token_call(
        http, grant_type="refresh_token", refresh_token=refreshed.json()["refresh_token"]
    )
    assert too_late.json()["error"] == "invalid_grant"


async def test_bearer_needs_oauth_version_and_granted_scopes(http: httpx.AsyncClient) -> None:
    tokens = await oauth_tokens(http, scopes=["invoices-read", "companies-read"])
    token = bearer(tokens["access_token"])
    no_flag = await api(http, "/companies/find", headers=token)
    write = await api(
        http,
        "/invoices/add",
        invoice_body(line("a", 1, 1), contractor=INLINE_BUYER),
        headers=token,
        params=OAUTH,
    )
    contractors = await api(http, "/contractors/find", headers=token, params=OAUTH)
    series = await api(http, "/series/find", headers=token, params=OAUTH)
    reads = await api(http, "/invoices/find", headers=token, params=OAUTH)
    garbage = await api(http, "/invoices/find", headers=bearer("nope"), params=OAUTH)

    assert no_flag.json() == {"status": {"code": "AUTH"}}
    assert write.json() == {"status": {"code": "DENIED SCOPE REQUESTED"}}
    assert contractors.json() == {"status": {"code": "DENIED SCOPE REQUESTED"}}
    assert series.json() == {"status": {"code": "DENIED SCOPE REQUESTED"}}
    assert reads.json()["status"]["code"] == "OK"
    assert garbage.json() == {"status": {"code": "AUTH"}}


async def test_oauth_invoice_issue_with_the_minimal_scope_set(http: httpx.AsyncClient) -> None:
    """The setup guide's scopes are enough to add contractors and invoices, list series and
    the login's companies (one `{module}-read`/`-write` per module, "Uprawnienia aplikacji")."""
    tokens = await oauth_tokens(http, scopes=list(SCOPES_MINIMAL))
    auth = {"headers": bearer(tokens["access_token"]), "params": OAUTH}
    added = await ok(http, "/contractors/add", contractor_body(), **auth)
    contractor_id = first(added, "contractors", "contractor")["id"]
    doc = await ok(
        http,
        "/invoices/add",
        invoice_body(line("a", 1, 5), contractor={"id": contractor_id}),
        **auth,
    )
    assert first(doc, "invoices", "invoice")["contractor"] == {"id": int(contractor_id)}
    sent = await ok(http, f"/invoices/send/{first(doc, 'invoices', 'invoice')['id']}", **auth)
    assert sent["status"]["code"] == "OK"
    await ok(http, "/series/find", **auth)
    await ok(http, "/user_companies/find", **auth)
    companies = await api(http, "/companies/find", **auth)
    assert companies.json() == {"status": {"code": "DENIED SCOPE REQUESTED"}}


async def test_revoke_and_expire_on_demand(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    tokens = await oauth_tokens(http)
    sim.expire_access_tokens("acme")
    expired = await api(
        http, "/companies/find", headers=bearer(tokens["access_token"]), params=OAUTH
    )
    sim.revoke_refresh_tokens("acme")
    revoked = await token_call(
        http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert expired.json() == {"status": {"code": "AUTH"}}
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")


# --- companies and company_id (§5) -------------------------------------------------------


async def test_company_id_is_required_with_several_companies(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    body = invoice_body(line("a", 1, 1), contractor=INLINE_BUYER)
    without = await api(http, "/invoices/add", body, headers=MULTI_KEYS)
    pinned = await api(
        http, "/invoices/add", body, headers=MULTI_KEYS, params={"company_id": "2001"}
    )
    foreign = await api(http, "/invoices/find", headers=MULTI_KEYS, params={"company_id": "1001"})
    read_only = await api(
        http, "/invoices/add", body, headers=MULTI_KEYS, params={"company_id": "2003"}
    )
    read_only_find = await api(
        http, "/invoices/find", headers=MULTI_KEYS, params={"company_id": "2003"}
    )

    assert (without.status_code, without.json()) == (
        200,
        {"status": {"code": "COMPANY ID REQUIRED"}},
    )
    assert pinned.json()["status"]["code"] == "OK"
    assert foreign.json() == {"status": {"code": "ACCESS DENIED"}}
    assert read_only.json() == {"status": {"code": "ACCESS DENIED"}}
    assert read_only_find.json()["status"]["code"] == "OK"
    assert len(sim.invoices("multi", 2001)) == 1
    assert sim.invoices("multi", 2002) == []
    assert sim.request_log("multi")[1] == RequestRecord("POST", "/invoices/add", 200, "OK", 2001)


async def test_without_company_id_calls_land_in_the_selected_company(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    """§5 observed: with the requirement off, the web panel's last selection wins."""
    [_, multi] = logins()
    multi.company_id_required = False
    sim.add_login(multi)
    body = invoice_body(line("a", 1, 1), contractor=INLINE_BUYER)
    await ok(http, "/invoices/add", body, headers=MULTI_KEYS)
    sim.select_company("multi", 2001)
    await ok(http, "/invoices/add", body, headers=MULTI_KEYS)
    assert (len(sim.invoices("multi", 2001)), len(sim.invoices("multi", 2002))) == (1, 1)


async def test_user_companies_list_the_login_companies_without_company_id(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    """The listing `COMPANY ID REQUIRED` points to (doc.wfirma.pl "Komunikaty błędów"), in the
    shape of the docs' user_companies/get schema: the company nested in each membership."""
    memberships = await ok(http, "/user_companies/find", headers=MULTI_KEYS)
    sim.select_company("multi", 2003)
    reordered = await ok(http, "/user_companies/find", headers=MULTI_KEYS)

    listed = rows(memberships, "user_companies", "user_company")
    assert [m["company"]["id"] for m in listed] == ["2002", "2001", "2003"]
    assert [m["company"]["id"] for m in rows(reordered, "user_companies", "user_company")] == [
        "2003",
        "2001",
        "2002",
    ]
    hurt = listed[1]
    assert set(hurt) == {"id", "right", "user", "warehouse", "company", "company_pack"}
    assert (hurt["right"], hurt["company"]["name"], hurt["company"]["nip"]) == (
        "admin",
        "Multi Hurt",
        SELLER_NIP,
    )
    assert hurt["company_pack"]["status"] == "active"
    assert hurt["id"] != hurt["company"]["id"]  # a membership id, not the company id
    one = await ok(http, f"/user_companies/get/{hurt['id']}", headers=MULTI_KEYS)
    by_company_id = await api(http, "/user_companies/get/2001", headers=MULTI_KEYS)
    assert first(one, "user_companies", "user_company") == hurt
    assert by_company_id.json() == {"status": {"code": "NOT FOUND"}}


async def test_companies_describe_only_the_company_the_call_runs_for(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    """doc.wfirma.pl `companies`: only `get`, "the company this request is executed for";
    the undocumented `find` answers that one company too, never the login's list."""
    without = await api(http, "/companies/find", headers=MULTI_KEYS)
    pinned = await ok(http, "/companies/find", headers=MULTI_KEYS, params={"company_id": "2001"})
    got = await ok(http, "/companies/get/2001", headers=MULTI_KEYS, params={"company_id": "2001"})
    other = await api(
        http, "/companies/get/2002", headers=MULTI_KEYS, params={"company_id": "2001"}
    )
    [_, multi] = logins()
    multi.company_id_required = False
    sim.add_login(multi)
    selected = await ok(http, "/companies/find", headers=MULTI_KEYS)

    assert without.json() == {"status": {"code": "COMPANY ID REQUIRED"}}
    assert [c["id"] for c in rows(pinned, "companies", "company")] == ["2001"]
    assert first(got, "companies", "company")["name"] == "Multi Hurt"
    assert first(got, "companies", "company")["vat_payer"] == "1"
    assert other.json() == {"status": {"code": "NOT FOUND"}}
    assert [c["id"] for c in rows(selected, "companies", "company")] == ["2002"]


# --- rate limits (§6) --------------------------------------------------------------------


async def test_rate_limit_after_30_requests_in_15_seconds(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    codes = [(await api(http, "/series/find")).json()["status"]["code"] for _ in range(30)]
    limited = await api(http, "/series/find")
    other_login = await api(http, "/user_companies/find", headers=MULTI_KEYS)
    sim.advance(15)
    after = await api(http, "/series/find")
    assert codes == ["OK"] * 30
    assert (limited.status_code, limited.json()) == (
        200,
        {
            "status": {
                "code": "TOTAL REQUESTS LIMIT EXCEEDED",
                "message": "Given API has been queried too many times.",
            }
        },
    )
    assert other_login.json()["status"]["code"] == "OK"
    assert after.json()["status"]["code"] == "OK"


async def test_rate_limit_per_minute_and_http_429_knob(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    [acme, _] = logins()
    acme.rate_limits = RateLimits(per_15s=5, per_minute=8, per_hour=100, http_status=429)
    sim.add_login(acme)
    spent = []
    for _ in range(2):
        spent += [(await api(http, "/series/find")).status_code for _ in range(5)]
        sim.advance(15)
    minute_limited = await api(http, "/series/find")
    sim.advance(31)
    recovered = await api(http, "/series/find")
    assert spent == [200] * 8 + [429] * 2
    assert (minute_limited.status_code, minute_limited.json()["status"]["code"]) == (
        429,
        "TOTAL REQUESTS LIMIT EXCEEDED",
    )
    assert recovered.status_code == 200


# --- faults ------------------------------------------------------------------------------


async def test_fault_latency(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    sim.add_fault("acme", FaultRule(action="latency", delay_ms=300))
    started = time.monotonic()
    response = await api(http, "/companies/find")
    assert time.monotonic() - started >= 0.3
    assert response.json()["status"]["code"] == "OK"


async def test_fault_5xx_with_html_body_then_recovers(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(action="http_5xx", status=503, path_regex="^/invoices/"))
    unrelated = await api(http, "/companies/find")
    failed = await api(http, "/invoices/find")
    recovered = await api(http, "/invoices/find")
    assert unrelated.status_code == 200
    assert (failed.status_code, failed.headers["content-type"]) == (503, "text/html; charset=utf-8")
    assert "503 Service Unavailable" in failed.text
    assert recovered.json()["status"]["code"] == "OK"


@pytest.mark.parametrize(
    "code", ["FATAL", "OUT OF SERVICE", "SNAPSHOT LOCK", "TOTAL EXECUTION TIME LIMIT EXCEEDED"]
)
async def test_fault_status_code_in_body(
    http: httpx.AsyncClient, sim: WfirmaSimulator, code: str
) -> None:
    sim.add_fault("acme", FaultRule(action="status_code", code=code, times=2))
    answers = [await api(http, "/invoices/find") for _ in range(3)]
    assert [(a.status_code, a.json()["status"]["code"]) for a in answers] == [
        (200, code),
        (200, code),
        (200, "OK"),
    ]


async def test_fault_hang_after_commit_creates_the_invoice(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    sim.add_fault(
        "acme",
        FaultRule(action="hang_after_commit", method="POST", path_regex="/invoices/add", seconds=2),
    )
    with pytest.raises(httpx.ReadTimeout):
        await api(
            http,
            "/invoices/add",
            invoice_body(line("a", 1, 1), contractor=INLINE_BUYER, id_external="hang-1"),
            timeout=0.3,
        )
    found = await ok(
        http, "/invoices/find", find_body("invoices", cond("id_external", "eq", "hang-1"))
    )
    assert [r["id_external"] for r in rows(found, "invoices", "invoice")] == ["hang-1"]


async def test_fault_drop_after_commit_closes_the_connection(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    sim.add_fault("acme", FaultRule(action="drop_after_commit", path_regex="/invoices/add"))
    with pytest.raises(httpx.RemoteProtocolError):
        await api(
            http,
            "/invoices/add",
            invoice_body(line("a", 1, 1), contractor=INLINE_BUYER, id_external="drop-1"),
        )
    assert [d["id_external"] for d in sim.invoices("acme")] == ["drop-1"]
    assert sim.request_log("acme")[0] == RequestRecord("POST", "/invoices/add", None, "OK", 1001)


async def test_fault_drop_after_commit_on_refresh_burns_the_refresh_token(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    """The refresh rotated server-side but the answer was lost: the old token is now spent."""
    tokens = await oauth_tokens(http)
    sim.add_fault("acme", FaultRule(action="drop_after_commit", path_regex="^/oauth2/token$"))
    with pytest.raises(httpx.RemoteProtocolError):
        await token_call(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    retry = await token_call(
        http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert retry.json()["error"] == "invalid_grant"
    assert [(r.grant_type, r.error) for r in sim.token_requests()][-2:] == [
        ("refresh_token", None),
        ("refresh_token", "invalid_grant"),
    ]


async def test_fault_revoke_refresh_and_expire_access(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    tokens = await oauth_tokens(http)
    sim.add_fault("acme", FaultRule(action="expire_access_token", path_regex="/invoices/find"))
    expired = await api(
        http, "/invoices/find", headers=bearer(tokens["access_token"]), params=OAUTH
    )
    sim.add_fault("acme", FaultRule(action="revoke_refresh_token", path_regex="/oauth2/token"))
    refresh = await token_call(
        http, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert expired.json() == {"status": {"code": "AUTH"}}
    assert (refresh.status_code, refresh.json()["error"]) == (400, "invalid_grant")


# --- control API, reset, threads, process -------------------------------------------------


async def test_control_api(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    health = await http.get("/__sim/health")
    added = await http.post(
        "/__sim/logins",
        json={
            "login": "demo",
            "companies": [{"id": 501, "name": "Demo", "nip": SELLER_NIP, "ksef_enabled": True}],
            "api_keys": [{"access_key": "a", "secret_key": "s", "app_key": "p"}],
        },
    )
    demo = {"accessKey": "a", "secretKey": "s", "appKey": "p"}
    doc = first(
        await ok(
            http,
            "/invoices/add",
            invoice_body(line("a", 1, 1), contractor=INLINE_BUYER),
            headers=demo,
        ),
        "invoices",
        "invoice",
    )
    fault = await http.post(
        "/__sim/logins/demo/faults", json={"action": "status_code", "code": "FATAL"}
    )
    fatal = await api(http, "/invoices/find", headers=demo)
    advanced = await http.post("/__sim/advance", json={"seconds": 60})
    invoices = await http.get("/__sim/logins/demo/companies/501/invoices")
    requests = await http.get("/__sim/logins/demo/requests")
    unknown = await http.get("/__sim/logins/nope/requests")
    bad_rule = await http.post("/__sim/logins/demo/faults", json={"action": "explode"})
    reset = await http.post("/__sim/reset")

    assert health.json() == {"status": "ok"}
    assert added.status_code == 201
    assert fault.status_code == 201
    assert fatal.json() == {"status": {"code": "FATAL"}}
    assert advanced.json()["now"] == "2026-03-02T10:01:00+01:00"
    [listed] = invoices.json()
    assert listed["id"] == doc["id"]
    assert (
        listed["ksef_status"],
        bool(KSEF_NUMBER.fullmatch(listed["ksef_reference_number"])),
    ) == (
        "ok",
        True,
    )
    assert [r["code"] for r in requests.json()] == ["OK", "FATAL"]
    assert (unknown.status_code, bad_rule.status_code, reset.status_code) == (404, 400, 200)
    assert sim.invoices("demo", 501) == []
    assert sim.login("demo").companies[0].name == "Demo"


async def test_reset_forgets_data_tokens_and_budgets(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    tokens = await oauth_tokens(http)
    await new_invoice(http, line("a", 1, 1), contractor=INLINE_BUYER)
    sim.reset()
    after = await api(http, "/companies/find", headers=bearer(tokens["access_token"]), params=OAUTH)
    assert after.json() == {"status": {"code": "AUTH"}}
    assert (sim.invoices("acme"), sim.token_requests(), sim.request_log("acme")) == ([], [], [])
    sim.reset(logins=True)
    assert (sim.logins(), sim.oauth_apps()) == ([], [])
    with pytest.raises(KeyError):
        sim.invoices("acme")


def test_serve_in_thread_with_sync_client(sim: WfirmaSimulator) -> None:
    with served_in_thread(sim) as url:
        response = httpx.post(
            f"{url}/invoices/add",
            headers=KEYS,
            params=JSON,
            json=invoice_body(line("a", 1, 1), contractor=INLINE_BUYER),
        )
        assert response.json()["status"]["code"] == "OK"
    assert len(sim.invoices("acme")) == 1


def test_standalone_process_loads_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "wfirma.json"
    config.write_text(
        json.dumps(
            {
                "logins": [login.to_dict() for login in logins()],
                "oauth_apps": [oauth_app().to_dict()],
            }
        ),
        encoding="utf-8",
    )
    with standalone("simulators.wfirma", "--config", str(config), ready="wfirma-simulator") as url:
        response = httpx.post(f"{url}/companies/find", headers=KEYS, params=JSON)
        assert first(response.json(), "companies", "company")["nip"] == SELLER_NIP
        apps = httpx.get(f"{url}/__sim/oauth_apps").json()
        assert [a["client_id"] for a in apps] == [CLIENT_ID]


# --- configuration validation and arithmetic properties ---------------------------------------


def test_configuration_rejects_inconsistent_logins() -> None:
    with pytest.raises(ValueError, match="duplicate company ids"):
        SimLogin("x", companies=[SimCompany(1, "A"), SimCompany(1, "B")])
    with pytest.raises(ValueError, match="selected company"):
        SimLogin("x", companies=[SimCompany(1, "A")], selected_company_id=2)
    with pytest.raises(ValueError, match="unknown SimApiKey keys"):
        SimApiKey.from_dict({"access_key": "a", "secret_key": "s", "app_key": "p", "x": 1})
    with pytest.raises(ValueError, match="unknown fault action"):
        FaultRule(action="explode")  # type: ignore[arg-type]


_GROSS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
_CODES = st.sampled_from(["23", "8", "5", "0", "ZW", "NP"])


@given(st.lists(st.tuples(_CODES, _GROSS), min_size=1, max_size=8))
def test_brutto_group_totals_add_up_to_the_grosz(lines: list[tuple[str, Decimal]]) -> None:
    groups = group_totals([(BY_CODE[c], g) for c, g in lines], gross_prices=True)
    assert sum(g.gross for g in groups) == sum(g for _, g in lines)
    for group in groups:
        expected = (group.gross / (1 + group.vat.rate / 100)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        assert group.net == expected
        assert group.net + group.tax == group.gross
