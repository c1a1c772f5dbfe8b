"""The provider clients' HTTP client: what httpx would send and answer, and errors that keep
"nothing was sent" apart from "the provider may have it" (exactly-once issuance)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from adapters.http_client import Answer, HttpClient, answer_of
from adapters.httperrors import transport_error
from adapters.tls import shared_tls
from domain.ports import ProviderInDoubt, ProviderUnavailable


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "body": body.decode(),
                "auth": request.headers.get("Authorization"),
                "n": len(body),
                "type": request.headers.get("Content-Type"),
                "query": request.query_string,
                "extra": request.headers.get("X-Extra"),
                "path": request.path,
            },
            status=201,
            headers={"X-Request-Id": "r1"},
        )

    async def latin2(request: web.Request) -> web.Response:
        return web.Response(
            body="Błąd".encode("iso-8859-2"), content_type="text/plain", charset="iso-8859-2"
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
    app.router.add_post("/acct/echo", echo)
    app.router.add_get("/latin2", latin2)
    app.router.add_post("/hang-up", hang_up)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def client(base: str, timeout: float = 5.0) -> HttpClient:
    return HttpClient(
        base_url=base, timeout=timeout, tls=shared_tls(), headers={"Authorization": "Bearer t"}
    )


async def test_a_request_and_its_answer_go_through_unchanged(server: str) -> None:
    async with client(server) as http:
        response = await http.post("/echo", json={"invoice": {"buyer": "Łódź"}})
    assert response.status_code == 201 and response.headers["X-Request-Id"] == "r1"
    assert response.headers["x-request-id"] == "r1"  # case-insensitive, as httpx's
    assert response.json()["auth"] == "Bearer t"
    assert response.json()["body"] == '{"invoice":{"buyer":"Łódź"}}'
    assert response.json()["n"] == len(response.json()["body"].encode())
    assert response.json()["type"] == "application/json"
    assert response.method == "POST" and response.path == "/echo"
    assert response.elapsed is not None and response.elapsed >= 0


async def test_the_request_is_the_one_httpx_would_send(server: str) -> None:
    """Same body bytes, query string, merged headers and path under the base URL as httpx:
    the simulators and the providers saw httpx's requests until the client changed."""
    body = {"a": [1, 2.5, None, True], "b": "zażółć", "c": {"d": ""}}
    params = {"x": "1 2", "y": True, "z": ["p", "q"], "e": "", "n": None, "ü": "ł&="}
    headers = {"X-Extra": "e1"}
    async with client(f"{server}/acct") as ours:
        mine = (await ours.post("/echo", params=params, json=body, headers=headers)).json()
    async with httpx.AsyncClient(
        base_url=f"{server}/acct", headers={"Authorization": "Bearer t"}
    ) as theirs:
        answer = answer_of(await theirs.post("/echo", params=params, json=body, headers=headers))
    assert mine == answer.json()
    assert mine["path"] == "/acct/echo" and mine["extra"] == "e1"


async def test_the_path_of_an_answer_includes_the_base_urls_path(server: str) -> None:
    async with client(f"{server}/acct") as http:
        response = await http.post("/echo", json={})
    assert response.path == "/acct/echo"


async def test_text_is_decoded_by_the_answers_charset(server: str) -> None:
    async with client(server) as http:
        response = await http.get("/latin2")
    assert response.text == "Błąd"


def test_an_answer_built_by_hand_never_went_over_the_wire() -> None:
    assert answer_of(httpx.Response(200, json={})).method is None
    assert Answer(200, b"{}").method is None and Answer(200, b"{}").json() == {}


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
