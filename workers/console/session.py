"""Console sign-in: the operator proves the API token once and gets a session cookie.

The cookie carries a random session id only (never the token), HttpOnly so page scripts cannot
read it, SameSite=Strict so no other site's page can make the browser send it, Secure when the
console is served over TLS, and expires with the session. Sessions live in the API process's
memory: signing out deletes one at once, and a restart signs everyone out (which is safe).
Every state-changing form carries the session's CSRF token, compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from config.clock import utcnow

COOKIE = "ir_console"
PATH = "/console"


class SignInRequired(Exception):
    """No valid session: pages answer with the sign-in page, forms with 403."""


class CsrfRefused(Exception):
    """A state-changing form without the session's CSRF token."""


@dataclass
class Session:
    id: str
    csrf: str
    operator: str
    expires_at: dt.datetime


class SessionStore:
    def __init__(self, lifetime: dt.timedelta) -> None:
        self.lifetime = lifetime
        self._sessions: dict[str, Session] = {}

    def open(self, operator: str) -> Session:
        now = utcnow()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), operator, now + self.lifetime
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        found = self._sessions.get(session_id or "")
        if found is None or found.expires_at <= utcnow():
            return None
        return found

    def close(self, session_id: str | None) -> None:
        self._sessions.pop(session_id or "", None)


def store(request: Request) -> SessionStore:
    return request.app.state.console_sessions


def current(request: Request) -> Session | None:
    return store(request).get(request.cookies.get(COOKIE))


def signed_in(request: Request) -> Session:
    """Dependency of every console page and form except sign-in."""
    session = current(request)
    if session is None:
        raise SignInRequired
    return session


async def checked_form(request: Request) -> Session:
    """Dependency of every state-changing form: a session and its CSRF token."""
    session = signed_in(request)
    given = (await request.form()).get("csrf")
    if not isinstance(given, str) or not hmac.compare_digest(given, session.csrf):
        raise CsrfRefused
    return session


def set_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(store(request).lifetime.total_seconds()),
        path=PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
