"""Ops views of orders: parked and in-doubt ledger rows, KSeF's open and rejected documents,
and one order's timeline, all read-only (config/ledger_queries.py, config/clearance_queries.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from config.clearance_queries import open_documents, order_history
from config.clock import utcnow
from config.ledger_queries import rejected_documents, waiting_orders
from domain.ksef import hours_left
from workers.api_params import Ctx
from workers.console import web
from workers.console.session import PATH, signed_in

orders = APIRouter(prefix=PATH, dependencies=[Depends(signed_in)])


@orders.get("/parked")
async def parked(request: Request, ctx: Ctx) -> Response:
    rows = await waiting_orders(ctx.sessions)
    return web.page(request, "parked.html", rows=rows, now=utcnow())


@orders.get("/ksef")
async def ksef(request: Request, ctx: Ctx) -> Response:
    now = utcnow()
    pending = [
        (d, hours_left(d.offline_deadline, now) if d.offline_deadline else None)
        for d in await open_documents(ctx.sessions, now)
    ]
    rejected = await rejected_documents(ctx.sessions)
    return web.page(request, "ksef.html", pending=pending, rejected=rejected)


@orders.get("/orders")
async def timeline(
    request: Request,
    ctx: Ctx,
    order_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    order_id = (order_id or "").replace("\x00", "").strip()
    documents = await order_history(ctx.sessions, order_id) if order_id else []
    return web.page(request, "timeline.html", order_id=order_id, documents=documents)
