"""KSeF in the wFirma simulator over real HTTP: the ``ksef_*`` fields (wfirma-api.md §7), their
lazy transitions on the simulated clock, per-document outcomes scripted by fault rules, and the
per-login KSeF authorisation with wFirma's documented refusal."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from simulators.wfirma import FaultRule, WfirmaSimulator
from tests.simulators.wfirma_helpers import (
    KEYS,
    NOW,
    SELLER_NIP,
    api,
    cond,
    find_body,
    first,
    invoice_body,
    line,
    logins,
    new_invoice,
    oauth_app,
    ok,
    rows,
)

BUYER = {
    "name": "Hurtownia Sp. z o.o.",
    "street": "ul. Długa 5",
    "zip": "30-001",
    "city": "Kraków",
    "tax_id_type": "nip",
    "nip": "1234563218",
}
KSEF_NUMBER = re.compile(rf"{SELLER_NIP}-20260302-[0-9A-F]{{12}}-[0-9A-F]{{2}}")
UNAUTHORIZED = {
    "status": {
        "code": "ERROR",
        "message": "Brak autoryzacji w KSeF 2.0. Zautoryzuj się w zakładce "
        "PRZYCHODY » KSEF I INTEGRACJE",
    }
}


@pytest.fixture
def sim() -> WfirmaSimulator:
    simulator = WfirmaSimulator(clock=lambda: NOW)
    for login in logins():
        simulator.add_login(login)  # acme: KSeF on, 5 s to process
    simulator.add_oauth_app(oauth_app())
    return simulator


async def invoice(http: httpx.AsyncClient, order: str, **fields: Any) -> dict[str, Any]:
    return await new_invoice(http, line("a", 1, 10), contractor=BUYER, id_external=order, **fields)


async def read(http: httpx.AsyncClient, doc: dict[str, Any]) -> dict[str, Any]:
    return first(await ok(http, f"/invoices/get/{doc['id']}"), "invoices", "invoice")


def ksef(record: dict[str, Any]) -> tuple[str, str, str, Any]:
    return (
        record["ksef_status"],
        record["ksef_reference_number"],
        record["ksef_registration_date"],
        record.get("ksef_errors"),
    )


async def add_rules(http: httpx.AsyncClient, *rules: dict[str, Any]) -> None:
    response = await http.post("/__sim/logins/acme/faults", json=list(rules))
    assert response.status_code == 201, response.text


async def test_a_rejection_is_scripted_per_document_with_its_messages(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    messages = ["Błąd weryfikacji semantyki dokumentu faktury", "Nieprawidłowy NIP nabywcy"]
    await add_rules(
        http, {"action": "ksef_reject", "id_external_regex": "^ord-2$", "messages": messages}
    )
    accepted = await invoice(http, "ord-1")
    receipt = await new_invoice(http, line("a", 1, 1), type="receipt_normal", id_external="ord-2")
    rejected = await invoice(http, "ord-2")
    sim.advance(5)
    ok_now, rejected_now = await read(http, accepted), await read(http, rejected)
    pdf = await api(http, f"/invoices/download/{rejected['id']}")

    assert ok_now["ksef_status"] == "ok" and KSEF_NUMBER.fullmatch(ok_now["ksef_reference_number"])
    assert ksef(rejected_now) == (
        "error",
        "",
        "",
        {"0": {"error": {"message": messages[0]}}, "1": {"error": {"message": messages[1]}}},
    )
    assert b"Potwierdzenie transakcji" in pdf.content  # never issued: no invoice PDF
    assert ksef(await read(http, receipt)) == ("", "", "", None)  # receipts skip KSeF and rules
    sim.advance(3600)
    assert (await read(http, rejected))["ksef_status"] == "error"  # final


async def test_a_server_error_shows_then_clears_without_any_call(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    sim.add_fault("acme", FaultRule("ksef_server_error", seconds=60, ksef_delay_seconds=2))
    doc = await invoice(http, "ord-9")
    waiting = await read(http, doc)
    sim.advance(2)
    failing = await read(http, doc)
    sim.advance(59)
    still = await read(http, doc)
    sim.advance(1)
    cleared = await read(http, doc)

    assert ksef(waiting) == ("", "", "", None)
    assert failing["ksef_status"] == "server_error"
    assert failing["ksef_reference_number"] == ""
    assert list(failing["ksef_errors"]) == ["0"] and "KSeF" in str(failing["ksef_errors"])
    assert still["ksef_status"] == "server_error"
    assert KSEF_NUMBER.fullmatch(cleared["ksef_reference_number"])
    assert (cleared["ksef_status"], cleared.get("ksef_errors")) == ("ok", None)
    assert cleared["ksef_registration_date"] == "2026-03-02 10:01:02.000"
    assert cleared["modified"] == "2026-03-02 10:01:02"


async def test_never_resolved_stays_waiting_even_when_forced(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    await add_rules(http, {"action": "ksef_never", "id_external_regex": "stuck"})
    stuck = await invoice(http, "stuck-1")
    normal = await invoice(http, "ord-3")
    sim.advance(7 * 86_400)
    complete = await http.post("/__sim/logins/acme/companies/1001/ksef/complete")
    assert complete.status_code == 200
    assert ksef(await read(http, stuck)) == ("", "", "", None)
    assert (await read(http, normal))["ksef_status"] == "ok"
    pdf = await api(http, f"/invoices/download/{stuck['id']}")
    assert b"Potwierdzenie transakcji" in pdf.content


async def test_an_accept_rule_sets_its_own_delay_and_find_sees_each_state(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    sim.add_fault("acme", FaultRule("ksef_accept", ksef_delay_seconds=30))
    sim.add_fault("acme", FaultRule("ksef_reject", id_external_regex="bad"))
    slow = await invoice(http, "slow")
    bad = await invoice(http, "bad")
    sim.advance(5)
    found = await ok(
        http, "/invoices/find", find_body("invoices", cond("ksef_status", "eq", "error"))
    )
    assert [r["id"] for r in rows(found, "invoices", "invoice")] == [bad["id"]]
    assert (await read(http, slow))["ksef_status"] == ""
    sim.advance(25)
    assert (await read(http, slow))["ksef_status"] == "ok"


async def test_the_unauthorized_rule_refuses_one_add_with_the_documented_error(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    await add_rules(http, {"action": "ksef_unauthorized"})
    # Neither gateway-level calls nor documents outside KSeF consume the rule.
    await ok(http, "/contractors/find", {"contractors": {"parameters": {}}})
    await new_invoice(http, line("a", 1, 1), type="receipt_normal")
    refused = await api(http, "/invoices/add", invoice_body(line("a", 1, 1), contractor=BUYER))
    again = await invoice(http, "ord-5")

    assert (refused.status_code, refused.json()) == (200, UNAUTHORIZED)
    assert [d["type"] for d in sim.invoices("acme")] == ["receipt_normal", "normal"]
    assert again["ksef_status"] == ""


async def test_ksef_authorisation_is_per_login_and_fixing_it_resumes(
    http: httpx.AsyncClient, sim: WfirmaSimulator
) -> None:
    acme = sim.login("acme")
    acme.ksef_authorized = False  # the API user has no KSeF authorisation of its own (§7)
    sim.add_login(acme)
    refused = await api(http, "/invoices/add", invoice_body(line("a", 1, 1), contractor=BUYER))
    receipt = await api(http, "/invoices/add", invoice_body(line("a", 1, 1), type="receipt_normal"))
    draft = await api(
        http, "/invoices/add", invoice_body(line("a", 1, 1), contractor=BUYER, type="normal_draft")
    )
    acme.ksef_authorized = True  # an authorised user shared for API connections
    sim.add_login(acme)
    fixed = await invoice(http, "ord-6")
    sim.advance(5)

    assert refused.json() == UNAUTHORIZED
    assert receipt.json()["status"]["code"] == "OK"
    assert draft.json()["status"]["code"] == "OK"  # drafts avoid KSeF (§7)
    assert (await read(http, fixed))["ksef_status"] == "ok"


async def test_ksef_rules_round_trip_and_bad_ones_are_refused(http: httpx.AsyncClient) -> None:
    rule = {
        "action": "ksef_server_error",
        "messages": ["x"],
        "id_external_regex": "^a$",
        "ksef_delay_seconds": 1.5,
        "seconds": 10,
        "times": 2,
    }
    await add_rules(http, rule)
    assert FaultRule.from_dict(rule).to_dict()["messages"] == ["x"]
    bad = await http.post("/__sim/logins/acme/faults", json={"action": "ksef_maybe"})
    assert bad.status_code == 400
    cleared = await http.delete("/__sim/logins/acme/faults")
    assert cleared.status_code == 200


async def test_ksef_errors_render_in_xml_too(http: httpx.AsyncClient, sim: WfirmaSimulator) -> None:
    sim.add_fault("acme", FaultRule("ksef_reject", messages=["Odrzucona"]))
    doc = await invoice(http, "ord-7")
    sim.advance(5)
    response = await http.post(f"/invoices/get/{doc['id']}", headers=KEYS)  # XML by default
    assert response.headers["content-type"].startswith("application/xml")
    assert b"<ksef_status>error</ksef_status>" in response.content
    assert b"<ksef_errors><error><message>Odrzucona</message></error></ksef_errors>" in (
        response.content
    )
