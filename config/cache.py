"""A small time-bounded cache whose concurrent misses share one load (single flight).

Sixty orders of one seller arriving together after a route expired used to run sixty identical
queries; now the first loads and the others wait for its answer (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._generation = 0  # bumped by clear(): a load started before must not be kept

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        hit = self._values.get(key)
        if hit is not None and self._clock() - hit[0] < self._ttl:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)  # one waiter's cancellation spares the others
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        try:
            value = await load()
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        if generation == self._generation:
            self._values[key] = (self._clock(), value)
        future.set_result(value)
        return value

    def clear(self) -> None:
        """Forget every value (a change made by this process takes effect at once)."""
        self._generation += 1
        self._values.clear()
        self._loading.clear()
