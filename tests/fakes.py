"""An in-memory InvoicingProvider for unit tests of the service layer (cosmicpython's fake).

Integration tests use the HTTP simulators instead; this fake exists so router rules can be
tested without sockets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from domain.corrections import LineState, fold, line_key
from domain.documents import DocumentRequest
from domain.money import totals_by_rate_group
from domain.ports import Delivery, Department, DuplicateDocument, ProviderError
from schemas.invoices import DocumentKind, IssuedDocument, Provider, Totals


class FakeProvider:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[DocumentRequest, IssuedDocument]] = {}
        self.fail_next: list[ProviderError] = []
        self.create_then_fail: list[ProviderError] = []
        self.issue_calls = 0
        self.emails: list[str] = []

    async def issue(self, request: DocumentRequest) -> IssuedDocument:
        self.issue_calls += 1
        if self.fail_next:
            raise self.fail_next.pop(0)
        if request.idempotency_key in self.documents:
            raise DuplicateDocument("oid taken")
        doc = self._store(request)
        if self.create_then_fail:
            raise self.create_then_fail.pop(0)
        return doc

    def _store(self, request: DocumentRequest) -> IssuedDocument:
        # a correction's totals are the document's per-rate totals after minus before
        t = (
            request.correction.totals
            if request.correction
            else totals_by_rate_group((x.total_gross, x.vat_rate) for x in request.lines)
        )
        doc = IssuedDocument(
            kind=request.kind,
            provider=Provider.FAKTUROWNIA,
            provider_document_id=str(len(self.documents) + 1),
            number=f"{len(self.documents) + 1}/11/2026",
            issue_date=dt.date(2026, 11, 21),
            currency=request.currency,
            totals=Totals(net=t.net, vat=t.vat, gross=t.gross),
            corrected_document_id=request.correction.original_id if request.correction else None,
        )
        self.documents[request.idempotency_key] = (request, doc)
        return doc

    async def find(self, request: DocumentRequest) -> IssuedDocument | None:
        hit = self.documents.get(request.idempotency_key)
        return hit[1] if hit and hit[1].kind == request.kind else None

    async def current_lines(self, document_id: str) -> list[LineState]:
        original = next(
            r for r, d in self.documents.values() if d.provider_document_id == document_id
        )
        deltas = [
            replace(x.before, quantity=x.quantity_delta, gross=x.gross_delta)
            for r, d in self.documents.values()
            if d.kind is DocumentKind.CORRECTION and d.corrected_document_id == document_id
            for x in r.correction.lines
        ]
        return fold(
            [
                LineState(
                    line_key(x.sku, x.name),
                    x.name,
                    x.unit,
                    x.vat_rate,
                    x.quantity,
                    x.total_gross,
                    x.sku,
                )
                for x in original.lines
            ],
            deltas,
        )

    async def get(self, document_id: str) -> IssuedDocument:
        return next(d for _, d in self.documents.values() if d.provider_document_id == document_id)

    async def send_to_buyer(self, document_id: str) -> Delivery:
        self.emails.append(document_id)
        return Delivery(sent=True)

    async def list_departments(self) -> list[Department]:
        return [Department(id="101", name="Sklep")]

    async def aclose(self) -> None:
        pass


class SingleProviderRegistry:
    """A ProviderRegistry where every connection is served by one provider (a fake)."""

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider

    async def for_connection(self, conn: object) -> FakeProvider:
        return self.provider
