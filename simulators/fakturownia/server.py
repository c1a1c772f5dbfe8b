"""aiohttp glue for the account API: routing, auth, faults, logging around the sync handlers.

Order per request mirrors what a client experiences in production: gateway-level faults
(latency, 5xx, 429) happen before the application, auth before routing, and the "after commit"
faults only once the handler has changed state.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from simulators.common.faults import after_commit, gateway_page, take_fault
from simulators.common.web import json_response

from . import ksef
from .api_types import ApiRequest, ApiResponse, HandlerEnv
from .auth import is_authorized, presented_token
from .clock import Clock
from .errors import ApiError
from .models import FaultRule, RequestRecord
from .routes import AccountTarget, find_route, resolve_account
from .state import AccountState, SimStore

RATE_LIMIT_BODY = {"code": "error", "message": "Too many requests"}


class AccountApi:
    """The catch-all handler that serves every account's REST API."""

    def __init__(self, store: SimStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = resolve_account(request.path, request.host, request.scheme)
        try:
            body = await _json_body(request)
        except ApiError as exc:
            return _error(exc)
        with self._store.lock:
            state = self._store.accounts.get(target.prefix or "")
            fault = take_fault(state.faults, request.method, target.path) if state else None
        if state is None:
            return _error(ApiError.unauthorized())
        early = await self._gateway_fault(state, fault)
        if early is not None:
            self._log(state, request.method, target.path, early.status)
            return early
        response = self._dispatch(state, target, request, body)

        def log(dropped: bool) -> None:
            self._log(state, request.method, target.path, None if dropped else response.status)

        return await after_commit(request, fault, response, log)

    async def _gateway_fault(
        self, state: AccountState, fault: FaultRule | None
    ) -> web.Response | None:
        """Faults that strike before the application sees the request."""
        if fault is None:
            return None
        if fault.action == "latency":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif fault.action == "http_5xx":
            return gateway_page(fault.status)
        elif fault.action == "http_429":
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return json_response(RATE_LIMIT_BODY, 429, headers)
        elif fault.action == "revoke_token":
            with self._store.lock:
                state.revoked = True
        return None

    def _dispatch(
        self, state: AccountState, target: AccountTarget, request: web.Request, body: dict[str, Any]
    ) -> web.Response:
        """Authenticate, route and run the handler under the state lock."""
        found = find_route(request.method, target.path)
        token = presented_token(request.query, body, request.headers)
        with self._store.lock:
            if not (found and found[0].public) and not is_authorized(state, token):
                return _error(ApiError.unauthorized())
            if found is None:
                return _error(ApiError.not_found())
            route, match = found
            now = self._clock()
            ksef.refresh(state, now)
            api_request = ApiRequest(
                method=request.method,
                path=target.path,
                query=request.query,
                body=body,
                base_url=target.base_url,
                match=match,
            )
            try:
                result = route.handler(HandlerEnv(self._store, state, now), api_request)
            except ApiError as exc:
                return _error(exc)
        return _to_web(result)

    def _log(self, state: AccountState, method: str, path: str, status: int | None) -> None:
        with self._store.lock:
            state.requests.append(RequestRecord(method, path, status))


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of a write; non-object or absent bodies count as empty."""
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ApiError.bad_request("Invalid JSON body") from None
    return parsed if isinstance(parsed, dict) else {}


def _error(exc: ApiError) -> web.Response:
    return json_response(exc.body, exc.status)


def _to_web(result: ApiResponse) -> web.Response:
    if result.body is not None:
        return web.Response(
            status=result.status,
            body=result.body,
            content_type=result.content_type,
            headers=dict(result.headers),
        )
    return json_response(result.json, result.status, dict(result.headers))
