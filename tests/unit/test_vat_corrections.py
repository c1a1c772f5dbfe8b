"""A correction's VAT is the difference of the document's per-rate totals before and after
(issue 13 item 5), not VAT computed from the refunded gross alone."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from domain.corrections import (
    CorrectionLine,
    LineState,
    correction_totals,
    line_key,
    stated_lines,
)
from domain.money import DocumentTotals, totals_by_rate_group
from schemas.common import VatRate

D = Decimal


def state(name: str, gross: str, rate: VatRate = VatRate.R23, code: str | None = None) -> LineState:
    return LineState(line_key(None, name), name, "szt", rate, D(1), D(gross), rate=code)


def refund(line: LineState, amount: str) -> CorrectionLine:
    return CorrectionLine(line, replace(line, gross=line.gross - D(amount)))


def test_partial_refund_vat_is_the_difference_of_per_rate_totals() -> None:
    # a 23 % part at 100.00 and 23 % shipping at 15.00: one rate group of 115.00
    part, shipping = state("Alternator", "100.00"), state("Dostawa", "15.00")
    totals = correction_totals([part, shipping], [refund(part, "49.99")])
    assert totals == DocumentTotals(net=D("-40.65"), vat=D("-9.34"), gross=D("-49.99"))
    # VAT of the refunded gross alone would say -9.35 ...
    assert totals_by_rate_group([(D("-49.99"), VatRate.R23)]).vat == D("-9.35")
    # ... while before + correction must be what a fresh invoice for what is left shows
    before = totals_by_rate_group([(D("115.00"), VatRate.R23)])
    fresh = totals_by_rate_group([(D("50.01"), VatRate.R23), (D("15.00"), VatRate.R23)])
    assert (before.vat + totals.vat, before.net + totals.net) == (fresh.vat, fresh.net)


def test_other_rate_groups_do_not_move() -> None:
    part, book = state("Alternator", "100.03"), state("Instrukcja", "54.00", VatRate.R5)
    totals = correction_totals([part, book], [refund(part, "49.99")])
    assert totals == DocumentTotals(net=D("-40.65"), vat=D("-9.34"), gross=D("-49.99"))


def test_destination_and_margin_rates_of_a_decided_document() -> None:
    oss = state("Alternator", "120.00", VatRate.R23, "oss:20")
    assert correction_totals([oss], [refund(oss, "60.00")]) == DocumentTotals(
        net=D("-50.00"), vat=D("-10.00"), gross=D("-60.00")
    )
    margin = state("Alternator używany", "300.00", VatRate.R23, "margin")
    assert correction_totals([margin], [refund(margin, "100.00")]).vat == D(0)


def test_a_full_refund_reverses_the_document() -> None:
    part, shipping = state("Alternator", "100.00"), state("Dostawa", "15.00")
    totals = correction_totals(
        [part, shipping], [refund(part, "100.00"), refund(shipping, "15.00")]
    )
    before = totals_by_rate_group([(D("115.00"), VatRate.R23)])
    assert totals == DocumentTotals(-before.net, -before.vat, -before.gross)


def test_a_correction_states_the_whole_of_each_group_it_changes() -> None:
    part, book = state("Alternator", "100.00"), state("Instrukcja", "54.00", VatRate.R5)
    shipping = state("Dostawa", "15.00")
    changed = refund(part, "49.99")
    stated = stated_lines([part, book, shipping], [changed])
    # the unchanged shipping shares the 23 % group: stated with before = after; the 5 % book not
    assert stated == [changed, CorrectionLine(shipping, shipping)]
    assert totals_by_rate_group(
        (x.after.gross, x.after.rate_code) for x in stated
    ) - totals_by_rate_group((x.before.gross, x.before.rate_code) for x in stated) == (
        correction_totals([part, book, shipping], [changed])
    )
