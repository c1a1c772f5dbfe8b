"""The wFirma request budget under a backlog for ONE seller.

The simulator enforces wFirma's reported budget per (login, integration) and answers 429 past
it; the worker's own limiter (settings `wfirma_requests_per_15s/_per_minute/_per_hour`, split
over `worker_processes`) should keep it under that budget while using as much of it as it may.
The simulator's request log has no times, so it is polled and each new entry is stamped when
first seen (resolution: the poll interval).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from adapters.wfirma.rate_limit import RateLimiter
from bench import load, stats
from bench.load import Phase
from bench.procs import Workers
from bench.runner import Context
from bench.stack import Simulator, wfirma_config
from config.settings import Settings
from tests import factories
from tests.integration.harness import create_missing_topics

WINDOWS = ((15.0, "wfirma_requests_per_15s"), (60.0, "wfirma_requests_per_minute"))


def configured_windows() -> list[tuple[float, int]]:
    """The worker's budget as it reads it: the defaults, or the environment's override."""
    s = Settings()
    hour = (3600.0, s.wfirma_requests_per_hour)
    return [(w, getattr(s, name)) for w, name in WINDOWS] + [hour]


def allowed_in(seconds: float, windows: list[tuple[float, int]]) -> int:
    """Most requests a sliding-window budget admits in `seconds` starting from empty: the
    worker's own limiter on a simulated clock, every request as early as all windows allow
    (with 30/15 s and 80/min that is 30 + 30 + 20 in the first minute, not 30 every 15 s)."""
    now = [0.0]
    limiter = RateLimiter(windows, clock=lambda: now[0])
    admitted = 0
    while True:
        now[0] += limiter.wait_time()
        if now[0] >= seconds:
            return admitted
        limiter.take()
        admitted += 1


def wfirma_orders(ctx: Context, n: int) -> list[load.Record]:
    topic = f"orders.{ctx.stack.wfirma_channel}"
    seller, channel = ctx.stack.wfirma_seller, ctx.stack.wfirma_channel
    out = []
    for i in range(n):
        order_id = f"wf-{i}"
        event = factories.completed(seller, channel, factories.order(order_id, company=i % 2 == 0))
        out.append((topic, order_id.encode(), json.dumps(event).encode()))
    return out


async def rate_limit(ctx: Context, backlog: int, seconds: float, workdir: Path) -> dict[str, Any]:
    """`backlog` orders for the wFirma seller, one worker, observed for `seconds` from its
    first request to wFirma."""
    sim = Simulator("wfirma", wfirma_config(ctx.stack), workdir)
    ctx.stack.wfirma_url = sim.url
    login = f"bench-{ctx.stack.uid}"
    channels = [*ctx.stack.channels, ctx.stack.wfirma_channel]
    topic = f"orders.{ctx.stack.wfirma_channel}"
    await create_missing_topics(ctx.stack.bootstrap, [topic, f"{topic}.dlq"], ctx.stack.partitions)
    workers = Workers(1, ctx.stack.env(1, channels), workdir, "wfirma")
    seen: list[tuple[float, dict[str, Any]]] = []
    phase = Phase("wfirma backlog")
    try:
        await load.wait_group_stable(ctx.stack.bootstrap, ctx.stack.group, 1, 180)
        produced_at = time.monotonic()
        await ctx.harness.burst(phase, wfirma_orders(ctx, backlog))
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            workers.check_alive()
            log = sim.requests(login)
            now = time.monotonic()
            seen += [(now, r) for r in log[len(seen) :]]
            if seen and deadline is None:
                deadline = seen[0][0] + seconds
            if deadline is None and now - produced_at > 120:
                raise TimeoutError("the worker sent nothing to wFirma within 120 s")
            await asyncio.sleep(0.2)
    finally:
        workers.stop()
        sim.stop()
    return summarize(seen, seconds, phase)


def summarize(seen: list[tuple[float, dict[str, Any]]], seconds: float, phase: Phase) -> dict:
    start = seen[0][0]
    inside = [(t, r) for t, r in seen if t <= start + seconds]
    times = [t for t, _ in inside]
    windows = configured_windows()
    allowed = allowed_in(seconds, windows)
    limited = [r for _, r in inside if r.get("status") == 429 or "LIMIT" in str(r.get("code"))]
    issued = len(phase.done) - phase.failed
    return {
        "seconds": seconds,
        "requests": len(inside),
        "admitted": len(inside) - len(limited),
        "requests_per_second": round(stats.rate(len(inside), seconds), 2),
        "configured_windows": [{"seconds": w, "requests": b} for w, b in windows],
        "allowed_in_period": allowed,
        "achieved_vs_configured": round(stats.ratio(len(inside) - len(limited), allowed), 2),
        "max_in_15s": stats.max_in_window(times, 15.0),
        "max_in_60s": stats.max_in_window(times, 60.0),
        "rate_limited_answers": len(limited),
        "orders_issued": issued,
        "orders_failed": phase.failed,
        "requests_per_issued_order": round(len(inside) / issued, 2) if issued else None,
        "paths": _count(r["path"] for _, r in inside),
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
