"""Read-only questions ops ask of the clearance tracker (`ksef` commands, API, metrics, status).

Nothing here writes: the tracker's rows (config/clearance.py) are changed only by the worker
under its leases. A document's timeline is reconstructed from what is stored: the ledger row
(`issuances`, with the `invoice.issued` event it published), the clearance row, and the
`invoice.clearance_changed` events still in the outbox, which carry when each status was
announced. Rows in these tables are never deleted by the worker, so the timeline is complete
unless an operator pruned the outbox; then the clearance row's own times remain.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.clock import as_utc
from config.models import ClearanceCheck, Issuance, OutboxMessage
from domain.ksef import FAKTUROWNIA_GOV_STATUS, ClearanceStatus, hours_left
from schemas.invoices import INVOICE_CLEARANCE_CHANGED, INVOICE_ISSUED

OPEN_STATUSES = (ClearanceStatus.PENDING.value, ClearanceStatus.OFFLINE.value)
# hours left before an offline document's legal deadline, as bounded metric buckets
DEADLINE_BUCKETS: tuple[tuple[str, float], ...] = (("<4h", 4), ("<24h", 24))
DEADLINE_LATER = ">=24h"
DEADLINE_PASSED = "passed"
REJECTED_CODE = "ksef_rejected"  # domain.clearance.KSEF_REJECTED: every rejection today
OTHER = "other"
_AGE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_age(text: str) -> dt.timedelta:
    """`90s`, `30m`, `2h`, `3d` or a combination such as `1h30m`; ValueError otherwise."""
    compact = text.strip().lower()
    parts = _AGE.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not an age such as 30m, 2h or 1d")
    return sum((dt.timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), dt.timedelta())


@dataclass(frozen=True)
class OpenDocument:
    """A document on its way through KSeF: neither cleared nor rejected yet."""

    seller_id: str
    channel: str
    order_id: str
    refund_id: str | None
    document_kind: str
    document_number: str
    status: str
    provider_status: str | None
    created_at: dt.datetime
    age: dt.timedelta
    next_check_at: dt.datetime | None
    offline_deadline: dt.datetime | None


async def open_documents(
    sessions: async_sessionmaker,
    now: dt.datetime,
    *,
    seller_id: str | None = None,
    older_than: dt.timedelta | None = None,
    limit: int = 500,
) -> list[OpenDocument]:
    """Pending and offline documents, oldest first (at most `limit`)."""
    stmt = (
        select(ClearanceCheck)
        .where(ClearanceCheck.status.in_(OPEN_STATUSES))
        .order_by(ClearanceCheck.created_at, ClearanceCheck.id)
        .limit(limit)
    )
    if seller_id is not None:
        stmt = stmt.where(ClearanceCheck.seller_id == seller_id)
    if older_than is not None:
        stmt = stmt.where(ClearanceCheck.created_at <= now - older_than)
    async with sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    return [
        OpenDocument(
            seller_id=r.seller_id,
            channel=r.channel,
            order_id=r.order_id,
            refund_id=r.refund_id,
            document_kind=r.document_kind,
            document_number=r.document_number,
            status=r.status,
            provider_status=r.provider_status,
            created_at=as_utc(r.created_at),
            age=now - as_utc(r.created_at),
            next_check_at=_utc(r.next_check_at),
            offline_deadline=_utc(r.offline_deadline),
        )
        for r in rows
    ]


# --- one order's timeline ---------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """One thing that happened to a document; `at` is None when only its order is known."""

    at: dt.datetime | None
    what: str


@dataclass(frozen=True)
class DocumentHistory:
    seller_id: str
    channel: str
    order_id: str
    slot: str  # sale or correction
    refund_id: str | None
    state: str  # the ledger's state (issued, parked, failed, ...)
    document_kind: str | None
    document_number: str | None
    provider: str | None
    provider_document_id: str | None
    sent_to_buyer: bool | None  # None: not issued (yet)
    clearance_status: str | None  # None: not tracked (receipt, no KSeF at the provider)
    provider_status: str | None = None
    ksef_number: str | None = None
    verification_link: str | None = None
    offline_deadline: dt.datetime | None = None
    next_check_at: dt.datetime | None = None
    checks: int = 0
    resends: int = 0
    errors: Sequence[str] = ()
    timeline: list[Moment] = field(default_factory=list)


async def order_history(
    sessions: async_sessionmaker, order_id: str, *, seller_id: str | None = None
) -> list[DocumentHistory]:
    """Every document of the order (sale first, then corrections), each with its timeline."""
    issued = select(Issuance).where(Issuance.order_id == order_id)
    checks = select(ClearanceCheck).where(ClearanceCheck.order_id == order_id)
    announced = select(OutboxMessage).where(OutboxMessage.key == order_id.encode())
    if seller_id is not None:
        issued = issued.where(Issuance.seller_id == seller_id)
        checks = checks.where(ClearanceCheck.seller_id == seller_id)
    async with sessions() as session:
        entries = (await session.execute(issued.order_by(Issuance.id))).scalars().all()
        tracked = {c.issuance_id: c for c in (await session.execute(checks)).scalars().all()}
        outbox = (await session.execute(announced.order_by(OutboxMessage.id))).scalars().all()
    changes = _clearance_changes(outbox)
    histories = [_history(e, tracked.get(e.id), changes) for e in entries]
    return sorted(histories, key=lambda h: (h.slot != "sale", h.refund_id or ""))


def _history(
    entry: Issuance,
    check: ClearanceCheck | None,
    changes: dict[tuple[str, str, str], list[Moment]],
) -> DocumentHistory:
    event = _issued_data(entry.result_event)
    document = event.get("document") or {}
    first = document.get("clearance") or {}
    refund = entry.refund_id or None
    timeline = [Moment(as_utc(entry.created_at), f"{entry.slot} recorded in the ledger")]
    if document:
        mail = "e-mailed to the buyer" if document.get("sent_to_buyer") else "not e-mailed"
        seen = first.get("status") or "no KSeF status"
        timeline.append(
            Moment(
                _parse_time(event.get("_time")),
                f"issued {document.get('number')} ({document.get('kind')}); {mail}; "
                f"KSeF at issue: {seen}",
            )
        )
    elif entry.state != "issued":
        timeline.append(Moment(as_utc(entry.updated_at), f"ledger state {entry.state}"))
    history = DocumentHistory(
        seller_id=entry.seller_id,
        channel=entry.channel,
        order_id=entry.order_id,
        slot=entry.slot,
        refund_id=refund,
        state=entry.state,
        document_kind=entry.document_kind or document.get("kind"),
        document_number=document.get("number"),
        provider=document.get("provider"),
        provider_document_id=entry.provider_document_id or document.get("provider_document_id"),
        sent_to_buyer=bool(document.get("sent_to_buyer")) if document else None,
        clearance_status=None,
        ksef_number=first.get("number"),
        verification_link=first.get("verification_link"),
        timeline=timeline,
    )
    if check is None:
        return history
    return _with_check(history, check, changes.get((entry.seller_id, entry.channel, refund or "")))


def _with_check(
    history: DocumentHistory, check: ClearanceCheck, announced: list[Moment] | None
) -> DocumentHistory:
    timeline = [
        *history.timeline,
        Moment(as_utc(check.created_at), f"KSeF tracking started ({check.status} at issue)"),
    ]
    if announced:
        timeline.extend(announced)
    else:  # the outbox was pruned: the statuses are known, not when they were announced
        timeline.extend(Moment(None, f"announced {s}") for s in check.announced or [])
    # e-mail after clearance (a company's invoice): attempted once; when is not stored
    emailed = bool(getattr(check, "emailed", False))
    if emailed:
        timeline.append(Moment(None, "e-mailed to the buyer after clearance"))
    checked = f"{check.checks} check(s), {check.resends} re-send(s); now {check.status}"
    timeline.append(Moment(as_utc(check.updated_at), f"last update: {checked}"))
    timeline.sort(key=lambda m: (m.at is None, m.at or dt.datetime.min.replace(tzinfo=dt.UTC)))
    return DocumentHistory(
        **{
            **history.__dict__,
            "clearance_status": check.status,
            "sent_to_buyer": True if emailed else history.sent_to_buyer,
            "provider_status": check.provider_status,
            "ksef_number": check.ksef_number or history.ksef_number,
            "verification_link": check.verification_link or history.verification_link,
            "offline_deadline": _utc(check.offline_deadline),
            "next_check_at": _utc(check.next_check_at),
            "checks": check.checks,
            "resends": check.resends,
            "errors": tuple(check.errors or ()),
            "timeline": timeline,
        }
    )


def _clearance_changes(outbox: Sequence[OutboxMessage]) -> dict[tuple[str, str, str], list[Moment]]:
    """`invoice.clearance_changed` events per (seller, channel, refund id), in order."""
    found: dict[tuple[str, str, str], list[Moment]] = {}
    for message in outbox:
        try:
            event = json.loads(message.value or b"")
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("type") != INVOICE_CLEARANCE_CHANGED:
            continue
        data = event.get("data") or {}
        key = (data.get("seller_id", ""), data.get("channel", ""), data.get("refund_id") or "")
        previous = data.get("previous_status") or "?"
        what = f"announced {data.get('status')} (was {previous})"
        if data.get("ksef_number"):
            what += f", KSeF number {data['ksef_number']}"
        found.setdefault(key, []).append(Moment(_parse_time(event.get("time")), what))
    return found


def _issued_data(result_event: str | None) -> dict:
    """The stored `invoice.issued` event's data, with its time (empty for other outcomes)."""
    if not result_event:
        return {}
    try:
        event = json.loads(result_event)
    except ValueError:
        return {}
    if not isinstance(event, dict) or event.get("type") != INVOICE_ISSUED:
        return {}
    return {**(event.get("data") or {}), "_time": event.get("time")}


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


