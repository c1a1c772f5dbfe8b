"""KSeF ops (issue 11, item 8): the read-only queries, `invoice-router ksef pending | show`,
`/v1/ksef`, the clearance gauges and the status report's KSeF counts, on a real SQLite ledger
whose rows and outbox events are written as the worker writes them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from config.clearance_queries import (
    ClearanceSummary,
    clearance_summary,
    deadline_bucket,
    open_counts_by_seller,
    open_documents,
    order_history,
    parse_age,
)
from config.clock import utcnow
from config.db import create_engine, session_factory, upgrade
from config.ledger import outbox_rows
from config.models import ClearanceCheck, Issuance
from config.secrets import SecretBox
from config.settings import Settings, get_settings
from schemas.invoices import (
    Clearance,
    ClearanceStatus,
    DocumentKind,
    IssuedDocument,
    Provider,
    Totals,
)
from workers import api, metrics
from workers.cli import main
from workers.events import Fact, clearance_changed_event, issued_event
from workers.publisher import Topics, event_record

S = ClearanceStatus
NOW = utcnow()
TOPICS = Topics("out.issued", "out.failed", "group", clearance="out.clearance")
TOKEN = "unit-test-api-token-0123456789"
CONFIG = """
sellers:
  - id: s1
    name: Seller One
    connections:
      - name: main
        provider: fakturownia
        credentials: {api_token: t}
        options: {account: acme}
    channels: []
