"""Read side of the configuration store, as the router needs it.

Lookups are cached for `ttl` seconds: a changed mapping takes effect within seconds on every
worker, without a restart and without a database round trip per event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.credentials import read_credentials
from config.models import ChannelMapping, ProviderConnection
from config.secrets import SecretBox
from domain.routing import ChannelRoute, ConnectionStatus, DocumentPolicy
from schemas.invoices import Provider


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
    def __init__(self, sessions: async_sessionmaker, box: SecretBox, ttl: float = 2.0) -> None:
        self._sessions = sessions
        self._box = box
        self._ttl = ttl
        self._routes: dict[tuple[str, str], tuple[float, ChannelRoute | None]] = {}
        self._connections: dict[int, tuple[float, ConnectionConfig | None]] = {}

    async def route_for(self, seller_id: str, channel: str) -> ChannelRoute | None:
        key = (seller_id, channel)
        hit = self._routes.get(key)
        if hit and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        route = await self._load_route(seller_id, channel)
        self._routes[key] = (time.monotonic(), route)
        return route

    async def connection(self, connection_id: int) -> ConnectionConfig | None:
        hit = self._connections.get(connection_id)
        if hit and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        async with self._sessions() as session:
            row = await session.get(ProviderConnection, connection_id)
            conn = _connection(row, self._box) if row else None
        self._connections[connection_id] = (time.monotonic(), conn)
        return conn

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

    async def _load_route(self, seller_id: str, channel: str) -> ChannelRoute | None:
        stmt = (
            select(ChannelMapping, ProviderConnection)
            .join(ProviderConnection, ChannelMapping.connection_id == ProviderConnection.id)
            .where(ChannelMapping.seller_id == seller_id, ChannelMapping.channel == channel)
        )
        async with self._sessions() as session:
            found = (await session.execute(stmt)).first()
        if found is None:
            return None
        mapping, conn = found
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
