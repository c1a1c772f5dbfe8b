"""The ledger and outbox in the database: claims with leases, compare-and-set transitions.

Every transition that produces output writes its outbox rows in the same transaction, so the
outcome of an issued document can never be lost between the database and Kafka.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.batching import Batcher
from config.clock import as_utc, utcnow
from config.hot_statements import FINISHED_COLUMNS, FinishRows, hot_statements
from config.models import Issuance, OutboxMessage, ProviderConnection
from domain.ledger import (
    FINAL,
    WAITING,
    ClaimOutcome,
    LedgerKey,
    ParkReason,
    Slot,
    State,
    predecessors,
)
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
    recreate_after: dt.datetime | None = None  # no create before: an earlier one may commit
    waiting_since: dt.datetime | None = None  # first parked waiting for its original
    # a claim taken over from a crashed or stalled holder: when that holder's lease ended
    prior_lease_end: dt.datetime | None = None


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


class Tracking(Protocol):
    """Something to watch after the document exists (a KSeF clearance check, config/clearance.py),
    written in the same transaction as the `issued` transition."""

    def row(self, issuance_id: int) -> Any: ...


class LeaseLost(RuntimeError):
    """Another worker took this entry over (our lease expired); it will report the outcome."""


@dataclass(frozen=True)
class _NewClaim:
    key: LedgerKey
    source: Source
    now: dt.datetime


@dataclass(frozen=True)
class _Finish:
    entry: Entry
    values: dict[str, Any]
    outbox: Sequence[OutboxRecord]
    rows: Sequence[Any]


def _everyones(exc: BaseException) -> bool:
    """A batch failure no single request caused: the database cannot be reached."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc.orig, OSError | TimeoutError)
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


def _entry(row: Issuance, prior_lease_end: dt.datetime | None = None) -> Entry:
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
        recreate_after=_aware(row.recreate_after),
        waiting_since=_aware(row.waiting_since),
        prior_lease_end=prior_lease_end,
    )


def _expired_claim(now: dt.datetime) -> Any:
    return and_(Issuance.state == State.CLAIMED.value, Issuance.lease_until < now)


def _key_filter(key: LedgerKey) -> Any:
    return and_(
        Issuance.seller_id == key.seller_id,
        Issuance.channel == key.channel,
        Issuance.order_id == key.order_id,
        Issuance.slot == key.slot.value,
        Issuance.refund_id == key.refund_id,
    )


def outbox_values(records: Sequence[OutboxRecord]) -> list[dict[str, Any]]:
    """Outbox rows as Core values (the batched finish inserts them without the ORM)."""
    return [
        {
            "topic": r.topic,
            "key": r.key,
            "value": r.value,
            "headers": [[k, v.decode("latin-1")] for k, v in r.headers],
        }
        for r in records
    ]


