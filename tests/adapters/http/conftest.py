"""The HTTP client's tests run on asyncio's loop and on uvloop, the worker's
(workers/eventloop.py): the two loops' transports fail with different errors, and the error
mapping that exactly-once issuance rests on must read both the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
