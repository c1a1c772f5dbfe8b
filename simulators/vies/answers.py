"""The bodies VIES answers, for both check endpoints (pure: no I/O, no state).

`POST /check-vat-number` answers a `CheckVatResponse` or, on failure, the common error body
`{"actionSucceed": false, "errorWrappers": [{"error": CODE, "message": ...}]}`;
`GET /ms/{cc}/vat/{number}` answers a `VatNumberInformation` whose `userError` is `VALID`,
`INVALID` or the error code. Values VIES withholds read `"---"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .models import KnownNumber

NOT_DISCLOSED = "---"
_MESSAGES = {
    "INVALID_INPUT": "The provided CountryCode is invalid or the VAT number is empty",
    "SERVICE_UNAVAILABLE": "An error was encountered either at the network level or the Web "
    "application level, try again later",
    "MS_UNAVAILABLE": "The application at the Member State is not replying or not available",
    "TIMEOUT": "The application did not receive a reply within the allocated time period",
    "MS_MAX_CONCURRENT_REQ": "Your Request for VAT validation has not been processed; the maximum "
    "number of concurrent requests for this Member State has been reached",
    "GLOBAL_MAX_CONCURRENT_REQ": "Your Request for VAT validation has not been processed; the "
    "maximum number of concurrent requests has been reached",
}
# Input errors are client errors; VIES answers the others with 200 too (seen in the wild;
# the status of each code is UNCONFIRMED, so a fault may set any).
_INPUT_ERRORS = frozenset({"INVALID_INPUT", "INVALID_REQUESTER_INFO"})


@dataclass(frozen=True)
class Verdict:
    """What the registry says of one number: registered and active, or not."""

    country: str
    number: str
    known: KnownNumber | None

    @property
    def valid(self) -> bool:
        return self.known is not None and self.known.valid

    def _field(self, value: str | None) -> str:
        return value if self.valid and value else NOT_DISCLOSED

    @property
    def name(self) -> str:
        return self._field(self.known.name if self.known else None)

    @property
    def address(self) -> str:
        return self._field(self.known.address if self.known else None)


def request_date(now: datetime) -> str:
    """`2026-12-06T10:15:30.123Z`: VIES stamps answers in UTC with milliseconds."""
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_status(code: str) -> int:
    return 400 if code in _INPUT_ERRORS else 200


def error_body(code: str) -> dict[str, Any]:
    return {
        "actionSucceed": False,
        "errorWrappers": [{"error": code, "message": _MESSAGES.get(code, code)}],
    }


def check_response(verdict: Verdict, now: datetime, consultation: str) -> dict[str, Any]:
    """The `CheckVatResponse` of `POST /check-vat-number`; `consultation` is `""` unless the
    request named a requester."""
    return {
        "countryCode": verdict.country,
        "vatNumber": verdict.number,
        "requestDate": request_date(now),
        "valid": verdict.valid,
        "requestIdentifier": consultation,
        "name": verdict.name,
        "address": verdict.address,
        "traderName": NOT_DISCLOSED,
        "traderStreet": NOT_DISCLOSED,
        "traderPostalCode": NOT_DISCLOSED,
        "traderCity": NOT_DISCLOSED,
        "traderCompanyType": NOT_DISCLOSED,
        "traderNameMatch": "NOT_PROCESSED",
        "traderStreetMatch": "NOT_PROCESSED",
        "traderPostalCodeMatch": "NOT_PROCESSED",
        "traderCityMatch": "NOT_PROCESSED",
        "traderCompanyTypeMatch": "NOT_PROCESSED",
    }


def information(
    country: str, number: str, now: datetime, *, verdict: Verdict | None, error: str | None
) -> dict[str, Any]:
    """The `VatNumberInformation` of `GET /ms/{cc}/vat/{number}` (errors inside, status 200)."""
    valid = verdict is not None and error is None and verdict.valid
    return {
        "isValid": valid,
        "requestDate": request_date(now),
        "userError": error or ("VALID" if valid else "INVALID"),
        "name": verdict.name if verdict and error is None else NOT_DISCLOSED,
        "address": verdict.address if verdict and error is None else NOT_DISCLOSED,
        "requestIdentifier": "",
        "originalVatNumber": number,
        "vatNumber": number,
        "viesApproximate": {
            "name": NOT_DISCLOSED,
            "street": NOT_DISCLOSED,
            "postalCode": NOT_DISCLOSED,
            "city": NOT_DISCLOSED,
            "companyType": NOT_DISCLOSED,
            "matchName": 3,
            "matchStreet": 3,
            "matchPostalCode": 3,
            "matchCity": 3,
            "matchCompanyType": 3,
        },
    }
