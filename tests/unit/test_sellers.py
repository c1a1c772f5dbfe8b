"""Seller onboarding rules and the service layer on SQLite (no provider is called here: the
calls that reach a provider are covered over HTTP in tests/integration/test_http_api.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.apply import apply_config, load_config
from config.db import create_engine, session_factory, upgrade
from config.ledger import Ledger, Source
from config.models import OAuthStateUse, ProviderConnection
from config.secrets import SecretBox
from config.settings import Settings, secret_box
from config.tokens import TokenStore
from domain.ledger import LedgerKey, Slot, State
from domain.ports import ProviderError
from domain.sellers import ExistingConnection, count_outcomes, provider_switch
from workers import sellers as svc
from workers.configuration import check_connection
from workers.onboarding import OnboardingError, complete_authorization

REDIRECT = "https://platform.example/wfirma/callback"
CONFIG = """
sellers:
  - id: s1
    name: One
    connections:
      - name: main
        provider: fakturownia
        credentials: {api_token: plain-token-4c1d}
        options: {account: one, send_by_email: true}
    channels:
      - {channel: ovoko, connection: main, target: "7"}
"""


# --- pure rules ------------------------------------------------------------------------------


def test_staying_on_a_provider_is_no_switch() -> None:
    existing = [ExistingConnection("main", "fakturownia", ("ovoko",))]
    assert provider_switch("s1", "fakturownia", existing) is None
    assert provider_switch("s1", "wfirma", []) is None


def test_a_switch_names_everything_it_would_delete() -> None:
    existing = [
        ExistingConnection("wf", "wfirma", ("shop", "allegro"), has_tokens=True),
        ExistingConnection("other", "fakturownia"),
    ]
    switch = provider_switch("s1", "fakturownia", existing)
    assert switch is not None
    assert [c.name for c in switch.connections] == ["wf"]
    assert switch.channels == ("allegro", "shop")
    message = switch.describe()
    for part in ("wf (wfirma)", "allegro, shop", "OAuth tokens of wf", "--confirm-switch"):
        assert part in message


def test_ledger_states_count_as_the_seller_reads_them() -> None:
    rows = [(State.ISSUED, 3), (State.IN_DOUBT, 1), (State.PARKED, 2), (State.UNRESOLVED, 1)]
    rows += [(State.FAILED, 1), (State.CLAIMED, 5), (State.SKIPPED, 4)]
    assert count_outcomes(rows) == {"issued": 3, "failed": 2, "parked": 3, "skipped": 4}
    assert count_outcomes([]) == {"issued": 0, "failed": 0, "parked": 0, "skipped": 0}


def test_inputs_are_checked_before_anything_is_stored() -> None:
    ok = svc.FakturowniaConnect(account="https://Kowalski.fakturownia.pl/", api_token="t")
    assert ok.account == "kowalski"
    with pytest.raises(ValidationError, match="not a Fakturownia account"):
        svc.FakturowniaConnect(
            account="https://kowalski.fakturownia.pl.evil.example", api_token="t"
        )
    with pytest.raises(ValidationError, match="https"):
        svc.WfirmaConnect(client_id="c", client_secret="s", redirect_uri="http://a.example/cb")
    with pytest.raises(ValidationError, match="not wFirma scopes"):
        svc.WfirmaConnect(
            client_id="c", client_secret="s", redirect_uri=REDIRECT, extra_scopes=["all"]
        )


# --- the service on SQLite -------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path}/sellers.db"
    upgrade(url)
    return Settings(
        database_url=url,
        secret_keys=(SecretBox.new_key(),),
        fakturownia_url_template="http://127.0.0.1:9/{prefix}",  # nothing listens: no call
        wfirma_api_url="http://127.0.0.1:9",
        wfirma_auth_url="https://wfirma.example/oauth2/auth",
    )


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker]:
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    await apply_config(sessions, load_config(CONFIG, check_connection), secret_box(settings))
    yield sessions
    await engine.dispose()


def wfirma_request(**changes: object) -> svc.WfirmaConnect:
    values = {"client_id": "cid", "client_secret": "csecret", "redirect_uri": REDIRECT}
    return svc.WfirmaConnect.model_validate(values | changes)


async def test_an_unconfirmed_switch_is_refused_before_any_provider_call(
    settings: Settings, sessions: async_sessionmaker
) -> None:
    with pytest.raises(svc.SwitchNotConfirmed, match="main \\(fakturownia\\)"):
        await svc.connect_wfirma(settings, sessions, "s1", "wf", wfirma_request())
    await svc.connect_wfirma(settings, sessions, "s2", "wf", wfirma_request())  # a new seller
    other = svc.FakturowniaConnect(account="two", api_token=SecretStr("t"))
    with pytest.raises(svc.SwitchNotConfirmed):  # not ProviderCheckFailed: nothing listens there
        await svc.connect_fakturownia(settings, sessions, "s2", "main", other)
    assert [c.name for c in (await svc.get_seller(settings, sessions, "s1")).connections] == [
        "main"
    ]


async def test_a_confirmed_switch_replaces_connections_mappings_and_tokens(
    settings: Settings, sessions: async_sessionmaker
) -> None:
    done = await svc.connect_wfirma(
        settings, sessions, "s1", "wf", wfirma_request(company_id=7), confirm_switch=True
    )
    assert done.replaced == ["main"]
    assert done.connection.status == "needs_reauth"
    assert done.connection.credentials == ["client_id", "client_secret"]
    assert parse_qs(urlsplit(done.authorization_url).query)["client_id"] == ["cid"]
    seller = await svc.get_seller(settings, sessions, "s1")
    assert [c.name for c in seller.connections] == ["wf"] and seller.channels == []
    report = await svc.status(settings, sessions, "s1")
    assert report.sellers[0].connections[0].detail == svc.AWAITING_CONSENT


async def test_reconnecting_the_same_app_keeps_its_tokens_and_a_new_app_drops_them(
    settings: Settings, sessions: async_sessionmaker
) -> None:
    done = await svc.connect_wfirma(
        settings, sessions, "s3", "wf", wfirma_request(), confirm_switch=True
    )
    assert done.replaced == []

    class Grant:
        access_token, refresh_token, expires_in = "a", "r", 3600

    store = TokenStore(sessions, secret_box(settings))
    seller = await svc.status(settings, sessions, "s3")
    assert seller.sellers[0].connections[0].state == "needs_reauth"
    async with sessions() as session:
        conn_id = await session.scalar(
            select(ProviderConnection.id).where(ProviderConnection.seller_id == "s3")
        )
    await store.save_grant(conn_id, Grant())
    again = await svc.connect_wfirma(settings, sessions, "s3", "wf", wfirma_request())
    assert again.connection.status == "ok" and await store.load(conn_id) is not None
    other = await svc.connect_wfirma(settings, sessions, "s3", "wf", wfirma_request(client_id="x"))
    assert other.connection.status == "needs_reauth" and await store.load(conn_id) is None


async def test_channel_mappings_default_and_toggle(
    settings: Settings, sessions: async_sessionmaker
) -> None:
    mapped = await svc.set_channel(
        settings, sessions, "s1", "allegro", svc.ChannelSettings(target="8")
    )
    assert (mapped.connection, mapped.send_by_email, mapped.auto_generate) == ("main", True, True)
    off = await svc.set_auto_generate(settings, sessions, "s1", "allegro", False)
    assert off.auto_generate is False and off.target == "8"
    with pytest.raises(svc.NotFound, match="no connection named 'nope'"):
        await svc.set_channel(
            settings, sessions, "s1", "shop", svc.ChannelSettings(connection="nope")
        )
    with pytest.raises(svc.InvalidRequest, match="channel"):
        await svc.set_channel(settings, sessions, "s1", "Shop!", svc.ChannelSettings())
    with pytest.raises(svc.NotFound, match="unknown seller"):
        await svc.list_channels(settings, sessions, "nobody")
    await svc.remove_channel(settings, sessions, "s1", "allegro")
    assert [c.channel for c in await svc.list_channels(settings, sessions, "s1")] == ["ovoko"]
    with pytest.raises(svc.NotFound):
        await svc.remove_channel(settings, sessions, "s1", "allegro")


async def test_status_counts_the_last_hour_of_the_ledger(
    settings: Settings, sessions: async_sessionmaker
) -> None:
    ledger = Ledger(sessions)
    for order, state in (("O-1", State.ISSUED), ("O-2", State.SKIPPED), ("O-3", State.ISSUED)):
        source = Source("orders.ovoko", 0, 0, None, b"{}", [], f"evt-{order}")
        claim = await ledger.claim(LedgerKey("s1", "ovoko", order, Slot.SALE), source)
        await ledger.finish(claim.entry, state)
    now = dt.datetime.now(dt.UTC)
    ovoko = (await svc.status(settings, sessions, "s1", now=now)).sellers[0].channels[0]
    assert (ovoko.channel, ovoko.mapping.target if ovoko.mapping else None) == ("ovoko", "7")
    assert ovoko.last_hour == svc.ChannelCounts(issued=2, failed=0, parked=0, skipped=1)
    later = await svc.status(settings, sessions, now=now + dt.timedelta(hours=2))
    assert later.sellers[0].channels[0].last_hour.issued == 0
    with pytest.raises(svc.NotFound):
        await svc.status(settings, sessions, "nobody")


async def test_a_failed_code_exchange_leaves_the_oauth_state_usable(
    settings: Settings, sessions: async_sessionmaker
) -> None:
    """Here nothing listens at the token URL; a retry must reach the exchange again rather than
    be refused as a replay (a completed one is refused: tests/integration/test_http_api.py)."""
    done = await svc.connect_wfirma(
        settings, sessions, "s4", "wf", wfirma_request(), confirm_switch=True
    )
    state = parse_qs(urlsplit(done.authorization_url).query)["state"][0]
    for _ in range(2):
        with pytest.raises(ProviderError, match="unreachable"):
            await complete_authorization(settings, sessions, "code", state)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OAuthStateUse)) == 0
    for forged in (state[:-2] + "xx", state[:-2] + "žž", "ż", "\x00"):
        with pytest.raises(OnboardingError, match="not valid"):
            await complete_authorization(settings, sessions, "code", forged)
