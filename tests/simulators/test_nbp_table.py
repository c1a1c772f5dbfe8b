"""The simulators' NBP table A: a fixture of real published rates and the previous-business-day
rule (art. 31a), implemented independently of the worker's domain/nbp.py and checked against it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from domain.nbp import rate_date
from simulators.common.nbp import FIXTURE, previous_business_day, rate_for


@pytest.mark.parametrize(
    ("tax_point", "table_day"),
    [
        ("2025-09-22", "2025-09-19"),  # Monday: Friday's table
        ("2025-09-21", "2025-09-19"),  # Sunday
        ("2025-09-23", "2025-09-22"),  # Tuesday: Monday's
        ("2025-11-12", "2025-11-10"),  # the day after Independence Day (Tue 11 Nov)
        ("2025-01-07", "2025-01-03"),  # Epiphany on Monday 6 Jan, after a weekend
        ("2025-12-29", "2025-12-23"),  # Christmas Eve is a holiday since 2025
    ],
)
def test_the_table_is_the_last_polish_business_day_before_the_tax_point(
    tax_point: str, table_day: str
) -> None:
    day = dt.date.fromisoformat(tax_point)
    assert previous_business_day(day) == dt.date.fromisoformat(table_day) == rate_date(day)


def test_the_simulators_rule_agrees_with_the_workers_every_day_of_two_years() -> None:
    day = dt.date(2025, 1, 1)
    while day < dt.date(2027, 1, 1):
        assert previous_business_day(day) == rate_date(day), day
        day += dt.timedelta(days=1)


def test_rates_come_from_the_fixture_and_never_from_a_guess() -> None:
    found = rate_for("EUR", dt.date(2025, 9, 22))
    assert found is not None
    assert (found.rate, found.table, found.date) == (
        Decimal("4.2666"),
        "182/A/NBP/2025",
        dt.date(2025, 9, 19),
    )
    assert rate_for("EUR", dt.date(2026, 11, 20)) is None  # outside the fixture: no rate
    assert rate_for("JPY", dt.date(2025, 9, 22)) is None


def test_the_fixture_names_its_source_and_the_days_it_covers() -> None:
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert "NBP table A" in raw["source"]
    days = {t["effectiveDate"] for t in raw["tables"]}
    assert days <= set(raw["sources"]) and all(d in raw["covers"] for d in days)
    assert all(dt.date.fromisoformat(d).weekday() < 5 for d in days)  # NBP publishes on workdays
