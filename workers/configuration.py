"""Service functions behind `config apply/show` (and, later, the HTTP configuration API)."""

from __future__ import annotations

from typing import Any

from adapters.fakturownia import AccountLinkError, normalise_account
from config.apply import ConfigError, ConnectionSpec, apply_config, load_config, show_config
from config.db import sessions_for
from config.settings import Settings, secret_box
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
    if spec.provider is Provider.WFIRMA:
        _check_wfirma(spec)
    return spec


def _check_wfirma(spec: ConnectionSpec) -> None:
    oauth = {"client_id", "client_secret"} <= spec.credentials.keys()
    keys = {"access_key", "secret_key"} <= spec.credentials.keys()
    if oauth == keys:
        raise ConfigError(
            f"connection {spec.name}: wFirma needs either credentials.client_id + client_secret "
            "(OAuth 2.0) or credentials.access_key + secret_key (API keys), not both or neither"
        )
    if oauth and not str(spec.options.get("redirect_uri", "")).startswith("https://"):
        raise ConfigError(
            f"connection {spec.name}: OAuth needs options.redirect_uri (https), "
            "the one registered with the wFirma app"
        )
    company = spec.options.get("company_id")
    if company is not None and not str(company).isdigit():
        raise ConfigError(
            f"connection {spec.name}: options.company_id must be wFirma's numeric company id"
        )


async def apply_file(settings: Settings, text: str) -> list[str]:
    config = load_config(text, check_connection)
    async with sessions_for(settings.database_url) as sessions:
        return (await apply_config(sessions, config, secret_box(settings))).changes


async def show(settings: Settings) -> dict[str, Any]:
    async with sessions_for(settings.database_url) as sessions:
        return await show_config(sessions, secret_box(settings))
