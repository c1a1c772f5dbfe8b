import datetime as dt
import random

import pytest

from domain.ledger import ClaimOutcome, RetrySchedule, State, on_redelivery

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(seconds=30)
EARLIER = NOW - dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("state", "lease", "scheduler", "expected"),
    [
        (State.ISSUED, None, False, ClaimOutcome.REEMIT),
        (State.CLAIMED, LATER, False, ClaimOutcome.BUSY),
        (State.CLAIMED, EARLIER, False, ClaimOutcome.TAKE_OVER),  # the claimer crashed
        (State.PARKED, None, False, ClaimOutcome.OWNED_BY_SCHEDULER),
        (State.IN_DOUBT, None, False, ClaimOutcome.OWNED_BY_SCHEDULER),
        (State.PARKED, None, True, ClaimOutcome.TAKE_OVER),
        (State.FAILED, None, False, ClaimOutcome.TAKE_OVER),  # a replay after a fix
        (State.UNRESOLVED, None, False, ClaimOutcome.TAKE_OVER),
    ],
)
def test_what_a_redelivery_finds(
    state: State, lease: dt.datetime | None, scheduler: bool, expected: ClaimOutcome
) -> None:
    assert on_redelivery(state, lease, NOW, from_scheduler=scheduler) is expected


def test_retry_schedule_with_jitter_retry_after_floor_and_exhaustion() -> None:
    schedule = RetrySchedule.parse("10s,1m,5m")
    assert schedule.delays == (10, 60, 300)
    rnd = random.Random(7)
    first = schedule.next_delay(1, rnd=rnd)
    assert 8 <= first <= 12 and first != 10  # jittered around 10 s
    assert schedule.next_delay(2, retry_after=120, rnd=rnd) >= 120  # Retry-After is a floor
    assert schedule.next_delay(4) is None  # three retries, then final
    with pytest.raises(ValueError, match="invalid"):
        RetrySchedule.parse("")
