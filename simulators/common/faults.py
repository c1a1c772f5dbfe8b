"""Fault injection shared by both simulators: the fields every rule has, choosing which rule
applies to a request, and the faults that look the same at both providers.

Rules are consumed in order; the first rule matching method and path wins and its ``times``
budget shrinks. Executing a fault is the server's job, because it needs the connection; the
gateway page and the "after commit" faults are executed here for both servers.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

from aiohttp import web

from .config import JsonConfig

BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class BaseFaultRule(JsonConfig):
    """The leading fields of a provider's ``FaultRule``; subclasses add their own knobs after
    them and set ``actions`` to the action names they understand."""

    actions: ClassVar[frozenset[str]] = frozenset()

    action: str
    method: str = "*"
    path_regex: str = ".*"
    times: int = 1
    delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.action not in self.actions:
            raise ValueError(f"unknown fault action: {self.action!r}")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be positive or -1 (forever)")
        self.method = self.method.upper()


_Rule = TypeVar("_Rule", bound=BaseFaultRule)


def take_fault(rules: list[_Rule], method: str, path: str) -> _Rule | None:
    """Return a snapshot of the first matching rule and charge one use against it."""
    for index, rule in enumerate(rules):
        if rule.method not in ("*", method) or not re.search(rule.path_regex, path):
            continue
        snapshot = copy.copy(rule)
        if rule.times > 0:
            rule.times -= 1
            if rule.times == 0:
                del rules[index]
        return snapshot
    return None


def error_page(status: int) -> str:
    """Gateway-style HTML body, the kind of page a proxy returns instead of JSON."""
    if status == 502:
        return BAD_GATEWAY_HTML
    reason = _REASONS.get(status, "Server Error")
    return f"<html><body><h1>{status} {reason}</h1></body></html>"


def gateway_page(status: int) -> web.Response:
    """The answer to an ``http_5xx`` fault: a gateway's HTML page with that status."""
    return web.Response(status=status, text=error_page(status), content_type="text/html")


class _CommitFault(Protocol):
    action: str
    seconds: float


async def after_commit(
    request: web.Request,
    fault: _CommitFault | None,
    response: web.StreamResponse,
    log: Callable[[bool], None],
) -> web.StreamResponse:
    """Log the handled request (``log(dropped)``) and return its response, unless an "after
    commit" fault strikes: ``hang_after_commit`` stalls ``seconds`` first, ``drop_after_commit``
    cuts the connection instead of answering."""
    if fault is not None and fault.action == "hang_after_commit":
        log(False)
        await asyncio.sleep(fault.seconds)
        return response
    if fault is not None and fault.action == "drop_after_commit":
        log(True)
        if request.transport is not None:
            request.transport.abort()
        # aiohttp's own path for a vanished client: nothing is written, nothing is logged.
        raise asyncio.CancelledError
    log(False)
    return response
