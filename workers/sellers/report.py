"""The status report: per seller, its connections' state, per channel the mapping and the
ledger's outcomes of the last hour, and its documents open or rejected in KSeF.
(Not `status.py`: that would shadow the `status` function.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clearance_queries import open_counts_by_seller
from config.clock import utcnow
from config.models import Issuance, ProviderConnection
from config.settings import Settings
from domain.routing import ConnectionStatus
from domain.sellers import count_outcomes
from workers.sellers.lookup import get_seller, list_sellers
from workers.sellers.models import (
    ChannelCounts,
    ChannelStatus,
    ConnectionState,
    KsefCounts,
    SellerStatus,
    SellerView,
    StatusReport,
)

STATUS_WINDOW = dt.timedelta(hours=1)


async def status(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> StatusReport:
    """Per seller: its connections' state, per channel the mapping and the ledger's outcomes
    of the last hour (rows that last changed in that window), and its KSeF backlog (all time:
    a rejected or offline document needs a person however old it is)."""
    now = now or utcnow()
    sellers = (
        [await get_seller(settings, sessions, seller_id)]
        if seller_id
        else await list_sellers(settings, sessions)
    )
    counts = await _ledger_counts(sessions, now - STATUS_WINDOW, seller_id)
    details = await _connection_details(sessions, seller_id)
    ksef = await open_counts_by_seller(sessions, seller_id)
    return StatusReport(
        at=now,
        sellers=[
            _seller_status(s, counts, details, KsefCounts(**ksef.get(s.id, {}))) for s in sellers
        ],
    )


LedgerCounts = dict[tuple[str, str], list[tuple[str, int]]]


async def _ledger_counts(
    sessions: async_sessionmaker, since: dt.datetime, seller_id: str | None
) -> LedgerCounts:
    stmt = (
        select(Issuance.seller_id, Issuance.channel, Issuance.state, func.count())
        .where(Issuance.updated_at >= since)
        .group_by(Issuance.seller_id, Issuance.channel, Issuance.state)
    )
    if seller_id:
        stmt = stmt.where(Issuance.seller_id == seller_id)
    found: LedgerCounts = {}
    async with sessions() as session:
        for seller, channel, state, n in (await session.execute(stmt)).all():
            found.setdefault((seller, channel), []).append((state, n))
    return found


async def _connection_details(
    sessions: async_sessionmaker, seller_id: str | None
) -> dict[tuple[str, str], str | None]:
    stmt = select(
        ProviderConnection.seller_id, ProviderConnection.name, ProviderConnection.status_detail
    )
    if seller_id:
        stmt = stmt.where(ProviderConnection.seller_id == seller_id)
    async with sessions() as session:
        return {(s, n): d for s, n, d in (await session.execute(stmt)).all()}


def _seller_status(
    seller: SellerView,
    counts: LedgerCounts,
    details: dict[tuple[str, str], str | None],
    ksef: KsefCounts,
) -> SellerStatus:
    mapped = {c.channel: c for c in seller.channels}
    active = {channel for s, channel in counts if s == seller.id}
    return SellerStatus(
        id=seller.id,
        name=seller.name,
        connections=[
            ConnectionState(
                name=c.name,
                provider=c.provider,
                state=c.status,
                detail=None
                if c.status is ConnectionStatus.OK
                else details.get((seller.id, c.name)),
            )
            for c in seller.connections
        ],
        channels=[
            ChannelStatus(
                channel=channel,
                mapping=mapped.get(channel),
                last_hour=ChannelCounts(**count_outcomes(counts.get((seller.id, channel), []))),
            )
            for channel in sorted(mapped.keys() | active)
        ],
        ksef=ksef,
    )
