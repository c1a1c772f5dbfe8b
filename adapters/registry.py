"""Builds (and reuses) one provider client per connection.

A client is rebuilt when the connection's credentials or options change, so an `apply` or a
reconnect takes effect without restarting the worker. Rate limiters live per connection and
survive rebuilds: the provider's budget does not reset because our settings changed.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.ext.asyncio import async_sessionmaker

from adapters.fakturownia import FakturowniaProvider, normalise_account
from adapters.wfirma import ApiKeyAuth, OAuthAuth, RateLimiter, WfirmaAuth, WfirmaProvider
from adapters.wfirma.oauth import OAuthApp, OAuthClient
from config.settings import Settings, secret_box
from config.store import ConnectionConfig
from config.tokens import ConnectionTokens, TokenStore
from domain.ports import InvoicingProvider, ProviderAuthError
from schemas.invoices import Provider


def wfirma_oauth_client(settings: Settings, app: OAuthApp) -> OAuthClient:
    return OAuthClient(
        app,
        api_url=settings.wfirma_api_url,
        auth_url=settings.wfirma_auth_url,
        timeout=settings.provider_timeout_seconds,
    )


class UnsupportedProvider(LookupError):
    pass


def _fingerprint(conn: ConnectionConfig) -> str:
    blob = json.dumps([conn.credentials, conn.options], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ProviderRegistry:
    def __init__(self, settings: Settings, sessions: async_sessionmaker) -> None:
        self._settings = settings
        self._sessions = sessions
        self._clients: dict[int, tuple[str, InvoicingProvider]] = {}
        self._closers: dict[int, list[OAuthClient]] = {}
        self._limiters: dict[int, RateLimiter] = {}

    async def for_connection(self, conn: ConnectionConfig) -> InvoicingProvider:
        fingerprint = _fingerprint(conn)
        cached = self._clients.get(conn.id)
        if cached and cached[0] == fingerprint:
            return cached[1]
        if cached:
            await self._close(conn.id)
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
        if conn.provider is Provider.WFIRMA:
            company = conn.options.get("company_id")
            return WfirmaProvider(
                base_url=self._settings.wfirma_api_url,
                auth=self._wfirma_auth(conn),
                company_id=int(company) if company else None,
                options=conn.options,
                timeout=self._settings.provider_timeout_seconds,
                limiter=self._limiter(conn.id),
            )
        raise UnsupportedProvider(f"provider {conn.provider} is not supported")

    def _wfirma_auth(self, conn: ConnectionConfig) -> WfirmaAuth:
        creds = conn.credentials
        if "access_key" in creds:
            app_key = self._settings.wfirma_app_key
            if app_key is None:
                raise ProviderAuthError(
                    "wFirma API-key connections need the integration's "
                    "appKey: set INVOICE_ROUTER_WFIRMA_APP_KEY"
                )
            return ApiKeyAuth(creds["access_key"], creds["secret_key"], app_key.get_secret_value())
        oauth = wfirma_oauth_client(self._settings, OAuthApp.from_connection(creds, conn.options))
        self._closers.setdefault(conn.id, []).append(oauth)
        store = TokenStore(self._sessions, secret_box(self._settings))
        return OAuthAuth(ConnectionTokens(store, conn.id, oauth.refresh))

    def _limiter(self, connection_id: int) -> RateLimiter:
        if connection_id not in self._limiters:
            s = self._settings
            self._limiters[connection_id] = RateLimiter.for_processes(
                s.worker_processes,
                (
                    (15.0, s.wfirma_requests_per_15s),
                    (60.0, s.wfirma_requests_per_minute),
                    (3600.0, s.wfirma_requests_per_hour),
                ),
            )
        return self._limiters[connection_id]

    async def _close(self, connection_id: int) -> None:
        _, client = self._clients.pop(connection_id)
        await client.aclose()
        for oauth in self._closers.pop(connection_id, []):
            await oauth.aclose()

    async def aclose(self) -> None:
        for connection_id in list(self._clients):
            await self._close(connection_id)
