"""A seller's tax profile (issue 13, docs/vat.md): VAT-UE and OSS registration and what to do
when VIES cannot answer. Workers see a change within the config cache TTL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from config.apply import TaxSpec, stored_json
from config.settings import Settings
from workers.sellers.lookup import _seller


async def get_tax(settings: Settings, sessions: async_sessionmaker, seller_id: str) -> TaxSpec:
    async with sessions() as session:
        seller = await _seller(session, seller_id)
        return TaxSpec.model_validate(seller.tax_profile or {})


async def set_tax(
    settings: Settings, sessions: async_sessionmaker, seller_id: str, profile: TaxSpec
) -> TaxSpec:
    """Replace the seller's tax profile; its channels' VAT defaults stay as they are."""
    async with sessions() as session, session.begin():
        seller = await _seller(session, seller_id)
        seller.tax_profile = stored_json(profile)
    return await get_tax(settings, sessions, seller_id)
