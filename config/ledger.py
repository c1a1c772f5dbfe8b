"""The ledger and outbox in the database: claims with leases, compare-and-set transitions.

Every transition that produces output writes its outbox rows in the same transaction, so the
outcome of an issued document can never be lost between the database and Kafka.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import as_utc, utcnow
from config.models import Issuance, OutboxMessage, ProviderConnection
from domain.ledger import FINAL, WAITING, ClaimOutcome, LedgerKey, ParkReason, Slot, State
from domain.ledger import on_redelivery as decide

Clock = Callable[[], dt.datetime]
Headers = list[tuple[str, bytes]]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return as_utc(moment) if moment else None


@dataclass(frozen=True)
class Source:
    """The consumed record an entry came from (kept to re-run it and to dead-letter it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers
    event_id: str


@dataclass(frozen=True)
class OutboxRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    id: int
    key: LedgerKey
    state: State
    attempts: int
    document_kind: str | None
    park_reason: ParkReason | None
    next_attempt_at: dt.datetime | None
    lease_until: dt.datetime | None
    result_event: str | None
    source: Source


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    entry: Entry


@dataclass(frozen=True)
class Backlog:
    """What is waiting, for the metrics gauges (read-only counts, no rows)."""

    due: int  # parked or in-doubt entries whose retry time has come
    waiting: dict[str, int]  # parked or in-doubt entries per park reason
    unpublished: int  # outbox rows not yet in Kafka


class LeaseLost(RuntimeError):
    """Another worker took this entry over (our lease expired); it will report the outcome."""


def _entry(row: Issuance) -> Entry:
    return Entry(
        id=row.id,
        key=LedgerKey(row.seller_id, row.channel, row.order_id, Slot(row.slot), row.refund_id),
        state=State(row.state),
        attempts=row.attempts,
        document_kind=row.document_kind,
        park_reason=ParkReason(row.park_reason) if row.park_reason else None,
        next_attempt_at=_aware(row.next_attempt_at),
        lease_until=_aware(row.lease_until),
        result_event=row.result_event,
        source=Source(
            row.source_topic,
            row.source_partition,
            row.source_offset,
            row.source_key,
            row.event_value,
            [(k, v.encode("latin-1")) for k, v in row.source_headers],
            row.source_event_id,
        ),
    )


def _key_filter(key: LedgerKey) -> Any:
    return and_(
        Issuance.seller_id == key.seller_id,
        Issuance.channel == key.channel,
        Issuance.order_id == key.order_id,
        Issuance.slot == key.slot.value,
        Issuance.refund_id == key.refund_id,
    )


def _outbox_rows(records: Sequence[OutboxRecord]) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            topic=r.topic,
            key=r.key,
            value=r.value,
            headers=[[k, v.decode("latin-1")] for k, v in r.headers],
        )
        for r in records
    ]


