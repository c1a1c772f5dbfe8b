"""One place that turns wFirma API2 answers into the port's error taxonomy.

wFirma answers almost everything with HTTP 200 and puts the outcome in the body's
`status.code` (reference §2.4, §2.5): validation errors ride on the echoed record, business
refusals carry only `status.message`, and record lists are objects keyed "0", "1", ... beside a
`parameters` branch (§2.3). Bodies are parsed defensively: gateways answer HTML, one code
(`CONTROLLER NOT FOUND`) comes back as XML whatever was asked for, and ids or errors may be
numbers, strings or `false` (§2.8).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from adapters import observe
from adapters.http_client import Answer, answer_of
from adapters.httperrors import parse_text, retry_after, transport_error, unanswered
from domain.ports import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderValidationError,
)

_XML_CODE = re.compile(r"<code>\s*([^<]+?)\s*</code>")
# The Polish sentence some actions put in `status.code` instead of NOT FOUND (§2.4).
_NOT_FOUND_PL = "nie znaleziono obiektu"
# A correction refused while the original is in a KSeF batch send: retryable later (§3.14).
_KSEF_BATCH = "wysyłki wsadowej"
# No Retry-After is documented (§6); the shortest budget window is 15 s.
DEFAULT_RATE_LIMIT_BACKOFF = 15.0
_WRITE_ACTIONS = frozenset({"add", "edit", "delete", "send", "fiscalize", "unfiscalize"})
_UNAVAILABLE = frozenset({"OUT OF SERVICE", "SNAPSHOT LOCK", "FATAL"})
# Plain-language names of the fields a seller most often has to fix (suffix match).
_LABELS = {
    "contractor.nip": "the buyer's tax id",
    "contractor.tax_id_type": "the buyer's tax id type",
    "contractor.zip": "the buyer's postal code",
    "contractor.street": "the buyer's street",
    "contractor.city": "the buyer's city",
    "contractor.name": "the buyer's name",
    "contractor.email": "the buyer's e-mail",
    "contractor.country": "the buyer's country",
    "invoice.contractor": "the buyer",
    "invoice.series": "the numbering series (the channel's mapping target)",
    "invoice.parent_id": "the corrected document",
    "invoice.invoicecontents": "the document lines",
    "invoice.date": "the issue date",
    "invoice.paymentdate": "the payment date",
    ".name": "a line's name",
    ".count": "a line's quantity",
    ".price": "a line's price",
    ".vat": "a line's VAT rate",
    ".vat_code": "a line's VAT rate",
    ".parent_id": "the corrected line",
    ".unit": "a line's unit",
}


class CredentialsRejected(ProviderAuthError):
    """`AUTH` (or HTTP 401/403): the credentials themselves were refused, so nothing was done.

    The provider refreshes OAuth credentials once and repeats the call; API keys cannot refresh.
    """


# --- reading answers -----------------------------------------------------------------------


def records(branch: Any, singular: str) -> list[dict[str, Any]]:
    """The records of a plural branch: objects keyed "0", "1", ... (never arrays), in key order.

    `parameters` and other non-numbered keys are skipped; a bare list or a bare singular key is
    tolerated, since requests in those shapes work too and answers may follow one day.
    """
    if isinstance(branch, list):
        entries: list[Any] = branch
    elif isinstance(branch, dict):
        entries = [branch[k] for k in sorted((k for k in branch if k.isdigit()), key=int)]
        if singular in branch:
            entries.insert(0, {singular: branch[singular]})
    else:
        return []
    out = []
    for entry in entries:
        value = entry.get(singular, entry) if isinstance(entry, dict) else None
        if isinstance(value, dict):
            out.append(value)
    return out


def total_of(branch: Any) -> int | None:
    """`parameters.total` of a find answer (a number or a numeric string)."""
    params = branch.get("parameters") if isinstance(branch, dict) else None
    total = params.get("total") if isinstance(params, dict) else None
    try:
        return int(total) if total is not None else None
    except (TypeError, ValueError):
        return None


def status_of(body: Any, text: str = "") -> tuple[str | None, str]:
    """`(status.code, status.message)`; the code is None when the answer carries no status."""
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict) and status.get("code") not in (None, ""):
        return str(status["code"]).strip(), str(status.get("message") or "").strip()
    found = _XML_CODE.search(text) if body is None and text else None
    return (found.group(1).strip(), "") if found else (None, "")


def required_scope(module: str, action: str) -> str:
    """The OAuth scope an action needs by wFirma's `{module}-read|write` rule (§1.2)."""
    return f"{module}-{'write' if action in _WRITE_ACTIONS else 'read'}"


