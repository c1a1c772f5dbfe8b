"""Talking to a seller's provider with the client the worker would build: the probes that prove
credentials, `verify` (whose outcome becomes the connection's state) and listing targets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import async_sessionmaker

from adapters.registry import ProviderRegistry
from adapters.wfirma import WfirmaCompany, WfirmaProvider
from config.settings import Settings, secret_box
from config.store import ConfigStore, ConnectionConfig, set_connection_status
from domain.ports import Department, InvoicingProvider, ProviderError
from domain.routing import ConnectionStatus
from schemas.invoices import Provider
from workers.sellers.errors import InvalidRequest, NotFound, ProviderCheckFailed
from workers.sellers.lookup import _connection_row, _seller
from workers.sellers.models import CompanyView, DepartmentView, Verification


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
