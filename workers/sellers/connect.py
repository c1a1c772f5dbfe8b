"""Connecting a seller to a provider: store a connection checked by `config apply`'s rules, in one
transaction with a confirmed provider switch, and run wFirma's OAuth consent.

A Fakturownia connection is verified with a real call before it is stored; a wFirma one is stored
waiting for the seller's consent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.apply import ConfigError, ConnectionSpec, load_seller, seller_view, upsert_connection
from config.credentials import read_credentials
from config.models import OAuthToken, ProviderConnection, Seller
from config.settings import Settings, secret_box
from config.store import ConnectionConfig
from domain.ports import ProviderError
from domain.routing import ConnectionStatus
from domain.sellers import provider_switch
from schemas.invoices import Provider
from workers.configuration import check_connection
from workers.onboarding import authorization_url, complete_authorization
from workers.sellers.errors import (
    InvalidRequest,
    ProviderCheckFailed,
    SwitchNotConfirmed,
    _first_error,
)
from workers.sellers.lookup import _connection_row, _seller
from workers.sellers.models import (
    Authorized,
    ConnectionView,
    FakturowniaConnect,
    FakturowniaConnected,
    WfirmaConnect,
    WfirmaConnected,
)
from workers.sellers.provider import _departments, _provider
from workers.sellers.switch import _delete_connections, _existing, _refuse_unconfirmed_switch

AWAITING_CONSENT = "not authorized yet: the seller must open the authorization URL and consent"
SELLER_ID_MAX = 200  # sellers.id


async def connect_fakturownia(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str,
    connection: str,
    request: FakturowniaConnect,
    *,
    confirm_switch: bool = False,
) -> FakturowniaConnected:
    """Verify the account with a real call (its departments), then store the connection."""
    spec = _spec(
        connection,
        Provider.FAKTUROWNIA,
        {"api_token": request.api_token.get_secret_value()},
        {
            "account": request.account,
            "receipts_enabled": request.receipts_enabled,
            "send_by_email": request.send_by_email,
        },
    )
    await _refuse_unconfirmed_switch(sessions, seller_id, spec.provider, confirm_switch)
    probe = ConnectionConfig(
        0, seller_id, spec.provider, spec.credentials, spec.options, ConnectionStatus.OK
    )
    async with _provider(settings, sessions, probe) as provider:
        departments = await _departments(provider)
    stored, replaced = await _store(
        settings, sessions, seller_id, request.seller_name, spec, confirm_switch, _verified
    )
    return FakturowniaConnected(connection=stored, departments=departments, replaced=replaced)


async def connect_wfirma(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str,
    connection: str,
    request: WfirmaConnect,
    *,
    confirm_switch: bool = False,
) -> WfirmaConnected:
    """Store the OAuth app's credentials and return the consent URL. Nothing can be verified
    before the seller consents; until then the connection is `needs_reauth`."""
    options: dict[str, Any] = {
        "redirect_uri": request.redirect_uri,
        "receipts_enabled": request.receipts_enabled,
        "send_by_email": request.send_by_email,
        "extra_scopes": request.extra_scopes,
    }
    if request.company_id is not None:
        options["company_id"] = request.company_id
    credentials = {
        "client_id": request.client_id,
        "client_secret": request.client_secret.get_secret_value(),
    }
    spec = _spec(connection, Provider.WFIRMA, credentials, options)
    stored, replaced = await _store(
        settings, sessions, seller_id, request.seller_name, spec, confirm_switch, _await_consent
    )
    url = await authorization_url(settings, sessions, seller_id, connection)
    return WfirmaConnected(connection=stored, authorization_url=url, replaced=replaced)


async def wfirma_authorization_url(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, connection: str
) -> str:
    """A fresh consent URL, e.g. to reconnect a connection that needs re-authorization."""
    async with sessions() as session:
        row = _connection_row(await _seller(session, seller_id), connection)
    if row.provider != Provider.WFIRMA:
        raise InvalidRequest(f"connection {connection!r} is not a wFirma connection")
    return await authorization_url(settings, sessions, seller_id, connection)


async def complete_wfirma(
    settings: Settings, sessions: async_sessionmaker, code: str, state: str
) -> Authorized:
    """The OAuth callback: a signed, single-use state (see workers/onboarding.py)."""
    try:
        connection_id = await complete_authorization(settings, sessions, code, state)
    except ProviderError as exc:
        raise ProviderCheckFailed(exc) from exc
    async with sessions() as session:
        row = await session.get(ProviderConnection, connection_id)
    assert row is not None
    return Authorized(seller_id=row.seller_id, connection=row.name)


def _spec(
    name: str, provider: Provider, credentials: dict[str, str], options: dict[str, Any]
) -> ConnectionSpec:
    """The connection as `config apply` would store it, checked by the same rules."""
    try:
        spec = ConnectionSpec(
            name=name, provider=provider, credentials=credentials, options=options
        )
        return check_connection(spec)
    except (ValidationError, ConfigError) as exc:
        raise InvalidRequest(_first_error(exc)) from exc


Settle = Callable[
    [AsyncSession, ProviderConnection, dict[str, str], dict[str, str]], Awaitable[None]
]
"""Sets a just-stored connection's state from its previous and current credentials."""


