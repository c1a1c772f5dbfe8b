"""The database side of the VIES cache: one definite answer per VAT id per Polish day.

Rows are kept after their day (the `vies_checks` table is also the record of which answer an
invoice relied on); only the current day's row is ever read back.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import as_utc
from config.models import ViesCheck
from domain.vies import ViesResult

POLAND = ZoneInfo("Europe/Warsaw")


def polish_day(moment: dt.datetime) -> dt.date:
    """The Polish calendar day of an aware moment (the day a check counts for)."""
    return moment.astimezone(POLAND).date()


def _result(row: ViesCheck) -> ViesResult:
    return ViesResult(
        vat_id=row.vat_id,
        valid=row.valid,
        checked_at=as_utc(row.checked_at),
        name=row.name,
        request_id=row.request_id,
    )


async def cached_answer(
    sessions: async_sessionmaker, vat_id: str, day: dt.date
) -> ViesResult | None:
    """The answer VIES gave for `vat_id` on Polish day `day`, if it was asked that day."""
    async with sessions() as session:
        row = await session.get(ViesCheck, (vat_id, day))
        return _result(row) if row is not None else None


async def remember_answer(sessions: async_sessionmaker, result: ViesResult) -> ViesResult:
    """Store `result` for the Polish day of its check and return the day's answer: when another
    worker stored one first, that one, so every order of the day relies on the same check."""
    day = polish_day(result.checked_at)
    row = ViesCheck(
        vat_id=result.vat_id,
        check_day=day,
        valid=result.valid,
        checked_at=result.checked_at,
        name=result.name,
        request_id=result.request_id,
    )
    try:
        async with sessions() as session, session.begin():
            session.add(row)
    except IntegrityError:
        return await cached_answer(sessions, result.vat_id, day) or result
    return result