# --- errors --------------------------------------------------------------------------------


def field_errors(body: Any, module: str, singular: str) -> dict[str, list[str]]:
    """Per-field errors of the echoed record(s), named `invoice.contractor.nip`,
    `invoicecontents.0.vat_code` (header fields keep the record's name as prefix, numbered
    relations are named by their plural key and position)."""
    out: dict[str, list[str]] = {}
    branch = body.get(module) if isinstance(body, dict) else None
    for record in records(branch, singular):
        _collect(record, singular, out)
    return out


def _collect(node: dict[str, Any], path: str, out: dict[str, list[str]]) -> None:
    for error in records(node.get("errors"), "error"):
        name = f"{path}.{error.get('field') or '?'}"
        out.setdefault(name, []).append(str(error.get("message") or "invalid value"))
    for key, value in node.items():
        if key == "errors" or not isinstance(value, dict):
            continue
        numbered = [k for k in value if k.isdigit()]
        if numbered:
            for position in sorted(numbered, key=int):
                entry = value[position]
                child = next(iter(entry.values()), None) if isinstance(entry, dict) else None
                if isinstance(child, dict):
                    _collect(child, f"{key}.{position}", out)
        elif "errors" in value:
            _collect(value, f"{path}.{key}", out)


def _label(name: str) -> str:
    for suffix, label in _LABELS.items():
        if name.endswith(suffix):
            return f"{label} ({name})"
    return name


