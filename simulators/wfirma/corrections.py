"""Corrections (``type: correction``, reference §3.14): line chains and difference totals.

A correction names the corrected invoice in ``parent_id`` and each corrected line's current
version in the line's ``parent_id``; a 2nd correction must point at the lines of the latest
one. Lines carry the state *after* correction (``count: 0`` reverses a line), and the document
totals are the per-rate-group difference between the whole document after and before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import vat as vat_codes
from .lines import Line
from .state import CompanyState
from .vat import GroupTotal, VatCode, group_totals


def corrections_of(company: CompanyState, invoice_id: int) -> list[dict[str, Any]]:
    return [d for d in company.invoices.values() if d.get("_parent_id") == invoice_id]


def current_lines(company: CompanyState, parent: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The latest version of every line of ``parent`` after its corrections, by line id."""
    current = {int(line["id"]): line for line in parent["_lines"]}
    for correction in corrections_of(company, int(parent["id"])):
        for line in correction["_lines"]:
            superseded = line.get("_parent_line_id")
            if superseded is not None:
                current.pop(superseded, None)
            current[int(line["id"])] = line
    return current


@dataclass(frozen=True)
class Difference:
    groups: list[GroupTotal]

    @property
    def net(self) -> Decimal:
        return sum((g.net for g in self.groups), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return sum((g.tax for g in self.groups), Decimal(0))

    @property
    def gross(self) -> Decimal:
        return sum((g.gross for g in self.groups), Decimal(0))


def difference(
    lines: list[Line], before: dict[int, dict[str, Any]], gross_prices: bool
) -> Difference:
    """After-minus-before totals of every VAT group the correction touches, each over the
    whole document.

    Reference §3.14: "lines not sent stay unchanged", so the corrected document is the current
    one with the sent lines replaced; §3.5: VAT is computed once per rate group. The group's
    VAT before and after is therefore the whole group's, and a correction sending one line
    of a group moves the group's VAT by the difference of its two totals (UNCONFIRMED: the
    docs show neither a correction's `vat_contents` nor how they are derived).
    """
    touched = {line.vat.id for line in lines}
    replaced = {line.parent_line_id for line in lines if line.parent_line_id is not None}
    prior_lines = _amounts(before.values())
    kept = _amounts(r for i, r in before.items() if i not in replaced)
    after = group_totals(
        [p for p in kept if p[0].id in touched] + [(line.vat, line.amount) for line in lines],
        gross_prices,
    )
    prior = group_totals([p for p in prior_lines if p[0].id in touched], gross_prices)
    by_id: dict[int, GroupTotal] = {}
    for group in after:
        by_id[group.vat.id] = group
    for group in prior:
        seen = by_id.get(group.vat.id)
        zero = Decimal(0)
        base = seen or GroupTotal(group.vat, zero, zero, zero)
        by_id[group.vat.id] = GroupTotal(
            group.vat, base.net - group.net, base.tax - group.tax, base.gross - group.gross
        )
    return Difference(list(by_id.values()))


def _amounts(records: Iterable[dict[str, Any]]) -> list[tuple[VatCode, Decimal]]:
    return [(vat_codes.BY_ID[int(r["vat_code"]["id"])], r["_amount"]) for r in records]
