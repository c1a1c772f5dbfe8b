"""A fresh Fakturownia simulator per test, served over real HTTP on a free local port.

The ``fakturownia`` fixture holds one account (``acme``) with two departments; tests that need
KSeF add a second account to the same running simulator with ``add_ksef_account``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.fakturownia import FakturowniaProvider
from simulators.fakturownia import FakturowniaSimulator, SimAccount, SimDepartment
from tests.adapters.support import ProviderEnv, serving

PREFIX = "acme"
TOKEN = "tok-acme-0123456789"
KSEF_PREFIX = "ksefshop"
KSEF_TOKEN = "tok-ksef-0123456789"
MAIN_NIP = "5252445767"
OUTLET_NIP = "7740001454"


def departments() -> list[SimDepartment]:
    return [
        SimDepartment(
            id=101,
            name="Sklep Główny",
            shortcut="SG",
            tax_no=MAIN_NIP,
            street="ul. Prosta 1",
            post_code="00-001",
            city="Warszawa",
            main=True,
        ),
        SimDepartment(
            id=102,
            name="Outlet Kraków",
            shortcut="OUT",
            tax_no=OUTLET_NIP,
            street="ul. Długa 5",
            post_code="31-147",
            city="Kraków",
            email="outlet@example.test",
        ),
    ]


def new_simulator() -> FakturowniaSimulator:
    """A simulator holding the ``acme`` account with its two departments."""
    sim = FakturowniaSimulator(shutdown_timeout=0.2)
    sim.add_account(SimAccount(prefix=PREFIX, api_token=TOKEN, departments=departments()))
    return sim


@dataclass
class SimEnv(ProviderEnv[FakturowniaProvider]):
    """The running simulator, its base URL and a factory of adapters pointed at it."""

    sim: FakturowniaSimulator

    def url(self, prefix: str = PREFIX) -> str:
        return f"{self.base}/{prefix}"

    def provider(
        self,
        *,
        prefix: str = PREFIX,
        token: str = TOKEN,
        options: dict[str, Any] | None = None,
        timeout: float = 5.0,
        base_url: str | None = None,
    ) -> FakturowniaProvider:
        return self._track(
            FakturowniaProvider(
                base_url=base_url or self.url(prefix),
                api_token=token,
                options=options,
                timeout=timeout,
            )
        )

    def add_ksef_account(self, *, delay: float = 60.0, outcome: str = "ok") -> None:
        self.sim.add_account(
            SimAccount(
                prefix=KSEF_PREFIX,
                api_token=KSEF_TOKEN,
                departments=departments(),
                ksef_enabled=True,
                ksef_delay_seconds=delay,
                ksef_outcome=outcome,  # type: ignore[arg-type]
            )
        )

    def invoices(self, prefix: str = PREFIX) -> list[dict[str, Any]]:
        return self.sim.invoices(prefix)

    def stored(self, document_id: str, prefix: str = PREFIX) -> dict[str, Any]:
        return next(d for d in self.invoices(prefix) if str(d["id"]) == document_id)

    def posts(self, prefix: str = PREFIX) -> int:
        """How many creates reached the simulator (whatever their outcome)."""
        return sum(
            1
            for r in self.sim.request_log(prefix)
            if r.method == "POST" and r.path == "/invoices.json"
        )

    async def get_json(
        self, path: str, *, prefix: str = PREFIX, token: str = TOKEN, **params: Any
    ) -> Any:
        """A raw API read (e.g. ``correction_positions=full``) beside the adapter."""
        async with httpx.AsyncClient(base_url=self.url(prefix), timeout=5.0) as client:
            response = await client.get(path, params={"api_token": token, **params})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def fakturownia() -> AsyncIterator[SimEnv]:
    async with serving(new_simulator(), SimEnv) as env:
        yield env
