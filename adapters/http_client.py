"""The provider clients' HTTP: aiohttp's connection pool under a small request/answer interface.

Per request, httpx's own models (Request, URL parsing and merging, Headers, Cookies, Response)
cost more CPU than the whole aiohttp exchange under them: about 0.5 ms per order on the hot path
(docs/performance.md, "HTTP client"). The adapters only need a method, a path under the account's
base URL, query parameters, a JSON body and headers; and from the answer its status, headers,
bytes and timing. `HttpClient` sends exactly that over aiohttp and hands back an `Answer`.

Errors keep httpx's types, which the adapters' error mapping reads (adapters/httperrors.py): only
a failure to *establish* a connection is "nothing was sent" (`httpx.ConnectError`,
`httpx.ConnectTimeout`); a connection dropped, reset or timed out after that is a read failure,
so a create that ends that way is in doubt and is looked up before anything is created again.

A client given an httpx transport (tests: `httpx.MockTransport`, `httpx.ASGITransport`) sends
through httpx instead, with the same `Answer`s.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import httpx
from multidict import CIMultiDict, CIMultiDictProxy

MAX_CONNECTIONS = 100  # per provider account, as httpx's default pool

_NO_HEADERS: Mapping[str, str] = CIMultiDictProxy(CIMultiDict())


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, read whole. `method` is None for an answer built by hand (tests): it
    never went over the wire, so it is neither timed nor logged as a call."""

    status_code: int
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)  # any case
    method: str | None = None
    path: str = ""
    elapsed: float | None = None  # seconds from sending to the body read

    @property
    def text(self) -> str:
        try:
            return self.content.decode(_charset(self.headers), errors="replace")
        except LookupError:  # a charset Python doesn't know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


def _charset(headers: Mapping[str, str]) -> str:
    content_type = headers.get("Content-Type", "")
    _, found, charset = content_type.partition("charset=")
    return charset.split(";")[0].strip().strip('"') or "utf-8" if found else "utf-8"


def answer_of(response: httpx.Response | Answer) -> Answer:
    """An `Answer` from an httpx response (the clients that still speak httpx: OAuth, VIES)."""
    if isinstance(response, Answer):
        return response
    try:
        request = response.request
    except RuntimeError:  # built by hand, without a request
        return Answer(response.status_code, response.content, response.headers)
    try:
        elapsed: float | None = response.elapsed.total_seconds()
    except RuntimeError:
        elapsed = None
    return Answer(
        response.status_code,
        response.content,
        response.headers,
        request.method,
        request.url.path,
        elapsed,
    )


def mapped_error(exc: BaseException) -> httpx.TransportError | None:
    """aiohttp's failure as the httpx error that says whether anything may have been sent."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # while connecting: nothing was sent
        return httpx.ConnectTimeout(str(exc) or "connect timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: nothing was sent
        return httpx.ConnectError(str(exc))
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc) or "read timed out")
    if isinstance(exc, aiohttp.ClientError | OSError):  # dropped, reset, cut short: in doubt
        return httpx.ReadError(str(exc) or type(exc).__name__)
    return None


def _query_value(value: Any) -> str:
    """As httpx writes query values: booleans in lower case, None as empty."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def query_string(params: Mapping[str, Any]) -> str:
    pairs = [
        (key, _query_value(item))
        for key, value in params.items()
        for item in (value if isinstance(value, list | tuple) else (value,))
    ]
    return urlencode(pairs)


def json_body(value: Any) -> bytes:
    """The JSON body as httpx encodes it: compact, UTF-8, no NaN."""
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class HttpClient:
    """Requests to one base URL with default headers; one aiohttp session (and pool) per
    client, opened on first use inside the running loop. Redirects are never followed: a
    redirect must never carry the credentials elsewhere."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        tls: ssl.SSLContext,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path  # answers name the whole path, as httpx
        self._headers = dict(headers or {})
        self._tls = tls
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self._httpx = (
            httpx.AsyncClient(
                base_url=self.base_url,
                timeout=timeout,
                transport=transport,
                headers=self._headers,
                follow_redirects=False,
            )
            if transport is not None
            else None
        )

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._tls, limit=self._max_connections),
                headers=self._headers,
                cookie_jar=aiohttp.DummyCookieJar(),  # the APIs authenticate every request
            )
        return self._session

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """The answer to `method path`; httpx's transport errors when there is none."""
        if self._httpx is not None:
            response = await self._httpx.request(
                method, path, params=params, json=json, headers=headers
            )
            return answer_of(response)
        url = self.base_url + path
        if params:
            url = f"{url}?{query_string(params)}"
        sent_headers = headers
        body = None
        if json is not None:
            body = json_body(json)
            sent_headers = {**(headers or {}), "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            async with self._open().request(
                method,
                url,
                headers=sent_headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                content = await response.read()
        except Exception as exc:
            if (mapped := mapped_error(exc)) is None:
                raise
            raise mapped from exc
        return Answer(
            response.status,
            content,
            response.headers,
            method,
            self._base_path + path,
            time.perf_counter() - started,
        )

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
