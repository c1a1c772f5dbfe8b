"""The ``/__sim/`` control API, so a demo or another process can drive a standalone simulator.

It only forwards to the ``WfirmaSimulator`` facade, keeping one implementation per operation.
No authentication: the simulator is meant for localhost only. The handlers both simulators
have (health, faults, request log) live in ``simulators.common.control``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from simulators.common.control import BaseControlApi, known_name, ok, or_400, payload

from .models import FaultRule, SimLogin, SimOAuthApp

if TYPE_CHECKING:
    from .simulator import WfirmaSimulator

LOGIN = "/__sim/logins/{login}"
COMPANY = LOGIN + "/companies/{company_id:\\d+}"


def add_control_routes(app: web.Application, sim: WfirmaSimulator) -> None:
    control = ControlApi(sim)
    app.router.add_get("/__sim/health", control.health)
    app.router.add_post("/__sim/reset", control.reset)
    app.router.add_post("/__sim/advance", control.advance)
    app.router.add_get("/__sim/logins", control.list_logins)
    app.router.add_post("/__sim/logins", control.add_login)
    app.router.add_get("/__sim/oauth_apps", control.list_apps)
    app.router.add_post("/__sim/oauth_apps", control.add_app)
    app.router.add_get("/__sim/token_requests", control.token_requests)
    app.router.add_post(LOGIN + "/faults", control.add_faults)
    app.router.add_delete(LOGIN + "/faults", control.clear_faults)
    app.router.add_post(LOGIN + "/select_company", control.select_company)
    app.router.add_post(LOGIN + "/revoke_refresh_tokens", control.revoke_refresh_tokens)
    app.router.add_post(LOGIN + "/expire_access_tokens", control.expire_access_tokens)
    app.router.add_get(LOGIN + "/requests", control.requests)
    app.router.add_post(COMPANY + "/ksef/complete", control.complete_ksef)
    app.router.add_get(COMPANY + "/invoices", control.invoices)
    app.router.add_get(COMPANY + "/contractors", control.contractors)
    app.router.add_get(COMPANY + "/emails", control.emails)


class ControlApi(BaseControlApi["WfirmaSimulator"]):
    """aiohttp handlers bound to one simulator; faults and logs belong to a login."""

    _rule_type = FaultRule

    def _owner(self, request: web.Request) -> str:
        return self._login(request)

    def _login(self, request: web.Request) -> str:
        return known_name(request, "login", (e.login for e in self._sim.logins()), "login")

    def _company(self, request: web.Request) -> tuple[str, int]:
        login = self._login(request)
        company_id = int(request.match_info["company_id"])
        if self._sim.login(login).company(company_id) is None:
            raise web.HTTPNotFound(text=f"login {login!r} has no company {company_id}")
        return login, company_id

    async def reset(self, request: web.Request) -> web.Response:
        data = await payload(request)
        self._sim.reset(logins=isinstance(data, dict) and bool(data.get("logins")))
        return ok()

    async def advance(self, request: web.Request) -> web.Response:
        data = await payload(request)
        or_400(lambda: self._sim.advance(float(data.get("seconds", 0))), AttributeError)
        return web.json_response({"now": self._sim.now().isoformat()})

    async def list_logins(self, request: web.Request) -> web.Response:
        return web.json_response([entry.to_dict() for entry in self._sim.logins()])

    async def add_login(self, request: web.Request) -> web.Response:
        data = await payload(request)
        login = or_400(lambda: SimLogin.from_dict(data))
        self._sim.add_login(login)
        return web.json_response(login.to_dict(), status=201)

    async def list_apps(self, request: web.Request) -> web.Response:
        return web.json_response([a.to_dict() for a in self._sim.oauth_apps()])

    async def add_app(self, request: web.Request) -> web.Response:
        data = await payload(request)
        app = or_400(lambda: SimOAuthApp.from_dict(data))
        self._sim.add_oauth_app(app)
        return web.json_response(app.to_dict(), status=201)

    async def token_requests(self, request: web.Request) -> web.Response:
        return web.json_response([r._asdict() for r in self._sim.token_requests()])

    async def select_company(self, request: web.Request) -> web.Response:
        login = self._login(request)
        data = await payload(request)
        or_400(lambda: self._sim.select_company(login, int(data["company_id"])), KeyError)
        return ok()

    async def revoke_refresh_tokens(self, request: web.Request) -> web.Response:
        self._sim.revoke_refresh_tokens(self._login(request))
        return ok()

    async def expire_access_tokens(self, request: web.Request) -> web.Response:
        self._sim.expire_access_tokens(self._login(request))
        return ok()

    async def complete_ksef(self, request: web.Request) -> web.Response:
        self._sim.complete_ksef(*self._company(request))
        return ok()

    async def invoices(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim.invoices(*self._company(request)))

    async def contractors(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim.contractors(*self._company(request)))

    async def emails(self, request: web.Request) -> web.Response:
        emails = self._sim.sent_emails(*self._company(request))
        return web.json_response([e.to_dict() for e in emails])
