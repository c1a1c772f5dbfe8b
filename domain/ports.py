"""The provider port: what the router needs from any invoicing provider, and how it fails.

Adapters translate their provider's HTTP answers into exactly these errors, so the router's
retry/park/fail decisions never depend on which provider a seller uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from domain.corrections import LineState
from domain.documents import DocumentRequest
from schemas.invoices import IssuedDocument


class ProviderError(Exception):
    """Base of the taxonomy. `detail` is safe to publish (no secrets, no tokens)."""

    retryable = False

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class ProviderAuthError(ProviderError):
    """Credentials rejected or revoked: the seller must reconnect; retrying cannot help."""


class ProviderValidationError(ProviderError):
    """The provider refused the document; `fields` maps provider field names to messages."""

    def __init__(
        self, message: str, *, fields: dict[str, list[str]] | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.fields = fields or {}


class ProviderKsefUnauthorized(ProviderValidationError):
    """The provider refuses KSeF-bound documents until a person authorises KSeF for the account
    (wFirma "Brak autoryzacji w KSeF 2.0"): nothing was created; retrying later can succeed."""


class ProviderNotFound(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class ProviderBusy(ProviderRateLimited):
    """Refused locally, nothing sent: the account is held after the provider's Retry-After.
    Waiting it out costs the order no retry."""


class ProviderUnavailable(ProviderError):
    """5xx, HTML gateway pages, connection errors on a call that changes nothing."""

    retryable = True


class ProviderInDoubt(ProviderError):
    """A create timed out or got a 5xx: the document may exist. Reconcile, never blind-retry."""

    retryable = True


class DuplicateDocument(ProviderError):
    """The provider already holds a document with our idempotency key."""


@dataclass(frozen=True)
class Department:
    """A provider-side issuing unit a channel maps to (Fakturownia department, wFirma series)."""

    id: str
    name: str
    shortcut: str | None = None
    tax_no: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """Outcome of e-mailing a document to the buyer; a refusal is not an issuance failure."""

    sent: bool
    message: str = ""


class InvoicingProvider(Protocol):
    """One connected provider account."""

    async def issue(self, request: DocumentRequest) -> IssuedDocument:
        """Create the document. Raises ProviderInDoubt when the outcome is unknown."""
        ...

    async def find(self, request: DocumentRequest) -> IssuedDocument | None:
        """The document already created for `request.idempotency_key`, if any."""
        ...

    async def get(self, document_id: str) -> IssuedDocument:
        """The document as it stands now (e.g. its KSeF clearance)."""
        ...

    async def send_to_buyer(self, document_id: str) -> Delivery:
        """E-mail the document. Not idempotent: a second call sends a second e-mail."""
        ...

    async def current_lines(self, document_id: str) -> list[LineState]:
        """The document's lines as they stand after every correction issued against it."""
        ...

    async def list_departments(self) -> list[Department]: ...

    async def aclose(self) -> None: ...


CreateGuard = Callable[[], Awaitable[None]]
_create_guard: ContextVar[CreateGuard | None] = ContextVar("create_guard", default=None)


async def before_create() -> None:
    """Adapters await this right before sending a request that creates a document (after any
    client-side rate-limit wait): the caller's guard may still refuse, e.g. when its claim on
    the order ran out and another worker may be creating the same document."""
    guard = _create_guard.get()
    if guard is not None:
        await guard()


@contextmanager
def guarding_creates(guard: CreateGuard) -> Iterator[None]:
    """Run `guard` before every create sent from this context (see `before_create`)."""
    token = _create_guard.set(guard)
    try:
        yield
    finally:
        _create_guard.reset(token)
