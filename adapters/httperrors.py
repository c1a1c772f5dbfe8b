"""What both provider adapters do alike with HTTP answers and failures.

Bodies are read as text and parsed defensively (gateways answer with HTML, answers may be cut
short). A transport failure maps to the port's taxonomy by one rule: a create that may have
reached the server is in doubt, anything else is merely unavailable.
"""

from __future__ import annotations

import json
from typing import Any, overload

import httpx

from adapters.http_client import Answer
from domain.ports import ProviderError, ProviderInDoubt, ProviderUnavailable

# Failures that happen before a byte of the request left: nothing can have been created.
SAFE_BEFORE_SEND = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def parse_body(response: httpx.Response | Answer) -> Any:
    """The JSON of the answer, or ``None`` when it is empty or not JSON."""
    return parse_text(response.text)


def parse_text(text: str) -> Any:
    """The JSON of an answer's text already decoded, or ``None`` (as `parse_body`)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


@overload
def retry_after(response: httpx.Response | Answer, default: float) -> float: ...
@overload
def retry_after(response: httpx.Response | Answer, default: None = None) -> float | None: ...
def retry_after(response: httpx.Response | Answer, default: float | None = None) -> float | None:
    """The ``Retry-After`` header in seconds (never negative), or ``default`` when it is absent
    or not a number of seconds."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def unanswered(creates: bool) -> type[ProviderError]:
    """The error kind for a call that got no usable answer: in doubt only for a create."""
    return ProviderInDoubt if creates else ProviderUnavailable


def transport_error(
    exc: httpx.HTTPError, *, provider: str, creates: bool, where: str
) -> ProviderError:
    """A transport failure: in doubt for a create that may have reached the server."""
    if creates and not isinstance(exc, SAFE_BEFORE_SEND):
        return ProviderInDoubt(f"no answer from {provider} ({type(exc).__name__})", detail=where)
    return ProviderUnavailable(f"{provider} unreachable ({type(exc).__name__})", detail=where)
