"""Per-connection webhook secrets: generated on request, shown once, stored as a SHA-256 only.

A provider's webhook carries only what its configuration can carry; Fakturownia's takes a URL,
so the secret travels in that URL and the URL is a credential (docs/security.md). The secret is
256 random bits, so an unsalted SHA-256 is enough: a database dump yields nothing usable and
nothing worth brute-forcing, and checking a call costs one hash and one constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.models import ProviderConnection, WebhookSecret

SECRET_BYTES = 32
MAX_SECRET_LENGTH = 200  # a longer candidate is not ours; do not even hash it
_UNMATCHABLE = b"-" * 64  # no SHA-256 hex digest equals this: unknown connections never pass


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def replace_secret(sessions: async_sessionmaker, connection_id: int) -> str:
    """A fresh secret for the connection (the previous one stops working); returned once."""
    secret = new_secret()
    async with sessions() as session, session.begin():
        row = await session.get(WebhookSecret, connection_id)
        if row is None:
            session.add(WebhookSecret(connection_id=connection_id, secret_sha256=digest(secret)))
        else:
            row.secret_sha256 = digest(secret)
    return secret


async def authenticate(
    sessions: async_sessionmaker, connection_id: int, provider: str, secret: str
) -> bool:
    """Whether `secret` is the current one of a `provider` connection with this id.

    An unknown connection, another provider's, one without a secret and a wrong secret are
    indistinguishable to the caller, and cost the same compare.
    """
    async with sessions() as session:
        stored = await session.scalar(
            select(WebhookSecret.secret_sha256)
            .join(ProviderConnection, ProviderConnection.id == WebhookSecret.connection_id)
            .where(
                WebhookSecret.connection_id == connection_id,
                ProviderConnection.provider == provider,
            )
        )
    expected = stored.encode() if stored else _UNMATCHABLE
    given = digest(secret).encode() if len(secret) <= MAX_SECRET_LENGTH else b""
    return hmac.compare_digest(given, expected)
