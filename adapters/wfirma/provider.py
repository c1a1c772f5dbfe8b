"""WfirmaProvider: the InvoicingProvider port over wFirma API2 (api2.wfirma.pl).

Every call is `POST {base}/{module}/{action}[/{id}]?inputFormat=json&outputFormat=json`, plus
the auth mode's query (`oauth_version=2`) and the connection's `company_id`: without it a
multi-company login either refuses (`COMPANY ID REQUIRED`) or, as observed, books the document
in whichever company the web panel last selected (reference §5). wFirma accepts any method for
any action (§2.2); POST carries the find conditions and options bodies.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from adapters.http_client import Answer, HttpClient
from adapters.tls import shared_tls
from adapters.wfirma.auth import WfirmaAuth
from adapters.wfirma.corrections import correction_envelope, line_versions
from adapters.wfirma.http import (
    CredentialsRejected,
    raise_for_answer,
    raise_for_transport,
    records,
    status_of,
    total_of,
)
from adapters.wfirma.ksef import needs_ksef_authorization
from adapters.wfirma.mapping import (
    TYPES_OF_KIND,
    WfirmaOptions,
    envelope,
    issued_document,
    line_state,
    related_id,
    sales_record,
)
from adapters.wfirma.rate_limit import RateLimiter
from domain.corrections import LineState, fold
from domain.documents import DocumentRequest
from domain.ports import (
    Delivery,
    Department,
    ProviderAuthError,
    ProviderError,
    ProviderKsefUnauthorized,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderValidationError,
    before_create,
)
from schemas.invoices import IssuedDocument

log = logging.getLogger(__name__)

PAGE_LIMIT = 100  # the largest page integrators report (§2.7)
MAX_PAGES = 20
SINGULAR = {
    "invoices": "invoice",
    "contractors": "contractor",
    "user_companies": "user_company",
    "series": "series",
    "vat_codes": "vat_code",
    "declaration_countries": "declaration_country",
}


@dataclass(frozen=True)
class WfirmaCompany:
    """A company (set of books) the connection's login can act for."""

    id: str
    name: str
    nip: str | None = None


def condition(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"condition": {"field": field, "operator": operator, "value": value}}


