"""The clearance tracker: re-read documents on their way through KSeF, act, announce (ADR 0004).

Run by every worker's scheduler. Each due row is claimed under a lease (config/clearance.py),
the document is read from its provider, `domain.clearance.next_step` decides, and the outcome
with its `invoice.clearance_changed` events is stored in one transaction. A provider that does
not answer only delays the next check; a database outage propagates (a wait, workers/outage.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import replace

from adapters.registry import ProviderRegistry
from config.clearance import Check, ClearanceStore, NewCheck, Outcome, unobserved
from config.ledger import LeaseLost, OutboxRecord
from config.secrets import SecretsNotConfigured
from config.store import ConfigStore, ConnectionConfig
from domain.clearance import CheckPolicy, Observation, Step, Tracked, next_step
from domain.ksef import ClearanceAction, ClearanceStatus, clearance_status, fakturownia_rule
from domain.ports import InvoicingProvider, ProviderError
from domain.routing import ConnectionStatus
from schemas.invoices import Clearance, DocumentKind, IssuedDocument, Provider
from workers.events import Fact, clearance_changed_event
from workers.publisher import Topics, event_record

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
RESEND_LEASE = dt.timedelta(seconds=30)
WFIRMA_KSEF_KINDS = frozenset({DocumentKind.INVOICE, DocumentKind.CORRECTION})
# a wFirma document that still reports no KSeF field after this is not sent (an account
# outside KSeF, e.g. a small seller before 2027): announced not_applicable, no more checks
WFIRMA_SILENCE = dt.timedelta(hours=1)
# NIP-YYYYMMDD-hash(-checksum): how KSeF numbers invoices, as `duplicate_error` messages name them
KSEF_NUMBER = re.compile(r"\b\d{10}-\d{8}-[0-9A-F]{6,}(?:-[0-9A-F]{2})?\b")


def to_track(
    fact: Fact,
    connection_id: int,
    document: IssuedDocument,
    now: dt.datetime,
    email_on_clearance: bool = False,
) -> NewCheck | None:
    """The clearance check a freshly issued document needs, if it is on its way to KSeF.

    Documents the provider reports no clearance for (KSeF not set up at the provider), final
    ones (already cleared or rejected) and those never sent (receipts) are not watched: the
    `invoice.issued` event already says all there is."""
    clearance = document.clearance
    if fact.document_kind is None or fact.provider is None:
        return None
    if clearance is None:
        if fact.provider is not Provider.WFIRMA or document.kind not in WFIRMA_KSEF_KINDS:
            return None
        # wFirma sends every invoice to KSeF by itself but reports nothing right after the
        # create (ksef-2026.md §1.10): watch it; silence for WFIRMA_SILENCE means no KSeF
        clearance = Clearance(status=None)
    status = clearance_status(clearance)
    if status not in (ClearanceStatus.PENDING, ClearanceStatus.OFFLINE):
        return None
    return NewCheck(
        seller_id=fact.seller_id,
        channel=fact.channel,
        order_id=fact.order_id,
        refund_id=fact.refund_id,
        source_event_id=fact.source_event_id,
        provider=fact.provider.value,
        connection_id=connection_id,
        document_kind=document.kind.value,
        provider_document_id=document.provider_document_id,
        document_number=document.number,
        issue_date=document.issue_date,
        status=status,
        provider_status=clearance.status,
        ksef_number=clearance.number,
        first_check_at=now,
        email_on_clearance=email_on_clearance and not document.sent_to_buyer,
    )


class ClearanceTracker:
    def __init__(
        self,
        store: ClearanceStore,
        config: ConfigStore,
        providers: ProviderRegistry,
        topics: Topics,
        policy: CheckPolicy,
        clock: Clock,
    ) -> None:
        self._store = store
        self._config = config
        self._providers = providers
        self._topics = topics
        self._policy = policy
        self._clock = clock

    async def run_due(self, limit: int = 20) -> int:
        """Check every due document (at most `limit`); how many were checked."""
        checks = await self._store.claim_due(limit)
        for check in checks:
            try:
                await self._check(check)
            except LeaseLost:
                log.warning("clearance check %s taken over by another worker", check.id)
        return len(checks)

    async def _check(self, check: Check) -> None:
        """Read the document once, decide, act (each through the same provider), store."""
        try:
            conn = await self._config.connection(check.connection_id)
            if conn is None:
                log.warning(
                    "clearance of %s: connection %s is gone", check.order_id, check.connection_id
                )
                await self._store.record(check, self._unchanged(check, give_up=True))
                return
            provider = await self._providers.for_connection(conn)
            document = await provider.get(check.provider_document_id)
        except (ProviderError, SecretsNotConfigured) as exc:
            # the provider (or our keys) will answer later: look again, change nothing
            log.info("clearance of %s not read (%s); retrying later", check.order_id, exc)
            await self._store.record(check, self._unchanged(check))
            return
        clearance = document.clearance
        seen = Observation(
            clearance.status if clearance else None,
            clearance.number if clearance else None,
            tuple(clearance.errors) if clearance else (),
        )
        tracked = Tracked(
            check.status,
            check.issue_date,
            check.created_at,
            check.checks,
            check.resends,
            check.announced,
        )
        step = next_step(tracked, seen, self._clock(), self._policy)
        if self._silent_too_long(check, seen):
            step = Step(ClearanceStatus.NOT_APPLICABLE, (ClearanceStatus.NOT_APPLICABLE,))
        await self._authorization(check, conn, step, seen)
        adopted = await self._adopt_duplicate(check, provider, seen)
        if adopted is not None and adopted.clearance is not None:
            # KSeF holds this invoice already (e.g. an earlier send that answered too late):
            # that accepted one is the invoice; never a second document
            clearance = adopted.clearance
            seen = Observation("ok", clearance.number, seen.errors)
            step = next_step(tracked, seen, self._clock(), self._policy)
            step = replace(
                step,
                errors=(
                    *seen.errors,
                    f"adopted the invoice KSeF accepted: {adopted.number} "
                    f"(provider id {adopted.provider_document_id})",
                ),
            )
        resent = False
        if step.resend:  # extending the lease moves the row's version: keep the new one
            check, resent = await self._resend(check, provider)
        emailed = check.email_due and step.status is ClearanceStatus.CLEARED
        if emailed:
            await self._email(check, provider)
        outcome = Outcome(
            status=step.status,
            provider_status=seen.provider_status,
            ksef_number=seen.ksef_number,
            verification_link=clearance.verification_link if clearance else None,
            offline_deadline=step.offline_deadline,
            errors=step.errors,
            announced=step.announce,
            next_check_at=step.next_check_at,
            resent=resent,
            emailed=emailed,
        )
        assigned_at = clearance.assigned_at if clearance else None
        await self._store.record(
            check, outcome, self._events(check, step, seen, outcome, assigned_at)
        )

    async def _resend(self, check: Check, provider: InvoicingProvider) -> tuple[Check, bool]:
        """`send_to_ksef=yes` once more, inside our lease (a re-send is a create at KSeF);
        the row as held now (a lease extension moves its version), and whether it was sent."""
        resend = getattr(provider, "send_to_ksef", None)
        if resend is None:
            return check, False
        check = await self._store.ensure_lease(check, RESEND_LEASE)
        try:
            await resend(check.provider_document_id)
        except ProviderError as exc:
            log.warning("re-sending %s to KSeF failed: %s", check.order_id, exc)
            return check, False
        log.info(
            "re-sent %s to KSeF (%d of %d)",
            check.order_id,
            check.resends + 1,
            self._policy.max_resends,
        )
        return check, True

    def _silent_too_long(self, check: Check, seen: Observation) -> bool:
        silent = seen.provider_status is None and seen.ksef_number is None
        waited = self._clock() - check.created_at >= WFIRMA_SILENCE
        return check.provider == Provider.WFIRMA.value and silent and waited

    async def _adopt_duplicate(
        self, check: Check, provider: InvoicingProvider, seen: Observation
    ) -> IssuedDocument | None:
        """On `duplicate_error`, the invoice KSeF accepted under the number it names."""
        if fakturownia_rule(seen.provider_status).action is not ClearanceAction.RECONCILE_DUPLICATE:
            return None
        number = next((m for e in seen.errors for m in KSEF_NUMBER.findall(e)), None)
        search = getattr(provider, "find_by_ksef_number", None)
        if number is None or search is None:
            log.warning(
                "clearance of %s: duplicate_error without a KSeF number to adopt", check.order_id
            )
            return None
        try:
            found = await search(number)
        except ProviderError as exc:
            log.info("KSeF number search for %s failed (%s); retrying later", check.order_id, exc)
            return None
        if found is None or found.clearance is None or found.clearance.number != number:
            return None
        log.warning(
            "clearance of %s: duplicate_error, adopting the invoice KSeF accepted as %s (%s)",
            check.order_id,
            number,
            found.number,
        )
        return found

    async def _authorization(
        self, check: Check, conn: ConnectionConfig, step: Step, seen: Observation
    ) -> None:
        """Tell ops and the seller that KSeF refuses the account; clear it once KSeF answers."""
        waiting = conn.status is ConnectionStatus.NEEDS_KSEF_AUTHORIZATION
        if step.needs_authorization and conn.status is ConnectionStatus.OK:
            detail = (
                f"KSeF refuses this account's documents ({seen.provider_status}): authorise "
                "KSeF for the account at the provider; clearance checks resume by themselves"
            )
            log.error("connection %s: %s", check.connection_id, detail)
            await self._config.set_status(
                check.connection_id, ConnectionStatus.NEEDS_KSEF_AUTHORIZATION, detail
            )
        elif waiting and not step.needs_authorization:
            log.info("connection %s: KSeF answers again", check.connection_id)
            await self._config.set_status(check.connection_id, ConnectionStatus.OK)

    async def _email(self, check: Check, provider: InvoicingProvider) -> None:
        """The buyer's e-mail, held back until KSeF numbered the invoice; tried exactly once
        (a crash between sending and recording it can send it twice, as at creation)."""
        try:
            delivery = await provider.send_to_buyer(check.provider_document_id)
        except ProviderError as exc:
            log.warning("e-mail of %s after clearance failed: %s", check.document_number, exc)
            return
        if not delivery.sent:
            log.warning("e-mail of %s refused: %s", check.document_number, delivery.message)

    def _unchanged(self, check: Check, give_up: bool = False) -> Outcome:
        later = None if give_up else self._clock() + self._policy.gap(check.checks)
        return unobserved(check, later)

    def _events(
        self,
        check: Check,
        step: Step,
        seen: Observation,
        outcome: Outcome,
        assigned_at: dt.datetime | None,
    ) -> list[OutboxRecord]:
        fact = Fact(
            check.seller_id,
            check.channel,
            check.order_id,
            check.source_event_id,
            DocumentKind(check.document_kind),
            check.refund_id,
            Provider(check.provider),
        )
        previous = check.status
        records = []
        for status in step.announce:
            event = clearance_changed_event(
                fact,
                previous=previous,
                status=status,
                provider_status=seen.provider_status,
                ksef_number=seen.ksef_number,
                assigned_at=assigned_at,
                verification_link=outcome.verification_link,
                offline_deadline=step.offline_deadline,
                errors=list(step.errors),
                failure_code=step.failure_code,
                provider_document_id=check.provider_document_id,
                number=check.document_number,
            )
            records.append(event_record(self._topics, event))
            previous = status
        return records
