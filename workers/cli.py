"""`invoice-router` command line: worker, topics, database and configuration."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import click

from config.settings import get_settings
from workers.cli_support import run_or_explain, run_sync
from workers.dlq_cli import dlq
from workers.ksef_cli import ksef
from workers.outbox_cli import outbox
from workers.sellers_cli import channel, seller
from workers.status_cli import status_command
from workers.webhook_cli import webhook_secret


@click.group()
def main() -> None:
    """Turn marketplace order events into Polish invoices."""


@main.command()
@click.option("--loglevel", default=None, help="Overrides INVOICE_ROUTER_LOG_LEVEL")
def worker(loglevel: str | None) -> None:
    """Run the router worker until SIGTERM/SIGINT."""
    from workers.logs import configure
    from workers.startup import load_settings, prepare_worker

    settings = load_settings()  # invalid settings: one line, exit 2
    level = (loglevel or settings.log_level).lower()
    # before anything logs, imports too
    logging_config = configure(settings.log_format, level, settings.log_kafka_client_debug)

    from workers.app import create_app
    from workers.eventloop import new_event_loop
    from workers.shutdown import BoundedStopWorker, Restart, exec_again

    order_topics = prepare_worker(settings)  # start-up checks: docs/operations.md, exit codes
    asyncio.set_event_loop(new_event_loop(settings.event_loop))
    restart = Restart()
    app = create_app(settings, order_topics, restart)
    try:
        BoundedStopWorker(
            app,
            grace_seconds=settings.shutdown_grace_seconds,
            restart=restart,
            loglevel=level,
            redirect_stdouts=False,
            logging_config=logging_config,
            quiet=settings.log_format == "json",  # no banner among the JSON lines
        ).execute_from_commandline()
    finally:
        if restart.requested:  # same process id, same arguments: supervisors see no exit
            exec_again()


@main.group()
def topics() -> None:
    """Kafka topics the worker uses."""


@topics.command("ensure")
@click.option("--channel", "channels", multiple=True, help="Also create this channel's topics")
def topics_ensure(channels: tuple[str, ...]) -> None:
    """Create missing topics (output, and input + dead-letter per channel)."""
    from adapters.kafka_admin import ensure_base_topics, ensure_topics, topics_for_channels

    settings = get_settings()
    created = run_sync(ensure_base_topics(settings))
    if channels:
        created += run_sync(ensure_topics(settings, topics_for_channels(channels)))
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
        changes = run_sync(apply_file(get_settings(), file.read_text()))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\n".join(changes) if changes else "no changes")


@config.command("show")
def config_show() -> None:
    """Print the stored configuration (secrets are never shown)."""
    from workers.configuration import show

    click.echo(json.dumps(run_sync(show(get_settings())), indent=2, ensure_ascii=False))


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

    click.echo(run_or_explain(run()))


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

    click.echo(f"connection {run_or_explain(run())} authorized")


@main.group()
def secrets() -> None:
    """Encryption keys for secrets at rest."""


@secrets.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for INVOICE_ROUTER_SECRET_KEYS (put it first to rotate)."""
    from config.secrets import SecretBox

    click.echo(SecretBox.new_key())


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt stored credentials and OAuth grants with the first key of
    INVOICE_ROUTER_SECRET_KEYS; afterwards the other keys can be removed."""
    from config.db import sessions_for
    from config.rotation import RotationReport, rotate_secrets
    from config.settings import secret_box

    settings = get_settings()

    async def run() -> RotationReport:
        async with sessions_for(settings.database_url) as sessions:
            return await rotate_secrets(sessions, secret_box(settings))

    report = run_or_explain(run())
    click.echo(
        f"re-encrypted {report.connections} connection(s) and {report.grants} OAuth grant(s)"
        + (f"; {report.grants_skipped} refreshed meanwhile" if report.grants_skipped else "")
    )


@main.group()
def events() -> None:
    """Publish an order event like a connector; watch output topics like a consumer."""


@events.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def events_publish(path: Path) -> None:
    """Publish the order event in PATH (CloudEvents JSON) to its channel topic."""
    from workers.events_tool import order_message, publish

    message = order_message(json.loads(path.read_text()))
    offset = run_or_explain(publish(get_settings(), message))
    click.echo(f"published order {message.key.decode()} to {message.topic} at offset {offset}")


@events.command("watch")
@click.option("--topic", "topics", multiple=True, help="Default: the issued and failed topics")
@click.option("--order", "order_id", help="Only records of this order (their key)")
@click.option("--count", default=1, show_default=True, help="Stop after this many records")
@click.option("--timeout", default=30.0, show_default=True, help="Stop after this many seconds")
def events_watch(topics: tuple[str, ...], order_id: str | None, count: int, timeout: float) -> None:
    """Print records of output topics (from the beginning) as JSON lines."""
    from workers.events_tool import watch

    settings = get_settings()
    names = list(topics) or [settings.topic_invoices_issued, settings.topic_invoices_failed]

    async def run() -> int:
        seen = 0
        async for record in watch(settings, names, count, timeout, order_id):
            click.echo(json.dumps(record, ensure_ascii=False))
            seen += 1
        return seen

    if run_sync(run()) < count:
        raise click.ClickException(f"fewer than {count} record(s) within {timeout:.0f}s")


@main.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def api_command(host: str, port: int) -> None:
    """Serve the HTTP configuration API (needs INVOICE_ROUTER_API_TOKEN)."""
    from config.secrets import SecretsNotConfigured
    from workers.api import ApiNotConfigured, serve

    try:
        serve(get_settings(), host, port)
    except (ApiNotConfigured, SecretsNotConfigured) as exc:
        raise click.ClickException(str(exc)) from exc


main.add_command(dlq)
main.add_command(ksef)
main.add_command(outbox)
main.add_command(seller)
main.add_command(channel)
seller.add_command(webhook_secret)
main.add_command(status_command)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
