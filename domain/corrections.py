"""Corrections (faktura korygująca) for refunds and returns, computed from current state.

"Before" is what the document says now: the original minus every earlier correction. A second
refund on the same order therefore corrects the corrected state, never the original again.
Lines are matched by SKU, or by name when an order line has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from domain.ksef import ksef_text
from domain.money import DocumentTotals, totals_by_rate_group
from schemas.common import VatRate
from schemas.invoices import Violation
from schemas.orders import Order, Refund


def line_key(sku: str | None, name: str) -> str:
    """Names compare as sent (`ksef_text`): the provider stores them without control characters."""
    return f"sku:{sku}" if sku else f"name:{ksef_text(name)}"


@dataclass(frozen=True)
class LineState:
    key: str
    name: str
    unit: str
    vat_rate: VatRate
    quantity: Decimal
    gross: Decimal
    sku: str | None = None
    rate: str | None = None  # the stored rate when not a Polish one ("oss:20", "margin")

    @property
    def rate_code(self) -> str:
        """What the document states: a correction repeats its original's rate (issue 13)."""
        return self.rate or self.vat_rate.value


@dataclass(frozen=True)
class CorrectionLine:
    before: LineState
    after: LineState

    @property
    def quantity_delta(self) -> Decimal:
        return self.after.quantity - self.before.quantity

    @property
    def gross_delta(self) -> Decimal:
        return self.after.gross - self.before.gross


class RefundDoesNotFit(Exception):
    """The refund asks for more than the document still holds (e.g. a repeated refund)."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(v.message for v in violations))


def fold(original: Iterable[LineState], deltas: Iterable[LineState]) -> list[LineState]:
    """Current state: the original lines plus every correction delta, matched by key.

    Lines sharing a key (the same SKU twice, e.g. at two prices) cannot be told apart on the
    provider's document, so they are held as one aggregate line: corrections then show its
    combined before/after, which is exact for quantity and value.
    """
    state: dict[str, LineState] = {}
    for line in original:
        seen = state.get(line.key)
        state[line.key] = (
            line
            if seen is None
            else replace(
                seen, quantity=seen.quantity + line.quantity, gross=seen.gross + line.gross
            )
        )
    for delta in deltas:
        base = state.get(delta.key)
        if base is None:
            continue  # a line a human added by hand in the provider: not ours to correct
        state[delta.key] = replace(
            base, quantity=base.quantity + delta.quantity, gross=base.gross + delta.gross
        )
    return list(state.values())


def refund_lines(
    current: list[LineState], order: Order, refund: Refund, shipping_key: str | None
) -> list[CorrectionLine]:
    """Before/after per corrected line; raises RefundDoesNotFit when the refund overshoots."""
    by_key = {line.key: line for line in current}
    sold = {line.line_id: line for line in order.lines}
    out: list[CorrectionLine] = []
    problems: list[Violation] = []
    for i, item in enumerate(refund.lines):
        line = sold[item.line_id]
        before = by_key.get(line_key(line.sku, line.name))
        if before is None:
            problems.append(
                Violation(
                    field=f"refund.lines[{i}]",
                    code="line_not_on_document",
                    message=f"line {item.line_id!r} is not on the document",
                )
            )
            continue
        after = replace(
            before, quantity=before.quantity - item.quantity, gross=before.gross - item.amount_gross
        )
        if after.quantity < 0 or after.gross < 0:
            problems.append(
                Violation(
                    field=f"refund.lines[{i}]",
                    code="refund_exceeds_document",
                    message=f"refunding {item.quantity} / {item.amount_gross} of {item.line_id!r} "
                    f"exceeds what the document still holds ({before.quantity} / "
                    f"{before.gross}); was it refunded already?",
                )
            )
            continue
        out.append(CorrectionLine(before, after))
    if refund.shipping_refunded:
        before = by_key.get(shipping_key) if shipping_key else None
        if before is None or before.gross < refund.shipping_refunded:
            problems.append(
                Violation(
                    field="refund.shipping_refunded",
                    code="refund_exceeds_document",
                    message=f"shipping refund {refund.shipping_refunded} exceeds the shipping "
                    f"still on the document ({before.gross if before else 0})",
                )
            )
        else:
            gross = before.gross - refund.shipping_refunded
            out.append(
                CorrectionLine(
                    before,
                    replace(before, gross=gross, quantity=before.quantity if gross else Decimal(0)),
                )
            )
    if problems:
        raise RefundDoesNotFit(problems)
    return out


def correction_totals(
    current: Iterable[LineState], lines: Iterable[CorrectionLine]
) -> DocumentTotals:
    """What a correction changes: the document's per-rate totals after it minus before it.

    VAT is computed per rate group of the whole document (domain.money), so the correction's
    VAT must be the difference of those totals, not VAT computed from the refunded gross alone:
    the corrected document then shows exactly what a fresh invoice for what is left would.
    """
    state = list(current)
    after = {line.before.key: line.after for line in lines}
    before_totals = totals_by_rate_group((s.gross, s.rate_code) for s in state)
    after_totals = totals_by_rate_group((after.get(s.key, s).gross, s.rate_code) for s in state)
    return after_totals - before_totals


def stated_lines(
    current: Iterable[LineState], lines: Iterable[CorrectionLine]
) -> list[CorrectionLine]:
    """The lines a correction states: the changed ones, plus every unchanged line of a rate
    group that changes (before = after), in document order.

    A provider computes VAT per rate group of the lines in front of it; with the whole group
    stated, its before/after totals are the document's (`correction_totals`) whether it sums
    the correction's lines only or the whole corrected document. Groups that do not change
    are left out: their difference is zero either way.
    """
    changed = {line.before.key: line for line in lines}
    state = list(current)
    keys = {s.key for s in state}
    groups = {line.before.rate_code for line in changed.values()}
    stated = [
        changed.get(s.key, CorrectionLine(s, s))
        for s in state
        if s.key in changed or s.rate_code in groups
    ]
    return stated + [line for key, line in changed.items() if key not in keys]
