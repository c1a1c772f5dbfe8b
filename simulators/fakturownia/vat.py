"""VAT codes and the gross-based VAT arithmetic Fakturownia applies to marketplace invoices.

Lines arrive with gross totals. Each line's net is derived from its own gross, but document
totals are computed per VAT-rate group from the summed gross of the group (the "sum of gross"
method), so a document's net can differ from the sum of its lines' nets by a grosz.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .money import parse_decimal, round_half_up

NUMERIC_RATES: frozenset[Decimal] = frozenset(
    Decimal(r) for r in ("23", "22", "8", "7", "5", "4", "3", "0")
)
OSS_MAX_RATE = Decimal(27)  # Hungary's standard rate, the EU's highest
ZERO_VAT_CODES: frozenset[str] = frozenset({"zw", "np", "oo", "disabled", "0"})
_ALIASES: dict[str, str] = {
    "zw": "zw",
    "oo": "oo",
    "disabled": "disabled",
    "np": "np",
    "n/a": "np",
    "na": "np",
    "nie podlega": "np",
    "not applicable": "np",
}


def normalize_tax(value: object, *, oss: bool = False) -> str:
    """Map a request ``tax`` value to its response code ("23", "zw", "np"...); ValueError if bad.

    An OSS document (``use_oss``) carries the destination country's rates (e.g. FR 20, IE 13.5),
    so any rate up to the EU's highest (27 %) is accepted there; elsewhere Polish rates only.
    """
    if isinstance(value, str) and value.strip().lower() in _ALIASES:
        return _ALIASES[value.strip().lower()]
    text = value.strip().rstrip("%") if isinstance(value, str) else value
    rate = parse_decimal(text)
    if oss and Decimal(0) <= rate <= OSS_MAX_RATE:
        return format(rate.normalize(), "f")
    if rate not in NUMERIC_RATES:
        raise ValueError(f"unknown VAT rate: {value!r}")
    return str(int(rate))


def rate_fraction(code: str) -> Decimal:
    """The multiplier part of a code: 0.23 for "23", zero for exempt and out-of-scope codes."""
    return Decimal(0) if code in ZERO_VAT_CODES else Decimal(code) / 100


def net_from_gross(gross: Decimal, code: str) -> Decimal:
    return round_half_up(gross / (1 + rate_fraction(code)))


@dataclass(frozen=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal


def document_totals(lines: Iterable[tuple[str, Decimal]]) -> Totals:
    """Sum ``(code, line_gross)`` pairs per VAT group, then across groups."""
    groups: dict[str, Decimal] = {}
    for code, gross in lines:
        groups[code] = groups.get(code, Decimal(0)) + gross
    net = sum((net_from_gross(g, c) for c, g in groups.items()), Decimal(0))
    gross = sum(groups.values(), Decimal(0))
    return Totals(net=net, tax=gross - net, gross=gross)
