"""Read side of the configuration store, as the router needs it.

Lookups are cached until the configuration changes: the database bumps one generation number
on every change to sellers, connections and mappings (migration 0012), and the store reads that
number at most once every `ttl` seconds. A changed mapping takes effect within seconds on every
worker, without a restart, and a fleet of sellers costs no route query per event. `max_age`
bounds how long an entry lives even when the number does not move.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.cache import SingleFlightCache
from config.credentials import read_credentials
from config.models import ChannelMapping, ConfigGeneration, ProviderConnection, Seller
from config.secrets import SecretBox
from config.tax_profile import tax_profile
from domain.routing import ChannelRoute, ConnectionStatus, DocumentPolicy
from schemas.invoices import Provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionConfig:
    """What an adapter factory needs to talk to one provider account."""

    id: int
    seller_id: str
    provider: Provider
    credentials: dict[str, Any]
    options: dict[str, Any]
    status: ConnectionStatus

    def __repr__(self) -> str:  # never print credentials
        return f"ConnectionConfig(id={self.id}, seller={self.seller_id!r}, {self.provider})"


class ConfigStore:
    def __init__(
        self,
        sessions: async_sessionmaker,
        box: SecretBox,
        ttl: float = 2.0,
        max_age: float = 300.0,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._routes: SingleFlightCache[tuple[str, str], ChannelRoute | None]
        self._routes = SingleFlightCache(max_age)
        self._connections: SingleFlightCache[int, ConnectionConfig | None]
        self._connections = SingleFlightCache(max_age)
        self._generations: SingleFlightCache[None, int | None] = SingleFlightCache(ttl)
        self._generation: int | None = None  # the one the cached entries were read at

    async def route_for(self, seller_id: str, channel: str) -> ChannelRoute | None:
        await self._still_current()
        return await self._routes.get(
            (seller_id, channel), lambda: self._load_route(seller_id, channel)
        )

    async def connection(self, connection_id: int) -> ConnectionConfig | None:
        await self._still_current()
        return await self._connections.get(
            connection_id, lambda: self._load_connection(connection_id)
        )

    async def _still_current(self) -> None:
        """Forget every cached entry when the configuration changed since they were read."""
        generation = await self._generations.get(None, self._read_generation)
        if generation != self._generation:
            if self._generation is not None:
                log.info("configuration changed (generation %s): cached routes dropped", generation)
            self._routes.clear()
            self._connections.clear()
            self._generation = generation

    async def _read_generation(self) -> int | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(ConfigGeneration.value).where(ConfigGeneration.id == 1)
            )

    async def _load_connection(self, connection_id: int) -> ConnectionConfig | None:
        async with self._sessions() as session:
            row = await session.get(ProviderConnection, connection_id)
            return _connection(row, self._box) if row else None

    async def mark_needs_reauth(self, connection_id: int, detail: str) -> None:
        """The provider refused the credentials: a clear state for the seller, no retry loop."""
        await self.set_status(connection_id, ConnectionStatus.NEEDS_REAUTH, detail)

    async def set_status(
        self, connection_id: int, status: ConnectionStatus, detail: str | None = None
    ) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(set_connection_status(connection_id, status, detail))
        self.invalidate()

    def invalidate(self) -> None:
        self._routes.clear()
        self._connections.clear()
        self._generations.clear()

    async def _load_route(self, seller_id: str, channel: str) -> ChannelRoute | None:
        stmt = (
            select(ChannelMapping, ProviderConnection, Seller.tax_profile)
            .join(ProviderConnection, ChannelMapping.connection_id == ProviderConnection.id)
            .join(Seller, ChannelMapping.seller_id == Seller.id)
            .where(ChannelMapping.seller_id == seller_id, ChannelMapping.channel == channel)
        )
        async with self._sessions() as session:
            found = (await session.execute(stmt)).first()
        if found is None:
            return None
        mapping, conn, seller_tax = found
        return ChannelRoute(
            seller_id=seller_id,
            channel=channel,
            connection_id=conn.id,
            provider=Provider(conn.provider),
            target=mapping.target,
            auto_generate=mapping.auto_generate,
            policy=DocumentPolicy(mapping.document_policy),
            send_by_email=mapping.send_by_email,
            receipts_enabled=bool(conn.options.get("receipts_enabled", False)),
            connection_status=ConnectionStatus(conn.status),
            tax=tax_profile(seller_tax, mapping.vat_defaults),
        )


def set_connection_status(
    connection_id: int, status: ConnectionStatus, detail: str | None = None
) -> Update:
    """The statement that records a connection's health (shared by every writer of it)."""
    return (
        update(ProviderConnection)
        .where(ProviderConnection.id == connection_id)
        .values(status=status.value, status_detail=detail[:1000] if detail else None)
    )


def _connection(row: ProviderConnection, box: SecretBox) -> ConnectionConfig:
    return ConnectionConfig(
        id=row.id,
        seller_id=row.seller_id,
        provider=Provider(row.provider),
        credentials=read_credentials(row, box),
        options=dict(row.options),
        status=ConnectionStatus(row.status),
    )