async def _store(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str,
    seller_name: str | None,
    spec: ConnectionSpec,
    confirm_switch: bool,
    settle: Settle,
) -> tuple[ConnectionView, list[str]]:
    """Create the seller if new, apply a confirmed provider switch and upsert the connection in
    one transaction; `settle` sets the connection's state from what is known about it."""
    box = secret_box(settings)
    async with sessions() as session, session.begin():
        seller = await load_seller(session, seller_id)
        if seller is None:
            if not 0 < len(seller_id) <= SELLER_ID_MAX:
                raise InvalidRequest(f"a seller id has 1 to {SELLER_ID_MAX} characters")
            seller = Seller(
                id=seller_id, name=seller_name or seller_id, connections=[], mappings=[]
            )
            session.add(seller)
        elif seller_name:
            seller.name = seller_name
        switch = provider_switch(seller_id, spec.provider, await _existing(session, seller))
        if switch and not confirm_switch:
            raise SwitchNotConfirmed(switch)
        if switch:
            await _delete_connections(session, seller, switch)
        old = next((c for c in seller.connections if c.name == spec.name), None)
        previous = read_credentials(old, box) if old else {}
        if old:  # keep options set elsewhere (config apply), e.g. gov_save_and_send
            spec = spec.model_copy(update={"options": {**old.options, **spec.options}})
        row, _ = upsert_connection(seller, spec, box)
        await session.flush()
        await settle(session, row, previous, spec.credentials)
        view = seller_view(seller, box)
    stored = next(c for c in view["connections"] if c["name"] == spec.name)
    replaced = [c.name for c in switch.connections] if switch else []
    return ConnectionView.model_validate(stored), replaced


async def _verified(
    _session: AsyncSession,
    row: ProviderConnection,
    _previous: dict[str, str],
    _current: dict[str, str],
) -> None:
    """Just proven by a provider call: whatever it was before, it works now."""
    row.status, row.status_detail = ConnectionStatus.OK.value, None


async def _await_consent(
    session: AsyncSession,
    row: ProviderConnection,
    previous: dict[str, str],
    current: dict[str, str],
) -> None:
    """Tokens belong to one OAuth app: a new client id needs a new consent."""
    if previous.get("client_id") != current.get("client_id"):
        await session.execute(delete(OAuthToken).where(OAuthToken.connection_id == row.id))
    if await session.get(OAuthToken, row.id) is None:
        row.status, row.status_detail = ConnectionStatus.NEEDS_REAUTH.value, AWAITING_CONSENT
