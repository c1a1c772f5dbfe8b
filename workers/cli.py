"""`invoice-router` command line: worker, topics, database and configuration."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from config.settings import get_settings
from workers.dlq_cli import dlq
from workers.ksef_cli import ksef
from workers.outbox_cli import outbox
from workers.status_cli import status_command
from workers.webhook_cli import webhook_secret

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


def _run(coro):
    return asyncio.run(coro)


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

    report = _run_or_explain(run())
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
    offset = _run_or_explain(publish(get_settings(), message))
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

    if _run(run()) < count:
        raise click.ClickException(f"fewer than {count} record(s) within {timeout:.0f}s")


@main.group()
def seller() -> None:
    """Onboard a seller: connect Fakturownia or wFirma, verify it, list its departments."""


def _sellers(call: Callable[[Any, Any], Coroutine[Any, Any, T]]) -> T:
    """Run `call(settings, sessions)` from workers/sellers/; refusals become one-line errors."""
    from config.db import sessions_for
    from workers.sellers import SellerServiceError

    settings = get_settings()

    async def run() -> T:
        async with sessions_for(settings.database_url) as sessions:
            return await call(settings, sessions)

    try:
        return _run_or_explain(run())
    except SellerServiceError as exc:
        raise click.ClickException(str(exc)) from exc


def _request(model: type[M], **values: Any) -> M:
    """Validate options with the API's own input model; errors name the field, never the value."""
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise click.UsageError("; ".join(lines)) from exc


def _connect_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every `seller connect-*` command has, whatever the provider."""
    for option in reversed(
        [
            click.option(
                "--name", "seller_name", help="The seller's name (when new, or to rename)"
            ),
            click.option(
                "--receipts/--no-receipts", default=False, help="Issue receipts to consumers"
            ),
            click.option(
                "--send-by-email/--no-send-by-email", default=False, help="Default for channels"
            ),
            click.option(
                "--confirm-switch",
                is_flag=True,
                help="Replace the seller's connections, mappings and tokens at another provider",
            ),
        ]
    ):
        command = option(command)
    return command


@seller.command("connect-fakturownia")
@click.argument("seller_id", metavar="SELLER")
@click.option("--connection", default="main", show_default=True, help="Connection name")
@click.option("--account", required=True, help="Account link, https://<account>.fakturownia.pl")
@click.option(
    "--api-token",
    envvar="FAKTUROWNIA_API_TOKEN",
    prompt=True,
    hide_input=True,
    help="From FAKTUROWNIA_API_TOKEN or prompted (keep it out of the shell history)",
)
@_connect_options
def seller_connect_fakturownia(
    seller_id: str,
    seller_name: str | None,
    connection: str,
    account: str,
    api_token: str,
    receipts: bool,
    send_by_email: bool,
    confirm_switch: bool,
) -> None:
    """Verify a Fakturownia account (lists its departments), then store the connection."""
    from workers.sellers import FakturowniaConnect, connect_fakturownia

    request = _request(
        FakturowniaConnect,
        seller_name=seller_name,
        account=account,
        api_token=api_token,
        receipts_enabled=receipts,
        send_by_email=send_by_email,
    )
    done = _sellers(
        lambda s, db: connect_fakturownia(
            s, db, seller_id, connection, request, confirm_switch=confirm_switch
        )
    )
    if done.replaced:
        click.echo(f"replaced: {', '.join(done.replaced)}")
    click.echo(f"connection {connection} verified and stored; departments (mapping targets):")
    for d in done.departments:
        click.echo(f"  {d.id}  {d.name}" + (f"  NIP {d.tax_no}" if d.tax_no else ""))


@seller.command("connect-wfirma")
@click.argument("seller_id", metavar="SELLER")
@click.option("--connection", default="wf", show_default=True, help="Connection name")
@click.option("--client-id", required=True, help="The wFirma OAuth app's client id")
@click.option(
    "--client-secret",
    envvar="WFIRMA_CLIENT_SECRET",
    prompt=True,
    hide_input=True,
    help="From WFIRMA_CLIENT_SECRET or prompted (keep it out of the shell history)",
)
@click.option("--company-id", type=int, help="wFirma company id (when the login has several)")
@click.option("--redirect-uri", required=True, help="The https redirect URI of the app")
@click.option("--extra-scope", "extra_scopes", multiple=True, help="e.g. series-read")
@_connect_options
def seller_connect_wfirma(
    seller_id: str,
    seller_name: str | None,
    connection: str,
    client_id: str,
    client_secret: str,
    company_id: int | None,
    redirect_uri: str,
    extra_scopes: tuple[str, ...],
    receipts: bool,
    send_by_email: bool,
    confirm_switch: bool,
) -> None:
    """Store a wFirma OAuth app and print the consent URL the seller must open."""
    from workers.sellers import WfirmaConnect, connect_wfirma

    request = _request(
        WfirmaConnect,
        seller_name=seller_name,
        client_id=client_id,
        client_secret=client_secret,
        company_id=company_id,
        redirect_uri=redirect_uri,
        extra_scopes=list(extra_scopes),
        receipts_enabled=receipts,
        send_by_email=send_by_email,
    )
    done = _sellers(
        lambda s, db: connect_wfirma(
            s, db, seller_id, connection, request, confirm_switch=confirm_switch
        )
    )
    if done.replaced:
        click.echo(f"replaced: {', '.join(done.replaced)}", err=True)
    click.echo(done.authorization_url)


def _connections(seller_id: str, only: str | None) -> dict[str, str]:
    """Name → provider of the seller's connections, or of the one named `only`."""
    from workers.sellers import get_seller

    seller = _sellers(lambda s, db: get_seller(s, db, seller_id))
    found = {c.name: c.provider.value for c in seller.connections}
    if only is not None and only not in found:
        raise click.ClickException(f"seller {seller_id!r} has no connection named {only!r}")
    return {only: found[only]} if only else found


