"""The clearance tracker's rows: written with the issuance, claimed under a lease, updated by
compare-and-set, with their events in the outbox in the same transaction (ADR 0004).

The discipline is the ledger's (ADR 0006): a row is checked by one worker at a time (a lease),
any worker takes over a lease that expired, and a status change and its event commit together,
so an event is published at least once and, its id being per status, announced once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import as_utc, utcnow
from config.ledger import LeaseLost, OutboxRecord, outbox_rows
from config.models import ClearanceCheck
from domain.ksef import ClearanceStatus

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class NewCheck:
    """A document to watch, handed over with its issuance (Ledger.finish)."""

    seller_id: str
    channel: str
    order_id: str
    refund_id: str | None
    source_event_id: str
    provider: str
    connection_id: int
    document_kind: str
    provider_document_id: str
    document_number: str
    issue_date: dt.date
    status: ClearanceStatus
    provider_status: str | None
    ksef_number: str | None
    first_check_at: dt.datetime
    email_on_clearance: bool = False

    def row(self, issuance_id: int) -> ClearanceCheck:
        return ClearanceCheck(
            issuance_id=issuance_id,
            seller_id=self.seller_id,
            channel=self.channel,
            order_id=self.order_id,
            refund_id=self.refund_id,
            source_event_id=self.source_event_id,
            provider=self.provider,
            connection_id=self.connection_id,
            document_kind=self.document_kind,
            provider_document_id=self.provider_document_id,
            document_number=self.document_number,
            issue_date=self.issue_date,
            status=self.status.value,
            provider_status=self.provider_status,
            ksef_number=self.ksef_number,
            errors=[],
            announced=[],
            email_on_clearance=self.email_on_clearance,
            emailed=False,
            checks=0,
            resends=0,
            next_check_at=self.first_check_at,
            version=1,
        )


@dataclass(frozen=True)
class Check:
    """A claimed row: this worker may check the document until `lease_until`."""

    id: int
    version: int
    seller_id: str
    channel: str
    order_id: str
    refund_id: str | None
    source_event_id: str
    provider: str
    connection_id: int
    document_kind: str
    provider_document_id: str
    document_number: str
    issue_date: dt.date
    status: ClearanceStatus
    announced: frozenset[ClearanceStatus]
    checks: int
    resends: int
    created_at: dt.datetime
    lease_until: dt.datetime
    email_due: bool = False  # to e-mail once cleared, not done yet


def _check(row: ClearanceCheck) -> Check:
    assert row.lease_until is not None
    return Check(
        id=row.id,
        version=row.version,
        seller_id=row.seller_id,
        channel=row.channel,
        order_id=row.order_id,
        refund_id=row.refund_id,
        source_event_id=row.source_event_id,
        provider=row.provider,
        connection_id=row.connection_id,
        document_kind=row.document_kind,
        provider_document_id=row.provider_document_id,
        document_number=row.document_number,
        issue_date=row.issue_date,
        status=ClearanceStatus(row.status),
        announced=frozenset(ClearanceStatus(s) for s in row.announced or []),
        checks=row.checks,
        resends=row.resends,
        created_at=as_utc(row.created_at),
        lease_until=as_utc(row.lease_until),
        email_due=bool(row.email_on_clearance and not row.emailed),
    )


@dataclass(frozen=True)
class Outcome:
    """What one check found, to store (with the events it announces)."""

    status: ClearanceStatus
    provider_status: str | None
    ksef_number: str | None
    verification_link: str | None
    offline_deadline: dt.datetime | None
    errors: Sequence[str]
    announced: Sequence[ClearanceStatus]
    next_check_at: dt.datetime | None
    resent: bool = False
    emailed: bool = False  # the e-mail to the buyer was attempted (once: never again)
    observed: bool = True  # False: the provider did not answer; keep what was stored


def unobserved(check: Check, next_check_at: dt.datetime | None) -> Outcome:
    """Nothing was read this time (provider down, connection gone): only reschedule."""
    return Outcome(check.status, None, None, None, None, (), (), next_check_at, observed=False)


class ClearanceStore:
    def __init__(
        self,
        sessions: async_sessionmaker,
        *,
        lease_seconds: float = 60,
        owner: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._lease = dt.timedelta(seconds=lease_seconds)
        self.owner = owner or uuid.uuid4().hex[:16]
        self._clock = clock

    async def claim_due(self, limit: int = 20) -> list[Check]:
        """Rows whose check is due and nobody holds (or whose holder's lease ran out)."""
        now = self._clock()
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ClearanceCheck.id, ClearanceCheck.version)
                    .where(
                        ClearanceCheck.next_check_at <= now,
                        or_(
                            ClearanceCheck.lease_until.is_(None),
                            ClearanceCheck.lease_until < now,
                        ),
                    )
                    .order_by(ClearanceCheck.next_check_at)
                    .limit(limit)
                )
            ).all()
        claimed: list[Check] = []
        for row_id, version in rows:
            async with self._sessions() as session, session.begin():
                taken = await session.execute(
                    update(ClearanceCheck)
                    .where(ClearanceCheck.id == row_id, ClearanceCheck.version == version)
                    .values(
                        lease_owner=self.owner,
                        lease_until=now + self._lease,
                        version=version + 1,
                    )
                )
                if taken.rowcount != 1:
                    continue  # another worker claimed it first
                row = await session.get(ClearanceCheck, row_id)
                assert row is not None
                claimed.append(_check(row))
        return claimed

    async def ensure_lease(self, check: Check, needed: dt.timedelta) -> Check:
        """Before a re-send (a create at KSeF): hold the row for `needed` more, or LeaseLost."""
        now = self._clock()
        if check.lease_until - now >= needed:
            return check
        until = now + max(self._lease, needed)
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(ClearanceCheck)
                .where(self._ours(check), ClearanceCheck.lease_until > now)
                .values(lease_until=until, version=check.version + 1)
            )
            if done.rowcount != 1:
                raise LeaseLost(f"clearance check {check.id}: lease ended before the re-send")
        return replace(check, lease_until=until, version=check.version + 1)

    async def record(
        self, check: Check, outcome: Outcome, outbox: Sequence[OutboxRecord] = ()
    ) -> None:
        """Store what the check found and release the row; its events go out with it."""
        values: dict[str, Any] = {
            "checks": check.checks + 1,
            "resends": check.resends + int(outcome.resent),
            "next_check_at": outcome.next_check_at,
            "lease_owner": None,
            "lease_until": None,
            "version": check.version + 1,
        }
        if outcome.emailed:
            values["emailed"] = True
        if outcome.observed:
            values |= {
                "status": outcome.status.value,
                "provider_status": outcome.provider_status,
                "ksef_number": outcome.ksef_number,
                "verification_link": outcome.verification_link,
                "offline_deadline": outcome.offline_deadline,
                "errors": list(outcome.errors),
                "announced": sorted({*(s.value for s in check.announced), *outcome.announced}),
            }
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(ClearanceCheck).where(self._ours(check)).values(**values)
            )
            if done.rowcount != 1:
                raise LeaseLost(f"clearance check {check.id} was taken over")
            session.add_all(outbox_rows(outbox))

    async def counts(self) -> dict[str, int]:
        """Tracked documents per clearance status (metrics, ops)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(ClearanceCheck.status, func.count()).group_by(ClearanceCheck.status)
            )
            return {status: n for status, n in rows.all()}

    def _ours(self, check: Check) -> Any:
        return and_(
            ClearanceCheck.id == check.id,
            ClearanceCheck.version == check.version,
            ClearanceCheck.lease_owner == self.owner,
        )


WEBHOOK_MOVES_MAX = 100


async def check_soon(
    sessions: async_sessionmaker,
    connection_id: int,
    provider_document_id: str | None = None,
    *,
    limit: int = WEBHOOK_MOVES_MAX,
    clock: Clock = utcnow,
) -> int:
    """Bring watched documents' next check forward to now; how many rows moved.

    For a provider's webhook, which is a hint, never data: it only makes the scheduler re-read
    sooner. Rows of `connection_id` still watched (`next_check_at` set) and not yet due; with
    `provider_document_id`, that document only. At most `limit` rows, the soonest due first, so
    a flood moves each watched row once and then finds nothing. Neither `version` nor the lease
    changes: a worker checking a row right now keeps it, and its outcome sets the next check.
    """
    now = clock()
    due_later = and_(
        ClearanceCheck.connection_id == connection_id,
        ClearanceCheck.next_check_at.is_not(None),
        ClearanceCheck.next_check_at > now,
    )
    if provider_document_id is not None:
        due_later = and_(due_later, ClearanceCheck.provider_document_id == provider_document_id)
    async with sessions() as session, session.begin():
        ids = (
            await session.scalars(
                select(ClearanceCheck.id)
                .where(due_later)
                .order_by(ClearanceCheck.next_check_at)
                .limit(limit)
            )
        ).all()
        if not ids:
            return 0
        moved = await session.execute(
            update(ClearanceCheck)
            .where(ClearanceCheck.id.in_(ids), due_later)
            .values(next_check_at=now)
            .execution_options(synchronize_session=False)
        )
        return moved.rowcount
