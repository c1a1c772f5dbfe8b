"""Properties of the VAT decision over generated orders: it is total (a decision, a known
refusal code or a VIES request), never a WDT or reverse charge without a positive VIES check,
never a silent override, and `vies_subject` agrees with it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from domain.money import rate_percent
from domain.vat import (
    REFUSAL_CODES,
    SHIPPING_LINE_ID,
    TaxProfile,
    TreatmentDecision,
    TreatmentRefused,
    VatTreatment,
    ViesNeeded,
    ViesPolicy,
    ViesResult,
    decide_treatment,
    vies_subject,
)
from schemas.orders import Order
from tests import factories as f

ORDER = TypeAdapter(Order)
NOW = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
# valid ids of several states, with and without prefix, a Polish NIP, non-EU and XI ids
TAX_IDS = [
    None,
    f.VALID_NIP,
    "DE136695976",
    "136695976",
    "FR40303265045",
    "EL094259216",
    "GR094259216",
    "ATU13585627",
    "XI123456782",
    "CHE-116.281.710",
    "DE136695977",  # wrong check digits
]
COUNTRIES = ["PL", "DE", "FR", "GR", "AT", "DK", "FI", "CH", "US", "GB", "MC"]
VIES_IDS = ["DE136695976", "FR40303265045", "EL094259216", "ATU13585627"]

lines_st = st.lists(
    st.fixed_dictionaries(
        {
            "vat_rate": st.sampled_from(["23", "23", "23", "8", "5", "0", "zw", "np", "oo"]),
            "scheme": st.sampled_from([None, None, None, "standard", "margin"]),
            "category": st.sampled_from(["standard", "standard", "reduced"]),
        }
    ),
    min_size=1,
    max_size=4,
)
# mostly one kind per order: mixed orders are refused, and would hide the other treatments
kinds = st.sampled_from(["goods", "goods", "service", "mixed"])
profiles = st.builds(
    TaxProfile,
    intra_eu_registered=st.booleans(),
    oss_registered=st.booleans(),
    vies_unavailable=st.sampled_from(list(ViesPolicy)),
    margin_scheme_default=st.sampled_from([False, False, False, True]),
)
# VIES answers about the order's own subject (valid or not), about another id, or none
answer_kinds = st.sampled_from(["none", "valid", "valid", "invalid", "other"])


def answer_for(order: Order, profile: TaxProfile, kind: str) -> ViesResult | None:
    subject = vies_subject(order, profile)
    if kind == "other" or (subject is None and kind != "none"):
        return ViesResult(VIES_IDS[len(order.lines) % len(VIES_IDS)], kind != "invalid", NOW)
    if kind == "none" or subject is None:
        return None
    return ViesResult(subject, kind == "valid", NOW)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    lines: list[dict[str, Any]] = []
    kind = draw(kinds)
    for i, extra in enumerate(draw(lines_st)):
        line_kind = kind if kind != "mixed" else ("goods", "service")[i % 2]
        line = {
            "kind": line_kind,
            "line_id": f"L{i + 1}",
            "name": "Część",
            "quantity": "1",
            "unit_price_gross": "100.00",
            **{k: v for k, v in extra.items() if v is not None},
        }
        lines.append(line)
    shipping = draw(st.sampled_from([None, "0.00", "15.00"]))
    company = draw(st.booleans())
    tax_id = draw(st.sampled_from(TAX_IDS))
    body = f.order(
        company=company,
        tax_id=tax_id,
        lines=lines,
        shipping={
            "name": "Dostawa",
            "price_gross": shipping,
            "vat_rate": draw(st.sampled_from(["23", "0", "8"])),
        }
        if shipping
        else {},
    )
    if company and tax_id is None:
        del body["buyer"]["tax_id"]
    body["buyer"]["address"]["country"] = draw(st.sampled_from(COUNTRIES))
    ship_to = draw(st.sampled_from([None, "buyer's", "buyer's", *COUNTRIES]))
    if ship_to == "buyer's":  # the state of the buyer's VAT id: a WDT candidate
        ship_to = {"EL": "GR", "XI": "GB", "CH": "CH"}.get(
            (tax_id or "PL")[:2], (tax_id or "PL")[:2]
        )
        ship_to = ship_to if ship_to.isalpha() else "DE"
    if ship_to:
        body["ship_to_country"] = ship_to
    return ORDER.validate_json(json.dumps(body))


def outcome(
    order: Order, profile: TaxProfile, answer: ViesResult | None, down: bool
) -> TreatmentDecision | TreatmentRefused | ViesNeeded:
    try:
        return decide_treatment(order, profile, answer, vies_down=down)
    except (TreatmentRefused, ViesNeeded) as stop:
        return stop


@settings(max_examples=400, deadline=None)
@given(orders(), profiles, answer_kinds, st.booleans())
def test_the_decision_is_total_and_never_silent(
    order: Order, profile: TaxProfile, answer_kind: str, down: bool
) -> None:
    answer = answer_for(order, profile, answer_kind)
    result = outcome(order, profile, answer, down)
    if isinstance(result, TreatmentRefused):
        assert result.code in REFUSAL_CODES and result.message
        return
    if isinstance(result, ViesNeeded):
        assert result.vat_id == vies_subject(order, profile)
        return
    ids = [x.line_id for x in order.lines]
    if order.shipping and order.shipping.price_gross:
        ids.append(SHIPPING_LINE_ID)
    assert [x.line_id for x in result.lines] == ids
    for line in result.lines:
        assert line.treatment is result.treatment
        assert line.overridden == (line.sent_rate != line.rate)
        assert line.percent == rate_percent(line.rate)
    if any(line.overridden for line in result.lines):
        assert result.notes, "an override is always explained"
    if result.treatment is VatTreatment.DOMESTIC:
        assert not any(line.overridden for line in result.lines)
    if result.treatment in (VatTreatment.INTRA_EU_SUPPLY, VatTreatment.REVERSE_CHARGE_SERVICES):
        assert answer is not None and answer.valid
        assert result.vies == answer and result.buyer_vat_id is not None
        assert result.buyer_vat_id.replace("GR", "EL", 1) == answer.vat_id.replace("GR", "EL", 1)
    if result.treatment is VatTreatment.INTRA_EU_SUPPLY:
        assert profile.intra_eu_registered and all(x.kind == "goods" for x in order.lines)
        assert {line.rate for line in result.lines} == {"0"}
    if result.treatment is VatTreatment.REVERSE_CHARGE_SERVICES:
        assert all(x.kind == "service" for x in order.lines)
    if result.treatment is VatTreatment.EU_DISTANCE_SALE and profile.oss_registered:
        assert all(line.country == result.destination for line in result.lines)
    if result.treatment is not VatTreatment.MARGIN_USED_GOODS:
        assert "margin" not in {line.rate for line in result.lines}


@settings(max_examples=300, deadline=None)
@given(orders(), profiles)
def test_vies_subject_is_exactly_what_the_decision_waits_for(
    order: Order, profile: TaxProfile
) -> None:
    subject = vies_subject(order, profile)
    result = outcome(order, profile, None, False)
    assert isinstance(result, ViesNeeded) == (subject is not None)
    if subject is not None:
        # any definite answer for the subject settles the question
        for valid in (True, False):
            settled = outcome(order, profile, ViesResult(subject, valid, NOW), False)
            assert not isinstance(settled, ViesNeeded)


@settings(max_examples=300, deadline=None)
@given(orders(), profiles, st.booleans())
def test_no_wdt_without_a_positive_vies_check(
    order: Order, profile: TaxProfile, down: bool
) -> None:
    subject = vies_subject(order, profile)
    negatives: list[ViesResult | None] = [None]
    if subject is not None:
        negatives.append(ViesResult(subject, False, NOW))
    for answer in negatives:
        result = outcome(order, profile, answer, down)
        if isinstance(result, TreatmentDecision):
            assert result.treatment not in (
                VatTreatment.INTRA_EU_SUPPLY,
                VatTreatment.REVERSE_CHARGE_SERVICES,
            )
            assert all(line.percent >= 0 for line in result.lines)
            assert result.vies is None or result.vies.valid is False
    assert Decimal(0) == rate_percent("margin")
