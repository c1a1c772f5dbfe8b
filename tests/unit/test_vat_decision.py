"""The VAT treatment decision table (issue 13): every treatment and every refusal code."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

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
DE_VAT = "DE136695976"
FR_VAT = "FR40303265045"
EL_VAT = "EL094259216"
AT_VAT = "ATU13585627"
XI_VAT = "XI123456782"

PLAIN = TaxProfile()
WDT_SELLER = TaxProfile(intra_eu_registered=True)
OSS_SELLER = TaxProfile(intra_eu_registered=True, oss_registered=True)
DISMANTLER = TaxProfile(margin_scheme_default=True)

T = VatTreatment


def line(line_id: str = "L1", rate: str = "23", price: str = "100.00", **extra: Any) -> dict:
    return {
        "line_id": line_id,
        "name": f"Część {line_id}",
        "quantity": "1",
        "unit_price_gross": price,
        "vat_rate": rate,
        **extra,
    }


def make(
    *,
    lines: list[dict] | None = None,
    shipping: str | None = "15.00",
    shipping_rate: str = "23",
    ship_to: str | None = None,
    country: str | None = "PL",
    tax_id: str | None = None,
    company: bool = False,
) -> Order:
    body = f.order(
        company=company,
        tax_id=tax_id,
        lines=lines if lines is not None else [line()],
        shipping={"name": "Dostawa", "price_gross": shipping, "vat_rate": shipping_rate}
        if shipping is not None
        else {},
    )
    if company and tax_id is None:
        del body["buyer"]["tax_id"]
    if country is None:
        del body["buyer"]["address"]
    else:
        body["buyer"]["address"]["country"] = country
    if ship_to is not None:
        body["ship_to_country"] = ship_to
    return ORDER.validate_json(json.dumps(body))


def vies(vat_id: str, valid: bool = True) -> ViesResult:
    return ViesResult(vat_id, valid, NOW, "Autoteile GmbH" if valid else None, "WAPIAAAA1")


def rates(decision: TreatmentDecision) -> list[str]:
    return [x.rate for x in decision.lines]


def refused(
    code: str, order: Order, profile: TaxProfile, answer: ViesResult | None = None, **kw: bool
) -> TreatmentRefused:
    with pytest.raises(TreatmentRefused) as err:
        decide_treatment(order, profile, answer, **kw)
    assert err.value.code == code, err.value.message
    return err.value


# -- domestic ---------------------------------------------------------------------------------


def test_domestic_keeps_the_rates_as_sent() -> None:
    order = make(lines=[line("L1", "23"), line("L2", "8"), line("L3", "zw")])
    d = decide_treatment(order, OSS_SELLER, None)
    assert d.treatment is T.DOMESTIC
    assert rates(d) == ["23", "8", "zw", "23"]
    assert [x.line_id for x in d.lines] == ["L1", "L2", "L3", SHIPPING_LINE_ID]
    assert [x.percent for x in d.lines] == [Decimal(23), Decimal(8), Decimal(0), Decimal(23)]
    assert {x.country for x in d.lines} == {"PL"}
    assert not any(x.overridden for x in d.lines)
    assert (d.destination, d.annotation, d.legal_basis, d.notes) == ("PL", None, None, ())
    assert d.buyer_vat_id is None and d.vies is None


def test_ship_to_defaults_to_the_buyer_address_then_poland() -> None:
    assert decide_treatment(make(country=None), PLAIN, None).destination == "PL"
    assert decide_treatment(make(country="CH"), PLAIN, None).treatment is T.EXPORT
    assert decide_treatment(make(country="CH", ship_to="PL"), PLAIN, None).treatment is T.DOMESTIC


def test_free_shipping_is_no_line() -> None:
    assert rates(decide_treatment(make(shipping="0.00"), PLAIN, None)) == ["23"]
    assert rates(decide_treatment(make(shipping=None), PLAIN, None)) == ["23"]


def test_eu_vat_id_with_goods_staying_in_poland_is_domestic_but_said() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="PL")
    d = decide_treatment(order, WDT_SELLER, None)
    assert d.treatment is T.DOMESTIC and rates(d) == ["23", "23"]
    assert "goods stay in Poland" in d.notes[0]
    assert vies_subject(order, WDT_SELLER) is None


def test_eu_vat_id_with_goods_staying_in_poland_at_rate_zero_is_ambiguous() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="PL", lines=[line(rate="0")])
    err = refused("vat_treatment_ambiguous", order, WDT_SELLER)
    assert "L1" in err.message and DE_VAT not in err.message  # ids are personal data


def test_polish_nip_buyer_shipping_abroad_is_domestic() -> None:
    order = make(company=True, tax_id=f.VALID_NIP, ship_to="DE")
    d = decide_treatment(order, WDT_SELLER, None)
    assert d.treatment is T.DOMESTIC and "Polish NIP" in d.notes[0]
    refused(
        "vat_treatment_ambiguous",
        make(company=True, tax_id=f.VALID_NIP, ship_to="DE", lines=[line(rate="0")]),
        WDT_SELLER,
    )


# -- intra-EU supply (WDT) --------------------------------------------------------------------


def test_wdt_for_a_vies_valid_business_in_the_destination_state() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="DE", lines=[line(), line("L2", "0")])
    assert vies_subject(order, WDT_SELLER) == DE_VAT
    answer = vies(DE_VAT)
    d = decide_treatment(order, WDT_SELLER, answer)
    assert d.treatment is T.INTRA_EU_SUPPLY
    assert rates(d) == ["0", "0", "0"]  # the shipping follows the goods
    assert [x.overridden for x in d.lines] == [True, False, True]
    assert [x.sent_rate for x in d.lines] == ["23", "0", "23"]
    assert {x.percent for x in d.lines} == {Decimal(0)}
    assert {x.country for x in d.lines} == {"PL"}
    assert (d.buyer_vat_id, d.vies, d.destination) == (DE_VAT, answer, "DE")
    assert "WDT" in (d.annotation or "") and "art. 42 ust. 1" in (d.legal_basis or "")
    assert d.notes == ("L1, shipping: the connector's rate 23 replaced by 0 (WDT)",)


@pytest.mark.parametrize(
    ("tax_id", "ship_to", "expected"),
    [
        ("136695976", "DE", DE_VAT),  # without its prefix: the destination's
        ("de 136 695 976", "DE", DE_VAT),
        ("GR094259216", "GR", EL_VAT),  # VIES writes Greece as EL
        ("094259216", "GR", EL_VAT),
        (EL_VAT, "GR", EL_VAT),
        (AT_VAT, "AT", AT_VAT),
    ],
)
def test_buyer_vat_id_is_normalised_with_its_vies_prefix(
    tax_id: str, ship_to: str, expected: str
) -> None:
    order = make(company=True, tax_id=tax_id, ship_to=ship_to)
    assert vies_subject(order, WDT_SELLER) == expected
    d = decide_treatment(order, WDT_SELLER, vies(expected))
    assert (d.treatment, d.buyer_vat_id) == (T.INTRA_EU_SUPPLY, expected)


def test_a_greek_vies_answer_matches_either_spelling() -> None:
    order = make(company=True, tax_id=EL_VAT, ship_to="GR")
    assert decide_treatment(order, WDT_SELLER, vies("GR094259216")).treatment is T.INTRA_EU_SUPPLY


def test_no_wdt_without_a_vies_answer() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="DE")
    with pytest.raises(ViesNeeded) as err:
        decide_treatment(order, WDT_SELLER, None)
    assert err.value.vat_id == DE_VAT and DE_VAT not in str(err.value)
    with pytest.raises(ViesNeeded):  # an answer about someone else is no answer
        decide_treatment(order, WDT_SELLER, vies(FR_VAT))


def test_vies_invalid_makes_the_buyer_a_consumer() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="DE")
    answer = vies(DE_VAT, valid=False)
    d = decide_treatment(order, WDT_SELLER, answer)
    assert d.treatment is T.EU_DISTANCE_SALE and rates(d) == ["23", "23"]
    assert d.vies == answer and d.buyer_vat_id is None
    assert any("VIES says" in n and "consumer" in n for n in d.notes)
    oss = decide_treatment(order, OSS_SELLER, answer)
    assert rates(oss) == ["oss:19", "oss:19"] and {x.country for x in oss.lines} == {"DE"}


def test_vies_invalid_on_an_order_priced_as_wdt_is_refused() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="DE", lines=[line(rate="0")])
    refused("vies_invalid", order, WDT_SELLER, vies(DE_VAT, valid=False))


def test_vies_down_parks_by_default() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="DE")
    with pytest.raises(ViesNeeded):
        decide_treatment(order, WDT_SELLER, None, vies_down=True)


def test_vies_down_with_the_domestic_policy_issues_with_polish_vat() -> None:
    profile = TaxProfile(intra_eu_registered=True, vies_unavailable=ViesPolicy.DOMESTIC)
    order = make(company=True, tax_id=DE_VAT, ship_to="DE")
    d = decide_treatment(order, profile, None, vies_down=True)
    assert d.treatment is T.DOMESTIC and rates(d) == ["23", "23"] and d.vies is None
    assert "VIES could not answer" in d.notes[0]
    with pytest.raises(ViesNeeded):  # without vies_down, VIES is still asked first
        decide_treatment(order, profile, None)
    zero = make(company=True, tax_id=DE_VAT, ship_to="DE", lines=[line(rate="0")])
    refused("vat_treatment_ambiguous", zero, profile, vies_down=True)


def test_a_seller_without_vat_ue_registration_cannot_do_wdt() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="DE")
    assert vies_subject(order, PLAIN) is None
    d = decide_treatment(order, PLAIN, None)
    assert d.treatment is T.DOMESTIC and "VAT-UE" in d.notes[0]
    zero = make(company=True, tax_id=DE_VAT, ship_to="DE", lines=[line(rate="0")])
    refused("vat_treatment_ambiguous", zero, PLAIN)


def test_vat_id_of_another_state_than_the_destination_is_ambiguous() -> None:
    order = make(company=True, tax_id=DE_VAT, ship_to="FR")
    refused("vat_treatment_ambiguous", order, WDT_SELLER, vies(DE_VAT))
    assert vies_subject(order, WDT_SELLER) is None


def test_a_vat_id_with_wrong_check_digits_is_ambiguous() -> None:
    refused("vat_treatment_ambiguous", make(company=True, tax_id="DE136695977"), WDT_SELLER)


def test_northern_ireland_vat_ids_are_not_decided() -> None:
    order = make(company=True, tax_id=XI_VAT, ship_to="GB")
    refused("vat_treatment_unsupported", order, WDT_SELLER)


# -- export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ship_to", ["CH", "US", "NO", "GB", "UA"])
def test_goods_leaving_the_eu_are_exported_at_zero(ship_to: str) -> None:
    order = make(ship_to=ship_to, lines=[line(), line("L2", "8")])
    d = decide_treatment(order, PLAIN, None)
    assert d.treatment is T.EXPORT and rates(d) == ["0", "0", "0"]
    assert all(x.overridden for x in d.lines) and d.annotation and "art. 41 ust. 4" in d.legal_basis
    assert "L1, shipping: the connector's rate 23 replaced by 0 (export)" in d.notes


def test_export_whatever_the_buyer() -> None:
    swiss = make(company=True, tax_id="CHE-116.281.710", ship_to="CH")
    assert decide_treatment(swiss, WDT_SELLER, None).treatment is T.EXPORT
    german = make(company=True, tax_id=DE_VAT, ship_to="CH")
    assert vies_subject(german, WDT_SELLER) is None
    assert decide_treatment(german, WDT_SELLER, None).treatment is T.EXPORT


def test_monaco_is_not_exported() -> None:
    refused("vat_treatment_unsupported", make(ship_to="MC"), OSS_SELLER)


# -- EU distance sales (OSS) ------------------------------------------------------------------


def test_oss_seller_charges_the_destination_rate() -> None:
    order = make(ship_to="FR", country="FR")
    d = decide_treatment(order, OSS_SELLER, None)
    assert d.treatment is T.EU_DISTANCE_SALE and rates(d) == ["oss:20", "oss:20"]
    assert [x.percent for x in d.lines] == [Decimal(20), Decimal(20)]
    assert {x.country for x in d.lines} == {"FR"} and all(x.overridden for x in d.lines)
    assert "130a" in (d.legal_basis or "") and d.annotation is None
    assert any("FR VAT through OSS" in n for n in d.notes)


def test_oss_reduced_category_and_shipping_at_the_highest_goods_rate() -> None:
    order = make(ship_to="DE", lines=[line(), line("L2", "5", category="reduced")])
    d = decide_treatment(order, OSS_SELLER, None)
    assert rates(d) == ["oss:19", "oss:7", "oss:19"]
    assert any("highest rate, 19 %" in n for n in d.notes)
    finnish = decide_treatment(make(ship_to="FI"), OSS_SELLER, None)
    assert rates(finnish) == ["oss:25.5", "oss:25.5"]
    assert finnish.lines[0].percent == Decimal("25.5")


@pytest.mark.parametrize("ship_to", ["FR", "DK"])
def test_oss_reduced_category_without_a_single_known_rate_is_refused(ship_to: str) -> None:
    order = make(ship_to=ship_to, lines=[line(category="reduced")])
    err = refused("vat_rate_unknown_for_country", order, OSS_SELLER)
    assert ship_to in err.message


def test_below_the_oss_threshold_polish_vat_applies() -> None:
    d = decide_treatment(make(ship_to="FR", lines=[line(), line("L2", "8")]), WDT_SELLER, None)
    assert d.treatment is T.EU_DISTANCE_SALE and rates(d) == ["23", "8", "23"]
    assert {x.country for x in d.lines} == {"PL"} and not any(x.overridden for x in d.lines)
    assert "22a" in (d.legal_basis or "")
    refused("vat_treatment_ambiguous", make(ship_to="FR", lines=[line(rate="0")]), WDT_SELLER)


def test_a_company_without_eu_vat_id_abroad_is_a_consumer() -> None:
    d = decide_treatment(make(company=True, ship_to="FR"), OSS_SELLER, None)
    assert d.treatment is T.EU_DISTANCE_SALE and "consumer" in d.notes[0]
    other = decide_treatment(
        make(company=True, tax_id="CHE-116.281.710", ship_to="FR"), PLAIN, None
    )
    assert other.treatment is T.EU_DISTANCE_SALE and "no EU VAT id" in other.notes[0]


# -- margin scheme ----------------------------------------------------------------------------


def test_margin_scheme_line_shows_no_vat() -> None:
    order = make(lines=[line(scheme="margin")])
    d = decide_treatment(order, PLAIN, None)
    assert d.treatment is T.MARGIN_USED_GOODS and rates(d) == ["margin", "margin"]
    assert d.annotation == "procedura marży – towary używane"  # noqa: RUF001
    assert "art. 120" in (d.legal_basis or "") and {x.percent for x in d.lines} == {Decimal(0)}


def test_margin_scheme_by_channel_default_and_abroad() -> None:
    assert decide_treatment(make(), DISMANTLER, None).treatment is T.MARGIN_USED_GOODS
    business = make(company=True, tax_id=DE_VAT, ship_to="DE")
    profile = TaxProfile(intra_eu_registered=True, margin_scheme_default=True)
    assert vies_subject(business, profile) is None
    d = decide_treatment(business, profile, None)
    assert d.treatment is T.MARGIN_USED_GOODS and "taxed in Poland" in " ".join(d.notes)


def test_margin_and_ordinary_lines_are_never_mixed() -> None:
    mixed = make(lines=[line(scheme="margin"), line("L2")])
    assert "L2" in refused("vat_treatment_mixed", mixed, PLAIN).message
    opted_out = make(lines=[line(), line("L2", scheme="standard")])
    refused("vat_treatment_mixed", opted_out, DISMANTLER)


def test_margin_scheme_is_for_goods_only() -> None:
    order = make(lines=[line(kind="service", scheme="margin")])
    refused("vat_treatment_ambiguous", order, PLAIN)


def test_margin_goods_leaving_the_eu_are_not_decided() -> None:
    refused("vat_treatment_unsupported", make(ship_to="CH"), DISMANTLER)


# -- reverse charge for services --------------------------------------------------------------


def test_services_to_a_vies_valid_eu_business_are_reverse_charged() -> None:
    order = make(company=True, tax_id=FR_VAT, country="FR", lines=[line(kind="service")])
    assert vies_subject(order, PLAIN) == FR_VAT
    answer = vies(FR_VAT)
    d = decide_treatment(order, PLAIN, answer)
    assert d.treatment is T.REVERSE_CHARGE_SERVICES and rates(d) == ["np", "np"]
    assert {x.country for x in d.lines} == {"FR"}
    assert d.annotation == "odwrotne obciążenie" and "28b" in (d.legal_basis or "")
    assert (d.buyer_vat_id, d.vies) == (FR_VAT, answer)


def test_goods_to_an_eu_business_are_never_reverse_charged() -> None:
    order = make(company=True, tax_id=FR_VAT, ship_to="FR")
    assert decide_treatment(order, WDT_SELLER, vies(FR_VAT)).treatment is T.INTRA_EU_SUPPLY
    assert decide_treatment(order, PLAIN, vies(FR_VAT)).treatment is T.DOMESTIC


def test_services_when_vies_says_invalid_or_cannot_answer() -> None:
    order = make(company=True, tax_id=FR_VAT, country="FR", lines=[line(kind="service")])
    d = decide_treatment(order, PLAIN, vies(FR_VAT, valid=False))
    assert d.treatment is T.DOMESTIC and rates(d) == ["23", "23"] and "consumer" in d.notes[0]
    with pytest.raises(ViesNeeded):
        decide_treatment(order, PLAIN, None, vies_down=True)
    lenient = TaxProfile(vies_unavailable=ViesPolicy.DOMESTIC)
    assert decide_treatment(order, lenient, None, vies_down=True).treatment is T.DOMESTIC
    np_sent = make(
        company=True, tax_id=FR_VAT, country="FR", lines=[line(kind="service", rate="np")]
    )
    refused("vies_invalid", np_sent, PLAIN, vies(FR_VAT, valid=False))
    refused("vat_treatment_ambiguous", np_sent, lenient, vies_down=True)


def test_services_to_consumers_are_taxed_in_poland() -> None:
    for country in ("FR", "US", "PL"):
        order = make(country=country, lines=[line(kind="service")], shipping=None)
        assert decide_treatment(order, OSS_SELLER, None).treatment is T.DOMESTIC


def test_services_to_a_business_outside_the_eu_are_not_decided() -> None:
    order = make(company=True, country="US", tax_id="12-3456789", lines=[line(kind="service")])
    refused("vat_treatment_unsupported", order, PLAIN)


# -- goods and services together --------------------------------------------------------------


def test_goods_and_services_to_an_eu_business_are_refused() -> None:
    order = make(
        company=True, tax_id=DE_VAT, ship_to="DE", lines=[line(), line("L2", kind="service")]
    )
    refused("vat_treatment_mixed", order, WDT_SELLER, vies(DE_VAT))
    assert vies_subject(order, WDT_SELLER) is None


def test_goods_and_services_together_only_when_all_polish() -> None:
    lines = [line(), line("L2", "8", kind="service")]
    assert decide_treatment(make(lines=lines), OSS_SELLER, None).treatment is T.DOMESTIC
    below = decide_treatment(make(lines=lines, ship_to="FR"), PLAIN, None)
    assert below.treatment is T.EU_DISTANCE_SALE and rates(below) == ["23", "8", "23"]
    refused("vat_treatment_mixed", make(lines=lines, ship_to="FR"), OSS_SELLER)
    refused("vat_treatment_mixed", make(lines=lines, ship_to="CH"), PLAIN)
    zero = [line(rate="0"), line("L2", "0", kind="service")]
    refused("vat_treatment_mixed", make(lines=zero, ship_to="CH", shipping_rate="0"), PLAIN)


def test_every_refusal_code_is_documented() -> None:
    body = (Path(__file__).resolve().parents[2] / "docs" / "vat.md").read_text(encoding="utf-8")
    assert all(f"`{code}`" in body for code in REFUSAL_CODES)