"""


def _document(kind: DocumentKind, number: str, status: str | None, sent: bool) -> IssuedDocument:
    return IssuedDocument(
        kind=kind,
        provider=Provider.FAKTUROWNIA,
        provider_document_id=number.split("/")[0],
        number=number,
        issue_date=NOW.date(),
        currency="PLN",
        totals=Totals(net="10.00", vat="2.30", gross="12.30"),
        sent_to_buyer=sent,
        clearance=Clearance(status=status),
    )


async def _seed_document(
    sessions,
    *,
    seller: str,
    order: str,
    number: str,
    status: S,
    provider_status: str,
    age: dt.timedelta,
    refund: str | None = None,
    offline_deadline: dt.datetime | None = None,
    announce: tuple[S, ...] = (),
    sent: bool = False,
) -> None:
    """An issued document with its clearance row, and the events the tracker announced."""
    kind = DocumentKind.CORRECTION if refund else DocumentKind.INVOICE
    fact = Fact(
        seller,
        "ovoko",
        order,
        f"ev-{order}-{refund}",
        kind,
        refund,
        Provider.FAKTUROWNIA,
    )
    created = NOW - age
    event = issued_event(fact, _document(kind, number, "processing", sent))
    async with sessions() as session, session.begin():
        entry = Issuance(
            seller_id=seller,
            channel="ovoko",
            order_id=order,
            slot="correction" if refund else "sale",
            refund_id=refund or "",
            state="issued",
            document_kind=kind.value,
            source_topic="orders.ovoko",
            source_partition=0,
            source_offset=1,
            source_event_id=fact.source_event_id,
            event_value=b"{}",
            result_event=event.model_dump_json(by_alias=True),
            provider_document_id=number.split("/")[0],
            created_at=created,
        )
        session.add(entry)
        await session.flush()
        session.add(
            ClearanceCheck(
                issuance_id=entry.id,
                seller_id=seller,
                channel="ovoko",
                order_id=order,
                refund_id=refund,
                source_event_id=fact.source_event_id,
                provider="fakturownia",
                connection_id=1,
                document_kind=kind.value,
                provider_document_id=number.split("/")[0],
                document_number=number,
                issue_date=NOW.date(),
                status=status.value,
                provider_status=provider_status,
                ksef_number="5260001246-20261207-ABCDEF-12" if status is S.CLEARED else None,
                offline_deadline=offline_deadline,
                errors=["P_7: too long"] if status is S.REJECTED else [],
                announced=[s.value for s in announce],
                checks=len(announce) + 1,
                resends=0,
                next_check_at=None if status in (S.CLEARED, S.REJECTED) else NOW,
                created_at=created,
                updated_at=NOW,
            )
        )
        previous = S.PENDING
        records = []
        for announced in announce:
            changed = clearance_changed_event(
                fact,
                previous=previous,
                status=announced,
                provider_document_id=number.split("/")[0],
                number=number,
                ksef_number="5260001246-20261207-ABCDEF-12" if announced is S.CLEARED else None,
            )
            records.append(event_record(TOPICS, changed))
            previous = announced
        session.add_all(outbox_rows(records))


async def _seed(url: str) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    hours = dt.timedelta(hours=1)
    await _seed_document(
        sessions,
        seller="s1",
        order="o-old",
        number="11/FV/2026",
        status=S.PENDING,
        provider_status="processing",
        age=3 * hours,
    )
    await _seed_document(
        sessions,
        seller="s1",
        order="o-new",
        number="12/FV/2026",
        status=S.PENDING,
        provider_status="server_error",
        age=dt.timedelta(minutes=5),
    )
    await _seed_document(
        sessions,
        seller="s1",
        order="o-off",
        number="13/FV/2026",
        status=S.OFFLINE,
        provider_status="offline",
        age=2 * hours,
        offline_deadline=NOW + 2 * hours,
        announce=(S.OFFLINE,),
    )
    await _seed_document(
        sessions,
        seller="s2",
        order="o-rej",
        number="14/FV/2026",
        status=S.REJECTED,
        provider_status="send_error",
        age=hours,
        announce=(S.REJECTED,),
    )
    # a cleared sale, e-mailed at issue, and its correction still pending
    await _seed_document(
        sessions,
        seller="s1",
        order="o-ok",
        number="15/FV/2026",
        status=S.CLEARED,
        provider_status="ok",
        age=5 * hours,
        announce=(S.CLEARED,),
        sent=True,
    )
    await _seed_document(
        sessions,
        seller="s1",
        order="o-ok",
        number="16/KOR/2026",
        status=S.PENDING,
        provider_status="processing",
        age=hours,
        refund="r1",
    )
    await engine.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ksef.db"
    upgrade(url)
    asyncio.run(_seed(url))
    return url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator:
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


# --- the queries ------------------------------------------------------------------------------


def test_ages_read_like_durations() -> None:
    assert parse_age("2h") == dt.timedelta(hours=2)
    assert parse_age("30m") == dt.timedelta(minutes=30)
    assert parse_age("1h30m") == dt.timedelta(minutes=90)
    assert parse_age("3d") == dt.timedelta(days=3)
    for bad in ("", "2", "h", "2x", "-1h", "2h junk"):
        with pytest.raises(ValueError, match="not an age"):
            parse_age(bad)


async def test_open_documents_are_pending_and_offline_oldest_first(sessions) -> None:
    docs = await open_documents(sessions, NOW)
    assert [d.order_id for d in docs] == ["o-old", "o-off", "o-ok", "o-new"]
    assert {d.status for d in docs} == {"pending", "offline"}
    older = await open_documents(sessions, NOW, older_than=dt.timedelta(minutes=90))
    assert [d.order_id for d in older] == ["o-old", "o-off"]
    assert older[0].age >= dt.timedelta(hours=3)
    assert await open_documents(sessions, NOW, seller_id="s2") == []


async def test_an_orders_timeline_names_issue_email_each_status_and_its_correction(
    sessions,
) -> None:
    sale, correction = await order_history(sessions, "o-ok", seller_id="s1")
    assert (sale.slot, sale.clearance_status, sale.sent_to_buyer) == ("sale", "cleared", True)
    assert sale.ksef_number == "5260001246-20261207-ABCDEF-12"
    whats = [m.what for m in sale.timeline]
    assert whats[0] == "sale recorded in the ledger"
    assert any(w.startswith("issued 15/FV/2026 (invoice); e-mailed") for w in whats)
    assert any(w.startswith("announced cleared (was pending)") for w in whats)
    assert [m.at for m in sale.timeline] == sorted(m.at for m in sale.timeline)
    assert (correction.slot, correction.refund_id) == ("correction", "r1")
    assert correction.clearance_status == "pending"
    assert not any("announced" in m.what for m in correction.timeline)
    assert await order_history(sessions, "o-ok", seller_id="s2") == []


async def test_summary_counts_statuses_oldest_pending_deadlines_and_rejections(sessions) -> None:
    summary = await clearance_summary(sessions, NOW)
    assert summary.by_status == {"pending": 3, "offline": 1, "rejected": 1, "cleared": 1}
    assert 3 * 3600 - 5 <= summary.oldest_pending_seconds <= 3 * 3600 + 60
    assert summary.offline_by_hours_left == {"<4h": 1}
    assert summary.rejected_by_reason == {("ksef_rejected", "send_error"): 1}
    assert await open_counts_by_seller(sessions) == {
        "s1": {"pending": 3, "offline": 1},
        "s2": {"rejected": 1},
    }


def test_deadline_buckets_are_bounded() -> None:
    assert [deadline_bucket(h) for h in (-1, 0, 1, 3.9, 4, 23, 24, 300)] == [
        "passed",
        "passed",
        "<4h",
        "<4h",
        "<24h",
        "<24h",
        ">=24h",
        ">=24h",
    ]


# --- metrics ----------------------------------------------------------------------------------


async def test_clearance_gauges_follow_the_table_and_drained_series_read_zero(db_url) -> None:
    def gauge(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    engine = create_engine(db_url)
    try:
        await metrics.refresh_clearance(engine)
    finally:
        await engine.dispose()
    assert gauge("invoice_router_clearance_documents", status="pending") == 3
    assert gauge("invoice_router_clearance_documents", status="not_applicable") == 0
    assert gauge("invoice_router_clearance_offline_documents", hours_left="<4h") == 1
    assert gauge("invoice_router_clearance_offline_documents", hours_left=">=24h") == 0
    assert gauge("invoice_router_clearance_oldest_pending_seconds") >= 3 * 3600 - 5
    rejected = {"code": "ksef_rejected", "provider_status": "send_error"}
    assert gauge("invoice_router_clearance_rejected_documents", **rejected) == 1
    metrics.observe_clearance(ClearanceSummary({}, 0.0, {}, {}))  # everything drained
    assert gauge("invoice_router_clearance_documents", status="pending") == 0
    assert gauge("invoice_router_clearance_oldest_pending_seconds") == 0
    assert gauge("invoice_router_clearance_rejected_documents", **rejected) is None


# --- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", SecretBox.new_key())
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_ksef_pending_lists_what_waits_with_filters(cli: CliRunner) -> None:
    lines = cli.invoke(main, ["ksef", "pending"], catch_exceptions=False).output.splitlines()
    assert lines[0].split()[:6] == ["seller", "order", "number", "status", "provider", "age"]
    assert [line.split()[1] for line in lines[1:]] == ["o-old", "o-off", "o-ok", "o-new"]
    # created 3 h before the module's NOW; the suite may run this test minutes later
    assert re.search(r"\s(2h59m|3h\d\dm)\s", lines[1]), lines[1]
    old = cli.invoke(main, ["ksef", "pending", "--seller", "s1", "--older-than", "90m"])
    assert [line.split()[1] for line in old.output.splitlines()[1:]] == ["o-old", "o-off"]
    none = cli.invoke(main, ["ksef", "pending", "--seller", "s2"])
    assert none.output.strip() == "no documents waiting for KSeF"
    bad = cli.invoke(main, ["ksef", "pending", "--older-than", "soon"])
    assert bad.exit_code == 2 and "not an age" in bad.output


def test_ksef_show_prints_each_document_and_its_timeline(cli: CliRunner) -> None:
    shown = cli.invoke(main, ["ksef", "show", "o-ok"], catch_exceptions=False).output
    assert "s1 / ovoko / o-ok: sale" in shown
    assert "s1 / ovoko / o-ok: correction (refund r1)" in shown
    assert "KSeF       cleared [ok]" in shown and "e-mail     sent" in shown
    assert "announced cleared (was pending)" in shown
    rejected = cli.invoke(main, ["ksef", "show", "o-rej"]).output
    assert "KSeF       rejected [send_error]" in rejected and "P_7: too long" in rejected
    missing = cli.invoke(main, ["ksef", "show", "nope"])
    assert missing.exit_code == 1 and "no documents recorded for order nope" in missing.output


def test_status_shows_each_sellers_ksef_backlog(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "sellers.yaml").write_text(CONFIG)
    assert cli.invoke(main, ["config", "apply", str(tmp_path / "sellers.yaml")]).exit_code == 0
    text = cli.invoke(main, ["status", "s1"], catch_exceptions=False).output
    assert "  KSeF: 3 pending, 1 offline, 0 rejected" in text.splitlines()
    report = json.loads(cli.invoke(main, ["status", "s1", "--json"]).output)
    assert report["sellers"][0]["ksef"] == {"pending": 3, "offline": 1, "rejected": 0}


# --- the HTTP API -----------------------------------------------------------------------------


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db_url, api_token=TOKEN, secret_keys=(SecretBox.new_key(),))
    app = api.create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        yield http


async def test_api_pending_and_order_timeline_behind_the_token(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/v1/ksef/pending")).status_code == 401
    assert (await client.get("/v1/ksef/orders/o-ok")).status_code == 401
    pending = await client.get("/v1/ksef/pending", params={"older_than": "90m"}, headers=auth)
    assert pending.status_code == 200
    assert [d["order_id"] for d in pending.json()] == ["o-old", "o-off"]
    assert pending.json()[1]["offline_deadline"] is not None
    mine = await client.get("/v1/ksef/pending", params={"seller": "s2"}, headers=auth)
    assert mine.json() == []
    order = await client.get("/v1/ksef/orders/o-ok", params={"seller": "s1"}, headers=auth)
    sale, correction = order.json()
    assert (sale["clearance_status"], sale["sent_to_buyer"]) == ("cleared", True)
    assert any(m["what"].startswith("announced cleared") for m in sale["timeline"])
    assert correction["refund_id"] == "r1"
    assert (await client.get("/v1/ksef/orders/nope", headers=auth)).status_code == 404
    bad = await client.get("/v1/ksef/pending", params={"older_than": "soon"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "older_than"
