"""wFirma's OAuth 2.0 endpoints: the consent URL, the code exchange and the refresh.

Lifetimes come from `expires_in` in every answer, never from constants. A refresh may rotate
the refresh token; the caller must store the one returned (config/tokens.py does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from adapters.tls import shared_tls
from domain.ports import ProviderAuthError, ProviderUnavailable

# What the seller registers with the app (the setup guide's list): one `{module}-read` or
# `-write` scope per module the adapter calls (doc.wfirma.pl "Uprawnienia aplikacji"), so
# `series/find` (mapping targets) needs `series-read` and `user_companies/find` (verify)
# `user_companies-read` (a scope zalazdi/wfirma `OAuthClient.php` lists). docs/adr/0009.
SCOPES = (
    "contractors-read",
    "contractors-write",
    "invoices-read",
    "invoices-write",
    "series-read",
    "user_companies-read",
)


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str | None
    expires_in: float

    def __repr__(self) -> str:
        return f"TokenGrant(expires_in={self.expires_in})"


class GrantRevoked(ProviderAuthError):
    """The authorization (or refresh token) is no longer valid: the seller must reconnect."""


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uri: str

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r})"

    @classmethod
    def from_connection(cls, credentials: dict[str, str], options: dict[str, object]) -> OAuthApp:
        try:
            return cls(
                credentials["client_id"], credentials["client_secret"], str(options["redirect_uri"])
            )
        except KeyError as exc:
            raise ValueError(
                f"the wFirma connection lacks {exc.args[0]}: OAuth needs "
                "credentials.client_id, credentials.client_secret and "
                "options.redirect_uri"
            ) from exc


class OAuthClient:
    def __init__(
        self,
        app: OAuthApp,
        *,
        api_url: str,
        auth_url: str,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.app = app
        self._auth_url = auth_url
        self._token_url = f"{api_url.rstrip('/')}/oauth2/token"
        self._http = httpx.AsyncClient(
            timeout=timeout, transport=transport, follow_redirects=False, verify=shared_tls()
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def authorization_url(self, state: str, scopes: Iterable[str] = SCOPES) -> str:
        """Where the seller clicks "Generate": wFirma asks for consent, then redirects back."""
        query = {
            "response_type": "code",
            "client_id": self.app.client_id,
            "scope": " ".join(dict.fromkeys(scopes)),  # an extra scope may repeat a default
            "redirect_uri": self.app.redirect_uri,
            "state": state,
        }
        return f"{self._auth_url}?{urlencode(query)}"

    async def exchange_code(self, code: str) -> TokenGrant:
        return await self._grant(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.app.redirect_uri,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenGrant:
        return await self._grant({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _grant(self, form: dict[str, str]) -> TokenGrant:
        form |= {"client_id": self.app.client_id, "client_secret": self.app.client_secret}
        try:
            response = await self._http.post(
                self._token_url, params={"oauth_version": "2"}, data=form
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"wFirma token endpoint unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(f"wFirma token endpoint answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailable("wFirma token endpoint answered non-JSON") from exc
        if response.status_code >= 400 or "access_token" not in body:
            error = body.get("error", "unknown") if isinstance(body, dict) else "unknown"
            raise GrantRevoked(
                "wFirma refused the authorization: reconnect the wFirma account (click "
                "Generate to authorize the app again)",
                detail=f"token endpoint: {error}",
            )
        return TokenGrant(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_in=float(body.get("expires_in") or 3600),
        )
