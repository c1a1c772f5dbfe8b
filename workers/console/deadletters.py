"""Dead letters: the `invoice-router dlq` commands as pages (list with its filters, a record in
full, replay of one or a selection after a dry run, the replay audit), on workers/deadletters.py.

A replay is audited like the CLI's, with the signed-in operator's name; the replay button is
offered on the dry run's result only, so what is re-published was looked at first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from adapters.kafka_deadletters import DeadLetterRecord
from schemas.deadletter import ERROR_CODE, FAILED_AT, REASON
from workers import deadletters as dlq
from workers.api_params import Ctx
from workers.console import web
from workers.console.session import PATH, Session, checked_form, signed_in

deadletters = APIRouter(prefix=f"{PATH}/dead-letters", dependencies=[Depends(signed_in)])
FILTERS = ("topic", "since", "until", "code", "seller", "order")
MAX_SELECTION = 500


@dataclass(frozen=True)
class Row:
    """One record as the list shows it."""

    where: str
    failed_at: str
    code: str
    source: str
    key: str
    reason: str
    seller: str


def _row(record: DeadLetterRecord) -> Row:
    return Row(
        where=str(record.coordinates),
        failed_at=record.header(FAILED_AT) or record.timestamp.isoformat(timespec="seconds"),
        code=record.header(ERROR_CODE) or "-",
        source=_source(record),
        key="-" if record.key is None else dlq.escape_bytes(record.key),
        reason=record.header(REASON) or "-",
        seller=dlq.seller_of(record) or "-",
    )


def _source(record: DeadLetterRecord) -> str:
    try:
        return record.source_topic
    except dlq.DeadLetterError:
        return "-"


def _moment(text: str | None) -> dt.datetime | None:
    """A `datetime-local` field (no zone) is UTC, as the page says."""
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _filter(given: dict[str, str]) -> dlq.DeadLetterFilter:
    """The CLI's filters; DeadLetterError (or ValueError) when they do not make sense."""
    return dlq.DeadLetterFilter(
        topics=tuple(t.strip() for t in given.get("topic", "").split(",") if t.strip()),
        since=_moment(given.get("since")),
        until=_moment(given.get("until")),
        code=given.get("code") or None,
        seller=given.get("seller") or None,
        order=given.get("order") or None,
    )


def _given(source: Mapping[str, Any]) -> dict[str, str]:
    """The filters given (non-empty), to filter with and to carry to the next form."""
    return {k: str(source[k]).strip() for k in FILTERS if str(source.get(k) or "").strip()}


@deadletters.get("")
async def list_page(request: Request, ctx: Ctx) -> Response:
    given = _given(request.query_params)
    try:
        flt = _filter(given)
        records = await dlq.select(ctx.settings, flt)
    except (dlq.DeadLetterError, ValueError) as exc:
        return web.page(request, "deadletters.html", 400, given=given, rows=[], error=str(exc))
    rows = [_row(r) for r in records]
    return web.page(request, "deadletters.html", given=given, rows=rows, error=None)


@deadletters.get("/audit")
async def audit_page(request: Request, ctx: Ctx) -> Response:
    audits = await dlq.list_audits(ctx.settings, limit=50)
    return web.page(request, "audit.html", audits=audits)


@deadletters.get("/record/{where}")
async def record_page(request: Request, ctx: Ctx, where: str) -> Response:
    try:
        record = await dlq.show(ctx.settings, where)
    except dlq.DeadLetterError as exc:
        return web.page(request, "deadletter.html", 404, record=None, error=str(exc))
    is_json, value = dlq.pretty_value(record)
    return web.page(
        request,
        "deadletter.html",
        record=record,
        row=_row(record),
        headers=dlq.decode_headers(record.headers),
        value=value,
        is_json=is_json,
        error=None,
    )


@deadletters.post("/replay")
async def replay(
    request: Request, ctx: Ctx, signed: Annotated[Session, Depends(checked_form)]
) -> Response:
    """`action=dry-run` audits what would be re-published; `action=replay` re-publishes."""
    form = await request.form()
    chosen = [str(w) for w in form.getlist("records")][:MAX_SELECTION]
    given = _given(form)
    dry_run = form.get("action") != "replay"
    if not chosen:
        return web.page(request, "replayed.html", 400, error="no_selection", given=given)
    try:
        flt = _filter(given)
        records = [await dlq.show(ctx.settings, where) for where in chosen]
        result = await dlq.replay(
            ctx.settings, records, flt, operator=signed.operator, dry_run=dry_run
        )
    except (dlq.DeadLetterError, ValueError) as exc:
        return web.page(request, "replayed.html", 400, error=str(exc), given=given)
    return web.page(
        request,
        "replayed.html",
        error=None,
        given=given,
        result=result,
        rows=[_row(r) for r in result.records],
    )
