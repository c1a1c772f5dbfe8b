"""The ``/__sim/`` control API, so a demo or another process can drive a standalone simulator.

It only forwards to the ``FakturowniaSimulator`` facade, keeping one implementation of each
operation. It has no authentication: the simulator is meant for localhost only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .models import FaultRule, SimAccount

if TYPE_CHECKING:
    from .simulator import FakturowniaSimulator


def add_control_routes(app: web.Application, sim: FakturowniaSimulator) -> None:
    control = ControlApi(sim)
    app.router.add_get("/__sim/health", control.health)
    app.router.add_post("/__sim/reset", control.reset)
    app.router.add_get("/__sim/accounts", control.list_accounts)
    app.router.add_post("/__sim/accounts", control.add_account)
    app.router.add_post("/__sim/accounts/{prefix}/faults", control.add_faults)
    app.router.add_delete("/__sim/accounts/{prefix}/faults", control.clear_faults)
    app.router.add_post("/__sim/accounts/{prefix}/revoke_token", control.revoke_token)
    app.router.add_post("/__sim/accounts/{prefix}/ksef/complete", control.complete_ksef)
    app.router.add_get("/__sim/accounts/{prefix}/invoices", control.invoices)
    app.router.add_get("/__sim/accounts/{prefix}/clients", control.clients)
    app.router.add_get("/__sim/accounts/{prefix}/emails", control.emails)
    app.router.add_get("/__sim/accounts/{prefix}/requests", control.requests)


async def _payload(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="invalid JSON") from None


def _ok() -> web.Response:
    return web.json_response({"status": "ok"})


class ControlApi:
    """aiohttp handlers bound to one simulator."""

    def __init__(self, sim: FakturowniaSimulator) -> None:
        self._sim = sim

    def _prefix(self, request: web.Request) -> str:
        """The path's account prefix, or 404 so typos in a demo script are obvious."""
        prefix = request.match_info["prefix"]
        if prefix not in {a.prefix for a in self._sim.accounts()}:
            raise web.HTTPNotFound(text=f"unknown account {prefix!r}")
        return prefix

    async def health(self, request: web.Request) -> web.Response:
        return _ok()

    async def reset(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        self._sim.reset(accounts=isinstance(payload, dict) and bool(payload.get("accounts")))
        return _ok()

    async def list_accounts(self, request: web.Request) -> web.Response:
        return web.json_response([a.to_dict() for a in self._sim.accounts()])

    async def add_account(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        try:
            account = SimAccount.from_dict(payload)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        self._sim.add_account(account)
        return web.json_response(account.to_dict(), status=201)

    async def add_faults(self, request: web.Request) -> web.Response:
        prefix = self._prefix(request)
        payload = await _payload(request)
        try:
            rules = [FaultRule.from_dict(item) for item in _as_list(payload)]
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        for rule in rules:
            self._sim.add_fault(prefix, rule)
        return web.json_response([r.to_dict() for r in rules], status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self._sim.clear_faults(self._prefix(request))
        return _ok()

    async def revoke_token(self, request: web.Request) -> web.Response:
        self._sim.revoke_token(self._prefix(request))
        return _ok()

    async def complete_ksef(self, request: web.Request) -> web.Response:
        self._sim.complete_ksef(self._prefix(request))
        return _ok()

    async def invoices(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim.invoices(self._prefix(request)))

    async def clients(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim.clients(self._prefix(request)))

    async def emails(self, request: web.Request) -> web.Response:
        emails = self._sim.sent_emails(self._prefix(request))
        return web.json_response([e.to_dict() for e in emails])

    async def requests(self, request: web.Request) -> web.Response:
        log = self._sim.request_log(self._prefix(request))
        return web.json_response([r._asdict() for r in log])


def _as_list(payload: Any) -> list[Any]:
    """Accept one rule object or a list of them."""
    return payload if isinstance(payload, list) else [payload]
