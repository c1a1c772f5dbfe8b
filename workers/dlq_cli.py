"""`invoice-router dlq list | show | replay | audit`: what ops do with dead-letter records."""

from __future__ import annotations

import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from config.settings import get_settings
from workers.cli_support import run_sync

T = TypeVar("T")


@click.group()
def dlq() -> None:
    """Dead-letter records: list, show, replay to the source topic, and the replay audit."""
    if not logging.getLogger().handlers:  # logging not set up: errors are our one line only
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


class _IsoTime(click.ParamType):
    name = "ISO-TIME"

    def convert(self, value, param, ctx):
        import datetime as dt

        if isinstance(value, dt.datetime):
            return value
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-11-21T06:00:00Z", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _dlq_filters(fn):
    """The filter options `dlq list` and `dlq replay` share."""
    for decorator in reversed(
        [
            click.option(
                "--topic",
                "topics",
                multiple=True,
                help="DLQ topic, or its source topic (repeatable); default: every *.dlq topic",
            ),
            click.option(
                "--since", type=_IsoTime(), help="Dead-lettered at or after (UTC unless offset)"
            ),
            click.option(
                "--until", type=_IsoTime(), help="Dead-lettered before (UTC unless offset)"
            ),
            click.option("--code", help="Failure code (dlq.error.code), e.g. schema_invalid"),
            click.option("--seller", help="data.seller_id of the value"),
            click.option("--order", help="Order id: data.order.order_id or the record key"),
        ]
    ):
        fn = decorator(fn)
    return fn


def _dlq_filter(topics, since, until, code, seller, order):
    from workers.deadletters import DeadLetterError, DeadLetterFilter

    try:
        return DeadLetterFilter(tuple(topics), since, until, code, seller, order)
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from exc


def _dlq_run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a dead-letter operation; turn what an operator can act on into a one-line error."""
    from aiokafka.errors import KafkaError
    from sqlalchemy.exc import SQLAlchemyError

    from adapters.kafka_deadletters import DeadLetterError, RepublishError

    settings = get_settings()
    try:
        return run_sync(coro)
    except (DeadLetterError, RepublishError) as exc:
        raise click.ClickException(str(exc)) from exc
    except KafkaError as exc:
        raise click.ClickException(f"Kafka at {settings.kafka_bootstrap_servers}: {exc!r}") from exc
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise click.ClickException(
            f"database: {first} (is it reachable, and up to date: `invoice-router db upgrade`?)"
        ) from exc


@dlq.command("list")
@_dlq_filters
def dlq_list(topics, since, until, code, seller, order) -> None:
    """One line per record: coordinates, failed at, code, source topic, key, reason."""
    from workers.deadletters import list_line, select

    flt = _dlq_filter(topics, since, until, code, seller, order)
    records = _dlq_run(select(get_settings(), flt))
    for record in records:
        click.echo(list_line(record))
    click.echo(f"{len(records)} dead-letter record(s)", err=True)


@dlq.command("show")
@click.argument("where", metavar="TOPIC:PARTITION:OFFSET")
def dlq_show(where: str) -> None:
    """One record in full: headers decoded, value pretty-printed if it is JSON."""
    from workers.deadletters import describe, show

    click.echo(describe(_dlq_run(show(get_settings(), where))))


@dlq.command("replay")
@_dlq_filters
@click.option("--dry-run", is_flag=True, help="Print what would be replayed; publish nothing")
@click.option("--operator", help="Who replays, for the audit (default: the OS user)")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed when scripted)")
def dlq_replay(topics, since, until, code, seller, order, dry_run, operator, yes) -> None:
    """Re-publish matching records (original key, value, headers) to their source topic."""

    from workers.deadletters import (
        PROGRESS_THRESHOLD,
        default_operator,
        list_line,
        replay,
        select,
    )

    settings = get_settings()
    flt = _dlq_filter(topics, since, until, code, seller, order)
    records = _dlq_run(select(settings, flt))
    if not records:
        click.echo("no matching dead-letter records: nothing to replay")
        return
    targets = sorted({r.source_topic for r in records})
    if not dry_run and not yes:
        question = f"Replay {len(records)} record(s) to {', '.join(targets)}?"
        if not sys.stdin.isatty():
            raise click.ClickException(
                f"not replaying {len(records)} record(s) without confirmation: "
                "pass --yes (or --dry-run to only look)"
            )
        click.confirm(question, abort=True)
    who = operator or default_operator()
    if dry_run:
        for record in records:
            click.echo(f"would replay {list_line(record)}")
        result = _dlq_run(replay(settings, records, flt, operator=who, dry_run=True))
        click.echo(
            f"dry run: {len(result.records)} record(s) would be replayed to "
            f"{', '.join(targets)}; nothing was published (audit #{result.audit_id})"
        )
        return
    if sys.stdout.isatty() or len(records) > PROGRESS_THRESHOLD:
        with click.progressbar(length=len(records), label="replaying") as bar:
            result = _dlq_run(
                replay(
                    settings,
                    records,
                    flt,
                    operator=who,
                    dry_run=False,
                    on_published=lambda _: bar.update(1),
                )
            )
    else:
        result = _dlq_run(replay(settings, records, flt, operator=who, dry_run=False))
    click.echo(
        f"replayed {len(result.records)} record(s) to {', '.join(targets)} "
        f"(audit #{result.audit_id})"
    )


@dlq.command("audit")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--records", "with_records", is_flag=True, help="Also list each run's records")
def dlq_audit(limit: int, with_records: bool) -> None:
    """Replay runs, newest first: who, when, filters, dry run or not, how many."""
    from workers.deadletters import audit_line, list_audits

    rows = _dlq_run(list_audits(get_settings(), limit))
    if not rows:
        click.echo("no replay runs recorded")
    for row in rows:
        click.echo(audit_line(row))
        if with_records:
            for where in row.records:
                click.echo(f"  {where}")
