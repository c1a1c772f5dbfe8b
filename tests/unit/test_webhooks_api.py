"""Fakturownia's account webhook as a clearance trigger (issue 11, item 1), in process on SQLite:
the secret (generated once, stored as a hash), one refusal for every stranger, a body that is
only ever a hint, and the store moving watched rows of one connection to "now"."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.apply import apply_config, load_config
from config.clearance import NewCheck, check_soon
from config.clock import as_utc, utcnow
from config.ledger import Ledger, Source
from config.models import ClearanceCheck, ProviderConnection, WebhookSecret
from config.secrets import SecretBox
from config.settings import get_settings, secret_box
from config.webhook_secrets import digest
from domain.ksef import ClearanceStatus
from domain.ledger import LedgerKey, Slot, State
from workers import api, api_webhooks
from workers.cli import main as cli
from workers.sellers import InvalidRequest, NotFound
from workers.sellers.webhooks import generate_webhook_secret

from .test_api import settings_for

CONFIG = """
sellers:
  - id: s1
    name: Seller One
    connections:
      - {name: main, provider: fakturownia, credentials: {api_token: t1}, options: {account: acme}}
      - {name: other, provider: fakturownia, credentials: {api_token: t2}, options: {account: beta}}
  - id: s2
    name: Seller Two
    connections:
      - name: wf
        provider: wfirma
        credentials: {client_id: cid, client_secret: cs}
        options: {redirect_uri: "https://platform.example/cb"}
"""
LATER = dt.timedelta(hours=1)


@dataclass
class Env:
    http: httpx.AsyncClient
    sessions: async_sessionmaker
    ids: dict[str, int]  # connection name -> id

    async def watch(self, connection: str, document: str, *, due_in: dt.timedelta | None = LATER):
        """A watched document (its issuance and clearance row), next check `due_in` from now."""
        ledger = Ledger(self.sessions)
        key = LedgerKey("s1", "ovoko", f"O-{connection}-{document}", Slot.SALE)
        source = Source("orders.ovoko", 0, 0, b"k", b"{}", [], f"evt-{connection}-{document}")
        entry = (await ledger.claim(key, source)).entry
        first = utcnow() + due_in if due_in is not None else utcnow()
        check = NewCheck(
            "s1", "ovoko", key.order_id, None, source.event_id, "fakturownia",
            self.ids[connection], "vat", document, f"FV {document}", dt.date(2026, 12, 7),
            ClearanceStatus.PENDING, "processing", None, first,
        )  # fmt: skip
        await ledger.finish(entry, State.ISSUED, provider_document_id=document, track=check)
        if due_in is None:  # final: no longer watched
            async with self.sessions() as session, session.begin():
                row = await session.scalar(
                    select(ClearanceCheck).where(ClearanceCheck.provider_document_id == document)
                )
                assert row is not None
                row.next_check_at = None

    async def next_checks(self) -> dict[str, dt.datetime | None]:
        async with self.sessions() as session:
            rows = (await session.execute(select(ClearanceCheck))).scalars().all()
        return {
            r.provider_document_id: as_utc(r.next_check_at) if r.next_check_at else None
            for r in rows
        }

    async def moved(self, since: dt.datetime) -> set[str]:
        """Documents whose next check is due (brought forward to now) since `since`."""
        return {
            doc
            for doc, at in (await self.next_checks()).items()
            if at is not None and at <= utcnow() and at >= since
        }


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = settings_for(tmp_path)
    app = api.create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        sessions = app.state.sessions
        await apply_config(sessions, load_config(CONFIG), secret_box(settings))
        async with sessions() as session:
            rows = (await session.execute(select(ProviderConnection))).scalars().all()
        yield Env(http, sessions, {r.name: r.id for r in rows})


def hook(connection_id: int | str, secret: str) -> str:
    return f"/webhooks/fakturownia/{connection_id}?secret={secret}"


def fakturownia_body(invoice_id: object, **invoice: object) -> dict:
    """The simulator's (UNCONFIRMED) shape: the invoice as GET /invoices/ID.json renders it."""
    return {"kind": "invoice:update", "api_token": "x", "invoice": {"id": invoice_id, **invoice}}


async def test_the_secret_is_shown_once_and_stored_as_its_hash_only(env: Env) -> None:
    first = await generate_webhook_secret(env.sessions, "s1", "main")
    second = await generate_webhook_secret(env.sessions, "s1", "main")
    assert len(first.secret) >= 40 and first.secret != second.secret
    assert second.path == f"/webhooks/fakturownia/{env.ids['main']}?secret={second.secret}"
    async with env.sessions() as session:
        stored = (await session.execute(select(WebhookSecret))).scalars().all()
    assert [(r.connection_id, r.secret_sha256) for r in stored] == [
        (env.ids["main"], digest(second.secret))
    ]
    await env.watch("main", "1")
    assert (await env.http.post(hook(env.ids["main"], first.secret))).status_code == 401
    assert (await env.http.post(hook(env.ids["main"], second.secret))).status_code == 202


async def test_only_fakturownia_connections_get_a_secret(env: Env) -> None:
    with pytest.raises(InvalidRequest, match="only Fakturownia"):
        await generate_webhook_secret(env.sessions, "s2", "wf")
    with pytest.raises(NotFound):
        await generate_webhook_secret(env.sessions, "s1", "nope")


