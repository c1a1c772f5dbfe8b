"""Error bodies and the exception that carries them out of request handlers.

All error shapes live here so the 401/404/422 bodies stay identical wherever they are raised.
"""

from __future__ import annotations

from typing import Any

UNAUTHORIZED_MESSAGE = "You must be logged in to gain access to the site"
NOT_FOUND_MESSAGE = "Not found"

BLANK = "- nie może być puste"
TAKEN = "- jest już zajęte"
MISSING = "- nie istnieje"
NOT_A_NUMBER = "- nie jest liczbą"
NOT_IN_LIST = "- nie jest na liście"
INVALID = "- jest nieprawidłowe"

ErrorMap = dict[str, list[str]]


class ApiError(Exception):
    """Raised by handlers to answer with a JSON error body and status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls(401, {"code": "error", "message": UNAUTHORIZED_MESSAGE})

    @classmethod
    def not_found(cls) -> ApiError:
        return cls(404, {"code": "error", "message": NOT_FOUND_MESSAGE})

    @classmethod
    def validation(cls, errors: ErrorMap) -> ApiError:
        return cls(422, {"code": "error", "message": errors})

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, {"code": "error", "message": message})


def add_error(errors: ErrorMap, key: str, message: str) -> None:
    """Append a message once per key, keeping Rails' ``{field: [messages]}`` shape."""
    messages = errors.setdefault(key, [])
    if message not in messages:
        messages.append(message)
