"""Process one claimed ledger entry to exactly one durable transition (plus its output).

Used for first deliveries (the consumer) and retries (the scheduler) alike. Nothing here
publishes: outcomes go to the outbox in the ledger's transaction (config/ledger.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from adapters.registry import ProviderRegistry
from adapters.vies.port import ViesChecker
from config.ledger import Entry, Ledger, OutboxRecord, Source
from config.secrets import SecretsNotConfigured
from config.store import ConfigStore
from domain.documents import DocumentRequest
from domain.ledger import (
    ParkReason,
    RetrySchedule,
    Slot,
    State,
    original_wait_delay,
    recreate_not_before,
)
from domain.ports import (
    InvoicingProvider,
    ProviderAuthError,
    ProviderBusy,
    ProviderError,
    ProviderInDoubt,
    ProviderKsefUnauthorized,
    ProviderRateLimited,
    guarding_creates,
)
from domain.preflight import PreflightFailed, check_order, check_refund
from domain.routing import ChannelRoute, ConnectionStatus, decide_sales_document
from domain.vat_document import Decided, annotated, decided_sales_document
from schemas.deadletter import DeadLetterReason
from schemas.invoices import (
    DocumentKind,
    Failure,
    FailureClass,
    FailureCode,
    InvoiceFailed,
    IssuedDocument,
    Provider,
)
from schemas.orders import OrderCompleted, OrderRefunded
from workers.clearance import to_track
from workers.corrections import CorrectionRefused, issue_correction
from workers.events import Fact, failed_event, issued_event
from workers.failures import failure_from_provider_error
from workers.issuing import (
    Attempts,
    CreateNotYetSafe,
    Issuance,
    RetryPolicy,
    check_may_create,
    deliver,
    issue_once,
)
from workers.publisher import Topics, dead_letter_record, event_record
from workers.records import Failed, Issued, Outcome, Parked, RawRecord, Skipped
from workers.treatment import Refused, TreatmentService, WaitForVies

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
ONE_SHOT = RetryPolicy(attempts=1)  # retries are the scheduler's job, never inline
WAIT_FOR_PREDECESSOR = dt.timedelta(seconds=2)
WAIT_FOR_KEYS = dt.timedelta(seconds=30)  # credentials unreadable: until ops fix the keys
WAIT_FOR_KSEF_AUTHORIZATION = dt.timedelta(hours=1)  # a person authorises KSeF at the provider
MAX_LOOKUP_GAP = dt.timedelta(seconds=60)  # in doubt: look again at least this often


@dataclass(frozen=True)
class Waits:
    """How long the worker waits on things outside its control (settings, see config)."""

    # longest a create may take to commit at the provider (ADR 0006, "commit window")
    commit_window: Mapping[Provider, dt.timedelta] = field(
        default_factory=lambda: {
            Provider.WFIRMA: dt.timedelta(seconds=300),
            Provider.FAKTUROWNIA: dt.timedelta(seconds=60),
        }
    )
    create_lease: dt.timedelta = dt.timedelta(seconds=20)  # claim left when a create is sent
    original: dt.timedelta = dt.timedelta(days=1)  # a refund's wait for its sales document
    first_clearance_check: dt.timedelta = dt.timedelta(seconds=15)  # KSeF takes seconds at best


@dataclass(frozen=True)
class Job:
    entry: Entry
    event: OrderCompleted | OrderRefunded
    reconcile: bool  # an earlier attempt may have created the document
    treatment: Decided | None = None  # the sale's VAT decision (workers/treatment.py)


class IssuanceService:
    def __init__(
        self,
        store: ConfigStore,
        providers: ProviderRegistry,
        ledger: Ledger,
        topics: Topics,
        schedule: RetrySchedule,
        clock: Clock,
        waits: Waits | None = None,
        vies: ViesChecker | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._ledger = ledger
        self._topics = topics
        self._schedule = schedule
        self._clock = clock
        self._waits = waits or Waits()
        self._treatment = TreatmentService(vies)

    async def process(self, job: Job) -> Outcome:
        data = job.event.data
        route = await self._store.route_for(data.seller_id, data.channel)
        fact = self._fact(job, route)
        if route is None:
            return await self._fail(
                job,
                fact,
                _not_configured(
                    f"seller {data.seller_id!r} has no invoicing configured for channel "
                    f"{data.channel!r}: connect a provider and map the channel, then replay"
                ),
                state=State.UNRESOLVED,
            )
        if not route.auto_generate:
            log.info(
                "auto-generate off for %s/%s: order %s not invoiced",
                route.seller_id,
                route.channel,
                data.order.order_id,
            )
            await self._ledger.finish(job.entry, State.SKIPPED)
            return Skipped(route.seller_id, route.channel, data.order.order_id, "auto_generate_off")
        if await self._ledger.has_unfinished_predecessor(job.entry):
            return await self._park(
                job, ParkReason.WAITING_PREDECESSOR, WAIT_FOR_PREDECESSOR, fact=fact
            )
        try:
            self._preflight(job.event)
        except PreflightFailed as exc:
            return await self._fail(
                job,
                fact,
                Failure(
                    code=exc.code,
                    failure_class=FailureClass.PERMANENT,
                    attempts=0,
                    message=f"the order cannot be invoiced as sent: {exc}. Fix it at the source "
                    "and publish it again",
                    violations=exc.violations,
                ),
            )
        if isinstance(job.event, OrderCompleted):  # VAT treatment: before any provider call
            decided = await self._treatment.decide(data.order, route.tax)
            if isinstance(decided, Refused):
                return await self._fail(job, fact, _refused(decided))
            if isinstance(decided, WaitForVies):
                return await self._wait_for_vies(job, fact, decided)
            job = replace(job, treatment=decided)
        if route.connection_status is ConnectionStatus.NEEDS_REAUTH:
            return await self._needs_reauth(
                job,
                fact,
                route,
                ProviderAuthError(
                    f"the {route.provider.value} connection needs to be authorized again"
                ),
            )
        return await self._issue(job, fact, route)

    def _fact(self, job: Job, route: ChannelRoute | None) -> Fact:
        data = job.event.data
        provider = route.provider if route else None
        if isinstance(job.event, OrderRefunded):
            return Fact(
                data.seller_id,
                data.channel,
                data.order.order_id,
                job.event.id,
                DocumentKind.CORRECTION,
                data.refund.refund_id,
                provider,
            )
        stored = job.entry.document_kind  # a retry keeps the kind its first attempt chose
        if stored:
            kind: DocumentKind | None = DocumentKind(stored)
        else:
            kind = decide_sales_document(data.order, route) if route else None
        return Fact(
            data.seller_id, data.channel, data.order.order_id, job.event.id, kind, provider=provider
        )

    @staticmethod
    def _preflight(event: OrderCompleted | OrderRefunded) -> None:
        if isinstance(event, OrderRefunded):
            check_refund(event.data.order, event.data.refund)
        else:
            check_order(event.data.order)

    async def _issue(self, job: Job, fact: Fact, route: ChannelRoute) -> Outcome:
        not_before = self._recreate_after(job, route.provider)
        attempts = Attempts()
        try:
            conn = await self._store.connection(route.connection_id)
            if conn is None:
                return await self._fail(
                    job,
                    fact,
                    _not_configured("the channel's provider connection no longer exists"),
                )
            provider = await self._providers.for_connection(conn)
            guard = self._lease_guard(job.entry)
            with guarding_creates(guard):
                document = await self._call_provider(
                    provider, job, fact, route, attempts, not_before
                )
        except SecretsNotConfigured as exc:
            return await self._credentials_unreadable(job, fact, route, exc, not_before)
        except CreateNotYetSafe as exc:
            return await self._still_in_doubt(job, fact, route, exc.not_before)
        except ProviderAuthError as exc:
            await self._store.mark_needs_reauth(route.connection_id, str(exc))
            return await self._needs_reauth(job, fact, route, exc)
        except ProviderKsefUnauthorized as exc:
            return await self._needs_ksef_authorization(job, fact, route, exc, not_before)
        except ProviderError as exc:
            if exc.retryable:
                return await self._retry_later(job, fact, route, exc, not_before)
            return await self._fail(
                job, fact, failure_from_provider_error(exc, job.entry.attempts + attempts.count)
            )
        except CorrectionRefused as exc:
            waits = (FailureCode.ORIGINAL_DOCUMENT_MISSING, FailureCode.ORIGINAL_NOT_CLEARED)
            if exc.code in waits and not exc.permanent:
                return await self._wait_for_original(job, fact, exc)
            return await self._fail(
                job,
                fact,
                Failure(
                    code=exc.code,
                    failure_class=FailureClass.PERMANENT,
                    message=str(exc),
                    attempts=attempts.count,
                    violations=exc.violations,
                ),
            )
        event = issued_event(fact, annotated(document, job.treatment))
        payload = event.model_dump_json(by_alias=True)  # stored and published: the same bytes
        await self._ledger.finish(
            job.entry,
            State.ISSUED,
            result_event=payload,
            document_kind=document.kind.value,
            provider_document_id=document.provider_document_id,
            outbox=[event_record(self._topics, event, payload)],
            # on its way to KSeF: watched from now on (ADR 0004), in the same transaction
            track=to_track(
                replace(fact, document_kind=document.kind),
                route.connection_id,
                document,
                self._clock() + self._waits.first_clearance_check,
                email_on_clearance=route.send_by_email,
            ),
        )
        return Issued(event)

    async def _call_provider(
        self,
        provider: InvoicingProvider,
        job: Job,
        fact: Fact,
        route: ChannelRoute,
        attempts: Attempts,
        not_before: dt.datetime | None,
    ) -> IssuedDocument:
        if isinstance(job.event, OrderRefunded):
            return await issue_correction(
                provider, route, job.event.data, ONE_SHOT, attempts, self._clock(), not_before
            )
        request = self._sale_request(job, fact, route)
        if job.reconcile:  # an earlier attempt may have created it: look before creating
            found = await provider.find(request)
            if found is not None:
                return await deliver(provider, Issuance(found, created=True), request)
            check_may_create(not_before, self._clock())
        return await deliver(
            provider, await issue_once(provider, request, ONE_SHOT, attempts), request
        )

    def _sale_request(self, job: Job, fact: Fact, route: ChannelRoute) -> DocumentRequest:
        assert isinstance(job.event, OrderCompleted) and fact.document_kind is not None
        return decided_sales_document(
            job.event.data.order,
            route.channel,
            fact.document_kind,
            route.target,
            route.send_by_email,
            self._clock(),
            job.treatment,
        )

    def _recreate_after(self, job: Job, provider: Provider | None) -> dt.datetime | None:
        """Until when a create of an earlier attempt may still commit at the provider."""
        entry = job.entry
        candidates = [entry.recreate_after]
        if entry.prior_lease_end is not None:  # took over a claim: its holder may have sent one
            candidates.append(
                recreate_not_before(entry.prior_lease_end, self._clock(), self._window(provider))
            )
        return max((c for c in candidates if c is not None), default=None)

    def _window(self, provider: Provider | None) -> dt.timedelta:
        if provider is None:  # not known: the longest any provider may take
            return max(self._waits.commit_window.values(), default=dt.timedelta(0))
        return self._waits.commit_window.get(provider, dt.timedelta(0))

    def _lease_guard(self, entry: Entry) -> Callable[[], Awaitable[None]]:
        async def guard() -> None:
            await self._ledger.ensure_lease(entry, self._waits.create_lease)

        return guard

    async def _still_in_doubt(
        self, job: Job, fact: Fact, route: ChannelRoute, not_before: dt.datetime
    ) -> Outcome:
        """Not at the provider yet, and an earlier create may still land: look again soon,
        create only after the commit window. A wait, not a failed attempt."""
        now = self._clock()
        delay = min(not_before - now, max(MAX_LOOKUP_GAP / 6, (not_before - now) / 4))
        delay = max(delay, dt.timedelta(seconds=0.5))
        log.info(
            "order %s: not at the provider yet; an earlier create may still commit until %s, "
            "looking again in %.0fs",
            fact.order_id,
            not_before.isoformat(),
            delay.total_seconds(),
        )
        return await self._park(
            job,
            ParkReason.IN_DOUBT,
            delay,
            fact=fact,
            state=State.IN_DOUBT,
            connection_id=route.connection_id,
            recreate_after=not_before,
        )

    async def _credentials_unreadable(
        self,
        job: Job,
        fact: Fact,
        route: ChannelRoute,
        exc: SecretsNotConfigured,
        not_before: dt.datetime | None,
    ) -> Outcome:
        """An operator problem (wrong INVOICE_ROUTER_SECRET_KEYS), not the order's: wait for
        the fix without spending the order's retries, and say what to do."""
        log.error(
            "order %s: the %s credentials of connection %s cannot be decrypted (%s). Set "
            "INVOICE_ROUTER_SECRET_KEYS to include the key that sealed them and restart; the "
            "seller's orders wait (parked: credentials_unreadable) and resume by themselves",
            fact.order_id,
            route.provider.value,
            route.connection_id,
            exc,
        )
        return await self._park(
            job,
            ParkReason.CREDENTIALS_UNREADABLE,
            WAIT_FOR_KEYS,
            fact=fact,
            connection_id=route.connection_id,
            recreate_after=not_before,
        )

    async def _needs_ksef_authorization(
        self,
        job: Job,
        fact: Fact,
        route: ChannelRoute,
        exc: ProviderKsefUnauthorized,
        not_before: dt.datetime | None,
    ) -> Outcome:
        """The provider created nothing until KSeF is authorised for the account: a person's
        task. Flag the connection and try again hourly, without spending the order's retries."""
        detail = (
            f"KSeF is not authorised for this {route.provider.value} account ({exc}): share a "
            "KSeF-authorised user for API connections at the provider; waiting orders are "
            "issued by themselves within an hour"
        )
        log.error("order %s: %s", fact.order_id, detail)
        await self._store.set_status(
            route.connection_id, ConnectionStatus.NEEDS_KSEF_AUTHORIZATION, detail[:1000]
        )
        return await self._park(
            job,
            ParkReason.NEEDS_KSEF_AUTHORIZATION,
            WAIT_FOR_KSEF_AUTHORIZATION,
            fact=fact,
            connection_id=route.connection_id,
            recreate_after=not_before,
        )

    async def _wait_for_vies(self, job: Job, fact: Fact, wait: WaitForVies) -> Outcome:
        """VIES is down and the seller waits for it (the default policy): retry after the first
        retry delay, without spending the order's retries."""
        delay = self._schedule.next_delay(1, None) or 60.0
        log.info("order %s: %s; deciding again in %.0fs", fact.order_id, wait.detail, delay)
        return await self._park(
            job, ParkReason.VIES_UNAVAILABLE, dt.timedelta(seconds=delay), fact=fact
        )

    async def _wait_for_original(self, job: Job, fact: Fact, exc: CorrectionRefused) -> Outcome:
        """A refund before its sales document: wait (bounded), then fail actionably."""
        now = self._clock()
        since = job.entry.waiting_since or now
        waited = now - since
        if waited >= self._waits.original:
            hours = self._waits.original.total_seconds() / 3600
            missing = exc.code is FailureCode.ORIGINAL_DOCUMENT_MISSING
            what = (
                "the order's sales document was never issued: issue it (publish or replay the "
                "order's order.completed)"
                if missing
                else "KSeF never numbered the original invoice: get it sent to KSeF at the provider"
            )
            return await self._fail(
                job,
                fact,
                Failure(
                    code=exc.code,
                    failure_class=FailureClass.RETRYABLE_EXHAUSTED,
                    attempts=job.entry.attempts,
                    message=f"{exc} — waited {hours:g} h and {what}, then replay this refund "
                    "from the dead-letter tooling or the source topic",
                ),
            )
        return await self._park(
            job,
            ParkReason.WAITING_ORIGINAL,
            original_wait_delay(waited),
            fact=fact,
            waiting_since=since,
        )

    async def _retry_later(
        self,
        job: Job,
        fact: Fact,
        route: ChannelRoute,
        exc: ProviderError,
        not_before: dt.datetime | None,
    ) -> Outcome:
        retry_after = exc.retry_after if isinstance(exc, ProviderRateLimited) else None
        if isinstance(exc, ProviderBusy):  # nothing was sent: wait out the hold, keep retries
            failed_attempts, delay = job.entry.attempts, retry_after or 1.0
        else:
            failed_attempts = job.entry.attempts + 1
            delay = self._schedule.next_delay(failed_attempts, retry_after)
        if delay is None:
            failure = failure_from_provider_error(exc, failed_attempts)
            reason = DeadLetterReason(
                "retries_exhausted", f"{failure.code.value}: {exc}"[:1000], type(exc).__qualname__
            )
            return await self._fail(job, fact, failure, dead_letter=(reason, failed_attempts))
        in_doubt = isinstance(exc, ProviderInDoubt)
        if in_doubt:  # the create may still commit: no create before the commit window ends
            until = self._clock() + self._window(route.provider)
            not_before = max(not_before, until) if not_before else until
        reason = (
            ParkReason.IN_DOUBT
            if in_doubt
            else ParkReason.RATE_LIMITED
            if retry_after is not None or isinstance(exc, ProviderRateLimited)
            else ParkReason.TRANSIENT
        )
        log.info("order %s: %s; retry %d in %.0fs", fact.order_id, exc, failed_attempts, delay)
        return await self._park(
            job,
            reason,
            dt.timedelta(seconds=delay),
            fact=fact,
            attempts=failed_attempts,
            state=State.IN_DOUBT if in_doubt else State.PARKED,
            connection_id=route.connection_id,
            recreate_after=not_before,
        )

    async def _needs_reauth(
        self, job: Job, fact: Fact, route: ChannelRoute, exc: ProviderAuthError
    ) -> Outcome:
        """Tell the seller (invoice.failed) and park until the connection is fixed."""
        notice = failed_event(fact, failure_from_provider_error(exc, job.entry.attempts))
        await self._ledger.park(
            job.entry,
            State.PARKED,
            ParkReason.NEEDS_REAUTH,
            next_attempt_at=None,
            attempts=job.entry.attempts,
            connection_id=route.connection_id,
            document_kind=_kind(fact),
            recreate_after=self._recreate_after(job, route.provider),
            outbox=[event_record(self._topics, notice)],
        )
        return Parked(ParkReason.NEEDS_REAUTH.value, notice)

    async def _park(
        self,
        job: Job,
        reason: ParkReason,
        delay: dt.timedelta,
        *,
        fact: Fact,
        attempts: int | None = None,
        state: State = State.PARKED,
        connection_id: int | None = None,
        recreate_after: dt.datetime | None = None,
        waiting_since: dt.datetime | None = None,
    ) -> Outcome:
        await self._ledger.park(
            job.entry,
            state,
            reason,
            next_attempt_at=self._clock() + delay,
            attempts=job.entry.attempts if attempts is None else attempts,
            connection_id=connection_id,
            document_kind=_kind(fact),
            recreate_after=recreate_after or self._recreate_after(job, fact.provider),
            waiting_since=waiting_since,
        )
        return Parked(reason.value)

    async def _fail(
        self,
        job: Job,
        fact: Fact,
        failure: Failure,
        *,
        state: State = State.FAILED,
        dead_letter: tuple[DeadLetterReason, int] | None = None,
    ) -> Outcome:
        event: InvoiceFailed = failed_event(fact, failure)
        outbox: list[OutboxRecord] = [event_record(self._topics, event)]
        if dead_letter is not None:
            raw = consumed_record(job.entry.source)
            outbox.append(dead_letter_record(self._topics, raw, *dead_letter))
        await self._ledger.finish(
            job.entry,
            state,
            result_event=event.model_dump_json(by_alias=True),
            document_kind=_kind(fact),
            failure_code=failure.code.value,
            outbox=outbox,
        )
        return Failed(event)


def consumed_record(source: Source) -> RawRecord:
    """The record an entry came from, as consumed (dead letters carry it verbatim)."""
    return RawRecord(
        source.topic, source.partition, source.offset, source.key, source.value, source.headers
    )


def _refused(refused: Refused) -> Failure:
    return Failure(
        code=refused.code,
        failure_class=FailureClass.PERMANENT,
        attempts=0,
        message=f"the VAT treatment cannot be decided: {refused.message}. Fix the order (or "
        "the seller's tax settings) and publish it again; docs/vat.md lists what to send",
    )


def _not_configured(message: str) -> Failure:
    return Failure(
        code=FailureCode.CHANNEL_NOT_CONFIGURED,
        failure_class=FailureClass.PERMANENT,
        attempts=0,
        message=message,
    )


def _kind(fact: Fact) -> str | None:
    return fact.document_kind.value if fact.document_kind else None


def slot_of(event: OrderCompleted | OrderRefunded) -> tuple[Slot, str]:
    if isinstance(event, OrderRefunded):
        return Slot.CORRECTION, event.data.refund.refund_id
    return Slot.SALE, ""
