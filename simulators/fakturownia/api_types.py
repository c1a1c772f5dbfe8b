"""Framework-neutral request/response types for the account API handlers.

Handlers are plain synchronous functions over these types, so they run under the state lock
and stay independent from aiohttp (the server module does the translation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from multidict import MultiMapping

from .state import AccountState, SimStore


@dataclass(frozen=True)
class ApiRequest:
    """An authenticated call to one account; ``path`` is relative to the account root."""

    method: str
    path: str
    query: MultiMapping[str]
    body: dict[str, Any]
    base_url: str
    match: dict[str, str] = field(default_factory=dict)

    def param(self, key: str) -> Any:
        """Options may come in the query string or beside the resource key in the JSON body."""
        return self.query[key] if key in self.query else self.body.get(key)


@dataclass(frozen=True)
class ApiResponse:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HandlerEnv:
    """What a handler may touch: the store (ids), the resolved account and the current time."""

    store: SimStore
    state: AccountState
    now: datetime


Handler = Callable[[HandlerEnv, ApiRequest], ApiResponse]
