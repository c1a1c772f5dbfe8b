"""Issue-4 flows through Kafka for a seller on wFirma (OAuth): invoice, receipt, correction,
e-mail; an in-doubt create resolved by `id_external`; a revoked grant → needs_reauth."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from config.db import sessions_for
from config.secrets import SecretBox
from simulators.wfirma import (
    FaultRule,
    SimCompany,
    SimLogin,
    SimOAuthApp,
    SimSeries,
    WfirmaSimulator,
)
from tests import factories as f
from tests.integration.harness import (
    Stack,
    collect,
    create_topics,
    order_record,
    produce,
    worker_process,
)
from workers.onboarding import authorization_url, complete_authorization

pytestmark = pytest.mark.integration
REDIRECT = "https://platform.example/wfirma/callback"
CONFIG = """
sellers:
  - id: kursy-{uid}
    name: Kursy Online
    connections:
      - name: wf
        provider: wfirma
        credentials: {{client_id: "cid-{uid}", client_secret: "sec-{uid}"}}
        options: {{company_id: 1001, redirect_uri: "{redirect}", receipts_enabled: true}}
    channels:
      - {{channel: "shop-{uid}", connection: wf, target: "77", send_by_email: true}}
"""


@pytest.fixture
def wfirma(uid: str):
    sim = WfirmaSimulator()
    sim.add_login(
        SimLogin(
            login="kursy",
            rate_limits=None,
            companies=[
                SimCompany(
                    id=1001,
                    name="Kursy",
                    nip="5252445767",
                    street="Prosta 1",
                    zip="00-001",
                    city="Warszawa",
                    series=[SimSeries(id=77, name="Sklep", template="SK [numer]/[rok]")],
                ),
                SimCompany(id=1002, name="Inna firma"),
            ],
        )
    )
    sim.add_oauth_app(
        SimOAuthApp(
            client_id=f"cid-{uid}", client_secret=f"sec-{uid}", redirect_uri=REDIRECT, login="kursy"
        )
    )
    with sim.serve_in_thread() as base:
        yield sim, base


def connect(stack: Stack) -> None:
    """The seller clicks Generate, consents in wFirma, and the callback stores the tokens."""
    settings = stack.settings()

    async def run() -> None:
        async with sessions_for(stack.database_url) as sessions:
            consent = await authorization_url(settings, sessions, f"kursy-{stack.uid}", "wf")
            async with httpx.AsyncClient() as browser:
                back = await browser.get(consent, follow_redirects=False)
            params = parse_qs(urlsplit(back.headers["location"]).query)
            await complete_authorization(settings, sessions, params["code"][0], params["state"][0])

    asyncio.run(run())


def test_a_wfirma_seller_gets_invoice_receipt_correction_and_one_document_when_in_doubt(
    kafka_bootstrap: str, postgres_url: str, wfirma, uid: str, tmp_path: Path
) -> None:
    sim, base = wfirma
    channel = f"shop-{uid}"
    topic = f"orders.{channel}"
    stack = Stack(
        kafka_bootstrap,
        postgres_url,
        uid,
        [channel],
        extra_env={
            "INVOICE_ROUTER_WFIRMA_API_URL": base,
            "INVOICE_ROUTER_WFIRMA_AUTH_URL": f"{base}/oauth2/auth",
            "INVOICE_ROUTER_SECRET_KEYS": SecretBox.new_key(),
            "INVOICE_ROUTER_PROVIDER_TIMEOUT_SECONDS": "1",
        },
    )
    stack.apply_config(CONFIG.format(uid=uid, redirect=REDIRECT))
    connect(stack)
    create_topics(
        kafka_bootstrap,
        [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic],
        stack.partitions,
    )
    seller = f"kursy-{uid}"
    sale = f.order("W-1", company=True)
    produce(
        kafka_bootstrap,
        [
            order_record(topic, f.completed(seller, channel, sale)),
            order_record(
                topic,
                f.refunded(
                    seller,
                    channel,
                    sale,
                    "RF-1",
                    [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}],
                ),
            ),
            order_record(topic, f.completed(seller, channel, f.order("W-2"))),
        ],
    )
    issued_topics = [stack.issued_topic, stack.failed_topic]
    with worker_process(stack, tmp_path / "worker.log"):
        first = collect(
            kafka_bootstrap,
            issued_topics,
            timeout=90,
            done=lambda rs: len({(r.key, r.json()["id"]) for r in rs}) >= 3,
        )
        # the next create commits at wFirma, then the answer never comes back in time
        sim.add_fault(
            "kursy",
            FaultRule(
                action="hang_after_commit", method="POST", path_regex=r"invoices/add", seconds=3
            ),
        )
        produce(
            kafka_bootstrap,
            [order_record(topic, f.completed(seller, channel, f.order("W-3", company=True)))],
        )
        second = collect(
            kafka_bootstrap,
            issued_topics,
            timeout=90,
            settle=4,
            done=lambda rs: b"W-3" in {r.key for r in rs},
        )
        # the seller revokes the app: the next refresh fails and the connection needs reauth
        sim.revoke_refresh_tokens("kursy")
        sim.expire_access_tokens("kursy")
        produce(
            kafka_bootstrap, [order_record(topic, f.completed(seller, channel, f.order("W-4")))]
        )
        third = collect(
            kafka_bootstrap,
            issued_topics,
            timeout=90,
            done=lambda rs: b"W-4" in {r.key for r in rs},
        )

    log = (tmp_path / "worker.log").read_text(errors="replace")[-4000:]
    events = {(r.key, r.json()["data"].get("refund_id")): r.json() for r in first + second}
    docs = {k: e["data"]["document"] for k, e in events.items() if e["type"] == "invoice.issued"}
    assert set(docs) == {(b"W-1", None), (b"W-1", "RF-1"), (b"W-2", None), (b"W-3", None)}, log
    order = [(b"W-1", None), (b"W-1", "RF-1"), (b"W-2", None), (b"W-3", None)]
    assert [docs[k]["kind"] for k in order] == ["invoice", "correction", "receipt", "invoice"]
    assert all(d["provider"] == "wfirma" for d in docs.values())
    assert docs[(b"W-1", None)]["number"].startswith("SK ")  # the mapped series
    assert (
        docs[(b"W-1", "RF-1")]["corrected_document_id"]
        == docs[(b"W-1", None)]["provider_document_id"]
    )
    assert docs[(b"W-1", "RF-1")]["totals"]["gross"] == "-35.50"

    stored = sim.invoices("kursy", 1001)
    by_key = {}
    for inv in stored:
        by_key.setdefault(inv["id_external"], []).append(inv)
    assert {k: len(v) for k, v in by_key.items()} == {
        f"{channel}:W-1": 1,
        f"{channel}:W-1:refund:RF-1": 1,
        f"{channel}:W-2": 1,
        f"{channel}:W-3": 1,
    }  # exactly one document for the in-doubt create
    assert sim.invoices("kursy", 1002) == []  # company_id sent: nothing in the other company
    # issue 10: the correction names the original's buyer, as wFirma's documented example does
    [correction] = by_key[f"{channel}:W-1:refund:RF-1"]
    assert correction["contractor"] == by_key[f"{channel}:W-1"][0]["contractor"]
    sent = sum(1 for d in docs.values() if d["sent_to_buyer"])
    assert sent == len(sim.sent_emails("kursy", 1001)) >= 3

    w4 = [r.json() for r in third if r.key == b"W-4"]
    assert [e["type"] for e in w4] == ["invoice.failed"], log
    failure = w4[0]["data"]["failure"]
    assert failure["code"] == "provider_auth_failed"
    assert "reconnect" in failure["message"].lower()


def test_wfirma_invoices_are_watched_until_ksef_decides_and_a_missing_authorisation_waits(
    kafka_bootstrap: str, postgres_url: str, uid: str, tmp_path: Path
) -> None:
    """Issue 11 on wFirma: no KSeF webhook, so clearance is polled; an accepted invoice is
    announced `cleared` with its KSeF number, a rejected one `rejected` with wFirma's messages;
    while KSeF is not authorised for the login the order is parked (nothing created, connection
    flagged) and issued by itself once it is."""
    sim = WfirmaSimulator()
    login = SimLogin(
        login="kursy",
        rate_limits=None,
        companies=[
            SimCompany(
                id=1001,
                name="Kursy",
                nip="5252445767",
                street="Prosta 1",
                zip="00-001",
                city="Warszawa",
                series=[SimSeries(id=77, name="Sklep", template="SK [numer]/[rok]")],
                ksef_enabled=True,
                ksef_delay_seconds=1.0,
            )
        ],
    )
    sim.add_login(login)
    sim.add_oauth_app(
        SimOAuthApp(
            client_id=f"cid-{uid}", client_secret=f"sec-{uid}", redirect_uri=REDIRECT, login="kursy"
        )
    )
    sim.add_fault(
        "kursy", FaultRule("ksef_reject", id_external_regex="W-REJ", messages=["Zły NIP"])
    )
    sim.add_fault("kursy", FaultRule("ksef_unauthorized", id_external_regex="W-AUTH"))
    channel, clearance = f"shop-{uid}", f"invoices.clearance.{uid}"
    topic = f"orders.{channel}"
    with sim.serve_in_thread() as base:
        stack = Stack(
            kafka_bootstrap,
            postgres_url,
            uid,
            [channel],
            extra_env={
                "INVOICE_ROUTER_WFIRMA_API_URL": base,
                "INVOICE_ROUTER_WFIRMA_AUTH_URL": f"{base}/oauth2/auth",
                "INVOICE_ROUTER_SECRET_KEYS": SecretBox.new_key(),
                "INVOICE_ROUTER_TOPIC_INVOICES_CLEARANCE": clearance,
                "INVOICE_ROUTER_CLEARANCE_CHECK_GAPS": "1s",
                "INVOICE_ROUTER_CLEARANCE_POLL_SECONDS": "0.5",
            },
        )
        stack.apply_config(CONFIG.format(uid=uid, redirect=REDIRECT))
        connect(stack)
        create_topics(
            kafka_bootstrap,
            [topic, f"{topic}.dlq", stack.issued_topic, stack.failed_topic, clearance],
            stack.partitions,
        )
        seller = f"kursy-{uid}"
        produce(
            kafka_bootstrap,
            [
                order_record(topic, f.completed(seller, channel, f.order(o, company=True)))
                for o in ("W-OK", "W-REJ", "W-AUTH")
            ],
        )
        with worker_process(stack, tmp_path / "worker.log"):
            out = collect(
                kafka_bootstrap,
                [stack.issued_topic, stack.failed_topic, clearance],
                done=lambda rs: len({r.json()["id"] for r in rs if r.topic == clearance}) >= 2,
                timeout=90,
                settle=2,
            )
            ledger = stack_query(stack, "SELECT order_id, state, park_reason FROM issuances")
            conn = stack_query(stack, "SELECT status, status_detail FROM provider_connections")
        stored = {inv["id_external"]: inv for inv in sim.invoices("kursy", 1001)}
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    changes = {r.json()["data"]["order_id"]: r.json()["data"] for r in out if r.topic == clearance}
    assert changes["W-OK"]["status"] == "cleared", log
    assert changes["W-OK"]["ksef_number"] == stored[f"{channel}:W-OK"]["ksef_reference_number"]
    assert changes["W-REJ"]["status"] == "rejected" and changes["W-REJ"]["errors"] == ["Zły NIP"]
    assert f"{channel}:W-AUTH" not in stored and "W-AUTH" not in changes  # nothing created
    parked = {row["order_id"]: row for row in ledger}["W-AUTH"]
    assert (parked["state"], parked["park_reason"]) == ("parked", "needs_ksef_authorization")
    full_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "share a KSeF-authorised user" in full_log  # what the seller must do, said once
    # the flag clears by itself: KSeF accepted the login's other invoices afterwards
    assert conn[0]["status"] == "ok"


def stack_query(stack: Stack, sql: str) -> list[dict]:
    import asyncpg

    async def run() -> list[dict]:
        db = await asyncpg.connect(stack.database_url.replace("+asyncpg", ""))
        try:
            return [dict(r) for r in await db.fetch(sql)]
        finally:
            await db.close()

    return asyncio.run(run())