def outbox_rows(records: Sequence[OutboxRecord]) -> list[OutboxMessage]:
    """The same rows as ORM objects, for transactions that go through a session."""
    return [OutboxMessage(**values) for values in outbox_values(records)]


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
        # entries a task of this process is working on now, with the lease it holds
        # (the Entry a claim returned identifies the task holding it: a stale task's release
        # must not free a claim taken again since, e.g. by this process's scheduler)
        self._held: dict[int, tuple[Entry, dt.datetime]] = {}
        # the per-order statements, on the driver directly where it pays (PostgreSQL)
        self._hot = hot_statements(sessions.kw["bind"])
        # concurrent claims and finishes go to the database together (config/batching.py)
        self._new_claims: Batcher[_NewClaim, Entry | None] = Batcher(
            self._claim_new, abandoned=self._claim_abandoned, shared=_everyones
        )
        self._finishes: Batcher[_Finish, bool] = Batcher(self._finish_many, shared=_everyones)

    def release(self, entry: Entry) -> None:
        """The task working on `entry` ended (finished or not): its claim is not in use here.

        A claim of ours left behind by a step that died in a database outage can then be taken
        over by this process at once, instead of after its lease (`on_redelivery`)."""
        self._forget(entry)

    def _forget(self, entry: Entry) -> None:
        held = self._held.get(entry.id)
        if held is not None and held[0] is entry:
            del self._held[entry.id]

    def _hold(self, entry: Entry) -> Entry:
        assert entry.lease_until is not None
        self._held[entry.id] = (entry, entry.lease_until)
        return entry

    async def claim(self, key: LedgerKey, source: Source, *, from_scheduler: bool = False) -> Claim:
        """Take the entry for `key` (creating it), or say why this worker must not issue it."""
        now = self._clock()
        entry = await self._new_claims.submit(_NewClaim(key, source, now))
        if entry is not None:
            return Claim(ClaimOutcome.NEW, entry)
        return await self._claim_existing(key, now, from_scheduler)

    async def _claim_new(self, requests: Sequence[_NewClaim]) -> list[Entry | None]:
        """Insert the entries of every request in one statement; a request whose key exists
        already (or twice in this batch) gets None: it goes the way of a redelivery."""
        # one statement; rows skipped by the conflict are simply not returned
        rows = await self._hot.claim([self._new_row(r) for r in requests])
        inserted = {tuple(row[1:]): row[0] for row in rows}
        entries: list[Entry | None] = []
        for request in requests:
            k = request.key
            new_id = inserted.pop(
                (k.seller_id, k.channel, k.order_id, k.slot.value, k.refund_id), None
            )
            entries.append(None if new_id is None else self._hold(self._new_entry(new_id, request)))
        return entries

    def _new_row(self, request: _NewClaim) -> dict[str, Any]:
        key, source = request.key, request.source
        return {
            "seller_id": key.seller_id,
            "channel": key.channel,
            "order_id": key.order_id,
            "slot": key.slot.value,
            "refund_id": key.refund_id,
            "state": State.CLAIMED.value,
            "version": 1,
            "attempts": 0,
            "lease_owner": self.owner,
            "lease_until": request.now + self._lease,
            "source_topic": source.topic,
            "source_partition": source.partition,
            "source_offset": source.offset,
            "source_event_id": source.event_id,
            "source_key": source.key,
            "event_value": source.value,
            "source_headers": [[k, v.decode("latin-1")] for k, v in source.headers],
        }

    def _new_entry(self, entry_id: int, request: _NewClaim) -> Entry:
        return Entry(
            id=entry_id,
            key=request.key,
            state=State.CLAIMED,
            attempts=0,
            document_kind=None,
            park_reason=None,
            next_attempt_at=None,
            lease_until=request.now + self._lease,
            result_event=None,
            source=request.source,
        )

    def _claim_abandoned(self, _: _NewClaim, entry: Entry | None) -> None:
        """Its caller was cancelled: the claim is in nobody's hands (taken over at once)."""
        if entry is not None:
            self._forget(entry)

    async def _claim_existing(
        self, key: LedgerKey, now: dt.datetime, from_scheduler: bool
    ) -> Claim:
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(Issuance).where(_key_filter(key)))
            assert row is not None
            state, lease_end = State(row.state), _aware(row.lease_until)
            outcome = decide(
                state,
                lease_end,
                now,
                from_scheduler=from_scheduler,
                abandoned_by_us=row.lease_owner == self.owner and row.id not in self._held,
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
            prior = lease_end if state is State.CLAIMED else None
            return Claim(ClaimOutcome.TAKE_OVER, self._hold(_entry(row, prior)))

    async def ensure_lease(self, entry: Entry, needed: dt.timedelta) -> None:
        """Before a create: hold the claim for at least `needed` more, or raise LeaseLost.

        A create sent after our lease ended could commit after another worker took the entry
        over and, finding nothing yet, created it too. Bounding every create by the lease is
        what lets a takeover know when a crashed holder's create can no longer land."""
        now = self._clock()
        held = self._held.get(entry.id)
        if held is None or held[0] is not entry:  # released, or taken again in this process
            raise LeaseLost(f"ledger entry {entry.id} is no longer held by this task")
        if held[1] - now >= needed:
            return
        until = now + max(self._lease, needed)
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(Issuance)
                .where(
                    self._still_ours(entry),
                    or_(Issuance.lease_until.is_(None), Issuance.lease_until > now),
                )
                .values(lease_until=until, version=Issuance.version + 1)
            )
            if done.rowcount != 1:
                raise LeaseLost(f"ledger entry {entry.id}: lease ended before the create")
        self._held[entry.id] = (entry, until)

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
        track: Tracking | None = None,
    ) -> None:
        """Move a claimed entry to a final state and queue its output, atomically."""
        assert state in FINAL
        values = dict(
            zip(
                FINISHED_COLUMNS,
                (state.value, result_event, document_kind, failure_code, provider_document_id),
                strict=True,
            )
        )
        rows = [track.row(entry.id)] if track is not None else []
        if not await self._finishes.submit(_Finish(entry, values, outbox, rows)):
            raise LeaseLost(f"ledger entry {entry.id} was taken over")
        self._forget(entry)

    async def _finish_many(self, requests: Sequence[_Finish]) -> list[bool]:
        """Finish every request's entry that is still ours, atomically (one transaction, one
        statement on PostgreSQL): update them together, insert all their outbox and tracking
        rows. False: taken over (that request's outbox rows are not written; its new owner
        reports the outcome)."""
        ours = await self._hot.finish(
            self.owner,
            [FinishRows(r.entry.id, r.values, outbox_values(r.outbox), r.rows) for r in requests],
        )
        return [r.entry.id in ours for r in requests]

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
        recreate_after: dt.datetime | None = None,
        waiting_since: dt.datetime | None = None,
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
            recreate_after=recreate_after,
            waiting_since=waiting_since,
        )

    def _still_ours(self, entry: Entry) -> Any:
        """Compare-and-set condition: the entry is still claimed, by this worker."""
        return and_(
            Issuance.id == entry.id,
            Issuance.state == State.CLAIMED.value,
            Issuance.lease_owner == self.owner,
        )

    async def _transition(
        self,
        entry: Entry,
        outbox: Sequence[OutboxRecord],
        rows: Sequence[Any] = (),
        **values: Any,
    ) -> None:
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(Issuance)
                .where(self._still_ours(entry))
                .values(lease_owner=None, lease_until=None, version=Issuance.version + 1, **values)
            )
            if done.rowcount != 1:
                raise LeaseLost(f"ledger entry {entry.id} was taken over")
            session.add_all([*outbox_rows(outbox), *rows])
        self._forget(entry)

    async def has_unfinished_predecessor(self, entry: Entry) -> bool:
        """Does a document this one legally depends on still wait (so this one must wait)?

        `domain.ledger.predecessors`: a correction waits for its order's sale and for
        corrections received before it; a sale waits for nothing, whatever arrived first."""
        k = entry.key
        waits_for = predecessors(k.slot)
        if not waits_for:
            return False
        depended = or_(
            *(
                and_(Issuance.slot == p.slot.value, Issuance.id < entry.id)
                if p.earlier_only
                else Issuance.slot == p.slot.value
                for p in waits_for
            )
        )
        async with self._sessions() as session:
            return bool(
                await session.scalar(
                    select(
                        exists().where(
                            Issuance.seller_id == k.seller_id,
                            Issuance.channel == k.channel,
                            Issuance.order_id == k.order_id,
                            Issuance.id != entry.id,
                            depended,
                            Issuance.state.not_in([s.value for s in FINAL]),
                        )
                    )
                )
            )

    async def due(self, limit: int = 50) -> list[Entry]:
        """Entries the scheduler must move now, oldest first: waiting ones whose time has come
        (or whose connection was fixed), and claims whose holder's lease ran out.

        An expired claim belongs to a worker that crashed or stalled, whoever claimed it (the
        consumer or a scheduler); nobody else would ever come back for it, since its record's
        offset may have been committed long ago."""
        now = self._clock()
        reconnected = select(ProviderConnection.id).where(ProviderConnection.status == "ok")
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(Issuance)
                    .where(
                        or_(
                            and_(
                                Issuance.state.in_([s.value for s in WAITING]),
                                or_(
                                    Issuance.next_attempt_at <= now,
                                    and_(
                                        Issuance.park_reason == ParkReason.NEEDS_REAUTH.value,
                                        Issuance.connection_id.in_(reconnected),
                                    ),
                                ),
                            ),
                            _expired_claim(now),
                        )
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
            session.add_all(outbox_rows(records))

    async def backlog(self) -> Backlog:
        """Counts of waiting entries and unpublished output (three COUNT queries)."""
        waiting = Issuance.state.in_([s.value for s in WAITING])
        now = self._clock()
        async with self._sessions() as session:
            due = await session.scalar(
                select(func.count())
                .select_from(Issuance)
                .where(or_(and_(waiting, Issuance.next_attempt_at <= now), _expired_claim(now)))
            )
            per_reason = await session.execute(
                select(Issuance.park_reason, func.count())
                .where(waiting)
                .group_by(Issuance.park_reason)
            )
            unpublished = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.published_at.is_(None), OutboxMessage.quarantined_at.is_(None))
            )
        return Backlog(
            due=due or 0,
            waiting={reason or "": count for reason, count in per_reason.all()},
            unpublished=unpublished or 0,
        )


