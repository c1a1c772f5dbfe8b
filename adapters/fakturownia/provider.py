"""FakturowniaProvider: the InvoicingProvider port over Fakturownia's REST API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from adapters.fakturownia.http import error_text, raise_for_answer, raise_for_transport
from adapters.fakturownia.mapping import KIND, invoice_body, issued_document, line_state
from adapters.fakturownia.treatment import SALES_INVOICE_KINDS
from adapters.http_client import HttpClient
from adapters.tls import shared_tls
from domain.corrections import LineState, fold
from domain.documents import DocumentRequest
from domain.ports import (
    Delivery,
    Department,
    ProviderBusy,
    ProviderError,
    ProviderRateLimited,
    before_create,
)
from schemas.invoices import DocumentKind, IssuedDocument

PER_PAGE = 100  # the API's maximum
MAX_LOOKUP_PAGES = 20


class FakturowniaProvider:
    def __init__(
        self,
        *,
        base_url: str,
        api_token: str,
        options: dict[str, Any] | None = None,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = api_token
        self._options = options or {}
        self._held_until = 0.0
        self._http = HttpClient(  # adapters/http_client.py; never follows a redirect
            base_url=self.base_url,
            timeout=timeout,
            tls=shared_tls(),
            headers={"Accept": "application/json", "Authorization": f"Bearer {api_token}"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"FakturowniaProvider({self.base_url})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, *, creates: bool = False, **kwargs: Any) -> Any:
        held = self._held_until - time.monotonic()
        if held > 0:  # Retry-After applies to the account, not only to the call that got it
            raise ProviderBusy(
                "Fakturownia asked to slow down",
                retry_after=held,
                detail=f"{method} {path}: held locally after a 429",
            )
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise raise_for_transport(exc, creates=creates, where=f"{method} {path}") from exc
        try:
            return raise_for_answer(response, creates=creates)
        except ProviderRateLimited as exc:
            if exc.retry_after:
                self._held_until = time.monotonic() + exc.retry_after
            raise

    async def issue(self, request: DocumentRequest) -> IssuedDocument:
        envelope: dict[str, Any] = {"invoice": invoice_body(request, self._options)}
        if self._options.get("gov_save_and_send"):
            envelope["gov_save_and_send"] = True
        invoice = await self._call("POST", "/invoices.json", json=envelope, creates=True)
        if request.correction is not None and invoice.get("id") is not None:
            invoice = await self._with_states(invoice)
        return issued_document(invoice, self.base_url)

    async def _with_states(self, correction: dict[str, Any]) -> dict[str, Any]:
        """The correction re-read with its positions' before/after states (README "Faktura
        korekta": `correction_positions=full`), from which its per-rate totals are the
        difference of the groups' totals; the create answer when the read fails (the
        correction exists: a failure here must not make the caller issue it again)."""
        try:
            full = await self._call(
                "GET",
                f"/invoices/{correction['id']}.json",
                params={"correction_positions": "full"},
            )
        except ProviderError:
            return correction
        return full if isinstance(full, dict) else correction

    async def _list(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """Every invoice matching `filters`, across pages and all periods (default hides old)."""
        for page in range(1, MAX_LOOKUP_PAGES + 1):
            params = {**filters, "period": "all", "page": page, "per_page": PER_PAGE}
            rows = await self._call("GET", "/invoices.json", params=params) or []
            for row in rows:
                yield row
            if len(rows) < PER_PAGE:
                return

    async def find(self, request: DocumentRequest) -> IssuedDocument | None:
        """Look the document up by `oid`; the filter's exactness is unconfirmed, so re-check."""
        kinds = (
            SALES_INVOICE_KINDS if request.kind is DocumentKind.INVOICE else (KIND[request.kind],)
        )
        # with positions: the per-rate totals are read from them (adapters/fakturownia/treatment)
        async for invoice in self._list(oid=request.idempotency_key, include_positions="true"):
            if invoice.get("oid") == request.idempotency_key and invoice.get("kind") in kinds:
                return issued_document(invoice, self.base_url)
        return None

    async def find_by_ksef_number(self, ksef_number: str) -> IssuedDocument | None:
        """The sales invoice KSeF accepted under `ksef_number`: `GET /invoices.json?gov_id=…`
        (ksef-2026.md §1.9), re-checked on our side like `find`."""
        async for invoice in self._list(gov_id=ksef_number, include_positions="true"):
            if invoice.get("gov_id") == ksef_number:
                return issued_document(invoice, self.base_url)
        return None

    async def get(self, document_id: str) -> IssuedDocument:
        return issued_document(
            await self._call("GET", f"/invoices/{document_id}.json"), self.base_url
        )

    async def send_to_ksef(self, document_id: str) -> IssuedDocument:
        """Send the document to KSeF (again): `GET /invoices/{id}.json?send_to_ksef=yes`
        (ksef-2026.md §1.9). Only for `server_error` after a re-read (ADR 0004 §5): a blind
        re-send of a document KSeF may already hold can end in `duplicate_error`."""
        await before_create()  # a re-send creates at KSeF: only inside the caller's lease
        return issued_document(
            await self._call(
                "GET",
                f"/invoices/{document_id}.json",
                creates=True,
                params={"send_to_ksef": "yes"},
            ),
            self.base_url,
        )

    async def send_to_buyer(self, document_id: str) -> Delivery:
        """E-mail the document; a 200 with `status: error` (no KSeF number yet) is a refusal."""
        body = await self._call("POST", f"/invoices/{document_id}/send_by_email.json")
        if isinstance(body, dict) and body.get("status") == "ok":
            return Delivery(sent=True, message=str(body.get("message", "")))
        return Delivery(sent=False, message=error_text(body, "the e-mail was not sent"))

    async def current_lines(self, document_id: str) -> list[LineState]:
        original = await self._call("GET", f"/invoices/{document_id}.json")
        deltas = [
            line_state(p)
            async for c in self._list(
                invoice_id=document_id, kind="correction", include_positions="true"
            )
            if str(c.get("invoice_id")) == str(document_id)
            for p in c.get("positions") or []
        ]
        return fold([line_state(p) for p in original.get("positions") or []], deltas)

    async def list_departments(self) -> list[Department]:
        rows = await self._call("GET", "/departments.json")
        return [
            Department(
                id=str(d["id"]),
                name=str(d.get("name", "")),
                shortcut=d.get("shortcut"),
                tax_no=d.get("tax_no") or None,
            )
            for d in rows or []
        ]
