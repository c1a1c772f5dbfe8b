"""API token checks (reference §1.1): query ``api_token``, JSON ``api_token`` or Bearer header."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from .state import AccountState


def presented_token(
    query: Mapping[str, str], body: Mapping[str, Any], headers: Mapping[str, str]
) -> str | None:
    """First token found, in the order query, JSON body, ``Authorization: Bearer``."""
    for candidate in (query.get("api_token"), body.get("api_token")):
        if isinstance(candidate, str) and candidate:
            return candidate
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def is_authorized(state: AccountState | None, token: str | None) -> bool:
    """Unknown accounts and revoked tokens fail exactly like a wrong token (401)."""
    if state is None or state.revoked or token is None:
        return False
    return hmac.compare_digest(token.encode(), state.config.api_token.encode())
