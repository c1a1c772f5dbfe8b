"""What a VIES check answered, as the VAT decision needs it.

Its own tiny module so the VIES adapter and cache need not import the whole VAT decision
(`domain/vat.py` re-exports it). A WDT needs a positive answer given at the time of supply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ViesResult:
    """A definite answer of VIES for one VAT id (also cached per id per Polish day)."""

    vat_id: str  # with country prefix, e.g. "DE123456789"
    valid: bool
    checked_at: datetime  # aware UTC
    name: str | None = None
    request_id: str | None = None  # VIES consultation number, when the service gives one
