"""In-memory state of the simulator, shared by the HTTP server and the in-process Python API.

The server may run on a loop in another thread while a test inspects state from the main
thread, so every access goes through one re-entrant lock. Handlers are synchronous and run
entirely under it; only deliberate fault sleeps happen outside.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from .ksef_rules import KsefRule, Step
from .models import FaultRule, KsefSend, RequestRecord, SentEmail, SimAccount, WebhookDelivery


class IdSequence:
    """Monotonic numeric ids; never reset, so a stale id from an old test cannot resurface."""

    def __init__(self, start: int) -> None:
        self._counter = itertools.count(start)

    def next(self) -> int:
        return next(self._counter)


@dataclass
class KsefTrack:
    """A document's KSeF progress: the path it follows, how often it was sent, and the
    transitions still pending (the first one is due at ``due``, a ``time.monotonic`` value)."""

    rule: KsefRule
    sends: int = 0
    steps: list[Step] = field(default_factory=list)
    due: float = 0.0


@dataclass
class AccountState:
    """Everything one account owns. ``invoices`` keep creation order; ids are global.

    KSeF: ``ksef_invalid`` holds documents saved with compliance errors (they fail every send),
    ``ksef_numbers`` maps each KSeF number KSeF accepted to its document (the ``gov_id``
    search), ``webhook_outbox`` holds webhook payloads not yet POSTed.
    """

    config: SimAccount
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    clients: dict[int, dict[str, Any]] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    emails: list[SentEmail] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    faults: list[FaultRule] = field(default_factory=list)
    ksef_tracks: dict[int, KsefTrack] = field(default_factory=dict)
    ksef_rules: list[KsefRule] = field(default_factory=list)
    ksef_invalid: set[int] = field(default_factory=set)
    ksef_numbers: dict[str, int] = field(default_factory=dict)
    ksef_sends: list[KsefSend] = field(default_factory=list)
    webhook_outbox: list[dict[str, Any]] = field(default_factory=list)
    webhook_log: list[WebhookDelivery] = field(default_factory=list)
    revoked: bool = False

    def clear(self) -> None:
        """Forget all data but keep the configuration (and give the token back)."""
        fresh = AccountState(config=self.config)
        self.__dict__.update(fresh.__dict__)


class SimStore:
    """All accounts plus the id sequences and the lock that guards them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, AccountState] = {}
        self.invoice_ids = IdSequence(100_000_001)
        self.position_ids = IdSequence(500_000_001)
        self.client_ids = IdSequence(900_000_001)

    def account(self, prefix: str) -> AccountState:
        """Look up an account for the Python API; KeyError names the missing prefix."""
        with self.lock:
            try:
                return self.accounts[prefix]
            except KeyError:
                raise KeyError(f"no simulated account with prefix {prefix!r}") from None

    def put_account(self, config: SimAccount) -> None:
        """Add an account, or replace the settings of an existing one keeping its data."""
        with self.lock:
            existing = self.accounts.get(config.prefix)
            if existing is None:
                self.accounts[config.prefix] = AccountState(config=config)
            else:
                existing.config = config
