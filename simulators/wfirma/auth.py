"""Who is calling (reference §1): API-key headers, or a Bearer token with ``oauth_version=2``.

API keys need all three headers (``accessKey``, ``secretKey``, ``appKey``) and grant every
scope. OAuth needs the Bearer header *and* the query flag; a Bearer without ``oauth_version=2``
is answered ``AUTH`` (UNCONFIRMED, the reference's suggested choice). Repeated API-key failures
for one ``accessKey`` (5 within 5 minutes, UNCONFIRMED numbers) lock it for 5 minutes with
``AUTH FAILED LIMIT WAIT 5 MINUTES``.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import AUTH, AUTH_FAILED_LIMIT, ApiError
from .models import SimApiKey
from .state import SimStore

FAILED_LOGIN_LIMIT = 5
FAILED_LOGIN_WINDOW_S = 300.0
LOCKOUT_S = 300.0


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    app_key: str
    bearer: str
    oauth: bool

    @classmethod
    def presented(cls, headers: Mapping[str, str], query: Mapping[str, str]) -> Credentials:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        return cls(
            access_key=headers.get("accessKey", "").strip(),
            secret_key=headers.get("secretKey", "").strip(),
            app_key=headers.get("appKey", "").strip(),
            bearer=token.strip() if scheme.lower() == "bearer" else "",
            oauth=query.get("oauth_version") == "2",
        )


@dataclass(frozen=True)
class Identity:
    """An authenticated caller; ``scopes is None`` means API-key access (no scope limits)."""

    login: str
    app: str
    scopes: frozenset[str] | None


def claimed_login(store: SimStore, creds: Credentials) -> str | None:
    """The login the credentials point at, valid or not (faults strike before the auth check)."""
    if creds.bearer:
        grant = store.oauth.access.get(creds.bearer)
        return grant.login if grant else None
    for name, state in store.logins.items():
        if any(k.access_key == creds.access_key for k in state.config.api_keys):
            return name
    return None


def authenticate(store: SimStore, creds: Credentials, now: datetime, http_status: int) -> Identity:
    """The caller's identity, or ``ApiError(AUTH...)`` with the configured HTTP status."""
    if creds.bearer or creds.oauth:
        return _oauth(store, creds, now, http_status)
    return _api_key(store, creds, now.timestamp(), http_status)


def _oauth(store: SimStore, creds: Credentials, now: datetime, http_status: int) -> Identity:
    grant = store.oauth.access.get(creds.bearer) if creds.bearer else None
    if not creds.oauth or grant is None or grant.spent or grant.expires_at <= now:
        raise ApiError(AUTH, http_status=http_status)
    if grant.login not in store.logins:
        raise ApiError(AUTH, http_status=http_status)
    return Identity(grant.login, grant.client_id, grant.scopes)


def _api_key(store: SimStore, creds: Credentials, moment: float, http_status: int) -> Identity:
    if not (creds.access_key and creds.secret_key and creds.app_key):
        raise ApiError(AUTH, http_status=http_status)
    if store.auth_blocked_until.get(creds.access_key, 0.0) > moment:
        raise ApiError(AUTH_FAILED_LIMIT, http_status=http_status)
    for name, state in store.logins.items():
        for key in state.config.api_keys:
            if key.access_key == creds.access_key and _matches(key, creds):
                store.auth_failures.pop(creds.access_key, None)
                return Identity(name, key.app_key, None)
    _record_failure(store, creds.access_key, moment)
    raise ApiError(AUTH, http_status=http_status)


def _matches(key: SimApiKey, creds: Credentials) -> bool:
    return _same(key.secret_key, creds.secret_key) and _same(key.app_key, creds.app_key)


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _record_failure(store: SimStore, access_key: str, moment: float) -> None:
    failures = store.auth_failures.setdefault(access_key, deque())
    failures.append(moment)
    while failures and failures[0] <= moment - FAILED_LOGIN_WINDOW_S:
        failures.popleft()
    if len(failures) >= FAILED_LOGIN_LIMIT:
        store.auth_blocked_until[access_key] = moment + LOCKOUT_S
        failures.clear()
