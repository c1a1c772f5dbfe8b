"""aiohttp handlers of the simulated VIES REST API (`/check-vat-number`, `/ms/{cc}/vat/{n}`,
`/check-status`), with fault injection.

Per call, as a client would meet them: gateway-level faults first (latency, a 5xx page, a
dropped connection), then VIES's own errors (a scripted one, a member state marked
unavailable, input VIES refuses), then the registry's answer.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from simulators.common.faults import gateway_page
from simulators.common.web import json_response

from . import answers
from .models import MEMBER_STATES
from .state import ViesState

Clock = Callable[[], datetime]
_NUMBER = re.compile(r"^[0-9A-Z+*]{2,12}$")
_SEPARATORS = re.compile(r"[\s.\-/]")
# (scripted error code, scripted status) -> the endpoint's response
Answer = Callable[[str | None, int | None], web.Response]


def _compact(value: Any) -> str:
    return _SEPARATORS.sub("", str(value or "")).upper()


class ViesApi:
    def __init__(self, state: ViesState, clock: Clock) -> None:
        self._state = state
        self._clock = clock

    async def check_vat_number(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        country, number = _compact(body.get("countryCode")), _compact(body.get("vatNumber"))
        requester = (body.get("requesterMemberStateCode"), body.get("requesterNumber"))

        def answer(error: str | None, status: int | None = None) -> web.Response:
            error = error or _input_error(country, number) or _requester_error(*requester)
            error = error or self._availability_error(country)
            if error is not None:
                code = status or answers.error_status(error)
                return json_response(answers.error_body(error), code)
            consultation = self._state.consultation_number() if all(requester) else ""
            verdict = self._verdict(country, number)
            return json_response(answers.check_response(verdict, self._clock(), consultation), 200)

        return await self._serve(request, country, country + number, answer)

    async def vat_information(self, request: web.Request) -> web.StreamResponse:
        country = request.match_info["country"].upper()
        number = _compact(request.match_info["number"])

        def answer(error: str | None, status: int | None = None) -> web.Response:
            error = error or _input_error(country, number) or self._availability_error(country)
            verdict = None if error else self._verdict(country, number)
            body = answers.information(country, number, self._clock(), verdict=verdict, error=error)
            return json_response(body, status or 200)

        return await self._serve(request, country, country + number, answer)

    async def check_status(self, request: web.Request) -> web.Response:
        with self._state.lock:
            down = set(self._state.unavailable)
        countries = [
            {"countryCode": c, "availability": "Unavailable" if c in down else "Available"}
            for c in sorted(MEMBER_STATES)
        ]
        return json_response({"vow": {"available": True}, "countries": countries}, 200)

    async def _serve(
        self,
        request: web.Request,
        country: str,
        vat_id: str,
        answer: Answer,
    ) -> web.StreamResponse:
        fault = self._state.take_fault(request.method, request.path, country)
        error: str | None = None
        status: int | None = None
        if fault is not None and fault.action == "latency":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif fault is not None and fault.action == "http_5xx":
            response = gateway_page(fault.status or 503)
            self._state.log(request.method, request.path, vat_id, response.status)
            return response
        elif fault is not None and fault.action == "drop":
            self._state.log(request.method, request.path, vat_id, None)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp's own path for a vanished client
        elif fault is not None and fault.action == "vies_error":
            error, status = fault.error, fault.status
        response = answer(error, status)
        self._state.log(request.method, request.path, vat_id, response.status)
        return response

    def _availability_error(self, country: str) -> str | None:
        with self._state.lock:
            return "MS_UNAVAILABLE" if country in self._state.unavailable else None

    def _verdict(self, country: str, number: str) -> answers.Verdict:
        with self._state.lock:
            known = self._state.numbers.get(country + number)
        return answers.Verdict(country, number, known)


def _input_error(country: str, number: str) -> str | None:
    """What VIES refuses before asking a registry: an unknown state, a malformed number."""
    if country not in MEMBER_STATES or not _NUMBER.match(number):
        return "INVALID_INPUT"
    return None


def _requester_error(country: Any, number: Any) -> str | None:
    """A requester is optional, but when named it must be whole and well-formed."""
    if not country and not number:
        return None
    if _input_error(_compact(country), _compact(number)):
        return "INVALID_REQUESTER_INFO"
    return None


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; anything else reads as empty (VIES answers INVALID_INPUT)."""
    try:
        parsed = json.loads(await request.read() or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
