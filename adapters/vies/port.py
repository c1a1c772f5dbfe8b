"""The port the worker's VAT decision uses to ask VIES, and its one error.

`ViesUnavailable` means "no answer": VIES or the member state's registry is down, busy or too
slow. It is never an invalid number (that is a definite `ViesResult(valid=False)`), so the
caller parks the order or applies the seller's fallback, and nothing about it is cached.
"""

from __future__ import annotations

from typing import Protocol

from domain.vies import ViesResult


class ViesUnavailable(Exception):
    """VIES gave no definite answer; `code` is VIES's own (`MS_UNAVAILABLE`, `TIMEOUT`, ...)
    or ours (`unreachable`, `http_503`, `malformed`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class ViesChecker(Protocol):
    async def check(self, vat_id: str) -> ViesResult:
        """VIES's definite answer for `vat_id` (with its country prefix); raises
        `ViesUnavailable` when there is none."""
        ...
