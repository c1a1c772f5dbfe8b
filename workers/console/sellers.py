"""Seller pages: every seller's state and last hour, and one seller's invoicing settings (the
provider, its connection's state and what to do about it, the switch warning, the channel
mappings with departments or series loaded live). The forms are in seller_forms.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from schemas.invoices import Provider
from workers import sellers as svc
from workers.api_params import Ctx, SellerId
from workers.console import web
from workers.console.session import PATH, signed_in

sellers = APIRouter(prefix=PATH, dependencies=[Depends(signed_in)])


def seller_url(seller_id: str, **query: str) -> str:
    tail = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return f"{PATH}/sellers/{quote(seller_id, safe='')}" + (f"?{tail}" if tail else "")


@dataclass
class Problems:
    """What a refused form shows again: field errors and the (non-secret) values given."""

    form: str = ""  # which form: fakturownia, wfirma or a channel name
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    def refuse(self, errors: dict[str, str]) -> Problems:
        """A refused field is not filled in again: its value may be a pasted secret."""
        self.errors = errors
        self.values = {k: v for k, v in self.values.items() if k not in errors}
        return self


@sellers.get("/sellers")
async def seller_list(request: Request, ctx: Ctx) -> Response:
    """Every seller's provider and connection state, and per channel the last hour's counts."""
    report = await svc.status(ctx.settings, ctx.sessions)
    return web.page(request, "sellers.html", report=report)


@sellers.get("/sellers/open")
async def open_seller(seller_id: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
    return web.see_other(seller_url(seller_id.strip()))


@sellers.get("/sellers/{seller_id}")
async def seller_page(
    request: Request, ctx: Ctx, seller_id: SellerId, provider: Provider | None = None
) -> Response:
    return await render(request, ctx, seller_id, provider)


async def render(
    request: Request,
    ctx: Ctx,
    seller_id: str,
    chosen: Provider | None,
    problems: Problems | None = None,
    status_code: int = 200,
) -> Response:
    try:
        seller: svc.SellerView | None = await svc.get_seller(ctx.settings, ctx.sessions, seller_id)
        states = (await svc.status(ctx.settings, ctx.sessions, seller_id)).sellers[0].connections
    except svc.NotFound:
        seller, states = None, []
    current = seller.connections[0] if seller and seller.connections else None
    chosen = chosen or (current.provider if current else None)
    targets, targets_error = await _targets(ctx, seller_id, current)
    companies = await _companies(ctx, seller_id, current)
    mapped = {c.channel: c for c in seller.channels} if seller else {}
    context: dict[str, Any] = {
        "seller_id": seller_id,
        "seller": seller,
        "states": states,
        "current": current,
        "chosen": chosen,
        "switching": bool(current and chosen and chosen != current.provider),
        "targets": targets,
        "targets_error": targets_error,
        "companies": companies,
        "channels": sorted(set(ctx.settings.channels) | mapped.keys()),
        "mapped": mapped,
        "problems": problems or Problems(),
        "notice": request.query_params.get("notice"),
        "return_url": str(request.url_for("wfirma_return")),
    }
    return web.page(request, "seller.html", status_code, **context)


async def _targets(
    ctx: Ctx, seller_id: str, current: svc.ConnectionView | None
) -> tuple[list[svc.DepartmentView], str | None]:
    """Departments (Fakturownia) or series (wFirma), loaded live from the seller's account."""
    if current is None or current.status.value == "needs_reauth":
        return [], None
    try:
        return await svc.list_departments(ctx.settings, ctx.sessions, seller_id, current.name), None
    except svc.SellerServiceError as exc:
        return [], str(exc)


async def _companies(
    ctx: Ctx, seller_id: str, current: svc.ConnectionView | None
) -> list[svc.CompanyView]:
    """The companies an authorized wFirma login books for (to choose the company id)."""
    if current is None or current.provider is not Provider.WFIRMA or current.status.value != "ok":
        return []
    try:
        return await svc.list_companies(ctx.settings, ctx.sessions, seller_id, current.name)
    except svc.SellerServiceError:
        return []
