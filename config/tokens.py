"""OAuth tokens of provider connections: encrypted at rest, refreshed by one worker at a time.

A refresh token is single-use when the provider rotates it, so two workers refreshing with the
same one make the loser fail with `invalid_grant` (and would wrongly look like a revoked grant).
A refresh therefore takes a short lease on the token row first, by compare-and-set on its
`version` (works the same on PostgreSQL and SQLite). Other tasks and processes wait for the
new version instead of refreshing themselves. A grant the provider refuses marks the connection
`needs_reauth`: a clear state for the seller, not a retry loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import as_utc, utcnow
from config.models import OAuthToken
from config.secrets import SecretBox
from config.store import set_connection_status
from domain.ports import ProviderAuthError, ProviderUnavailable
from domain.routing import ConnectionStatus

LEASE = dt.timedelta(seconds=30)
Clock = Callable[[], dt.datetime]


class Grant(Protocol):
    access_token: str
    refresh_token: str | None
    expires_in: float


@dataclass(frozen=True)
class StoredToken:
    access: str
    refresh: str
    expires_at: dt.datetime
    version: int

    def __repr__(self) -> str:
        return f"StoredToken(version={self.version}, expires_at={self.expires_at:%H:%M:%S})"


class TokenStore:
    def __init__(self, sessions: async_sessionmaker, box: SecretBox, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._box = box
        self._clock = clock

    async def save_grant(self, connection_id: int, grant: Grant) -> StoredToken:
        """Store a fresh authorization (code exchange) and clear any needs_reauth state."""
        async with self._sessions() as session, session.begin():
            row = await session.get(OAuthToken, connection_id)
            if row is None:
                row = OAuthToken(connection_id=connection_id, version=0)
                session.add(row)
            self._write(row, grant, refresh=grant.refresh_token or "")
            row.lease_owner, row.lease_until = None, None
            await session.execute(set_connection_status(connection_id, ConnectionStatus.OK))
            return self._stored(row)

    async def load(self, connection_id: int) -> StoredToken | None:
        async with self._sessions() as session:
            row = await session.get(OAuthToken, connection_id)
            return self._stored(row) if row else None

    async def try_lease(self, connection_id: int, version: int, owner: str) -> bool:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(OAuthToken)
                .where(
                    OAuthToken.connection_id == connection_id,
                    OAuthToken.version == version,
                    or_(OAuthToken.lease_until.is_(None), OAuthToken.lease_until < now),
                )
                .values(lease_owner=owner, lease_until=now + LEASE)
            )
            return done.rowcount == 1

    async def complete(self, connection_id: int, owner: str, grant: Grant) -> StoredToken:
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                select(OAuthToken)
                .where(OAuthToken.connection_id == connection_id, OAuthToken.lease_owner == owner)
                .with_for_update()
            )
            if row is None:
                raise ProviderUnavailable("the token refresh lease was lost; retry")
            # keep the old refresh token unless the provider rotated it
            self._write(
                row, grant, refresh=grant.refresh_token or self._box.decrypt(row.refresh_token)
            )
            row.lease_owner, row.lease_until = None, None
            return self._stored(row)

    async def release(self, connection_id: int, owner: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OAuthToken)
                .where(OAuthToken.connection_id == connection_id, OAuthToken.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def mark_needs_reauth(self, connection_id: int, detail: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                set_connection_status(connection_id, ConnectionStatus.NEEDS_REAUTH, detail)
            )

    def _write(self, row: OAuthToken, grant: Grant, refresh: str) -> None:
        row.access_token = self._box.encrypt(grant.access_token)
        row.refresh_token = self._box.encrypt(refresh)
        row.expires_at = self._clock() + dt.timedelta(seconds=grant.expires_in)
        row.version = (row.version or 0) + 1

    def _stored(self, row: OAuthToken) -> StoredToken:
        return StoredToken(
            access=self._box.decrypt(row.access_token),
            refresh=self._box.decrypt(row.refresh_token),
            expires_at=as_utc(row.expires_at),
            version=row.version,
        )


class ConnectionTokens:
    """AccessTokens (adapters/wfirma/auth.py) for one connection, shared by a process's tasks."""

    def __init__(
        self,
        store: TokenStore,
        connection_id: int,
        refresh: Callable[[str], Awaitable[Grant]],
        *,
        lead_seconds: float = 120,
        poll_seconds: float = 0.1,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._id = connection_id
        self._refresh = refresh
        self._lead = dt.timedelta(seconds=lead_seconds)
        self._poll = poll_seconds
        self._clock = clock
        self._owner = f"{uuid.uuid4().hex[:12]}"
        self._lock = asyncio.Lock()
        self._cached: StoredToken | None = None

    async def access_token(self) -> str:
        token = self._cached if self._fresh(self._cached) else await self._load()
        if not self._fresh(token):
            token = await self._refresh_from(token)
        return token.access

    async def refresh_after_rejection(self, rejected_token: str) -> str:
        token = await self._load()
        if token.access != rejected_token:
            return token.access  # another task or worker refreshed meanwhile
        return (await self._refresh_from(token)).access

    def _fresh(self, token: StoredToken | None) -> bool:
        return token is not None and token.expires_at - self._clock() > self._lead

    async def _load(self) -> StoredToken:
        token = await self._store.load(self._id)
        if token is None:
            raise ProviderAuthError(
                "the wFirma connection is not authorized yet: complete the "
                "OAuth authorization (Generate) first"
            )
        self._cached = token
        return token

    async def _refresh_from(self, seen: StoredToken) -> StoredToken:
        async with self._lock:
            deadline = self._clock() + 2 * LEASE
            while self._clock() < deadline:
                latest = await self._load()
                if latest.version != seen.version:
                    return latest  # refreshed by another task or process
                if await self._store.try_lease(self._id, seen.version, self._owner):
                    return await self._refresh_leased(latest)
                await asyncio.sleep(self._poll)
            raise ProviderUnavailable("another worker's token refresh did not finish in time")

    async def _refresh_leased(self, token: StoredToken) -> StoredToken:
        try:
            grant = await self._refresh(token.refresh)
        except ProviderAuthError as exc:
            await self._store.release(self._id, self._owner)
            await self._store.mark_needs_reauth(self._id, str(exc))
            raise
        except BaseException:
            await self._store.release(self._id, self._owner)
            raise
        self._cached = await self._store.complete(self._id, self._owner, grant)
        return self._cached
