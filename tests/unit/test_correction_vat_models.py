"""Issue 13 item 5 in the models of the providers: the in-memory fake and both simulators'
arithmetic compute a correction's VAT as the difference of the document's per-rate totals.

The example: a part at 100.00 and shipping at 15.00, both 23 %; refunding 49.99 of the part
moves the group from 115.00 (VAT 21.50) to 65.01 (VAT 12.16): VAT -9.34, not -9.35.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulators.fakturownia.errors import ErrorMap
from simulators.fakturownia.positions import parse_positions
from simulators.fakturownia.summing import line_totals, sum_method
from simulators.wfirma import corrections as wfirma_corrections
from simulators.wfirma.lines import Line
from simulators.wfirma.vat import BY_CODE
from tests.adapters.support import NOW, POLICY, line, order_body, refund_data, route, sale
from tests.fakes import FakeProvider
from workers.corrections import issue_correction
from workers.issuing import Attempts

D = Decimal


async def test_the_fake_computes_a_correction_from_the_document_group_totals() -> None:
    provider = FakeProvider()
    body = order_body(
        "CV-1",
        lines=[line("L1", "Alternator", "1", "100.00", "23")],
        shipping={"name": "Dostawa", "price_gross": "15.00", "vat_rate": "23"},
    )
    await provider.issue(sale(body))
    data = refund_data(body, "R1", [{"line_id": "L1", "quantity": "0", "amount_gross": "49.99"}])
    correction = await issue_correction(provider, route(), data, POLICY, Attempts(), NOW)
    assert (correction.totals.net, correction.totals.vat, correction.totals.gross) == (
        D("-40.65"),
        D("-9.34"),
        D("-49.99"),
    )


def _position(name: str, before: str, after: str, tax: str = "23") -> dict[str, Any]:
    def state(gross: str, kind: str) -> dict[str, Any]:
        return {"name": name, "quantity": "1", "tax": tax, "total_price_gross": gross, "kind": kind}

    return {
        **state(format(D(after) - D(before), "f"), "correction"),
        "correction_before_attributes": state(before, "correction_before"),
        "correction_after_attributes": state(after, "correction_after"),
    }


def test_fakturownia_sums_a_correction_as_after_minus_before_group_totals() -> None:
    errors: ErrorMap = {}
    whole = parse_positions(
        [_position("Alternator", "100.00", "50.01"), _position("Dostawa", "15.00", "15.00")],
        errors,
    )
    alone = parse_positions([_position("Alternator", "100.00", "50.01")], errors)
    assert not errors
    assert line_totals(whole, "keep_gross").tax == D("-9.34")
    # only the changed line in front of it: the group is that line (what the adapter avoids)
    assert line_totals(alone, "keep_gross").tax == D("-9.35")


def test_fakturownia_summing_methods_are_the_documented_ones() -> None:
    errors: ErrorMap = {}
    assert sum_method(None, errors) == "keep_gross"
    assert sum_method({"position": "keep_gross", "sum": "sum"}, errors) == "sum"
    assert not errors
    sum_method({"sum": "per_group"}, errors)
    assert "calculating_strategy.sum" in errors
    # "sum" adds the positions' own nets: 3 x 0.03 at 23 % is 3 x 0.02, not the net of 0.09
    lines = parse_positions(
        [{"name": n, "tax": "23", "total_price_gross": "0.03"} for n in "ABC"], errors
    )
    assert (line_totals(lines, "sum").net, line_totals(lines, "keep_gross").net) == (
        D("0.06"),
        D("0.07"),
    )


def test_wfirma_difference_is_over_the_whole_group_when_one_line_is_sent() -> None:
    vat23, vat5 = BY_CODE["23"], BY_CODE["5"]
    current = {
        1: {"vat_code": {"id": str(vat23.id)}, "_amount": D("100.00")},
        2: {"vat_code": {"id": str(vat5.id)}, "_amount": D("54.00")},
        3: {"vat_code": {"id": str(vat23.id)}, "_amount": D("15.00")},
    }
    sent = [Line(raw={}, record={}, vat=vat23, amount=D("50.01"), parent_line_id=1)]
    [group] = wfirma_corrections.difference(sent, current, gross_prices=True).groups
    assert (group.vat.id, group.net, group.tax, group.gross) == (
        vat23.id,
        D("-40.65"),
        D("-9.34"),
        D("-49.99"),
    )
