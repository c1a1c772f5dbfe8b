"""Issue a document at most once through any provider.

A create that may have happened (timeout, 5xx) is never retried blindly: the document is first
looked up by our idempotency key, and "not found" right after a timeout proves nothing: the
first create may still be committing. Such an order is parked in doubt and created again only
once the provider can no longer commit the first one (`CreateNotYetSafe`, the commit window of
docs/adr/0006-ledger-and-outbox.md). See docs/adr/0002-idempotent-issuance.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.documents import DocumentRequest
from domain.ksef import clearance_status
from domain.ports import (
    DuplicateDocument,
    InvoicingProvider,
    ProviderError,
    ProviderInDoubt,
    ProviderRateLimited,
    before_create,
)
from schemas.invoices import ClearanceStatus, IssuedDocument

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """In-process retries for transient provider trouble (non-blocking retries come later)."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int, exc: ProviderError) -> float:
        if isinstance(exc, ProviderRateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * random.uniform(0.5, 1.0)  # jitter spreads a burst of retries


@dataclass(frozen=True)
class Issuance:
    document: IssuedDocument
    created: bool  # False when an earlier attempt (or delivery) had already created it


class CreateNotYetSafe(Exception):
    """The document is not at the provider yet, but an earlier create may still commit there
    until `not_before`: look again later, create only after that."""

    def __init__(self, not_before: dt.datetime) -> None:
        super().__init__(f"an earlier create may still commit until {not_before.isoformat()}")
        self.not_before = not_before


def check_may_create(not_before: dt.datetime | None, now: dt.datetime) -> None:
    if not_before is not None and now < not_before:
        raise CreateNotYetSafe(not_before)


class Attempts:
    """Counts provider attempts so failures can report them."""

    def __init__(self) -> None:
        self.count = 0


async def issue_once(
    provider: InvoicingProvider,
    request: DocumentRequest,
    policy: RetryPolicy,
    attempts: Attempts,
    sleep: Sleep = asyncio.sleep,
) -> Issuance:
    while True:
        attempts.count += 1
        try:
            await before_create()
            return Issuance(await provider.issue(request), created=True)
        except DuplicateDocument:
            return Issuance(await _existing_after_conflict(provider, request), created=False)
        except ProviderInDoubt:
            found = await _reconcile(provider, request)
            if found is not None:
                return Issuance(found, created=True)  # our own timed-out create landed
            raise  # not found yet proves nothing: the create may still commit (module doc)
        except ProviderError as exc:
            if not exc.retryable or attempts.count >= policy.attempts:
                raise
            await sleep(policy.delay(attempts.count, exc))


async def deliver(
    provider: InvoicingProvider, issuance: Issuance, request: DocumentRequest
) -> IssuedDocument:
    """E-mail a freshly created document when the channel asks for it.

    Only the call that created the document e-mails it, so a redelivered order never e-mails the
    buyer twice. A refusal (e.g. no KSeF number yet) leaves `sent_to_buyer` false; the document
    is issued all the same.
    """
    doc = issuance.document
    if not (request.send_to_buyer and issuance.created) or doc.sent_to_buyer:
        return doc
    if request.buyer.is_company and awaits_ksef(doc):
        return doc  # a company gets its invoice once KSeF numbers it (workers/clearance.py)
    try:
        delivery = await provider.send_to_buyer(doc.provider_document_id)
    except ProviderError as exc:
        log.warning("e-mail of document %s failed: %s", doc.number, exc)
        return doc
    if not delivery.sent:
        log.warning("e-mail of document %s refused: %s", doc.number, delivery.message)
    return doc.model_copy(update={"sent_to_buyer": delivery.sent})


def awaits_ksef(doc: IssuedDocument) -> bool:
    """On its way to KSeF without a number yet: not an invoice the buyer may hold (ADR 0004)."""
    return clearance_status(doc.clearance) is ClearanceStatus.PENDING


async def _reconcile(
    provider: InvoicingProvider, request: DocumentRequest
) -> IssuedDocument | None:
    """The document if the provider has it; None if it certainly does not; in doubt otherwise."""
    try:
        return await provider.find(request)
    except ProviderError as exc:
        if exc.retryable:
            raise ProviderInDoubt(
                "the create's outcome is unknown and the lookup failed", detail=exc.detail
            ) from exc
        raise


async def _existing_after_conflict(
    provider: InvoicingProvider, request: DocumentRequest
) -> IssuedDocument:
    found = await _reconcile(provider, request)
    if found is None:
        raise ProviderInDoubt(
            f"the provider reports a document with key {request.idempotency_key!r} "
            "but the lookup does not find it"
        )
    return found
