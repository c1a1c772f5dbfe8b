"""`invoice-router seller webhook-secret SELLER [--connection NAME]`: the Fakturownia webhook URL.

The secret is printed once and stored only as its SHA-256 (config/webhook_secrets.py): lost, it
is replaced by running the command again, which also retires the previous URL.
"""

from __future__ import annotations

import asyncio

import click

from config.settings import get_settings


@click.command("webhook-secret")
@click.argument("seller_id", metavar="SELLER")
@click.option("--connection", default="main", show_default=True, help="Connection name")
def webhook_secret(seller_id: str, connection: str) -> None:
    """Generate the connection's Fakturownia webhook secret and print the URL path, once."""
    from config.db import sessions_for
    from workers.sellers import SellerServiceError
    from workers.sellers.webhooks import WebhookSecretIssued, generate_webhook_secret

    async def run() -> WebhookSecretIssued:
        async with sessions_for(get_settings().database_url) as sessions:
            return await generate_webhook_secret(sessions, seller_id, connection)

    try:
        issued = asyncio.run(run())
    except SellerServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"webhook path: {issued.path}")
    click.echo(f"secret: {issued.secret}")
    click.echo(
        "Shown once, stored only as a hash; the previous URL no longer works. Give Fakturownia's "
        "account webhook the API's public base URL followed by this path (docs/operations.md). "
        "The URL is a credential: keep it out of tickets and chats.",
        err=True,
    )
