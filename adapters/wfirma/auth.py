"""How a wFirma request proves who it is: API keys or an OAuth 2.0 bearer token.

The adapter asks for headers before each call and reports an AUTH answer; OAuth credentials
then refresh once (a revoked grant raises ProviderAuthError), API keys cannot.
"""

from __future__ import annotations

from typing import Protocol


class WfirmaAuth(Protocol):
    def query(self) -> dict[str, str]:
        """Query parameters this auth mode needs on every API call."""
        ...

    async def headers(self) -> dict[str, str]:
        """Headers carrying currently valid credentials (refreshing them first if due)."""
        ...

    async def rejected(self, headers: dict[str, str]) -> bool:
        """wFirma answered AUTH to a call made with `headers`. True: retry once with fresh
        credentials; False: nothing to refresh, the credentials are bad."""
        ...


class ApiKeyAuth:
    """`accessKey`/`secretKey` of the seller's account and the integration's `appKey`."""

    def __init__(self, access_key: str, secret_key: str, app_key: str) -> None:
        self._headers = {"accessKey": access_key, "secretKey": secret_key, "appKey": app_key}

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"

    def query(self) -> dict[str, str]:
        return {}

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    async def rejected(self, headers: dict[str, str]) -> bool:
        return False


class AccessTokens(Protocol):
    """A connection's OAuth tokens (see config/tokens.py): one refresh at a time, anywhere."""

    async def access_token(self) -> str:
        """A token valid for a while yet; refreshed first when it is about to expire."""
        ...

    async def refresh_after_rejection(self, rejected_token: str) -> str:
        """A new token after `rejected_token` was refused (unless another task already
        replaced it). Raises ProviderAuthError when the grant is gone (needs reauth)."""
        ...


class OAuthAuth:
    def __init__(self, tokens: AccessTokens) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return "OAuthAuth(***)"

    def query(self) -> dict[str, str]:
        return {"oauth_version": "2"}

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._tokens.access_token()}"}

    async def rejected(self, headers: dict[str, str]) -> bool:
        used = headers.get("Authorization", "").removeprefix("Bearer ")
        await self._tokens.refresh_after_rejection(used)
        return True
