"""UTC time for everything the worker stores or stamps."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored by the worker is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
