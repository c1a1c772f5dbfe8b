"""`/v1/sellers/{seller_id}/tax`: the seller's tax profile, which the VAT decision reads
(docs/vat.md). Included into the `/v1` router by workers/api.py, so it shares its token."""

from __future__ import annotations

from fastapi import APIRouter

from config.apply import TaxSpec
from workers.api_params import Ctx, SellerId
from workers.sellers.tax import get_tax, set_tax

tax = APIRouter(prefix="/sellers/{seller_id}/tax", tags=["sellers"])


@tax.get("")
async def read_tax(ctx: Ctx, seller_id: SellerId) -> TaxSpec:
    """VAT-UE / OSS registration and the VIES policy (`park` or `domestic`)."""
    return await get_tax(ctx.settings, ctx.sessions, seller_id)


@tax.put("")
async def write_tax(ctx: Ctx, seller_id: SellerId, body: TaxSpec) -> TaxSpec:
    """Replace the tax profile; orders decided from the next config refresh use it."""
    return await set_tax(ctx.settings, ctx.sessions, seller_id, body)
