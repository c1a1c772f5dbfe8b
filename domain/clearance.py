"""What the clearance tracker does after reading a document's KSeF state (ADR 0004), free of I/O.

One observation in, one step out: the status to keep, the statuses to announce (each once:
`invoice.clearance_changed` ids are per status), whether to re-send, and when to look again.
The provider's status is classified by `domain.ksef`; the recovery rules are Fakturownia's
(ksef-2026.md §1.8): `send_error` is final, `server_error` is re-sent at most 3 times with
growing gaps after a re-read, `status_check_error` is only ever re-read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from domain.ksef import (
    ClearanceAction,
    ClearanceStatus,
    fakturownia_rule,
    hours_left,
    offline_deadline,
)

FINAL_STATUSES = frozenset(
    {ClearanceStatus.CLEARED, ClearanceStatus.REJECTED, ClearanceStatus.NOT_APPLICABLE}
)
KSEF_REJECTED = "ksef_rejected"


@dataclass(frozen=True)
class CheckPolicy:
    """How often and how long documents are looked at (settings)."""

    # gaps between checks; the last one repeats (15 s, 1 min, 5 min, 15 min, then hourly)
    gaps: tuple[float, ...] = (15, 60, 300, 900, 3600)
    give_up_after: dt.timedelta = dt.timedelta(days=3)
    max_resends: int = 3
    # Fakturownia's advice for server_error: re-check, re-send, wait longer each time
    resend_gaps: tuple[float, ...] = (60, 300, 900)
    deadline_near: dt.timedelta = dt.timedelta(hours=4)

    def gap(self, checks_done: int) -> dt.timedelta:
        return dt.timedelta(seconds=self.gaps[min(checks_done, len(self.gaps) - 1)])


@dataclass(frozen=True)
class Observation:
    """What the provider reports now."""

    provider_status: str | None
    ksef_number: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tracked:
    """What the tracker knows of a document before this check."""

    status: ClearanceStatus
    issue_date: dt.date
    created_at: dt.datetime
    checks: int = 0
    resends: int = 0
    announced: frozenset[ClearanceStatus] = frozenset()  # each status is published once


@dataclass(frozen=True)
class Step:
    status: ClearanceStatus
    announce: tuple[ClearanceStatus, ...] = ()
    resend: bool = False
    next_check_at: dt.datetime | None = None
    offline_deadline: dt.datetime | None = None
    failure_code: str | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)
    needs_authorization: bool = False  # KSeF refuses the account: a person must authorise it


def next_step(tracked: Tracked, seen: Observation, now: dt.datetime, policy: CheckPolicy) -> Step:
    rule = fakturownia_rule(seen.provider_status)
    status = rule.status
    if rule.action is ClearanceAction.FINAL or status in FINAL_STATUSES:
        code = KSEF_REJECTED if status is ClearanceStatus.REJECTED else None
        return Step(status, _new(tracked, status), failure_code=code, errors=seen.errors)
    later = _next(tracked, now, policy)
    if rule.action is ClearanceAction.RESEND:
        if tracked.resends >= policy.max_resends:
            errors = (
                *seen.errors,
                f"still {seen.provider_status} after {tracked.resends} re-sends",
            )
            return Step(
                ClearanceStatus.REJECTED,
                _new(tracked, ClearanceStatus.REJECTED),
                failure_code=KSEF_REJECTED,
                errors=errors,
            )
        gap = policy.resend_gaps[min(tracked.resends, len(policy.resend_gaps) - 1)]
        return Step(
            status,
            _new(tracked, status),
            resend=True,
            next_check_at=now + dt.timedelta(seconds=gap),
            offline_deadline=_deadline(status, tracked),
            errors=seen.errors,
        )
    if rule.action is ClearanceAction.NEEDS_AUTHORIZATION:  # hourly until someone fixes it
        slow = now + policy.gap(len(policy.gaps)) if later is not None else None
        return Step(status, (), next_check_at=slow, errors=seen.errors, needs_authorization=True)
    deadline = _deadline(status, tracked)
    announce = list(_new(tracked, status))
    near = ClearanceStatus.OFFLINE_DEADLINE_NEAR
    left = dt.timedelta(hours=hours_left(deadline, now)) if deadline is not None else None
    if left is not None and left <= policy.deadline_near and near not in tracked.announced:
        announce.append(near)
    return Step(
        status,
        tuple(announce),
        next_check_at=later,
        offline_deadline=deadline,
        errors=seen.errors,
    )


def _new(tracked: Tracked, status: ClearanceStatus) -> tuple[ClearanceStatus, ...]:
    """`status`, unless it was announced already (or is where the document started)."""
    if status is tracked.status or status in tracked.announced:
        return ()
    return (status,)


def _deadline(status: ClearanceStatus, tracked: Tracked) -> dt.datetime | None:
    return offline_deadline(tracked.issue_date) if status is ClearanceStatus.OFFLINE else None


def _next(tracked: Tracked, now: dt.datetime, policy: CheckPolicy) -> dt.datetime | None:
    """When to look again; None once the tracker has watched the document long enough."""
    if now - tracked.created_at >= policy.give_up_after:
        return None
    return now + policy.gap(tracked.checks)
