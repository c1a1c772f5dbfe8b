"""Service functions behind `config apply/show` (and, later, the HTTP configuration API)."""

from __future__ import annotations

from typing import Any

from adapters.fakturownia import AccountLinkError, normalise_account
from config.apply import ConfigError, ConnectionSpec, apply_config, load_config, show_config
from config.db import create_engine, session_factory
from config.settings import Settings
from schemas.invoices import Provider


def check_connection(spec: ConnectionSpec) -> ConnectionSpec:
    """Refuse a connection that could not work, with a message the seller can act on."""
    if spec.provider is Provider.FAKTUROWNIA:
        token = spec.credentials.get("api_token")
        if not token:
            raise ConfigError(f"connection {spec.name}: Fakturownia needs credentials.api_token")
        try:
            prefix = normalise_account(spec.options.get("account"), token)
        except AccountLinkError as exc:
            raise ConfigError(f"connection {spec.name}: {exc}") from exc
        spec.options = {**spec.options, "account": prefix}
    return spec


async def apply_file(settings: Settings, text: str) -> list[str]:
    config = load_config(text, check_connection)
    engine = create_engine(settings.database_url)
    try:
        return (await apply_config(session_factory(engine), config)).changes
    finally:
        await engine.dispose()


async def show(settings: Settings) -> dict[str, Any]:
    engine = create_engine(settings.database_url)
    try:
        return await show_config(session_factory(engine))
    finally:
        await engine.dispose()
