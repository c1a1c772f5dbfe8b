"""A database or broker outage is a wait, not a failure.

An order in hand whose ledger work or output hits an unreachable database (or broker) is not
failed, dead-lettered or dropped: the same step is tried again with backoff until the dependency
answers. The record stays unacknowledged meanwhile, so the in-flight limit fills and the consumer
stops reading (back-pressure is the pause); nothing after it on its partition is committed. Ops
see the outage in the log (first failure, every minute while it lasts, recovery), in the
`invoice_router_dependency_up` gauge and on the worker's `/readyz`. Cancellation (SIGTERM) ends
the wait at once: the record is read again after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

DEPENDENCY_UP = Gauge(
    "invoice_router_dependency_up",
    "1 when the worker's last call to the dependency worked, 0 during an outage",
    ["dependency"],
)
OUTAGE_WAITS = Counter(
    "invoice_router_outage_retries_total",
    "Steps tried again because a dependency was unreachable (each is a wait, not a failure)",
    ["dependency"],
)
DATABASE, BROKER = "database", "broker"
for _dep in (DATABASE, BROKER):
    DEPENDENCY_UP.labels(_dep).set(1)


def _database_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    errors: list[type[BaseException]] = [
        OperationalError,
        InterfaceError,
        DisconnectionError,
        PoolTimeout,
    ]
    try:
        import asyncpg

        errors += [
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
            asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.CrashShutdownError,
            asyncpg.exceptions.TooManyConnectionsError,
        ]
    except ImportError:  # SQLite-only installs
        pass
    return tuple(errors)


def _broker_errors() -> tuple[type[BaseException], ...]:
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

    return (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)


_DATABASE = _database_errors()
_BROKER = _broker_errors()


class Unavailable(Exception):
    """A dependency did not answer; raised through the router so the caller waits."""

    def __init__(self, dependency: str, cause: BaseException) -> None:
        super().__init__(f"{dependency} unavailable: {type(cause).__name__}: {cause}"[:500])
        self.dependency = dependency


def dependency_down(exc: BaseException) -> str | None:
    """Which dependency `exc` (or an exception it was raised from) says is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, Unavailable):
            return current.dependency
        if isinstance(current, _DATABASE) or _invalidated(current):
            return DATABASE
        if isinstance(current, _BROKER):
            return BROKER
        if isinstance(current, ConnectionError | TimeoutError) and _from_database(current):
            return DATABASE
        current = current.__cause__ or current.__context__
    return None


def _invalidated(exc: BaseException) -> bool:
    """SQLAlchemy found the statement's connection broken and dropped it (config/db.py)."""
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _from_database(exc: BaseException) -> bool:
    """asyncpg raises plain OSError/ConnectionError on connect and on a dropped socket."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg", "sqlalchemy", "aiosqlite")):
            return True
        tb = tb.tb_next
    return False


@dataclass
class Outages:
    """Process-wide view of unreachable dependencies (read by /readyz and the metrics)."""

    initial_backoff: float = 0.5
    max_backoff: float = 15.0
    report_every: float = 60.0
    down_since: dict[str, float] = field(default_factory=dict)
    _reported: dict[str, float] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.down_since

    def describe(self) -> dict[str, str]:
        now = time.monotonic()
        return {
            dep: f"unreachable for {now - since:.0f}s" for dep, since in self.down_since.items()
        }

    def went_down(self, dependency: str, exc: BaseException) -> None:
        now = time.monotonic()
        OUTAGE_WAITS.labels(dependency).inc()
        DEPENDENCY_UP.labels(dependency).set(0)
        if dependency not in self.down_since:
            self.down_since[dependency] = now
            self._reported[dependency] = now
            log.warning(
                "%s unreachable (%s: %s): orders in hand wait and consumption pauses until it "
                "answers; nothing is failed or dead-lettered",
                dependency,
                type(exc).__name__,
                str(exc)[:300],
            )
        elif now - self._reported[dependency] >= self.report_every:
            self._reported[dependency] = now
            log.warning(
                "%s still unreachable after %.0fs (%s)",
                dependency,
                now - self.down_since[dependency],
                type(exc).__name__,
            )

    def came_back(self, dependency: str) -> None:
        since = self.down_since.pop(dependency, None)
        DEPENDENCY_UP.labels(dependency).set(1)
        if since is not None:
            self._reported.pop(dependency, None)
            log.warning(
                "%s reachable again after %.0fs: resuming", dependency, time.monotonic() - since
            )

    async def wait_through(
        self,
        step: Callable[[], Awaitable[T]],
        *,
        uses: tuple[str, ...] = (DATABASE,),
        sleep: Sleep = asyncio.sleep,
    ) -> T:
        """Run `step` until it completes without an outage error (other errors propagate).

        A completed step proves the dependencies it `uses` answer again."""
        delay = self.initial_backoff
        while True:
            try:
                result = await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                dependency = dependency_down(exc)
                if dependency is None:
                    raise
                self.went_down(dependency, exc)
                await sleep(delay)
                delay = min(self.max_backoff, delay * 2)
                continue
            for dependency in uses:
                if dependency in self.down_since:
                    self.came_back(dependency)
            return result


OUTAGES = Outages()
