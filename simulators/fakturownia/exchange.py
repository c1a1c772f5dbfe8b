"""Foreign-currency documents: ``exchange_kind: nbp`` converts the VAT into ``exchange_currency``
at NBP table A of the last business day before the sale date (README "Pola faktury"; ksef-2026).

Documented response keys: ``exchange_rate``, ``exchange_rate_den``, ``exchange_date``,
``exchange_difference`` and the auto-generated ``exchange_note`` [S-12]. The note's wording
(here naming the table number) and the absence of a PLN VAT amount field are UNCONFIRMED; the
simulator answers 422 on ``exchange_rate`` when its fixture has no table for the day.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from simulators.common.nbp import rate_for

from .coerce import text_or_none
from .money import format_amount


def exchange_fields(doc: dict[str, Any], tax: Decimal) -> dict[str, Any]:
    currency = doc["currency"]
    kind = doc.get("exchange_kind")
    target = doc.get("exchange_currency") or "PLN"
    empty: dict[str, Any] = {
        "exchange_rate": "1.0",
        "exchange_rate_den": "1.0",
        "exchange_date": None,
        "exchange_note": None,
        "exchange_difference": "0.0",
    }
    if currency == target or kind != "nbp" or target != "PLN":
        return empty  # own rates (`own`) and other banks are not modelled
    tax_point = _day(text_or_none(doc.get("sell_date")) or doc["issue_date"])
    found = rate_for(currency, tax_point)
    if found is None:
        return empty | {"exchange_rate": None, "exchange_rate_den": None}
    return {
        "exchange_rate": format(found.rate, "f"),
        "exchange_rate_den": "1.0",
        "exchange_date": found.date.isoformat(),
        "exchange_note": (
            f"Kurs średni NBP nr {found.table} z dnia {found.date.isoformat()}: "
            f"1 {currency} = {found.rate} PLN; VAT {format_amount(tax * found.rate)} PLN"
        ),
        "exchange_difference": "0.0",
    }


def _day(value: str) -> dt.date:
    """A sale date may be a month (``YYYY-MM``): its last day is the tax point then."""
    if len(value) == 7:
        first = dt.date.fromisoformat(f"{value}-01")
        return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(1)
    return dt.date.fromisoformat(value)
