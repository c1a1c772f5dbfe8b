"""In-memory state of the VIES simulator, shared by the HTTP server and the Python facade.

The server may run on a loop in another thread while a test inspects state, so every access
goes through one re-entrant lock.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from simulators.common.faults import take_fault

from .models import FaultRule, KnownNumber, RequestRecord


@dataclass
class ViesState:
    """Registered numbers (by VAT id), member states whose registry is down, faults, the log."""

    numbers: dict[str, KnownNumber] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    faults: list[FaultRule] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    consultations: itertools.count = field(default_factory=lambda: itertools.count(1))

    def take_fault(self, method: str, path: str, country: str) -> FaultRule | None:
        """The first rule for this call and state, charged one use (see `take_fault`)."""
        with self.lock:
            applicable = [r for r in self.faults if r.country in ("*", country)]
            fault = take_fault(applicable, method, path)
            self.faults = [r for r in self.faults if r.times != 0]
            return fault

    def log(self, method: str, path: str, vat_id: str, status: int | None) -> None:
        with self.lock:
            self.requests.append(RequestRecord(method, path, vat_id, status))

    def consultation_number(self) -> str:
        """A fresh consultation number, shaped like VIES's (`WAPI` + 12 characters)."""
        with self.lock:
            return f"WAPIAAAA{next(self.consultations):08d}"
