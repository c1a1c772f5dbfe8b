"""Destination VAT rates for EU distance sales under OSS (art. 130a-130d ustawy o VAT).

The rates are data (`domain/data/eu_vat_rates.json`, with its source and date), not code, so a
member state's rate change is a reviewed data edit. A line's category names the rate; where
that is not one known rate the order is refused rather than taxed at a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Literal

from domain.vat_errors import VAT_RATE_UNKNOWN_FOR_COUNTRY, TreatmentRefused

Category = Literal["standard", "reduced"]


@dataclass(frozen=True)
class RateTable:
    source: str
    as_of: str
    standard: dict[str, Decimal]
    reduced: dict[str, tuple[Decimal, ...]]


@cache
def rate_table() -> RateTable:
    raw = json.loads(resources.files("domain").joinpath("data/eu_vat_rates.json").read_text())
    rates = raw["rates"]
    return RateTable(
        source=raw["source"],
        as_of=raw["as_of"],
        standard={c: Decimal(r["standard"]) for c, r in rates.items()},
        reduced={c: tuple(Decimal(x) for x in r["reduced"]) for c, r in rates.items()},
    )


def destination_rate(country: str, category: Category) -> Decimal:
    """The percentage a line of `category` bears in `country` (ISO 3166-1 alpha-2)."""
    table = rate_table()
    if country not in table.standard:
        raise TreatmentRefused(
            VAT_RATE_UNKNOWN_FOR_COUNTRY,
            f"no VAT rates are kept for {country} (EU member states only, as of {table.as_of})",
        )
    if category == "standard":
        return table.standard[country]
    reduced = table.reduced[country]
    if len(reduced) == 1:
        return reduced[0]
    if not reduced:
        why = f"{country} has no reduced VAT rate"
    else:
        listed = ", ".join(f"{r} %" for r in reduced)
        why = f"{country} has several reduced VAT rates ({listed}); the category does not say which"
    raise TreatmentRefused(
        VAT_RATE_UNKNOWN_FOR_COUNTRY, f"a line of category 'reduced' shipped to {country}: {why}"
    )