class WfirmaProvider:
    def __init__(
        self,
        *,
        base_url: str,
        auth: WfirmaAuth,
        company_id: int | None,
        options: dict[str, Any] | None = None,
        timeout: float = 20.0,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.company_id = company_id
        self._auth = auth
        self._options = WfirmaOptions.parse(options)
        self._limiter = limiter
        self._oss_codes: dict[tuple[str, str], str] = {}  # (country, rate code) → vat_code id
        self._http = HttpClient(  # adapters/http_client.py; never follows a redirect
            base_url=self.base_url,
            timeout=timeout,
            tls=shared_tls(),
            headers={"Accept": "application/json"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"WfirmaProvider({self.base_url}, company_id={self.company_id})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport ---------------------------------------------------------------------------

    async def _send(
        self,
        module: str,
        action: str,
        object_id: str | None,
        body: Any,
        *,
        company_scoped: bool,
        pdf: bool,
    ) -> tuple[Answer, dict[str, str]]:
        params = {"inputFormat": "json", "outputFormat": "json", **self._auth.query()}
        if company_scoped and self.company_id is not None:
            params["company_id"] = str(self.company_id)
        path = f"/{module}/{action}" + (f"/{object_id}" if object_id else "")
        # before the credentials: a wait must not stale them
        slot = await self._limiter.acquire() if self._limiter is not None else None
        if module == "invoices" and action == "add":
            await before_create()  # after the wait: the caller's claim must still be live
        credentials = await self._auth.headers()
        headers = {**credentials, "Accept": "application/pdf"} if pdf else credentials
        try:
            response = await self._http.post(path, params=params, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise raise_for_transport(
                exc, creates=action == "add", where=f"POST /{module}/{action}"
            ) from exc
        finally:
            if slot is not None:
                self._limiter.settle(slot)
        return response, credentials

    async def _call(
        self,
        module: str,
        action: str,
        object_id: str | None = None,
        *,
        body: Any = None,
        company_scoped: bool = True,
        pdf: bool = False,
        refusal_ok: bool = False,
    ) -> Any:
        """One API call with its answer checked; an `AUTH` answer refreshes OAuth credentials
        once and repeats the call. That is safe even for `add`: `AUTH` means nothing ran."""
        for attempt in (1, 2):
            response, headers = await self._send(
                module, action, object_id, body, company_scoped=company_scoped, pdf=pdf
            )
            if pdf and "pdf" in response.headers.get("Content-Type", "").lower():
                return response.content
            try:
                return raise_for_answer(
                    response,
                    module=module,
                    action=action,
                    singular=SINGULAR.get(module, module),
                    creates=action == "add",
                    refusal_ok=refusal_ok,
                )
            except CredentialsRejected:
                if attempt == 2 or not await self._auth.rejected(headers):
                    raise
            except ProviderRateLimited as exc:
                if self._limiter is not None and exc.retry_after:
                    self._limiter.hold(exc.retry_after)
                raise
        raise AssertionError("unreachable")

    async def _find(
        self, module: str, conditions: Any = None, *, company_scoped: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record matching `conditions`, page by page (lists are keyed "0", "1", ...)."""
        singular = SINGULAR[module]
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, Any] = {"limit": PAGE_LIMIT, "page": page}
            if conditions is not None:
                params["conditions"] = conditions
            body = await self._call(
                module,
                "find",
                body={module: {"parameters": params}},
                company_scoped=company_scoped,
            )
            branch = body.get(module) if isinstance(body, dict) else None
            rows = records(branch, singular)
            for row in rows:
                yield row
            total = total_of(branch)
            if len(rows) < PAGE_LIMIT or (total is not None and page * PAGE_LIMIT >= total):
                return

    async def _invoice(self, document_id: str) -> dict[str, Any]:
        body = await self._call("invoices", "get", str(document_id))
        found = records(body.get("invoices") if isinstance(body, dict) else None, "invoice")
        if not found:  # an OK with no record also means "gone" (§3.9)
            raise ProviderNotFound(
                "wFirma has no such invoice", detail=f"invoices/get/{document_id}"
            )
        return found[0]

    # --- the port ----------------------------------------------------------------------------

    async def issue(self, request: DocumentRequest) -> IssuedDocument:
        if request.correction is not None:
            original, stored = await self._current_versions(request.correction.original_id)
            payload = correction_envelope(request, self._options, original, stored)
        else:
            contractor_id = await self._contractor_id(request)
            oss_codes = await self._oss_vat_codes(request)
            payload = envelope(sales_record(request, self._options, contractor_id, oss_codes))
        try:
            body = await self._call("invoices", "add", body=payload)
        except ProviderValidationError as exc:
            if needs_ksef_authorization(str(exc)):  # nothing stored: a person must act first
                raise ProviderKsefUnauthorized(str(exc), detail=exc.detail) from exc
            raise
        created = records(body.get("invoices") if isinstance(body, dict) else None, "invoice")
        if not created or not created[0].get("id"):
            raise ProviderError("wFirma confirmed the document without its record")
        return issued_document(created[0])

    async def _oss_vat_codes(self, request: DocumentRequest) -> dict[str, str]:
        """The account's `vat_code` ids of the destination's rates an OSS document uses:
        `declaration_countries/find` (ISO code → id), then `vat_codes/find` of that country
        (§3.4; ids are account-specific, so looked up, then kept for this connection)."""
        country = request.tax.destination
        wanted = {x.rate_code for x in request.lines if x.rate_code.startswith("oss:")}
        if not wanted or not country:
            return {}
        missing = {code for code in wanted if (country, code) not in self._oss_codes}
        if missing:
            country_id = None
            async for row in self._find(
                "declaration_countries", condition("code", "eq", country), company_scoped=False
            ):
                if str(row.get("code")) == country:
                    country_id = str(row.get("id"))
            async for row in self._find("vat_codes"):
                if country_id is None or related_id(row, "declaration_country") != country_id:
                    continue
                code = f"oss:{format(Decimal(str(row.get('rate') or '0')).normalize(), 'f')}"
                self._oss_codes.setdefault((country, code), str(row["id"]))
        return {
            code: self._oss_codes[(country, code)]
            for code in wanted
            if (country, code) in self._oss_codes
        }

    async def _contractor_id(self, request: DocumentRequest) -> str | None:
        """With `contractor: find_by_nip`, an existing contractor with the buyer's NIP. The
        match is literal (§4), so the normalised NIP is what both sides must hold."""
        tax_id = request.buyer.tax_id
        if self._options.contractor != "find_by_nip" or tax_id is None:
            return None
        async for row in self._find("contractors", condition("nip", "eq", tax_id.value)):
            if str(row.get("nip")) == tax_id.value and row.get("id"):
                return str(row["id"])
        return None

    async def find(self, request: DocumentRequest) -> IssuedDocument | None:
        """The document created for `request.idempotency_key` (`id_external`), re-checked on
        our side; a proforma can share an order's `id_external`, hence the type (§3.7)."""
        types = TYPES_OF_KIND[request.kind]
        key = request.idempotency_key
        type_condition = (
            condition("type", "eq", types[0])
            if len(types) == 1
            else condition("type", "in", ",".join(types))
        )
        conditions = {"and": [condition("id_external", "eq", key), type_condition]}
        hits = [
            row
            async for row in self._find("invoices", conditions)
            if row.get("id_external") == key and row.get("type") in types
        ]
        if not hits:
            return None
        hits.sort(key=lambda row: int(row["id"]))
        if len(hits) > 1:  # wFirma does not enforce uniqueness: report the oldest, loudly
            log.warning("%d wFirma documents carry id_external %r", len(hits), key)
        if "vat_contents" not in hits[0]:  # a listing without the per-rate totals: read it
            return issued_document(await self._invoice(str(hits[0]["id"])))
        return issued_document(hits[0])

    async def get(self, document_id: str) -> IssuedDocument:
        return issued_document(await self._invoice(document_id))

    async def read_clearance(self, document_id: str) -> IssuedDocument:
        """The document with its KSeF clearance as wFirma reports it now. wFirma has no KSeF
        webhook and no KSeF endpoint (ksef-2026.md §1.10), so clearance is polled through
        `invoices/get`, whose record carries the `ksef_*` fields (adapters/wfirma/ksef.py)."""
        return await self.get(document_id)

    async def send_to_buyer(self, document_id: str) -> Delivery:
        """E-mail the document to the buyer's address on it (`invoices/send`, §3.11).

        A refusal (`ERROR` with a message: no address, a type wFirma does not e-mail) is a
        Delivery(sent=False); auth, not-found and transport failures raise as usual.
        """
        options = {"parameters": [{"parameter": {"name": "page", "value": "invoice"}}]}
        body = await self._call(
            "invoices", "send", str(document_id), body={"invoices": options}, refusal_ok=True
        )
        code, message = status_of(body)
        if code != "OK":
            return Delivery(sent=False, message=message or "wFirma did not send the e-mail")
        return Delivery(sent=True, message=message)

    async def download_pdf(self, document_id: str) -> bytes:
        """The document's PDF as wFirma renders it now: while KSeF has not numbered an invoice
        this is only the "Potwierdzenie transakcji" (transaction confirmation, §3.12)."""
        options = {"parameters": [{"parameter": {"name": "page", "value": "invoice"}}]}
        content = await self._call(
            "invoices", "download", str(document_id), body={"invoices": options}, pdf=True
        )
        if not isinstance(content, bytes) or not content.startswith(b"%PDF-"):
            raise ProviderError(
                "wFirma answered the download without a PDF",
                detail=f"invoices/download/{document_id}",
            )
        return content

    async def current_lines(self, document_id: str) -> list[LineState]:
        """The document's lines after every correction: the latest version of each line,
        held per line key (lines sharing a SKU add up, as `fold` does for every provider)."""
        _, stored = await self._current_versions(document_id)
        return fold([line_state(line) for line in stored], [])

    async def _current_versions(
        self, document_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The original document and the current version of each of its lines."""
        original = await self._invoice(document_id)
        # `parent_id` is the documented field ("ID faktury korygowanej", doc.wfirma.pl module
        # invoices_correction, "Pola"); `parent` is only the relation branch of answers, not a
        # condition field (docs/adr/0009). Every hit is still re-checked, and the count must
        # match the original's own `corrections` counter.
        of_this = {
            "and": [
                condition("type", "eq", "correction"),
                condition("parent_id", "eq", document_id),
            ]
        }
        corrections = [
            row
            async for row in self._find("invoices", of_this)
            if related_id(row, "parent") == str(document_id)
        ]
        expected = original.get("corrections")
        if expected not in (None, "") and len(corrections) != int(expected):
            raise ProviderError(
                f"wFirma lists {len(corrections)} of the {expected} corrections of document "
                f"{original.get('fullnumber') or document_id}: correct it by hand",
                detail=f"invoices/find parent_id={document_id}",
            )
        return original, line_versions(original, corrections)

    async def list_departments(self) -> list[Department]:
        """The company's numbering series: wFirma's channel mapping targets a series."""
        return [
            Department(
                id=str(row["id"]),
                name=str(row.get("name") or ""),
                extra={k: str(row[k]) for k in ("template", "type") if row.get(k)},
            )
            async for row in self._find("series")
        ]

    async def list_companies(self) -> list[WfirmaCompany]:
        """The companies the login belongs to: `user_companies/find`, the listing wFirma's own
        `COMPANY ID REQUIRED` description points to (doc.wfirma.pl "Komunikaty błędów"). It is
        user-scoped, so sent without `company_id`; each membership carries its `company`
        (doc.wfirma.pl user_companies/get schema). Its order is not a choice: never pick the
        first. `companies` only describes the company a request runs for (docs/adr/0009)."""
        return [
            company
            async for row in self._find("user_companies", company_scoped=False)
            if (company := _membership_company(row)) is not None
        ]

    async def verify(self) -> list[WfirmaCompany]:
        """Prove the credentials and the company id; the companies help the seller choose."""
        companies = await self.list_companies()
        ids = {c.id for c in companies}
        listing = ", ".join(f"{c.id} ({c.name})" for c in companies)
        if self.company_id is not None and str(self.company_id) not in ids:
            raise ProviderAuthError(
                f"company id {self.company_id} is not one of this wFirma login's companies: "
                f"{listing}"
            )
        if self.company_id is None and len(companies) > 1:
            raise ProviderAuthError(
                f"this wFirma login has several companies: set the company id to one of {listing}"
            )
        return companies


def _membership_company(row: dict[str, Any]) -> WfirmaCompany | None:
    """The company of one `user_company` record (nested `company`; a flat `company_id` is
    tolerated, as some clients model it)."""
    company = row.get("company") if isinstance(row.get("company"), dict) else {}
    company_id = related_id(row, "company")
    if company_id is None:
        return None
    name = company.get("name") or company.get("altname") or row.get("name") or ""
    return WfirmaCompany(id=company_id, name=str(name), nip=company.get("nip") or None)
