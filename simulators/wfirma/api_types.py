"""Framework-neutral types for module handlers (``/{module}/{action}[/{id}]``).

Handlers are synchronous functions run under the state lock, independent of aiohttp; the
server resolves auth, company and format first and hands them an ``Env`` and a ``Call``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import NOT_FOUND, ApiError
from .state import CompanyState, LoginState, SimStore


@dataclass(frozen=True)
class Call:
    """One API call: the unwrapped request body (no ``api`` root) and the path's object id."""

    module: str
    action: str
    object_id: str | None
    query: Mapping[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    def required_id(self) -> int:
        """The numeric path id; a missing or non-numeric one is simply not found."""
        if self.object_id and self.object_id.isdigit():
            return int(self.object_id)
        raise ApiError(NOT_FOUND)


@dataclass(frozen=True)
class Env:
    """What a handler may touch; ``company`` is ``None`` only for user-scoped modules."""

    store: SimStore
    login: LoginState
    company: CompanyState | None
    now: datetime

    @property
    def books(self) -> CompanyState:
        assert self.company is not None, "company-scoped handler called without a company"
        return self.company


@dataclass(frozen=True)
class Reply:
    """A JSON envelope, or raw bytes (``invoices/download``)."""

    json: dict[str, Any] | None = None
    body: bytes | None = None
    content_type: str = "application/json"


Handler = Callable[[Env, Call], Reply]
