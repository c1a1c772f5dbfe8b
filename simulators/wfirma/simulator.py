"""``WfirmaSimulator``: the in-process facade tests use to configure, serve and inspect.

Shaped like ``FakturowniaSimulator`` (configure, inject faults, read state, ``serve`` /
``serve_in_thread``). All reads return copies, so assertions never race with the server thread.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from aiohttp import web

from simulators.common.serving import Served
from simulators.fakturownia.clock import Clock, warsaw_now

from . import ksef, oauth
from .control import add_control_routes
from .models import (
    KSEF_ACTIONS,
    FaultRule,
    RequestRecord,
    SentEmail,
    SimLogin,
    SimOAuthApp,
    TokenRequest,
)
from .rendering import refresh, render_invoice
from .server import WfirmaServer
from .state import SimStore


class WfirmaSimulator(Served):
    """A faithful local stand-in for wFirma API2 and its OAuth 2.0 pages.

    ``clock`` returns the current Polish local time (aware datetime); ``advance`` moves the
    simulator's time forward on top of it (token expiry, KSeF delay, rate windows).
    ``auth_error_status`` is the HTTP status of ``AUTH`` answers: 200 by default (the body-first
    model), 401 to emulate the other UNCONFIRMED possibility (reference §1.5).
    ``shutdown_timeout`` bounds how long stopping waits for requests stuck in a hang fault.
    ``serve`` and ``serve_in_thread`` come from ``Served``.
    """

    _thread_name = "wfirma-simulator"

    def __init__(
        self,
        *,
        clock: Clock = warsaw_now,
        auth_error_status: int = 200,
        shutdown_timeout: float = 0.5,
    ) -> None:
        self._store = SimStore(clock)
        self._auth_error_status = auth_error_status
        self._shutdown_timeout = shutdown_timeout

    # --- configuration -------------------------------------------------------------------

    def add_login(self, login: SimLogin) -> None:
        """Add a login, or replace its settings keeping the data of companies it still has."""
        self._store.put_login(copy.deepcopy(login))

    def login(self, name: str) -> SimLogin:
        return copy.deepcopy(self._store.login(name).config)

    def logins(self) -> list[SimLogin]:
        with self._store.lock:
            return [copy.deepcopy(s.config) for s in self._store.logins.values()]

    def add_oauth_app(self, app: SimOAuthApp) -> None:
        """Register a verified OAuth app (replacing one with the same ``client_id``)."""
        with self._store.lock:
            self._store.oauth.apps[app.client_id] = copy.deepcopy(app)

    def oauth_apps(self) -> list[SimOAuthApp]:
        with self._store.lock:
            return [copy.deepcopy(a) for a in self._store.oauth.apps.values()]

    def select_company(self, login: str, company_id: int) -> None:
        """Switch the company "last selected in the web panel" (used without ``company_id``)."""
        with self._store.lock:
            state = self._store.login(login)
            if company_id not in state.companies:
                raise KeyError(f"login {login!r} has no company {company_id}")
            state.selected_company_id = company_id

    def add_fault(self, login: str, rule: FaultRule) -> None:
        """Queue a fault for the login's requests; rules are tried in the order added.

        ``ksef_*`` rules go to their own queue: only documents sent to KSeF consume them."""
        with self._store.lock:
            state = self._store.login(login)
            queue = state.ksef_rules if rule.action in KSEF_ACTIONS else state.faults
            queue.append(copy.deepcopy(rule))

    def clear_faults(self, login: str) -> None:
        with self._store.lock:
            self._store.login(login).faults.clear()
            self._store.login(login).ksef_rules.clear()

    def revoke_refresh_tokens(self, login: str) -> None:
        """Every refresh token of the login answers ``invalid_grant`` from now on."""
        with self._store.lock:
            self._store.login(login)
            oauth.revoke_refresh_tokens(self._store, login)

    def expire_access_tokens(self, login: str) -> None:
        """Every access token of the login is expired now (calls answer ``AUTH``)."""
        with self._store.lock:
            self._store.login(login)
            oauth.expire_access_tokens(self._store, login, self._store.now())

    def advance(self, seconds: float) -> None:
        with self._store.lock:
            self._store.clock.advance(seconds)

    def now(self) -> datetime:
        return self._store.now()

    def complete_ksef(self, login: str, company_id: int | None = None) -> None:
        """Run every pending document's KSeF plan to its end now, instead of waiting for the
        delays (a ``ksef_never`` document stays waiting)."""
        with self._store.lock:
            company = self._store.company(login, company_id)
            for doc in company.invoices.values():
                ksef.refresh(company.config, doc, self._store.now(), force=True)

    def reset(self, *, logins: bool = False) -> None:
        """Forget documents, tokens, e-mails, logs, budgets and faults; ``logins=True`` drops
        logins and OAuth apps too. The clock keeps its offset (time never goes back)."""
        with self._store.lock:
            self._store.oauth.clear_tokens()
            self._store.reset_limits()
            if logins:
                self._store.logins.clear()
                self._store.oauth.apps.clear()
            for state in self._store.logins.values():
                state.clear()

    # --- inspection ----------------------------------------------------------------------

    def invoices(self, login: str, company_id: int | None = None) -> list[dict[str, Any]]:
        """Stored documents in creation order, shaped like an ``invoices/get`` record."""
        with self._store.lock:
            company = self._store.company(login, company_id)
            refresh(company, self._store.now())
            return [render_invoice(company, doc) for doc in company.invoices.values()]

    def contractors(self, login: str, company_id: int | None = None) -> list[dict[str, Any]]:
        with self._store.lock:
            company = self._store.company(login, company_id)
            return copy.deepcopy(list(company.contractors.values()))

    def sent_emails(self, login: str, company_id: int | None = None) -> list[SentEmail]:
        with self._store.lock:
            return list(self._store.company(login, company_id).emails)

    def token_requests(self) -> list[TokenRequest]:
        with self._store.lock:
            return list(self._store.oauth.requests)

    def request_log(self, login: str) -> list[RequestRecord]:
        with self._store.lock:
            return list(self._store.login(login).requests)

    # --- serving -------------------------------------------------------------------------

    def app(self) -> web.Application:
        """A new aiohttp application over this simulator's state (control API included)."""
        server = WfirmaServer(self._store, self._auth_error_status)
        app = web.Application()
        add_control_routes(app, self)
        app.router.add_get("/oauth2/auth", server.authorize)
        app.router.add_route("*", "/oauth2/token", server.token)
        app.router.add_route("*", "/{tail:.*}", server.api)
        return app
