"""A client-side request budget for one wFirma connection, so a busy worker never trips the
provider's own limit (`TOTAL REQUESTS LIMIT EXCEEDED`, reference §6).

wFirma publishes no numbers; a maintainer reported 30 requests / 15 s, 80 / min and 2,400 / h
in 2022 (UNCONFIRMED today), hence the configurable defaults below.

Sharing:

- **Tasks of one worker process** share one `RateLimiter` per connection (the provider
  registry keeps it beside the connection). It is an asyncio object: one event loop, no threads.
- **Several worker processes** each hold their own limiter, so the budget must be split between
  them: build it with `RateLimiter.for_processes(n)` where `n` is the number of worker
  processes (a deployment setting), which gives every process `1/n` of each window. That is
  conservative (an idle process's share goes unused) but needs no coordination. If that ever
  becomes too slow, the alternative is a budget row per connection in the configuration
  database, spent by compare-and-set like the OAuth token lease; it is not built because a
  seller's order rate is far below even a divided budget.
- The provider's own answer stays the last word: on `* LIMIT EXCEEDED` the adapter calls
  `hold()`, which stops every task of this process for the back-off period.
- **A slot counts from the answer, not only from the take.** wFirma counts a request when it
  arrives, which on a busy worker can be a few hundred ms after this process took the slot, so
  a window measured from the take lets the next window's first request land inside the
  provider's previous one (seen in the benchmark as occasional 429s at exactly the budget).
  `settle(slot)` after the answer moves the slot's time to then: the request certainly arrived
  before its answer, so the window here never ends before the provider's does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# (window in seconds, requests allowed in any such window)
WFIRMA_WINDOWS: tuple[tuple[float, int], ...] = ((15.0, 30), (60.0, 80), (3600.0, 2400))


@dataclass
class Slot:
    """One request's place in the windows; `at` is when it counts from."""

    at: float


class RateLimiter:
    """Sliding-window limiter: `await limiter.acquire()` or `async with limiter:` per request.

    Waiters are served in arrival order. `clock` and `sleep` are injectable so tests run on a
    fake clock without sleeping.
    """

    def __init__(
        self,
        windows: Sequence[tuple[float, int]] = WFIRMA_WINDOWS,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not windows or any(seconds <= 0 or budget < 1 for seconds, budget in windows):
            raise ValueError("every window needs a positive length and a budget of at least 1")
        self.windows = tuple(sorted((float(s), int(b)) for s, b in windows))
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[Slot] = deque()
        self._held_until = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def for_processes(
        cls,
        processes: int,
        windows: Sequence[tuple[float, int]] = WFIRMA_WINDOWS,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> RateLimiter:
        """This process's share when `processes` worker processes use the same connection."""
        if processes < 1:
            raise ValueError("processes must be at least 1")
        shares = [(seconds, max(1, budget // processes)) for seconds, budget in windows]
        return cls(shares, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        budget = ", ".join(f"{b}/{s:g}s" for s, b in self.windows)
        return f"RateLimiter({budget})"

    def wait_time(self) -> float:
        """Seconds until the next request may go (0 when it may go now)."""
        now = self._clock()
        self._forget(now)
        wait = max(0.0, self._held_until - now)
        for seconds, budget in self.windows:
            inside = sorted(slot.at for slot in self._sent if slot.at > now - seconds)
            if len(inside) >= budget:
                # the oldest request that must leave the window before one more fits
                wait = max(wait, inside[len(inside) - budget] + seconds - now)
        return wait

    async def acquire(self) -> Slot:
        async with self._lock:  # FIFO: asyncio.Lock wakes waiters in arrival order
            while (wait := self.wait_time()) > 0:
                await self._sleep(wait)
            return self.take()

    def take(self) -> Slot:
        """Count a request as sent now; only once `wait_time()` is 0 (what `acquire` does)."""
        slot = Slot(self._clock())
        self._sent.append(slot)
        return slot

    def settle(self, slot: Slot) -> None:
        """The request of `slot` has been answered: count it from now (see module doc)."""
        slot.at = max(slot.at, self._clock())

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (the provider said its budget is spent)."""
        if seconds > 0 and math.isfinite(seconds):
            self._held_until = max(self._held_until, self._clock() + seconds)

    def _forget(self, now: float) -> None:
        longest = self.windows[-1][0]
        while self._sent and self._sent[0].at <= now - longest:
            self._sent.popleft()  # (a settled slot may keep older ones a little longer: safe)

    async def __aenter__(self) -> RateLimiter:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
