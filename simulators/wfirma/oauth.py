"""OAuth 2.0 Authorization Code (reference §1.2): the consent page and the token endpoint.

The consent page (``wfirma.pl/oauth2/auth`` upstream) approves at once and redirects to the
registered ``redirect_uri`` with ``code`` and ``state``. The token endpoint exchanges codes and
refreshes with ROTATION: every refresh token is single-use, so a reused one (the loser of two
parallel refreshes) gets ``invalid_grant``. Error bodies follow RFC 6749 (``{"error": ...}``,
HTTP 400, or 401 for ``invalid_client``): the real shape is UNCONFIRMED.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from .models import SimOAuthApp, TokenRequest
from .state import Grant, SimStore


class OAuthError(Exception):
    """An RFC 6749 error answer of the token endpoint or the consent page."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


# --- consent page ---------------------------------------------------------------------------


def authorize(store: SimStore, query: Mapping[str, str], now: datetime) -> str:
    """The redirect target for a consent request.

    Raises ``OAuthError`` when the client or redirect URI cannot be trusted (no redirect is
    allowed then); other problems are reported to the client through the redirect.
    """
    app = store.oauth.apps.get(query.get("client_id", ""))
    if app is None:
        raise OAuthError("invalid_client", "Nieznana aplikacja (client_id).")
    if query.get("redirect_uri") != app.redirect_uri:
        raise OAuthError("invalid_request", "redirect_uri nie zgadza się z zarejestrowanym.")
    state = query.get("state")
    requested = frozenset(query.get("scope", "").replace(",", " ").split())
    if query.get("response_type") != "code":
        return _redirect(app, state, error="unsupported_response_type")
    if not requested:
        return _redirect(app, state, error="invalid_scope")
    if not requested <= frozenset(app.scopes):
        return _redirect(app, state, error="invalid_scope")
    if not app.auto_approve:
        return _redirect(app, state, error="access_denied")
    code = secrets.token_urlsafe(24)
    store.oauth.codes[code] = Grant(
        code,
        app.client_id,
        app.login,
        requested,
        now + timedelta(seconds=app.code_ttl),
        app.redirect_uri,
    )
    return _redirect(app, state, code=code)


def _redirect(app: SimOAuthApp, state: str | None, **params: str) -> str:
    if state is not None:
        params["state"] = state
    separator = "&" if "?" in app.redirect_uri else "?"
    return f"{app.redirect_uri}{separator}{urlencode(params)}"


# --- token endpoint -------------------------------------------------------------------------


def client_id_of(form: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The client named by the body or by HTTP Basic auth (used to find the login for faults)."""
    return form.get("client_id") or _basic(headers)[0]


def token(
    store: SimStore, form: Mapping[str, str], headers: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """Run one token request, logging it; raises ``OAuthError`` for RFC 6749 errors."""
    grant_type = form.get("grant_type", "")
    client_id = client_id_of(form, headers)
    try:
        app = _client(store, form, headers)
        if grant_type == "authorization_code":
            result = _exchange(store, app, form, now)
        elif grant_type == "refresh_token":
            result = _refresh(store, app, form, now)
        else:
            raise OAuthError(
                "unsupported_grant_type", f"grant_type {grant_type!r} nie jest obsługiwany."
            )
    except OAuthError as exc:
        store.oauth.requests.append(TokenRequest(grant_type, client_id, exc.error, _at(now)))
        raise
    store.oauth.requests.append(TokenRequest(grant_type, client_id, None, _at(now)))
    return result


def _at(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds")


def _basic(headers: Mapping[str, str]) -> tuple[str, str]:
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(value.strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client, _, secret = decoded.partition(":")
    return client, secret


def _client(store: SimStore, form: Mapping[str, str], headers: Mapping[str, str]) -> SimOAuthApp:
    basic_id, basic_secret = _basic(headers)
    client_id = form.get("client_id") or basic_id
    secret = form.get("client_secret") or basic_secret
    app = store.oauth.apps.get(client_id)
    if app is None or not hmac.compare_digest(app.client_secret.encode(), secret.encode()):
        raise OAuthError("invalid_client", "Nieprawidłowy client_id lub client_secret.", 401)
    return app


def _exchange(
    store: SimStore, app: SimOAuthApp, form: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    code = form.get("code", "")
    if not code or not form.get("redirect_uri"):
        raise OAuthError("invalid_request", "Wymagane pola: code, redirect_uri.")
    grant = store.oauth.codes.get(code)
    if grant is None or grant.spent or grant.expires_at <= now or grant.client_id != app.client_id:
        raise OAuthError("invalid_grant", "Kod autoryzacji jest nieprawidłowy lub wygasł.")
    if form["redirect_uri"] != grant.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri nie zgadza się z użytym przy autoryzacji.")
    grant.spent = True
    return issue(store, app, grant.scopes, now)


def _refresh(
    store: SimStore, app: SimOAuthApp, form: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    presented = form.get("refresh_token", "")
    if not presented:
        raise OAuthError("invalid_request", "Wymagane pole: refresh_token.")
    grant = store.oauth.refresh.get(presented)
    if grant is None or grant.spent or grant.expires_at <= now or grant.client_id != app.client_id:
        raise OAuthError(
            "invalid_grant", "Refresh token jest nieprawidłowy, wygasł lub został użyty."
        )
    grant.spent = True  # rotation: this refresh token is now single-use history
    return issue(store, app, grant.scopes, now)


def issue(
    store: SimStore, app: SimOAuthApp, scopes: frozenset[str], now: datetime
) -> dict[str, Any]:
    """A fresh access/refresh pair; ``expires_in`` is the app's configured lifetime."""
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ttl = timedelta(seconds=app.access_token_ttl)
    store.oauth.access[access] = Grant(access, app.client_id, app.login, scopes, now + ttl)
    store.oauth.refresh[refresh] = Grant(
        refresh, app.client_id, app.login, scopes, now + timedelta(seconds=app.refresh_token_ttl)
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": app.access_token_ttl,
        "token_type": "Bearer",  # UNCONFIRMED upstream; the reference suggests adding it
    }


def revoke_refresh_tokens(store: SimStore, login: str) -> None:
    for grant in store.oauth.refresh.values():
        if grant.login == login:
            grant.spent = True


def expire_access_tokens(store: SimStore, login: str, now: datetime) -> None:
    for grant in store.oauth.access.values():
        if grant.login == login:
            grant.expires_at = min(grant.expires_at, now)
