"""Destination rates for OSS: the data file's shape, its coverage of the EU, and the lookup."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from importlib import resources

import pytest

from domain.oss_rates import destination_rate, rate_table
from domain.vat import EU_MEMBER_STATES, TreatmentRefused


def test_the_rates_file_states_its_source_and_date_and_covers_every_member_state() -> None:
    raw = json.loads(resources.files("domain").joinpath("data/eu_vat_rates.json").read_text())
    assert "European Commission" in raw["source"]
    assert dt.date.fromisoformat(raw["as_of"]).year == 2026
    assert set(raw["rates"]) == EU_MEMBER_STATES
    for country, rates in raw["rates"].items():
        standard = Decimal(rates["standard"])
        assert Decimal(15) <= standard <= Decimal(27), country  # the Directive's floor
        assert all(Decimal(0) < Decimal(r) < standard for r in rates["reduced"]), country
    assert set(raw["unconfirmed"]) <= EU_MEMBER_STATES


@pytest.mark.parametrize(
    ("country", "category", "percent"),
    [
        ("DE", "standard", "19"),
        ("DE", "reduced", "7"),
        ("FR", "standard", "20"),
        ("FI", "standard", "25.5"),
        ("HU", "standard", "27"),
        ("LU", "standard", "17"),
        ("SK", "standard", "23"),
        ("RO", "standard", "21"),
        ("RO", "reduced", "11"),
        ("CZ", "reduced", "12"),
        ("NL", "reduced", "9"),
        ("PL", "standard", "23"),
    ],
)
def test_destination_rate(country: str, category: str, percent: str) -> None:
    assert destination_rate(country, category) == Decimal(percent)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("country", "category", "why"),
    [
        ("FR", "reduced", "several reduced VAT rates (10 %, 5.5 %, 2.1 %)"),
        ("DK", "reduced", "DK has no reduced VAT rate"),
        ("CH", "standard", "no VAT rates are kept for CH"),
    ],
)
def test_a_rate_that_is_not_known_refuses_the_order(country: str, category: str, why: str) -> None:
    with pytest.raises(TreatmentRefused) as err:
        destination_rate(country, category)  # type: ignore[arg-type]
    assert err.value.code == "vat_rate_unknown_for_country" and why in err.value.message


def test_the_table_is_read_once() -> None:
    assert rate_table() is rate_table()
