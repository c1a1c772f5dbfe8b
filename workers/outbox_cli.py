"""`invoice-router outbox list-quarantined | requeue`: output the broker refused for good.

A quarantined outbox record (workers/publisher.py) waits here, out of everybody's way, until an
operator has fixed what made it fail (e.g. raised INVOICE_ROUTER_PRODUCER_MAX_REQUEST_BYTES
and the topic's `max.message.bytes`, or created a topic) and re-queues it: it keeps its place
in line, so the next flush of any worker publishes it before newer output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from config.settings import get_settings

T = TypeVar("T")


def _with_outbox(call: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    from sqlalchemy.exc import SQLAlchemyError

    from config.db import sessions_for
    from config.ledger import Outbox

    async def run() -> T:
        async with sessions_for(get_settings().database_url) as sessions:
            return await call(Outbox(sessions))

    try:
        return asyncio.run(run())
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise click.ClickException(
            f"database: {first} (is it reachable, and up to date: `invoice-router db upgrade`?)"
        ) from exc


@click.group()
def outbox() -> None:
    """Output records set aside because the broker refused them for good."""


@outbox.command("list-quarantined")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
def list_quarantined(limit: int) -> None:
    """`id  quarantined-at  topic  bytes  error`, oldest first."""
    rows = _with_outbox(lambda o: o.quarantined(limit))
    for row in rows:
        click.echo(
            "  ".join(
                [
                    str(row.id),
                    row.quarantined_at.isoformat(timespec="seconds"),
                    row.topic,
                    f"{row.size} bytes",
                    row.last_error.splitlines()[0] if row.last_error else "-",
                ]
            )
        )
    click.echo(f"{len(rows)} quarantined outbox record(s)", err=True)


@outbox.command("requeue")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--all", "everything", is_flag=True, help="Every quarantined record")
def requeue(ids: tuple[int, ...], everything: bool) -> None:
    """Put quarantined records back in line (published by the next flush of any worker)."""
    if bool(ids) == everything:
        raise click.UsageError("give the ids to re-queue, or --all")
    moved = _with_outbox(lambda o: o.requeue(None if everything else list(ids)))
    missing = sorted(set(ids) - set(moved))
    listed = f": {', '.join(map(str, moved))}" if moved else ""
    click.echo(f"re-queued {len(moved)} record(s){listed}")
    if missing:
        raise click.ClickException(
            f"not quarantined (unknown, published or already re-queued): "
            f"{', '.join(map(str, missing))}"
        )
