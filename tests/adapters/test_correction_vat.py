"""A correction's VAT is the difference of the document's per-rate totals (issue 13 item 5),
on both providers, against their simulators over HTTP.

The example: a part at 100.00 and shipping at 15.00, both 23 %, one rate group of 115.00
(VAT 21.50). Refunding 49.99 of the part leaves 65.01 (VAT 12.16): the correction's VAT is
-9.34, where VAT of the refunded 49.99 alone would say -9.35.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from adapters.fakturownia.mapping import CORRECTION_STRATEGY, invoice_body
from domain.corrections import CorrectionLine
from domain.documents import CorrectionSpec
from schemas.invoices import RateTotals, Totals
from tests.adapters.conftest import SimEnv
from tests.adapters.support import NOW, POLICY, line, order_body, refund_data, route, sale
from tests.adapters.wfirma_support import WfirmaEnv, lines_of, wroute, wsale
from workers.corrections import issue_correction
from workers.issuing import Attempts

pytest_plugins = ["tests.adapters.conftest_wfirma"]
D = Decimal
EXAMPLE = Totals(net=D("-40.65"), vat=D("-9.34"), gross=D("-49.99"))
SHIPPING_23 = {"name": "Dostawa", "price_gross": "15.00", "vat_rate": "23"}


def one_part(order_id: str) -> dict[str, Any]:
    return order_body(
        order_id, lines=[line("L1", "Alternator", "1", "100.00", "23")], shipping=SHIPPING_23
    )


def part_and_book(order_id: str) -> dict[str, Any]:
    """Two rate groups: the refund moves the 23 % one only."""
    return order_body(
        order_id,
        lines=[
            line("L1", "Alternator", "1", "100.00", "23"),
            line("L2", "Instrukcja serwisowa", "1", "54.00", "5"),
        ],
        shipping=SHIPPING_23,
    )


def refund_of_part(body: dict[str, Any]) -> Any:
    return refund_data(body, "R1", [{"line_id": "L1", "quantity": "0", "amount_gross": "49.99"}])


# --- Fakturownia ---------------------------------------------------------------------------


async def test_fakturownia_correction_vat_is_the_difference_of_the_group_totals(
    fakturownia: SimEnv,
) -> None:
    provider = fakturownia.provider()
    body = one_part("CV-F1")
    await provider.issue(sale(body))
    correction = await issue_correction(
        provider, route(), refund_of_part(body), POLICY, Attempts(), NOW
    )
    assert correction.totals == EXAMPLE
    assert correction.rate_totals == [RateTotals(rate="23", **_fields(EXAMPLE))]
    stored = fakturownia.stored(correction.provider_document_id)
    assert (stored["price_tax"], stored["price_gross"]) in (("-9.34", "-49.99"), (-9.34, -49.99))
    # the shipping line is stated unchanged, so the group is the document's
    full = await fakturownia.get_json(
        f"/invoices/{correction.provider_document_id}.json", correction_positions="full"
    )
    shipping = next(p for p in full["positions"] if p["name"] == "Dostawa")
    assert D(shipping["total_price_gross"]) == 0
    assert D(shipping["correction_before_attributes"]["total_price_gross"]) == D("15.00")
    assert D(shipping["correction_after_attributes"]["total_price_gross"]) == D("15.00")


async def test_fakturownia_correction_states_its_group_and_asks_for_gross_summing(
    fakturownia: SimEnv,
) -> None:
    provider = fakturownia.provider()
    body = part_and_book("CV-F2")
    original = await provider.issue(sale(body))
    current = await provider.current_lines(original.provider_document_id)
    part = next(x for x in current if x.name == "Alternator")
    changed = CorrectionLine(part, replace(part, gross=part.gross - D("49.99")))
    spec = CorrectionSpec(original.provider_document_id, original.number, "Zwrot", (changed,))
    request = replace(sale(body), correction=replace(spec, document=tuple(current)), lines=())
    sent = invoice_body(request, {})
    assert sent["calculating_strategy"] == CORRECTION_STRATEGY
    assert [(p["name"], p["total_price_gross"]) for p in sent["positions"]] == [
        ("Alternator", "-49.99"),
        ("Dostawa", "0.00"),
    ]
    # without the document's lines only the changed one is stated (the former behaviour)
    assert len(invoice_body(replace(request, correction=spec), {})["positions"]) == 1


async def test_fakturownia_two_rates_only_the_refunded_group_moves(fakturownia: SimEnv) -> None:
    provider = fakturownia.provider()
    body = part_and_book("CV-F3")
    await provider.issue(sale(body))
    correction = await issue_correction(
        provider, route(), refund_of_part(body), POLICY, Attempts(), NOW
    )
    assert correction.totals == EXAMPLE
    assert correction.rate_totals == [RateTotals(rate="23", **_fields(EXAMPLE))]
    stored = fakturownia.stored(correction.provider_document_id)
    assert {p["name"] for p in stored["positions"]} == {"Alternator", "Dostawa"}


# --- wFirma --------------------------------------------------------------------------------


async def test_wfirma_correction_vat_is_the_difference_of_the_group_totals(
    wfirma: WfirmaEnv,
) -> None:
    provider = wfirma.provider()
    body = one_part("CV-W1")
    await provider.issue(wsale(body))
    correction = await issue_correction(
        provider, wroute(), refund_of_part(body), POLICY, Attempts(), NOW
    )
    assert correction.totals == EXAMPLE
    assert correction.rate_totals == [RateTotals(rate="23", **_fields(EXAMPLE))]
    # the shipping line is restated as it is, so the group is the document's
    stored = wfirma.stored(correction.provider_document_id)
    assert sorted((c["name"], D(c["count"])) for c in lines_of(stored)) == [
        ("Alternator", D(1)),
        ("Dostawa", D(1)),
    ]


async def test_wfirma_two_rates_only_the_refunded_group_moves(wfirma: WfirmaEnv) -> None:
    provider = wfirma.provider()
    body = part_and_book("CV-W2")
    await provider.issue(wsale(body))
    correction = await issue_correction(
        provider, wroute(), refund_of_part(body), POLICY, Attempts(), NOW
    )
    assert correction.totals == EXAMPLE
    assert correction.rate_totals == [RateTotals(rate="23", **_fields(EXAMPLE))]
    stored = wfirma.stored(correction.provider_document_id)
    assert {c["name"] for c in lines_of(stored)} == {"Alternator", "Dostawa"}


def _fields(totals: Totals) -> dict[str, Decimal]:
    return {"net": totals.net, "vat": totals.vat, "gross": totals.gross}
