"""Serving a simulator's aiohttp application: on the running loop, or from a private loop in a
daemon thread (for code, such as a Faust worker, that owns the main loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web

from .threaded import run_in_thread


class Served:
    """``serve`` / ``serve_in_thread`` for a simulator facade that builds its ``app()``.

    The facade sets ``_shutdown_timeout`` (how long stopping waits for requests stuck in a hang
    fault) and ``_thread_name`` (the name of the server thread).
    """

    _shutdown_timeout: float
    _thread_name: str = "simulator"

    def app(self) -> web.Application:
        raise NotImplementedError

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on the running loop; yields ``http://host:port`` (port 0 picks a free one)."""
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            yield f"http://{host}:{bound_port}"
        finally:
            await runner.cleanup()

    @contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a private event loop in a daemon thread (for code that owns the main loop)."""
        with run_in_thread(lambda: self.serve(host, port), self._thread_name) as base_url:
            yield base_url
