"""`/v1/ksef`: where documents stand in KSeF, for a platform's ops screens (read-only).

The same questions as `invoice-router ksef pending | show` (config/clearance_queries.py).
Included into the `/v1` router by workers/api.py, so it shares its bearer token.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import AfterValidator, BaseModel, Field

from config.clearance_queries import (
    DocumentHistory,
    OpenDocument,
    open_documents,
    order_history,
    parse_age,
)
from config.clock import utcnow
from workers.api_params import Ctx
from workers.sellers.models import no_nul

ksef = APIRouter(prefix="/ksef", tags=["ksef"])


def _optional(text: str | None) -> str | None:
    return no_nul(text) if text is not None else None


def _age_text(text: str | None) -> str | None:
    """Refused as invalid input (422) unless it reads as an age: 30m, 2h, 1d, 1h30m."""
    if text is not None:
        parse_age(text)
    return text


OptionalSeller = Annotated[
    str | None, Query(min_length=1, max_length=200), AfterValidator(_optional)
]
OlderThan = Annotated[
    str | None,
    Query(max_length=20, description="Tracked at least this long: 30m, 2h, 1d, 1h30m"),
    AfterValidator(_age_text),
]
OrderId = Annotated[str, Path(min_length=1, max_length=200), AfterValidator(no_nul)]


class PendingDocument(BaseModel):
    seller_id: str
    channel: str
    order_id: str
    refund_id: str | None
    document_kind: str
    document_number: str
    status: str = Field(description="pending or offline")
    provider_status: str | None = Field(description="As the provider reports it, e.g. processing")
    tracked_since: dt.datetime
    age_seconds: float
    next_check_at: dt.datetime | None = Field(description="None: the tracker stopped looking")
    offline_deadline: dt.datetime | None = Field(description="Offline: last instant for KSeF")


class Moment(BaseModel):
    at: dt.datetime | None = Field(description="None: known to have happened, not when")
    what: str


class DocumentTimeline(BaseModel):
    seller_id: str
    channel: str
    order_id: str
    slot: str = Field(description="sale or correction")
    refund_id: str | None
    ledger_state: str
    document_kind: str | None
    document_number: str | None
    provider: str | None
    provider_document_id: str | None
    sent_to_buyer: bool | None = Field(description="E-mailed at issue; None: not issued")
    clearance_status: str | None = Field(description="None: not tracked (e.g. a receipt)")
    provider_status: str | None
    ksef_number: str | None
    verification_link: str | None
    offline_deadline: dt.datetime | None
    next_check_at: dt.datetime | None
    checks: int
    resends: int
    errors: list[str]
    timeline: list[Moment]


@ksef.get("/pending")
async def ksef_pending(
    ctx: Ctx,
    seller: OptionalSeller = None,
    older_than: OlderThan = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[PendingDocument]:
    """Documents neither cleared nor rejected yet (pending, offline), oldest first."""
    docs = await open_documents(
        ctx.sessions,
        utcnow(),
        seller_id=seller,
        older_than=parse_age(older_than) if older_than else None,
        limit=limit,
    )
    return [_pending(d) for d in docs]


@ksef.get("/orders/{order_id}", responses={404: {"description": "No document of this order"}})
async def ksef_order(
    ctx: Ctx,
    order_id: OrderId,
    seller: OptionalSeller = None,
) -> list[DocumentTimeline]:
    """The order's documents and their way through KSeF: issued, each status, e-mail."""
    documents = await order_history(ctx.sessions, order_id, seller_id=seller)
    if not documents:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no documents recorded for this order")
    return [_timeline(d) for d in documents]


def _pending(d: OpenDocument) -> PendingDocument:
    return PendingDocument(
        seller_id=d.seller_id,
        channel=d.channel,
        order_id=d.order_id,
        refund_id=d.refund_id,
        document_kind=d.document_kind,
        document_number=d.document_number,
        status=d.status,
        provider_status=d.provider_status,
        tracked_since=d.created_at,
        age_seconds=d.age.total_seconds(),
        next_check_at=d.next_check_at,
        offline_deadline=d.offline_deadline,
    )


def _timeline(d: DocumentHistory) -> DocumentTimeline:
    return DocumentTimeline(
        seller_id=d.seller_id,
        channel=d.channel,
        order_id=d.order_id,
        slot=d.slot,
        refund_id=d.refund_id,
        ledger_state=d.state,
        document_kind=d.document_kind,
        document_number=d.document_number,
        provider=d.provider,
        provider_document_id=d.provider_document_id,
        sent_to_buyer=d.sent_to_buyer,
        clearance_status=d.clearance_status,
        provider_status=d.provider_status,
        ksef_number=d.ksef_number,
        verification_link=d.verification_link,
        offline_deadline=d.offline_deadline,
        next_check_at=d.next_check_at,
        checks=d.checks,
        resends=d.resends,
        errors=list(d.errors),
        timeline=[Moment(at=m.at, what=m.what) for m in d.timeline],
    )
