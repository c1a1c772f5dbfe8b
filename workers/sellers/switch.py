"""A provider switch: a seller uses one provider, so connecting another replaces the existing
connections (and their mappings and tokens), which is refused unless the caller confirms it.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.apply import load_seller
from config.models import OAuthToken, Seller
from domain.sellers import ExistingConnection, ProviderSwitch, provider_switch
from schemas.invoices import Provider
from workers.sellers.errors import SwitchNotConfirmed


async def _existing(session: AsyncSession, seller: Seller) -> list[ExistingConnection]:
    ids = [c.id for c in seller.connections]
    with_tokens = set(
        (
            await session.scalars(
                select(OAuthToken.connection_id).where(OAuthToken.connection_id.in_(ids))
            )
        ).all()
    )
    return [
        ExistingConnection(
            name=c.name,
            provider=c.provider,
            channels=tuple(m.channel for m in seller.mappings if m.connection_id == c.id),
            has_tokens=c.id in with_tokens,
        )
        for c in seller.connections
    ]


async def _refuse_unconfirmed_switch(
    sessions: async_sessionmaker, seller_id: str, provider: Provider, confirm_switch: bool
) -> None:
    """Checked before calling the provider too, so a refused switch costs no provider call."""
    if confirm_switch:
        return
    async with sessions() as session:
        seller = await load_seller(session, seller_id)
        existing = await _existing(session, seller) if seller else []
    switch = provider_switch(seller_id, provider, existing)
    if switch:
        raise SwitchNotConfirmed(switch)


async def _delete_connections(
    session: AsyncSession, seller: Seller, switch: ProviderSwitch
) -> None:
    doomed = [c for c in seller.connections if c.name in {x.name for x in switch.connections}]
    ids = {c.id for c in doomed}
    await session.execute(delete(OAuthToken).where(OAuthToken.connection_id.in_(ids)))
    for mapping in [m for m in seller.mappings if m.connection_id in ids]:
        seller.mappings.remove(mapping)
    for row in doomed:
        seller.connections.remove(row)
    await session.flush()
