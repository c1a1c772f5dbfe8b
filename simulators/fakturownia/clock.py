"""Wall-clock access in Polish local time, injectable so tests can pin "today"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]


def _warsaw() -> tzinfo:
    """Europe/Warsaw, or a fixed CET offset on systems without tz data."""
    try:
        return ZoneInfo("Europe/Warsaw")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=1), "CET")


WARSAW = _warsaw()


def warsaw_now() -> datetime:
    """Default clock: Fakturownia dates invoices in Polish local time."""
    return datetime.now(WARSAW)


def timestamp(moment: datetime) -> str:
    """Rails-style ISO timestamp with milliseconds and offset: 2018-01-03T12:05:09.017+01:00."""
    return moment.isoformat(timespec="milliseconds")
