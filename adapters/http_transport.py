"""The provider clients' HTTP transport: httpx's interface over aiohttp's connection pool.

The adapters speak httpx (requests, responses, errors, test transports). Under it, httpx's own
pool (httpcore, h11, anyio) costs about four times the CPU of aiohttp's per request when many
are in flight (docs/performance.md, "HTTP client"); aiohttp is already installed with Faust.

Errors are mapped for exactly-once issuance (adapters/httperrors.py): only a failure to
*establish* a connection is "nothing was sent" (`httpx.ConnectError`, `httpx.ConnectTimeout`);
a connection dropped, reset or timed out after that is a read failure, so a create that ends
that way is in doubt and is looked up before anything is created again. (The `httpx-aiohttp`
package maps every `aiohttp.ClientConnectionError`, a server disconnect included, to
`ConnectTimeout`: a create the provider may have committed would be retried blindly.)
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx

MAX_CONNECTIONS = 100  # per provider account, as httpx's default pool


def _mapped(exc: BaseException) -> httpx.TransportError | None:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # while connecting: nothing was sent
        return httpx.ConnectTimeout(str(exc) or "connect timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: nothing was sent
        return httpx.ConnectError(str(exc))
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc) or "read timed out")
    if isinstance(exc, aiohttp.ClientError | OSError):  # dropped, reset, cut short: in doubt
        return httpx.ReadError(str(exc) or type(exc).__name__)
    return None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(64 * 1024):
                yield chunk
        except Exception as exc:
            if (mapped := _mapped(exc)) is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (and pool) per client, opened on first use inside the loop."""

    def __init__(self, tls: ssl.SSLContext, max_connections: int = MAX_CONNECTIONS) -> None:
        self._tls = tls
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._tls, limit=self._max_connections)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes the body by its Content-Encoding
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        content = await request.aread()
        try:
            response = await self._open().request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=content or None,
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except Exception as exc:
            if (mapped := _mapped(exc)) is None:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
