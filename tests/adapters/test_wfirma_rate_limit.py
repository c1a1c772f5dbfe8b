"""RateLimiter on a fake clock: the sleeps it asks for move the clock, nothing really waits."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from adapters.wfirma import RateLimiter
from adapters.wfirma.rate_limit import WFIRMA_WINDOWS
from tests.adapters.support import FakeClock


def limiter(clock: FakeClock, windows=WFIRMA_WINDOWS) -> RateLimiter:
    return RateLimiter(windows, clock=clock, sleep=clock.sleep)


async def test_the_documented_budget_paces_a_burst() -> None:
    clock = FakeClock()
    budget = limiter(clock)
    times = []
    for _ in range(110):
        await budget.acquire()
        times.append(clock.now)
    # 30 at once, 30 more when the 15 s window frees, 20 until 80 in the minute, the rest
    # when the first 30 leave the minute window
    assert Counter(times) == {0.0: 30, 15.0: 30, 30.0: 20, 60.0: 30}
    assert clock.sleeps == [15.0, 15.0, 30.0]


async def test_a_slot_counts_from_its_answer_once_settled() -> None:
    """The provider counts a request on arrival; ours must not free the slot any earlier."""
    clock = FakeClock()
    budget = limiter(clock, [(15.0, 1)])
    slot = await budget.acquire()
    clock.now = 0.4  # the answer came 0.4 s after the slot was taken
    budget.settle(slot)
    await budget.acquire()
    assert clock.now == 15.4 and clock.sleeps == [15.0]


async def test_the_hourly_window_is_enforced() -> None:
    clock = FakeClock()
    budget = limiter(clock, [(1.0, 100), (3600.0, 3)])
    for _ in range(4):
        await budget.acquire()
    assert clock.sleeps == [3600.0]
    assert clock.now == 3600.0


async def test_waiters_from_several_tasks_are_served_in_arrival_order() -> None:
    clock = FakeClock()
    budget = limiter(clock, [(10.0, 2)])
    served: list[tuple[int, float]] = []

    async def task(n: int) -> None:
        async with budget:
            served.append((n, clock.now))

    await asyncio.gather(*(task(n) for n in range(5)))
    assert served == [(0, 0.0), (1, 0.0), (2, 10.0), (3, 10.0), (4, 20.0)]


async def test_hold_stops_everything_for_the_back_off() -> None:
    clock = FakeClock()
    budget = limiter(clock)
    await budget.acquire()
    budget.hold(35.0)
    assert budget.wait_time() == 35.0
    budget.hold(5.0)  # a shorter hold never shortens a longer one
    await budget.acquire()
    assert (clock.sleeps, clock.now) == ([35.0], 35.0)
    assert budget.wait_time() == 0.0


def test_several_processes_split_the_budget() -> None:
    assert RateLimiter.for_processes(3).windows == ((15.0, 10), (60.0, 26), (3600.0, 800))
    assert RateLimiter.for_processes(1).windows == WFIRMA_WINDOWS
    assert RateLimiter.for_processes(100).windows == ((15.0, 1), (60.0, 1), (3600.0, 24))
    assert repr(RateLimiter.for_processes(2)) == "RateLimiter(15/15s, 40/60s, 1200/3600s)"


@pytest.mark.parametrize("windows", [[], [(0.0, 5)], [(15.0, 0)]])
def test_nonsense_budgets_are_refused(windows: list[tuple[float, int]]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(windows)
    with pytest.raises(ValueError):
        RateLimiter.for_processes(0)
