"""``ViesSimulator``: the in-process facade tests use to configure, serve and inspect the
simulated VIES REST service. Reads return copies, so assertions never race the server thread.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime

from aiohttp import web

from simulators.common.serving import Served

from .control import add_control_routes
from .models import FaultRule, KnownNumber, RequestRecord
from .server import Clock, ViesApi
from .state import ViesState


def utc_now() -> datetime:
    return datetime.now(UTC)


class ViesSimulator(Served):
    """A local stand-in for the EC's VIES REST API (base URL: the served URL).

    ``numbers`` are the registered VAT ids (anything else answers ``valid: false``);
    ``clock`` stamps ``requestDate``.
    """

    _thread_name = "vies-simulator"

    def __init__(
        self,
        numbers: Iterable[KnownNumber] = (),
        *,
        clock: Clock = utc_now,
        shutdown_timeout: float = 0.5,
    ) -> None:
        self._state = ViesState()
        self._clock = clock
        self._shutdown_timeout = shutdown_timeout
        for number in numbers:
            self.register(number)

    # --- configuration -------------------------------------------------------------------

    def register(self, number: KnownNumber) -> None:
        """Add a number to the registry, or replace what it says of that VAT id."""
        with self._state.lock:
            self._state.numbers[number.vat_id] = copy.copy(number)

    def numbers(self) -> list[KnownNumber]:
        with self._state.lock:
            return [copy.copy(n) for n in self._state.numbers.values()]

    def clear_numbers(self) -> None:
        with self._state.lock:
            self._state.numbers.clear()

    def set_available(self, country: str, available: bool) -> None:
        """A member state's registry down (``MS_UNAVAILABLE`` for its numbers) or back."""
        with self._state.lock:
            if available:
                self._state.unavailable.discard(country.upper())
            else:
                self._state.unavailable.add(country.upper())

    def add_fault(self, owner: str, rule: FaultRule) -> None:
        """Queue a fault (``owner`` is ignored: one service); rules are tried in order."""
        with self._state.lock:
            self._state.faults.append(copy.copy(rule))

    def clear_faults(self, owner: str = "") -> None:
        with self._state.lock:
            self._state.faults.clear()

    def reset(self) -> None:
        """Forget numbers, unavailable states, faults and the request log."""
        with self._state.lock:
            self._state.numbers.clear()
            self._state.unavailable.clear()
            self._state.faults.clear()
            self._state.requests.clear()

    # --- inspection ----------------------------------------------------------------------

    def request_log(self, owner: str = "") -> list[RequestRecord]:
        with self._state.lock:
            return list(self._state.requests)

    # --- serving -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        add_control_routes(app, self)
        api = ViesApi(self._state, self._clock)
        app.router.add_post("/check-vat-number", api.check_vat_number)
        app.router.add_get("/ms/{country}/vat/{number}", api.vat_information)
        app.router.add_get("/check-status", api.check_status)
        return app
