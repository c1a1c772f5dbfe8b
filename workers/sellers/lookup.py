"""Reading sellers: their views, and the row lookups every operation shares, so that an unknown
seller, connection or channel is refused with one NotFound message wherever it is named.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.apply import load_seller, seller_view, show_config
from config.models import ChannelMapping, ProviderConnection, Seller
from config.settings import Settings, secret_box
from workers.sellers.errors import NotFound
from workers.sellers.models import SellerView


async def list_sellers(settings: Settings, sessions: async_sessionmaker) -> list[SellerView]:
    shown = await show_config(sessions, secret_box(settings))
    return [SellerView.model_validate(s) for s in shown["sellers"]]


async def get_seller(
    settings: Settings, sessions: async_sessionmaker, seller_id: str
) -> SellerView:
    async with sessions() as session:
        seller = await _seller(session, seller_id)
        return SellerView.model_validate(seller_view(seller, secret_box(settings)))


async def _seller(session: AsyncSession, seller_id: str) -> Seller:
    seller = await load_seller(session, seller_id)
    if seller is None:
        raise NotFound(f"unknown seller {seller_id!r}")
    return seller


def _connection_row(seller: Seller, name: str) -> ProviderConnection:
    row = next((c for c in seller.connections if c.name == name), None)
    if row is None:
        raise NotFound(f"seller {seller.id!r} has no connection named {name!r}")
    return row


def _mapping(seller: Seller, channel: str) -> ChannelMapping:
    found = next((m for m in seller.mappings if m.channel == channel), None)
    if found is None:
        raise NotFound(f"seller {seller.id!r} has no mapping for channel {channel!r}")
    return found
