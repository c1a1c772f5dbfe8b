"""UTC time for everything the worker stores or stamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

# A partial, not a function: the clock is read several times per order (ledger, events,
# clearance), and calling datetime.now directly saves a Python frame per reading.
utcnow: Callable[[], dt.datetime] = partial(dt.datetime.now, dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored by the worker is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
