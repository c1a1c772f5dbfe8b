"""The server's background task: it applies due KSeF transitions without waiting for a read,
and delivers the queued account webhooks (``webhooks``).

Delivery is best effort, like any webhook: one POST per payload with a short timeout, in
order per account, outcome recorded in the account's ``webhook_log``; nothing is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from . import ksef
from .clock import Clock
from .models import WebhookDelivery
from .state import AccountState, SimStore

TICK_SECONDS = 0.05
POST_TIMEOUT_SECONDS = 2.0

_Batch = list[tuple[AccountState, str, dict[str, Any]]]


class WebhookPump:
    def __init__(self, store: SimStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: runs while the application serves."""
        task = asyncio.create_task(self._run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                for state, url, payload in self._collect():
                    status = await _post(session, url, payload)
                    invoice = payload["invoice"]
                    with self._store.lock:
                        state.webhook_log.append(
                            WebhookDelivery(url, invoice["id"], invoice["gov_status"], status)
                        )
                await asyncio.sleep(TICK_SECONDS)

    def _collect(self) -> _Batch:
        batch: _Batch = []
        with self._store.lock:
            now = self._clock()
            for state in self._store.accounts.values():
                ksef.refresh(state, now)
                url = state.config.webhook_url
                if url:
                    batch.extend((state, url, payload) for payload in state.webhook_outbox)
                state.webhook_outbox.clear()
        return batch


async def _post(session: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> int | None:
    try:
        async with session.post(url, json=payload) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None
