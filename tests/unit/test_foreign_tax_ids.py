"""Foreign EU VAT ids reach the VAT decision (issue 13 follow-up).

Marketplaces often send a foreign company's VAT id without its country prefix. Pre-flight used
to read every bare number as a Polish NIP and refused a German company's "136695976" as
`invalid_tax_id` before the decision could make it a WDT. Pre-flight, the document and the
decision now read the id the same way: in the buyer's country.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import TypeAdapter

from domain.documents import buyer_info
from domain.preflight import PreflightFailed, check_order
from domain.taxid import (
    TAX_ID_CHECKSUM,
    TAX_ID_FORMAT,
    InvalidTaxId,
    TaxId,
    TaxIdKind,
    buyer_tax_id,
    classify_tax_id,
)
from domain.vat import (
    TaxProfile,
    TreatmentRefused,
    VatTreatment,
    ViesResult,
    decide_treatment,
    vies_subject,
)
from schemas.invoices import FailureCode
from schemas.orders import Order
from tests import factories as f

ORDER = TypeAdapter(Order)
NOW = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
WDT_SELLER = TaxProfile(intra_eu_registered=True)
DE_VAT = "DE136695976"
EL_VAT = "EL094259216"
AT_VAT = "ATU13585627"


def company(tax_id: str, country: str | None, ship_to: str | None = None, rate: str = "0") -> Order:
    """A company buyer with its address in `country` (None: no address), zero-rated goods."""
    lines = [
        {"line_id": "L1", "name": "Bremsscheibe", "quantity": "1", "unit_price_gross": "100.00"}
        | {"vat_rate": rate}
    ]
    body = f.order(company=True, tax_id=tax_id, lines=lines, shipping={})
    if country is None:
        del body["buyer"]["address"]
    else:
        body["buyer"]["address"]["country"] = country
    if ship_to is not None:
        body["ship_to_country"] = ship_to
    return ORDER.validate_json(json.dumps(body))


def read(tax_id: str, country: str | None, ship_to: str | None = None) -> TaxId | None:
    """What pre-flight accepts, the document prints and the decision sees: one reading."""
    order = company(tax_id, country, ship_to)
    check_order(order)
    got = buyer_tax_id(order)
    assert buyer_info(order).tax_id == got
    return got


def refusal(tax_id: str, country: str | None, ship_to: str | None = None) -> PreflightFailed:
    with pytest.raises(PreflightFailed) as err:
        check_order(company(tax_id, country, ship_to))
    assert err.value.code is FailureCode.INVALID_TAX_ID
    (violation,) = err.value.violations
    assert violation.field == "order.buyer.tax_id"
    assert tax_id not in str(err.value)  # personal data for sole traders: never echoed
    return err.value


def vies(vat_id: str) -> ViesResult:
    return ViesResult(vat_id, True, NOW, "Autoteile GmbH", "WAPIAAAA1")


# -- a German company's id without its prefix -------------------------------------------------


@pytest.mark.parametrize("raw", ["136695976", "136 695 976", "136.695.976"])
def test_a_bare_german_vat_id_of_a_german_buyer_passes_preflight(raw: str) -> None:
    assert read(raw, "DE") == TaxId(TaxIdKind.EU_VAT, DE_VAT)


def test_a_bare_german_vat_id_of_a_german_buyer_is_a_wdt_given_a_positive_vies_check() -> None:
    order = company("136695976", "DE")
    check_order(order)
    assert vies_subject(order, WDT_SELLER) == DE_VAT
    d = decide_treatment(order, WDT_SELLER, vies(DE_VAT))
    assert (d.treatment, d.buyer_vat_id, d.destination) == (
        VatTreatment.INTRA_EU_SUPPLY,
        DE_VAT,
        "DE",
    )
    assert {line.rate for line in d.lines} == {"0"}


def test_a_bare_id_with_a_bad_checksum_for_its_country_is_refused_precisely() -> None:
    failed = refusal("136695977", "DE")
    violation = failed.violations[0]
    assert violation.code == TAX_ID_CHECKSUM
    assert "DE VAT id" in violation.message and "prefix" in violation.message
    with pytest.raises(TreatmentRefused) as err:  # the decision never reads it otherwise
        decide_treatment(company("136695977", "DE"), WDT_SELLER, None)
    assert err.value.code == "vat_treatment_ambiguous"


def test_a_bare_id_of_the_wrong_length_for_its_country_is_a_format_error() -> None:
    assert refusal("13669597", "DE").violations[0].code == TAX_ID_FORMAT


def test_a_bare_polish_nip_of_a_german_buyer_stays_a_nip() -> None:
    """A foreign company registered for Polish VAT gives its NIP: its own state's reading comes
    first, the NIP's after, and a number valid as neither is refused as its own state's."""
    assert read(f.VALID_NIP, "DE") == TaxId(TaxIdKind.NIP, f.VALID_NIP)
    assert read("PL" + f.VALID_NIP, "DE") == TaxId(TaxIdKind.NIP, f.VALID_NIP)
    message = refusal("5252445768", "DE").violations[0].message
    assert "DE VAT id" in message and "Polish NIP" in message and "country prefix" in message


def test_a_non_eu_buyer_gets_no_nip_reading() -> None:
    assert read(f.VALID_NIP, "US") == TaxId(TaxIdKind.OTHER, f.VALID_NIP)


# -- ids with their prefix, spaces and lower case --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("DE136695976", "DE", DE_VAT),
        ("de 136 695 976", "DE", DE_VAT),
        ("DE 136-695-976", "PL", DE_VAT),  # the prefix decides, whatever the address
        ("ATU13585627", "AT", AT_VAT),
        ("atu 135 856 27", "AT", AT_VAT),
        ("U13585627", "AT", AT_VAT),  # Austria's bare number starts with its U
        ("40303265045", "FR", "FR40303265045"),
    ],
)
def test_prefixed_and_bare_eu_vat_ids_are_read_with_their_prefix(
    raw: str, country: str, expected: str
) -> None:
    assert read(raw, country) == TaxId(TaxIdKind.EU_VAT, expected)


def test_a_prefixed_id_with_bad_check_digits_is_refused_for_its_own_state() -> None:
    violation = refusal("DE136695977", "DE").violations[0]
    assert violation.code == TAX_ID_CHECKSUM and "not a valid DE VAT id" in violation.message


# -- Greece: ISO GR, VAT prefix EL ------------------------------------------------------------


@pytest.mark.parametrize("raw", ["094259216", "EL094259216", "GR094259216", "gr 094 259 216"])
def test_a_greek_id_is_spelt_el_in_every_form(raw: str) -> None:
    assert read(raw, "GR") == TaxId(TaxIdKind.EU_VAT, EL_VAT)
    assert read(raw, "GR").country == "GR"


def test_a_bare_greek_id_of_a_greek_buyer_is_a_wdt_whatever_spelling_vies_answers() -> None:
    order = company("094259216", "GR")
    assert vies_subject(order, WDT_SELLER) == EL_VAT
    for answer in (vies(EL_VAT), vies("GR094259216")):
        d = decide_treatment(order, WDT_SELLER, answer)
        assert (d.treatment, d.buyer_vat_id) == (VatTreatment.INTRA_EU_SUPPLY, EL_VAT)


def test_a_bare_greek_id_with_a_bad_checksum_is_refused_as_greek() -> None:
    violation = refusal("094259217", "GR").violations[0]
    assert violation.code == TAX_ID_CHECKSUM and "GR VAT id" in violation.message


# -- Polish buyers: a NIP with its checksum, as before ----------------------------------------


@pytest.mark.parametrize("raw", [f.VALID_NIP, "525-244-57-67", "PL 5252445767"])
@pytest.mark.parametrize("country", ["PL", None])
def test_a_polish_nip_is_unchanged(raw: str, country: str | None) -> None:
    assert read(raw, country) == TaxId(TaxIdKind.NIP, f.VALID_NIP)


def test_a_bad_polish_nip_is_still_a_checksum_error() -> None:
    violation = refusal("5252445768", "PL").violations[0]
    assert violation.code == TAX_ID_CHECKSUM and "Polish NIP" in violation.message


def test_a_polish_buyer_with_a_nip_shipping_abroad_stays_domestic() -> None:
    order = company(f.VALID_NIP, "PL", ship_to="DE", rate="23")
    assert read(f.VALID_NIP, "PL", "DE") == TaxId(TaxIdKind.NIP, f.VALID_NIP)
    assert decide_treatment(order, WDT_SELLER, None).treatment is VatTreatment.DOMESTIC


# -- the ship-to country as the second reading; no address ------------------------------------


def test_a_bare_id_of_the_ship_to_state_is_read_when_it_is_no_nip() -> None:
    assert read("136695976", "PL", ship_to="DE") == TaxId(TaxIdKind.EU_VAT, DE_VAT)


def test_without_an_address_a_bare_number_is_the_ship_to_states_or_a_nip() -> None:
    assert read("136695976", None, ship_to="DE") == TaxId(TaxIdKind.EU_VAT, DE_VAT)
    assert read(f.VALID_NIP, None, ship_to="DE") == TaxId(TaxIdKind.NIP, f.VALID_NIP)
    assert refusal("136695977", None, ship_to="DE").violations[0].code == TAX_ID_CHECKSUM


# -- buyers outside the EU: an opaque foreign tax number --------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "value"),
    [
        ("12-3456789", "US", "123456789"),  # a US EIN is all digits, but no NIP
        ("CHE-116.281.710", "CH", "CHE116281710"),
        ("NO123456789MVA", "NO", "NO123456789MVA"),
        ("NO123456789MVA", "DE", "NO123456789MVA"),  # another state's letters: not DE's
    ],
)
def test_a_non_eu_tax_number_is_kept_as_sent(raw: str, country: str, value: str) -> None:
    assert read(raw, country) == TaxId(TaxIdKind.OTHER, value)


def test_a_non_eu_buyer_is_still_refused_a_number_too_short_to_be_one() -> None:
    assert refusal("12-3", "US").violations[0].code == TAX_ID_FORMAT


def test_classify_without_context_reads_a_bare_number_as_a_nip() -> None:
    assert classify_tax_id(f.VALID_NIP) == TaxId(TaxIdKind.NIP, f.VALID_NIP)
    with pytest.raises(InvalidTaxId) as err:
        classify_tax_id("136695976")
    assert err.value.code == TAX_ID_FORMAT
