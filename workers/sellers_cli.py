"""`invoice-router seller …` and `channel …`: onboard a seller and map its sales channels.

The commands call the same services as the HTTP API (workers/sellers/) and validate their
options with the API's input models, so both refuse the same things with the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from config.settings import get_settings
from workers.cli_support import run_or_explain, table

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


@click.group()
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
        return run_or_explain(run())
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
    _echo_targets(
        f"connection {connection} verified and stored; departments (mapping targets):",
        done.departments,
    )


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


@click.group()
def channel() -> None:
    """A seller's channel mappings: which connection and department, auto-generate on/off."""


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
    click.echo(table(_channel_rows([done])))


@channel.command("list")
@click.argument("seller_id", metavar="SELLER")
def channel_list(seller_id: str) -> None:
    """The seller's channel mappings."""
    from workers.sellers import list_channels

    channels = _sellers(lambda s, db: list_channels(s, db, seller_id))
    click.echo(table(_channel_rows(channels)) if channels else "no channels mapped")


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
