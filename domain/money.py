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


def rate_percent(rate: VatRate | str) -> Decimal:
    """The percentage of a rate code ("23", or "oss:25.5" for a destination rate); codes that
    show no VAT ("0", "zw", "np", "oo", "margin": the margin scheme prints none) count as 0."""
    code = str(rate).removeprefix("oss:")
    return Decimal(code) if code[:1].isdigit() else Decimal(0)


def net_from_gross(gross: Decimal, rate: VatRate | str) -> Decimal:
    return to_grosz(gross / (1 + rate_percent(rate) / 100))


@dataclass(frozen=True)
class DocumentTotals:
    net: Decimal
    vat: Decimal
    gross: Decimal

    def __sub__(self, other: DocumentTotals) -> DocumentTotals:
        return DocumentTotals(self.net - other.net, self.vat - other.vat, self.gross - other.gross)


def totals_by_rate_group(lines: Iterable[tuple[Decimal, VatRate | str]]) -> DocumentTotals:
    """Totals of (gross, rate) pairs with VAT computed once per rate group."""
    groups: dict[str, Decimal] = defaultdict(Decimal)
    for gross, rate in lines:
        groups[str(rate)] += gross
    net = sum((net_from_gross(g, r) for r, g in groups.items()), Decimal(0))
    gross = sum(groups.values(), Decimal(0))
    return DocumentTotals(net=to_grosz(net), vat=to_grosz(gross - net), gross=to_grosz(gross))
