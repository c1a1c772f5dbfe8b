"""Gross-based money arithmetic, to the grosz.

Marketplace prices are gross. Polish invoices may compute VAT from the gross sum of each rate
group (art. 106e ust. 2 / "od brutto"), so net = round(gross / (1 + r)), VAT = gross - net per
rate group. Rounding is ROUND_HALF_UP, as Polish accounting practice and the providers use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from schemas.common import VatRate

GROSZ = Decimal("0.01")


def to_grosz(amount: Decimal) -> Decimal:
    return amount.quantize(GROSZ, rounding=ROUND_HALF_UP)


def line_gross(quantity: Decimal, unit_price_gross: Decimal) -> Decimal:
    return to_grosz(quantity * unit_price_gross)


def net_from_gross(gross: Decimal, rate: VatRate) -> Decimal:
    return to_grosz(gross / (1 + rate.percent / 100))


@dataclass(frozen=True)
class DocumentTotals:
    net: Decimal
    vat: Decimal
    gross: Decimal


def totals_by_rate_group(lines: Iterable[tuple[Decimal, VatRate]]) -> DocumentTotals:
    """Totals of (gross, rate) pairs with VAT computed once per rate group."""
    groups: dict[VatRate, Decimal] = defaultdict(Decimal)
    for gross, rate in lines:
        groups[rate] += gross
    net = sum((net_from_gross(g, r) for r, g in groups.items()), Decimal(0))
    gross = sum(groups.values(), Decimal(0))
    return DocumentTotals(net=to_grosz(net), vat=to_grosz(gross - net), gross=to_grosz(gross))
