"""Running a simulator as its own process (``python -m simulators.<provider>``).

The process prints one readiness line (scripts wait for it) and stops cleanly on SIGTERM or
SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol


class _Servable(Protocol):
    def serve(self, host: str = ..., port: int = ...) -> AbstractAsyncContextManager[str]: ...


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def parser(description: str, port: int) -> argparse.ArgumentParser:
    """The options every simulator process takes: ``--host`` and ``--port``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    return parser


async def serve_until_stopped(sim: _Servable, host: str, port: int, ready_line: str) -> None:
    """Serve ``sim``, print ``ready_line`` (with ``{url}``), then wait for SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with sim.serve(host, port) as url:
        print(ready_line.format(url=url), flush=True)
        await stop.wait()
