"""KSeF in the Fakturownia simulator, over real HTTP: scripted per-document paths, (re)sending,
the ``gov_id`` search, the e-mail block, the KSeF files, the account webhook and auto-send.

Expected behaviour follows shared/reference/ksef-2026.md §1.8-1.9 and fakturownia-api.md §8.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

from simulators.fakturownia import FakturowniaSimulator, KsefRule, SimAccount, SimDepartment
from tests.simulators import support

PREFIX = "ksef"
TOKEN = "tok-ksef"
SELLER_NIP = "5252445767"
EVENTUALLY_SECONDS = 5.0
KSEF_BLOCK = {"status": "error", "message": "Faktura nie może zostać wysłana - brak numeru KSeF"}


def _department(dep_id: int) -> SimDepartment:
    return SimDepartment(
        id=dep_id,
        name=f"Sklep {dep_id}",
        tax_no=SELLER_NIP,
        street="ul. Prosta 1",
        post_code="00-001",
        city="Warszawa",
        main=True,
    )


def _account(prefix: str = PREFIX, **settings: Any) -> SimAccount:
    return SimAccount(
        prefix=prefix,
        api_token=f"tok-{prefix}",
        departments=[_department(201)],
        ksef_enabled=True,
        **{"ksef_delay_seconds": 0.05, **settings},
    )


@pytest.fixture
def sim() -> FakturowniaSimulator:
    simulator = FakturowniaSimulator()
    simulator.add_account(_account())
    return simulator


def company_invoice(**overrides: Any) -> dict[str, Any]:
    return support.company_invoice(**{"department_id": 201, **overrides})


def person_invoice(**overrides: Any) -> dict[str, Any]:
    return support.person_invoice(**{"department_id": 201, **overrides})


async def created(
    http: httpx.AsyncClient, invoice: dict[str, Any], prefix: str = PREFIX, **envelope: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/{prefix}/invoices.json",
        json={"api_token": f"tok-{prefix}", "invoice": invoice, **envelope},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def sent(http: httpx.AsyncClient, oid: str, prefix: str = PREFIX) -> dict[str, Any]:
    """A B2B invoice created with ``gov_save_and_send``."""
    return await created(http, company_invoice(oid=oid), prefix, gov_save_and_send=True)


async def read(http: httpx.AsyncClient, doc_id: int, **params: Any) -> dict[str, Any]:
    response = await http.get(
        f"/{PREFIX}/invoices/{doc_id}.json", params={"api_token": TOKEN, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def resend(http: httpx.AsyncClient, doc_id: int) -> dict[str, Any]:
    return await read(http, doc_id, send_to_ksef="yes")


async def search(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await http.get(
        f"/{PREFIX}/invoices.json", params={"api_token": TOKEN, "period": "all", **params}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def email(http: httpx.AsyncClient, doc_id: int) -> httpx.Response:
    return await http.post(
        f"/{PREFIX}/invoices/{doc_id}/send_by_email.json", params={"api_token": TOKEN}
    )


async def eventually(check: Callable[[], Any]) -> Any:
    """Poll an async ``check`` until it returns something truthy (or give up after a while)."""
    deadline = time.monotonic() + EVENTUALLY_SECONDS
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.02)


async def status_becomes(http: httpx.AsyncClient, doc_id: int, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        doc = await read(http, doc_id)
        return doc if doc["gov_status"] == status else None

    doc = await eventually(check)
    assert doc is not None, f"document {doc_id} never reached {status}"
    return doc


def sends(sim: FakturowniaSimulator, doc_id: int) -> int:
    return sum(1 for s in sim.ksef_sends(PREFIX) if s.invoice_id == doc_id)


# --- scripted paths -------------------------------------------------------------------------


async def test_reject_carries_its_messages_and_a_fixed_resend_is_accepted(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    messages = ["Błąd weryfikacji semantyki dokumentu faktury"]
    sim.add_ksef_rule(PREFIX, KsefRule("reject", messages=messages))
    doc = await sent(http, "R-1")
    rejected = await status_becomes(http, doc["id"], "send_error")
    assert (rejected["gov_error_messages"], rejected["gov_id"]) == (messages, None)

    again = await resend(http, doc["id"])
    assert again["gov_status"] == "processing"
    accepted = await status_becomes(http, doc["id"], "ok")
    assert accepted["gov_id"].startswith(f"{SELLER_NIP}-")
    assert accepted["gov_error_messages"] is None
    assert sends(sim, doc["id"]) == 2


async def test_server_error_until_the_configured_failures_then_ok(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("server_error_then_ok", failures=2))
    doc = await sent(http, "S-1")
    first = await status_becomes(http, doc["id"], "server_error")
    await resend(http, doc["id"])
    await status_becomes(http, doc["id"], "server_error")
    await resend(http, doc["id"])
    done = await status_becomes(http, doc["id"], "ok")
    assert first["gov_error_messages"] and first["gov_id"] is None
    assert done["gov_id"]
    assert [s.status_before for s in sim.ksef_sends(PREFIX)] == [
        None,
        "server_error",
        "server_error",
    ]


async def test_server_error_stays_until_resent(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("server_error_then_ok"))
    doc = await sent(http, "S-2")
    await status_becomes(http, doc["id"], "server_error")
    await asyncio.sleep(0.2)
    assert (await read(http, doc["id"]))["gov_status"] == "server_error"


async def test_status_check_error_turns_ok_without_a_resend(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("status_check_error_then_ok", delays=[0.05, 0.4]))
    doc = await sent(http, "C-1")
    checking = await status_becomes(http, doc["id"], "status_check_error")
    done = await status_becomes(http, doc["id"], "ok")
    assert checking["gov_error_messages"] and checking["gov_id"] is None
    assert done["gov_id"]
    assert sends(sim, doc["id"]) == 1


async def test_resending_after_status_check_error_ends_in_duplicate_error(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("status_check_error_then_ok", delays=[0.05, 60]))
    doc = await sent(http, "C-2")
    await status_becomes(http, doc["id"], "status_check_error")
    await resend(http, doc["id"])
    duplicate = await status_becomes(http, doc["id"], "duplicate_error")
    (message,) = duplicate["gov_error_messages"]
    number = message.rsplit(" ", 1)[-1]
    assert number.startswith(f"{SELLER_NIP}-")
    assert [d["id"] for d in await search(http, gov_id=number)] == [doc["id"]]


async def test_duplicate_names_the_accepted_original_found_by_gov_id(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    original = await created(http, company_invoice(oid="D-1"))
    sim.add_ksef_rule(PREFIX, KsefRule("duplicate", oid_regex="^D-"))
    twin = await sent(http, "D-1")
    duplicate = await status_becomes(http, twin["id"], "duplicate_error")
    accepted = await read(http, original["id"])
    assert accepted["gov_status"] == "ok"
    assert accepted["gov_id"] in duplicate["gov_error_messages"][0]
    assert [d["id"] for d in await search(http, gov_id=accepted["gov_id"])] == [original["id"]]


async def test_duplicate_of_a_named_document(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    first = await sent(http, "X-1")
    sim.complete_ksef(PREFIX)
    number = (await read(http, first["id"]))["gov_id"]
    sim.add_ksef_rule(PREFIX, KsefRule("duplicate", duplicate_of=first["id"]))
    other = await sent(http, "X-2")
    duplicate = await status_becomes(http, other["id"], "duplicate_error")
    assert number in duplicate["gov_error_messages"][0]
    assert (await read(http, first["id"]))["gov_id"] == number


async def test_duplicate_of_a_document_still_in_flight_accepts_that_document(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("never", oid_regex="^P-"))
    pending = await sent(http, "P-1")
    sim.add_ksef_rule(PREFIX, KsefRule("duplicate", duplicate_of=pending["id"]))
    other = await sent(http, "Q-1")
    sim.complete_ksef(PREFIX)
    duplicate, original = await read(http, other["id"]), await read(http, pending["id"])
    assert (duplicate["gov_status"], original["gov_status"]) == ("duplicate_error", "ok")
    assert original["gov_id"] in duplicate["gov_error_messages"][0]


async def test_offline_then_ok_allows_email_while_offline(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("offline_then_ok", delays=[0, 0.5]))
    doc = await sent(http, "O-1")
    offline = await status_becomes(http, doc["id"], "offline")
    mail = await email(http, doc["id"])
    await resend(http, doc["id"])
    done = await status_becomes(http, doc["id"], "ok")
    assert offline["gov_id"] is None
    assert offline["gov_verification_link"].startswith(
        f"https://qr.ksef.mf.gov.pl/invoice/{SELLER_NIP}/"
    )
    assert mail.json()["status"] == "ok"
    assert done["gov_id"]
    assert sends(sim, doc["id"]) == 1


async def test_backdated_issue_date_goes_offline24_first(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_account(_account("late", ksef_delay_seconds=30, offline24_for_backdated=True))
    # two days back, so the test holds whatever the UTC/Warsaw offset at midnight
    backdated = (date.today() - timedelta(days=2)).isoformat()
    old = await created(http, company_invoice(issue_date=backdated), "late", gov_save_and_send=True)
    fresh = await created(http, company_invoice(), "late", gov_save_and_send=True)

    async def status(doc_id: int) -> str:
        response = await http.get(f"/late/invoices/{doc_id}.json", params={"api_token": "tok-late"})
        return response.json()["gov_status"]

    assert (await status(old["id"]), await status(fresh["id"])) == ("offline", "processing")
    sim.complete_ksef("late")
    assert (await status(old["id"]), await status(fresh["id"])) == ("ok", "ok")


async def test_never_stays_processing_even_when_completed(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("never"))
    doc = await sent(http, "N-1")
    sim.complete_ksef(PREFIX)
    await asyncio.sleep(0.1)
    assert (await read(http, doc["id"]))["gov_status"] == "processing"


async def test_blocked_403_until_the_account_is_authorised_again(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("blocked_403", failures=2))
    doc = await sent(http, "B-1")
    blocked = await status_becomes(http, doc["id"], "blocked_403_error")
    await resend(http, doc["id"])
    await status_becomes(http, doc["id"], "blocked_403_error")
    await resend(http, doc["id"])
    await status_becomes(http, doc["id"], "ok")
    assert blocked["gov_error_messages"] and blocked["gov_id"] is None


async def test_rules_match_by_oid_or_take_the_next_documents(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("blocked_403", oid_regex=r"^VIP-", times=-1))
    sim.add_ksef_rule(PREFIX, KsefRule("reject", times=2))
    docs = [await sent(http, oid) for oid in ("A-1", "VIP-1", "A-2", "VIP-2", "A-3")]
    sim.complete_ksef(PREFIX)
    statuses = [(await read(http, d["id"]))["gov_status"] for d in docs]
    assert statuses == ["send_error", "blocked_403_error", "send_error", "blocked_403_error", "ok"]


def test_rules_refuse_unknown_paths_and_bad_counts() -> None:
    with pytest.raises(ValueError, match="unknown KSeF path"):
        KsefRule("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        KsefRule("ok", times=0)
    with pytest.raises(ValueError, match="failures"):
        KsefRule("reject", failures=0)


# --- (re)sending ----------------------------------------------------------------------------


async def test_resending_an_accepted_document_keeps_its_ksef_number(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    doc = await sent(http, "K-1")
    number = (await status_becomes(http, doc["id"], "ok"))["gov_id"]
    by_get = await resend(http, doc["id"])
    by_put = await http.put(
        f"/{PREFIX}/invoices/{doc['id']}.json",
        json={"api_token": TOKEN, "send_to_ksef": "yes"},
    )
    assert (by_get["gov_status"], by_get["gov_id"]) == ("ok", number)
    assert (by_put.json()["gov_status"], by_put.json()["gov_id"]) == ("ok", number)
    assert sends(sim, doc["id"]) == 1
    assert len(await search(http, gov_id=number)) == 1


async def test_update_with_gov_save_and_send_sends_an_existing_invoice(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    doc = await created(http, company_invoice(oid="U-1"))
    response = await http.put(
        f"/{PREFIX}/invoices/{doc['id']}.json",
        params={"gov_save_and_send": "1"},
        json={"api_token": TOKEN, "invoice": {"buyer_email": "nowy@hurtownia.example"}},
    )
    assert response.status_code == 200
    assert response.json()["gov_status"] == "processing"
    assert response.json()["buyer_email"] == "nowy@hurtownia.example"
    assert (await status_becomes(http, doc["id"], "ok"))["gov_id"]


async def test_update_is_refused_after_acceptance_and_for_unsupported_fields(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    draft = await created(http, company_invoice(oid="U-2"))
    accepted = await sent(http, "U-3")
    await status_becomes(http, accepted["id"], "ok")

    async def put(doc_id: int, changes: dict[str, Any]) -> httpx.Response:
        return await http.put(
            f"/{PREFIX}/invoices/{doc_id}.json", json={"api_token": TOKEN, "invoice": changes}
        )

    blocked = await put(accepted["id"], {"buyer_email": "x@example.test"})
    unsupported = await put(draft["id"], {"positions": []})
    assert blocked.status_code == 422
    assert list(blocked.json()["message"]) == ["base"]
    assert unsupported.status_code == 422
    assert list(unsupported.json()["message"]) == ["positions"]


async def test_fixing_a_non_compliant_invoice_lets_the_resend_through(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_account(_account("lax", validate_invoices_for_gov=False))
    doc = await created(http, company_invoice(buyer_tax_no=None), "lax", gov_save_and_send=True)
    assert doc["gov_status"] == "send_error"
    fixed = await http.put(
        f"/lax/invoices/{doc['id']}.json",
        params={"send_to_ksef": "yes"},
        json={"api_token": "tok-lax", "invoice": {"buyer_tax_no": "1234563218"}},
    )
    assert (fixed.json()["gov_status"], fixed.json()["gov_error_messages"]) == (
        "processing",
        None,
    )


# --- search, e-mail, files ------------------------------------------------------------------


async def test_search_by_ksef_number(http: httpx.AsyncClient, sim: FakturowniaSimulator) -> None:
    docs = [await sent(http, oid) for oid in ("G-1", "G-2")]
    sim.complete_ksef(PREFIX)
    number = (await read(http, docs[1]["id"]))["gov_id"]
    assert [d["id"] for d in await search(http, gov_id=number)] == [docs[1]["id"]]
    assert await search(http, gov_id=f"{SELLER_NIP}-20260101-000000000000") == []
    assert await search(http, gov_id=number, income="no") == []


async def test_email_to_a_company_is_refused_with_http_200_until_cleared(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("ok", delays=[60]))
    doc = await sent(http, "E-1")
    refused = await email(http, doc["id"])
    sim.complete_ksef(PREFIX)
    allowed = await email(http, doc["id"])
    assert (refused.status_code, refused.json()) == (200, KSEF_BLOCK)
    assert (allowed.status_code, allowed.json()["status"]) == (200, "ok")
    assert [e.invoice_id for e in sim.sent_emails(PREFIX)] == [doc["id"]]


async def test_email_to_a_person_is_not_blocked(http: httpx.AsyncClient) -> None:
    doc = await created(http, person_invoice(buyer_email="jan@example.test"))
    assert (await email(http, doc["id"])).json()["status"] == "ok"


async def test_ksef_files_are_404_before_and_302_after_acceptance(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_ksef_rule(PREFIX, KsefRule("ok", delays=[60]))
    doc = await sent(http, "F-1")
    path = f"/{PREFIX}/invoices/{doc['id']}/attachment"

    async def attachment(kind: str) -> httpx.Response:
        return await http.get(path, params={"api_token": TOKEN, "kind": kind})

    before = [(await attachment(kind)).status_code for kind in ("gov", "gov_upo")]
    sim.complete_ksef(PREFIX)
    number = (await read(http, doc["id"]))["gov_id"]
    xml, upo = await attachment("gov"), await attachment("gov_upo")
    unknown = await attachment("pdf")
    assert before == [404, 404]
    assert (xml.status_code, upo.status_code, unknown.status_code) == (302, 302, 404)
    xml_file = await http.get(xml.headers["Location"])
    upo_file = await http.get(upo.headers["Location"])
    assert xml_file.headers["Content-Type"].startswith("text/xml")
    assert 'xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/"' in xml_file.text
    assert doc["number"] in xml_file.text
    assert number in upo_file.text


# --- webhook --------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint recording the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    finally:
        await runner.cleanup()


async def test_account_webhook_is_posted_on_status_changes_without_polling(
    http: httpx.AsyncClient,
    sim: FakturowniaSimulator,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = receiver
    sim.add_account(_account(webhook_url=url, webhook_token="hook-secret"))
    doc = await sent(http, "W-1")

    async def accepted() -> bool:
        return any(p["invoice"]["gov_status"] == "ok" for p in received)

    async def logged() -> bool:  # the delivery is logged once its answer is back
        return len(sim.webhook_deliveries(PREFIX)) == 2

    assert await eventually(accepted) and await eventually(logged)
    assert [p["invoice"]["gov_status"] for p in received] == ["processing", "ok"]
    assert {(p["kind"], p["api_token"], p["invoice"]["id"]) for p in received} == {
        ("invoice:update", "hook-secret", doc["id"])
    }
    assert received[-1]["invoice"]["gov_id"]
    assert [d.status for d in sim.webhook_deliveries(PREFIX)] == [200, 200]


async def test_unreachable_webhook_is_logged_and_does_not_break_the_account(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    sim.add_account(_account(webhook_url="http://127.0.0.1:9/unreachable"))
    doc = await sent(http, "W-2")

    async def logged() -> bool:
        return len(sim.webhook_deliveries(PREFIX)) == 2

    assert await eventually(logged)
    assert {d.status for d in sim.webhook_deliveries(PREFIX)} == {None}
    assert (await read(http, doc["id"]))["gov_status"] == "ok"


# --- automatic sending ----------------------------------------------------------------------

_BUYERS = {
    "pl_company": company_invoice(),
    "foreign_company": company_invoice(buyer_country="DE", buyer_tax_no_kind="nip_ue"),
    "person": person_invoice(),
}


@pytest.mark.parametrize(
    ("mode", "auto_sent"),
    [
        (None, set()),
        ("pl_companies", {"pl_company"}),
        ("all_companies", {"pl_company", "foreign_company"}),
        ("all", {"pl_company", "foreign_company", "person"}),
    ],
)
async def test_gov_auto_send_mode_decides_by_buyer_company(
    http: httpx.AsyncClient, sim: FakturowniaSimulator, mode: str | None, auto_sent: set[str]
) -> None:
    sim.add_account(_account("auto", gov_auto_send_mode=mode, ksef_delay_seconds=60))
    statuses = {
        name: (await created(http, invoice, "auto"))["gov_status"]
        for name, invoice in _BUYERS.items()
    }
    assert statuses == {name: "processing" if name in auto_sent else None for name in _BUYERS}


async def test_buyer_company_must_be_sent_on_a_ksef_account(http: httpx.AsyncClient) -> None:
    invoice = company_invoice()
    del invoice["buyer_company"]
    response = await http.post(
        f"/{PREFIX}/invoices.json", json={"api_token": TOKEN, "invoice": invoice}
    )
    assert response.status_code == 422
    assert response.json()["message"] == {"buyer_company": ["- nie może być puste"]}


# --- control API ----------------------------------------------------------------------------


async def test_control_api_scripts_rules_and_lists_sends(
    http: httpx.AsyncClient, sim: FakturowniaSimulator
) -> None:
    added = await http.post(
        f"/__sim/accounts/{PREFIX}/ksef/rules",
        json=[{"path": "reject", "oid_regex": "^Z-", "messages": ["zły NIP"]}, {"path": "never"}],
    )
    bad = await http.post(f"/__sim/accounts/{PREFIX}/ksef/rules", json={"path": "explode"})
    doc = await sent(http, "Z-1")
    cleared = await http.delete(f"/__sim/accounts/{PREFIX}/ksef/rules")
    plain = await sent(http, "Y-1")
    await http.post(f"/__sim/accounts/{PREFIX}/ksef/complete")
    listed = await http.get(f"/__sim/accounts/{PREFIX}/ksef/sends")

    assert added.status_code == 201
    assert [r["path"] for r in added.json()] == ["reject", "never"]
    assert bad.status_code == 400
    assert cleared.status_code == 200
    assert (await read(http, doc["id"]))["gov_error_messages"] == ["zły NIP"]
    assert (await read(http, plain["id"]))["gov_status"] == "ok"
    assert [(s["invoice_id"], s["oid"]) for s in listed.json()] == [
        (doc["id"], "Z-1"),
        (plain["id"], "Y-1"),
    ]
