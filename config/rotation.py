"""Re-encrypt every secret at rest with the newest key, so an old key can be retired.

Runs beside live workers: an OAuth grant is rewritten only if its `version` is still the one
read (a worker refreshing the grant meanwhile wins, and its new tokens are already sealed with
the newest key because every process puts the same key first).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.models import OAuthToken, ProviderConnection
from config.secrets import SecretBox


@dataclass(frozen=True)
class RotationReport:
    connections: int
    grants: int
    grants_skipped: int  # refreshed by a worker during the rotation (already on the new key)


async def rotate_secrets(sessions: async_sessionmaker, box: SecretBox) -> RotationReport:
    connections = await _rotate_connections(sessions, box)
    grants, skipped = await _rotate_grants(sessions, box)
    return RotationReport(connections, grants, skipped)


async def _rotate_connections(sessions: async_sessionmaker, box: SecretBox) -> int:
    async with sessions() as session, session.begin():
        rows = (await session.scalars(select(ProviderConnection))).all()
        sealed = [row for row in rows if row.sealed_credentials]
        for row in sealed:
            row.sealed_credentials = box.rotate(row.sealed_credentials)
    return len(sealed)


async def _rotate_grants(sessions: async_sessionmaker, box: SecretBox) -> tuple[int, int]:
    async with sessions() as session:
        grants = (await session.execute(select(OAuthToken))).scalars().all()
    done = skipped = 0
    for grant in grants:
        async with sessions() as session, session.begin():
            result = await session.execute(
                update(OAuthToken)
                .where(
                    OAuthToken.connection_id == grant.connection_id,
                    OAuthToken.version == grant.version,
                )
                .values(
                    access_token=box.rotate(grant.access_token),
                    refresh_token=box.rotate(grant.refresh_token),
                )
            )
        if result.rowcount:
            done += 1
        else:
            skipped += 1
    return done, skipped
