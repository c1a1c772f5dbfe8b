"""`invoice-router` command line: worker, topics, database and configuration."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import click

from config.settings import get_settings


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


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
