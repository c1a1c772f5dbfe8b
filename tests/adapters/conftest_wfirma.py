"""A fresh wFirma simulator per test, served over real HTTP on a free local port.

Loaded by the wFirma test modules through ``pytest_plugins``. The simulator runs on a fixed
clock (``SIM_NOW``) that tests move with ``sim.advance``; its logins are ``acme`` (one company),
``multi`` (three companies, one read-only) and ``ksefshop`` (KSeF on), with rate limits off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulators.wfirma import WfirmaSimulator
from tests.adapters.support import serving
from tests.adapters.wfirma_support import SIM_NOW, WfirmaEnv, logins, oauth_apps


def new_simulator() -> WfirmaSimulator:
    sim = WfirmaSimulator(clock=lambda: SIM_NOW, shutdown_timeout=0.2)
    for login in logins():
        sim.add_login(login)
    for app in oauth_apps():
        sim.add_oauth_app(app)
    return sim


@pytest.fixture
async def wfirma() -> AsyncIterator[WfirmaEnv]:
    async with serving(new_simulator(), WfirmaEnv) as env:
        yield env
