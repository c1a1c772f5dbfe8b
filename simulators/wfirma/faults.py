"""Fault injection: choosing which scripted misbehaviour applies to a request of a login.

Rules are consumed in order; the first rule matching method and path wins and its ``times``
budget shrinks. Executing the fault is the server's job, because it needs the connection.
The HTML error page is the Fakturownia simulator's: a gateway looks the same for both.
"""

from __future__ import annotations

import copy
import re

from simulators.fakturownia.faults import error_page

from .models import FaultRule

__all__ = ["error_page", "take_fault"]


def take_fault(rules: list[FaultRule], method: str, path: str) -> FaultRule | None:
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