class Ledger:
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

    async def claim(self, key: LedgerKey, source: Source, *, from_scheduler: bool = False) -> Claim:
        """Take the entry for `key` (creating it), or say why this worker must not issue it."""
        now = self._clock()
        try:
            async with self._sessions() as session, session.begin():
                row = Issuance(
                    seller_id=key.seller_id,
                    channel=key.channel,
                    order_id=key.order_id,
                    slot=key.slot.value,
                    refund_id=key.refund_id,
                    state=State.CLAIMED.value,
                    version=1,
                    attempts=0,
                    lease_owner=self.owner,
                    lease_until=now + self._lease,
                    source_topic=source.topic,
                    source_partition=source.partition,
                    source_offset=source.offset,
                    source_event_id=source.event_id,
                    source_key=source.key,
                    event_value=source.value,
                    source_headers=[[k, v.decode("latin-1")] for k, v in source.headers],
                )
                session.add(row)
                await session.flush()
                return Claim(ClaimOutcome.NEW, _entry(row))
        except IntegrityError:
            pass  # seen before
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(Issuance).where(_key_filter(key)))
            assert row is not None
            outcome = decide(
                State(row.state), _aware(row.lease_until), now, from_scheduler=from_scheduler
            )
            if outcome is not ClaimOutcome.TAKE_OVER:
                return Claim(outcome, _entry(row))
            taken = await session.execute(
                update(Issuance)
                .where(
                    Issuance.id == row.id,
                    Issuance.version == row.version,
                )
                .values(
                    state=State.CLAIMED.value,
                    version=row.version + 1,
                    lease_owner=self.owner,
                    lease_until=now + self._lease,
                )
            )
            if taken.rowcount != 1:
                return Claim(ClaimOutcome.BUSY, _entry(row))  # someone else moved first
            await session.refresh(row)
            return Claim(ClaimOutcome.TAKE_OVER, _entry(row))

    async def finish(
        self,
        entry: Entry,
        state: State,
        *,
        result_event: str | None = None,
        document_kind: str | None = None,
        provider_document_id: str | None = None,
        failure_code: str | None = None,
        outbox: Sequence[OutboxRecord] = (),
    ) -> None:
        """Move a claimed entry to a final state and queue its output, atomically."""
        assert state in FINAL
        await self._transition(
            entry,
            outbox,
            state=state.value,
            result_event=result_event,
            document_kind=document_kind,
            failure_code=failure_code,
            provider_document_id=provider_document_id,
            park_reason=None,
            next_attempt_at=None,
        )

    async def park(
        self,
        entry: Entry,
        state: State,
        reason: ParkReason,
        *,
        next_attempt_at: dt.datetime | None,
        attempts: int,
        connection_id: int | None = None,
        document_kind: str | None = None,
        outbox: Sequence[OutboxRecord] = (),
    ) -> None:
        """Hand a claimed entry to the retry scheduler (the consumer then moves on)."""
        assert state in WAITING
        await self._transition(
            entry,
            outbox,
            state=state.value,
            park_reason=reason.value,
            next_attempt_at=next_attempt_at,
            attempts=attempts,
            connection_id=connection_id,
            document_kind=document_kind,
        )

    async def _transition(
        self, entry: Entry, outbox: Sequence[OutboxRecord], **values: Any
    ) -> None:
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(Issuance)
                .where(
                    Issuance.id == entry.id,
                    Issuance.state == State.CLAIMED.value,
                    Issuance.lease_owner == self.owner,
                )
                .values(lease_owner=None, lease_until=None, version=Issuance.version + 1, **values)
            )
            if done.rowcount != 1:
                raise LeaseLost(f"ledger entry {entry.id} was taken over")
            session.add_all(_outbox_rows(outbox))

    async def has_unfinished_predecessor(self, entry: Entry) -> bool:
        """Is an earlier event of the same order still not final (so this one must wait)?"""
        k = entry.key
        async with self._sessions() as session:
            return bool(
                await session.scalar(
                    select(
                        exists().where(
                            Issuance.seller_id == k.seller_id,
                            Issuance.channel == k.channel,
                            Issuance.order_id == k.order_id,
                            Issuance.id < entry.id,
                            Issuance.state.not_in([s.value for s in FINAL]),
                        )
                    )
                )
            )

    async def due(self, limit: int = 50) -> list[Entry]:
        """Waiting entries whose time has come (or whose connection was fixed), oldest first."""
        now = self._clock()
        reconnected = select(ProviderConnection.id).where(ProviderConnection.status == "ok")
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(Issuance)
                    .where(
                        Issuance.state.in_([s.value for s in WAITING]),
                        or_(
                            Issuance.next_attempt_at <= now,
                            and_(
                                Issuance.park_reason == ParkReason.NEEDS_REAUTH.value,
                                Issuance.connection_id.in_(reconnected),
                            ),
                        ),
                    )
                    .order_by(Issuance.id)
                    .limit(limit)
                )
            ).all()
            return [_entry(r) for r in rows]

    async def get(self, key: LedgerKey) -> Entry | None:
        async with self._sessions() as session:
            row = await session.scalar(select(Issuance).where(_key_filter(key)))
            return _entry(row) if row else None

    async def append_outbox(self, records: Sequence[OutboxRecord]) -> None:
        """Queue output that reports no transition (dead letters of unparseable records,
        re-emissions of issued documents)."""
        async with self._sessions() as session, session.begin():
            session.add_all(_outbox_rows(records))

    async def backlog(self) -> Backlog:
        """Counts of waiting entries and unpublished output (three COUNT queries)."""
        waiting = Issuance.state.in_([s.value for s in WAITING])
        async with self._sessions() as session:
            due = await session.scalar(
                select(func.count())
                .select_from(Issuance)
                .where(waiting, Issuance.next_attempt_at <= self._clock())
            )
            per_reason = await session.execute(
                select(Issuance.park_reason, func.count())
                .where(waiting)
                .group_by(Issuance.park_reason)
            )
            unpublished = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.published_at.is_(None))
            )
        return Backlog(
            due=due or 0,
            waiting={reason or "": count for reason, count in per_reason.all()},
            unpublished=unpublished or 0,
        )


class Outbox:
    def __init__(self, sessions: async_sessionmaker, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def pending(self, limit: int = 100) -> list[tuple[int, OutboxRecord]]:
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            ).all()
            return [
                (
                    r.id,
                    OutboxRecord(
                        r.topic, r.key, r.value, [(k, v.encode("latin-1")) for k, v in r.headers]
                    ),
                )
                for r in rows
            ]

    async def mark_published(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(published_at=self._clock())
            )