# --- aggregates: metrics and the status report --------------------------------------------------


@dataclass(frozen=True)
class ClearanceSummary:
    """Bounded aggregates of the tracker's table (no seller or order ids)."""

    by_status: dict[str, int]
    oldest_pending_seconds: float  # 0 when nothing is pending
    offline_by_hours_left: dict[str, int]  # DEADLINE_BUCKETS labels, DEADLINE_LATER, PASSED
    rejected_by_reason: dict[tuple[str, str], int]  # (failure code, provider status)


def deadline_bucket(hours: float) -> str:
    if hours <= 0:
        return DEADLINE_PASSED
    for label, limit in DEADLINE_BUCKETS:
        if hours < limit:
            return label
    return DEADLINE_LATER


def rejection_reason(provider_status: str | None) -> str:
    """A provider status as a bounded label: the documented vocabulary, else `other`."""
    status = (provider_status or "").removeprefix("demo_")
    return status if status in FAKTUROWNIA_GOV_STATUS else OTHER


async def clearance_summary(sessions: async_sessionmaker, now: dt.datetime) -> ClearanceSummary:
    async with sessions() as session:
        by_status = dict(
            (
                await session.execute(
                    select(ClearanceCheck.status, func.count()).group_by(ClearanceCheck.status)
                )
            ).all()
        )
        oldest = (
            await session.execute(
                select(func.min(ClearanceCheck.created_at)).where(
                    ClearanceCheck.status == ClearanceStatus.PENDING.value
                )
            )
        ).scalar()
        deadlines = (
            await session.execute(
                select(ClearanceCheck.offline_deadline).where(
                    ClearanceCheck.status == ClearanceStatus.OFFLINE.value
                )
            )
        ).scalars()
        offline = Counter(
            deadline_bucket(hours_left(as_utc(d), now)) if d is not None else DEADLINE_LATER
            for d in deadlines
        )
        rejected = Counter[tuple[str, str]]()
        for provider_status, n in (
            await session.execute(
                select(ClearanceCheck.provider_status, func.count())
                .where(ClearanceCheck.status == ClearanceStatus.REJECTED.value)
                .group_by(ClearanceCheck.provider_status)
            )
        ).all():
            rejected[(REJECTED_CODE, rejection_reason(provider_status))] += n
    return ClearanceSummary(
        by_status=by_status,
        oldest_pending_seconds=max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest else 0.0,
        offline_by_hours_left=dict(offline),
        rejected_by_reason=dict(rejected),
    )


async def open_counts_by_seller(
    sessions: async_sessionmaker, seller_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Per seller: documents pending, offline and rejected in KSeF (the status report)."""
    stmt = (
        select(ClearanceCheck.seller_id, ClearanceCheck.status, func.count())
        .where(ClearanceCheck.status.in_((*OPEN_STATUSES, ClearanceStatus.REJECTED.value)))
        .group_by(ClearanceCheck.seller_id, ClearanceCheck.status)
    )
    if seller_id is not None:
        stmt = stmt.where(ClearanceCheck.seller_id == seller_id)
    found: dict[str, dict[str, int]] = {}
    async with sessions() as session:
        for seller, status, n in (await session.execute(stmt)).all():
            found.setdefault(seller, {})[status] = n
    return found
