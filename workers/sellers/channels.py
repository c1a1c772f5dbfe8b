"""Channel mappings: which connection (and department or series) invoices a sales channel's
orders; workers see a change within the config cache TTL.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.apply import ChannelSpec, ChannelVatSpec, upsert_mapping
from config.models import ProviderConnection, Seller
from config.settings import Settings
from workers.sellers.errors import InvalidRequest, NotFound, _first_error
from workers.sellers.lookup import _connection_row, _mapping, _seller, get_seller
from workers.sellers.models import ChannelSettings, ChannelView


async def list_channels(
    settings: Settings, sessions: async_sessionmaker, seller_id: str
) -> list[ChannelView]:
    return (await get_seller(settings, sessions, seller_id)).channels


async def get_channel(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, channel: str
) -> ChannelView:
    found = [c for c in await list_channels(settings, sessions, seller_id) if c.channel == channel]
    if not found:
        raise NotFound(f"seller {seller_id!r} has no mapping for channel {channel!r}")
    return found[0]


async def set_channel(
    settings: Settings,
    sessions: async_sessionmaker,
    seller_id: str,
    channel: str,
    request: ChannelSettings,
) -> ChannelView:
    """Create or replace a channel's mapping; workers see it within the config cache TTL."""
    async with sessions() as session, session.begin():
        seller = await _seller(session, seller_id)
        row = _mapped_connection(seller, request.connection)
        send = request.send_by_email
        current = next((m for m in seller.mappings if m.channel == channel), None)
        vat = request.vat or ChannelVatSpec.model_validate(
            current.vat_defaults if current is not None else {}
        )
        try:
            spec = ChannelSpec(
                channel=channel,
                connection=row.name,
                target=request.target,
                auto_generate=request.auto_generate,
                document_policy=request.document_policy,
                send_by_email=bool(row.options.get("send_by_email")) if send is None else send,
                vat=vat,
            )
        except ValidationError as exc:
            raise InvalidRequest(_first_error(exc)) from exc
        upsert_mapping(seller, spec, row.id)
    return await get_channel(settings, sessions, seller_id, channel)


def _mapped_connection(seller: Seller, name: str | None) -> ProviderConnection:
    if name is not None:
        return _connection_row(seller, name)
    if len(seller.connections) != 1:
        names = ", ".join(sorted(c.name for c in seller.connections)) or "none"
        raise InvalidRequest(f"name the connection to use (seller {seller.id} has: {names})")
    return seller.connections[0]


async def set_auto_generate(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, channel: str, enabled: bool
) -> ChannelView:
    """Switch automatic invoicing on or off for one channel, keeping the rest of the mapping."""
    async with sessions() as session, session.begin():
        mapping = _mapping(await _seller(session, seller_id), channel)
        mapping.auto_generate = enabled
    return await get_channel(settings, sessions, seller_id, channel)


async def remove_channel(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, channel: str
) -> None:
    """Unmap a channel: its later orders fail with `channel_not_configured`."""
    async with sessions() as session, session.begin():
        seller = await _seller(session, seller_id)
        seller.mappings.remove(_mapping(seller, channel))
