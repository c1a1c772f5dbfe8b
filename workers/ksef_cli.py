"""`invoice-router ksef pending | show`: where documents stand in KSeF, for ops (read-only)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from config.clearance_queries import DocumentHistory, OpenDocument, parse_age
from config.settings import get_settings

T = TypeVar("T")


def _query(call: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run `call(sessions)` against the configured database."""
    from config.db import sessions_for

    async def run() -> T:
        async with sessions_for(get_settings().database_url) as sessions:
            return await call(sessions)

    return asyncio.run(run())


class _Age(click.ParamType):
    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        try:
            return parse_age(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _time(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _age(age: dt.timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d{hours % 24}h"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


@click.group()
def ksef() -> None:
    """KSeF clearance: documents still on their way, one order's timeline."""


@ksef.command("pending")
@click.option("--seller", help="Only this seller's documents")
@click.option("--older-than", type=_Age(), help="Only documents tracked at least this long: 2h")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 10_000))
def ksef_pending(seller: str | None, older_than: dt.timedelta | None, limit: int) -> None:
    """Documents neither cleared nor rejected yet (pending, offline), oldest first."""
    from config.clearance_queries import open_documents
    from config.clock import utcnow

    now = utcnow()
    docs = _query(
        lambda db: open_documents(db, now, seller_id=seller, older_than=older_than, limit=limit)
    )
    if not docs:
        click.echo("no documents waiting for KSeF")
        return
    click.echo(_table(_pending_rows(docs)))


def _pending_rows(docs: list[OpenDocument]) -> list[list[str]]:
    header = ["seller", "order", "number", "status", "provider", "age", "next check", "deadline"]
    return [header] + [
        [
            d.seller_id,
            d.order_id + (f" / {d.refund_id}" if d.refund_id else ""),
            d.document_number,
            d.status,
            d.provider_status or "-",
            _age(d.age),
            _time(d.next_check_at),
            _time(d.offline_deadline),
        ]
        for d in docs
    ]


@ksef.command("show")
@click.argument("order_id", metavar="ORDER")
@click.option("--seller", help="The order's seller (when several sellers share order ids)")
def ksef_show(order_id: str, seller: str | None) -> None:
    """The order's documents and their way through KSeF: issued, each status, e-mail."""
    from config.clearance_queries import order_history

    documents = _query(lambda db: order_history(db, order_id, seller_id=seller))
    if not documents:
        raise click.ClickException(f"no documents recorded for order {order_id}")
    for doc in documents:
        click.echo(render_history(doc))


def render_history(doc: DocumentHistory) -> str:
    """One document as ops read it: what it is, where it stands, then its timeline."""
    title = doc.slot + (f" (refund {doc.refund_id})" if doc.refund_id else "")
    lines = [
        f"{doc.seller_id} / {doc.channel} / {doc.order_id}: {title}",
        f"  document   {doc.document_number or '-'} ({doc.document_kind or '-'}), "
        f"{doc.provider or '-'} id {doc.provider_document_id or '-'}, ledger {doc.state}",
        f"  KSeF       {doc.clearance_status or 'not tracked'}"
        + (f" [{doc.provider_status}]" if doc.provider_status else ""),
    ]
    if doc.ksef_number:
        lines.append(f"  number     {doc.ksef_number}")
    if doc.verification_link:
        lines.append(f"  verify     {doc.verification_link}")
    if doc.offline_deadline:
        lines.append(f"  deadline   {_time(doc.offline_deadline)}")
    if doc.clearance_status:
        lines.append(f"  next check {_time(doc.next_check_at)}")
    if doc.sent_to_buyer is not None:
        lines.append(f"  e-mail     {'sent' if doc.sent_to_buyer else 'not sent'}")
    lines.extend(f"  error      {e}" for e in doc.errors)
    lines.append("  timeline:")
    lines.extend(f"    {_time(m.at):<21} {m.what}" for m in doc.timeline)
    return "\n".join(lines)
