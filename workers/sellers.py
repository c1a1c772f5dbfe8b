"""Seller onboarding as a service: connect a provider, verify it, map channels, report status.

Thin orchestration over config/ (the configuration store, `config apply`'s upserts, the ledger)
and adapters/ (the same provider clients the worker builds), shared by the CLI and the HTTP API
(workers/api.py). A Fakturownia connection is verified with a real call before it is stored; a
wFirma one is stored waiting for the seller's OAuth consent. Writes go straight to the database
and workers pick them up within INVOICE_ROUTER_CONFIG_CACHE_SECONDS, without a restart.
Credentials are sealed at rest and never leave this module: views carry their names only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.fakturownia import AccountLinkError, normalise_account
from adapters.registry import ProviderRegistry
from adapters.wfirma import WfirmaCompany, WfirmaProvider
from config.apply import (
    ChannelSpec,
    ConfigError,
    ConnectionSpec,
    load_seller,
    seller_view,
    show_config,
    upsert_connection,
    upsert_mapping,
)
from config.clock import utcnow
from config.credentials import read_credentials
from config.models import ChannelMapping, Issuance, OAuthToken, ProviderConnection, Seller
from config.settings import Settings, secret_box
from config.store import ConfigStore, ConnectionConfig, set_connection_status
from domain.ports import Department, InvoicingProvider, ProviderAuthError, ProviderError
from domain.routing import ConnectionStatus, DocumentPolicy
from domain.sellers import ExistingConnection, ProviderSwitch, count_outcomes, provider_switch
from schemas.invoices import Provider
from workers.configuration import check_connection
from workers.onboarding import authorization_url, complete_authorization

AWAITING_CONSENT = "not authorized yet: the seller must open the authorization URL and consent"
STATUS_WINDOW = dt.timedelta(hours=1)
SELLER_ID_MAX = 200  # sellers.id


class SellerServiceError(Exception):
    """A refusal the caller can act on; the message is safe to show (no secrets)."""


class NotFound(SellerServiceError):
    pass


class InvalidRequest(SellerServiceError):
    pass


class ProviderCheckFailed(SellerServiceError):
    """The provider refused or could not be reached; nothing was stored. `auth`: it refused
    the credentials (the seller must reconnect), rather than being unavailable."""

    def __init__(self, exc: ProviderError) -> None:
        super().__init__(f"{exc} ({exc.detail})" if exc.detail else str(exc))
        self.auth = isinstance(exc, ProviderAuthError)


class SwitchNotConfirmed(SellerServiceError):
    def __init__(self, switch: ProviderSwitch) -> None:
        super().__init__(switch.describe())
        self.switch = switch


# --- inputs (validated the same way for the CLI and the HTTP API) ------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FakturowniaConnect(_Input):
    provider: Literal["fakturownia"] = "fakturownia"
    seller_name: str | None = Field(None, min_length=1, max_length=256)
    account: str = Field(description="The account link, https://<account>.fakturownia.pl")
    api_token: SecretStr = Field(min_length=1, description="Settings → Account → Integration")
    receipts_enabled: bool = False
    send_by_email: bool = Field(False, description="Default for channels mapped to it")

    @field_validator("account")
    @classmethod
    def _account(cls, link: str) -> str:
        try:
            return normalise_account(link)
        except AccountLinkError as exc:
            raise ValueError(str(exc)) from exc


class WfirmaConnect(_Input):
    provider: Literal["wfirma"] = "wfirma"
    seller_name: str | None = Field(None, min_length=1, max_length=256)
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr = Field(min_length=1)
    company_id: int | None = Field(None, gt=0, description="Needed when the login has several")
    redirect_uri: str = Field(description="The https redirect URI registered with the wFirma app")
    extra_scopes: list[str] = Field(
        default_factory=list, description="e.g. series-read, to list numbering series"
    )
    receipts_enabled: bool = False
    send_by_email: bool = Field(False, description="Default for channels mapped to it")

    @field_validator("redirect_uri")
    @classmethod
    def _https(cls, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("the redirect URI must be an https URL")
        return uri

    @field_validator("extra_scopes")
    @classmethod
    def _scopes(cls, scopes: list[str]) -> list[str]:
        bad = [s for s in scopes if not s.endswith(("-read", "-write")) or " " in s]
        if bad:
            raise ValueError(f"not wFirma scopes: {', '.join(bad)} (expected e.g. series-read)")
        return scopes


class ChannelSettings(_Input):
    connection: str | None = Field(
        None, min_length=1, max_length=100, description="Default: the seller's only connection"
    )
    target: str | None = Field(
        None, min_length=1, max_length=100, description="Fakturownia department / wFirma series id"
    )
    auto_generate: bool = True
    document_policy: DocumentPolicy = DocumentPolicy.AUTO
    send_by_email: bool | None = Field(None, description="Default: the connection's default")


# --- views (never a credential value) ------------------------------------------------------


class ConnectionView(BaseModel):
    name: str
    provider: Provider
    status: ConnectionStatus
    credentials: list[str] = Field(description="Names of the stored credentials, never values")
    options: dict[str, Any]


class ChannelView(BaseModel):
    channel: str
    connection: str | None
    target: str | None
    auto_generate: bool
    document_policy: DocumentPolicy
    send_by_email: bool


class SellerView(BaseModel):
    id: str
    name: str
    connections: list[ConnectionView]
    channels: list[ChannelView]


class DepartmentView(BaseModel):
    """A mapping target: a Fakturownia department or a wFirma numbering series."""

    id: str
    name: str
    shortcut: str | None = None
    tax_no: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class CompanyView(BaseModel):
    id: str
    name: str
    nip: str | None = None


class FakturowniaConnected(BaseModel):
    connection: ConnectionView
    departments: list[DepartmentView]
    replaced: list[str] = Field(description="Connections deleted by a confirmed provider switch")


class WfirmaConnected(BaseModel):
    connection: ConnectionView
    authorization_url: str = Field(description="Where the seller consents; valid 15 minutes")
    replaced: list[str]


class Authorized(BaseModel):
    seller_id: str
    connection: str


class Verification(BaseModel):
    connection: str
    provider: Provider
    status: ConnectionStatus
    departments: list[DepartmentView] = Field(default_factory=list)
    companies: list[CompanyView] = Field(default_factory=list)


class ConnectionState(BaseModel):
    name: str
    provider: Provider
    state: ConnectionStatus
    detail: str | None


class ChannelCounts(BaseModel):
    issued: int
    failed: int
    parked: int
    skipped: int


class ChannelStatus(BaseModel):
    channel: str
    mapping: ChannelView | None = Field(description="None: orders arrive but nothing is mapped")
    last_hour: ChannelCounts


class SellerStatus(BaseModel):
    id: str
    name: str
    connections: list[ConnectionState]
    channels: list[ChannelStatus]


class StatusReport(BaseModel):
    at: dt.datetime
    sellers: list[SellerStatus]


# --- sellers -------------------------------------------------------------------------------


async def list_sellers(settings: Settings, sessions: async_sessionmaker) -> list[SellerView]:
    shown = await show_config(sessions, secret_box(settings))
    return [SellerView.model_validate(s) for s in shown["sellers"]]


async def get_seller(
    settings: Settings, sessions: async_sessionmaker, seller_id: str
) -> SellerView:
    async with sessions() as session:
        seller = await _seller(session, seller_id)
        return SellerView.model_validate(seller_view(seller, secret_box(settings)))


async def _seller(session: AsyncSession, seller_id: str) -> Seller:
    seller = await load_seller(session, seller_id)
    if seller is None:
        raise NotFound(f"unknown seller {seller_id!r}")
    return seller


def _connection_row(seller: Seller, name: str) -> ProviderConnection:
    row = next((c for c in seller.connections if c.name == name), None)
    if row is None:
        raise NotFound(f"seller {seller.id!r} has no connection named {name!r}")
    return row


# --- connecting ----------------------------------------------------------------------------


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


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors(include_input=False)[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc)


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


async def _existing(session: AsyncSession, seller: Seller) -> list[ExistingConnection]:
    ids = [c.id for c in seller.connections]
    with_tokens = set(
        (
            await session.scalars(
                select(OAuthToken.connection_id).where(OAuthToken.connection_id.in_(ids))
            )
        ).all()
    )
    return [
        ExistingConnection(
            name=c.name,
            provider=c.provider,
            channels=tuple(m.channel for m in seller.mappings if m.connection_id == c.id),
            has_tokens=c.id in with_tokens,
        )
        for c in seller.connections
    ]


async def _refuse_unconfirmed_switch(
    sessions: async_sessionmaker, seller_id: str, provider: Provider, confirm_switch: bool
) -> None:
    """Checked before calling the provider too, so a refused switch costs no provider call."""
    if confirm_switch:
        return
    async with sessions() as session:
        seller = await load_seller(session, seller_id)
        existing = await _existing(session, seller) if seller else []
    switch = provider_switch(seller_id, provider, existing)
    if switch:
        raise SwitchNotConfirmed(switch)


async def _delete_connections(
    session: AsyncSession, seller: Seller, switch: ProviderSwitch
) -> None:
    doomed = [c for c in seller.connections if c.name in {x.name for x in switch.connections}]
    ids = {c.id for c in doomed}
    await session.execute(delete(OAuthToken).where(OAuthToken.connection_id.in_(ids)))
    for mapping in [m for m in seller.mappings if m.connection_id in ids]:
        seller.mappings.remove(mapping)
    for row in doomed:
        seller.connections.remove(row)
    await session.flush()


# --- talking to the provider ---------------------------------------------------------------


@asynccontextmanager
async def _provider(
    settings: Settings, sessions: async_sessionmaker, conn: ConnectionConfig
) -> AsyncIterator[InvoicingProvider]:
    """The client the worker would use for `conn`; provider refusals become ProviderCheckFailed."""
    registry = ProviderRegistry(settings, sessions)
    try:
        try:
            client = await registry.for_connection(conn)
        except (KeyError, ValueError) as exc:  # credentials or options a client cannot use
            raise InvalidRequest(f"connection {conn.id} cannot be used: {exc}") from exc
        yield client
    except ProviderError as exc:
        raise ProviderCheckFailed(exc) from exc
    finally:
        await registry.aclose()


async def _departments(provider: InvoicingProvider) -> list[DepartmentView]:
    return [_department(d) for d in await provider.list_departments()]


def _department(d: Department) -> DepartmentView:
    return DepartmentView(id=d.id, name=d.name, shortcut=d.shortcut, tax_no=d.tax_no, extra=d.extra)


async def _probe(provider: InvoicingProvider) -> tuple[list[DepartmentView], list[CompanyView]]:
    """The cheapest call that proves the credentials (and, for wFirma, the company id)."""
    if isinstance(provider, WfirmaProvider):
        return [], [_company(c) for c in await provider.verify()]
    return await _departments(provider), []


def _company(c: WfirmaCompany) -> CompanyView:
    return CompanyView(id=c.id, name=c.name, nip=c.nip)


async def _stored_connection(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, name: str
) -> ConnectionConfig:
    async with sessions() as session:
        row_id = _connection_row(await _seller(session, seller_id), name).id
    conn = await ConfigStore(sessions, secret_box(settings), ttl=0).connection(row_id)
    if conn is None:
        raise NotFound(f"seller {seller_id!r} has no connection named {name!r}")
    return conn


async def verify_connection(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, connection: str
) -> Verification:
    """A real call with the stored credentials; its outcome becomes the connection's state
    (`ok` resumes orders parked for re-authorization). A failure raises ProviderCheckFailed."""
    conn = await _stored_connection(settings, sessions, seller_id, connection)
    try:
        async with _provider(settings, sessions, conn) as provider:
            departments, companies = await _probe(provider)
    except ProviderCheckFailed as exc:
        # an outage must not hide that the seller has to reconnect
        if exc.auth or conn.status is not ConnectionStatus.NEEDS_REAUTH:
            state = ConnectionStatus.NEEDS_REAUTH if exc.auth else ConnectionStatus.FAILING
            await _set_status(sessions, conn.id, state, str(exc))
        raise
    await _set_status(sessions, conn.id, ConnectionStatus.OK, None)
    return Verification(
        connection=connection,
        provider=conn.provider,
        status=ConnectionStatus.OK,
        departments=departments,
        companies=companies,
    )


async def _set_status(
    sessions: async_sessionmaker, connection_id: int, status: ConnectionStatus, detail: str | None
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(set_connection_status(connection_id, status, detail))


async def list_departments(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, connection: str
) -> list[DepartmentView]:
    """Mapping targets: Fakturownia departments, or wFirma numbering series (`series-read`)."""
    conn = await _stored_connection(settings, sessions, seller_id, connection)
    async with _provider(settings, sessions, conn) as provider:
        return await _departments(provider)


async def list_companies(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, connection: str
) -> list[CompanyView]:
    """The companies a wFirma login can act for (to choose the connection's company id)."""
    conn = await _stored_connection(settings, sessions, seller_id, connection)
    if conn.provider is not Provider.WFIRMA:
        raise InvalidRequest(f"connection {connection!r} is not a wFirma connection")
    async with _provider(settings, sessions, conn) as provider:
        assert isinstance(provider, WfirmaProvider)
        return [_company(c) for c in await provider.list_companies()]


# --- channel mappings ----------------------------------------------------------------------


async def list_channels(
    settings: Settings, sessions: async_sessionmaker, seller_id: str
) -> list[ChannelView]:
    return (await get_seller(settings, sessions, seller_id)).channels


async def get_channel(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, channel: str
) -> ChannelView:
    found = [c for c in await list_channels(settings, sessions, seller_id) if c.channel == channel]
    if not found:
        raise NotFound(f"seller {seller_id!r} has no mapping for channel {channel!r}")
    return found[0]


async def set_channel(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str,
    channel: str,
    request: ChannelSettings,
) -> ChannelView:
    """Create or replace a channel's mapping; workers see it within the config cache TTL."""
    async with sessions() as session, session.begin():
        seller = await _seller(session, seller_id)
        row = _mapped_connection(seller, request.connection)
        send = request.send_by_email
        try:
            spec = ChannelSpec(
                channel=channel,
                connection=row.name,
                target=request.target,
                auto_generate=request.auto_generate,
                document_policy=request.document_policy,
                send_by_email=bool(row.options.get("send_by_email")) if send is None else send,
            )
        except ValidationError as exc:
            raise InvalidRequest(_first_error(exc)) from exc
        upsert_mapping(seller, spec, row.id)
    return await get_channel(settings, sessions, seller_id, channel)


def _mapped_connection(seller: Seller, name: str | None) -> ProviderConnection:
    if name is not None:
        return _connection_row(seller, name)
    if len(seller.connections) != 1:
        names = ", ".join(sorted(c.name for c in seller.connections)) or "none"
        raise InvalidRequest(f"name the connection to use (seller {seller.id} has: {names})")
    return seller.connections[0]


async def set_auto_generate(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, channel: str, enabled: bool
) -> ChannelView:
    """Switch automatic invoicing on or off for one channel, keeping the rest of the mapping."""
    async with sessions() as session, session.begin():
        mapping = _mapping(await _seller(session, seller_id), channel)
        mapping.auto_generate = enabled
    return await get_channel(settings, sessions, seller_id, channel)


async def remove_channel(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, channel: str
) -> None:
    """Unmap a channel: its later orders fail with `channel_not_configured`."""
    async with sessions() as session, session.begin():
        seller = await _seller(session, seller_id)
        seller.mappings.remove(_mapping(seller, channel))


def _mapping(seller: Seller, channel: str) -> ChannelMapping:
    found = next((m for m in seller.mappings if m.channel == channel), None)
    if found is None:
        raise NotFound(f"seller {seller.id!r} has no mapping for channel {channel!r}")
    return found


# --- status --------------------------------------------------------------------------------


async def status(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> StatusReport:
    """Per seller: its connections' state and, per channel, the mapping and the ledger's
    outcomes of the last hour (rows that last changed in that window)."""
    now = now or utcnow()
    sellers = (
        [await get_seller(settings, sessions, seller_id)]
        if seller_id
        else await list_sellers(settings, sessions)
    )
    counts = await _ledger_counts(sessions, now - STATUS_WINDOW, seller_id)
    details = await _connection_details(sessions, seller_id)
    return StatusReport(at=now, sellers=[_seller_status(s, counts, details) for s in sellers])


LedgerCounts = dict[tuple[str, str], list[tuple[str, int]]]


async def _ledger_counts(
    sessions: async_sessionmaker, since: dt.datetime, seller_id: str | None
) -> LedgerCounts:
    stmt = (
        select(Issuance.seller_id, Issuance.channel, Issuance.state, func.count())
        .where(Issuance.updated_at >= since)
        .group_by(Issuance.seller_id, Issuance.channel, Issuance.state)
    )
    if seller_id:
        stmt = stmt.where(Issuance.seller_id == seller_id)
    found: LedgerCounts = {}
    async with sessions() as session:
        for seller, channel, state, n in (await session.execute(stmt)).all():
            found.setdefault((seller, channel), []).append((state, n))
    return found


async def _connection_details(
    sessions: async_sessionmaker, seller_id: str | None
) -> dict[tuple[str, str], str | None]:
    stmt = select(
        ProviderConnection.seller_id, ProviderConnection.name, ProviderConnection.status_detail
    )
    if seller_id:
        stmt = stmt.where(ProviderConnection.seller_id == seller_id)
    async with sessions() as session:
        return {(s, n): d for s, n, d in (await session.execute(stmt)).all()}


def _seller_status(
    seller: SellerView, counts: LedgerCounts, details: dict[tuple[str, str], str | None]
) -> SellerStatus:
    mapped = {c.channel: c for c in seller.channels}
    active = {channel for s, channel in counts if s == seller.id}
    return SellerStatus(
        id=seller.id,
        name=seller.name,
        connections=[
            ConnectionState(
                name=c.name,
                provider=c.provider,
                state=c.status,
                detail=None
                if c.status is ConnectionStatus.OK
                else details.get((seller.id, c.name)),
            )
            for c in seller.connections
        ],
        channels=[
            ChannelStatus(
                channel=channel,
                mapping=mapped.get(channel),
                last_hour=ChannelCounts(**count_outcomes(counts.get((seller.id, channel), []))),
            )
            for channel in sorted(mapped.keys() | active)
        ],
    )
