"""Seller settings forms, the seeds' flows: connect Fakturownia (verified before it is stored) or
wFirma ("Generate": store the app, then the browser goes through wFirma's consent), a provider
switch only when confirmed (the service's 409 rule), Verify, and channel mappings.

Every write goes through workers/sellers, the same functions as the bearer API and the CLI; a
refused form is shown again by workers/console/sellers.py with its field errors.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from schemas.invoices import Provider
from workers import sellers as svc
from workers.api_params import Channel, ConnectionName, Ctx, SellerId
from workers.console import forms, web
from workers.console.sellers import Problems, render, seller_url
from workers.console.session import PATH, Session, checked_form
from workers.onboarding import OnboardingError

seller_forms = APIRouter(prefix=PATH)
Form = Annotated[Session, Depends(checked_form)]


def _connection_name(seller: svc.SellerView | None, provider: Provider) -> str:
    """The seller's existing connection to `provider`, else one named after it."""
    found = [c.name for c in (seller.connections if seller else []) if c.provider is provider]
    return found[0] if found else provider.value


async def _existing(ctx: Ctx, seller_id: str) -> svc.SellerView | None:
    try:
        return await svc.get_seller(ctx.settings, ctx.sessions, seller_id)
    except svc.NotFound:
        return None


@seller_forms.post("/sellers/{seller_id}/fakturownia")
async def connect_fakturownia(request: Request, ctx: Ctx, seller_id: SellerId, _: Form) -> Response:
    given = await forms.fields(request)
    problems = Problems("fakturownia", values=forms.safe_values(given))
    parsed = forms.parse(
        svc.FakturowniaConnect,
        {
            "seller_name": given.get("seller_name"),
            "account": given.get("account", ""),
            "api_token": given.get("api_token", ""),
            "receipts_enabled": forms.ticked(given, "receipts_enabled"),
            "send_by_email": forms.ticked(given, "send_by_email"),
        },
    )
    if isinstance(parsed, dict):
        problems.refuse(parsed)
        return await render(request, ctx, seller_id, Provider.FAKTUROWNIA, problems, 422)
    name = _connection_name(await _existing(ctx, seller_id), Provider.FAKTUROWNIA)
    try:
        await svc.connect_fakturownia(
            ctx.settings,
            ctx.sessions,
            seller_id,
            name,
            parsed,
            confirm_switch=forms.ticked(given, "confirm_switch"),
        )
    except svc.SwitchNotConfirmed as exc:
        problems.refuse({"confirm_switch": str(exc)})
        return await render(request, ctx, seller_id, Provider.FAKTUROWNIA, problems, 409)
    except svc.ProviderCheckFailed as exc:
        # refused credentials are the token's fault; an unknown or unreachable account the link's
        problems.refuse({"api_token" if exc.auth else "account": str(exc)})
        return await render(request, ctx, seller_id, Provider.FAKTUROWNIA, problems, 400)
    except svc.SellerServiceError as exc:
        problems.refuse({"form": str(exc)})
        return await render(request, ctx, seller_id, Provider.FAKTUROWNIA, problems, 400)
    return web.see_other(seller_url(seller_id, notice="connected"))


@seller_forms.post("/sellers/{seller_id}/wfirma")
async def connect_wfirma(request: Request, ctx: Ctx, seller_id: SellerId, _: Form) -> Response:
    """Store the OAuth app ("Generate"), then send the browser to wFirma's consent page."""
    given = await forms.fields(request)
    problems = Problems("wfirma", values=forms.safe_values(given))
    parsed = forms.parse(
        svc.WfirmaConnect,
        {
            "seller_name": given.get("seller_name"),
            "client_id": given.get("client_id", ""),
            "client_secret": given.get("client_secret", ""),
            "company_id": given.get("company_id"),
            "redirect_uri": given.get("redirect_uri", ""),
            "receipts_enabled": forms.ticked(given, "receipts_enabled"),
            "send_by_email": forms.ticked(given, "send_by_email"),
        },
    )
    if isinstance(parsed, dict):
        problems.refuse(parsed)
        return await render(request, ctx, seller_id, Provider.WFIRMA, problems, 422)
    name = _connection_name(await _existing(ctx, seller_id), Provider.WFIRMA)
    try:
        connected = await svc.connect_wfirma(
            ctx.settings,
            ctx.sessions,
            seller_id,
            name,
            parsed,
            confirm_switch=forms.ticked(given, "confirm_switch"),
        )
    except svc.SwitchNotConfirmed as exc:
        problems.refuse({"confirm_switch": str(exc)})
        return await render(request, ctx, seller_id, Provider.WFIRMA, problems, 409)
    except (svc.SellerServiceError, OnboardingError) as exc:
        problems.refuse({"form": str(exc)})
        return await render(request, ctx, seller_id, Provider.WFIRMA, problems, 400)
    return web.see_other(connected.authorization_url)


@seller_forms.post("/sellers/{seller_id}/connections/{connection}/generate")
async def generate(
    request: Request, ctx: Ctx, seller_id: SellerId, connection: ConnectionName, _: Form
) -> Response:
    """A fresh consent for a stored wFirma app (e.g. after it needs re-authorization)."""
    try:
        url = await svc.wfirma_authorization_url(ctx.settings, ctx.sessions, seller_id, connection)
    except (svc.SellerServiceError, OnboardingError) as exc:
        problems = Problems("state", errors={"form": str(exc)})
        return await render(request, ctx, seller_id, None, problems, 400)
    return web.see_other(url)


@seller_forms.post("/sellers/{seller_id}/connections/{connection}/verify")
async def verify(
    request: Request, ctx: Ctx, seller_id: SellerId, connection: ConnectionName, _: Form
) -> Response:
    """A real call with the stored credentials; its outcome becomes the connection's state."""
    try:
        await svc.verify_connection(ctx.settings, ctx.sessions, seller_id, connection)
    except svc.SellerServiceError as exc:
        problems = Problems("state", errors={"form": str(exc)})
        return await render(request, ctx, seller_id, None, problems, 400)
    return web.see_other(seller_url(seller_id, notice="verified"))


@seller_forms.post("/sellers/{seller_id}/channels/{channel}")
async def save_channel(
    request: Request, ctx: Ctx, seller_id: SellerId, channel: Channel, _: Form
) -> Response:
    """Map the channel to a department or series, with its auto-generate and e-mail toggles."""
    given = await forms.fields(request)
    problems = Problems(channel, values=forms.safe_values(given))
    parsed = forms.parse(
        svc.ChannelSettings,
        {
            "connection": given.get("connection"),
            "target": given.get("target"),
            "auto_generate": forms.ticked(given, "auto_generate"),
            "send_by_email": forms.ticked(given, "send_by_email"),
        },
    )
    if isinstance(parsed, dict):
        problems.refuse(parsed)
        return await render(request, ctx, seller_id, None, problems, 422)
    if parsed.target is None:
        problems.refuse({"target": "choose a department or series"})
        return await render(request, ctx, seller_id, None, problems, 422)
    try:
        await svc.set_channel(ctx.settings, ctx.sessions, seller_id, channel, parsed)
    except svc.SellerServiceError as exc:
        problems.refuse({"form": str(exc)})
        return await render(request, ctx, seller_id, None, problems, 400)
    return web.see_other(seller_url(seller_id, notice="channel_saved") + f"#channel-{channel}")
