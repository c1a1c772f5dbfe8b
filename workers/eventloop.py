"""The worker's event loop: uvloop unless the settings ask for asyncio's own.

The loop's own work (selecting, scheduling callbacks, socket reads and writes) is about a
tenth of the worker's CPU per order on asyncio's pure-Python loop; uvloop does it in C over
libuv (docs/performance.md, ADR 0010). Faust, aiokafka, aiohttp and asyncpg all run on it
(faust-streaming's own `uvloop` extra). `asyncio` stays available as the fallback
(`INVOICE_ROUTER_EVENT_LOOP=asyncio`) and where uvloop isn't installed (Windows).

One difference between the loops matters to aiokafka (aio-libs/aiokafka#1038, open): writing to
a connection the broker has just closed raises `RuntimeError` on uvloop, where asyncio's
transport drops the bytes and lets the read side report the loss. aiokafka expects `OSError`
there, so the `RuntimeError` escapes into whatever sent the request; in the consumer's group
coordinator it ends the coordination routine without a word, and after a broker restart the
worker stops consuming (found by fault 4). `aiokafka_on_uvloop` turns that write failure into
the `KafkaConnectionError` aiokafka raises for a broken connection, closing it as aiokafka
does, so its usual reconnect and retry paths take over.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
from typing import Any, Literal

from aiokafka import errors as kafka_errors
from aiokafka.conn import AIOKafkaConnection, CloseReason

log = logging.getLogger(__name__)

EventLoopKind = Literal["uvloop", "asyncio"]


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def new_event_loop(kind: EventLoopKind) -> asyncio.AbstractEventLoop:
    """A new loop of `kind`; asyncio's own, with a warning, when uvloop isn't installed."""
    if kind == "uvloop":
        if uvloop_available():
            import uvloop

            aiokafka_on_uvloop()
            return uvloop.new_event_loop()
        log.warning("uvloop is not installed: running on asyncio's own event loop")
    return asyncio.new_event_loop()


def _broken_write_as_connection_error(send: Any) -> Any:
    @functools.wraps(send)
    def guarded(self: AIOKafkaConnection, *args: Any, **kwargs: Any) -> Any:
        try:
            return send(self, *args, **kwargs)
        except RuntimeError as err:
            writer = self._writer
            if writer is None or not writer.transport.is_closing():
                raise  # not the closed-transport case: not ours to translate
            self.close(reason=CloseReason.CONNECTION_BROKEN)
            raise kafka_errors.KafkaConnectionError(
                f"Connection at {self.host}:{self.port} broken: {err}"
            ) from err

    guarded.__wrapped_for_uvloop__ = True  # type: ignore[attr-defined]
    return guarded


def aiokafka_on_uvloop() -> None:
    """Make aiokafka's request writes fail on uvloop as they do on asyncio (module docstring).
    Idempotent."""
    for name in ("send", "_send_sasl_token"):
        method = getattr(AIOKafkaConnection, name)
        if not getattr(method, "__wrapped_for_uvloop__", False):
            setattr(AIOKafkaConnection, name, _broken_write_as_connection_error(method))
