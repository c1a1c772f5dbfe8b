"""The seller's tax profile and a channel's VAT defaults (migration 0010): set in YAML or over
the API, read by the worker's route (config/store.py) as one domain.vat.TaxProfile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from config.apply import apply_config, load_config, show_config
from config.db import sessions_for
from config.secrets import SecretBox
from config.settings import secret_box
from config.store import ConfigStore
from domain.vat import TaxProfile, ViesPolicy
from tests.unit.test_api import TOKEN, settings_for
from workers import api

YAML = """
sellers:
  - id: s1
    name: Demontaż Kowalski
    tax: {intra_eu_registered: true, vies_unavailable: domestic}
    connections:
      - {name: main, provider: fakturownia, credentials: {api_token: t}, options: {account: a}}
    channels:
      - {channel: ovoko, connection: main, target: "1", vat: {margin_scheme_default: true}}
      - {channel: allegro, connection: main, target: "1"}
"""


@pytest.fixture
async def setup(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, ConfigStore, str, SecretBox]]:
    settings = settings_for(tmp_path)
    box = secret_box(settings)
    async with sessions_for(settings.database_url) as sessions:
        report = await apply_config(sessions, load_config(YAML), box)
        assert "seller s1: created" in report.changes
        app = api.create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://api",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as http,
        ):
            yield http, ConfigStore(sessions, box, ttl=0), settings.database_url, box


async def test_the_route_carries_the_sellers_profile_with_the_channels_defaults(setup) -> None:
    _, store, _, _ = setup
    ovoko = await store.route_for("s1", "ovoko")
    allegro = await store.route_for("s1", "allegro")
    assert ovoko is not None and allegro is not None
    seller = TaxProfile(intra_eu_registered=True, vies_unavailable=ViesPolicy.DOMESTIC)
    assert allegro.tax == seller
    assert ovoko.tax == TaxProfile(
        intra_eu_registered=True, vies_unavailable=ViesPolicy.DOMESTIC, margin_scheme_default=True
    )


async def test_the_api_reads_and_replaces_the_profile(setup) -> None:
    http, store, url, box = setup
    got = await http.get("/v1/sellers/s1/tax")
    assert got.json() == {
        "intra_eu_registered": True,
        "oss_registered": False,
        "vies_unavailable": "domestic",
    }
    put = await http.put("/v1/sellers/s1/tax", json={"oss_registered": True})
    assert put.status_code == 200, put.text
    assert (await store.route_for("s1", "allegro")).tax == TaxProfile(oss_registered=True)
    typo = await http.put("/v1/sellers/s1/tax", json={"oss_registred": True})
    assert typo.status_code == 422  # a misspelled setting never silently means "off"
    assert (await http.get("/v1/sellers/nobody/tax")).status_code == 404
    seller = (await http.get("/v1/sellers/s1")).json()
    assert seller["tax"]["oss_registered"] is True
    assert {c["channel"]: c["vat"]["margin_scheme_default"] for c in seller["channels"]} == {
        "allegro": False,
        "ovoko": True,
    }
    # the API's channel update keeps the channel's VAT defaults unless it names them
    kept = await http.put("/v1/sellers/s1/channels/ovoko", json={"target": "1"})
    assert kept.json()["vat"]["margin_scheme_default"] is True
    async with sessions_for(url) as sessions:
        shown = await show_config(sessions, box)
    assert shown["sellers"][0]["tax"]["oss_registered"] is True
