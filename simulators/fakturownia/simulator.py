"""``FakturowniaSimulator``: the in-process facade tests use to configure, serve and inspect.

All reads return copies, so assertions never race with the server thread mutating state.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from simulators.common.serving import Served

from . import ksef
from .clock import Clock, warsaw_now
from .control import add_control_routes
from .ksef_rules import KsefRule
from .models import FaultRule, KsefSend, RequestRecord, SentEmail, SimAccount, WebhookDelivery
from .rendering import render_invoice
from .server import AccountApi
from .state import AccountState, SimStore
from .webhook_pump import WebhookPump


class FakturowniaSimulator(Served):
    """A faithful local stand-in for one or more Fakturownia accounts.

    ``clock`` returns the current Polish local time (aware datetime); ``shutdown_timeout`` bounds
    how long stopping the server waits for requests stuck in ``hang_after_commit``. ``serve`` and
    ``serve_in_thread`` come from ``Served``.
    """

    _thread_name = "fakturownia-simulator"

    def __init__(self, *, clock: Clock = warsaw_now, shutdown_timeout: float = 0.5) -> None:
        self._store = SimStore()
        self._clock = clock
        self._shutdown_timeout = shutdown_timeout

    # --- configuration -------------------------------------------------------------------

    def add_account(self, account: SimAccount) -> None:
        """Add an account, or replace the settings of an existing prefix keeping its data."""
        self._store.put_account(account)

    def account(self, prefix: str) -> SimAccount:
        return copy.deepcopy(self._store.account(prefix).config)

    def accounts(self) -> list[SimAccount]:
        with self._store.lock:
            return [copy.deepcopy(s.config) for s in self._store.accounts.values()]

    def add_fault(self, prefix: str, rule: FaultRule) -> None:
        """Queue a fault; rules are tried in the order they were added."""
        with self._store.lock:
            self._store.account(prefix).faults.append(copy.copy(rule))

    def clear_faults(self, prefix: str) -> None:
        with self._store.lock:
            self._store.account(prefix).faults.clear()

    def revoke_token(self, prefix: str) -> None:
        """Make the account's token invalid from now on (every call answers 401)."""
        with self._store.lock:
            self._store.account(prefix).revoked = True

    def complete_ksef(self, prefix: str) -> None:
        """Run every pending KSeF transition now instead of waiting for its delay."""
        with self._store.lock:
            ksef.refresh(self._store.account(prefix), self._clock(), force=True)

    def add_ksef_rule(self, prefix: str, rule: KsefRule) -> None:
        """Script the KSeF path of the next matching document(s); rules are tried in order."""
        with self._store.lock:
            self._store.account(prefix).ksef_rules.append(copy.copy(rule))

    def clear_ksef_rules(self, prefix: str) -> None:
        with self._store.lock:
            self._store.account(prefix).ksef_rules.clear()

    def reset(self, *, accounts: bool = False) -> None:
        """Forget documents, clients, e-mails, logs and faults; ``accounts=True`` drops accounts."""
        with self._store.lock:
            if accounts:
                self._store.accounts.clear()
            for state in self._store.accounts.values():
                state.clear()

    # --- inspection ----------------------------------------------------------------------

    def invoices(self, prefix: str) -> list[dict[str, Any]]:
        """Stored documents in creation order, shaped like ``GET /invoices/{id}.json``."""
        with self._store.lock:
            state = self._fresh(prefix)
            return [render_invoice(doc) for doc in state.invoices.values()]

    def clients(self, prefix: str) -> list[dict[str, Any]]:
        with self._store.lock:
            return copy.deepcopy(list(self._store.account(prefix).clients.values()))

    def sent_emails(self, prefix: str) -> list[SentEmail]:
        with self._store.lock:
            return list(self._store.account(prefix).emails)

    def request_log(self, prefix: str) -> list[RequestRecord]:
        with self._store.lock:
            return list(self._store.account(prefix).requests)

    def ksef_sends(self, prefix: str) -> list[KsefSend]:
        """Every send to KSeF so far, so a test can prove a document was never re-sent."""
        with self._store.lock:
            return list(self._store.account(prefix).ksef_sends)

    def webhook_deliveries(self, prefix: str) -> list[WebhookDelivery]:
        with self._store.lock:
            return list(self._store.account(prefix).webhook_log)

    def _fresh(self, prefix: str) -> AccountState:
        state = self._store.account(prefix)
        ksef.refresh(state, self._clock())
        return state

    # --- serving -------------------------------------------------------------------------

    def app(self) -> web.Application:
        """A new aiohttp application over this simulator's state (control API included)."""
        app = web.Application()
        app.cleanup_ctx.append(WebhookPump(self._store, self._clock).cleanup_ctx)
        add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", AccountApi(self._store, self._clock).handle)
        return app
