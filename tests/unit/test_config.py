"""Declarative configuration: env expansion, validation, idempotent apply."""

from pathlib import Path

import pytest

from config.apply import ConfigError, apply_config, load_config, show_config
from config.db import create_engine, session_factory, upgrade
from config.secrets import SecretBox
from workers.configuration import check_connection

BOX = SecretBox([SecretBox.new_key()])

TEXT = """
# tokens come from ${NOT_EXPANDED_IN_COMMENTS}
sellers:
  - id: s1
    name: One
    connections:
      - name: main
        provider: fakturownia
        credentials: {api_token: "${TOKEN_S1}"}
        options: {account: "https://one.fakturownia.pl/invoices"}
    channels:
      - {channel: ovoko, connection: main, target: "7"}
"""


def test_env_refs_expand_in_values_only_and_missing_ones_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKEN_S1", raising=False)
    with pytest.raises(ConfigError, match="TOKEN_S1"):
        load_config(TEXT)
    monkeypatch.setenv("TOKEN_S1", "abc")
    cfg = load_config(TEXT)  # the ${...} in the comment is not looked up
    assert cfg.sellers[0].connections[0].credentials == {"api_token": "abc"}


async def test_apply_is_idempotent_and_never_shows_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_S1", "secret-token-123")
    url = f"sqlite:///{tmp_path}/c.db"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cfg = load_config(TEXT, check_connection)
    first = await apply_config(sessions, cfg, BOX)
    second = await apply_config(sessions, load_config(TEXT, check_connection), BOX)
    shown = await show_config(sessions, BOX)
    no_channels = TEXT.replace(
        'channels:\n      - {channel: ovoko, connection: main, target: "7"}', "channels: []"
    )
    removed = await apply_config(sessions, load_config(no_channels, check_connection), BOX)
    await engine.dispose()
    assert "seller s1: created" in first.changes and second.changes == []
    assert shown["sellers"][0]["connections"][0]["options"]["account"] == "one"  # normalised
    assert "secret-token-123" not in repr(shown)
    assert removed.changes == ["seller s1: channel ovoko removed"]


def test_connections_to_foreign_hosts_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_S1", "t")
    with pytest.raises(ConfigError, match="not a Fakturownia account"):
        load_config(
            TEXT.replace("https://one.fakturownia.pl/invoices", "https://evil.example"),
            check_connection,
        )


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    """A model change without its alembic migration fails here, not in production."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine as create_sync_engine

    from config.models import Base

    upgrade(f"sqlite:///{tmp_path}/m.db")
    with create_sync_engine(f"sqlite:///{tmp_path}/m.db").connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
