"""Key-ordered concurrency with in-order acknowledgement (docs/adr/0008-key-ordered-concurrency.md).

Invoicing time is provider latency, so one process must keep many orders in flight. Three rules
keep that safe:

- **Same key, one at a time, in offset order.** Records with the same Kafka key (the order id:
  its sale, refunds and returns) run strictly one after another, in the order they were read.
  Records without a key share one lane per partition.
- **Acknowledge in offset order.** Faust commits the first run of consecutive acked offsets
  even when an earlier offset is still unfinished, so a record is handed to `ack` only when it
  and every record read before it on its partition are finished. A crash therefore redelivers
  from the oldest unfinished record; idempotent issuance makes the redelivery of finished ones
  harmless.
- **Bounded.** At most `limit` records are in flight per process; reading waits for a free slot,
  which is the back-pressure on the consumer.

A handler that raises stops the dispatcher: nothing after the failed record is acknowledged and
the error is raised to the agent on its next `submit`, which makes Faust restart the agent and
the records be read again from the last commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


@dataclass
class _Pending(Generic[E]):
    item: E
    done: bool = False


@dataclass
class _Partition(Generic[E]):
    queue: deque[_Pending[E]] = field(default_factory=deque)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyOrderedDispatcher(Generic[E]):
    def __init__(
        self,
        limit: int,
        handle: Callable[[E], Awaitable[None]],
        ack: Callable[[E], Awaitable[None]],
    ) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        self._slots = asyncio.Semaphore(limit)
        self._handle = handle
        self._ack = ack
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._partitions: dict[Hashable, _Partition[E]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def submit(self, item: E, partition: Hashable, key: Hashable | None) -> None:
        """Start `item` once a slot is free and its key's earlier records are done."""
        self._raise_if_failed()
        await self._slots.acquire()
        self._raise_if_failed(release=True)
        pending = _Pending(item)
        self._partitions.setdefault(partition, _Partition()).queue.append(pending)
        lane = (partition, key) if key is None else key
        task = asyncio.create_task(self._run(pending, partition, self._tails.get(lane)))
        self._tails[lane] = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, lane))

    async def drain(self) -> None:
        """Wait for everything in flight (graceful stop); re-raise a handler's failure."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        self._raise_if_failed()

    async def _run(
        self, pending: _Pending[E], partition: Hashable, before: asyncio.Task[None] | None
    ) -> None:
        try:
            if before is not None:
                await asyncio.wait({before})  # its outcome is its own; we only keep the order
            if self._error is not None:
                return  # stopped: leave the record unacknowledged for redelivery
            await self._handle(pending.item)
            pending.done = True
            await self._ack_finished_prefix(partition)
        except BaseException as exc:
            if self._error is None:
                self._error = exc
                log.error("stopping the dispatcher: %r", exc)
            raise
        finally:
            self._slots.release()

    async def _ack_finished_prefix(self, partition: Hashable) -> None:
        state = self._partitions[partition]
        async with state.lock:  # acks leave in offset order even when tasks finish together
            while state.queue and state.queue[0].done:
                await self._ack(state.queue.popleft().item)

    def _finished(self, task: asyncio.Task[None], lane: Hashable) -> None:
        self._tasks.discard(task)
        if self._tails.get(lane) is task:
            del self._tails[lane]
        if not task.cancelled():
            task.exception()  # retrieved here; reported through `submit`/`drain`

    def _raise_if_failed(self, release: bool = False) -> None:
        if self._error is not None:
            if release:
                self._slots.release()
            raise RuntimeError("a record handler failed; restarting from the last commit") from (
                self._error
            )
