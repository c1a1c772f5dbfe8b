"""Group commit: concurrent callers' requests run as one batch against the database.

Sixty orders in flight each claiming, then each finishing, used to cost sixty transactions of
each kind. A `Batcher` collects the requests made while its previous batch ran (or during the
current turn of the event loop) and runs them together: one statement or one transaction for
all, one result per caller. A batch that fails for a reason one request could cause (a value
the database refuses) runs again request by request, so only that request fails; one that fails
because the database is unreachable fails every caller, and each retries on its own (an outage
is a wait, workers/outage.py). Batching changes the cost, never the outcome of a request
(docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
# one result per request, in order: a value, or the exception that request alone raises
RunBatch = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]
Abandoned = Callable[[T, R], None]
Shared = Callable[[BaseException], bool]  # True: a failure no single request caused


def _never(_: BaseException) -> bool:
    return False


class Batcher(Generic[T, R]):
    def __init__(
        self,
        run: RunBatch[T, R],
        *,
        max_size: int = 200,
        abandoned: Abandoned[T, R] | None = None,
        shared: Shared = _never,
    ) -> None:
        """`abandoned(request, result)` is told about a result whose caller stopped waiting
        (cancelled), so what the batch took on its behalf (a claim) can be given back.
        `shared(exc)` says a batch's failure is everyone's (the database is down): no
        request-by-request retry then."""
        self._run = run
        self._max_size = max_size
        self._abandoned = abandoned
        self._shared = shared
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, request: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # let the callers made ready in this turn join the batch
            while self._queue:
                batch, self._queue = self._queue[: self._max_size], self._queue[self._max_size :]
                await self._one(batch)
        finally:
            self._running = None
            if self._queue:  # cancelled while requests waited: never strand them
                self._running = asyncio.get_running_loop().create_task(self._drain())

    async def _one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._results([r for r, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.cancel()
            raise
        for (request, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller was cancelled while the batch ran
                if self._abandoned is not None and not isinstance(result, BaseException):
                    self._abandoned(request, result)
            elif isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _results(self, requests: list[T]) -> Sequence[R | BaseException]:
        try:
            return await self._run(requests)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(requests) == 1 or self._shared(exc):
                return [exc] * len(requests)  # every request sees it, each retries on its own
            log.warning(
                "a batch of %d failed (%s: %s); running its requests one by one",
                len(requests),
                type(exc).__name__,
                exc,
            )
        results: list[R | BaseException] = []
        for request in requests:
            try:
                results.extend(await self._run([request]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                results.append(exc)
        return results
