"""Credentials and OAuth grants are sealed in the database, and a key can be rotated out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from config.apply import apply_config, load_config
from config.db import create_engine, session_factory, upgrade
from config.rotation import rotate_secrets
from config.secrets import SecretBox, SecretsNotConfigured
from config.store import ConfigStore
from config.tokens import TokenStore

TOKEN = "plain-api-token-7f3a"
TEXT = f"""
sellers:
  - id: s1
    name: One
    connections:
      - name: main
        provider: fakturownia
        credentials: {{api_token: "{TOKEN}"}}
        options: {{account: one}}
    channels: []
"""


@dataclass
class Grant:
    access_token: str = "access-grant-91c2"
    refresh_token: str = "refresh-grant-5be0"
    expires_in: int = 3600


def raw_rows(url: str) -> str:
    """Everything the two secret-holding tables store, as the database has it."""
    engine = create_sync_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM provider_connections")).all()
        rows += conn.execute(text("SELECT * FROM oauth_tokens")).all()
    engine.dispose()
    return repr(rows)


async def stored(url: str, box: SecretBox) -> tuple[dict[str, str], str]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        conn = await ConfigStore(sessions, box, ttl=0).connection(1)
        token = await TokenStore(sessions, box).load(1)
        return conn.credentials, token.refresh
    finally:
        await engine.dispose()


async def test_secrets_are_sealed_and_survive_a_key_rotation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    old, new = SecretBox.new_key(), SecretBox.new_key()
    engine = create_engine(url)
    sessions = session_factory(engine)
    await apply_config(sessions, load_config(TEXT), SecretBox([old]))
    await TokenStore(sessions, SecretBox([old])).save_grant(1, Grant())
    before = raw_rows(url)
    assert TOKEN not in before and "access-grant" not in before and "refresh-grant" not in before

    report = await rotate_secrets(sessions, SecretBox([new, old]))
    await engine.dispose()

    assert (report.connections, report.grants) == (1, 1)
    after = raw_rows(url)
    assert TOKEN not in after and after != before
    assert await stored(url, SecretBox([new])) == ({"api_token": TOKEN}, "refresh-grant-5be0")
    with pytest.raises(SecretsNotConfigured, match="cannot be decrypted"):
        await stored(url, SecretBox([old]))  # the old key alone no longer opens anything


def test_upgrading_seals_credentials_stored_in_plain_by_earlier_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    upgrade(url, "0004")
    engine = create_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sellers (id, name) VALUES ('s1', 'One')"))
        conn.execute(
            text(
                "INSERT INTO provider_connections (seller_id, name, provider, credentials, "
                "options, status, updated_at) VALUES ('s1', 'main', 'fakturownia', "
                f"'{{\"api_token\": \"{TOKEN}\"}}', '{{}}', 'ok', :now)"
            ),
            {"now": dt.datetime.now(dt.UTC)},
        )
    engine.dispose()
    monkeypatch.delenv("INVOICE_ROUTER_SECRET_KEYS", raising=False)
    with pytest.raises(SecretsNotConfigured):
        upgrade(url)  # refuses to drop the plain column without a key to seal it
    key = SecretBox.new_key()
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", key)
    upgrade(url)
    assert TOKEN not in raw_rows(url)
    engine = create_sync_engine(url)
    with engine.connect() as conn:
        sealed = conn.execute(text("SELECT sealed_credentials FROM provider_connections")).scalar()
    engine.dispose()
    assert SecretBox([key]).decrypt(sealed) == f'{{"api_token": "{TOKEN}"}}'