@dataclass(frozen=True)
class QuarantinedRow:
    """An outbox row the broker refused for good, as ops see it (no payload)."""

    id: int
    topic: str
    size: int  # bytes of key + value
    created_at: dt.datetime
    quarantined_at: dt.datetime
    last_error: str


class Outbox:
    def __init__(self, sessions: async_sessionmaker, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._hot = hot_statements(sessions.kw["bind"])
        self._clock = clock

    async def pending(self, limit: int = 100) -> list[tuple[int, OutboxRecord]]:
        """Unpublished rows in order; quarantined ones are left out so they block nothing."""
        return [
            (i, OutboxRecord(t, k, v, [(n, h.encode("latin-1")) for n, h in headers]))
            for i, t, k, v, headers in await self._hot.pending(limit)
        ]

    async def mark_published(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        await self._hot.mark_published(ids, self._clock())

    async def quarantine(self, outbox_id: int, error: str) -> None:
        """Set a row the broker refused for good aside (it stays until re-queued)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id, OutboxMessage.published_at.is_(None))
                .values(quarantined_at=self._clock(), last_error=error[:4000])
            )

    def _quarantined(self) -> Any:
        return and_(OutboxMessage.published_at.is_(None), OutboxMessage.quarantined_at.is_not(None))

    async def quarantined_count(self) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(self._quarantined())
            )
            return count or 0

    async def quarantined(self, limit: int = 100) -> list[QuarantinedRow]:
        """Quarantined rows, oldest first."""
        size = func.coalesce(func.length(OutboxMessage.key), 0) + func.coalesce(
            func.length(OutboxMessage.value), 0
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.topic,
                    size,
                    OutboxMessage.created_at,
                    OutboxMessage.quarantined_at,
                    OutboxMessage.last_error,
                )
                .where(self._quarantined())
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            return [
                QuarantinedRow(i, t, n, as_utc(c), as_utc(q), e or "")
                for i, t, n, c, q, e in rows.all()
            ]

    async def requeue(self, ids: Sequence[int] | None = None) -> list[int]:
        """Put quarantined rows (all when `ids` is None) back in line; returns those moved.

        They keep their place (their id), so the next flush publishes them first."""
        where = self._quarantined()
        if ids is not None:
            where = and_(where, OutboxMessage.id.in_(ids))
        async with self._sessions() as session, session.begin():
            moved = (await session.scalars(select(OutboxMessage.id).where(where))).all()
            if moved:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(moved))
                    .values(quarantined_at=None, last_error=None)
                )
            return sorted(moved)
