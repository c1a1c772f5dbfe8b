"""Connecting a wFirma account end to end: config apply, Generate (consent), callback, tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from config.apply import ConfigError, apply_config, load_config
from config.db import create_engine, session_factory, upgrade
from config.models import OAuthToken
from config.secrets import SecretBox
from config.settings import Settings
from simulators.wfirma import SimCompany, SimLogin, SimOAuthApp, SimSeries, WfirmaSimulator
from workers.configuration import check_connection
from workers.onboarding import OnboardingError, authorization_url, complete_authorization
from workers.sellers import list_departments, verify_connection

pytestmark = pytest.mark.integration
REDIRECT = "https://platform.example/wfirma/callback"
CONFIG = f"""
sellers:
  - id: s1
    name: Kursy Online
    connections:
      - name: wf
        provider: wfirma
        credentials: {{client_id: cid, client_secret: "${{WF_SECRET}}"}}
        options: {{company_id: 1001, redirect_uri: "{REDIRECT}", receipts_enabled: true}}
    channels:
      - {{channel: shop, connection: wf, target: "5"}}
"""


async def test_generate_then_callback_stores_encrypted_tokens(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WF_SECRET", "csecret")
    sim = WfirmaSimulator()
    companies = [
        SimCompany(id=1002, name="Acme Hurt"),  # the panel's selection: not the connection's
        SimCompany(id=1001, name="Acme", series=[SimSeries(id=5, name="Sklep")]),
    ]
    sim.add_login(SimLogin(login="acme", companies=companies, company_id_required=False))
    # registered with the setup guide's scopes (the simulator's default)
    sim.add_oauth_app(
        SimOAuthApp(client_id="cid", client_secret="csecret", redirect_uri=REDIRECT, login="acme")
    )
    url = f"sqlite:///{tmp_path}/o.db"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    key = SecretBox.new_key()
    await apply_config(sessions, load_config(CONFIG, check_connection), SecretBox([key]))
    async with sim.serve() as base:
        settings = Settings(
            database_url=url,
            wfirma_api_url=base,
            wfirma_auth_url=f"{base}/oauth2/auth",
            secret_keys=key,
        )
        consent = await authorization_url(settings, sessions, "s1", "wf")
        query = parse_qs(urlsplit(consent).query)
        # series-read lists the mapping targets, user_companies-read the login's companies
        # (issue 10: one `{module}-read` scope per module called, docs/adr/0009)
        assert query["scope"] == [
            "contractors-read contractors-write invoices-read invoices-write series-read "
            "user_companies-read"
        ]
        async with httpx.AsyncClient() as browser:
            back = await browser.get(consent, follow_redirects=False)
        params = parse_qs(urlsplit(back.headers["location"]).query)
        with pytest.raises(OnboardingError, match="state is not valid"):
            await complete_authorization(
                settings, sessions, params["code"][0], params["state"][0][:-2] + "xx"
            )
        conn_id = await complete_authorization(
            settings, sessions, params["code"][0], params["state"][0]
        )
        # the default grant is enough to verify the company id and to list the series
        verified = await verify_connection(settings, sessions, "s1", "wf")
        series = await list_departments(settings, sessions, "s1", "wf")
    assert sorted(c.id for c in verified.companies) == ["1001", "1002"]
    assert [(d.id, d.name) for d in series] == [("5", "Sklep")]
    async with sessions() as session:
        token = await session.scalar(select(OAuthToken))
    await engine.dispose()
    assert token.connection_id == conn_id and token.version == 1
    assert token.access_token.startswith("gAAAA")  # Fernet ciphertext, not the token


def test_wfirma_connections_are_checked_before_they_are_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WF_SECRET", "x")
    with pytest.raises(ConfigError, match="redirect_uri"):
        load_config(CONFIG.replace(f'redirect_uri: "{REDIRECT}", ', ""), check_connection)
    with pytest.raises(ConfigError, match="either"):
        load_config(
            CONFIG.replace("client_id: cid,", "access_key: a, secret_key: b, client_id: cid,"),
            check_connection,
        )
