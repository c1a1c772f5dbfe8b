"""The ``/__sim/`` control API, so a demo or another process can drive a standalone simulator.

It only forwards to the ``FakturowniaSimulator`` facade, keeping one implementation of each
operation. It has no authentication: the simulator is meant for localhost only. The handlers
both simulators have (health, faults, request log) live in ``simulators.common.control``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from simulators.common.control import (
    BaseControlApi,
    as_list,
    known_name,
    ok,
    or_400,
    payload,
)

from .ksef_rules import KsefRule
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
    app.router.add_post("/__sim/accounts/{prefix}/ksef/rules", control.add_ksef_rules)
    app.router.add_delete("/__sim/accounts/{prefix}/ksef/rules", control.clear_ksef_rules)
    app.router.add_get("/__sim/accounts/{prefix}/ksef/sends", control.ksef_sends)
    app.router.add_get("/__sim/accounts/{prefix}/webhooks", control.webhook_deliveries)
    app.router.add_get("/__sim/accounts/{prefix}/invoices", control.invoices)
    app.router.add_get("/__sim/accounts/{prefix}/clients", control.clients)
    app.router.add_get("/__sim/accounts/{prefix}/emails", control.emails)
    app.router.add_get("/__sim/accounts/{prefix}/requests", control.requests)


class ControlApi(BaseControlApi["FakturowniaSimulator"]):
    """aiohttp handlers bound to one simulator; faults and logs belong to an account."""

    _rule_type = FaultRule

    def _owner(self, request: web.Request) -> str:
        return self._prefix(request)

    def _prefix(self, request: web.Request) -> str:
        return known_name(request, "prefix", (a.prefix for a in self._sim.accounts()), "account")

    async def reset(self, request: web.Request) -> web.Response:
        data = await payload(request)
        self._sim.reset(accounts=isinstance(data, dict) and bool(data.get("accounts")))
        return ok()

    async def list_accounts(self, request: web.Request) -> web.Response:
        return web.json_response([a.to_dict() for a in self._sim.accounts()])

    async def add_account(self, request: web.Request) -> web.Response:
        data = await payload(request)
        account = or_400(lambda: SimAccount.from_dict(data))
        self._sim.add_account(account)
        return web.json_response(account.to_dict(), status=201)

    async def revoke_token(self, request: web.Request) -> web.Response:
        self._sim.revoke_token(self._prefix(request))
        return ok()

    async def complete_ksef(self, request: web.Request) -> web.Response:
        self._sim.complete_ksef(self._prefix(request))
        return ok()

    async def add_ksef_rules(self, request: web.Request) -> web.Response:
        """One ``KsefRule`` or a list of them, e.g. ``{"path": "reject", "oid_regex": "^A-"}``."""
        prefix = self._prefix(request)
        data = await payload(request)
        rules = or_400(lambda: [KsefRule.from_dict(item) for item in as_list(data)])
        for rule in rules:
            self._sim.add_ksef_rule(prefix, rule)
        return web.json_response([r.to_dict() for r in rules], status=201)

    async def clear_ksef_rules(self, request: web.Request) -> web.Response:
        self._sim.clear_ksef_rules(self._prefix(request))
        return ok()

    async def ksef_sends(self, request: web.Request) -> web.Response:
        sends = self._sim.ksef_sends(self._prefix(request))
        return web.json_response([s._asdict() for s in sends])

    async def webhook_deliveries(self, request: web.Request) -> web.Response:
        deliveries = self._sim.webhook_deliveries(self._prefix(request))
        return web.json_response([d._asdict() for d in deliveries])

    async def invoices(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim.invoices(self._prefix(request)))

    async def clients(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim.clients(self._prefix(request)))

    async def emails(self, request: web.Request) -> web.Response:
        emails = self._sim.sent_emails(self._prefix(request))
        return web.json_response([e.to_dict() for e in emails])
