"""Builds (and reuses) one provider client per connection.

A client is rebuilt when the connection's credentials or options change, so an `apply` or a
reconnect takes effect without restarting the worker.
"""

from __future__ import annotations

import hashlib
import json

from adapters.fakturownia import FakturowniaProvider, normalise_account
from config.settings import Settings
from config.store import ConnectionConfig
from domain.ports import InvoicingProvider
from schemas.invoices import Provider


class UnsupportedProvider(LookupError):
    pass


def _fingerprint(conn: ConnectionConfig) -> str:
    blob = json.dumps([conn.credentials, conn.options], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ProviderRegistry:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[int, tuple[str, InvoicingProvider]] = {}

    async def for_connection(self, conn: ConnectionConfig) -> InvoicingProvider:
        fingerprint = _fingerprint(conn)
        cached = self._clients.get(conn.id)
        if cached and cached[0] == fingerprint:
            return cached[1]
        if cached:
            await cached[1].aclose()
        client = self._build(conn)
        self._clients[conn.id] = (fingerprint, client)
        return client

    def _build(self, conn: ConnectionConfig) -> InvoicingProvider:
        if conn.provider is Provider.FAKTUROWNIA:
            token = conn.credentials["api_token"]
            prefix = normalise_account(conn.options.get("account"), token)
            base = self._settings.fakturownia_url_template.format(prefix=prefix)
            return FakturowniaProvider(
                base_url=base,
                api_token=token,
                options=conn.options,
                timeout=self._settings.provider_timeout_seconds,
            )
        raise UnsupportedProvider(f"provider {conn.provider} is not supported yet")

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
