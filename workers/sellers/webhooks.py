"""A connection's account-webhook secret (issue 11): generated for a named connection, shown once.

Only Fakturownia connections get one: Fakturownia's account webhook fires when KSeF numbers an
invoice, so it can trigger an immediate clearance re-read; wFirma has no KSeF webhook event.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.ext.asyncio import async_sessionmaker

from config.webhook_secrets import replace_secret
from schemas.invoices import Provider
from workers.sellers.errors import InvalidRequest
from workers.sellers.lookup import _connection_row, _seller

WEBHOOK_PATH = "/webhooks/fakturownia/{connection_id}"


@dataclass(frozen=True)
class WebhookSecretIssued:
    connection_id: int
    secret: str

    @property
    def path(self) -> str:
        """The API path Fakturownia's webhook must call, secret included (a credential)."""
        base = WEBHOOK_PATH.format(connection_id=self.connection_id)
        return f"{base}?secret={quote(self.secret, safe='')}"


async def generate_webhook_secret(
    sessions: async_sessionmaker, seller_id: str, connection: str
) -> WebhookSecretIssued:
    """Replace the connection's webhook secret; the old URL stops working at once."""
    async with sessions() as session:
        row = _connection_row(await _seller(session, seller_id), connection)
        connection_id, provider = row.id, row.provider
    if provider != Provider.FAKTUROWNIA.value:
        raise InvalidRequest(
            f"connection {connection!r} is {provider}: only Fakturownia sends account webhooks "
            "(wFirma's KSeF clearance is polled)"
        )
    return WebhookSecretIssued(connection_id, await replace_secret(sessions, connection_id))
