"""Scripted KSeF paths per document, so a test can make one invoice clear, another fail.

A ``KsefRule`` binds to the next document(s) sent to KSeF whose ``oid`` matches ``oid_regex``
(any document without one); ``times`` counts documents, ``-1`` means all. The bound path then
decides how each send of that document ends. The statuses and the recovery each one calls for
come from Fakturownia's KSeF guide, as summarised in shared/reference/ksef-2026.md §1.8:

- ``ok``: ``processing`` → ``ok`` with a KSeF number.
- ``reject``: ``send_error`` with ``messages``; after ``failures`` sends a re-send (the seller
  fixed the invoice) is accepted.
- ``server_error_then_ok``: the first ``failures`` sends end in ``server_error`` (Fakturownia
  does not retry by itself), the next one is accepted; ``failures: 4`` exhausts the guide's
  "at most 3 re-sends".
- ``status_check_error_then_ok``: ``status_check_error``, then ``ok`` without any re-send (the
  invoice was accepted, only the status check failed). A re-send in between reaches KSeF twice
  and ends in ``duplicate_error``: the trap the guide warns about.
- ``duplicate``: ``duplicate_error`` naming the KSeF number of the accepted original, which
  ``GET /invoices.json?gov_id=…`` finds (``duplicate_of``, else the account's earlier document
  with the same ``oid``, else this very document, accepted on a send whose answer was lost).
- ``offline_then_ok``: ``offline`` (OFFLINE24, sent later by Fakturownia itself), then ``ok``.
- ``never``: stays ``processing``; even ``complete_ksef`` leaves it there.
- ``blocked_403``: ``blocked_403_error`` until ``failures`` sends have failed.

``delays`` are seconds before each step of the path (the account's ``ksef_delay_seconds`` where
missing): e.g. ``offline_then_ok`` with ``[0, 5]`` is ``offline`` at once and ``ok`` 5 s later.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from simulators.common.config import JsonConfig

KsefPath = Literal[
    "ok",
    "reject",
    "server_error_then_ok",
    "status_check_error_then_ok",
    "duplicate",
    "offline_then_ok",
    "never",
    "blocked_403",
]
KSEF_PATHS: frozenset[str] = frozenset(get_args(KsefPath))

Step = tuple[str, float]
"""A pending transition: the ``gov_status`` to take and the seconds to wait before it."""


@dataclass
class KsefRule(JsonConfig):
    """How the KSeF sends of matching documents end (see the module docstring)."""

    path: KsefPath
    oid_regex: str | None = None
    times: int = 1
    delays: list[float] | None = None
    messages: list[str] | None = None
    failures: int = 1
    duplicate_of: int | None = None

    def __post_init__(self) -> None:
        if self.path not in KSEF_PATHS:
            raise ValueError(f"unknown KSeF path: {self.path!r}")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be positive or -1 (forever)")
        if self.failures == 0 or self.failures < -1:
            raise ValueError("failures must be positive or -1 (always)")
        if self.oid_regex is not None:
            re.compile(self.oid_regex)
        if self.delays is not None and any(d < 0 for d in self.delays):
            raise ValueError("delays must not be negative")

    def matches(self, doc: dict[str, Any]) -> bool:
        return self.oid_regex is None or bool(re.search(self.oid_regex, doc.get("oid") or ""))

    def fails(self, send: int) -> bool:
        """Whether the ``send``-th send (1-based) still fails on a path with ``failures``."""
        return self.failures == -1 or send <= self.failures

    def steps(self, send: int, default_delay: float) -> list[Step]:
        """The transitions the ``send``-th send of a document goes through after
        ``processing``."""

        def delay(index: int) -> float:
            if self.delays is not None and index < len(self.delays):
                return float(self.delays[index])
            return default_delay

        first, second = delay(0), delay(1)
        path = self.path
        if path == "never":
            return []
        if path == "duplicate":
            return [("duplicate_error", first)]
        if path == "offline_then_ok":
            return [("offline", first), ("ok", second)]
        if path == "status_check_error_then_ok":
            if send > 1:
                return [("duplicate_error", first)]
            return [("status_check_error", first), ("ok", second)]
        failed = {
            "reject": "send_error",
            "server_error_then_ok": "server_error",
            "blocked_403": "blocked_403_error",
        }
        if path in failed and self.fails(send):
            return [(failed[path], first)]
        return [("ok", first)]


def take_rule(rules: list[KsefRule], doc: dict[str, Any]) -> KsefRule | None:
    """The first rule matching ``doc``, charging one document against its ``times``."""
    for index, rule in enumerate(rules):
        if not rule.matches(doc):
            continue
        snapshot = copy.copy(rule)
        if rule.times > 0:
            rule.times -= 1
            if rule.times == 0:
                del rules[index]
        return snapshot
    return None
