"""Fakturownia's account webhook over real HTTP (issue 11, item 1): the secret from
`invoice-router seller webhook-secret` on PostgreSQL, the API server in a subprocess, and the
Fakturownia simulator's own webhook POST when KSeF accepts an invoice. Nothing is mocked."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.apply import apply_config, load_config
from config.clearance import NewCheck
from config.clock import as_utc, utcnow
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Source
from config.models import ClearanceCheck, ProviderConnection
from config.secrets import SecretBox
from domain.ksef import ClearanceStatus
from domain.ledger import LedgerKey, Slot, State
from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment
from tests.integration.test_http_api import API_TOKEN, REPO, api_server
from tests.simulators.support import company_invoice

pytestmark = pytest.mark.integration
SELLER_NIP = "5260001246"
CONFIG = """
sellers:
  - id: seller-{uid}
    name: Auto Części
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "tok-w-{uid}"}}
        options: {{account: "hook-{uid}"}}
"""
LATER = dt.timedelta(hours=1)


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker]:
    upgrade(postgres_url)
    engine = create_engine(postgres_url)
    yield session_factory(engine)
    await engine.dispose()


def account(uid: str, webhook_url: str | None = None) -> SimAccount:
    department = SimDepartment(
        id=101,
        name="Auto Części Sp. z o.o.",
        tax_no=SELLER_NIP,
        street="ul. Długa 1",
        post_code="00-001",
        city="Warszawa",
    )
    return SimAccount(
        prefix=f"hook-{uid}",
        api_token=f"tok-w-{uid}",
        departments=[department],
        ksef_enabled=True,
        ksef_delay_seconds=3.0,
        webhook_url=webhook_url,
    )


async def watch(sessions: async_sessionmaker, seller: str, connection_id: int, doc: str) -> None:
    """The row the worker writes with the issuance: next check an hour away."""
    ledger = Ledger(sessions)
    key = LedgerKey(seller, "ovoko", f"O-{doc}", Slot.SALE)
    source = Source("orders.ovoko", 0, 0, b"k", b"{}", [], f"evt-{doc}")
    entry = (await ledger.claim(key, source)).entry
    check = NewCheck(
        seller, "ovoko", key.order_id, None, source.event_id, "fakturownia", connection_id,
        "vat", doc, f"FV {doc}", utcnow().date(), ClearanceStatus.PENDING, "processing", None,
        utcnow() + LATER,
    )  # fmt: skip
    await ledger.finish(entry, State.ISSUED, provider_document_id=doc, track=check)


async def row_of(sessions: async_sessionmaker, doc: str) -> ClearanceCheck:
    async with sessions() as session:
        row = await session.scalar(
            select(ClearanceCheck).where(ClearanceCheck.provider_document_id == doc)
        )
    assert row is not None
    return row


async def test_the_simulator_webhook_brings_the_re_read_forward(
    postgres_url: str, sessions: async_sessionmaker, uid: str, tmp_path: Path
) -> None:
    key = SecretBox.new_key()
    seller = f"seller-{uid}"
    await apply_config(sessions, load_config(CONFIG.format(uid=uid)), SecretBox([key]))
    async with sessions() as session:
        connection_id = await session.scalar(
            select(ProviderConnection.id).where(ProviderConnection.seller_id == seller)
        )
    assert connection_id is not None
    env = {
        "DATABASE_URL": postgres_url,
        "INVOICE_ROUTER_API_TOKEN": API_TOKEN,
        "INVOICE_ROUTER_SECRET_KEYS": key,
    }
    issued = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workers.cli", "seller", "webhook-secret", seller],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    path, secret = (line.split(": ", 1)[1] for line in issued.stdout.splitlines()[:2])
    assert path == f"/webhooks/fakturownia/{connection_id}?secret={secret}"

    sim = FakturowniaSimulator()
    sim.add_account(account(uid))
    with sim.serve_in_thread() as sim_url, api_server(env, tmp_path / "api.log") as api:
        async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
            created = await http.post(
                f"/hook-{uid}/invoices.json",
                json={
                    "api_token": f"tok-w-{uid}",
                    "invoice": company_invoice(oid="W-1"),
                    "gov_save_and_send": True,
                },
            )
        assert created.status_code == 201, created.text
        doc = str(created.json()["id"])
        await watch(sessions, seller, connection_id, doc)
        assert as_utc((await row_of(sessions, doc)).next_check_at) > utcnow() + LATER / 2
        # the webhook is configured now, so it fires once: when KSeF accepts the invoice
        sim.add_account(account(uid, webhook_url=api.base + path))

        deadline = time.monotonic() + 20
        while not any(d.gov_status == "ok" for d in sim.webhook_deliveries(f"hook-{uid}")):
            assert time.monotonic() < deadline, sim.webhook_deliveries(f"hook-{uid}")
            await asyncio.sleep(0.1)
        log = (tmp_path / "api.log").read_text(errors="replace")

    deliveries = sim.webhook_deliveries(f"hook-{uid}")
    assert [(d.gov_status, d.status) for d in deliveries] == [("ok", 202)]
    row = await row_of(sessions, doc)
    assert as_utc(row.next_check_at) <= utcnow()  # due now: the scheduler re-reads it next
    # what the body said (accepted, its KSeF number) is not stored: only the re-read will
    assert (row.status, row.ksef_number, row.checks) == ("pending", None, 0)
    assert secret not in log