async def test_unknown_connection_wrong_secret_and_other_providers_get_one_answer(
    env: Env,
) -> None:
    main = await generate_webhook_secret(env.sessions, "s1", "main")
    await env.watch("main", "1")
    async with env.sessions() as session, session.begin():  # a secret on a wFirma row: refused
        session.add(WebhookSecret(connection_id=env.ids["wf"], secret_sha256=digest("wf-secret")))
    refusals = [
        hook(env.ids["main"], "wrong"),
        hook(env.ids["main"], ""),
        f"/webhooks/fakturownia/{env.ids['main']}",
        hook(env.ids["other"], main.secret),  # another connection's secret (it has none)
        hook(99999, main.secret),
        hook("abc", main.secret),
        hook("-1", main.secret),
        hook(env.ids["wf"], "wf-secret"),
        hook(env.ids["main"], main.secret + "x" * 500),
    ]
    answers = [await env.http.post(url, json=fakturownia_body(1)) for url in refusals]
    assert {(a.status_code, a.text) for a in answers} == {
        (401, '{"detail":"unknown connection or wrong secret"}')
    }
    assert await env.moved(utcnow() - LATER) == set()


async def test_a_body_naming_an_invoice_moves_that_document_only(env: Env) -> None:
    main = await generate_webhook_secret(env.sessions, "s1", "main")
    other = await generate_webhook_secret(env.sessions, "s1", "other")
    for name, doc in [("main", "11"), ("main", "12"), ("other", "21")]:
        await env.watch(name, doc)
    before = utcnow()
    # the body claims KSeF accepted it: never trusted, only the id is read
    answer = await env.http.post(
        hook(env.ids["main"], main.secret),
        json=fakturownia_body(11, gov_status="ok", gov_id="5260001246-20261207-FAKE"),
    )
    assert (answer.status_code, answer.json()) == (202, {"scheduled": 1})
    assert await env.moved(before) == {"11"}
    async with env.sessions() as session:
        row = await session.scalar(
            select(ClearanceCheck).where(ClearanceCheck.provider_document_id == "11")
        )
    assert row is not None and (row.status, row.ksef_number) == ("pending", None)
    # the other connection's document is not reachable with this connection's secret
    answer = await env.http.post(hook(env.ids["main"], main.secret), json=fakturownia_body("21"))
    assert answer.json() == {"scheduled": 0}
    answer = await env.http.post(hook(env.ids["other"], other.secret), json=fakturownia_body("21"))
    assert answer.json() == {"scheduled": 1}
    assert await env.moved(before) == {"11", "21"}


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"not json",
        b"[[[[" * 20000,  # nesting deeper than the parser's recursion limit
        b"[1, 2]",
        b'{"invoice": "12"}',
        b'{"invoice": {"id": true}}',
        b'{"invoice": {"id": "12; DROP TABLE"}}',
        b'{"kind": "invoice:update"}',
    ],
)
async def test_a_body_naming_nothing_moves_every_watched_row_of_the_connection(
    env: Env, body: bytes | None
) -> None:
    main = await generate_webhook_secret(env.sessions, "s1", "main")
    await env.watch("main", "11")
    await env.watch("main", "12")
    await env.watch("main", "13", due_in=None)  # final: not watched any more
    await env.watch("other", "21")
    before = utcnow()
    answer = await env.http.post(hook(env.ids["main"], main.secret), content=body)
    assert (answer.status_code, answer.json()) == (202, {"scheduled": 2})
    assert await env.moved(before) == {"11", "12"}
    assert (await env.next_checks())["13"] is None


async def test_a_huge_body_is_refused_without_moving_anything(env: Env) -> None:
    main = await generate_webhook_secret(env.sessions, "s1", "main")
    await env.watch("main", "11")
    huge = b'{"invoice": {"id": 11}, "pad": "' + b"x" * api_webhooks.MAX_BODY_BYTES + b'"}'
    answer = await env.http.post(hook(env.ids["main"], main.secret), content=huge)
    assert answer.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(api_webhooks.MAX_BODY_BYTES // 1024 + 2):
            yield b"x" * 1024

    answer = await env.http.post(hook(env.ids["main"], main.secret), content=chunks())
    assert answer.status_code == 413
    assert await env.moved(utcnow() - LATER) == set()


async def test_rows_moved_per_call_are_capped_and_a_flood_runs_dry(env: Env) -> None:
    for doc in range(1, 6):
        await env.watch("main", str(doc))
    cid = env.ids["main"]
    assert await check_soon(env.sessions, cid, limit=3) == 3
    assert await check_soon(env.sessions, cid, limit=3) == 2
    assert await check_soon(env.sessions, cid, limit=3) == 0  # all due already
    assert await check_soon(env.sessions, cid, "1") == 0


def test_the_cli_prints_the_path_and_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", SecretBox.new_key())
    get_settings.cache_clear()
    (tmp_path / "sellers.yaml").write_text(CONFIG)
    runner = CliRunner()
    try:
        for args in (["db", "upgrade"], ["config", "apply", str(tmp_path / "sellers.yaml")]):
            assert (done := runner.invoke(cli, args)).exit_code == 0, done.output
        done = runner.invoke(cli, ["seller", "webhook-secret", "s1"])
        assert done.exit_code == 0, done.output
        path, secret = (line.split(": ", 1)[1] for line in done.stdout.splitlines()[:2])
        assert path.startswith("/webhooks/fakturownia/") and path.endswith(f"?secret={secret}")
        refused = runner.invoke(cli, ["seller", "webhook-secret", "s2", "--connection", "wf"])
        assert refused.exit_code == 1 and "only Fakturownia" in refused.output
    finally:
        get_settings.cache_clear()
