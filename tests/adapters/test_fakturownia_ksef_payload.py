"""Fakturownia payload details from its KSeF guide (issue 11 item 9), against the simulator.

`buyer_company` on every document, `np_tax_kind` only as KSeF allows it, and no control
characters in names or the correction reason. Real HTTP, no mocks.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.ports import ProviderValidationError
from schemas.invoices import DocumentKind
from tests.adapters.conftest import KSEF_PREFIX, KSEF_TOKEN, SimEnv
from tests.adapters.support import NOW, POLICY, line, order_body, refund_data, route, sale
from workers.corrections import issue_correction
from workers.issuing import Attempts

NP_LINES = [line("A", "Części", "1", "100.00", "23"), line("B", "Montaż w DE", "1", "50.00", "np")]


def _ksef(env: SimEnv, **options: Any) -> Any:
    env.add_ksef_account()
    return env.provider(prefix=KSEF_PREFIX, token=KSEF_TOKEN, options=options)


@pytest.mark.parametrize(
    ("company", "kind"),
    [
        (True, DocumentKind.INVOICE),
        (False, DocumentKind.INVOICE),
        (False, DocumentKind.RECEIPT),
    ],
)
async def test_buyer_company_is_sent_on_every_sales_document(
    fakturownia: SimEnv, company: bool, kind: DocumentKind
) -> None:
    provider = _ksef(fakturownia)
    doc = await provider.issue(sale(order_body(f"BC-{company}-{kind}", company=company), kind))
    stored = fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)
    assert stored["buyer_company"] is company


@pytest.mark.parametrize("company", [True, False])
async def test_buyer_company_is_sent_on_corrections(fakturownia: SimEnv, company: bool) -> None:
    provider = _ksef(fakturownia)
    body = order_body(f"BCK-{company}", company=company)
    await provider.issue(sale(body))
    data = refund_data(body, "R1", [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}])
    correction = await issue_correction(provider, route(), data, POLICY, Attempts(), NOW)
    stored = fakturownia.stored(correction.provider_document_id, KSEF_PREFIX)
    assert stored["kind"] == "correction"
    assert stored["buyer_company"] is company


async def test_np_lines_default_to_export_service_not_not_specified(fakturownia: SimEnv) -> None:
    provider = _ksef(fakturownia)
    doc = await provider.issue(sale(order_body("NP-1", company=True, lines=NP_LINES)))
    assert fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)["np_tax_kind"] == (
        "export_service"
    )


async def test_np_tax_kind_export_service_eu_is_kept_when_the_seller_chose_it(
    fakturownia: SimEnv,
) -> None:
    provider = _ksef(fakturownia, np_tax_kind="export_service_eu")
    doc = await provider.issue(sale(order_body("NP-2", company=True, lines=NP_LINES)))
    assert fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)["np_tax_kind"] == (
        "export_service_eu"
    )


@pytest.mark.parametrize("chosen", ["not_specified", "art. 28b"])
async def test_a_basis_ksef_does_not_allow_is_refused_before_any_call(
    fakturownia: SimEnv, chosen: str
) -> None:
    provider = _ksef(fakturownia, np_tax_kind=chosen)
    with pytest.raises(ProviderValidationError) as err:
        await provider.issue(sale(order_body("NP-3", company=True, lines=NP_LINES)))
    assert set(err.value.fields) == {"np_tax_kind"}
    assert chosen in str(err.value) and "export_service" in str(err.value)
    assert fakturownia.posts(KSEF_PREFIX) == 0


async def test_no_np_basis_without_np_lines_even_with_a_bad_option(fakturownia: SimEnv) -> None:
    provider = _ksef(fakturownia, np_tax_kind="not_specified")
    doc = await provider.issue(sale(order_body("NP-4", company=True)))
    assert fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)["np_tax_kind"] is None


def _dirty_order(order_id: str, *, company: bool) -> dict[str, Any]:
    body = order_body(
        order_id,
        company=company,
        lines=[
            line("L1", "Klocki\thamulcowe\x00", "2", "129.99", "23", sku="BRK-001"),
            line("L2", "Filtr\u0081 oleju\r\n", "1", "35.50", "23"),  # no SKU: matched by name
        ],
        shipping={"name": "Kurier\x07 DPD", "price_gross": "15.00", "vat_rate": "23"},
    )
    buyer = body["buyer"]
    if company:
        buyer["company_name"] = "Auto\x0b-Serwis\x1f Sp. z o.o."
    else:
        buyer |= {"first_name": "Jan\x00", "last_name": "No\u0085wak"}
    buyer["address"]["street"] = "ul. Prosta\t1"
    return body


async def test_control_characters_are_stripped_from_company_and_position_names(
    fakturownia: SimEnv,
) -> None:
    provider = _ksef(fakturownia)
    doc = await provider.issue(sale(_dirty_order("CTL-1", company=True)))
    stored = fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)
    assert stored["buyer_name"] == "Auto -Serwis  Sp. z o.o."
    assert stored["buyer_street"] == "ul. Prosta 1"
    assert [p["name"] for p in stored["positions"]] == [
        "Klocki hamulcowe",
        "Filtr oleju",
        "Kurier DPD",
    ]


async def test_control_characters_are_stripped_from_a_private_buyers_names(
    fakturownia: SimEnv,
) -> None:
    provider = _ksef(fakturownia)
    doc = await provider.issue(sale(_dirty_order("CTL-2", company=False)))
    stored = fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)
    assert (stored["buyer_first_name"], stored["buyer_last_name"]) == ("Jan", "No wak")
    assert "\x00" not in stored["buyer_name"]


async def test_a_refund_still_finds_a_line_whose_name_was_cleaned(fakturownia: SimEnv) -> None:
    provider = _ksef(fakturownia)
    body = _dirty_order("CTL-3", company=True)
    await provider.issue(sale(body))
    data = refund_data(
        body,
        "R1",
        [{"line_id": "L2", "quantity": "1", "amount_gross": "35.50"}],
        shipping_refunded="15.00",
        reason="Zwrot\x00 towaru\n",
    )
    correction = await issue_correction(provider, route(), data, POLICY, Attempts(), NOW)
    stored = fakturownia.stored(correction.provider_document_id, KSEF_PREFIX)
    assert stored["correction_reason"] == "Zwrot towaru"
    # the brakes, unchanged, are stated too: the whole 23 % group is before the provider
    changed = [p["name"] for p in stored["positions"] if float(p["total_price_gross"])]
    assert changed == ["Filtr oleju", "Kurier DPD"]


async def test_a_ksef_number_finds_the_invoice_ksef_accepted_and_nothing_else(
    fakturownia: SimEnv,
) -> None:
    """What a `duplicate_error` is reconciled with (ADR 0004 §5): `GET /invoices.json?gov_id=`."""
    provider = _ksef(fakturownia, gov_save_and_send=True)
    doc = await provider.issue(sale(order_body("KN-1", company=True)))
    fakturownia.sim.complete_ksef(KSEF_PREFIX)
    number = fakturownia.stored(doc.provider_document_id, KSEF_PREFIX)["gov_id"]
    assert number
    found = await provider.find_by_ksef_number(number)
    assert found is not None and found.provider_document_id == doc.provider_document_id
    assert found.clearance is not None and found.clearance.number == number
    assert await provider.find_by_ksef_number("0000000000-20261206-FFFFFFFFFFFF") is None


async def test_a_re_send_is_a_send_to_ksef_with_send_to_ksef_yes(fakturownia: SimEnv) -> None:
    provider = _ksef(fakturownia)
    doc = await provider.issue(sale(order_body("RS-1", company=True)))
    before = len(fakturownia.sim.ksef_sends(KSEF_PREFIX))
    again = await provider.send_to_ksef(doc.provider_document_id)
    assert len(fakturownia.sim.ksef_sends(KSEF_PREFIX)) == before + 1
    assert again.clearance is not None and again.clearance.status == "processing"
