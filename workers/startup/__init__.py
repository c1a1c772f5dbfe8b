"""Start-up checks of `invoice-router worker`, before Faust starts (and prints "Ready").

A worker that starts on a broken configuration fails every order it takes instead; so each
check either passes, waits (an outage of Kafka or PostgreSQL), or ends the process with one
line on stderr and an exit code from `workers.exit_codes` (docs/operations.md, "Exit codes").
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from config.settings import Settings, get_settings
from workers.exit_codes import ExitCode
from workers.startup.refusal import Refusal

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived before the checks finished."""


def load_settings() -> Settings:
    """The settings, or exit 2 naming each invalid one (never its value: it may be a secret)."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in exc.errors())
        _refuse(Refusal(ExitCode.CONFIGURATION, f"invalid settings: {problems}"))


def _variable(loc: tuple[int | str, ...]) -> str:
    """`topic_partitions` → INVOICE_ROUTER_TOPIC_PARTITIONS: what the operator sets."""
    path = [str(part) for part in loc] or ["settings"]
    head = path[0] if path[0].isupper() else f"INVOICE_ROUTER_{path[0].upper()}"
    return ".".join([head, *path[1:]])


def prepare_worker(settings: Settings) -> list[str]:
    """Run every check; the order topics to subscribe to once they pass.

    Exits the process when a check refuses, or when stopped while waiting for a dependency.
    """
    try:
        return asyncio.run(_stoppable(_checks(settings)))
    except Refusal as refusal:
        _refuse(refusal)
    except _Stopped as stopped:
        log.info("stopped by %s before the worker started", stopped)
        raise SystemExit(ExitCode.STOPPED) from None


def _refuse(refusal: Refusal) -> NoReturn:
    sys.stderr.write(f"Error: {refusal}\n")
    sys.stderr.flush()
    raise SystemExit(refusal.code)


async def _checks(settings: Settings) -> list[str]:
    # imported only now, once logging is configured: alembic and the drivers log at import
    from config.db import create_engine
    from workers.startup.database import check_database
    from workers.startup.kafka import wait_for_order_topics
    from workers.startup.keys import check_keys, check_stored_secrets

    box = check_keys(settings)
    engine = create_engine(settings.database_url)
    try:
        await check_database(settings.database_url, engine)
        await check_stored_secrets(engine, box)
    finally:
        await engine.dispose()
    return await wait_for_order_topics(settings)


async def _stoppable(checks: Coroutine[Any, Any, T]) -> T:
    """`checks`, cancelled at once by SIGTERM / SIGINT (Faust installs its own handlers later)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        received.append(sig)
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await checks
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        raise _Stopped(received[0].name) from None
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
