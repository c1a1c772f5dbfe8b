"""The worker's event loop: uvloop by default, asyncio's own on request."""

from __future__ import annotations

import asyncio

import uvloop
from aiokafka.conn import AIOKafkaConnection
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

from config.settings import Settings
from workers.eventloop import new_event_loop


def test_the_default_loop_is_uvloop_and_asyncio_is_the_fallback() -> None:
    default = Settings.model_fields["event_loop"].default
    loop = new_event_loop(default)
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    loop = new_event_loop("asyncio")
    try:
        assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.BaseEventLoop)
    finally:
        loop.close()


def test_without_uvloop_installed_the_worker_runs_on_asyncio(monkeypatch) -> None:
    monkeypatch.setattr("workers.eventloop.uvloop_available", lambda: False)
    loop = new_event_loop("uvloop")
    try:
        assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


async def _write_to_a_connection_the_peer_closed() -> BaseException | None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = AIOKafkaConnection("127.0.0.1", port)
    conn._reader, conn._writer, conn._versions = reader, writer, {3: (0, 5)}
    conn._read_task = asyncio.ensure_future(asyncio.sleep(3600))  # aiokafka's reader
    writer.transport.abort()  # as when the broker goes away before aiokafka reads the EOF
    await asyncio.sleep(0)  # the loop closes the transport
    try:
        pending = conn.send(MetadataRequest([]))
    except BaseException as exc:
        assert not conn.connected()  # closed as aiokafka closes a broken connection
        return exc
    finally:
        server.close()
    pending.close()  # asyncio's transport took the bytes; the read side reports the loss
    conn._read_task.cancel()
    return None


def test_on_uvloop_a_write_to_a_closed_connection_is_aiokafkas_connection_error() -> None:
    """aio-libs/aiokafka#1038: uvloop raises RuntimeError, which aiokafka lets escape (into
    the group coordinator, which then stops: fault 4). The worker's loop turns it into the
    KafkaConnectionError aiokafka handles, and the connection is closed."""
    loop = new_event_loop("uvloop")  # installs the translation
    try:
        failure = loop.run_until_complete(_write_to_a_connection_the_peer_closed())
    finally:
        loop.close()
    assert isinstance(failure, KafkaConnectionError), failure
    asyncio_loop = asyncio.new_event_loop()
    try:
        assert asyncio_loop.run_until_complete(_write_to_a_connection_the_peer_closed()) is None
    finally:
        asyncio_loop.close()