def _echo_targets(title: str, rows: list[Any]) -> None:
    click.echo(title)
    for row in rows:
        tax_no = getattr(row, "tax_no", None) or getattr(row, "nip", None)
        click.echo(f"  {row.id}  {row.name}" + (f"  NIP {tax_no}" if tax_no else ""))


@seller.command("verify")
@click.argument("seller_id", metavar="SELLER")
@click.option("--connection", help="Only this connection (default: all of the seller's)")
def seller_verify(seller_id: str, connection: str | None) -> None:
    """Call the provider with the stored credentials; the outcome becomes the state."""
    from workers.sellers import verify_connection

    failed = 0
    for name in _connections(seller_id, connection):
        try:
            done = _sellers(lambda s, db, name=name: verify_connection(s, db, seller_id, name))
        except click.ClickException as exc:
            failed += 1
            click.echo(f"{name}: FAILED: {exc.message}")
            continue
        found = [f"{d.id} {d.name}" for d in done.departments + done.companies]
        click.echo(f"{name} ({done.provider.value}): ok; {', '.join(found) or 'nothing listed'}")
    if failed:
        raise click.ClickException(f"{failed} connection(s) failed verification")


@seller.command("departments")
@click.argument("seller_id", metavar="SELLER")
@click.option("--connection", help="Only this connection (default: all of the seller's)")
def seller_departments(seller_id: str, connection: str | None) -> None:
    """Mapping targets: Fakturownia departments; wFirma companies and numbering series."""
    from workers.sellers import list_companies, list_departments

    for name, provider in _connections(seller_id, connection).items():
        if provider == "wfirma":
            companies = _sellers(lambda s, db, name=name: list_companies(s, db, seller_id, name))
            _echo_targets(f"{name}: companies", companies)
        targets = _sellers(lambda s, db, name=name: list_departments(s, db, seller_id, name))
        _echo_targets(f"{name}: {'series' if provider == 'wfirma' else 'departments'}", targets)


@main.group()
def channel() -> None:
    """A seller's channel mappings: which connection and department, auto-generate on/off."""


