"""VIES answers cached per VAT id per Polish calendar day, in the database.

A WDT needs the buyer's VAT id active at the time of supply; one check a day is what sellers
do by hand, and it spares VIES (which refuses bursts: `MS_MAX_CONCURRENT_REQ`) when a buyer
orders many times a day. In the database, not in memory, so a restart or another worker does
not ask again. Only definite answers are stored: "unavailable" is asked again next time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from adapters.vies.port import ViesChecker
from adapters.vies.vatid import normalise_vat_id
from config.clock import utcnow
from config.vies_cache import cached_answer, polish_day, remember_answer
from domain.vies import ViesResult


class CachedViesChecker:
    """`ViesChecker` that asks `inner` at most once per VAT id per Polish day.

    Concurrent checks of one id in this process share one call (a buyer's orders tend to
    arrive together).
    """

    def __init__(
        self,
        inner: ViesChecker,
        sessions: async_sessionmaker,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._inner = inner
        self._sessions = sessions
        self._clock = clock
        self._in_flight: dict[str, asyncio.Future[ViesResult]] = {}

    async def check(self, vat_id: str) -> ViesResult:
        key = normalise_vat_id(vat_id)
        hit = await cached_answer(self._sessions, key, polish_day(self._clock()))
        if hit is not None:
            return hit
        call = self._in_flight.get(key)
        if call is None:
            call = asyncio.ensure_future(self._ask(key))
            self._in_flight[key] = call
            call.add_done_callback(lambda _done: self._in_flight.pop(key, None))
        return await asyncio.shield(call)

    async def _ask(self, key: str) -> ViesResult:
        result = await self._inner.check(key)  # ViesUnavailable propagates: never cached
        return await remember_answer(self._sessions, result)
