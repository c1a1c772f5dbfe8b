"""Reading VIES REST answers into a definite result or `ViesUnavailable`.

VIES reports failures in the body, not reliably in the status: `POST /check-vat-number` answers
`{"actionSucceed": false, "errorWrappers": [{"error": "MS_UNAVAILABLE"}]}` with 200 as well as
with 4xx/5xx, and `GET /ms/{cc}/vat/{number}` puts the code in `userError` next to
`isValid: false`. So the code is looked at first, whatever the status. `INVALID_INPUT` (a number
that cannot exist in that state) is a definite "not valid"; every other code means no answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.vies.port import ViesUnavailable
from domain.vies import ViesResult

DEFINITELY_INVALID = "INVALID_INPUT"
# `userError` values of the GET endpoint that are answers, not errors
_ANSWERS = frozenset({"VALID", "INVALID"})
_NOT_DISCLOSED = frozenset({"", "---"})  # what VIES shows when a state withholds name/address


def error_code(body: Any) -> str | None:
    """VIES's error code in an answer body, upper-cased, or None."""
    if not isinstance(body, dict):
        return None
    wrappers = body.get("errorWrappers")
    if isinstance(wrappers, list) and wrappers and isinstance(wrappers[0], dict):
        code = wrappers[0].get("error")
        if isinstance(code, str) and code:
            return code.upper()
    user_error = body.get("userError")
    if isinstance(user_error, str) and user_error.upper() not in _ANSWERS | {""}:
        return user_error.upper()
    return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() not in _NOT_DISCLOSED else None


def interpret(status: int, body: Any, *, vat_id: str, checked_at: datetime) -> ViesResult:
    """The definite answer in `body`, or `ViesUnavailable` (error code, 5xx, not JSON)."""
    code = error_code(body)
    if code == DEFINITELY_INVALID:
        return ViesResult(vat_id=vat_id, valid=False, checked_at=checked_at)
    if code is not None:
        raise ViesUnavailable(code, f"VIES could not check {vat_id[:2]} numbers now")
    if status >= 300 or not isinstance(body, dict):
        raise ViesUnavailable(f"http_{status}", "VIES answered without a result")
    valid = body.get("valid", body.get("isValid"))
    if not isinstance(valid, bool):
        raise ViesUnavailable("malformed", "VIES answered without a `valid` field")
    return ViesResult(
        vat_id=vat_id,
        valid=valid,
        checked_at=checked_at,
        name=_text(body.get("name")) if valid else None,
        request_id=_text(body.get("requestIdentifier")),
    )