def _table(rows: list[list[str]], indent: str = "") -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )


def _channel_rows(channels: list[Any]) -> list[list[str]]:
    header = ["channel", "connection", "target", "auto", "policy", "e-mail"]
    return [header] + [
        [
            c.channel,
            c.connection or "-",
            c.target or "-",
            "on" if c.auto_generate else "off",
            c.document_policy.value,
            "yes" if c.send_by_email else "no",
        ]
        for c in channels
    ]


@channel.command("set")
@click.argument("seller_id", metavar="SELLER")
@click.argument("channel_name", metavar="CHANNEL")
@click.option("--connection", help="Connection to issue with (default: the seller's only one)")
@click.option("--target", help="Fakturownia department id / wFirma series id")
@click.option("--auto-generate/--no-auto-generate", default=True, show_default=True)
@click.option(
    "--policy",
    type=click.Choice(["auto", "invoice_only"]),
    default="auto",
    show_default=True,
    help="auto: receipts for consumers where enabled; invoice_only: always a VAT invoice",
)
@click.option(
    "--send-by-email/--no-send-by-email", default=None, help="Default: the connection's default"
)
def channel_set(
    seller_id: str,
    channel_name: str,
    connection: str | None,
    target: str | None,
    auto_generate: bool,
    policy: str,
    send_by_email: bool | None,
) -> None:
    """Map a channel (or replace its mapping); workers apply it within seconds."""
    from workers.sellers import ChannelSettings, set_channel

    request = _request(
        ChannelSettings,
        connection=connection,
        target=target,
        auto_generate=auto_generate,
        document_policy=policy,
        send_by_email=send_by_email,
    )
    done = _sellers(lambda s, db: set_channel(s, db, seller_id, channel_name, request))
    click.echo(_table(_channel_rows([done])))


@channel.command("list")
@click.argument("seller_id", metavar="SELLER")
def channel_list(seller_id: str) -> None:
    """The seller's channel mappings."""
    from workers.sellers import list_channels

    channels = _sellers(lambda s, db: list_channels(s, db, seller_id))
    click.echo(_table(_channel_rows(channels)) if channels else "no channels mapped")


def _toggle(seller_id: str, channel_name: str, enabled: bool) -> None:
    from workers.sellers import set_auto_generate

    done = _sellers(lambda s, db: set_auto_generate(s, db, seller_id, channel_name, enabled))
    click.echo(f"{done.channel}: auto-generate {'on' if done.auto_generate else 'off'}")


@channel.command("enable")
@click.argument("seller_id", metavar="SELLER")
@click.argument("channel_name", metavar="CHANNEL")
def channel_enable(seller_id: str, channel_name: str) -> None:
    """Issue documents automatically for the channel's orders."""
    _toggle(seller_id, channel_name, True)


@channel.command("disable")
@click.argument("seller_id", metavar="SELLER")
@click.argument("channel_name", metavar="CHANNEL")
def channel_disable(seller_id: str, channel_name: str) -> None:
    """Stop issuing for the channel (its orders are recorded as skipped)."""
    _toggle(seller_id, channel_name, False)


@channel.command("remove")
@click.argument("seller_id", metavar="SELLER")
@click.argument("channel_name", metavar="CHANNEL")
def channel_remove(seller_id: str, channel_name: str) -> None:
    """Unmap the channel (its later orders fail with channel_not_configured)."""
    from workers.sellers import remove_channel

    _sellers(lambda s, db: remove_channel(s, db, seller_id, channel_name))
    click.echo(f"{channel_name}: removed")


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


def _run_or_explain(coro: Coroutine[Any, Any, T]) -> T:
    from config.secrets import SecretsNotConfigured
    from domain.ports import ProviderError

    try:
        return _run(coro)
    except (ValueError, SecretsNotConfigured, ProviderError) as exc:
        raise click.ClickException(str(exc)) from exc


main.add_command(dlq)
main.add_command(ksef)
main.add_command(outbox)
seller.add_command(webhook_secret)
main.add_command(status_command)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
