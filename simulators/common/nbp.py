"""NBP table A as both providers apply it: the average rate of the last Polish business day
before the tax point (art. 31a ustawy o VAT), from a fixture of real published tables.

The simulators compute the rate themselves, as Fakturownia (`exchange_kind: nbp`) and wFirma
(automatically) do, so the worker's own rule (domain/nbp.py) is checked against an independent
implementation. A day the fixture does not hold has no rate: the simulators then answer as
the providers would without one (no conversion), and tests must date their orders inside it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import holidays

FIXTURE = Path(__file__).parent / "data" / "nbp_table_a.json"


@dataclass(frozen=True)
class NbpRate:
    currency: str
    rate: Decimal  # PLN for one unit
    table: str  # e.g. "182/A/NBP/2025"
    date: dt.date  # the table's effective date


@cache
def _tables() -> dict[dt.date, tuple[str, dict[str, Decimal]]]:
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {
        dt.date.fromisoformat(t["effectiveDate"]): (
            t["no"],
            {code: Decimal(value) for code, value in t["rates"].items()},
        )
        for t in raw["tables"]
    }


def business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in holidays.country_holidays("PL", years=day.year)


def previous_business_day(tax_point: dt.date) -> dt.date:
    """The last Polish business day strictly before `tax_point`."""
    day = tax_point - dt.timedelta(days=1)
    while not business_day(day):
        day -= dt.timedelta(days=1)
    return day


def rate_for(currency: str, tax_point: dt.date) -> NbpRate | None:
    """The table A rate that converts `currency` for a tax point, or None outside the fixture."""
    day = previous_business_day(tax_point)
    table = _tables().get(day)
    if table is None or currency not in table[1]:
        return None
    return NbpRate(currency, table[1][currency], table[0], day)