def describe(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{_label(name)}: {' '.join(msgs)}" for name, msgs in fields.items())


def _retry_after(response: Answer) -> float:
    return retry_after(response, DEFAULT_RATE_LIMIT_BACKOFF)


def raise_for_answer(
    response: httpx.Response | Answer,
    *,
    module: str,
    action: str,
    singular: str,
    creates: bool,
    refusal_ok: bool = False,
) -> Any:
    """The parsed body of an `OK` answer (or of a plain `ERROR` refusal when `refusal_ok`:
    `invoices/send` reports a refused e-mail that way); otherwise the matching ProviderError."""
    response = answer_of(response)
    observe.answered("wfirma", f"/{module}/{action}", response)
    text = response.text  # decoded once: the body and the error details both read it
    body = parse_text(text)
    code, message = status_of(body, text)
    http = response.status_code
    where = f"{response.method} /{module}/{action}"
    if http >= 500:  # a gateway or server failure says nothing certain about a create
        kind = unanswered(creates)
        raise kind(f"wFirma answered HTTP {http}", detail=f"{where}: {text[:200]}")
    if code is None:
        if http in (401, 403):
            raise CredentialsRejected(_AUTH_MESSAGE, detail=f"{where}: HTTP {http}")
        if http == 429:
            raise ProviderRateLimited(
                "wFirma request limit", retry_after=_retry_after(response), detail=where
            )
        if http >= 400:
            raise ProviderError(
                f"wFirma answered HTTP {http}: check the API base URL", detail=where
            )
        kind = unanswered(creates)
        raise kind(
            f"wFirma answered HTTP {http} without a status",
            detail=f"{where}: {text[:200]}",
        )
    if code.upper() == "OK" or (refusal_ok and code.upper() == "ERROR"):
        return body
    raise error_for_status(
        code,
        message,
        body,
        module=module,
        action=action,
        singular=singular,
        creates=creates,
        where=where,
        retry_after=_retry_after(response),
    )


_AUTH_MESSAGE = (
    "wFirma rejected the connection's credentials (API keys or OAuth authorisation): "
    "reconnect the wFirma account"
)


def error_for_status(
    code: str,
    message: str,
    body: Any,
    *,
    module: str,
    action: str,
    singular: str,
    creates: bool,
    where: str,
    retry_after: float = DEFAULT_RATE_LIMIT_BACKOFF,
) -> ProviderError:
    """The ProviderError for a non-OK `status.code` (see the reference's §2.4 table)."""
    upper = code.upper().replace("_", " ")
    detail = f"{where}: {code}" + (f" ({message})" if message else "")
    if upper == "AUTH":
        return CredentialsRejected(_AUTH_MESSAGE, detail=detail)
    if upper.startswith("AUTH FAILED LIMIT"):
        # Refreshing cannot lift a lockout, and every further try extends it.
        return ProviderAuthError(
            "wFirma blocked this login for 5 minutes after repeated failed logins: check the "
            "connection's API keys (accessKey, secretKey) before it is used again",
            detail=detail,
        )
    if upper == "DENIED SCOPE REQUESTED":
        scope = required_scope(module, action)
        return ProviderAuthError(
            f"the wFirma OAuth application lacks the scope {scope}: add it to the application "
            "in wFirma (Settings » Security » Applications) and authorise the connection again",
            detail=detail,
        )
    if upper == "ACCESS DENIED":
        return ProviderAuthError(
            f"the wFirma user may not {action} {module} in this company (ACCESS DENIED): grant "
            "the API user that permission in wFirma, or check the connection's company id",
            detail=detail,
        )
    if upper == "COMPANY ID REQUIRED":
        return ProviderAuthError(
            "this wFirma login has several companies: set the connection's company id (shown in "
            "wFirma Settings next to the company name, or listed by verifying the connection)",
            detail=detail,
        )
    if "LIMIT EXCEEDED" in upper:
        return ProviderRateLimited(
            f"wFirma request limit ({code})", retry_after=retry_after, detail=detail
        )
    if upper in ("ACTION NOT FOUND", "CONTROLLER NOT FOUND"):
        return ProviderError(f"wFirma does not know {module}/{action} ({code})", detail=detail)
    if "NOT FOUND" in upper or _NOT_FOUND_PL in code.lower():
        return ProviderNotFound(f"wFirma has no such {singular}", detail=detail)
    if upper in _UNAVAILABLE:
        kind = unanswered(creates)
        return kind(f"wFirma is unavailable ({code})", detail=detail)
    if upper == "INPUT ERROR":
        return ProviderValidationError(
            "wFirma could not read the request (INPUT ERROR)", detail=detail
        )
    if upper == "ERROR":
        return _refusal(message, body, module, singular, detail)
    text = f"wFirma answered {code}" + (f": {message}" if message else "")
    return ProviderError(text, detail=detail)


def _refusal(message: str, body: Any, module: str, singular: str, detail: str) -> ProviderError:
    """`ERROR`: per-field errors on the echoed record, or a generic `status.message`."""
    fields = field_errors(body, module, singular)
    if fields:
        return ProviderValidationError(
            f"wFirma refused the {singular}: {describe(fields)}", fields=fields, detail=detail
        )
    if _KSEF_BATCH in message.lower():
        return ProviderUnavailable(f"wFirma refused for now: {message}", detail=detail)
    text = message or "no reason given"
    return ProviderValidationError(f"wFirma refused the {singular}: {text}", detail=detail)


def raise_for_transport(exc: httpx.HTTPError, *, creates: bool, where: str) -> ProviderError:
    """A transport failure: in doubt for a create that may have reached the server."""
    observe.unanswered("wfirma", where, exc)
    return transport_error(exc, provider="wFirma", creates=creates, where=where)
