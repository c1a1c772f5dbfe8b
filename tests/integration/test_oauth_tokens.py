"""OAuth token handling against the wFirma simulator's token endpoint, on SQLite and PostgreSQL:
exactly one refresh per expiry across workers, rotation kept, revocation → needs_reauth."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.wfirma.oauth import GrantRevoked, OAuthApp, OAuthClient
from config.clock import utcnow
from config.db import create_engine, session_factory, upgrade
from config.models import OAuthToken, ProviderConnection, Seller
from config.secrets import SecretBox
from config.tokens import ConnectionTokens, TokenStore
from simulators.wfirma import SimCompany, SimLogin, SimOAuthApp, WfirmaSimulator

pytestmark = pytest.mark.integration
BOX = SecretBox([SecretBox.new_key()])
REDIRECT = "https://platform.example/wfirma/callback"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tokens.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def wfirma() -> AsyncIterator[tuple[WfirmaSimulator, str]]:
    sim = WfirmaSimulator()
    sim.add_login(
        SimLogin(login="acme", companies=[SimCompany(id=1001, name="Acme")], rate_limits=None)
    )
    sim.add_oauth_app(
        SimOAuthApp(
            client_id="cid",
            client_secret="csecret",
            redirect_uri=REDIRECT,
            login="acme",
            access_token_ttl=30,
        )
    )
    async with sim.serve() as base:
        yield sim, base


async def authorize(client: OAuthClient, base: str) -> str:
    """What the seller's browser does: consent page, then the redirect back with a code."""
    url = client.authorization_url(state="s1").replace("https://wfirma.pl", base)
    async with httpx.AsyncClient() as http:
        answer = await http.get(url, follow_redirects=False)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["state"] == ["s1"]
    return back["code"][0]


async def expire(engine: AsyncEngine, connection_id: int) -> None:
    async with session_factory(engine)() as session, session.begin():
        await session.execute(
            update(OAuthToken)
            .where(OAuthToken.connection_id == connection_id)
            .values(expires_at=utcnow() - dt.timedelta(minutes=1))
        )


async def setup(db_url: str, base: str) -> tuple[TokenStore, OAuthClient, int, object]:
    upgrade(db_url)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        conn = ProviderConnection(name="wf", provider="wfirma", options={})
        session.add(Seller(id="s1", name="S", connections=[conn], mappings=[]))
    client = OAuthClient(
        OAuthApp("cid", "csecret", REDIRECT), api_url=base, auth_url="https://wfirma.pl/oauth2/auth"
    )
    store = TokenStore(sessions, BOX)
    await store.save_grant(conn.id, await client.exchange_code(await authorize(client, base)))
    return store, client, conn.id, engine


async def test_concurrent_refreshes_hit_the_token_endpoint_once(wfirma, db_url: str) -> None:
    sim, base = wfirma
    store, client, conn_id, engine = await setup(db_url, base)
    # two "worker processes": separate token objects, separate engines, one database
    other = TokenStore(session_factory(create_engine(db_url)), BOX)
    await expire(engine, conn_id)  # the stored token is stale; a refreshed one (30 s) is fresh
    a = ConnectionTokens(store, conn_id, client.refresh, lead_seconds=5)
    b = ConnectionTokens(other, conn_id, client.refresh, lead_seconds=5)
    first, second = await asyncio.gather(a.access_token(), b.access_token())
    refreshes = [r for r in sim.token_requests() if r.grant_type == "refresh_token"]
    assert len(refreshes) == 1 and refreshes[0].error is None
    assert first == second
    async with httpx.AsyncClient() as http:  # and the token really works
        answer = await http.get(
            f"{base}/user_companies/find",
            params={"inputFormat": "json", "outputFormat": "json", "oauth_version": "2"},
            headers={"Authorization": f"Bearer {first}"},
        )
    assert answer.json()["status"]["code"] == "OK"
    async with session_factory(engine)() as session:
        row = await session.scalar(select(OAuthToken))
    assert first not in row.access_token and row.version == 2  # encrypted at rest, rotated once
    await engine.dispose()


async def test_a_rejected_token_is_replaced_once_even_if_reported_twice(
    wfirma, db_url: str
) -> None:
    sim, base = wfirma
    store, client, conn_id, engine = await setup(db_url, base)
    tokens = ConnectionTokens(store, conn_id, client.refresh, lead_seconds=0)
    old = await tokens.access_token()
    new = await tokens.refresh_after_rejection(old)
    again = await tokens.refresh_after_rejection(old)  # a second task saw the same AUTH answer
    assert new != old and again == new
    assert len([r for r in sim.token_requests() if r.grant_type == "refresh_token"]) == 1
    await engine.dispose()


async def test_a_revoked_grant_marks_the_connection_needs_reauth(wfirma, db_url: str) -> None:
    sim, base = wfirma
    store, client, conn_id, engine = await setup(db_url, base)
    sim.revoke_refresh_tokens("acme")
    tokens = ConnectionTokens(store, conn_id, client.refresh)
    with pytest.raises(GrantRevoked, match="reconnect"):
        await tokens.access_token()
    async with session_factory(engine)() as session:
        conn = await session.get(ProviderConnection, conn_id)
        token = await session.get(OAuthToken, conn_id)
    assert conn.status == "needs_reauth" and "reconnect" in conn.status_detail
    assert token.lease_owner is None  # the lease was released
    await engine.dispose()
