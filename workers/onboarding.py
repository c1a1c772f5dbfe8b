"""Connecting a seller's wFirma account (OAuth 2.0 authorization code), as a service.

The seller's "Generate" button opens `authorization_url`; wFirma redirects back to the app's
redirect URI with `code` and `state`; `complete_authorization` verifies the signed state,
exchanges the code and stores the tokens encrypted. A state completes one authorization only:
its nonce is recorded (`oauth_state_uses`), so a replayed redirect is refused; a failed code
exchange (a wrong or mistyped code, wFirma unreachable) releases it again, so the seller can
retry within the state's lifetime. The CLI and the HTTP configuration API (workers/api.py)
call the same functions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from adapters.registry import wfirma_oauth_client
from adapters.wfirma.oauth import SCOPES, OAuthApp
from config.clock import utcnow
from config.credentials import read_credentials
from config.models import OAuthStateUse, ProviderConnection
from config.secrets import SecretBox
from config.settings import Settings, secret_box
from config.tokens import TokenStore

STATE_TTL_SECONDS = 15 * 60


class OnboardingError(ValueError):
    pass


class StateReplayed(OnboardingError):
    """The redirect was completed before: a captured URL must not connect an account twice."""


@dataclass(frozen=True)
class WfirmaConnection:
    id: int
    app: OAuthApp
    extra_scopes: tuple[str, ...]


def oauth_app(credentials: dict[str, str], options: dict[str, object]) -> OAuthApp:
    try:
        return OAuthApp.from_connection(credentials, options)
    except ValueError as exc:
        raise OnboardingError(str(exc)) from exc


async def _connection(
    sessions: async_sessionmaker, box: SecretBox, seller_id: str, name: str
) -> WfirmaConnection:
    async with sessions() as session:
        row = await session.scalar(
            select(ProviderConnection).where(
                ProviderConnection.seller_id == seller_id, ProviderConnection.name == name
            )
        )
    if row is None or row.provider != "wfirma":
        raise OnboardingError(f"seller {seller_id!r} has no wFirma connection named {name!r}")
    extra = tuple(str(s) for s in row.options.get("extra_scopes", []))
    return WfirmaConnection(row.id, oauth_app(read_credentials(row, box), row.options), extra)


async def authorization_url(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, connection: str
) -> str:
    box = secret_box(settings)
    conn = await _connection(sessions, box, seller_id, connection)
    state = box.sign(
        {"seller": seller_id, "connection": conn.id, "nonce": uuid.uuid4().hex},
        ttl_seconds=STATE_TTL_SECONDS,
    )
    client = wfirma_oauth_client(settings, conn.app)
    try:
        return client.authorization_url(state, scopes=SCOPES + conn.extra_scopes)
    finally:
        await client.aclose()


async def complete_authorization(
    settings: Settings, sessions: async_sessionmaker, code: str, state: str
) -> int:
    """Verify `state`, exchange `code`, store the tokens; returns the connection id."""
    box = secret_box(settings)
    try:
        if not state.isascii():  # anyone can send one; hmac.compare_digest needs ASCII str
            raise ValueError("it is not ASCII")
        claims = box.verify(state)
    except ValueError as exc:
        raise OnboardingError(
            f"the authorization state is not valid ({exc}); start again from Generate"
        ) from exc
    async with sessions() as session:
        row = await session.get(ProviderConnection, int(claims["connection"]))
    if row is None or row.seller_id != claims["seller"]:
        raise OnboardingError("the connection this authorization was started for is gone")
    nonce = await _use_state(sessions, str(claims.get("nonce", "")), row.id)
    try:
        credentials = read_credentials(row, box)
        client = wfirma_oauth_client(settings, oauth_app(credentials, row.options))
        try:
            grant = await client.exchange_code(code)
        finally:
            await client.aclose()
        await TokenStore(sessions, box).save_grant(row.id, grant)
    except Exception:
        await _release_state(sessions, nonce)
        raise
    return row.id


async def _use_state(sessions: async_sessionmaker, nonce: str, connection_id: int) -> str:
    """Record the state's nonce before the code exchange, so two concurrent completions of one
    redirect cannot both succeed; uses older than a state's lifetime are forgotten."""
    if not nonce:
        raise OnboardingError("the authorization state carries no nonce; start again from Generate")
    now = utcnow()
    stale = OAuthStateUse.used_at < now - dt.timedelta(seconds=2 * STATE_TTL_SECONDS)
    try:
        async with sessions() as session, session.begin():
            await session.execute(delete(OAuthStateUse).where(stale))
            session.add(OAuthStateUse(nonce=nonce, connection_id=connection_id, used_at=now))
    except IntegrityError as exc:
        raise StateReplayed(
            "this authorization was already completed (its state was used before); "
            "start again from Generate"
        ) from exc
    return nonce


async def _release_state(sessions: async_sessionmaker, nonce: str) -> None:
    """Forget a use whose authorization did not complete: the state stays usable until it
    expires, and stays single-use for completed authorizations."""
    async with sessions() as session, session.begin():
        await session.execute(delete(OAuthStateUse).where(OAuthStateUse.nonce == nonce))
