"""aiohttp glue: faults, auth, limits, formats and company resolution around the handlers.

The order per request mirrors what a client meets in production: gateway faults (latency, 5xx
pages, injected status codes) first, then authentication, the request budget, routing, scopes,
the body format and the company; "after commit" faults strike once the handler changed state.
Every answer is HTTP 200 with a body status code unless a knob or a fault says otherwise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulators.common.faults import after_commit, gateway_page, take_fault
from simulators.common.web import json_response

from . import oauth, ratelimit, xmlio
from .api_types import Call, Env, Reply
from .auth import Credentials, authenticate, claimed_login
from .envelope import status_only, unwrap_api
from .errors import (
    ACCESS_DENIED,
    ACTION_NOT_FOUND,
    COMPANY_ID_REQUIRED,
    CONTROLLER_NOT_FOUND,
    DENIED_SCOPE_REQUESTED,
    INPUT_ERROR,
    ApiError,
)
from .models import FaultRule, RequestRecord
from .routes import MODULES, Action, parse_path, required_scope
from .state import CompanyState, LoginState, SimStore


@dataclass
class Outcome:
    """A built response plus what the request log records about it."""

    response: web.Response
    code: str | None = None
    company_id: int | None = None


class WfirmaServer:
    """Request handlers bound to one store; ``auth_error_status`` is the AUTH HTTP-status knob."""

    def __init__(self, store: SimStore, auth_error_status: int) -> None:
        self._store = store
        self._auth_error_status = auth_error_status

    # --- API2 modules -------------------------------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        creds = Credentials.presented(request.headers, request.query)
        with self._store.lock:
            login = claimed_login(self._store, creds)
        return await self._with_faults(request, login, lambda: self._dispatch(request, creds, raw))

    def _dispatch(self, request: web.Request, creds: Credentials, raw: bytes) -> Outcome:
        output = _output_format(request.query)
        with self._store.lock:
            now = self._store.now()
            try:
                identity = authenticate(self._store, creds, now, self._auth_error_status)
                login = self._store.logins[identity.login]
                ratelimit.admit(
                    self._store,
                    login.config.rate_limits,
                    (identity.login, identity.app),
                    now.timestamp(),
                )
                target = parse_path(request.path)
                module = MODULES.get(target.module) if target else None
                if target is None or module is None:
                    # Observed (§2.4): this one comes back as XML whatever was asked for.
                    return _answer(status_only(CONTROLLER_NOT_FOUND), "xml")
                action = module.get(target.action)
                if action is None:
                    raise ApiError(ACTION_NOT_FOUND)
                scope = required_scope(target.module, action)
                if identity.scopes is not None and scope not in identity.scopes:
                    raise ApiError(DENIED_SCOPE_REQUESTED)
                body = _parse_body(raw, request.query)
                company = _company(login, request.query, action)
                call = Call(target.module, target.action, target.object_id, request.query, body)
                reply = action.handler(Env(self._store, login, company, now), call)
            except ApiError as exc:
                return _answer(exc.envelope(), output, exc.http_status)
            return _reply(reply, output, company.config.id if company else None)

    # --- OAuth ----------------------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """The consent page stand-in: approve and redirect (302) back to the app."""
        with self._store.lock:
            try:
                location = oauth.authorize(self._store, request.query, self._store.now())
            except oauth.OAuthError as exc:
                page = (
                    f"<html><body><h1>Błąd autoryzacji</h1><p>{exc.description}</p></body></html>"
                )
                return web.Response(status=400, text=page, content_type="text/html")
        raise web.HTTPFound(location)

    async def token(self, request: web.Request) -> web.StreamResponse:
        form = await _form(request)
        client_id = oauth.client_id_of(form, request.headers)
        with self._store.lock:
            app = self._store.oauth.apps.get(client_id)
            login = app.login if app else None
        return await self._with_faults(request, login, lambda: self._token(request, form))

    def _token(self, request: web.Request, form: dict[str, str]) -> Outcome:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        with self._store.lock:
            try:
                body = oauth.token(self._store, form, request.headers, self._store.now())
            except oauth.OAuthError as exc:
                return Outcome(json_response(exc.body(), exc.status, headers), exc.error)
        return Outcome(json_response(body, 200, headers), "OK")

    # --- faults and logging -------------------------------------------------------------

    async def _with_faults(
        self, request: web.Request, login: str | None, work: Callable[[], Outcome]
    ) -> web.StreamResponse:
        with self._store.lock:
            state = self._store.logins.get(login) if login else None
            fault = take_fault(state.faults, request.method, request.path) if state else None
        early = await self._gateway_fault(state, fault)
        if early is not None:
            self._log(state, request, early)
            return early.response
        outcome = work()

        def log(dropped: bool) -> None:
            self._log(state, request, outcome, dropped)

        return await after_commit(request, fault, outcome.response, log)

    async def _gateway_fault(
        self, state: LoginState | None, fault: FaultRule | None
    ) -> Outcome | None:
        """Faults that strike before the application sees the request."""
        if fault is None or state is None:
            return None
        if fault.action == "latency":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif fault.action == "http_5xx":
            return Outcome(gateway_page(fault.status or 502))
        elif fault.action == "status_code":
            return Outcome(json_response(status_only(fault.code), fault.status or 200), fault.code)
        elif fault.action == "revoke_refresh_token":
            with self._store.lock:
                oauth.revoke_refresh_tokens(self._store, state.config.login)
        elif fault.action == "expire_access_token":
            with self._store.lock:
                oauth.expire_access_tokens(self._store, state.config.login, self._store.now())
        return None

    def _log(
        self,
        state: LoginState | None,
        request: web.Request,
        outcome: Outcome,
        dropped: bool = False,
    ) -> None:
        if state is None:
            return
        status = None if dropped else outcome.response.status
        record = RequestRecord(
            request.method, request.path, status, outcome.code, outcome.company_id
        )
        with self._store.lock:
            state.requests.append(record)


def _output_format(query: Any) -> str:
    """``outputFormat`` defaults to ``inputFormat``, which defaults to XML (§2.1)."""
    chosen = query.get("outputFormat") or query.get("inputFormat") or "xml"
    return "json" if chosen.lower() == "json" else "xml"


def _parse_body(raw: bytes, query: Any) -> dict[str, Any]:
    if not raw.strip():
        return {}
    if (query.get("inputFormat") or "xml").lower() == "json":
        try:
            return unwrap_api(json.loads(raw))
        except ValueError:
            raise ApiError(INPUT_ERROR) from None
    try:
        return xmlio.parse(raw)
    except ValueError:
        raise ApiError(INPUT_ERROR) from None


def _company(login: LoginState, query: Any, action: Action) -> CompanyState | None:
    """The company the call runs for (§5), or ``None`` for user-scoped modules."""
    if not action.company_scoped:
        return None
    raw = (query.get("company_id") or "").strip()
    if raw:
        company = login.companies.get(int(raw)) if raw.isdigit() else None
        if company is None:
            raise ApiError(ACCESS_DENIED)  # UNCONFIRMED: a company the login cannot see
    elif len(login.companies) > 1 and login.config.company_id_required:
        raise ApiError(COMPANY_ID_REQUIRED)
    else:
        company = login.companies.get(login.selected_company_id or 0)
        if company is None:
            raise ApiError(COMPANY_ID_REQUIRED)
    if action.access == "write" and company.config.read_only:
        raise ApiError(ACCESS_DENIED)
    return company


def _reply(reply: Reply, output: str, company_id: int | None) -> Outcome:
    if reply.body is not None:
        response = web.Response(body=reply.body, content_type=reply.content_type)
        return Outcome(response, None, company_id)
    payload = reply.json or status_only()
    outcome = _answer(payload, output)
    outcome.company_id = company_id
    return outcome


def _answer(payload: dict[str, Any], output: str, http_status: int = 200) -> Outcome:
    """Serialise now, under the lock, so the server thread never shares live state."""
    code = payload.get("status", {}).get("code")
    if output == "json":
        return Outcome(json_response(payload, http_status), code)
    response = web.Response(
        status=http_status, body=xmlio.render(payload), content_type="application/xml"
    )
    return Outcome(response, code)


async def _form(request: web.Request) -> dict[str, str]:
    """Token requests are form-encoded in every working client; JSON is tolerated (UNCONFIRMED)."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    posted = await request.post()
    return {k: v for k, v in posted.items() if isinstance(v, str)}
