"""Running an async server context manager on its own loop in a background thread.

Tests that run a Faust worker let it own the main loop; the simulator then lives on a private
loop so neither blocks the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

START_TIMEOUT_S = 10.0


@contextmanager
def run_in_thread(
    factory: Callable[[], AbstractAsyncContextManager[str]],
    name: str = "simulator",
) -> Iterator[str]:
    """Enter ``factory()`` on a new loop in a thread (called ``name``), yield its value, exit it
    on close."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    outcome: dict[str, object] = {}

    async def main() -> None:
        try:
            async with factory() as value:
                outcome["value"] = value
                ready.set()
                await stop.wait()
        except BaseException as exc:  # reported to the caller's thread below
            outcome["error"] = exc
            ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S):
        raise TimeoutError("simulator thread did not start in time")
    if "error" in outcome:
        thread.join()
        raise RuntimeError("simulator failed to start") from outcome["error"]  # type: ignore[misc]
    try:
        yield str(outcome["value"])
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
