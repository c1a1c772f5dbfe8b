"""Start-up check of the database: it exists, and its schema is at this version's migration.

Without it the worker printed "Ready" and then failed every order on a missing table or column.
An SQLite file that does not exist means `db upgrade` was never run (connecting would create an
empty one); PostgreSQL that does not answer is an outage, waited out (see `waiting`), while a
refused login or a missing database is a configuration error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from config.db import current_revision, head_revision, known_revision
from workers.exit_codes import ExitCode
from workers.startup.refusal import Refusal
from workers.startup.waiting import describe, until_up

UPGRADE = "run `invoice-router db upgrade` with the same DATABASE_URL"
# SQLSTATEs of a server that is down, starting or full: come back later
_OUTAGE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def where(url: str) -> str:
    """The database for messages, without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _refuse_missing_sqlite_file(url: str) -> None:
    parsed = make_url(url)
    path = parsed.database or ""
    in_memory = path in ("", ":memory:") or path.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and not in_memory and not Path(path).exists():
        raise Refusal(ExitCode.DATABASE, f"the SQLite database {path} does not exist: {UPGRADE}")


def _server_outage(exc: Exception) -> bool:
    """PostgreSQL down, unreachable, starting or out of connections: come back later."""
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or ""
        return code.startswith("08") or code in _OUTAGE_SQLSTATES
    return isinstance(exc, OSError)  # refused, unreachable, reset


def _is_outage(url: str) -> Callable[[Exception], bool]:
    if make_url(url).get_backend_name() == "sqlite":
        return lambda _: False  # a local file: nothing to wait for
    return _server_outage


def _reason(exc: Exception) -> str:
    """The driver's own first line (`password authentication failed ...`), without wrappers."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    lines = str(orig).strip().splitlines() if orig is not None else []
    return lines[0] if lines else describe(exc)


async def check_database(url: str, engine: AsyncEngine) -> None:
    """Refuse unless the schema is at the head migration; wait while PostgreSQL is down."""
    _refuse_missing_sqlite_file(url)
    try:
        current = await until_up(
            f"the database at {where(url)}",
            lambda: current_revision(engine),
            _is_outage(url),
            attempt_timeout=15,
        )
    except (DBAPIError, OSError) as exc:
        raise Refusal(
            ExitCode.DATABASE, f"the database at {where(url)} cannot be opened ({_reason(exc)})"
        ) from exc
    head = head_revision(url)
    if current == head:
        return
    if current is None:
        message = f"the database at {where(url)} has no schema: {UPGRADE}"
    elif known_revision(url, current):
        message = (
            f"the database schema is at migration {current}, this version needs {head}: {UPGRADE}"
        )
    else:
        message = (
            f"the database schema is at migration {current}, which this version does not know "
            f"(it needs {head}): the database was upgraded by a newer release; run that release"
        )
    raise Refusal(ExitCode.DATABASE, message)
