"""The NBP table A date for foreign-currency VAT (art. 31a): the last Polish business day
strictly before the tax point."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.nbp import rate_date

D = dt.date


@pytest.mark.parametrize(
    ("tax_point", "expected"),
    [
        (D(2026, 11, 12), D(2026, 11, 10)),  # Thu; 11 Nov (Independence Day) is a holiday
        (D(2026, 11, 16), D(2026, 11, 13)),  # Mon -> the Friday before
        (D(2026, 11, 15), D(2026, 11, 13)),  # Sun
        (D(2026, 11, 14), D(2026, 11, 13)),  # Sat
        (D(2026, 11, 18), D(2026, 11, 17)),  # an ordinary Wednesday: the day before
        (D(2026, 11, 2), D(2026, 10, 30)),  # Mon after All Saints' Day (a Sunday in 2026)
        (D(2026, 12, 28), D(2026, 12, 23)),  # 24-26 Dec holidays (24th since 2025), 27th Sun
        (D(2026, 1, 2), D(2025, 12, 31)),  # across the year and New Year's Day
        (D(2026, 1, 7), D(2026, 1, 5)),  # 6 Jan (Epiphany)
        (D(2026, 4, 7), D(2026, 4, 3)),  # Easter Monday 6 Apr 2026, weekend before
        (D(2026, 5, 4), D(2026, 4, 30)),  # 1 May Fri, 2-3 May weekend (3 May a Sunday)
    ],
)
def test_previous_business_day(tax_point: dt.date, expected: dt.date) -> None:
    assert rate_date(tax_point) == expected


def test_the_tax_point_itself_never_counts() -> None:
    assert rate_date(D(2026, 11, 20)) == D(2026, 11, 19)
