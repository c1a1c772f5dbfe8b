"""The aiohttp transport under the provider clients: same answers as httpx's own, and errors
that keep "nothing was sent" apart from "the provider may have it" (exactly-once issuance)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from adapters.http_transport import AiohttpTransport
from adapters.httperrors import transport_error
from adapters.tls import shared_tls
from domain.ports import ProviderInDoubt, ProviderUnavailable


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {"body": body.decode(), "auth": request.headers.get("Authorization"), "n": len(body)},
            status=201,
            headers={"X-Request-Id": "r1"},
        )

    async def hang_up(request: web.Request) -> web.Response:
        await request.read()  # the request arrived whole: the provider may act on it
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(1)
        return web.Response()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response()

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/hang-up", hang_up)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def client(base: str, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base,
        timeout=timeout,
        transport=AiohttpTransport(shared_tls()),
        headers={"Authorization": "Bearer t"},
    )


async def test_a_request_and_its_answer_go_through_unchanged(server: str) -> None:
    async with client(server) as http:
        response = await http.post("/echo", json={"invoice": {"buyer": "Łódź"}})
    assert response.status_code == 201 and response.headers["X-Request-Id"] == "r1"
    assert response.json()["auth"] == "Bearer t"
    assert response.json()["body"] == '{"invoice":{"buyer":"Łódź"}}'
    assert response.json()["n"] == len(response.json()["body"].encode())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_refused_connection_means_nothing_was_sent() -> None:
    async with client(f"http://127.0.0.1:{_closed_port()}") as http:
        with pytest.raises(httpx.ConnectError) as failed:
            await http.post("/echo", json={})
    mapped = transport_error(failed.value, provider="P", creates=True, where="POST /echo")
    assert isinstance(mapped, ProviderUnavailable) and not isinstance(mapped, ProviderInDoubt)


async def test_a_connection_dropped_after_the_request_leaves_a_create_in_doubt(
    server: str,
) -> None:
    async with client(server) as http:
        with pytest.raises(httpx.TransportError) as failed:
            await http.post("/hang-up", json={"create": 1})
    assert not isinstance(failed.value, httpx.ConnectError | httpx.ConnectTimeout)
    mapped = transport_error(failed.value, provider="P", creates=True, where="POST /hang-up")
    assert isinstance(mapped, ProviderInDoubt)


async def test_an_answer_slower_than_the_timeout_leaves_a_create_in_doubt(server: str) -> None:
    async with client(server, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout) as failed:
            await http.post("/slow", json={})
    mapped = transport_error(failed.value, provider="P", creates=True, where="POST /slow")
    assert isinstance(mapped, ProviderInDoubt)
