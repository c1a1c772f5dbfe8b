"""Async client of the European Commission's VIES REST service (`POST /check-vat-number`).

REST rather than SOAP (`checkVatService.wsdl`): the Commission documents both, with the same
fields and error codes; REST is plain JSON over the project's httpx (no zeep/lxml, no WSDL to
fetch at start). POST rather than `GET /ms/{cc}/vat/{number}`: the buyer's VAT id stays out of
URLs and so out of access and request logs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from adapters import observe
from adapters.httperrors import parse_body
from adapters.tls import shared_tls
from adapters.vies.answers import interpret
from adapters.vies.port import ViesUnavailable
from adapters.vies.vatid import split_vat_id
from config.clock import utcnow
from domain.vies import ViesResult

DEFAULT_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
CHECK_PATH = "/check-vat-number"


class ViesClient:
    """`ViesChecker` over the VIES REST API.

    `requester` (the seller's own VAT id, e.g. `PL5252445767`) makes each check a "qualified"
    one: VIES then returns a consultation number (`request_id`), the proof of the check that
    tax offices accept. `clock` stamps `checked_at` (aware UTC).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_URL,
        timeout: float = 10.0,
        requester: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._requester = split_vat_id(requester) if requester else None
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
            follow_redirects=False,
            verify=shared_tls(),
        )

    def __repr__(self) -> str:
        return f"ViesClient({self.base_url})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check(self, vat_id: str) -> ViesResult:
        country, number = split_vat_id(vat_id)
        body = {"countryCode": country, "vatNumber": number}
        if self._requester is not None:
            body["requesterMemberStateCode"], body["requesterNumber"] = self._requester
        try:
            response = await self._http.post(CHECK_PATH, json=body)
        except httpx.HTTPError as exc:
            observe.unanswered("vies", f"POST {CHECK_PATH}", exc)
            reason = f"VIES unreachable ({type(exc).__name__})"
            raise ViesUnavailable("unreachable", reason) from exc
        observe.answered("vies", CHECK_PATH, response)
        return interpret(
            response.status_code,
            parse_body(response),
            vat_id=country + number,
            checked_at=self._clock(),
        )
