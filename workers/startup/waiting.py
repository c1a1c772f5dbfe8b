"""Waiting for a dependency that is down at start.

A broker or database outage is not a configuration error: exiting would only make a supervisor
restart the worker in a loop, so the worker waits (with backoff, one log line per attempt)
until it answers or SIGTERM / Ctrl-C stops the wait.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_SECONDS = (1, 2, 5, 10, 20, 30)


def describe(exc: BaseException) -> str:
    """`Class: first line of the message`: enough to act on, no multi-line driver dumps."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    if not text:
        return name
    return text[0] if text[0].startswith(f"{name}:") else f"{name}: {text[0]}"


async def until_up(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    is_outage: Callable[[Exception], bool],
    *,
    attempt_timeout: float,
) -> T:
    """`attempt()` until it succeeds; errors `is_outage` rejects (and no timeout) propagate."""
    for number in itertools.count(1):
        try:
            async with asyncio.timeout(attempt_timeout):
                return await attempt()
        except Exception as exc:
            if not (isinstance(exc, TimeoutError) or is_outage(exc)):
                raise
            delay = BACKOFF_SECONDS[min(number, len(BACKOFF_SECONDS)) - 1]
            log.warning(
                "waiting for %s, which does not answer (%s): attempt %d failed, next in %ds "
                "(SIGTERM or Ctrl-C stops the worker)",
                what,
                describe(exc),
                number,
                delay,
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # itertools.count never ends
