"""Key-ordered concurrency: parallel across keys, serial within a key, acks in offset order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from workers.dispatch import KeyOrderedDispatcher


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: str | None
    delay: float = 0.0


class Harness:
    def __init__(self, limit: int, fail_on: int | None = None) -> None:
        self.started: list[Rec] = []
        self.finished: list[Rec] = []
        self.acked: list[Rec] = []
        self.running = 0
        self.peak = 0
        self.fail_on = fail_on
        self.dispatcher = KeyOrderedDispatcher(limit, self.handle, self.ack)

    async def handle(self, rec: Rec) -> None:
        self.started.append(rec)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(rec.delay)
            if rec.offset == self.fail_on:
                raise ValueError("handler broke")
        finally:
            self.running -= 1
        self.finished.append(rec)

    async def ack(self, rec: Rec) -> None:
        await asyncio.sleep(0)  # acks are awaited (Faust's stream.ack is a coroutine)
        self.acked.append(rec)

    async def feed(self, recs: list[Rec]) -> None:
        for rec in recs:
            await self.dispatcher.submit(rec, rec.partition, rec.key)


async def test_different_keys_run_together_and_one_key_runs_in_order() -> None:
    h = Harness(limit=10)
    recs = [Rec(0, i, f"k{i % 3}", delay=0.05 * (3 - i % 3)) for i in range(9)]
    await h.feed(recs)
    await h.dispatcher.drain()
    assert h.peak == 3  # one per key at a time, three keys
    for key in ("k0", "k1", "k2"):
        assert [r.offset for r in h.finished if r.key == key] == [
            r.offset for r in recs if r.key == key
        ]
    assert [r.offset for r in h.finished] != [r.offset for r in recs]  # keys overtook each other


async def test_acks_follow_offsets_even_when_later_records_finish_first() -> None:
    h = Harness(limit=10)
    recs = [Rec(0, 0, "slow", delay=0.1), Rec(0, 1, "a"), Rec(1, 0, "b"), Rec(0, 2, "c")]
    await h.feed(recs)
    await asyncio.sleep(0.05)
    assert [(r.partition, r.offset) for r in h.acked] == [(1, 0)]  # partition 0 waits for 0
    await h.dispatcher.drain()
    assert [r.offset for r in h.acked if r.partition == 0] == [0, 1, 2]


async def test_records_without_a_key_are_serial_per_partition() -> None:
    h = Harness(limit=10)
    await h.feed([Rec(0, i, None, delay=0.01) for i in range(4)] + [Rec(1, 0, None, 0.01)])
    await h.dispatcher.drain()
    assert h.peak == 2
    assert [r.offset for r in h.finished if r.partition == 0] == [0, 1, 2, 3]


async def test_the_in_flight_limit_holds_back_reading() -> None:
    h = Harness(limit=4)
    await h.feed([Rec(i % 2, i, f"k{i}", delay=0.02) for i in range(20)])
    await h.dispatcher.drain()
    assert h.peak == 4 and len(h.acked) == 20


async def test_a_failing_handler_stops_acks_and_is_raised_to_the_reader() -> None:
    h = Harness(limit=10, fail_on=1)
    await h.feed([Rec(0, 0, "a"), Rec(0, 1, "b", delay=0.01), Rec(0, 2, "c", delay=0.05)])
    await asyncio.sleep(0.02)
    with pytest.raises(RuntimeError, match="restarting from the last commit"):
        await h.feed([Rec(0, 3, "d")])
    with pytest.raises(RuntimeError):
        await h.dispatcher.drain()
    assert [r.offset for r in h.acked] == [0]  # nothing after the failed record
    assert 3 not in [r.offset for r in h.started]
