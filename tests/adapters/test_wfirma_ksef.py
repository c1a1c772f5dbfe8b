"""The wFirma adapter's reading of KSeF over real HTTP against the simulator: each scripted
outcome (fault rules) lands in `IssuedDocument.clearance` in the project's vocabulary, through
`issue`, `get`, `find` and `read_clearance`; missing KSeF authorisation is wFirma's refusal."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from adapters.wfirma import WfirmaProvider
from adapters.wfirma.ksef import ksef_state, needs_ksef_authorization
from domain.ports import ProviderValidationError
from schemas.invoices import Clearance, DocumentKind
from simulators.wfirma import FaultRule
from tests.adapters.support import NOW, POLICY, order_body, refund_data
from tests.adapters.wfirma_support import (
    KSEF_COMPANY_ID,
    KSEF_KEYS,
    KSEF_LOGIN,
    SELLER_NIP,
    SIM_NOW,
    WfirmaEnv,
    api_keys,
    wroute,
    wsale,
)
from workers.corrections import issue_correction
from workers.issuing import Attempts

pytest_plugins = ["tests.adapters.conftest_wfirma"]

KSEF_NUMBER = re.compile(rf"{SELLER_NIP}-20261121-[0-9A-F]{{12}}-[0-9A-F]{{2}}")


def ksef_provider(wfirma: WfirmaEnv) -> WfirmaProvider:
    return wfirma.provider(auth=api_keys(KSEF_KEYS), company_id=KSEF_COMPANY_ID)


async def raw_invoice(wfirma: WfirmaEnv, document_id: str) -> dict:
    """`invoices/get` as the adapter receives it, for the fields `Clearance` has no room for."""
    headers = {
        "accessKey": KSEF_KEYS.access_key,
        "secretKey": KSEF_KEYS.secret_key,
        "appKey": KSEF_KEYS.app_key,
    }
    async with httpx.AsyncClient(base_url=wfirma.base, timeout=5.0) as http:
        response = await http.post(
            f"/invoices/get/{document_id}",
            params={"inputFormat": "json", "outputFormat": "json", "company_id": KSEF_COMPANY_ID},
            headers=headers,
        )
    return response.json()["invoices"]["0"]["invoice"]


async def test_accepted_reads_ok_with_number_and_registration_date(wfirma: WfirmaEnv) -> None:
    provider = ksef_provider(wfirma)
    request = wsale(order_body("KSEF-A1", company=True))
    doc = await provider.issue(request)
    assert doc.clearance is None  # wFirma reports nothing until KSeF has processed it
    assert (await provider.read_clearance(doc.provider_document_id)).clearance is None

    wfirma.sim.advance(2)
    now = await provider.read_clearance(doc.provider_document_id)
    assert now.clearance is not None and now.clearance.status == "ok"
    assert KSEF_NUMBER.fullmatch(now.clearance.number or "")
    assert await provider.get(doc.provider_document_id) == now
    assert await provider.find(request) == now
    state = ksef_state(await raw_invoice(wfirma, doc.provider_document_id))
    assert state is not None and state.number == now.clearance.number
    assert state.registered_at == SIM_NOW + dt.timedelta(seconds=2)


async def test_a_rejection_is_send_error_with_the_messages_and_stays(wfirma: WfirmaEnv) -> None:
    messages = ["Błąd weryfikacji semantyki dokumentu faktury"]
    wfirma.sim.add_fault(
        KSEF_LOGIN, FaultRule("ksef_reject", messages=messages, id_external_regex="KSEF-R1")
    )
    provider = ksef_provider(wfirma)
    other = await provider.issue(wsale(order_body("KSEF-R0", company=True)))
    doc = await provider.issue(wsale(order_body("KSEF-R1", company=True)))
    wfirma.sim.advance(3600)

    rejected = await provider.read_clearance(doc.provider_document_id)
    assert rejected.clearance == Clearance(status="send_error", errors=messages)
    assert (await provider.read_clearance(other.provider_document_id)).clearance.status == "ok"


async def test_a_server_error_is_still_processing_until_wfirma_resends(
    wfirma: WfirmaEnv,
) -> None:
    wfirma.sim.add_fault(KSEF_LOGIN, FaultRule("ksef_server_error", seconds=60))
    provider = ksef_provider(wfirma)
    doc = await provider.issue(wsale(order_body("KSEF-S1", company=True)))
    wfirma.sim.advance(2)
    failing = (await provider.read_clearance(doc.provider_document_id)).clearance
    wfirma.sim.advance(60)
    cleared = (await provider.read_clearance(doc.provider_document_id)).clearance

    assert failing is not None and (failing.status, failing.number) == ("processing", None)
    assert failing.errors and "KSeF" in failing.errors[0]
    assert cleared is not None and (cleared.status, cleared.errors) == ("ok", [])
    assert KSEF_NUMBER.fullmatch(cleared.number or "")


async def test_never_resolved_reports_nothing_however_long(wfirma: WfirmaEnv) -> None:
    wfirma.sim.add_fault(KSEF_LOGIN, FaultRule("ksef_never"))
    provider = ksef_provider(wfirma)
    doc = await provider.issue(wsale(order_body("KSEF-N1", company=True)))
    wfirma.sim.advance(3 * 86_400)
    wfirma.sim.complete_ksef(KSEF_LOGIN)
    assert (await provider.read_clearance(doc.provider_document_id)).clearance is None


async def test_receipts_leave_the_rule_to_the_next_ksef_document_a_correction(
    wfirma: WfirmaEnv,
) -> None:
    provider = ksef_provider(wfirma)
    body = order_body("KSEF-C1", company=True)
    original = await provider.issue(wsale(body))
    wfirma.sim.complete_ksef(KSEF_LOGIN)
    wfirma.sim.add_fault(KSEF_LOGIN, FaultRule("ksef_reject", messages=["Zła korekta"]))
    receipt = await provider.issue(wsale(order_body("KSEF-C2"), DocumentKind.RECEIPT))
    refund = [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}]
    data = refund_data(body, "K1", refund, None, reason="Zwrot K1")
    correction = await issue_correction(provider, wroute(), data, POLICY, Attempts(), NOW)
    wfirma.sim.advance(2)

    cleared = await provider.read_clearance(original.provider_document_id)
    assert cleared.clearance is not None and cleared.clearance.status == "ok"
    assert receipt.clearance == Clearance(status="not_applicable")
    rejected = await provider.read_clearance(correction.provider_document_id)
    assert rejected.kind is DocumentKind.CORRECTION
    assert rejected.clearance == Clearance(status="send_error", errors=["Zła korekta"])


async def test_missing_authorisation_fault_is_the_documented_refusal(wfirma: WfirmaEnv) -> None:
    wfirma.sim.add_fault(KSEF_LOGIN, FaultRule("ksef_unauthorized"))
    provider = ksef_provider(wfirma)
    with pytest.raises(ProviderValidationError) as caught:
        await provider.issue(wsale(order_body("KSEF-U1", company=True)))
    assert needs_ksef_authorization(str(caught.value))
    assert wfirma.invoices(KSEF_LOGIN) == []
    retried = await provider.issue(wsale(order_body("KSEF-U1", company=True)))
    assert retried.clearance is None and len(wfirma.invoices(KSEF_LOGIN)) == 1


async def test_a_login_without_ksef_authorisation_is_refused_until_fixed(
    wfirma: WfirmaEnv,
) -> None:
    login = wfirma.sim.login(KSEF_LOGIN)
    login.ksef_authorized = False
    wfirma.sim.add_login(login)
    provider = ksef_provider(wfirma)
    with pytest.raises(ProviderValidationError) as caught:
        await provider.issue(wsale(order_body("KSEF-L1", company=True)))
    assert needs_ksef_authorization(str(caught.value))
    receipt = await provider.issue(wsale(order_body("KSEF-L2"), DocumentKind.RECEIPT))
    assert receipt.clearance == Clearance(status="not_applicable")

    login.ksef_authorized = True
    wfirma.sim.add_login(login)
    doc = await provider.issue(wsale(order_body("KSEF-L1", company=True)))
    wfirma.sim.advance(2)
    assert (await provider.read_clearance(doc.provider_document_id)).clearance.status == "ok"
