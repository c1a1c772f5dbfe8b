"""In-memory state shared by the HTTP server and the in-process Python API.

As in the Fakturownia simulator, the server may run on a loop in another thread while a test
inspects state, so every access goes through one re-entrant lock and handlers run under it.
Time comes from ``SimClock`` so token expiry, KSeF delays and rate windows can be fast-forwarded.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulators.fakturownia.clock import Clock
from simulators.fakturownia.state import IdSequence

from .models import (
    FaultRule,
    RequestRecord,
    SentEmail,
    SimCompany,
    SimLogin,
    SimOAuthApp,
    TokenRequest,
)


class SimClock:
    """The injected wall clock plus an offset moved by ``advance``."""

    def __init__(self, base: Clock) -> None:
        self._base = base
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return self._base() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._offset += timedelta(seconds=seconds)


@dataclass
class CompanyState:
    """One company's books as seen by one login; ``invoices`` keep creation order."""

    config: SimCompany
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    contractors: dict[int, dict[str, Any]] = field(default_factory=dict)
    emails: list[SentEmail] = field(default_factory=list)
    counters: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def clear(self) -> None:
        self.__dict__.update(CompanyState(config=self.config).__dict__)


@dataclass
class LoginState:
    config: SimLogin
    companies: dict[int, CompanyState] = field(default_factory=dict)
    selected_company_id: int | None = None
    faults: list[FaultRule] = field(default_factory=list)
    ksef_rules: list[FaultRule] = field(default_factory=list)  # taken by invoices/add only
    requests: list[RequestRecord] = field(default_factory=list)
    memberships: dict[int, int] = field(default_factory=dict)

    def configure(self, config: SimLogin) -> None:
        """Apply (new) settings, keeping the data of companies that still exist."""
        self.config = config
        previous = self.companies
        self.companies = {c.id: _reconfigured(previous.get(c.id), c) for c in config.companies}
        first = config.companies[0].id if config.companies else None
        self.selected_company_id = config.selected_company_id or first

    def clear(self) -> None:
        for company in self.companies.values():
            company.clear()
        self.faults.clear()
        self.ksef_rules.clear()
        self.requests.clear()
        self.selected_company_id = self.config.selected_company_id or next(
            iter(self.companies), None
        )


def _reconfigured(existing: CompanyState | None, config: SimCompany) -> CompanyState:
    if existing is None:
        return CompanyState(config=config)
    existing.config = config
    return existing


@dataclass
class Grant:
    """What an authorisation code or token stands for: an app, its login and granted scopes."""

    token: str
    client_id: str
    login: str
    scopes: frozenset[str]
    expires_at: datetime
    redirect_uri: str = ""
    spent: bool = False


@dataclass
class OAuthState:
    apps: dict[str, SimOAuthApp] = field(default_factory=dict)
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    requests: list[TokenRequest] = field(default_factory=list)

    def clear_tokens(self) -> None:
        for store in (self.codes, self.access, self.refresh):
            store.clear()
        self.requests.clear()


class SimStore:
    """All logins, OAuth state, id sequences, limiter windows, and the lock that guards them."""

    def __init__(self, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.clock = SimClock(clock)
        self.logins: dict[str, LoginState] = {}
        self.oauth = OAuthState()
        self.invoice_ids = IdSequence(421_300_001)
        self.line_ids = IdSequence(880_001)
        self.contractor_ids = IdSequence(45_678_901)
        self.snapshot_ids = IdSequence(9_100_001)
        self.membership_ids = IdSequence(3_300_001)
        self.rate_windows: dict[tuple[str, ...], deque[float]] = {}
        self.auth_failures: dict[str, deque[float]] = {}
        self.auth_blocked_until: dict[str, float] = {}

    def now(self) -> datetime:
        return self.clock.now()

    def login(self, name: str) -> LoginState:
        """Look up a login for the Python API; KeyError names the missing login."""
        with self.lock:
            try:
                return self.logins[name]
            except KeyError:
                raise KeyError(f"no simulated login {name!r}") from None

    def company(self, login: str, company_id: int | None) -> CompanyState:
        """A login's company; ``None`` means the company currently selected in the panel."""
        state = self.login(login)
        chosen = state.selected_company_id if company_id is None else company_id
        try:
            return state.companies[chosen]  # type: ignore[index]
        except KeyError:
            raise KeyError(f"login {login!r} has no company {chosen!r}") from None

    def put_login(self, config: SimLogin) -> None:
        with self.lock:
            state = self.logins.get(config.login) or LoginState(config=config)
            state.configure(config)
            self.logins[config.login] = state

    def reset_limits(self) -> None:
        self.rate_windows.clear()
        self.auth_failures.clear()
        self.auth_blocked_until.clear()
