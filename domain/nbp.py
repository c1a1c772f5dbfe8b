"""Which NBP table A rate converts a foreign-currency invoice's VAT to PLN (art. 31a ust. 1).

The rule is the average rate of the last business day *before* the tax point: the tax point's
own day never counts, and weekends and Polish public holidays (when NBP publishes no table) are
skipped. The provider looks the rate up; this date is what tests and events check it against.
"""

from __future__ import annotations

import datetime as dt

from domain.ksef import is_business_day


def rate_date(tax_point: dt.date) -> dt.date:
    """The last Polish business day strictly before `tax_point`."""
    day = tax_point - dt.timedelta(days=1)
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day
