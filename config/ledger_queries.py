"""Read-only lists for the web console's ops pages: orders waiting in the ledger (parked or in
doubt) and documents KSeF rejected. Nothing here writes; the worker owns these rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import as_utc
from config.models import ClearanceCheck, Issuance
from domain.ksef import ClearanceStatus
from domain.ledger import WAITING


@dataclass(frozen=True)
class WaitingOrder:
    seller_id: str
    channel: str
    order_id: str
    slot: str
    refund_id: str | None
    state: str  # parked or in_doubt
    reason: str | None  # domain.ledger.ParkReason
    attempts: int
    next_attempt_at: dt.datetime | None
    since: dt.datetime


async def waiting_orders(
    sessions: async_sessionmaker, *, seller_id: str | None = None, limit: int = 500
) -> list[WaitingOrder]:
    """Parked and in-doubt ledger rows, the next to be retried first."""
    stmt = (
        select(Issuance)
        .where(Issuance.state.in_([s.value for s in WAITING]))
        .order_by(Issuance.next_attempt_at, Issuance.id)
        .limit(limit)
    )
    if seller_id:
        stmt = stmt.where(Issuance.seller_id == seller_id)
    async with sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    return [
        WaitingOrder(
            seller_id=r.seller_id,
            channel=r.channel,
            order_id=r.order_id,
            slot=r.slot,
            refund_id=r.refund_id or None,
            state=r.state,
            reason=r.park_reason,
            attempts=r.attempts,
            next_attempt_at=as_utc(r.next_attempt_at) if r.next_attempt_at else None,
            since=as_utc(r.updated_at),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RejectedDocument:
    seller_id: str
    channel: str
    order_id: str
    document_number: str
    provider_status: str | None
    errors: list[str]
    updated_at: dt.datetime


async def rejected_documents(
    sessions: async_sessionmaker, *, limit: int = 500
) -> list[RejectedDocument]:
    """Documents KSeF refused (never legally issued), the latest first, with its reasons."""
    stmt = (
        select(ClearanceCheck)
        .where(ClearanceCheck.status == ClearanceStatus.REJECTED.value)
        .order_by(ClearanceCheck.id.desc())
        .limit(limit)
    )
    async with sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    return [
        RejectedDocument(
            seller_id=r.seller_id,
            channel=r.channel,
            order_id=r.order_id,
            document_number=r.document_number,
            provider_status=r.provider_status,
            errors=[str(e) for e in r.errors or []],
            updated_at=as_utc(r.updated_at),
        )
        for r in rows
    ]
