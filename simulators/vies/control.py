"""The ``/__sim/`` control API of the VIES simulator, so a demo or another process can drive
it: the registry of numbers, member states whose registry is down, faults and the request log.
It only forwards to the ``ViesSimulator`` facade. No authentication: localhost only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from simulators.common.control import BaseControlApi, as_list, ok, or_400, payload

from .models import MEMBER_STATES, FaultRule, KnownNumber

if TYPE_CHECKING:
    from .simulator import ViesSimulator

OWNER = "vies"  # one service: faults and the log are not split by owner


def add_control_routes(app: web.Application, sim: ViesSimulator) -> None:
    control = ControlApi(sim)
    app.router.add_get("/__sim/health", control.health)
    app.router.add_post("/__sim/reset", control.reset)
    app.router.add_get("/__sim/numbers", control.list_numbers)
    app.router.add_post("/__sim/numbers", control.add_numbers)
    app.router.add_delete("/__sim/numbers", control.clear_numbers)
    app.router.add_post("/__sim/member-states/{country}/unavailable", control.make_unavailable)
    app.router.add_delete("/__sim/member-states/{country}/unavailable", control.make_available)
    app.router.add_post("/__sim/faults", control.add_faults)
    app.router.add_delete("/__sim/faults", control.clear_faults)
    app.router.add_get("/__sim/requests", control.requests)


class ControlApi(BaseControlApi["ViesSimulator"]):
    _rule_type = FaultRule

    def _owner(self, request: web.Request) -> str:
        return OWNER

    def _country(self, request: web.Request) -> str:
        country = request.match_info["country"].upper()
        if country not in MEMBER_STATES:
            raise web.HTTPNotFound(text=f"unknown member state {country!r}")
        return country

    async def reset(self, request: web.Request) -> web.Response:
        self._sim.reset()
        return ok()

    async def list_numbers(self, request: web.Request) -> web.Response:
        return web.json_response([n.to_dict() for n in self._sim.numbers()])

    async def add_numbers(self, request: web.Request) -> web.Response:
        """One ``KnownNumber`` or a list, e.g. ``{"vat_id": "DE123456789", "name": "X GmbH"}``."""
        data = await payload(request)
        numbers = or_400(lambda: [KnownNumber.from_dict(item) for item in as_list(data)])
        for number in numbers:
            self._sim.register(number)
        return web.json_response([n.to_dict() for n in numbers], status=201)

    async def clear_numbers(self, request: web.Request) -> web.Response:
        self._sim.clear_numbers()
        return ok()

    async def make_unavailable(self, request: web.Request) -> web.Response:
        self._sim.set_available(self._country(request), False)
        return ok()

    async def make_available(self, request: web.Request) -> web.Response:
        self._sim.set_available(self._country(request), True)
        return ok()
