"""Serving for the simulator fidelity tests: each test module provides its own ``sim`` fixture
(the configured simulator); ``base_url`` serves it on a free local port and ``http`` is an httpx
client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest


@pytest.fixture
async def base_url(sim: Any) -> AsyncIterator[str]:
    async with sim.serve(host="127.0.0.1", port=0) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as client:
        yield client
