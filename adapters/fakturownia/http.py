"""One place that turns Fakturownia HTTP answers into the port's error taxonomy.

Bodies are read as text and parsed defensively: gateways answer with HTML, and errors carry
their text in `message` (a string or a field map), `error` or `errors`.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from adapters import observe
from adapters.http_client import Answer, answer_of
from adapters.httperrors import parse_body, retry_after, transport_error, unanswered
from domain.ports import (
    DuplicateDocument,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderValidationError,
)

# The API path after the account part (the simulator puts the account prefix in the path).
_ENDPOINT = re.compile(r"/(?:invoices|departments)(?:[/.].*)?$")


def endpoint(path: str) -> str:
    """The endpoint template of a request path, for metric labels: `/invoices/{id}.json`."""
    found = _ENDPOINT.search(path)
    return observe.template(found.group(0)) if found else "other"


def error_text(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "errors"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and value:
                return "; ".join(
                    f"{k}: {' '.join(map(str, _as_list(v)))}" for k, v in value.items()
                )
    return fallback


def field_errors(body: Any) -> dict[str, list[str]]:
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, dict):
        return {str(k): [str(x) for x in _as_list(v)] for k, v in message.items()}
    return {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def raise_for_answer(response: httpx.Response | Answer, *, creates: bool) -> Any:
    """The parsed body of a successful answer; otherwise the matching ProviderError."""
    response = answer_of(response)
    observe.answered("fakturownia", endpoint(response.path), response)
    body = parse_body(response)
    status = response.status_code
    where = f"{response.method} {response.path}"
    if status in (401, 403):
        raise ProviderAuthError(
            "Fakturownia rejected the API token: generate a new one in Settings → Account "
            "settings → Integration and reconnect",
            detail=f"{where}: HTTP {status} {error_text(body, '')}".strip(),
        )
    if status == 404:
        raise ProviderNotFound(error_text(body, "Not found"), detail=f"{where}: HTTP 404")
    if status == 429:
        raise ProviderRateLimited(
            "Fakturownia rate limit",
            retry_after=retry_after(response),
            detail=f"{where}: HTTP 429",
        )
    if status == 422:
        fields = field_errors(body)
        if any(k == "oid" or k.startswith("oid_") for k in fields):
            raise DuplicateDocument(
                "a document with this order id already exists", detail=error_text(body, "oid taken")
            )
        raise ProviderValidationError(
            f"Fakturownia refused the document: {error_text(body, 'validation failed')}",
            fields=fields,
            detail=f"{where}: HTTP 422",
        )
    if status >= 500 or body is None:  # gateway pages, truncated or empty answers
        kind = unanswered(creates)
        raise kind(f"Fakturownia answered HTTP {status}", detail=f"{where}: {response.text[:200]}")
    if status >= 400:
        raise ProviderError(
            f"Fakturownia answered HTTP {status}: {error_text(body, '')}", detail=where
        )
    return body


def raise_for_transport(exc: httpx.HTTPError, *, creates: bool, where: str) -> ProviderError:
    """A transport failure: in doubt for a create that may have reached the server."""
    observe.unanswered("fakturownia", where, exc)
    return transport_error(exc, provider="Fakturownia", creates=creates, where=where)
