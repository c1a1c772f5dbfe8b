"""`invoice-router` command line: worker, topics, database and configuration."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from config.settings import get_settings

T = TypeVar("T")


def _run(coro):
    return asyncio.run(coro)


@click.group()
def main() -> None:
    """Turn marketplace order events into Polish invoices."""


@main.command()
@click.option("--loglevel", default=None, help="Overrides INVOICE_ROUTER_LOG_LEVEL")
def worker(loglevel: str | None) -> None:
    """Run the router worker until SIGTERM/SIGINT."""
    import faust

    from adapters.kafka_admin import ensure_base_topics
    from workers.app import create_app

    settings = get_settings()
    _run(ensure_base_topics(settings))
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    level = (loglevel or settings.log_level).lower()
    faust.Worker(app, loglevel=level, redirect_stdouts=False).execute_from_commandline()


@main.group()
def topics() -> None:
    """Kafka topics the worker uses."""


@topics.command("ensure")
@click.option("--channel", "channels", multiple=True, help="Also create this channel's topics")
def topics_ensure(channels: tuple[str, ...]) -> None:
    """Create missing topics (output, and input + dead-letter per channel)."""
    from adapters.kafka_admin import ensure_base_topics, ensure_topics, topics_for_channels

    settings = get_settings()
    created = _run(ensure_base_topics(settings))
    if channels:
        created += _run(ensure_topics(settings, topics_for_channels(channels)))
    click.echo("created: " + (", ".join(created) if created else "nothing (all exist)"))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations (idempotent)."""
    from config.db import upgrade

    upgrade(get_settings().database_url)
    click.echo("database is up to date")


@main.group()
def config() -> None:
    """Sellers, provider connections and channel mappings."""


@config.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def config_apply(file: Path) -> None:
    """Apply a declarative YAML configuration idempotently."""
    from workers.configuration import apply_file

    try:
        changes = _run(apply_file(get_settings(), file.read_text()))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\n".join(changes) if changes else "no changes")


@config.command("show")
def config_show() -> None:
    """Print the stored configuration (secrets are never shown)."""
    from workers.configuration import show

    click.echo(json.dumps(_run(show(get_settings())), indent=2, ensure_ascii=False))


@main.group()
def wfirma() -> None:
    """Connect a seller's wFirma account with OAuth 2.0 (the "Generate" step)."""


@wfirma.command("authorize-url")
@click.argument("seller")
@click.argument("connection")
def wfirma_authorize_url(seller: str, connection: str) -> None:
    """Print the URL where the seller grants access; wFirma redirects back with a code."""
    from config.db import sessions_for
    from workers.onboarding import authorization_url

    async def run() -> str:
        async with sessions_for(get_settings().database_url) as sessions:
            return await authorization_url(get_settings(), sessions, seller, connection)

    click.echo(_run_or_explain(run()))


@wfirma.command("complete")
@click.option("--code", required=True, help="`code` from the redirect back")
@click.option("--state", required=True, help="`state` from the redirect back")
def wfirma_complete(code: str, state: str) -> None:
    """Exchange the authorization code and store the tokens (encrypted)."""
    from config.db import sessions_for
    from workers.onboarding import complete_authorization

    async def run() -> int:
        async with sessions_for(get_settings().database_url) as sessions:
            return await complete_authorization(get_settings(), sessions, code, state)

    click.echo(f"connection {_run_or_explain(run())} authorized")


@main.group()
def secrets() -> None:
    """Encryption keys for secrets at rest."""


@secrets.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for INVOICE_ROUTER_SECRET_KEYS (put it first to rotate)."""
    from config.secrets import SecretBox

    click.echo(SecretBox.new_key())


def _run_or_explain(coro: Coroutine[Any, Any, T]) -> T:
    from config.secrets import SecretsNotConfigured
    from domain.ports import ProviderError

    try:
        return _run(coro)
    except (ValueError, SecretsNotConfigured, ProviderError) as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
