"""Fault injection: choosing which scripted misbehaviour applies to a request.

Rules are consumed in order; the first rule matching method and path wins and its ``times``
budget shrinks. Executing the fault is the server's job, because it needs the connection.
"""

from __future__ import annotations

import copy
import re

from .models import FaultRule
from .state import AccountState

BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def take_fault(state: AccountState, method: str, path: str) -> FaultRule | None:
    """Return a snapshot of the first matching rule and charge one use against it."""
    for index, rule in enumerate(state.faults):
        if rule.method not in ("*", method) or not re.search(rule.path_regex, path):
            continue
        snapshot = copy.copy(rule)
        if rule.times > 0:
            rule.times -= 1
            if rule.times == 0:
                del state.faults[index]
        return snapshot
    return None


def error_page(status: int) -> str:
    """Gateway-style HTML body, the kind of page a proxy returns instead of JSON."""
    if status == 502:
        return BAD_GATEWAY_HTML
    reason = _REASONS.get(status, "Server Error")
    return f"<html><body><h1>{status} {reason}</h1></body></html>"
